package ceremony

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// sigstoreHistory is Sigstore's real root chain 1 → 15, kept beside the
// checkout in shared/testdata.
func sigstoreHistory(t *testing.T) string {
	t.Helper()
	for _, dir := range []string{
		os.Getenv("TUF_CEREMONY_SHARED_TESTDATA"),
		filepath.Join(softhsmtest.RepoRoot(), "..", "shared", "testdata"),
		"/work/shared/testdata",
	} {
		p := filepath.Join(dir, "sigstore-root-history")
		if _, err := os.Stat(filepath.Join(p, "15.root.json")); dir != "" && err == nil {
			return p
		}
	}
	softhsmtest.Require(t, false, "Sigstore's root history in ../shared/testdata (or TUF_CEREMONY_SHARED_TESTDATA)", "none: it ships beside the checkout")
	return ""
}

func TestVerifySigstoreRootHistory(t *testing.T) {
	dir := sigstoreHistory(t)
	beforeExpiry := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rep, err := Verify(dir, VerifyOptions{At: beforeExpiry})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Roots) != 15 || rep.TrustedFrom != 1 {
		t.Fatalf("problems %v, %d roots", rep.Problems, len(rep.Roots))
	}
	notes := strings.Join(rep.Notes, "\n")
	for _, want := range []string{
		"1.root.json: go-tuf v2 cannot verify it",
		"11.root.json: key ID 7247f0db is not the SHA-256 of its key",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	var custodians []string
	for _, r := range rep.Roles {
		if r.Role == metadata.ROOT {
			for _, k := range r.Keys {
				custodians = append(custodians, k.Custodian)
			}
		}
	}
	if strings.Join(custodians, ",") != "@mnm678,@santiagotorres,@bobcallaway,@joshuagl,@lance" {
		t.Errorf("root custodians %v", custodians)
	}

	// After version 15 expired, the chain still verifies but the
	// repository is frozen.
	rep, _ = Verify(dir, VerifyOptions{At: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)})
	if rep.OK() || !strings.Contains(rep.Problems[0], "the newest root, v15, expired at 2026-11-20T13:58:18Z") {
		t.Errorf("expired chain: %v", rep.Problems)
	}

	// Pinning root v5 by its digest walks from there; go-tuf reads all of it.
	data, _ := os.ReadFile(filepath.Join(dir, "5.root.json"))
	rep, _ = Verify(dir, VerifyOptions{At: beforeExpiry, RootSHA256: sha256Hex(data)})
	if !rep.OK() || rep.TrustedFrom != 5 || strings.Contains(strings.Join(rep.Notes, "\n"), "go-tuf v2 cannot") {
		t.Errorf("pinned v5: from %d, %v, %v", rep.TrustedFrom, rep.Problems, rep.Notes)
	}
}

// A changed byte, a missing version or a substituted root breaks the chain
// at the right place.
func TestVerifySigstoreChainTampered(t *testing.T) {
	src := sigstoreHistory(t)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	copyChain := func(t *testing.T) string {
		dir := t.TempDir()
		for i := 1; i <= 15; i++ {
			name := VersionedName(metadata.ROOT, int64(i))
			data, err := os.ReadFile(filepath.Join(src, name))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, name), data, 0o644)
		}
		return dir
	}
	t.Run("edited", func(t *testing.T) {
		dir := copyChain(t)
		p := filepath.Join(dir, "7.root.json")
		data, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(strings.Replace(string(data), `"threshold": 3`, `"threshold": 1`, 1)), 0o644)
		rep, _ := Verify(dir, VerifyOptions{At: at})
		if rep.OK() || len(rep.Roots) != 6 || !strings.Contains(rep.Problems[0], "7.root.json is not signed by the threshold of root v6: 0 of 3") {
			t.Errorf("%d roots, %v", len(rep.Roots), rep.Problems)
		}
	})
	t.Run("missing", func(t *testing.T) {
		dir := copyChain(t)
		os.Remove(filepath.Join(dir, "8.root.json"))
		rep, _ := Verify(dir, VerifyOptions{At: at})
		if rep.OK() || !strings.Contains(rep.Problems[0], "root v8 is missing: the chain jumps from v7 to v9") {
			t.Errorf("%v", rep.Problems)
		}
	})
	t.Run("rollback", func(t *testing.T) {
		dir := copyChain(t)
		data, _ := os.ReadFile(filepath.Join(src, "9.root.json"))
		os.WriteFile(filepath.Join(dir, "10.root.json"), data, 0o644)
		rep, _ := Verify(dir, VerifyOptions{At: at})
		if rep.OK() || !strings.Contains(rep.Problems[0], "10.root.json holds version 9") {
			t.Errorf("%v", rep.Problems)
		}
	})
}

// The memos of decoded keys, shared by the roots of a chain, are keyed on
// all that a decoding depends on, and never confuse two keys whose fields
// joined together would read the same (JSON strings may hold NUL, and a
// PEM block is found anywhere in the text).
func TestKeyMemosKeepKeysApart(t *testing.T) {
	k := newHostileKeys(t)
	pem1, pem2 := k.c.key.Value.PublicKey, k.e.key.Value.PublicKey // ECDSA keys, PEM

	// go-tuf's side: keytype, scheme and public value.
	decoded := map[goTUFKeyValue]*goTUFKey{}
	fingerprint := func(key *metadata.Key) string {
		r := &goTUFRoot{md: &metadata.Metadata[metadata.RootType]{Signed: metadata.RootType{Keys: map[string]*metadata.Key{"id": key}}},
			keys: map[string]*goTUFKey{}, decoded: decoded}
		got := r.key("id", metadata.ROOT)
		if got.err != nil {
			t.Fatal(got.err)
		}
		return got.fingerprint
	}
	a := &metadata.Key{Type: metadata.KeyTypeECDSA_SHA2_P256, Scheme: metadata.KeySchemeECDSA_SHA2_P256 + "\x00" + pem2, Value: metadata.KeyVal{PublicKey: pem1}}
	b := &metadata.Key{Type: metadata.KeyTypeECDSA_SHA2_P256, Scheme: metadata.KeySchemeECDSA_SHA2_P256, Value: metadata.KeyVal{PublicKey: pem2 + "\x00" + pem1}}
	if fa, fb := fingerprint(a), fingerprint(b); fa == fb {
		t.Errorf("go-tuf's memo: two keys of different public values decode to %s", fa)
	}

	// The own walk's side: keytype and public value.
	memo := map[rawKeyValue]*parsedKey{}
	parse := func(keyType, public string) *parsedKey {
		key := &RawKey{KeyType: keyType, Scheme: metadata.KeySchemeECDSA_SHA2_P256}
		key.KeyVal.Public = public
		(&RawRoot{Signed: rawRootSigned{Keys: map[string]*RawKey{"id": key}}}).shareParsedKeys(memo)
		return key.parsed
	}
	c, d := parse(metadata.KeyTypeECDSA_SHA2_P256, pem2+"\x00"+pem1), parse(metadata.KeyTypeECDSA_SHA2_P256+"\x00"+pem2, pem1)
	if c.err != nil || d.err != nil || string(c.der) == string(d.der) {
		t.Errorf("own memo: two keys of different public values decode to the same key (%v, %v)", c.err, d.err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	ed := parse(metadata.KeyTypeEd25519, hex.EncodeToString(pub))
	notECDSA := parse(metadata.KeyTypeECDSA_SHA2_P256, hex.EncodeToString(pub)) // 32 bytes: no P-256 point
	if ed.err != nil || notECDSA.err == nil {
		t.Errorf("own memo: the same hex under ed25519 and ecdsa: %v, %v", ed.err, notECDSA.err)
	}
}

// One public key listed under two key IDs counts once toward a threshold.
func TestThresholdCountsPublicKeysOnce(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	key := RawKey{KeyType: "ed25519", Scheme: "ed25519"}
	key.KeyVal.Public = hex.EncodeToString(pub)
	twin := key
	root := &RawRoot{Signed: rawRootSigned{
		Version: 1,
		Keys:    map[string]*RawKey{"a": &key, "b": &twin},
		Roles:   map[string]*rawRole{metadata.ROOT: {KeyIDs: []string{"a", "b"}, Threshold: 2}},
	}}
	payload := []byte(`{"_type":"root"}`)
	sig := ed25519.Sign(priv, payload)
	res, err := root.CheckThreshold(metadata.ROOT, payload, []metadata.Signature{{KeyID: "a", Signature: sig}, {KeyID: "b", Signature: sig}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Met() || len(res.Valid) != 1 || len(res.Duplicate) != 1 {
		t.Fatalf("%+v", res)
	}
	// And a key ID that signs twice counts once too.
	root.Signed.Keys = map[string]*RawKey{"a": &key}
	root.Signed.Roles[metadata.ROOT].KeyIDs = []string{"a", "a"}
	res, _ = root.CheckThreshold(metadata.ROOT, payload, []metadata.Signature{{KeyID: "a", Signature: sig}, {KeyID: "a", Signature: sig}})
	if res.Met() || len(res.Valid) != 1 {
		t.Fatalf("%+v", res)
	}
}

// The own walk checks a signature once per payload and key, but a key's
// scheme picks the hash: the same signature under the same public key
// counts for the previous root's threshold (P-256 scheme) and not for the
// new root's own, where the key claims the P-384 scheme.
func TestOwnWalkMemoKeepsSchemesApart(t *testing.T) {
	k := newHostileKeys(t)
	p384 := *k.c.key
	p384.Scheme = metadata.KeySchemeECDSA_SHA2_P384
	v2 := k.root(2, hostileExpires, func(r *metadata.RootType) {
		r.Keys["c-p384"] = &p384
		r.Roles[metadata.ROOT].KeyIDs = []string{k.a.id, "c-p384"}
		r.Roles[metadata.ROOT].Threshold = 2
	})
	byC := k.c.sign(t, v2)
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"1.root.json": k.file(k.root(1, hostileExpires), k.a, k.b),
		"2.root.json": hostileEnvelope(t, v2, k.a.sign(t, v2), byC, metadata.Signature{KeyID: "c-p384", Signature: byC.Signature}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep := &VerifyReport{}
	if _, complete, _ := rep.walkRoots(dir, []int64{1, 2}); complete {
		t.Fatal("the own walk accepted root v2, whose own threshold has one valid signature")
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "its own threshold") {
		t.Errorf("problems: %q", rep.Problems)
	}
}
