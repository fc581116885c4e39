package piv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pivtest"
)

// faultCard wraps a real card and lets a test fail, or tamper with, the
// calls the token makes. hook sees each call's name before it runs; a
// non-nil return is returned instead of calling the card.
type faultCard struct {
	card
	mu    sync.Mutex
	calls []string
	hook  func(op string) error
	// attest, if set, replaces what Attest returned.
	attest func(*x509.Certificate) *x509.Certificate
	// tamperSig alters the signatures the card returns.
	tamperSig func([]byte) []byte
}

func (f *faultCard) before(op string) error {
	f.mu.Lock()
	f.calls = append(f.calls, op)
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		return hook(op)
	}
	return nil
}

func (f *faultCard) set(hook func(string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook, f.calls = hook, nil
}

func (f *faultCard) Calls() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ",")
}

func (f *faultCard) VerifyPIN(pin string) error {
	if err := f.before("VerifyPIN"); err != nil {
		return err
	}
	return f.card.VerifyPIN(pin)
}

func (f *faultCard) Metadata(pin string) (*piv.Metadata, error) {
	if err := f.before("Metadata"); err != nil {
		return nil, err
	}
	return f.card.Metadata(pin)
}

func (f *faultCard) KeyInfo(slot piv.Slot) (piv.KeyInfo, error) {
	if err := f.before("KeyInfo"); err != nil {
		return piv.KeyInfo{}, err
	}
	return f.card.KeyInfo(slot)
}

func (f *faultCard) GenerateKey(key []byte, slot piv.Slot, opts piv.Key) (crypto.PublicKey, error) {
	if err := f.before("GenerateKey"); err != nil {
		return nil, err
	}
	return f.card.GenerateKey(key, slot, opts)
}

func (f *faultCard) Attest(slot piv.Slot) (*x509.Certificate, error) {
	if err := f.before("Attest"); err != nil {
		return nil, err
	}
	c, err := f.card.Attest(slot)
	if err == nil && f.attest != nil {
		c = f.attest(c)
	}
	return c, err
}

func (f *faultCard) PrivateKey(slot piv.Slot, pub crypto.PublicKey, auth piv.KeyAuth) (crypto.PrivateKey, error) {
	if err := f.before("PrivateKey"); err != nil {
		return nil, err
	}
	k, err := f.card.PrivateKey(slot, pub, auth)
	if err != nil {
		return nil, err
	}
	return &faultSigner{Signer: k.(crypto.Signer), f: f}, nil
}

type faultSigner struct {
	crypto.Signer
	f *faultCard
}

// Sign runs the real signature first, so that an injected failure comes
// after the card did its part, as a real failure would.
func (s *faultSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := s.Signer.Sign(r, digest, opts)
	if ferr := s.f.before("Sign"); ferr != nil {
		return nil, ferr
	}
	if err == nil && s.f.tamperSig != nil {
		sig = s.f.tamperSig(sig)
	}
	return sig, err
}

// faultPCSC gives every opened card to wrap.
type faultPCSC struct {
	pcsc
	wrap func(card) card
}

func (p faultPCSC) Open(reader string) (card, error) {
	c, err := p.pcsc.Open(reader)
	if err != nil {
		return nil, err
	}
	return p.wrap(c), nil
}

// faultBackend returns a backend whose cards all go through f.
func faultBackend(f *faultCard) *Backend {
	return &Backend{pcsc: faultPCSC{pcsc: pivGo{}, wrap: func(c card) card { f.card = c; return f }}}
}

// fakeSW is a status word as the card returns it.
type fakeSW uint16

func (s fakeSW) Error() string  { return fmt.Sprintf("smart card error %04x", uint16(s)) }
func (s fakeSW) Status() uint16 { return uint16(s) }

// errRemoved is how piv-go words a card pulled out.
var errRemoved = errors.New("transmitting request: the smart card has been removed, so further communication is not possible")

func failOn(name string, err error) func(string) error {
	return func(op string) error {
		if op == name {
			return err
		}
		return nil
	}
}

func TestFaultsInKeygen(t *testing.T) {
	env := pivtest.Start(t, 1)
	f := &faultCard{}
	tok := open(t, faultBackend(f), uriOf(env.Cards[0], ""))

	f.set(failOn("VerifyPIN", fmt.Errorf("verify pin: %w", errRemoved)))
	err := tok.Login(ctxBG, defaultPIN, hsm.LoginOptions{})
	wantErr(t, err, hsm.ErrTokenRemoved, "VERIFY PIN", "the smart card has been removed")
	f.set(nil)
	login(t, tok, defaultPIN)

	spec := hsm.KeySpec{Algorithm: hsm.ECDSAP256}
	for _, tc := range []struct {
		name  string
		op    string
		err   error
		kind  error
		parts []string
		hint  string
	}{
		{"card removed", "GenerateKey", fmt.Errorf("command failed: %w", errRemoved), hsm.ErrTokenRemoved,
			[]string{"GENERATE (slot 9c)", "the smart card has been removed"}, "reinsert"},
		{"management key refused", "GenerateKey", fmt.Errorf("authenticating with management key: auth challenge: %w", fakeSW(0x6982)), ErrManagementKey,
			[]string{"stores no PIN-protected management key and the factory default is refused", "does not guess"}, "change-management-key --protect"},
		{"PIN-protected data unreadable", "Metadata", fmt.Errorf("command failed: %w", fakeSW(0x6a80)), nil,
			[]string{"PIN-protected management key", "6a80"}, ""},
		{"slot metadata unreadable", "KeyInfo", fmt.Errorf("command failed: %w", errRemoved), hsm.ErrTokenRemoved,
			[]string{"GET METADATA (slot 9c)"}, "reinsert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.set(failOn(tc.op, tc.err))
			_, err := tok.GenerateKey(ctxBG, spec)
			f.set(nil)
			wantErr(t, err, tc.kind, tc.parts...)
			if !errors.Is(err, tc.err) {
				t.Errorf("the device's error is lost: %v", err)
			}
			if !strings.Contains(hintsOf(err), tc.hint) {
				t.Errorf("hints %q, want %q", hintsOf(err), tc.hint)
			}
			noSecret(t, err, DefaultPIN)
			if keys, err := tok.Keys(ctxBG); err != nil || len(keys) != 0 {
				t.Errorf("keys after a failed keygen: %v, %v", keys, err)
			}
		})
	}

	// The card attests another key than the one it returned.
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.attest = func(c *x509.Certificate) *x509.Certificate {
		return selfSigned(t, stranger)
	}
	_, err = tok.GenerateKey(ctxBG, spec)
	f.attest = nil
	wantErr(t, err, hsm.ErrKeyNotFound, "attestation of slot 9c is for another key than the one just generated")
}

func TestFaultsInSign(t *testing.T) {
	env := pivtest.Start(t, 1)
	f := &faultCard{}
	tok := open(t, faultBackend(f), uriOf(env.Cards[0], ""))
	login(t, tok, defaultPIN)
	touchKey, err := tok.GenerateKey(ctxBG, hsm.KeySpec{Algorithm: hsm.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	tok.uri = &URI{Serial: tok.info.Serial, Slot: 0x9a}
	plainKey, err := tok.GenerateKey(ctxBG, hsm.KeySpec{Algorithm: hsm.Ed25519, PINPolicy: "once", TouchPolicy: "never"})
	if err != nil {
		t.Fatal(err)
	}
	touchSigner, err := tok.Signer(ctxBG, touchKey)
	if err != nil {
		t.Fatal(err)
	}
	plainSigner, err := tok.Signer(ctxBG, plainKey)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		signer crypto.Signer
		err    error
		kind   error
		parts  []string
		hint   string
	}{
		{"card removed", touchSigner, fmt.Errorf("command failed: %w", errRemoved), hsm.ErrTokenRemoved,
			[]string{"SIGN (slot 9c)", "the smart card has been removed"}, "reinsert"},
		{"no touch", touchSigner, fmt.Errorf("command failed: %w", fakeSW(0x6982)), hsm.ErrNoTouch,
			[]string{"no touch came", "6982"}, "touch the YubiKey"},
		{"not logged in", plainSigner, fmt.Errorf("command failed: %w", fakeSW(0x6982)), hsm.ErrNotLoggedIn,
			[]string{"SIGN (slot 9a)", "6982"}, ""},
		{"wrong PIN", touchSigner, fmt.Errorf("verify pin: %w", piv.AuthErr{Retries: 2}), hsm.ErrPINIncorrect,
			[]string{"2 retries"}, "2 more wrong PINs"},
		{"PIN blocked", touchSigner, fmt.Errorf("verify pin: %w", piv.AuthErr{Retries: 0}), hsm.ErrPINLocked,
			[]string{"now blocked"}, "unblock-pin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.set(failOn("Sign", tc.err))
			_, err := signRoot(t, tc.signer)
			f.set(nil)
			wantErr(t, err, tc.kind, tc.parts...)
			if !errors.Is(err, tc.err) {
				t.Errorf("the device's error is lost: %v", err)
			}
			if !strings.Contains(hintsOf(err), tc.hint) {
				t.Errorf("hints %q, want %q", hintsOf(err), tc.hint)
			}
			noSecret(t, err, DefaultPIN)
		})
	}

	// A signature that does not verify is never returned.
	f.tamperSig = func(sig []byte) []byte {
		sig = append([]byte(nil), sig...)
		sig[len(sig)-1] ^= 1
		return sig
	}
	for _, s := range []crypto.Signer{touchSigner, plainSigner} {
		_, err = signRoot(t, s)
		wantErr(t, err, hsm.ErrBadSignature, "does not verify")
	}
	f.tamperSig = nil

	// Signing works again, and asks the card for nothing more than the
	// signature: the signer was set up once.
	f.set(nil)
	signAndVerify(t, touchSigner)
	if got := f.Calls(); got != "Sign" {
		t.Errorf("calls while signing = %s", got)
	}
	if _, err := tok.Signer(ctxBG, touchKey); err != nil {
		t.Fatal(err)
	}
	if got := f.Calls(); got != "Sign,KeyInfo,PrivateKey" {
		t.Errorf("calls of Signer = %s", got)
	}

	// A closed token signs nothing.
	tok.Close()
	_, err = signRoot(t, touchSigner)
	wantErr(t, err, hsm.ErrTokenRemoved)
}

func selfSigned(t *testing.T, k *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "YubiKey PIV Attestation 9c"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
