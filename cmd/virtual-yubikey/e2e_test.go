package main

// End-to-end tests: the virtual-yubikey binary in a private pcscd's vpcd
// reader, driven by piv-go through libpcsclite, as hsm/piv will drive it.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pivtest"
)

func openCard(t *testing.T, reader string) *piv.YubiKey {
	t.Helper()
	yk, err := piv.Open(reader)
	if err != nil {
		t.Fatalf("piv.Open(%q): %v", reader, err)
	}
	t.Cleanup(func() { yk.Close() })
	return yk
}

func authErr(err error) (piv.AuthErr, bool) {
	var e piv.AuthErr
	ok := errors.As(err, &e)
	return e, ok
}

func TestPivGoLifecycle(t *testing.T) {
	env := pivtest.StartWith(t, 1, pivtest.Options{Touch: "wait", TouchTimeout: 2 * time.Second})
	card := env.Cards[0]

	cards, err := piv.Cards()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cards, card.Reader) {
		t.Fatalf("piv.Cards() = %q, lacks %q", cards, card.Reader)
	}
	yk := openCard(t, card.Reader)
	if serial, err := yk.Serial(); err != nil || serial != card.Serial {
		t.Fatalf("Serial() = %d, %v; want %d", serial, err, card.Serial)
	}
	if v := yk.Version(); v != (piv.Version{Major: 5, Minor: 7, Patch: 1}) {
		t.Fatalf("Version() = %+v", v)
	}
	if ff, err := yk.FormFactor(); err != nil || ff != piv.FormfactorUSBAKeychain {
		t.Fatalf("FormFactor() = %v, %v", ff, err)
	}

	// A wrong PIN costs exactly one retry.
	if n, err := yk.Retries(); err != nil || n != 3 {
		t.Fatalf("Retries() = %d, %v", n, err)
	}
	err = yk.VerifyPIN("000000")
	if e, ok := authErr(err); !ok || e.Retries != 2 {
		t.Fatalf("wrong PIN: %v", err)
	}
	if n, err := yk.Retries(); err != nil || n != 2 {
		t.Fatalf("Retries() after a wrong PIN = %d, %v; want 2", n, err)
	}

	// Set-up as hsm/piv will do it: PIN, PUK, a random AES-192 management
	// key stored PIN-protected.
	mgm := make([]byte, 24)
	rand.Read(mgm)
	if err := yk.SetManagementKey(piv.DefaultManagementKey, mgm); err != nil {
		t.Fatalf("SetManagementKey: %v", err)
	}
	if err := yk.SetManagementKey(piv.DefaultManagementKey, mgm); err == nil {
		t.Fatal("the old management key still works")
	}
	const pin, puk = "246810", "13579135"
	if err := yk.SetPIN(piv.DefaultPIN, pin); err != nil {
		t.Fatalf("SetPIN: %v", err)
	}
	if err := yk.SetPUK(piv.DefaultPUK, puk); err != nil {
		t.Fatalf("SetPUK: %v", err)
	}
	if err := yk.SetMetadata(mgm, &piv.Metadata{ManagementKey: &mgm}); err != nil {
		t.Fatalf("SetMetadata: %v", err)
	}
	md, err := yk.Metadata(pin)
	if err != nil || md.ManagementKey == nil || string(*md.ManagementKey) != string(mgm) {
		t.Fatalf("Metadata: %v", err)
	}

	// Key generation in 9c, PIN and touch "always", attested.
	pub, err := yk.GenerateKey(mgm, piv.SlotSignature, piv.Key{Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyAlways, TouchPolicy: piv.TouchPolicyAlways})
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	slotCert, err := yk.Attest(piv.SlotSignature)
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	f9, err := yk.AttestationCertificate()
	if err != nil {
		t.Fatalf("AttestationCertificate: %v", err)
	}
	a, err := (&piv.Verifier{Roots: env.Roots}).Verify(f9, slotCert)
	if err != nil {
		t.Fatalf("Verifier{Roots: virtual CA}.Verify: %v", err)
	}
	if a.Serial != card.Serial || a.PINPolicy != piv.PINPolicyAlways || a.TouchPolicy != piv.TouchPolicyAlways ||
		a.Slot != piv.SlotSignature || a.Version != yk.Version() || a.Formfactor != piv.FormfactorUSBAKeychain {
		t.Fatalf("attestation %+v", a)
	}
	if !pub.(*ecdsa.PublicKey).Equal(slotCert.PublicKey) {
		t.Fatal("attested key differs from the generated key")
	}
	if _, err := piv.Verify(f9, slotCert); err == nil {
		t.Fatal("a virtual attestation verified against Yubico's roots")
	}
	if _, err := yk.Attest(piv.SlotAuthentication); !errors.Is(err, piv.ErrNotFound) {
		t.Fatalf("Attest(empty slot) = %v, want ErrNotFound", err)
	}

	// Signing: PIN, then touch.
	priv, err := yk.PrivateKey(piv.SlotSignature, pub, piv.KeyAuth{PIN: pin})
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("1.root.json"))
	touched := make(chan error, 1)
	go func() { touched <- card.Touch() }()
	sig, err := priv.(*piv.ECDSAPrivateKey).Sign(rand.Reader, digest[:], nil)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if err := <-touched; err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatal("P-256 signature does not verify")
	}
	// No touch: the card gives up after its timeout with 6982.
	start := time.Now()
	_, err = priv.(*piv.ECDSAPrivateKey).Sign(rand.Reader, digest[:], nil)
	if err == nil || !strings.Contains(err.Error(), "6982") {
		t.Fatalf("Sign without touch: %v, want 6982", err)
	}
	if d := time.Since(start); d < 2*time.Second || d > 10*time.Second {
		t.Errorf("gave up after %s, want about 2s", d)
	}

	// P-384 (PIN once) and Ed25519 (PIN never), touch never.
	pub384, err := yk.GenerateKey(mgm, piv.SlotAuthentication, piv.Key{Algorithm: piv.AlgorithmEC384, PINPolicy: piv.PINPolicyOnce, TouchPolicy: piv.TouchPolicyNever})
	if err != nil {
		t.Fatal(err)
	}
	priv384, err := yk.PrivateKey(piv.SlotAuthentication, pub384, piv.KeyAuth{PIN: pin})
	if err != nil {
		t.Fatal(err)
	}
	d384 := sha512.Sum384([]byte("targets.json"))
	for range 2 {
		sig, err := priv384.(*piv.ECDSAPrivateKey).Sign(rand.Reader, d384[:], nil)
		if err != nil || !ecdsa.VerifyASN1(pub384.(*ecdsa.PublicKey), d384[:], sig) {
			t.Fatalf("P-384 signature: %v", err)
		}
	}
	pubEd, err := yk.GenerateKey(mgm, piv.SlotKeyManagement, piv.Key{Algorithm: piv.AlgorithmEd25519, PINPolicy: piv.PINPolicyNever, TouchPolicy: piv.TouchPolicyNever})
	if err != nil {
		t.Fatal(err)
	}
	privEd, err := yk.PrivateKey(piv.SlotKeyManagement, pubEd, piv.KeyAuth{})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(strings.Repeat(`{"signed":{"_type":"root"}}`, 40)) // over 255 bytes: chained
	sig, err = privEd.(crypto.Signer).Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil || !ed25519.Verify(pubEd.(ed25519.PublicKey), msg, sig) {
		t.Fatalf("Ed25519 signature: %v", err)
	}

	// A certificate of over 255 bytes: chained PUT DATA, GET RESPONSE.
	der, err := issueCertificate(pub384, strings.Repeat("root key ", 40))
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if err := yk.SetCertificate(mgm, piv.SlotAuthentication, cert); err != nil {
		t.Fatalf("SetCertificate: %v", err)
	}
	got, err := yk.Certificate(piv.SlotAuthentication)
	if err != nil || !got.Equal(cert) {
		t.Fatalf("Certificate: %v", err)
	}

	// Blocked PIN, unblocked with the PUK.
	for left := 2; left >= 0; left-- {
		err := yk.VerifyPIN("000000")
		if e, ok := authErr(err); !ok || e.Retries != left {
			t.Fatalf("wrong PIN: %v, want %d retries left", err, left)
		}
	}
	err = yk.VerifyPIN(pin)
	if e, ok := authErr(err); !ok || e.Retries != 0 || !strings.Contains(err.Error(), "blocked") {
		t.Fatalf("blocked PIN: %v", err)
	}
	if err := yk.Unblock("00000000", "111111"); err == nil {
		t.Fatal("Unblock with a wrong PUK")
	}
	if err := yk.Unblock(puk, "112233"); err != nil {
		t.Fatalf("Unblock: %v", err)
	}
	if n, err := yk.Retries(); err != nil || n != 3 {
		t.Fatalf("Retries() after unblock = %d, %v", n, err)
	}
	if err := yk.VerifyPIN("112233"); err != nil {
		t.Fatalf("new PIN: %v", err)
	}

	// piv-go's Reset blocks PIN and PUK itself, then resets: keys gone,
	// factory PIN and management key back.
	if err := yk.Reset(); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if _, err := yk.Attest(piv.SlotSignature); !errors.Is(err, piv.ErrNotFound) {
		t.Fatalf("Attest after reset: %v, want ErrNotFound", err)
	}
	if err := yk.SetRetries(piv.DefaultManagementKey, piv.DefaultPIN, 5, 4); err != nil {
		t.Fatalf("SetRetries: %v", err)
	}
	if n, err := yk.Retries(); err != nil || n != 5 {
		t.Fatalf("Retries() after SetRetries = %d, %v; want 5", n, err)
	}
	if s, err := yk.Serial(); err != nil || s != card.Serial {
		t.Fatalf("serial after reset: %d, %v", s, err)
	}
}

func TestPivGoRestartAndRemoval(t *testing.T) {
	env := pivtest.StartWith(t, 2, pivtest.Options{Touch: "wait", TouchTimeout: 20 * time.Second})
	card := env.Cards[0]
	yk := openCard(t, card.Reader)
	mgm := piv.DefaultManagementKey
	pub, err := yk.GenerateKey(mgm, piv.SlotSignature, piv.Key{Algorithm: piv.AlgorithmEd25519, PINPolicy: piv.PINPolicyNever, TouchPolicy: piv.TouchPolicyAlways})
	if err != nil {
		t.Fatal(err)
	}
	yk.Close()

	// The card comes back with its key after a restart.
	card.Remove(t)
	if _, err := piv.Open(card.Reader); err == nil {
		t.Fatal("opened a reader without a card")
	} else {
		t.Logf("opening the empty reader: %v", err)
	}
	card.Insert(t)
	yk = openCard(t, card.Reader)
	att, err := yk.Attest(piv.SlotSignature)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.(ed25519.PublicKey).Equal(att.PublicKey) {
		t.Fatal("the key changed across a restart")
	}

	// Removed in the middle of a signature (waiting for a touch): piv-go
	// gets an error, not a hang.
	priv, err := yk.PrivateKey(piv.SlotSignature, pub, piv.KeyAuth{})
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		_, err := priv.(crypto.Signer).Sign(rand.Reader, []byte("snapshot.json"), crypto.Hash(0))
		result <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for card.TouchRequests() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the card never asked for a touch")
		}
		time.Sleep(20 * time.Millisecond)
	}
	card.Kill(t)
	select {
	case err := <-result:
		if err == nil {
			t.Fatal("a signature from a removed card")
		}
		t.Logf("signing with the card pulled out: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("piv-go hangs after the card was removed")
	}

	// The other card was not disturbed.
	other := openCard(t, env.Cards[1].Reader)
	if s, err := other.Serial(); err != nil || s != env.Cards[1].Serial {
		t.Fatalf("second card: %d, %v", s, err)
	}
}

// issueCertificate makes a certificate for pub, signed by a throw-away CA.
func issueCertificate(pub crypto.PublicKey, cn string) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	return x509.CreateCertificate(rand.Reader, leaf, ca, pub, caKey)
}
