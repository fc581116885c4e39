package ceremony

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// checkGoTUFRootPayload fails when goTUFRootPayload differs from cjson on
// data parsed by go-tuf as a root, and reports whether it wrote the bytes
// itself (not through cjson) and go-tuf could parse data.
func checkGoTUFRootPayload(t *testing.T, what string, data []byte) (written, parsed bool) {
	t.Helper()
	var md *metadata.Metadata[metadata.RootType]
	if safeGoTUF(func() (err error) { md, err = metadata.Root().FromBytes(data); return err }) != nil {
		return false, false
	}
	want, wantErr := cjson.EncodeCanonical(md.Signed)
	got, err := goTUFRootPayload(&md.Signed)
	if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
		t.Errorf("%s: goTUFRootPayload gives %q (%v), cjson %q (%v)", what, got, err, want, wantErr)
	}
	return plainGoTUFRoot(&md.Signed), true
}

// Every file of the hostile corpus and of Sigstore's root history that
// go-tuf parses as a root, and roots crafted at each field the payload
// holds, give cjson's bytes.
func TestGoTUFRootPayload(t *testing.T) {
	var files []string
	for _, pattern := range []string{filepath.Join(hostileCorpus, "*", "*.json"), filepath.Join(sigstoreHistory(t), "*.json")} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	written, parsed := 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w, p := checkGoTUFRootPayload(t, f, data)
		if w {
			written++
		}
		if p {
			parsed++
		}
	}

	k := newHostileKeys(t)
	crafted := map[string][]byte{
		"plain": k.root(1, hostileExpires),
		"fractional expiry": editSigned(t, k.root(1, hostileExpires), func(m map[string]any) {
			m["expires"] = "2036-01-02T03:04:05.500Z"
		}),
		"expiry with an offset": editSigned(t, k.root(1, hostileExpires), func(m map[string]any) {
			m["expires"] = "2036-01-02T03:04:05+02:00"
		}),
		"escapes in strings": editSigned(t, k.root(1, hostileExpires), func(m map[string]any) {
			m["spec_version"] = "1.0.31 \"quoted\" back\\slash <&> é \u2028 \x01"
			m["_type"] = "root"
		}),
		"a field go-tuf does not know, with a number": editSigned(t, k.root(1, hostileExpires), func(m map[string]any) {
			m["x-extra"] = map[string]any{"b": 1, "a": []any{true, nil, "s"}}
		}),
		"fields go-tuf does not know, before, among and after its own": editSigned(t, k.root(1, hostileExpires), func(m map[string]any) {
			m["_a"] = "first"
			m["delegations"] = map[string]any{"z": []any{true, nil, "s", map[string]any{"y": false, "x": "\\"}}, "a": map[string]any{}}
			m["roles2"] = []any{}
			m["zz"] = nil
		}),
		"a key field go-tuf does not know": editSigned(t, k.root(1, hostileExpires), func(m map[string]any) {
			for _, key := range m["keys"].(map[string]any) {
				key.(map[string]any)["x-tuf-on-ci-keyowner"] = "@alice"
				key.(map[string]any)["a"] = true
				key.(map[string]any)["keyvalz"] = []any{"\""}
				key.(map[string]any)["keyval"].(map[string]any)["x-private"] = "none"
				key.(map[string]any)["keyval"].(map[string]any)["a"] = nil
			}
		}),
		"a role field go-tuf does not know": editSigned(t, k.root(1, hostileExpires), func(m map[string]any) {
			m["roles"].(map[string]any)["root"].(map[string]any)["x-note"] = 7
		}),
		"role fields go-tuf does not know": editSigned(t, k.root(1, hostileExpires), func(m map[string]any) {
			m["roles"].(map[string]any)["root"].(map[string]any)["kz"] = "between"
			m["roles"].(map[string]any)["targets"].(map[string]any)["a"] = "before"
			m["roles"].(map[string]any)["snapshot"].(map[string]any)["x"] = "after"
		}),
		"null keyids, empty keyids, huge threshold": editSigned(t, k.root(1, hostileExpires), func(m map[string]any) {
			m["roles"].(map[string]any)["snapshot"].(map[string]any)["keyids"] = nil
			m["roles"].(map[string]any)["timestamp"].(map[string]any)["keyids"] = []any{}
			m["roles"].(map[string]any)["targets"].(map[string]any)["threshold"] = 1 << 62
		}),
		"null key and null role": editSigned(t, k.root(1, hostileExpires), func(m map[string]any) {
			m["keys"].(map[string]any)["00"] = nil
			m["roles"].(map[string]any)["x"] = nil
		}),
		"no keys, no roles": editSigned(t, k.root(1, hostileExpires), func(m map[string]any) {
			delete(m, "keys")
			delete(m, "roles")
		}),
		"negative version, no consistent_snapshot": editSigned(t, k.root(1, hostileExpires), func(m map[string]any) {
			m["version"] = -3
			delete(m, "consistent_snapshot")
		}),
	}
	for name, signed := range crafted {
		w, p := checkGoTUFRootPayload(t, name, hostileEnvelope(t, signed))
		if !p {
			t.Errorf("%s: go-tuf does not parse it, so it checks nothing", name)
		}
		if w {
			written++
		}
		parsed++
	}
	// Most real roots take the written path: were it never taken, the
	// comparison above would only be cjson against itself.
	if written < 30 || written == parsed {
		t.Fatalf("%d of %d roots written without cjson", written, parsed)
	}
	t.Logf("%d roots parsed by go-tuf, %d written without cjson", parsed, written)
}

// FuzzGoTUFRootPayload: whatever go-tuf parses as a root,
// goTUFRootPayload gives cjson's bytes.
func FuzzGoTUFRootPayload(f *testing.F) {
	k := newHostileKeys(f)
	f.Add(k.file(k.root(1, hostileExpires), k.a))
	roots, _ := filepath.Glob(filepath.Join(hostileCorpus, "*", "*.root.json"))
	for _, r := range roots {
		if data, err := os.ReadFile(r); err == nil && len(data) <= 1<<16 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkGoTUFRootPayload(t, "fuzzed root", data)
	})
}
