package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// Edwards-curve constants of PKCS#11 v3.0 that miekg/pkcs11 lacks.
const (
	ckkECEdwards            = 0x40
	ckmECEdwardsKeyPairGen  = 0x1055
	ckmEdDSA                = 0x1057
	attrAlwaysAuthenticate  = pkcs11.CKA_ALWAYS_AUTHENTICATE
	maxObjectsPerFindResult = 64
)

var (
	oidP256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384    = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// Token is an open PKCS#11 token: one session, logged in at most once.
type Token struct {
	mu      sync.Mutex
	backend *Backend
	mod     *module
	slot    uint
	info    hsm.TokenInfo
	uri     *URI
	sess    pkcs11.SessionHandle
	pin     hsm.PIN // kept for CKA_ALWAYS_AUTHENTICATE keys
	logged  bool
	closed  bool
}

var _ hsm.Token = (*Token)(nil)

func openToken(b *Backend, m *module, st slotToken, u *URI) (*Token, error) {
	sess, err := m.ctx.OpenSession(st.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, deviceError("C_OpenSession", err, st.info.String())
	}
	return &Token{backend: b, mod: m, slot: st.slot, info: st.info, uri: u, sess: sess}, nil
}

// Info identifies the token.
func (t *Token) Info() hsm.TokenInfo { return t.info }

// URI is the parsed address the token was opened with.
func (t *Token) URI() *URI { return t.uri }

func (t *Token) fail(op string, err error) error { return deviceError(op, err, t.info.String()) }

// PINState reads the user PIN flags. PKCS#11 reports no retry count.
func (t *Token) PINState(context.Context) (hsm.PINState, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pinState()
}

func (t *Token) pinState() (hsm.PINState, error) {
	ti, err := t.mod.ctx.GetTokenInfo(t.slot)
	if err != nil {
		return hsm.PINState{}, t.fail("C_GetTokenInfo", err)
	}
	return hsm.PINState{
		RetriesLeft: -1,
		CountLow:    ti.Flags&pkcs11.CKF_USER_PIN_COUNT_LOW != 0,
		FinalTry:    ti.Flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0,
		Locked:      ti.Flags&pkcs11.CKF_USER_PIN_LOCKED != 0,
		LoggedIn:    t.logged,
	}, nil
}

// Login logs the session in as the user, once.
func (t *Token) Login(_ context.Context, pin hsm.PIN, opts hsm.LoginOptions) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.logged {
		return nil
	}
	state, err := t.pinState()
	if err != nil {
		return err
	}
	if state.Locked {
		return &hsm.DeviceError{Op: "C_Login", Kind: hsm.ErrPINLocked, Token: t.info.String()}
	}
	if state.OnFinalTry() && !opts.Force {
		return &hsm.DeviceError{Op: "C_Login", Kind: hsm.ErrFinalTry, Token: t.info.String()}
	}
	if pin.Empty() {
		return &hsm.DeviceError{Op: "C_Login", Kind: hsm.ErrPINIncorrect, Err: errors.New("empty PIN"), Token: t.info.String()}
	}
	err = t.mod.ctx.Login(t.sess, pkcs11.CKU_USER, pin.Reveal())
	if err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		derr := t.fail("C_Login", err)
		if errors.Is(derr, hsm.ErrPINIncorrect) {
			if after, serr := t.pinState(); serr == nil {
				return &PINError{Err: derr, After: after}
			}
		}
		return derr
	}
	t.logged = true
	t.pin = pin
	return nil
}

// PINError is a wrong PIN together with what the token reports after it.
type PINError struct {
	Err   error
	After hsm.PINState
}

func (e *PINError) Error() string { return fmt.Sprintf("%v (token now reports: %s)", e.Err, e.After) }
func (e *PINError) Unwrap() error { return e.Err }

func (t *Token) requireLogin(op string) error {
	if !t.logged {
		return &hsm.DeviceError{Op: op, Kind: hsm.ErrNotLoggedIn, Token: t.info.String()}
	}
	return nil
}

// findObjects returns the handles of objects matching template.
func (t *Token) findObjects(template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	err := t.mod.ctx.FindObjectsInit(t.sess, template)
	if errors.Is(err, pkcs11.Error(pkcs11.CKR_OPERATION_ACTIVE)) {
		// An earlier search whose C_FindObjectsFinal failed is still open.
		_ = t.mod.ctx.FindObjectsFinal(t.sess)
		err = t.mod.ctx.FindObjectsInit(t.sess, template)
	}
	if err != nil {
		return nil, t.fail("C_FindObjectsInit", err)
	}
	var all []pkcs11.ObjectHandle
	for {
		hs, _, err := t.mod.ctx.FindObjects(t.sess, maxObjectsPerFindResult)
		if err != nil {
			_ = t.mod.ctx.FindObjectsFinal(t.sess)
			return nil, t.fail("C_FindObjects", err)
		}
		all = append(all, hs...)
		if len(hs) < maxObjectsPerFindResult {
			break
		}
	}
	if err := t.mod.ctx.FindObjectsFinal(t.sess); err != nil {
		return nil, t.fail("C_FindObjectsFinal", err)
	}
	return all, nil
}

// Keys lists the key pairs whose public half is on the token; public key
// objects are readable without a PIN. Keys of types tuf-ceremony cannot use
// are left out.
func (t *Token) Keys(context.Context) ([]hsm.Key, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	handles, err := t.findObjects([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY)})
	if err != nil {
		return nil, err
	}
	var keys []hsm.Key
	for _, h := range handles {
		k, err := t.readPublicKey(h)
		if errors.Is(err, errUnusableKey) {
			continue
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

var errUnusableKey = errors.New("key type not usable for TUF")

// readPublicKey reads label, ID and public key of a public key object.
func (t *Token) readPublicKey(h pkcs11.ObjectHandle) (hsm.Key, error) {
	attrs, err := t.mod.ctx.GetAttributeValue(t.sess, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
	})
	if err != nil {
		return hsm.Key{}, t.fail("C_GetAttributeValue", err)
	}
	keyType := bytesToUint(attrs[0].Value)
	id, label := attrs[1].Value, string(attrs[2].Value)

	var pub crypto.PublicKey
	var alg hsm.Algorithm
	switch keyType {
	case pkcs11.CKK_EC, ckkECEdwards:
		ec, err := t.mod.ctx.GetAttributeValue(t.sess, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil),
		})
		if err != nil {
			return hsm.Key{}, t.fail("C_GetAttributeValue", err)
		}
		pub, alg, err = parseECPublicKey(ec[0].Value, ec[1].Value)
		if err != nil {
			return hsm.Key{}, err
		}
	case pkcs11.CKK_RSA:
		r, err := t.mod.ctx.GetAttributeValue(t.sess, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return hsm.Key{}, t.fail("C_GetAttributeValue", err)
		}
		n := new(big.Int).SetBytes(r[0].Value)
		e := new(big.Int).SetBytes(r[1].Value)
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31 {
			return hsm.Key{}, fmt.Errorf("%w: RSA public exponent out of range", errUnusableKey)
		}
		pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
		alg = hsm.RSA3072
		if n.BitLen() != 3072 {
			alg = hsm.Algorithm(fmt.Sprintf("rsa-%d", n.BitLen()))
		}
	default:
		return hsm.Key{}, errUnusableKey
	}
	key := hsm.Key{Label: label, ID: hex.EncodeToString(id), Algorithm: alg, Public: pub}
	key.URI = t.keyURI(label, id)
	return key, nil
}

func (t *Token) keyURI(label string, id []byte) string {
	u := URI{Token: t.info.Label, Serial: t.info.Serial, Object: label, ID: id, ModulePath: t.mod.path}
	return u.String()
}

// parseECPublicKey decodes CKA_EC_PARAMS and CKA_EC_POINT. The point comes
// DER-wrapped in an OCTET STRING from most tokens and raw from some.
func parseECPublicKey(params, point []byte) (crypto.PublicKey, hsm.Algorithm, error) {
	var oid asn1.ObjectIdentifier
	var curveName string
	if rest, err := asn1.Unmarshal(params, &oid); err != nil || len(rest) != 0 {
		// Ed25519 may also be named by the printable string "edwards25519".
		if rest, err := asn1.Unmarshal(params, &curveName); err != nil || len(rest) != 0 {
			return nil, "", fmt.Errorf("%w: unreadable CKA_EC_PARAMS %x", errUnusableKey, params)
		}
	}
	switch {
	case oid.Equal(oidP256), oid.Equal(oidP384):
		curve, alg := elliptic.P256(), hsm.ECDSAP256
		if oid.Equal(oidP384) {
			curve, alg = elliptic.P384(), hsm.ECDSAP384
		}
		size := (curve.Params().BitSize + 7) / 8
		raw := unwrapPoint(point, 1+2*size)
		if raw == nil || raw[0] != 4 {
			return nil, "", fmt.Errorf("CKA_EC_POINT is not an uncompressed %s point", curve.Params().Name)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
		if err != nil {
			return nil, "", fmt.Errorf("CKA_EC_POINT: %w", err)
		}
		return pub, alg, nil
	case oid.Equal(oidEd25519), curveName == "edwards25519":
		raw := unwrapPoint(point, ed25519.PublicKeySize)
		if raw == nil {
			return nil, "", fmt.Errorf("CKA_EC_POINT is not an Ed25519 public key")
		}
		return ed25519.PublicKey(raw), hsm.Ed25519, nil
	}
	return nil, "", fmt.Errorf("%w: curve %v", errUnusableKey, oid)
}

// unwrapPoint returns the point of the expected length, whether it came
// as an ASN.1 OCTET STRING or raw; nil when it is neither.
func unwrapPoint(point []byte, want int) []byte {
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 && len(inner) == want {
		return inner
	}
	if len(point) == want {
		return point
	}
	return nil
}

// bytesToUint reads a CK_ULONG attribute, which modules return in host
// byte order.
func bytesToUint(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return ^uint(0)
}

// privateKeyHandle finds the private half of key by its CKA_ID.
func (t *Token) privateKeyHandle(key hsm.Key) (pkcs11.ObjectHandle, error) {
	id, err := hex.DecodeString(key.ID)
	if err != nil || len(id) == 0 {
		return 0, fmt.Errorf("%w: invalid key id %q", hsm.ErrKeyNotFound, key.ID)
	}
	hs, err := t.findObjects([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	})
	if err != nil {
		return 0, err
	}
	switch len(hs) {
	case 0:
		return 0, &hsm.DeviceError{Op: "C_FindObjects", Kind: hsm.ErrKeyNotFound, Err: fmt.Errorf("no private key with id %s", key.ID), Token: t.info.String()}
	case 1:
		return hs[0], nil
	}
	return 0, fmt.Errorf("%w: %d private keys share id %s on %s", hsm.ErrKeyNotFound, len(hs), key.ID, t.info)
}

// evidenceAttributes are read back from a private key as evidence.
var evidenceAttributes = []struct {
	name string
	typ  uint
}{
	{"CKA_TOKEN", pkcs11.CKA_TOKEN},
	{"CKA_PRIVATE", pkcs11.CKA_PRIVATE},
	{"CKA_SENSITIVE", pkcs11.CKA_SENSITIVE},
	{"CKA_EXTRACTABLE", pkcs11.CKA_EXTRACTABLE},
	{"CKA_LOCAL", pkcs11.CKA_LOCAL},
	{"CKA_NEVER_EXTRACTABLE", pkcs11.CKA_NEVER_EXTRACTABLE},
	{"CKA_ALWAYS_SENSITIVE", pkcs11.CKA_ALWAYS_SENSITIVE},
	{"CKA_ALWAYS_AUTHENTICATE", attrAlwaysAuthenticate},
}

// Evidence reads the private key's attributes back from the token.
func (t *Token) Evidence(_ context.Context, key hsm.Key) (hsm.Evidence, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.requireLogin("C_GetAttributeValue"); err != nil {
		return hsm.Evidence{}, err
	}
	h, err := t.privateKeyHandle(key)
	if err != nil {
		return hsm.Evidence{}, err
	}
	return t.evidence(h)
}

func (t *Token) evidence(h pkcs11.ObjectHandle) (hsm.Evidence, error) {
	tmpl := make([]*pkcs11.Attribute, len(evidenceAttributes))
	for i, a := range evidenceAttributes {
		tmpl[i] = pkcs11.NewAttribute(a.typ, nil)
	}
	attrs, err := t.mod.ctx.GetAttributeValue(t.sess, h, tmpl)
	if err != nil {
		return hsm.Evidence{}, t.fail("C_GetAttributeValue", err)
	}
	ev := hsm.Evidence{Kind: "pkcs11-attributes", Token: t.info, Attributes: map[string]bool{}, ReadAt: time.Now().UTC()}
	for i, a := range attrs {
		ev.Attributes[evidenceAttributes[i].name] = len(a.Value) > 0 && a.Value[0] != 0
	}
	return ev, nil
}

// CheckNonExtractable reports whether evidence shows a key born on the
// token that never left it: invariant 1 of the ceremony.
func CheckNonExtractable(ev hsm.Evidence) error {
	want := map[string]bool{
		"CKA_TOKEN": true, "CKA_PRIVATE": true, "CKA_SENSITIVE": true, "CKA_EXTRACTABLE": false,
		"CKA_LOCAL": true, "CKA_NEVER_EXTRACTABLE": true, "CKA_ALWAYS_SENSITIVE": true,
	}
	for _, a := range evidenceAttributes {
		w, ok := want[a.name]
		if ok && ev.Attributes[a.name] != w {
			return fmt.Errorf("%w: %s is %t", hsm.ErrNotNonExportable, a.name, ev.Attributes[a.name])
		}
	}
	return nil
}

// Close logs out and releases the session and the module.
func (t *Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if t.logged {
		_ = t.mod.ctx.Logout(t.sess)
	}
	err := t.mod.ctx.CloseSession(t.sess)
	t.pin = hsm.PIN{}
	t.backend.release(t.mod)
	if err != nil && !errors.Is(classify(err), hsm.ErrTokenRemoved) {
		return t.fail("C_CloseSession", err)
	}
	return nil
}
