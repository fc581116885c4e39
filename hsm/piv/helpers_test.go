package piv

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pivtest"
)

var ctxBG = context.Background()

// defaultPIN is the virtual cards' factory PIN.
var defaultPIN = hsm.NewPIN(DefaultPIN)

func serialOf(c *pivtest.Card) string { return fmt.Sprint(c.Serial) }

func uriOf(c *pivtest.Card, slot string) string {
	u := "yubikey:serial=" + serialOf(c)
	if slot != "" {
		u += ";slot-id=" + slot
	}
	return u
}

// open opens the card's token through b (a fresh Backend when nil) and
// closes it when the test ends.
func open(t *testing.T, b *Backend, uri string) *Token {
	t.Helper()
	if b == nil {
		b = NewBackend()
	}
	tok, err := b.OpenToken(ctxBG, uri)
	if err != nil {
		t.Fatalf("Open(%s): %v", uri, err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

func login(t *testing.T, tok *Token, pin hsm.PIN) {
	t.Helper()
	if err := tok.Login(ctxBG, pin, hsm.LoginOptions{}); err != nil {
		t.Fatalf("Login: %v", err)
	}
}

func pinState(t *testing.T, tok *Token) hsm.PINState {
	t.Helper()
	st, err := tok.PINState(ctxBG)
	if err != nil {
		t.Fatalf("PINState: %v", err)
	}
	return st
}

// wantErr fails unless err is kind and its message contains every part.
func wantErr(t *testing.T, err, kind error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", kind)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Fatalf("err = %v, want errors.Is %v", err, kind)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("err = %q, want it to contain %q", err, p)
		}
	}
}

// hintsOf returns the CLI hints an error carries.
func hintsOf(err error) string {
	var h interface{ Hints() []string }
	if errors.As(err, &h) {
		return strings.Join(h.Hints(), "\n")
	}
	return ""
}

// noSecret fails if any secret appears in err, however printed.
func noSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		for _, txt := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), hintsOf(err)} {
			if strings.Contains(txt, s) {
				t.Errorf("error shows a secret: %s", txt)
			}
		}
	}
}

// tufKey is the TUF key for pub, built with go-tuf; go-tuf names every
// ECDSA scheme nistp256, so P-384 is corrected here.
func tufKey(t *testing.T, pub crypto.PublicKey) *metadata.Key {
	t.Helper()
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if ec, ok := pub.(*ecdsa.PublicKey); ok && ec.Curve == elliptic.P384() {
		k.Scheme = metadata.KeySchemeECDSA_SHA2_P384
	}
	return k
}

// signRoot signs a root that lists s's key with s; go-tuf only verifies.
func signRoot(t *testing.T, s crypto.Signer) (*metadata.Metadata[metadata.RootType], error) {
	t.Helper()
	key := tufKey(t, s.Public())
	root := metadata.Root(time.Now().Add(24 * time.Hour))
	if err := root.Signed.AddKey(key, metadata.ROOT); err != nil {
		t.Fatal(err)
	}
	payload, err := cjson.EncodeCanonical(root.Signed)
	if err != nil {
		t.Fatal(err)
	}
	var digest []byte
	var opts crypto.SignerOpts
	switch key.Scheme {
	case metadata.KeySchemeECDSA_SHA2_P256:
		d := sha256.Sum256(payload)
		digest, opts = d[:], crypto.SHA256
	case metadata.KeySchemeECDSA_SHA2_P384:
		d := sha512.Sum384(payload)
		digest, opts = d[:], crypto.SHA384
	case metadata.KeySchemeEd25519:
		digest, opts = payload, crypto.Hash(0)
	case metadata.KeySchemeRSASSA_PSS_SHA256:
		d := sha256.Sum256(payload)
		digest, opts = d[:], &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
	default:
		t.Fatalf("scheme %s", key.Scheme)
	}
	sig, err := s.Sign(nil, digest, opts)
	if err != nil {
		return nil, err
	}
	id, err := key.ID()
	if err != nil {
		t.Fatal(err)
	}
	root.Signatures = append(root.Signatures, metadata.Signature{KeyID: id, Signature: sig})
	return root, nil
}

// signAndVerify signs a root with s and has go-tuf verify it.
func signAndVerify(t *testing.T, s crypto.Signer) {
	t.Helper()
	root, err := signRoot(t, s)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		t.Fatalf("go-tuf rejects the signature: %v", err)
	}
	root.Signed.Version = 2
	if err := root.VerifyDelegate(metadata.ROOT, root); err == nil {
		t.Fatal("go-tuf accepted a signature over other bytes")
	}
}
