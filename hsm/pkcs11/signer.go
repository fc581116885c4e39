package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/miekg/pkcs11"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// signer signs with a private key that stays on the token.
type signer struct {
	token     *Token
	key       hsm.Key
	handle    pkcs11.ObjectHandle
	alwaysPIN bool // CKA_ALWAYS_AUTHENTICATE: log in again for every signature
}

// Signer returns a crypto.Signer for key. Signatures are what TUF
// verifiers expect: ECDSA as ASN.1 DER over a digest computed on the host,
// Ed25519 over the whole message, RSASSA-PSS with the digest's hash and a
// salt as long as the hash.
func (t *Token) Signer(_ context.Context, key hsm.Key) (crypto.Signer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.requireLogin("C_SignInit"); err != nil {
		return nil, err
	}
	if key.Public == nil {
		return nil, fmt.Errorf("%w: key %s has no public key", hsm.ErrKeyNotFound, key.ID)
	}
	h, err := t.privateKeyHandle(key)
	if err != nil {
		return nil, err
	}
	attrs, err := t.mod.ctx.GetAttributeValue(t.sess, h, []*pkcs11.Attribute{pkcs11.NewAttribute(attrAlwaysAuthenticate, nil)})
	if err != nil {
		return nil, t.fail("C_GetAttributeValue", err)
	}
	always := len(attrs) == 1 && len(attrs[0].Value) > 0 && attrs[0].Value[0] != 0
	return &signer{token: t, key: key, handle: h, alwaysPIN: always}, nil
}

func (s *signer) Public() crypto.PublicKey { return s.key.Public }

// Sign signs digest (or, for Ed25519, the whole message) on the token and
// verifies the signature with the public key before returning it.
func (s *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	mech, input, err := s.mechanism(digest, opts)
	if err != nil {
		return nil, err
	}
	raw, err := s.token.sign(s.handle, mech, input, s.alwaysPIN)
	if err != nil {
		return nil, err
	}
	sig := raw
	if _, ok := s.key.Public.(*ecdsa.PublicKey); ok {
		if sig, err = ecdsaRawToDER(raw); err != nil {
			return nil, fmt.Errorf("%w: %w", hsm.ErrBadSignature, err)
		}
	}
	if err := hsm.VerifySignature(s.key.Public, digest, sig, opts); err != nil {
		return nil, &hsm.DeviceError{Op: "C_Sign", Kind: hsm.ErrBadSignature, Err: err, Token: s.token.info.String()}
	}
	return sig, nil
}

// mechanism chooses the PKCS#11 mechanism and the bytes it signs.
func (s *signer) mechanism(digest []byte, opts crypto.SignerOpts) (*pkcs11.Mechanism, []byte, error) {
	hash := opts.HashFunc()
	switch pub := s.key.Public.(type) {
	case *ecdsa.PublicKey:
		if hash == 0 || len(digest) != hash.Size() {
			return nil, nil, fmt.Errorf("ecdsa: digest of %d bytes does not match hash %v", len(digest), hash)
		}
		return pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), digest, nil
	case ed25519.PublicKey:
		if hash != 0 {
			return nil, nil, errors.New("ed25519: sign the whole message (crypto.Hash(0)), not a digest")
		}
		return pkcs11.NewMechanism(ckmEdDSA, nil), digest, nil
	case *rsa.PublicKey:
		pss, ok := opts.(*rsa.PSSOptions)
		if !ok {
			return nil, nil, errors.New("rsa: only RSASSA-PSS signatures are made (pass *rsa.PSSOptions)")
		}
		hashMech, mgf, err := pssHash(hash)
		if err != nil {
			return nil, nil, err
		}
		if len(digest) != hash.Size() {
			return nil, nil, fmt.Errorf("rsa: digest of %d bytes does not match hash %v", len(digest), hash)
		}
		salt := pss.SaltLength
		if salt == rsa.PSSSaltLengthEqualsHash || salt == rsa.PSSSaltLengthAuto {
			salt = hash.Size()
		}
		if salt < 0 || salt > (pub.N.BitLen()-1+7)/8-hash.Size()-2 {
			return nil, nil, fmt.Errorf("rsa: salt length %d out of range", salt)
		}
		params := pkcs11.NewPSSParams(hashMech, mgf, uint(salt))
		return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, params), digest, nil
	}
	return nil, nil, fmt.Errorf("%w: public key %T", hsm.ErrUnsupported, s.key.Public)
}

func pssHash(h crypto.Hash) (hashMech, mgf uint, err error) {
	switch h {
	case crypto.SHA256:
		return pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, nil
	case crypto.SHA384:
		return pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384, nil
	case crypto.SHA512:
		return pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512, nil
	}
	return 0, 0, fmt.Errorf("rsa-pss: unsupported hash %v", h)
}

// sign runs C_SignInit and C_Sign, with the context-specific login that
// CKA_ALWAYS_AUTHENTICATE keys need between the two.
func (t *Token) sign(h pkcs11.ObjectHandle, mech *pkcs11.Mechanism, input []byte, alwaysPIN bool) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, &hsm.DeviceError{Op: "C_SignInit", Kind: hsm.ErrTokenRemoved, Err: errors.New("token closed"), Token: t.info.String()}
	}
	if err := t.mod.ctx.SignInit(t.sess, []*pkcs11.Mechanism{mech}, h); err != nil {
		return nil, t.fail("C_SignInit", err)
	}
	if alwaysPIN {
		if err := t.mod.ctx.Login(t.sess, pkcs11.CKU_CONTEXT_SPECIFIC, t.pin.Reveal()); err != nil {
			// Finish the operation so the session is usable again.
			_, _ = t.mod.ctx.Sign(t.sess, nil)
			return nil, t.fail("C_Login(CKU_CONTEXT_SPECIFIC)", err)
		}
	}
	sig, err := t.mod.ctx.Sign(t.sess, input)
	if err != nil {
		return nil, t.fail("C_Sign", err)
	}
	return sig, nil
}

// ecdsaRawToDER turns PKCS#11's r‖s into the ASN.1 DER that TUF expects.
func ecdsaRawToDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("ecdsa signature of odd length %d", len(raw))
	}
	r := new(big.Int).SetBytes(raw[:len(raw)/2])
	s := new(big.Int).SetBytes(raw[len(raw)/2:])
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.Bytes()
}
