package piv

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// Factory defaults of a YubiKey's PIV applet.
const (
	DefaultPIN = "123456"
	DefaultPUK = "12345678"
)

// managementKeySize is the length of the random management key: AES-192
// on firmware 5.4 and later, 3DES before (piv-go picks the type from the
// length and the firmware, and stores 24 bytes PIN-protected).
const managementKeySize = 24

// checkNewSecret checks a new PIN or PUK before anything is sent to the
// card. The value is never part of the message.
func checkNewSecret(what string, v hsm.PIN) error {
	s := v.Reveal()
	if err := checkPINFormat(what, s); err != nil {
		return fmt.Errorf("new %s refused: %w", what, err)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fmt.Errorf("new %s refused: use letters, digits and punctuation only (ASCII, no spaces), so it can be typed on any keyboard", what)
		}
	}
	if s == DefaultPIN || s == DefaultPUK {
		return fmt.Errorf("new %s refused: it is a factory default (%s or %s), which anyone can look up", what, DefaultPIN, DefaultPUK)
	}
	return nil
}

// ValidateNewPIN checks a PIN for Setup: 6 to 8 printable ASCII
// characters, not a factory default.
func ValidateNewPIN(pin hsm.PIN) error { return checkNewSecret("PIN", pin) }

// ValidateNewPUK checks a PUK for Setup, as ValidateNewPIN.
func ValidateNewPUK(puk hsm.PIN) error { return checkNewSecret("PUK", puk) }

// SetupOptions say how to set up a YubiKey.
type SetupOptions struct {
	// CurrentPIN is the card's PIN now; empty means the factory default.
	CurrentPIN hsm.PIN
	// NewPIN and NewPUK replace the PIN and the PUK (which must still be
	// the factory default).
	NewPIN, NewPUK hsm.PIN
	// Force tries CurrentPIN even when the card reports its final try.
	Force bool
}

// SetupResult says what Setup did. It holds nothing secret.
type SetupResult struct {
	// ManagementKey is the type of the new management key: "AES-192" or
	// "3DES" (firmware before 5.4).
	ManagementKey string
	// Replaced is the management key that was replaced: "factory
	// default" or "PIN-protected".
	Replaced string
}

// Setup prepares a YubiKey for a ceremony: a random management key,
// stored PIN-protected on the card (never shown), replaces the current
// one; the PUK and then the PIN are changed. The current PIN is verified
// first (and costs one retry if it is wrong); the PUK must be the factory
// default.
//
// The steps are ordered so that an interruption never loses the
// management key: the new key is stored PIN-protected before the card
// switches to it, and a later Setup tries both the stored key and the
// factory default.
func (t *Token) Setup(ctx context.Context, opts SetupOptions) (SetupResult, error) {
	if err := ctx.Err(); err != nil {
		return SetupResult{}, err
	}
	if err := ValidateNewPIN(opts.NewPIN); err != nil {
		return SetupResult{}, err
	}
	if err := ValidateNewPUK(opts.NewPUK); err != nil {
		return SetupResult{}, err
	}
	if opts.NewPIN.Reveal() == opts.NewPUK.Reveal() {
		return SetupResult{}, errors.New("new PUK refused: it must differ from the new PIN")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.errClosed("setup"); err != nil {
		return SetupResult{}, err
	}

	current := opts.CurrentPIN
	assumedDefault := current.Empty()
	if assumedDefault {
		current = hsm.NewPIN(DefaultPIN)
	}
	t.logged, t.pin = false, hsm.PIN{}
	if err := t.login(current, hsm.LoginOptions{Force: opts.Force}); err != nil {
		if assumedDefault && errors.Is(err, hsm.ErrPINIncorrect) {
			return SetupResult{}, withHints(fmt.Errorf("the PIN is not the factory default %s, so this YubiKey was set up before: %w", DefaultPIN, err),
				"give its current PIN with ?pin-source=file:/path in the token URI to set it up again, or reset it (tuf-ceremony token reset, destroys every key)")
		}
		if assumedDefault && errors.Is(err, hsm.ErrFinalTry) {
			return SetupResult{}, withHints(fmt.Errorf("not trying the factory PIN: %w", err),
				"give the current PIN with ?pin-source=file:/path in the token URI and --force-pin, or reset the YubiKey (tuf-ceremony token reset, destroys every key)")
		}
		return SetupResult{}, err
	}

	res, err := t.replaceManagementKey(current)
	if err != nil {
		return SetupResult{}, err
	}

	if err := t.card.SetPUK(DefaultPUK, opts.NewPUK.Reveal()); err != nil {
		var auth piv.AuthErr
		if errors.As(err, &auth) {
			return res, withHints(&hsm.DeviceError{Op: "CHANGE REFERENCE (PUK)", Err: fmt.Errorf(
				"the PUK is not the factory default %s (%d tries left before it blocks); the management key was replaced, the PIN was not changed: %w",
				DefaultPUK, auth.Retries, err), Token: t.info.String()},
				"a YubiKey set up before keeps its PUK: change it with ykman piv access change-puk")
		}
		return res, t.fail("CHANGE REFERENCE (PUK)", err)
	}
	if err := t.card.SetPIN(current.Reveal(), opts.NewPIN.Reveal()); err != nil {
		return res, t.fail("CHANGE REFERENCE (PIN)", err)
	}
	t.pin = opts.NewPIN
	return res, nil
}

// replaceManagementKey stores a new random management key PIN-protected
// and makes it the card's. The PIN must be verified.
func (t *Token) replaceManagementKey(pin hsm.PIN) (SetupResult, error) {
	const op = "SET MANAGEMENT KEY"
	m, err := t.card.Metadata(pin.Reveal())
	if err != nil {
		return SetupResult{}, t.fail("GET DATA (PIN-protected management key)", err)
	}
	type candidate struct {
		key  []byte
		name string
	}
	var candidates []candidate
	if m.ManagementKey != nil {
		candidates = append(candidates, candidate{*m.ManagementKey, "PIN-protected"})
	}
	candidates = append(candidates, candidate{append([]byte(nil), piv.DefaultManagementKey...), "factory default"})
	defer func() {
		for _, c := range candidates {
			clear(c.key)
		}
	}()

	newKey := make([]byte, managementKeySize)
	if _, err := rand.Read(newKey); err != nil {
		return SetupResult{}, err
	}
	defer clear(newKey)

	var lastErr error
	for _, old := range candidates {
		// Stored first: if the card is pulled out before it switches, the
		// old key still works and the next Setup finds it.
		m.ManagementKey = &newKey
		err := t.card.SetMetadata(old.key, m)
		if isManagementKeyRejected(err) {
			lastErr = err
			continue
		}
		if err != nil {
			return SetupResult{}, t.fail("PUT DATA (PIN-protected management key)", err)
		}
		if err := t.card.SetManagementKey(old.key, newKey); err != nil {
			return SetupResult{}, t.fail(op, err)
		}
		stored, err := t.card.Metadata(pin.Reveal())
		if err != nil {
			return SetupResult{}, t.fail("GET DATA (PIN-protected management key)", err)
		}
		if stored.ManagementKey == nil || !bytes.Equal(*stored.ManagementKey, newKey) {
			return SetupResult{}, &hsm.DeviceError{Op: "GET DATA (PIN-protected management key)",
				Err: errors.New("the management key read back differs from the one stored"), Token: t.info.String()}
		}
		alg := "AES-192"
		if !t.atLeast(5, 4, 0) {
			alg = "3DES"
		}
		return SetupResult{ManagementKey: alg, Replaced: old.name}, nil
	}
	return SetupResult{}, withHints(&hsm.DeviceError{Op: op, Kind: ErrManagementKey, Err: fmt.Errorf(
		"the card refuses the factory management key and stores no PIN-protected one that works; tuf-ceremony does not guess it: %w", lastErr),
		Token: t.info.String()},
		"store it PIN-protected with ykman piv access change-management-key --protect (ykman asks for the current one), or reset the PIV applet (tuf-ceremony token reset, destroys every key)")
}

// Reset returns the PIV applet to its factory state: every key and
// certificate is destroyed, and PIN, PUK and management key are the
// defaults again. A YubiKey only resets once PIN and PUK are blocked:
// piv-go blocks both first with random wrong values. Other applets (FIDO,
// OpenPGP, OTP) are not touched. The caller confirms with the custodian.
func (t *Token) Reset(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.errClosed("RESET"); err != nil {
		return err
	}
	t.logged, t.pin = false, hsm.PIN{}
	if err := t.card.Reset(); err != nil {
		return t.fail("RESET (after blocking PIN and PUK)", err)
	}
	return nil
}
