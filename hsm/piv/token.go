package piv

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// Token is an open YubiKey, held exclusively until Close.
type Token struct {
	mu     sync.Mutex
	card   card
	reader string
	info   hsm.TokenInfo
	fw     piv.Version
	ff     piv.Formfactor
	uri    *URI
	pin    hsm.PIN // kept for keys whose PIN policy is "always"
	logged bool
	closed bool
}

var _ hsm.Token = (*Token)(nil)

func newToken(p present, u *URI) *Token {
	return &Token{card: p.card, reader: p.reader, info: p.info, fw: p.fw, ff: p.ff, uri: u}
}

// Info identifies the YubiKey.
func (t *Token) Info() hsm.TokenInfo { return t.info }

// Reader is the PC/SC reader the card sits in.
func (t *Token) Reader() string { return t.reader }

// URI is the parsed address the token was opened with.
func (t *Token) URI() *URI { return t.uri }

// Slot is the slot the token's URI names (9c when it names none).
func (t *Token) Slot() byte { return t.uri.SlotID() }

func (t *Token) fail(op string, err error) error { return deviceError(op, err, t.info.String()) }

func (t *Token) errClosed(op string) error {
	if t.closed {
		return &hsm.DeviceError{Op: op, Kind: hsm.ErrTokenRemoved, Err: errors.New("token closed"), Token: t.info.String()}
	}
	return nil
}

func (t *Token) atLeast(major, minor, patch int) bool {
	v := t.fw
	if v.Major != major {
		return v.Major > major
	}
	if v.Minor != minor {
		return v.Minor > minor
	}
	return v.Patch >= patch
}

// PINState reads the PIN's retry counter without trying a PIN.
func (t *Token) PINState(ctx context.Context) (hsm.PINState, error) {
	if err := ctx.Err(); err != nil {
		return hsm.PINState{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.errClosed("VERIFY"); err != nil {
		return hsm.PINState{}, err
	}
	return t.pinState()
}

func (t *Token) pinState() (hsm.PINState, error) {
	n, err := t.card.Retries()
	if err != nil {
		// piv-go asks with an empty VERIFY, which succeeds once the PIN
		// was verified in this session: no count is given then.
		if strings.Contains(err.Error(), "expected error code from empty pin") {
			return hsm.PINState{RetriesLeft: -1, LoggedIn: t.logged}, nil
		}
		return hsm.PINState{}, t.fail("VERIFY (PIN retries)", err)
	}
	return hsm.PINState{RetriesLeft: n, FinalTry: n == 1, Locked: n == 0, LoggedIn: t.logged}, nil
}

// errPINBlocked explains a blocked PIN.
var errPINBlocked = errors.New("the PIN is blocked after too many wrong PINs: the PUK unblocks it; " +
	"if the PUK is blocked too, only a reset of the PIV applet makes the YubiKey usable again, and a reset destroys every key on it")

func (t *Token) lockedError(op string) error {
	return withHints(&hsm.DeviceError{Op: op, Kind: hsm.ErrPINLocked, Err: errPINBlocked, Token: t.info.String()}, hintUnblock)
}

// checkPINFormat refuses, without trying it, a PIN no YubiKey accepts.
func checkPINFormat(what, pin string) error {
	if n := len(pin); n < 6 || n > 8 {
		return fmt.Errorf("a YubiKey %s has 6 to 8 characters, this one has %d", what, n)
	}
	return nil
}

// Login verifies the PIN, once per token. It refuses with
// hsm.ErrFinalTry when the card reports one retry left, unless
// opts.Force, and with hsm.ErrPINLocked when it reports none. A wrong PIN
// gives a *PINError with the retries left after it.
func (t *Token) Login(ctx context.Context, pin hsm.PIN, opts hsm.LoginOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.errClosed("VERIFY PIN"); err != nil {
		return err
	}
	if t.logged {
		return nil
	}
	return t.login(pin, opts)
}

func (t *Token) login(pin hsm.PIN, opts hsm.LoginOptions) error {
	state, err := t.pinState()
	if err != nil {
		return err
	}
	if state.Locked {
		return t.lockedError("VERIFY PIN")
	}
	if state.OnFinalTry() && !opts.Force {
		return &hsm.DeviceError{Op: "VERIFY PIN", Kind: hsm.ErrFinalTry,
			Err: errors.New("1 retry left: one more wrong PIN blocks it"), Token: t.info.String()}
	}
	if pin.Empty() {
		return &hsm.DeviceError{Op: "VERIFY PIN", Kind: hsm.ErrPINIncorrect, Err: errors.New("empty PIN"), Token: t.info.String()}
	}
	if err := checkPINFormat("PIN", pin.Reveal()); err != nil {
		return &hsm.DeviceError{Op: "VERIFY PIN", Kind: hsm.ErrPINIncorrect,
			Err: fmt.Errorf("%w; nothing was tried", err), Token: t.info.String()}
	}
	if err := t.card.VerifyPIN(pin.Reveal()); err != nil {
		return t.pinError("VERIFY PIN", err)
	}
	t.logged = true
	t.pin = pin
	return nil
}

// pinError turns a failed PIN verification into a *PINError with the
// retries left, or a device error.
func (t *Token) pinError(op string, err error) error {
	var auth piv.AuthErr
	if !errors.As(err, &auth) {
		return t.fail(op, err)
	}
	if status(err) == swAuthBlocked {
		return t.lockedError(op)
	}
	n := auth.Retries
	de := &hsm.DeviceError{Op: op, Kind: hsm.ErrPINIncorrect, Err: err, Token: t.info.String()}
	return &PINError{Err: de, After: hsm.PINState{RetriesLeft: n, FinalTry: n == 1, Locked: n == 0}}
}

// PINError is a wrong PIN together with what the card reports after it.
type PINError struct {
	Err   error
	After hsm.PINState
}

func (e *PINError) Error() string {
	if e.After.Locked {
		return fmt.Sprintf("%v: the PIN is now blocked", e.Err)
	}
	return fmt.Sprintf("%v (the YubiKey now reports: %s)", e.Err, e.After)
}

// Unwrap gives the wrong-PIN device error and, once the PIN is blocked,
// hsm.ErrPINLocked.
func (e *PINError) Unwrap() []error {
	if e.After.Locked {
		return []error{e.Err, hsm.ErrPINLocked}
	}
	return []error{e.Err}
}

// Hints says what to do next.
func (e *PINError) Hints() []string {
	switch {
	case e.After.Locked:
		return []string{hintUnblock}
	case e.After.OnFinalTry():
		return []string{"one more wrong PIN blocks it: be certain of the PIN, then run again with --force-pin"}
	}
	return []string{fmt.Sprintf("check the PIN (or the pin-source file); %d more wrong PINs block it", e.After.RetriesLeft)}
}

func (t *Token) requireLogin(op string) error {
	if err := t.errClosed(op); err != nil {
		return err
	}
	if !t.logged {
		return &hsm.DeviceError{Op: op, Kind: hsm.ErrNotLoggedIn, Token: t.info.String()}
	}
	return nil
}

// keySlots are the slots searched for keys, in the order listed.
var keySlots = func() []byte {
	s := []byte{0x9a, 0x9c, 0x9d, 0x9e}
	for b := byte(0x82); b <= 0x95; b++ {
		s = append(s, b)
	}
	return s
}()

// pivSlot is piv-go's slot for a valid key slot byte.
func pivSlot(b byte) piv.Slot {
	switch b {
	case 0x9a:
		return piv.SlotAuthentication
	case 0x9c:
		return piv.SlotSignature
	case 0x9d:
		return piv.SlotKeyManagement
	case 0x9e:
		return piv.SlotCardAuthentication
	}
	s, _ := piv.RetiredKeyManagementSlot(uint32(b))
	return s
}

// slotInfo is what the card says about the key in a slot.
type slotInfo struct {
	pub    crypto.PublicKey
	pin    piv.PINPolicy   // 0 when unknown
	touch  piv.TouchPolicy // 0 when unknown
	source string          // "metadata", "attestation" or "certificate"
}

// slotKey finds the key in slot: from the key metadata on firmware 5.3
// and later; else from the slot's attestation (keys generated on the
// card); else from the certificate stored for the slot (imported keys).
// found is false for an empty slot.
func (t *Token) slotKey(slot byte) (info slotInfo, found bool, err error) {
	s := pivSlot(slot)
	if t.atLeast(5, 3, 0) {
		ki, err := t.card.KeyInfo(s)
		switch {
		case err == nil && ki.PublicKey != nil:
			return slotInfo{pub: ki.PublicKey, pin: ki.PINPolicy, touch: ki.TouchPolicy, source: "metadata"}, true, nil
		case errors.Is(err, piv.ErrNotFound):
			return slotInfo{}, false, nil
		case err != nil && isGone(err):
			return slotInfo{}, false, t.fail("GET METADATA (slot "+slotHex(slot)+")", err)
		}
		// Metadata piv-go cannot read (an algorithm it does not know):
		// try the other ways.
	}
	cert, err := t.card.Attest(s)
	if err == nil {
		a := parseExtensions(cert)
		return slotInfo{pub: cert.PublicKey, pin: a.PINPolicy, touch: a.TouchPolicy, source: "attestation"}, true, nil
	}
	if isGone(err) {
		return slotInfo{}, false, t.fail("ATTEST (slot "+slotHex(slot)+")", err)
	}
	cert, err = t.card.Certificate(s)
	if err == nil {
		return slotInfo{pub: cert.PublicKey, source: "certificate"}, true, nil
	}
	if isGone(err) {
		return slotInfo{}, false, t.fail("GET DATA (slot "+slotHex(slot)+" certificate)", err)
	}
	return slotInfo{}, false, nil
}

// isGone reports errors that end the conversation with the card.
func isGone(err error) bool {
	k := classify(err)
	return k == hsm.ErrTokenRemoved || k == ErrNoPCSCD || k == ErrCardBusy
}

// algorithmOf names a public key's algorithm; ok is false for keys that
// cannot sign TUF metadata.
func algorithmOf(pub crypto.PublicKey) (alg hsm.Algorithm, ok bool) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return hsm.ECDSAP256, true
		case elliptic.P384():
			return hsm.ECDSAP384, true
		}
	case ed25519.PublicKey:
		return hsm.Ed25519, true
	case *rsa.PublicKey:
		if k.N.BitLen() == 3072 {
			return hsm.RSA3072, true
		}
		return hsm.Algorithm(fmt.Sprintf("rsa-%d", k.N.BitLen())), true
	}
	return "", false
}

func (t *Token) key(slot byte, pub crypto.PublicKey, alg hsm.Algorithm) hsm.Key {
	return hsm.Key{
		Label:     "slot " + slotHex(slot),
		ID:        slotHex(slot),
		Algorithm: alg,
		Public:    pub,
		URI:       URI{Serial: t.info.Serial, Slot: slot}.String(),
	}
}

// Keys lists the keys in the card's slots; no PIN is needed. Keys that
// cannot sign (X25519) are left out.
func (t *Token) Keys(ctx context.Context) ([]hsm.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.errClosed("Keys"); err != nil {
		return nil, err
	}
	var keys []hsm.Key
	for _, slot := range keySlots {
		si, found, err := t.slotKey(slot)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		alg, ok := algorithmOf(si.pub)
		if !ok {
			continue
		}
		keys = append(keys, t.key(slot, si.pub, alg))
	}
	return keys, nil
}

// keySlot reads the slot of a key found or generated by this package.
func keySlot(key hsm.Key) (byte, error) {
	slot, err := ParseSlot(key.ID)
	if err != nil {
		return 0, fmt.Errorf("%w: key id %q is not a YubiKey slot: %v", hsm.ErrKeyNotFound, key.ID, err)
	}
	return slot, nil
}

// checkSlotHolds finds the key in slot and checks it is key.Public.
func (t *Token) checkSlotHolds(op string, slot byte, key hsm.Key) (slotInfo, error) {
	si, found, err := t.slotKey(slot)
	if err != nil {
		return slotInfo{}, err
	}
	if !found {
		return slotInfo{}, &hsm.DeviceError{Op: op, Kind: hsm.ErrKeyNotFound,
			Err: fmt.Errorf("slot %s is empty", slotHex(slot)), Token: t.info.String()}
	}
	if key.Public != nil && !samePublicKey(si.pub, key.Public) {
		return slotInfo{}, &hsm.DeviceError{Op: op, Kind: hsm.ErrKeyNotFound,
			Err: fmt.Errorf("slot %s holds another key than the one expected", slotHex(slot)), Token: t.info.String()}
	}
	return si, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && ea.Equal(b)
}

// DeleteKey cannot empty a PIV slot: piv-go has no command for it (YubiKey
// 5.7 has one, older firmware none). It fails with hsm.ErrUnsupported and
// leaves the key in its slot.
func (t *Token) DeleteKey(_ context.Context, key hsm.Key) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	slot, err := keySlot(key)
	if err != nil {
		return err
	}
	return withHints(&hsm.DeviceError{Op: "DELETE KEY", Kind: hsm.ErrUnsupported,
		Err:   fmt.Errorf("a PIV slot cannot be emptied here: the key stays in slot %s, unused", slotHex(slot)),
		Token: t.info.String()},
		"generate the next key in another slot (;slot-id=… in the token URI), or reset the PIV applet (tuf-ceremony token reset), which destroys every key on the YubiKey")
}

// Close releases the card for other programs.
func (t *Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.pin = hsm.PIN{}
	t.logged = false
	err := t.card.Close()
	if err != nil && !isGone(err) {
		return t.fail("close", err)
	}
	return nil
}
