package ceremony

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// canonicalFields maps each top-level field of a file's signed part to its
// canonical JSON.
func canonicalFields(t *testing.T, data []byte) map[string]string {
	t.Helper()
	env, err := ParseEnvelope(data)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(env.Signed, &top); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range top {
		c, err := (&Envelope{Signed: v}).Payload()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = string(c)
	}
	return out
}

// Sigstore's history is adopted, and a renewal of it keeps every field the
// tool does not know (x-tuf-on-ci-*, keyid_hash_algorithms) byte for byte.
func TestImportSigstoreAndRenewKeepsUnknownFields(t *testing.T) {
	src := sigstoreHistory(t)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ws, err := OpenOrNewWorkspace(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatal(err)
	}
	ws.Now = func() time.Time { return at }
	res, err := Import(ws, src, ImportOptions{At: at})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Roots) != 15 || len(res.Keys) != 6 {
		t.Fatalf("imported %d roots, %d keys; notes %v", len(res.Roots), len(res.Keys), res.Notes)
	}
	for i := 1; i <= 15; i++ {
		name := VersionedName("root", int64(i))
		a, _ := os.ReadFile(filepath.Join(src, name))
		b, err := ws.ReadFile("metadata/" + name)
		if err != nil || string(a) != string(b) {
			t.Fatalf("%s not copied byte for byte (%v)", name, err)
		}
	}
	names, err := ws.Custodians()
	if err != nil || names["183e64f37670dc13ca0d28995a3053f3740954ddce44321a41e46534cf44e632"] != "@lance" {
		t.Errorf("custodians %v %v", names, err)
	}
	if _, err := Import(ws, src, ImportOptions{At: at}); !errors.Is(err, ErrAlreadyInitialized) {
		t.Errorf("second import: %v", err)
	}

	prop, err := ProposeRoot(ws, RootChange{Expires: Duration(365 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := ws.ReadFile("metadata/15.root.json")
	staged, err := ws.ReadFile(prop.File)
	if err != nil {
		t.Fatal(err)
	}
	before, after := canonicalFields(t, old), canonicalFields(t, staged)
	for k, v := range before {
		switch k {
		case "version":
			if after[k] != "16" {
				t.Errorf("version %s", after[k])
			}
		case "expires":
			if after[k] != `"2027-11-01T00:00:00Z"` {
				t.Errorf("expires %s", after[k])
			}
		default:
			if after[k] != v {
				t.Errorf("field %s changed:\n%s\n%s", k, v, after[k])
			}
		}
	}
	if len(after) != len(before) {
		t.Errorf("fields %d → %d", len(before), len(after))
	}
	for _, f := range []string{"x-tuf-on-ci-expiry-period", "x-tuf-on-ci-signing-period"} {
		if _, ok := after[f]; !ok {
			t.Errorf("%s lost", f)
		}
	}
	if !strings.Contains(after["keys"], `"x-tuf-on-ci-online-uri":"gcpkms:`) || !strings.Contains(after["keys"], `"keyid_hash_algorithms":["sha256","sha512"]`) {
		t.Errorf("key fields lost: %s", after["keys"])
	}
	// The proposal wants the previous root's threshold and its own.
	props, err := ws.Proposals()
	if err != nil || len(props) != 1 || len(props[0].Requirements) != 2 || props[0].Requirements[1].Threshold != 3 {
		t.Fatalf("proposals %+v %v", props, err)
	}
}

// A repository that does not verify is not imported, and nothing is
// written.
func TestImportRefusesBrokenChain(t *testing.T) {
	src := sigstoreHistory(t)
	dir := t.TempDir()
	for i := 1; i <= 15; i++ {
		if i == 6 {
			continue
		}
		name := VersionedName("root", int64(i))
		data, _ := os.ReadFile(filepath.Join(src, name))
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	media := filepath.Join(t.TempDir(), "media")
	ws, err := OpenOrNewWorkspace(media)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Import(ws, dir, ImportOptions{At: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)})
	if !errors.Is(err, ErrNotVerified) || !strings.Contains(err.Error(), "root v6 is missing") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(media); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused import left %s", media)
	}
}
