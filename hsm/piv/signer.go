package piv

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// signer signs with the key in a slot of the card.
type signer struct {
	token *Token
	key   hsm.Key
	slot  byte
	priv  crypto.Signer
	touch piv.TouchPolicy // 0 when the card does not say
	ctx   context.Context
}

// Signer returns a crypto.Signer for key, which must be in its slot (the
// card's key is compared with key.Public). It needs a prior Login; the
// PIN is given again for keys whose PIN policy is "always". The
// hsm.TouchFunc of ctx is called right before each signature that needs
// a touch.
//
// Signatures are what TUF verifiers expect: ECDSA as ASN.1 DER over the
// digest, Ed25519 over the whole message, RSASSA-PSS (padded on the host
// by piv-go). Each is verified with key.Public before it is returned.
func (t *Token) Signer(ctx context.Context, key hsm.Key) (crypto.Signer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	slot, err := keySlot(key)
	if err != nil {
		return nil, err
	}
	op := "SIGN (slot " + slotHex(slot) + ")"
	if err := t.requireLogin(op); err != nil {
		return nil, err
	}
	if key.Public == nil {
		return nil, fmt.Errorf("%w: key %s has no public key", hsm.ErrKeyNotFound, key.ID)
	}
	si, err := t.checkSlotHolds(op, slot, key)
	if err != nil {
		return nil, err
	}
	pinPolicy := si.pin
	if pinPolicy == 0 {
		// Unknown (an imported key on firmware before 5.3): give the PIN
		// every time, which every policy accepts.
		pinPolicy = piv.PINPolicyAlways
	}
	auth := piv.KeyAuth{PINPolicy: pinPolicy, PINPrompt: func() (string, error) {
		if t.pin.Empty() {
			return "", errors.New("the PIN is no longer available: the token was closed")
		}
		return t.pin.Reveal(), nil
	}}
	priv, err := t.card.PrivateKey(pivSlot(slot), key.Public, auth)
	if err != nil {
		return nil, t.fail(op, err)
	}
	ps, ok := priv.(crypto.Signer)
	if !ok {
		return nil, &hsm.DeviceError{Op: op, Kind: hsm.ErrUnsupported, Err: fmt.Errorf("key %T cannot sign", key.Public), Token: t.info.String()}
	}
	return &signer{token: t, key: key, slot: slot, priv: ps, touch: si.touch, ctx: ctx}, nil
}

func (s *signer) Public() crypto.PublicKey { return s.key.Public }

// needsTouch reports whether a signature may wait for a touch: always for
// the "always" and "cached" policies (a cached touch may have expired) and
// for keys whose policy the card does not tell.
func (s *signer) needsTouch() bool { return s.touch != piv.TouchPolicyNever }

// Sign signs digest (for Ed25519, the whole message) on the card and
// verifies the signature before returning it.
func (s *signer) Sign(random io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkInput(s.key.Public, digest, opts); err != nil {
		return nil, err
	}
	t := s.token
	op := "SIGN (slot " + slotHex(s.slot) + ")"
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.requireLogin(op); err != nil {
		return nil, err
	}
	if s.needsTouch() {
		if f := hsm.TouchPrompt(s.ctx); f != nil {
			f(t.info)
		}
	}
	if random == nil {
		// piv-go draws the RSA-PSS salt from it and panics on nil, which
		// callers such as go-tuf pass.
		random = rand.Reader
	}
	sig, err := s.priv.Sign(random, digest, opts)
	if err != nil {
		return nil, s.signError(op, err)
	}
	if err := hsm.VerifySignature(s.key.Public, digest, sig, opts); err != nil {
		return nil, &hsm.DeviceError{Op: op, Kind: hsm.ErrBadSignature, Err: err, Token: t.info.String()}
	}
	return sig, nil
}

// signError classifies a failed signature. The card answers "security
// status not satisfied" both for a missing touch and for a missing PIN;
// piv-go has just given the PIN, so with a touch policy it is the touch.
func (s *signer) signError(op string, err error) error {
	t := s.token
	var auth piv.AuthErr
	if errors.As(err, &auth) {
		return t.pinError(op+": VERIFY PIN", err)
	}
	if status(err) == swSecurityStatus && s.touch != piv.TouchPolicyNever {
		why := "no touch came: the YubiKey was not touched before it stopped waiting"
		if s.touch == 0 {
			why = "the YubiKey refused to sign: it was not touched in time, or its PIN policy was not met"
		}
		return withHints(&hsm.DeviceError{Op: op, Kind: hsm.ErrNoTouch, Err: fmt.Errorf("%s: %w", why, err), Token: t.info.String()}, hintNoTouch)
	}
	return t.fail(op, err)
}

// checkInput refuses, before the card is asked, what it would sign wrongly.
func checkInput(pub crypto.PublicKey, digest []byte, opts crypto.SignerOpts) error {
	hash := opts.HashFunc()
	switch pub.(type) {
	case *ecdsa.PublicKey:
		if hash == 0 || len(digest) != hash.Size() {
			return fmt.Errorf("ecdsa: digest of %d bytes does not match hash %v", len(digest), hash)
		}
	case ed25519.PublicKey:
		if hash != 0 {
			return errors.New("ed25519: sign the whole message (crypto.Hash(0)), not a digest")
		}
	case *rsa.PublicKey:
		if _, ok := opts.(*rsa.PSSOptions); !ok {
			return errors.New("rsa: only RSASSA-PSS signatures are made (pass *rsa.PSSOptions)")
		}
		if hash == 0 || len(digest) != hash.Size() {
			return fmt.Errorf("rsa: digest of %d bytes does not match hash %v", len(digest), hash)
		}
	default:
		return fmt.Errorf("%w: public key %T", hsm.ErrUnsupported, pub)
	}
	return nil
}
