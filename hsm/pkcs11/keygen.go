package pkcs11

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// keyIDBytes is the length of the random CKA_ID given to a new key pair.
const keyIDBytes = 16

// generation is how one algorithm is generated on a PKCS#11 token.
type generation struct {
	mechanism     uint
	mechanismName string
	keyType       uint
	public        []*pkcs11.Attribute // algorithm-specific public attributes
}

func generationFor(alg hsm.Algorithm) (generation, error) {
	ecParams := func(oid asn1.ObjectIdentifier) []*pkcs11.Attribute {
		der, _ := asn1.Marshal(oid)
		return []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, der)}
	}
	switch alg {
	case hsm.ECDSAP256:
		return generation{pkcs11.CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN", pkcs11.CKK_EC, ecParams(oidP256)}, nil
	case hsm.ECDSAP384:
		return generation{pkcs11.CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN", pkcs11.CKK_EC, ecParams(oidP384)}, nil
	case hsm.Ed25519:
		return generation{ckmECEdwardsKeyPairGen, "CKM_EC_EDWARDS_KEY_PAIR_GEN", ckkECEdwards, ecParams(oidEd25519)}, nil
	case hsm.RSA3072:
		return generation{pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN", pkcs11.CKK_RSA, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 3072),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
		}}, nil
	}
	return generation{}, fmt.Errorf("%w: algorithm %q", hsm.ErrUnsupported, alg)
}

// signMechanism is the mechanism signatures of alg need.
func signMechanism(alg hsm.Algorithm) (uint, string) {
	switch alg {
	case hsm.Ed25519:
		return ckmEdDSA, "CKM_EDDSA"
	case hsm.RSA3072:
		return pkcs11.CKM_RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS"
	}
	return pkcs11.CKM_ECDSA, "CKM_ECDSA"
}

// requireMechanisms fails, naming the first missing mechanism, when the
// token cannot generate or sign with alg.
func (t *Token) requireMechanisms(alg hsm.Algorithm, gen generation) error {
	mechs, err := t.mod.ctx.GetMechanismList(t.slot)
	if err != nil {
		return t.fail("C_GetMechanismList", err)
	}
	have := map[uint]bool{}
	for _, m := range mechs {
		have[m.Mechanism] = true
	}
	signMech, signName := signMechanism(alg)
	for _, need := range []struct {
		mech uint
		name string
	}{{gen.mechanism, gen.mechanismName}, {signMech, signName}} {
		if !have[need.mech] {
			return &hsm.DeviceError{Op: "C_GetMechanismList", Kind: hsm.ErrUnsupported,
				Err: fmt.Errorf("%s needs %s, which the token does not offer", alg, need.name), Token: t.info.String()}
		}
	}
	return nil
}

// GenerateKey creates a key pair on the token that can never leave it,
// reads the public key and the evidence back, and checks both. A key that
// fails a check is destroyed again.
func (t *Token) GenerateKey(_ context.Context, spec hsm.KeySpec) (hsm.Key, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.requireLogin("C_GenerateKeyPair"); err != nil {
		return hsm.Key{}, err
	}
	gen, err := generationFor(spec.Algorithm)
	if err != nil {
		return hsm.Key{}, err
	}
	if err := t.requireMechanisms(spec.Algorithm, gen); err != nil {
		return hsm.Key{}, err
	}
	id, err := t.randomID()
	if err != nil {
		return hsm.Key{}, err
	}
	label := spec.Label
	if label == "" {
		label = t.uri.Object
	}
	if label == "" {
		prefix := spec.Prefix
		if prefix == "" {
			prefix = "tuf"
		}
		label = prefix + "-" + hex.EncodeToString(id[:4])
	}
	existing, err := t.findObjects([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label)})
	if err != nil {
		return hsm.Key{}, err
	}
	if len(existing) > 0 {
		return hsm.Key{}, fmt.Errorf("%w on %s: %q", hsm.ErrLabelExists, t.info, label)
	}

	public := append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, gen.keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}, gen.public...)
	private := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, gen.keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	if spec.AlwaysAuthenticate {
		private = append(private, pkcs11.NewAttribute(attrAlwaysAuthenticate, true))
	}
	pubH, privH, err := t.mod.ctx.GenerateKeyPair(t.sess,
		[]*pkcs11.Mechanism{pkcs11.NewMechanism(gen.mechanism, nil)}, public, private)
	if err != nil {
		return hsm.Key{}, t.fail("C_GenerateKeyPair", err)
	}
	key, err := t.checkGenerated(spec.Algorithm, pubH, privH)
	if err != nil {
		// Leave no half-made key behind; the original error is what matters.
		_ = t.mod.ctx.DestroyObject(t.sess, privH)
		_ = t.mod.ctx.DestroyObject(t.sess, pubH)
		return hsm.Key{}, err
	}
	return key, nil
}

// checkGenerated reads the new key back and checks it is what was asked
// for and is protected as the ceremony requires.
func (t *Token) checkGenerated(alg hsm.Algorithm, pubH, privH pkcs11.ObjectHandle) (hsm.Key, error) {
	key, err := t.readPublicKey(pubH)
	if err != nil {
		return hsm.Key{}, err
	}
	if err := checkPublicKey(alg, key); err != nil {
		return hsm.Key{}, fmt.Errorf("token %s generated a wrong key: %w", t.info, err)
	}
	ev, err := t.evidence(privH)
	if err != nil {
		return hsm.Key{}, err
	}
	if err := CheckNonExtractable(ev); err != nil {
		return hsm.Key{}, &hsm.DeviceError{Op: "C_GenerateKeyPair", Kind: hsm.ErrNotNonExportable, Err: err, Token: t.info.String()}
	}
	return key, nil
}

// checkPublicKey verifies the key read back has the curve or size of alg.
func checkPublicKey(alg hsm.Algorithm, key hsm.Key) error {
	switch alg {
	case hsm.ECDSAP256, hsm.ECDSAP384:
		pub, ok := key.Public.(*ecdsa.PublicKey)
		want := elliptic.P256()
		if alg == hsm.ECDSAP384 {
			want = elliptic.P384()
		}
		if !ok || pub.Curve != want {
			return fmt.Errorf("asked for %s, got %T %s", alg, key.Public, key.Algorithm)
		}
	case hsm.Ed25519:
		if _, ok := key.Public.(ed25519.PublicKey); !ok {
			return fmt.Errorf("asked for %s, got %T", alg, key.Public)
		}
	case hsm.RSA3072:
		pub, ok := key.Public.(*rsa.PublicKey)
		if !ok || pub.N.BitLen() != 3072 || pub.E != 65537 {
			return fmt.Errorf("asked for %s, got %T %s", alg, key.Public, key.Algorithm)
		}
	default:
		return fmt.Errorf("unknown algorithm %q", alg)
	}
	if key.Algorithm != alg {
		return fmt.Errorf("asked for %s, got %s", alg, key.Algorithm)
	}
	return nil
}

// randomID draws a CKA_ID from the token's RNG, or from the host's when the
// token has none; it only names the key, it protects nothing.
func (t *Token) randomID() ([]byte, error) {
	id, err := t.mod.ctx.GenerateRandom(t.sess, keyIDBytes)
	if err == nil && len(id) == keyIDBytes {
		return id, nil
	}
	if err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_FUNCTION_NOT_SUPPORTED)) &&
		!errors.Is(err, pkcs11.Error(pkcs11.CKR_RANDOM_NO_RNG)) {
		return nil, t.fail("C_GenerateRandom", err)
	}
	id = make([]byte, keyIDBytes)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	return id, nil
}

// DeleteKey destroys both halves of a key pair, found by CKA_ID.
func (t *Token) DeleteKey(_ context.Context, key hsm.Key) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.requireLogin("C_DestroyObject"); err != nil {
		return err
	}
	id, err := hex.DecodeString(key.ID)
	if err != nil || len(id) == 0 {
		return fmt.Errorf("%w: invalid key id %q", hsm.ErrKeyNotFound, key.ID)
	}
	hs, err := t.findObjects([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, id)})
	if err != nil {
		return err
	}
	if len(hs) == 0 {
		return &hsm.DeviceError{Op: "C_FindObjects", Kind: hsm.ErrKeyNotFound, Token: t.info.String()}
	}
	for _, h := range hs {
		if err := t.mod.ctx.DestroyObject(t.sess, h); err != nil {
			return t.fail("C_DestroyObject", err)
		}
	}
	return nil
}
