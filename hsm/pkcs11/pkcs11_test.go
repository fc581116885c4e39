package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

var ctxBG = context.Background()

// openLoggedIn opens the token label of store and logs in with its PIN.
func openLoggedIn(t *testing.T, b *Backend, store *softhsmtest.Store, label string) *Token {
	t.Helper()
	tok, err := b.Open(ctxBG, store.URI(label))
	if err != nil {
		t.Fatalf("Open(%s): %v", label, err)
	}
	t.Cleanup(func() { tok.Close() })
	if err := tok.Login(ctxBG, hsm.NewPIN(store.PIN(t, label)), hsm.LoginOptions{}); err != nil {
		t.Fatalf("Login: %v", err)
	}
	return tok.(*Token)
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

// signRoot signs a root that lists key with s and returns it; the
// signature is built here so that go-tuf only verifies.
func signRoot(t *testing.T, s crypto.Signer, key *metadata.Key) (*metadata.Metadata[metadata.RootType], error) {
	t.Helper()
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
		digest, opts = d[:], &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 32}
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

func TestGenerateSignVerifyEveryAlgorithm(t *testing.T) {
	store := softhsmtest.New(t, "alice")
	b := NewBackend()
	tok := openLoggedIn(t, b, store, "alice")

	for _, alg := range hsm.Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			key, err := tok.GenerateKey(ctxBG, hsm.KeySpec{Algorithm: alg, Prefix: "tuf-alice"})
			if err != nil {
				t.Fatalf("GenerateKey: %v", err)
			}
			if key.Algorithm != alg || !strings.HasPrefix(key.Label, "tuf-alice-") || len(key.ID) != 2*keyIDBytes {
				t.Fatalf("key = %+v", key)
			}
			if !strings.Contains(key.URI, "object="+key.Label) || strings.Contains(key.URI, "pin") {
				t.Errorf("key URI %q", key.URI)
			}

			ev, err := tok.Evidence(ctxBG, key)
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]bool{
				"CKA_TOKEN": true, "CKA_PRIVATE": true, "CKA_SENSITIVE": true, "CKA_EXTRACTABLE": false,
				"CKA_LOCAL": true, "CKA_NEVER_EXTRACTABLE": true, "CKA_ALWAYS_SENSITIVE": true,
				"CKA_ALWAYS_AUTHENTICATE": false,
			} {
				if got, ok := ev.Attributes[name]; !ok || got != want {
					t.Errorf("evidence %s = %v (present %v), want %v", name, got, ok, want)
				}
			}
			if ev.Token.Serial != tok.Info().Serial || ev.Kind != "pkcs11-attributes" {
				t.Errorf("evidence token %+v", ev)
			}

			// The key is listed, without a PIN, by a fresh session.
			tok2, err := b.Open(ctxBG, store.URIWithoutPIN("alice"))
			if err != nil {
				t.Fatal(err)
			}
			keys, err := tok2.Keys(ctxBG)
			tok2.Close()
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, k := range keys {
				if k.ID == key.ID {
					found = k.Label == key.Label && k.Algorithm == alg
				}
			}
			if !found {
				t.Errorf("key %s not listed: %+v", key.ID, keys)
			}

			s, err := tok.Signer(ctxBG, key)
			if err != nil {
				t.Fatal(err)
			}
			tk := tufKey(t, s.Public())
			root, err := signRoot(t, s, tk)
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
				t.Fatalf("go-tuf rejects the signature: %v", err)
			}
			// A changed payload must not verify: the check is not vacuous.
			root.Signed.Version = 2
			if err := root.VerifyDelegate(metadata.ROOT, root); err == nil {
				t.Fatal("go-tuf accepted a signature over other bytes")
			}
		})
	}
}

func TestAlwaysAuthenticateKeyNeedsContextLogin(t *testing.T) {
	store := softhsmtest.New(t, "alice")
	faults := &faultCtx{}
	defer installFaults(faults)()
	tok := openLoggedIn(t, NewBackend(), store, "alice")
	key, err := tok.GenerateKey(ctxBG, hsm.KeySpec{Algorithm: hsm.ECDSAP256, Label: "always", AlwaysAuthenticate: true})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := tok.Evidence(ctxBG, key)
	if err != nil || !ev.Attributes["CKA_ALWAYS_AUTHENTICATE"] {
		t.Fatalf("evidence %v, %v", ev.Attributes, err)
	}
	s, err := tok.Signer(ctxBG, key)
	if err != nil {
		t.Fatal(err)
	}
	before := len(faults.Calls())
	if _, err := signRoot(t, s, tufKey(t, s.Public())); err != nil {
		t.Fatalf("sign with CKA_ALWAYS_AUTHENTICATE: %v", err)
	}
	got := strings.Join(faults.Calls()[before:], ",")
	if got != "C_SignInit,C_Login,C_Sign" {
		t.Errorf("calls = %s, want the context-specific login between C_SignInit and C_Sign", got)
	}
}

func TestWrongPINKeepsDeviceErrorAndState(t *testing.T) {
	store := softhsmtest.New(t, "alice")
	tok, err := NewBackend().Open(ctxBG, store.URIWithoutPIN("alice"))
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	err = tok.Login(ctxBG, hsm.NewPIN("00000000"), hsm.LoginOptions{})
	if !errors.Is(err, hsm.ErrPINIncorrect) {
		t.Fatalf("err = %v, want ErrPINIncorrect", err)
	}
	var rv pkcs11.Error
	if !errors.As(err, &rv) || rv != pkcs11.CKR_PIN_INCORRECT {
		t.Errorf("device error lost: %v", err)
	}
	if !strings.Contains(err.Error(), "token now reports") || strings.Contains(err.Error(), "00000000") {
		t.Errorf("message %q", err)
	}
	// The right PIN still works afterwards.
	if err := tok.Login(ctxBG, hsm.NewPIN(store.PIN(t, "alice")), hsm.LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := tok.PINState(ctxBG)
	if err != nil || !st.LoggedIn {
		t.Fatalf("state %+v %v", st, err)
	}
}

func TestFinalTryRefusedUnlessForced(t *testing.T) {
	store := softhsmtest.New(t, "alice")
	// SoftHSM never reports a final try; the flag is injected.
	faults := &faultCtx{tokenFlags: pkcs11.CKF_USER_PIN_FINAL_TRY}
	defer installFaults(faults)()
	tok, err := NewBackend().Open(ctxBG, store.URIWithoutPIN("alice"))
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	st, _ := tok.PINState(ctxBG)
	if !st.OnFinalTry() || !strings.Contains(st.String(), "final try") {
		t.Fatalf("state %+v", st)
	}
	err = tok.Login(ctxBG, hsm.NewPIN(store.PIN(t, "alice")), hsm.LoginOptions{})
	if !errors.Is(err, hsm.ErrFinalTry) {
		t.Fatalf("err = %v, want ErrFinalTry", err)
	}
	for _, c := range faults.Calls() {
		if c == "C_Login" {
			t.Fatal("C_Login was called on the final try")
		}
	}
	if err := tok.Login(ctxBG, hsm.NewPIN(store.PIN(t, "alice")), hsm.LoginOptions{Force: true}); err != nil {
		t.Fatalf("forced login: %v", err)
	}
}

func TestLockedPINNotTried(t *testing.T) {
	store := softhsmtest.New(t, "alice")
	faults := &faultCtx{tokenFlags: pkcs11.CKF_USER_PIN_LOCKED}
	defer installFaults(faults)()
	tok, err := NewBackend().Open(ctxBG, store.URIWithoutPIN("alice"))
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	err = tok.Login(ctxBG, hsm.NewPIN("whatever"), hsm.LoginOptions{Force: true})
	if !errors.Is(err, hsm.ErrPINLocked) {
		t.Fatalf("err = %v", err)
	}
	for _, c := range faults.Calls() {
		if c == "C_Login" {
			t.Fatal("C_Login was called on a locked token")
		}
	}
}

func TestSignFaultsKeepDeviceError(t *testing.T) {
	store := softhsmtest.New(t, "alice")
	faults := &faultCtx{}
	defer installFaults(faults)()
	tok := openLoggedIn(t, NewBackend(), store, "alice")
	key, err := tok.GenerateKey(ctxBG, hsm.KeySpec{Algorithm: hsm.ECDSAP256, Label: "k"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := tok.Signer(ctxBG, key)
	if err != nil {
		t.Fatal(err)
	}
	tk := tufKey(t, s.Public())

	cases := []struct {
		name  string
		setup func()
		kind  error
		rv    pkcs11.Error
	}{
		{"C_Sign fails", func() {
			faults.hook = failOn("C_Sign", pkcs11.Error(pkcs11.CKR_DEVICE_ERROR))
		}, nil, pkcs11.CKR_DEVICE_ERROR},
		{"token vanishes between login and sign", func() {
			faults.hook = failOn("C_SignInit", pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED))
		}, hsm.ErrTokenRemoved, pkcs11.CKR_DEVICE_REMOVED},
		{"session gone at sign", func() {
			faults.hook = failOn("C_Sign", pkcs11.Error(pkcs11.CKR_SESSION_HANDLE_INVALID))
		}, hsm.ErrTokenRemoved, pkcs11.CKR_SESSION_HANDLE_INVALID},
		{"token returns a bad signature", func() {
			faults.tamperSig = func(sig []byte) []byte { sig[len(sig)-1] ^= 1; return sig }
		}, hsm.ErrBadSignature, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			faults.hook, faults.tamperSig = nil, nil
			c.setup()
			_, err := signRoot(t, s, tk)
			if err == nil {
				t.Fatal("signing succeeded")
			}
			if c.kind != nil && !errors.Is(err, c.kind) {
				t.Errorf("err = %v, want kind %v", err, c.kind)
			}
			var rv pkcs11.Error
			if c.rv != 0 && (!errors.As(err, &rv) || rv != c.rv) {
				t.Errorf("err = %v, device error %v lost", err, c.rv)
			}
			if !strings.Contains(err.Error(), `"alice"`) {
				t.Errorf("error does not name the token: %v", err)
			}
		})
	}
	// Once the fault is gone the same signer works again.
	faults.hook, faults.tamperSig = nil, nil
	if _, err := signRoot(t, s, tk); err != nil {
		t.Fatalf("after faults: %v", err)
	}
}

func failOn(op string, err error) func(string) error {
	return func(got string) error {
		if got == op {
			return err
		}
		return nil
	}
}

// A failure at any module call during keygen leaves no object behind.
func TestKeygenFaultAtEveryCallLeavesNothing(t *testing.T) {
	store := softhsmtest.New(t, "alice")
	faults := &faultCtx{}
	defer installFaults(faults)()
	tok := openLoggedIn(t, NewBackend(), store, "alice")

	start := len(faults.Calls())
	if _, err := tok.GenerateKey(ctxBG, hsm.KeySpec{Algorithm: hsm.ECDSAP256, Label: "probe"}); err != nil {
		t.Fatal(err)
	}
	n := len(faults.Calls()) - start
	if err := tok.DeleteKey(ctxBG, hsm.Key{ID: mustKeyID(t, tok, "probe")}); err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("keygen made only %d calls", n)
	}
	for i := 0; i < n; i++ {
		count := 0
		var failed string
		faults.hook = func(op string) error {
			count++
			if count == i+1 {
				failed = op
				return pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)
			}
			return nil
		}
		_, err := tok.GenerateKey(ctxBG, hsm.KeySpec{Algorithm: hsm.ECDSAP256, Label: "victim"})
		faults.hook = nil
		if err == nil {
			t.Fatalf("call %d (%s) failed but keygen succeeded", i, failed)
		}
		if !errors.Is(err, pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)) {
			t.Errorf("call %d (%s): device error lost: %v", i, failed, err)
		}
		if objs := countObjects(t, tok); objs != 0 {
			t.Fatalf("call %d (%s) failed and %d objects remain", i, failed, objs)
		}
	}
}

func mustKeyID(t *testing.T, tok *Token, label string) string {
	t.Helper()
	keys, err := tok.Keys(ctxBG)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Label == label {
			return k.ID
		}
	}
	t.Fatalf("no key %q", label)
	return ""
}

func countObjects(t *testing.T, tok *Token) int {
	t.Helper()
	tok.mu.Lock()
	defer tok.mu.Unlock()
	hs, err := tok.findObjects(nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(hs)
}

func TestLabelExistsRefused(t *testing.T) {
	store := softhsmtest.New(t, "alice")
	tok := openLoggedIn(t, NewBackend(), store, "alice")
	if _, err := tok.GenerateKey(ctxBG, hsm.KeySpec{Algorithm: hsm.Ed25519, Label: "root"}); err != nil {
		t.Fatal(err)
	}
	_, err := tok.GenerateKey(ctxBG, hsm.KeySpec{Algorithm: hsm.Ed25519, Label: "root"})
	if !errors.Is(err, hsm.ErrLabelExists) || !strings.Contains(err.Error(), `"root"`) {
		t.Fatalf("err = %v", err)
	}
	if n := countObjects(t, tok); n != 2 {
		t.Errorf("%d objects, want the first pair only", n)
	}
}

func TestUnsupportedMechanismNamed(t *testing.T) {
	store := softhsmtest.New(t, "alice")
	faults := &faultCtx{dropMechanism: ckmECEdwardsKeyPairGen}
	defer installFaults(faults)()
	tok := openLoggedIn(t, NewBackend(), store, "alice")
	_, err := tok.GenerateKey(ctxBG, hsm.KeySpec{Algorithm: hsm.Ed25519})
	if !errors.Is(err, hsm.ErrUnsupported) || !strings.Contains(err.Error(), "CKM_EC_EDWARDS_KEY_PAIR_GEN") {
		t.Fatalf("err = %v", err)
	}
}

func TestTokenSelection(t *testing.T) {
	store := softhsmtest.New(t, "alice", "bob", "twin1")
	// Two tokens labelled alike: SoftHSM allows it, a URI by label cannot choose.
	store.AddTokens(t, "twin2")
	relabel(t, store, "twin1", "twin")
	relabel(t, store, "twin2", "twin")
	b := NewBackend()

	infos, err := b.Tokens(ctxBG, []string{store.Module})
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 4 {
		t.Fatalf("tokens = %+v (the spare uninitialized slot must be skipped)", infos)
	}
	for _, in := range infos {
		if in.Serial == "" || in.Manufacturer != "SoftHSM project" || in.Model != "SoftHSM v2" || in.Firmware == "" || !strings.HasPrefix(in.URI, "pkcs11:token=") {
			t.Errorf("info %+v", in)
		}
	}

	_, err = b.Open(ctxBG, "pkcs11:token=carol?module-path="+store.Module)
	if !errors.Is(err, hsm.ErrTokenNotFound) || !strings.Contains(err.Error(), `"alice"`) || !strings.Contains(err.Error(), `"bob"`) {
		t.Errorf("missing token: %v", err)
	}
	_, err = b.Open(ctxBG, "pkcs11:token=twin?module-path="+store.Module)
	if !errors.Is(err, hsm.ErrAmbiguousToken) {
		t.Errorf("ambiguous token: %v", err)
	}
	// A serial makes the choice.
	var serial string
	for _, in := range infos {
		if in.Label == "twin" {
			serial = in.Serial
		}
	}
	tok, err := b.Open(ctxBG, "pkcs11:token=twin;serial="+serial+"?module-path="+store.Module)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Info().Serial != serial {
		t.Errorf("opened %+v", tok.Info())
	}
	tok.Close()
	if len(b.mods) != 0 {
		t.Errorf("modules still loaded after every token closed: %v", b.mods)
	}
}

// relabel renames a token through its SO login: SoftHSM has no relabel,
// so the token is re-initialized with the same PINs and a new label.
func relabel(t *testing.T, store *softhsmtest.Store, from, to string) {
	t.Helper()
	so, err := os.ReadFile(filepath.Join(store.Dir, from+".so-pin"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("softhsm2-util", "--init-token", "--token", from, "--label", to,
		"--so-pin", strings.TrimSpace(string(so)), "--pin", store.PIN(t, from))
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+store.Conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("relabel: %v\n%s", err, out)
	}
}

func TestModuleErrors(t *testing.T) {
	b := NewBackend()
	notLib := filepath.Join(t.TempDir(), "notalib.so")
	os.WriteFile(notLib, []byte("hello"), 0o644)
	cases := []struct{ uri, want string }{
		{"pkcs11:token=a?module-path=/nonexistent/libx.so", "no such file"},
		{"pkcs11:token=a?module-path=" + notLib, "not a PKCS#11 library"},
		{"pkcs11:token=a?module-name=nosuchmodule", `no library for module-name "nosuchmodule"`},
	}
	if libc, _ := filepath.Glob("/usr/lib/*/libc.so.6"); len(libc) > 0 {
		cases = append(cases, struct{ uri, want string }{"pkcs11:token=a?module-path=" + libc[0], "not a PKCS#11 library"})
	}
	for _, c := range cases {
		_, err := b.Open(ctxBG, c.uri)
		if !errors.Is(err, hsm.ErrModule) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%s) = %v, want ErrModule containing %q", c.uri, err, c.want)
		}
	}
}

// OpenSC's pkcs11-tool, which shares no code with this package, must see
// every generated private key as sensitive and never extractable.
func TestPkcs11ToolSeesNonExtractableKeys(t *testing.T) {
	_, err := exec.LookPath("pkcs11-tool")
	softhsmtest.Require(t, err == nil, "OpenSC's pkcs11-tool", "opensc")
	store := softhsmtest.New(t, "alice")
	tok := openLoggedIn(t, NewBackend(), store, "alice")
	var ids []string
	for _, alg := range hsm.Algorithms {
		k, err := tok.GenerateKey(ctxBG, hsm.KeySpec{Algorithm: alg, Prefix: "x"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, k.ID)
	}
	cmd := exec.Command("pkcs11-tool", "--module", store.Module, "--token-label", "alice",
		"--login", "--pin", store.PIN(t, "alice"), "--list-objects", "--type", "privkey")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+store.Conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool: %v\n%s", err, out)
	}
	blocks := regexp.MustCompile(`(?m)^Private Key Object`).Split(string(out), -1)[1:]
	if len(blocks) != len(ids) {
		t.Fatalf("pkcs11-tool lists %d private keys, want %d:\n%s", len(blocks), len(ids), out)
	}
	for _, id := range ids {
		var block string
		for _, bl := range blocks {
			if strings.Contains(bl, "ID:         "+id) {
				block = bl
			}
		}
		if block == "" {
			t.Errorf("key %s not listed:\n%s", id, out)
			continue
		}
		access := regexp.MustCompile(`Access:\s+(.*)`).FindStringSubmatch(block)
		if access == nil || !strings.Contains(access[1], "always sensitive") || !strings.Contains(access[1], "never extractable") || !strings.Contains(access[1], "local") {
			t.Errorf("key %s: pkcs11-tool reports %q", id, block)
		}
		if strings.Contains(access[1], ", extractable") {
			t.Errorf("key %s is extractable: %s", id, access[1])
		}
	}
}

func TestECPointEncodings(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	raw, _ := priv.PublicKey.Bytes()
	params, _ := hex.DecodeString("06082a8648ce3d030107")
	wrapped := append([]byte{0x04, byte(len(raw))}, raw...)
	for name, point := range map[string][]byte{"raw": raw, "der": wrapped} {
		pub, alg, err := parseECPublicKey(params, point)
		if err != nil || alg != hsm.ECDSAP256 || !pub.(*ecdsa.PublicKey).Equal(&priv.PublicKey) {
			t.Errorf("%s: %v %v", name, alg, err)
		}
	}
	if _, _, err := parseECPublicKey(params, raw[:40]); err == nil {
		t.Error("truncated point accepted")
	}
	// Ed25519 named by its printable string.
	edParams := append([]byte{0x13, 12}, "edwards25519"...)
	pt := make([]byte, 32)
	pt[0] = 1
	if _, alg, err := parseECPublicKey(edParams, append([]byte{4, 32}, pt...)); err != nil || alg != hsm.Ed25519 {
		t.Errorf("edwards25519: %v %v", alg, err)
	}
}
