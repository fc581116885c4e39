package virtualpiv

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Factory defaults of a YubiKey's PIV applet.
const (
	defaultPIN     = "123456"
	defaultPUK     = "12345678"
	defaultRetries = 3
)

// defaultManagementKey is 010203040506070801020304050607080102030405060708,
// used as a 3DES key before firmware 5.7 and as an AES-192 key from 5.7 on.
var defaultManagementKey = []byte{
	1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
}

// stateVersion is the format of the state file; bump it on incompatible
// changes.
const stateVersion = 1

// State is everything the card remembers across power cycles, stored as
// JSON in the state file. THIS IS A TEST DEVICE: the PIN, PUK, management
// key and every private key (PKCS#8) are stored in clear, so that tests and
// rehearsals can inspect and reproduce it. Never use it for real keys.
type State struct {
	Version    int      `json:"version"`
	Serial     uint32   `json:"serial"`
	Firmware   Firmware `json:"firmware"`
	FormFactor byte     `json:"form_factor"`

	PIN            string `json:"pin"`
	PUK            string `json:"puk"`
	PINRetries     int    `json:"pin_retries"`
	PINRetriesLeft int    `json:"pin_retries_left"`
	PUKRetries     int    `json:"puk_retries"`
	PUKRetriesLeft int    `json:"puk_retries_left"`

	ManagementKey ManagementKey `json:"management_key"`

	// Keys by slot, as two hex digits ("9c", "f9").
	Keys map[string]*SlotKey `json:"keys"`
	// Objects by their three-byte tag as six hex digits ("5fc10a"); the
	// value is the content of the object's 53 TLV.
	Objects map[string][]byte `json:"objects"`

	// CA is the virtual vendor's attestation root, unique to this state. It
	// signed the certificate of the attestation key in slot f9.
	CA CA `json:"ca"`
}

// ManagementKey is the card management key (slot 9b).
type ManagementKey struct {
	Algorithm byte   `json:"algorithm"` // algo3DES, algoAES128/192/256
	Key       []byte `json:"key"`
	Touch     bool   `json:"touch"` // authentication requires a touch
}

// SlotKey is an asymmetric key in a slot.
type SlotKey struct {
	Algorithm   byte   `json:"algorithm"`
	PINPolicy   byte   `json:"pin_policy"`   // pinNever, pinOnce, pinAlways
	TouchPolicy byte   `json:"touch_policy"` // touchNever, touchAlways, touchCached
	Origin      byte   `json:"origin"`       // originGenerated or originImported
	PKCS8       []byte `json:"pkcs8"`
}

// CA is the virtual vendor's root certificate and key.
type CA struct {
	Cert []byte `json:"cert"` // DER
	Key  []byte `json:"key"`  // PKCS#8
}

// Firmware is a YubiKey firmware version.
type Firmware struct{ Major, Minor, Patch byte }

func (f Firmware) String() string { return fmt.Sprintf("%d.%d.%d", f.Major, f.Minor, f.Patch) }

// AtLeast reports whether f is major.minor.patch or later.
func (f Firmware) AtLeast(major, minor, patch byte) bool {
	if f.Major != major {
		return f.Major > major
	}
	if f.Minor != minor {
		return f.Minor > minor
	}
	return f.Patch >= patch
}

// ParseFirmware parses "5.7.1".
func ParseFirmware(s string) (Firmware, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Firmware{}, fmt.Errorf("firmware %q: want MAJOR.MINOR.PATCH", s)
	}
	var v [3]byte
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return Firmware{}, fmt.Errorf("firmware %q: %q is not a number from 0 to 255", s, p)
		}
		v[i] = byte(n)
	}
	f := Firmware{v[0], v[1], v[2]}
	if !f.AtLeast(5, 0, 0) {
		return Firmware{}, fmt.Errorf("firmware %q: the virtual YubiKey implements firmware 5.0.0 and later", s)
	}
	return f, nil
}

func (f Firmware) MarshalJSON() ([]byte, error) { return json.Marshal(f.String()) }

func (f *Firmware) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseFirmware(s)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// DefaultFirmware is the firmware of a new card unless told otherwise:
// 5.7 brings Ed25519, RSA-3072 and an AES-192 management key.
var DefaultFirmware = Firmware{5, 7, 1}

// NewFactoryState makes the state of a factory-fresh YubiKey 5 (USB-A
// keychain, DefaultFirmware) with the given serial (0: random).
func NewFactoryState(serial uint32) (*State, error) {
	return NewState(serial, DefaultFirmware, formFactorUSBAKeychain)
}

// NewState makes the state of a factory-fresh YubiKey with the given serial
// (0 picks a random eight-digit one), firmware and form factor, including
// its own vendor CA and an attestation key in slot f9.
func NewState(serial uint32, fw Firmware, formFactor byte) (*State, error) {
	if serial == 0 {
		n, err := rand.Int(rand.Reader, big.NewInt(90_000_000))
		if err != nil {
			return nil, err
		}
		serial = uint32(n.Int64()) + 10_000_000
	}
	s := &State{
		Version:    stateVersion,
		Serial:     serial,
		Firmware:   fw,
		FormFactor: formFactor,
		Keys:       map[string]*SlotKey{},
		Objects:    map[string][]byte{},
	}
	s.resetPINs(defaultRetries, defaultRetries)
	s.ManagementKey = defaultManagementKeyFor(fw)
	if err := s.initAttestation(); err != nil {
		return nil, fmt.Errorf("failed to create the attestation keys: %w", err)
	}
	return s, nil
}

// defaultManagementKeyFor is the factory management key: AES-192 from
// firmware 5.7 on, 3DES before.
func defaultManagementKeyFor(fw Firmware) ManagementKey {
	alg := byte(algo3DES)
	if fw.AtLeast(5, 7, 0) {
		alg = algoAES192
	}
	return ManagementKey{Algorithm: alg, Key: append([]byte(nil), defaultManagementKey...)}
}

// resetPINs restores the default PIN and PUK with the given retry counts.
func (s *State) resetPINs(pinRetries, pukRetries int) {
	s.PIN, s.PUK = defaultPIN, defaultPUK
	s.PINRetries, s.PINRetriesLeft = pinRetries, pinRetries
	s.PUKRetries, s.PUKRetriesLeft = pukRetries, pukRetries
}

// factoryReset wipes keys and objects (but not the attestation key and
// certificate) and restores PIN, PUK and management key.
func (s *State) factoryReset() {
	s.resetPINs(defaultRetries, defaultRetries)
	s.ManagementKey = defaultManagementKeyFor(s.Firmware)
	for slot := range s.Keys {
		if slot != slotHex(slotAttestation) {
			delete(s.Keys, slot)
		}
	}
	for obj := range s.Objects {
		if obj != objectHex(objAttestationCert) {
			delete(s.Objects, obj)
		}
	}
}

func slotHex(slot byte) string       { return hex.EncodeToString([]byte{slot}) }
func objectHex(object uint32) string { return fmt.Sprintf("%06x", object) }

// validate checks a state read from a file.
func (s *State) validate() error {
	switch {
	case s.Version != stateVersion:
		return fmt.Errorf("unsupported state version %d (want %d)", s.Version, stateVersion)
	case s.Serial == 0:
		return errors.New("serial is 0")
	case len(s.CA.Cert) == 0 || len(s.CA.Key) == 0:
		return errors.New("no vendor CA")
	case s.Keys[slotHex(slotAttestation)] == nil:
		return errors.New("no attestation key in slot f9")
	case s.PINRetries < 1 || s.PUKRetries < 1:
		return errors.New("retry counts below 1")
	}
	if _, ok := managementKeyLengths[s.ManagementKey.Algorithm]; !ok {
		return fmt.Errorf("unknown management key algorithm %#x", s.ManagementKey.Algorithm)
	}
	if s.Keys == nil {
		s.Keys = map[string]*SlotKey{}
	}
	if s.Objects == nil {
		s.Objects = map[string][]byte{}
	}
	return nil
}

// Store reads and writes the state file.
type Store struct {
	Path string
}

// ErrNoState is returned by Load when the state file does not exist.
var ErrNoState = errors.New("state file does not exist")

// Load reads the state file.
func (st Store) Load() (*State, error) {
	b, err := os.ReadFile(st.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoState
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", st.Path, err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("invalid state %s: %w", st.Path, err)
	}
	return &s, nil
}

// Save replaces the state file atomically: a temporary file in the same
// directory, fsync, rename, fsync of the directory. A crash leaves either
// the old state or the new one.
func (st Store) Save(s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(st.Path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(st.Path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("failed to save the state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, st.Path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("failed to save the state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil && !errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("failed to save the state: %w", err)
		}
	}
	return nil
}

// Lock takes an exclusive lock on STATE.lock so that two processes never
// play the same card. The lock is released when the returned file is
// closed or the process exits.
func (st Store) Lock() (*os.File, error) {
	f, err := os.OpenFile(st.Path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state %s is in use by another virtual-yubikey", st.Path)
		}
		return nil, fmt.Errorf("failed to lock %s: %w", st.Path, err)
	}
	return f, nil
}

// LoadOrCreate loads the state file, or creates a new card there when it
// does not exist. Settings given for an existing card must match it.
func (st Store) LoadOrCreate(serial uint32, fw *Firmware, formFactor *byte) (s *State, created bool, err error) {
	s, err = st.Load()
	if errors.Is(err, ErrNoState) {
		f := DefaultFirmware
		if fw != nil {
			f = *fw
		}
		ff := byte(formFactorUSBAKeychain)
		if formFactor != nil {
			ff = *formFactor
		}
		s, err = NewState(serial, f, ff)
		if err != nil {
			return nil, false, err
		}
		if err := st.Save(s); err != nil {
			return nil, false, err
		}
		return s, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	switch {
	case serial != 0 && serial != s.Serial:
		return nil, false, fmt.Errorf("state %s is the card with serial %d, not %d", st.Path, s.Serial, serial)
	case fw != nil && *fw != s.Firmware:
		return nil, false, fmt.Errorf("state %s is a card with firmware %s, not %s", st.Path, s.Firmware, fw)
	case formFactor != nil && *formFactor != s.FormFactor:
		return nil, false, fmt.Errorf("state %s is a card with form factor %#x, not %#x", st.Path, s.FormFactor, *formFactor)
	}
	return s, false, nil
}

// serialBytes is the serial as GET SERIAL answers it.
func (s *State) serialBytes() []byte {
	return binary.BigEndian.AppendUint32(nil, s.Serial)
}
