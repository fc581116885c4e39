// Package hsm is tuf-ceremony's view of hardware tokens: PKCS#11 modules
// (SoftHSM, YubiHSM, ykcs11, OpenSC, cloud HSMs) and YubiKeys over PIV.
//
// Every backend implements the same small interface: enumerate tokens,
// identify one, report its PIN state, log in once, generate a key pair that
// never leaves the device, find keys, give a crypto.Signer whose every
// signature is verified before it is returned, and read back the evidence
// that the key was born on the device.
//
// The package promises that device errors reach the caller as themselves:
// a wrong PIN is errors.Is(err, ErrPINIncorrect) and still carries the
// backend's own error, never a generic "signing failed".
package hsm

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Algorithm names a key type and the signature scheme TUF uses with it.
type Algorithm string

// The algorithms tuf-ceremony generates.
const (
	ECDSAP256 Algorithm = "ecdsa-p256" // TUF scheme ecdsa-sha2-nistp256
	ECDSAP384 Algorithm = "ecdsa-p384" // TUF scheme ecdsa-sha2-nistp384
	Ed25519   Algorithm = "ed25519"    // TUF scheme ed25519
	RSA3072   Algorithm = "rsa-3072"   // TUF scheme rsassa-pss-sha256
)

// Algorithms lists every supported algorithm, default first.
var Algorithms = []Algorithm{ECDSAP256, ECDSAP384, Ed25519, RSA3072}

// ParseAlgorithm accepts one of Algorithms.
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range Algorithms {
		if string(a) == s {
			return a, nil
		}
	}
	names := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		names[i] = string(a)
	}
	return "", fmt.Errorf("unknown algorithm %q (supported: %s)", s, strings.Join(names, ", "))
}

// TokenInfo identifies a token. It holds nothing secret.
type TokenInfo struct {
	Backend      string `json:"backend"` // "pkcs11" or "piv"
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Serial       string `json:"serial,omitempty"`
	Label        string `json:"label,omitempty"`
	Firmware     string `json:"firmware,omitempty"`
	Module       string `json:"module,omitempty"` // PKCS#11 module path
	// URI addresses this token (without any PIN).
	URI string `json:"uri"`
}

// String names the token for people: "SoftHSM token alice (serial 1a2b…)".
func (t TokenInfo) String() string {
	name := t.Label
	if name == "" {
		name = t.Model
	}
	s := fmt.Sprintf("%s token %q", t.Backend, name)
	if t.Serial != "" {
		s += " (serial " + t.Serial + ")"
	}
	return s
}

// PINState is what a token says about its user PIN before a PIN is tried.
type PINState struct {
	// RetriesLeft is the number of tries before the PIN locks, or -1 when
	// the token does not report a number (PKCS#11 only reports flags).
	RetriesLeft int  `json:"retries_left"`
	CountLow    bool `json:"count_low,omitempty"` // a wrong PIN was entered since the last success
	FinalTry    bool `json:"final_try,omitempty"` // one more wrong PIN locks the token
	Locked      bool `json:"locked,omitempty"`
	// LoggedIn is true when this session already holds a login.
	LoggedIn bool `json:"logged_in,omitempty"`
}

// String describes the state for a person: "3 retries left", "final try".
func (s PINState) String() string {
	switch {
	case s.Locked:
		return "PIN locked"
	case s.FinalTry || s.RetriesLeft == 1:
		return "final try: one more wrong PIN locks the token"
	case s.RetriesLeft >= 0:
		return fmt.Sprintf("%d retries left", s.RetriesLeft)
	case s.CountLow:
		return "a wrong PIN was entered since the last successful login"
	default:
		return "retry count not reported by the token"
	}
}

// OnFinalTry reports whether one more wrong PIN would lock the token.
func (s PINState) OnFinalTry() bool { return s.FinalTry || s.RetriesLeft == 1 }

// PIN holds a PIN in memory. It refuses to be printed, so a PIN cannot leak
// through a log line or an error message by accident.
type PIN struct{ value string }

// NewPIN wraps a PIN value.
func NewPIN(value string) PIN { return PIN{value: value} }

// Reveal returns the PIN for the one call that needs it: the device's login.
func (p PIN) Reveal() string { return p.value }

// Empty reports whether no PIN was given.
func (p PIN) Empty() bool { return p.value == "" }

// String hides the PIN.
func (p PIN) String() string { return "[PIN redacted]" }

// GoString hides the PIN from %#v.
func (p PIN) GoString() string { return "hsm.PIN{[redacted]}" }

// LoginOptions modify Login.
type LoginOptions struct {
	// Force tries the PIN even when the token reports its final try.
	Force bool
}

// KeySpec asks a token for a new key pair.
type KeySpec struct {
	Algorithm Algorithm
	// Label names the key on the token; it must not exist yet. Empty picks
	// a label from Prefix and the key's random ID.
	Label  string
	Prefix string
	// AlwaysAuthenticate asks for the PIN at every signature
	// (CKA_ALWAYS_AUTHENTICATE; the PIV 9c slot's "PIN always" policy).
	AlwaysAuthenticate bool
	// PINPolicy is the PIV PIN policy of the new key: "always" (the PIN
	// before every signature), "once" (once per session) or "never".
	// Empty means "always". PKCS#11 backends ignore it.
	PINPolicy string
	// TouchPolicy is the PIV touch policy of the new key: "always" (a
	// touch for every signature), "cached" (one touch counts for 15
	// seconds) or "never". Empty means "always". PKCS#11 backends ignore it.
	TouchPolicy string
}

// Key is a key pair on a token, as found or generated.
type Key struct {
	Label     string           `json:"label"`
	ID        string           `json:"id"` // hex of CKA_ID or the PIV slot
	Algorithm Algorithm        `json:"algorithm"`
	Public    crypto.PublicKey `json:"-"`
	// URI addresses this key (token and object, without any PIN).
	URI string `json:"uri"`
	// Warnings are what a person should know about the key or its token,
	// e.g. that a YubiKey still has its factory management key. They do
	// not stop anything; the caller shows them.
	Warnings []string `json:"warnings,omitempty"`
}

// Evidence is what the token says about how a key was born and is kept,
// read back from the device after generation.
type Evidence struct {
	// Kind is "pkcs11-attributes" or "piv-attestation".
	Kind  string    `json:"kind"`
	Token TokenInfo `json:"token"`
	// Attributes are the PKCS#11 private key attributes read back, by name
	// (CKA_LOCAL, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, …).
	Attributes map[string]bool `json:"attributes,omitempty"`
	// Attestation is the PIV attestation of the key (Kind
	// "piv-attestation"): as read from the device, unverified until
	// checked against the vendor's roots (piv.VerifyAttestation).
	Attestation *Attestation `json:"attestation,omitempty"`
	ReadAt      time.Time    `json:"read_at"`
}

// Attestation is a YubiKey's statement that a key was generated on it: the
// slot's attestation certificate, signed by the device's attestation
// certificate (slot f9), which is signed by the vendor. The other fields
// are what the slot certificate's extensions say; they are only to be
// trusted once the chain is verified.
type Attestation struct {
	Slot        string `json:"slot"`                  // "9c"
	Serial      string `json:"serial"`                // decimal, as printed on the device
	Firmware    string `json:"firmware"`              // "5.7.1"
	FormFactor  string `json:"form_factor,omitempty"` // "USB-A Keychain"
	PINPolicy   string `json:"pin_policy"`            // "always", "once", "never"
	TouchPolicy string `json:"touch_policy"`          // "always", "cached", "never"
	// SlotCertificate and Intermediate are PEM: the slot's attestation
	// certificate and the device's attestation certificate (slot f9).
	SlotCertificate string `json:"slot_certificate"`
	Intermediate    string `json:"intermediate"`
}

// Token is one opened token. Methods are safe for use by one goroutine at a
// time; a Token is opened per command and closed at its end.
type Token interface {
	Info() TokenInfo
	// PINState reads the PIN flags or retry counter without trying a PIN.
	PINState(ctx context.Context) (PINState, error)
	// Login logs in with pin, once per token: later calls are no-ops. It
	// refuses with ErrFinalTry when the token reports its final try,
	// unless opts.Force.
	Login(ctx context.Context, pin PIN, opts LoginOptions) error
	// Keys lists the key pairs on the token (readable without a PIN).
	Keys(ctx context.Context) ([]Key, error)
	// GenerateKey creates a non-extractable key pair on the device.
	GenerateKey(ctx context.Context, spec KeySpec) (Key, error)
	// DeleteKey removes a key pair, used to roll back a keygen whose
	// record could not be written.
	DeleteKey(ctx context.Context, key Key) error
	// Signer returns a crypto.Signer for key; it needs a prior Login.
	Signer(ctx context.Context, key Key) (crypto.Signer, error)
	// Evidence reads back how key was generated and is protected.
	Evidence(ctx context.Context, key Key) (Evidence, error)
	Close() error
}

// Backend finds and opens tokens of one kind.
type Backend interface {
	// Scheme is the URI scheme the backend handles: "pkcs11" or "yubikey".
	Scheme() string
	// Tokens lists the tokens present. modules names PKCS#11 modules to
	// load; backends that have none ignore it.
	Tokens(ctx context.Context, modules []string) ([]TokenInfo, error)
	// Open opens the one token the URI selects.
	Open(ctx context.Context, uri string) (Token, error)
}

// Errors callers branch on. Backends wrap them together with the device's
// own error, so both errors.Is(err, ErrPINIncorrect) and the raw return
// value are available.
var (
	ErrModule           = errors.New("cannot load module")
	ErrTokenNotFound    = errors.New("no token matches")
	ErrAmbiguousToken   = errors.New("several tokens match")
	ErrTokenRemoved     = errors.New("token removed")
	ErrKeyNotFound      = errors.New("key not found")
	ErrLabelExists      = errors.New("a key with this label exists")
	ErrPINIncorrect     = errors.New("wrong PIN")
	ErrPINLocked        = errors.New("PIN locked")
	ErrFinalTry         = errors.New("token reports its final PIN try")
	ErrNotLoggedIn      = errors.New("not logged in")
	ErrUnsupported      = errors.New("not supported by the token")
	ErrBadSignature     = errors.New("token returned a signature that does not verify")
	ErrNotNonExportable = errors.New("token did not keep the key non-extractable")
	// ErrNoReaderService: no token of a backend can be reached at all
	// (for YubiKeys: pcscd is not running).
	ErrNoReaderService = errors.New("no smart-card service")
)

// DeviceError keeps what a device said together with the kind of failure.
type DeviceError struct {
	Op    string // the call that failed, e.g. "C_Sign"
	Kind  error  // one of the Err… values above, or nil
	Err   error  // the backend's own error, e.g. pkcs11.Error
	Token string // the token's description
}

func (e *DeviceError) Error() string {
	var b strings.Builder
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
		b.WriteString(": ")
	}
	if e.Token != "" {
		b.WriteString(e.Token)
		b.WriteString(": ")
	}
	b.WriteString(e.Op)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap gives both the kind and the device's error to errors.Is and As.
func (e *DeviceError) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Open opens the token a URI addresses with the backend of its scheme.
func Open(ctx context.Context, backends []Backend, uri string) (Token, error) {
	scheme, _, ok := strings.Cut(uri, ":")
	var schemes []string
	for _, b := range backends {
		if ok && strings.EqualFold(scheme, b.Scheme()) {
			return b.Open(ctx, uri)
		}
		schemes = append(schemes, b.Scheme()+":")
	}
	return nil, &UnknownSchemeError{URI: RedactURI(uri), Schemes: schemes}
}

// UnknownSchemeError is a token URI no backend handles.
type UnknownSchemeError struct {
	URI     string
	Schemes []string
}

func (e *UnknownSchemeError) Error() string {
	return fmt.Sprintf("unknown token address %q: it must start with %s", e.URI, strings.Join(e.Schemes, " or "))
}
