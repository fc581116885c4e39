package piv

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// ParsePINPolicy reads a PIN policy name ("always", "once", "never"); ""
// is "always".
func ParsePINPolicy(s string) (piv.PINPolicy, error) {
	switch s {
	case "", "always":
		return piv.PINPolicyAlways, nil
	case "once":
		return piv.PINPolicyOnce, nil
	case "never":
		return piv.PINPolicyNever, nil
	}
	return 0, fmt.Errorf("unknown PIN policy %q (always, once or never)", s)
}

// ParseTouchPolicy reads a touch policy name ("always", "cached",
// "never"); "" is "always".
func ParseTouchPolicy(s string) (piv.TouchPolicy, error) {
	switch s {
	case "", "always":
		return piv.TouchPolicyAlways, nil
	case "cached":
		return piv.TouchPolicyCached, nil
	case "never":
		return piv.TouchPolicyNever, nil
	}
	return 0, fmt.Errorf("unknown touch policy %q (always, cached or never)", s)
}

// generation chooses piv-go's algorithm for alg on this card's firmware.
func (t *Token) generation(alg hsm.Algorithm) (piv.Algorithm, error) {
	unsupported := func(why string) error {
		return withHints(&hsm.DeviceError{Op: "GENERATE", Kind: hsm.ErrUnsupported,
			Err: fmt.Errorf("%s; this YubiKey has firmware %s", why, t.info.Firmware), Token: t.info.String()},
			"choose --algorithm ecdsa-p256 or ecdsa-p384, which every YubiKey from firmware 4.3 supports")
	}
	if !t.atLeast(4, 3, 0) {
		return 0, unsupported("keys are only generated on YubiKeys that can attest them (firmware 4.3 and later)")
	}
	switch alg {
	case hsm.ECDSAP256:
		return piv.AlgorithmEC256, nil
	case hsm.ECDSAP384:
		return piv.AlgorithmEC384, nil
	case hsm.Ed25519:
		if !t.atLeast(5, 7, 0) {
			return 0, unsupported("Ed25519 needs YubiKey firmware 5.7 or later")
		}
		return piv.AlgorithmEd25519, nil
	case hsm.RSA3072:
		if !t.atLeast(5, 7, 0) {
			return 0, unsupported("RSA-3072 is not available on PIV before YubiKey firmware 5.7")
		}
		return piv.AlgorithmRSA3072, nil
	}
	return 0, &hsm.DeviceError{Op: "GENERATE", Kind: hsm.ErrUnsupported, Err: fmt.Errorf("algorithm %q", alg), Token: t.info.String()}
}

// managementKey returns the key that authenticates to the card: the one
// stored PIN-protected on it, else the factory default. isDefault says
// which. The PIN must have been verified.
func (t *Token) managementKey() (key []byte, isDefault bool, err error) {
	m, err := t.card.Metadata(t.pin.Reveal())
	if err != nil {
		if auth := (piv.AuthErr{}); errors.As(err, &auth) {
			return nil, false, t.pinError("GET DATA (PIN-protected management key)", err)
		}
		return nil, false, t.fail("GET DATA (PIN-protected management key)", err)
	}
	if m.ManagementKey != nil {
		return *m.ManagementKey, false, nil
	}
	return append([]byte(nil), piv.DefaultManagementKey...), true, nil
}

func (t *Token) managementKeyError(op string, err error, isDefault bool) error {
	why := "the PIN-protected management key stored on the card was refused: an interrupted setup, or another tool changed the management key"
	hint := "run tuf-ceremony token setup again with the current PIN (?pin-source=… in the token URI)"
	if isDefault {
		why = "the card stores no PIN-protected management key and the factory default is refused: the management key was changed by another tool and tuf-ceremony does not guess it"
		hint = "store it PIN-protected with ykman piv access change-management-key --protect (ykman asks for the current one), or reset the PIV applet (tuf-ceremony token reset, destroys every key) and run tuf-ceremony token setup"
	}
	return withHints(&hsm.DeviceError{Op: op, Kind: ErrManagementKey, Err: fmt.Errorf("%s: %w", why, err), Token: t.info.String()}, hint)
}

// warnDefaultManagementKey is the warning of a key generated with the
// factory management key.
const warnDefaultManagementKey = "this YubiKey still has the factory management key, with which anyone holding it can replace its keys without the PIN: run tuf-ceremony token setup before the ceremony"

// GenerateKey generates a key pair on the card in the slot the token's URI
// names (9c by default), with spec's PIN and touch policies ("always" and
// "always" unless given). A slot that already holds a key is refused with
// hsm.ErrLabelExists. spec.Label and spec.Prefix are not used: PIV slots
// have no labels, the key is named by its slot. The new key's attestation
// is read back and must attest the public key the card returned.
func (t *Token) GenerateKey(ctx context.Context, spec hsm.KeySpec) (hsm.Key, error) {
	if err := ctx.Err(); err != nil {
		return hsm.Key{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	slot := t.uri.SlotID()
	op := "GENERATE (slot " + slotHex(slot) + ")"
	if err := t.requireLogin(op); err != nil {
		return hsm.Key{}, err
	}
	alg, err := t.generation(spec.Algorithm)
	if err != nil {
		return hsm.Key{}, err
	}
	pinPolicy, err := ParsePINPolicy(spec.PINPolicy)
	if err != nil {
		return hsm.Key{}, err
	}
	if spec.AlwaysAuthenticate && pinPolicy != piv.PINPolicyAlways {
		return hsm.Key{}, fmt.Errorf("PIN policy %q contradicts asking for the PIN at every signature", spec.PINPolicy)
	}
	touchPolicy, err := ParseTouchPolicy(spec.TouchPolicy)
	if err != nil {
		return hsm.Key{}, err
	}

	_, found, err := t.slotKey(slot)
	if err != nil {
		return hsm.Key{}, err
	}
	if found {
		return hsm.Key{}, withHints(&hsm.DeviceError{Op: op, Kind: hsm.ErrLabelExists,
			Err: fmt.Errorf("slot %s already holds a key, which tuf-ceremony never overwrites", slotHex(slot)), Token: t.info.String()},
			hintOtherSlot)
	}

	mk, isDefault, err := t.managementKey()
	if err != nil {
		return hsm.Key{}, err
	}
	defer clear(mk)
	pub, err := t.card.GenerateKey(mk, pivSlot(slot), piv.Key{Algorithm: alg, PINPolicy: pinPolicy, TouchPolicy: touchPolicy})
	if err != nil {
		if isManagementKeyRejected(err) {
			return hsm.Key{}, t.managementKeyError(op, err, isDefault)
		}
		return hsm.Key{}, t.fail(op, err)
	}
	got, ok := algorithmOf(pub)
	if !ok || got != spec.Algorithm {
		return hsm.Key{}, &hsm.DeviceError{Op: op, Kind: hsm.ErrUnsupported,
			Err: fmt.Errorf("asked for %s, the card returned a %T key", spec.Algorithm, pub), Token: t.info.String()}
	}
	// The attestation must be of this key: it is what Keys and Evidence
	// rely on, since no certificate is written to the slot.
	cert, err := t.card.Attest(pivSlot(slot))
	if err != nil {
		return hsm.Key{}, t.fail("ATTEST (slot "+slotHex(slot)+")", err)
	}
	if !samePublicKey(cert.PublicKey, pub) {
		return hsm.Key{}, &hsm.DeviceError{Op: "ATTEST (slot " + slotHex(slot) + ")", Kind: hsm.ErrKeyNotFound,
			Err: fmt.Errorf("the attestation of slot %s is for another key than the one just generated", slotHex(slot)), Token: t.info.String()}
	}
	key := t.key(slot, pub, got)
	if isDefault {
		key.Warnings = append(key.Warnings, warnDefaultManagementKey)
	}
	return key, nil
}
