package ceremony

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// The replay mirrors the VerifyDelegate and UpdateRoot of one go-tuf
// release: another release fails here until the replay is read against it.
func TestGoTUFReplayPinned(t *testing.T) {
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	const module = "github.com/theupdateframework/go-tuf/v2"
	version := ""
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == module {
			version = f[1]
		}
		if strings.Contains(line, module+" =>") || (len(f) > 0 && f[0] == "replace" && strings.Contains(line, module)) {
			t.Fatalf("go.mod replaces go-tuf (%q): the replay (gotufreplay.go) mirrors go-tuf %s as released", strings.TrimSpace(line), replayedGoTUF)
		}
	}
	if version != replayedGoTUF {
		t.Fatalf("go.mod requires go-tuf %q, the replay of its client rules (gotufreplay.go) mirrors %s: read its VerifyDelegate and UpdateRoot again, adjust the replay, then replayedGoTUF", version, replayedGoTUF)
	}
}

// replayStep is the replay's verdict on trusting prev (nil: none) and then
// data, as walkChainSegment reaches it: with one memo of decoded keys for
// both roots.
func replayStep(prev, data []byte) error {
	var trusted *goTUFRoot
	decoded := map[goTUFKeyValue]*goTUFKey{}
	if prev != nil {
		var err error
		if trusted, err = loadGoTUFRoot(prev, decoded); err != nil {
			return err
		}
		if err := trusted.delegates(trusted); err != nil {
			return err
		}
	}
	next, err := loadGoTUFRoot(data, decoded)
	if err != nil {
		return err
	}
	if trusted == nil {
		return next.delegates(next)
	}
	return goTUFUpdate(trusted, next)
}

// checkReplay fails when the replay and go-tuf's own loop disagree on a
// step.
func checkReplay(t *testing.T, what string, prev, data []byte) (accepted bool) {
	t.Helper()
	replayed, real := replayStep(prev, data), goTUFStep(prev, data)
	if (replayed == nil) != (real == nil) {
		t.Errorf("%s: the replay says %v, go-tuf says %v", what, replayed, real)
	}
	if walked, ok := chainWalkStep(t, prev, data); ok && walked != (real == nil) {
		t.Errorf("%s: verify's chain walk (its signature checks shared with the own walk) accepts: %v; go-tuf says %v", what, walked, real)
	}
	return real == nil
}

// chainWalkStep is the verdict of go-tuf's rules on trusting prev (nil:
// none) and then data as verify's chain walk reaches it, beside the own
// walk whose signature checks it takes over the same bytes: the files
// named by the versions they hold. ok is false where the walk does not
// check data by go-tuf's rules (the own walk refused prev, go-tuf's did
// not).
func chainWalkStep(t *testing.T, prev, data []byte) (accepted, ok bool) {
	t.Helper()
	version := func(b []byte, otherwise int64) int64 {
		var h struct {
			Signed struct {
				Version int64 `json:"version"`
			} `json:"signed"`
		}
		if json.Unmarshal(b, &h) != nil {
			return otherwise
		}
		return h.Signed.Version
	}
	dir := t.TempDir()
	var versions []int64
	for _, b := range [][]byte{prev, data} {
		if b == nil {
			continue
		}
		v := version(b, 1)
		if len(versions) > 0 && v == versions[0] {
			v++ // a name of its own; the own walk refuses it, go-tuf's rules still check it
		}
		if err := os.WriteFile(filepath.Join(dir, VersionedName(metadata.ROOT, v)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	seg := walkChainSegment(dir, versions, 0, len(versions)-1)
	if prev != nil && len(seg.own.Roots) == 0 && seg.goTUFFailed != 0 {
		return false, false
	}
	return seg.goTUFFailed < 0, true
}

// Every root of the hostile corpus and of Sigstore's history, alone and
// after every other root of its repository (which covers version skips,
// rollbacks and roots that rotate keys away), and every other metadata
// file read as a root.
func TestGoTUFReplayAgreesOnRepositories(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(hostileCorpus, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if p := sigstoreHistory(t); p != "" {
		dirs = append(dirs, p)
	}
	steps, accepted := 0, 0
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		var all [][]byte
		var names []string
		for _, f := range files {
			if fi, err := os.Stat(f); err != nil || fi.Size() > 1<<20 {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all, names = append(all, data), append(names, filepath.Base(f))
		}
		for j, data := range all {
			what := filepath.Base(dir) + "/" + names[j]
			if checkReplay(t, what, nil, data) {
				accepted++
			}
			steps++
			for i, prev := range all {
				if i != j && strings.HasSuffix(names[i], ".root.json") {
					if checkReplay(t, what+" after "+names[i], prev, data) {
						accepted++
					}
					steps++
				}
			}
		}
	}
	// The corpus holds sound chains as well as hostile ones: a replay that
	// refused everything would agree on little.
	if accepted < 40 || accepted == steps {
		t.Fatalf("%d of %d steps accepted: the corpus is not what this test expects", accepted, steps)
	}
	t.Logf("%d steps, %d accepted by both", steps, accepted)
}

// replayFixture builds roots for the crafted steps: the hostile corpus's
// keys (a, b, c: root keys, threshold 2; d, e: more root keys) and an RSA
// key for the PSS paths.
type replayFixture struct {
	*hostileKeys
	rsaKey *metadata.Key
	rsaID  string
	rsa    signature.Signer
}

func newReplayFixture(t *testing.T) *replayFixture {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &replayFixture{hostileKeys: newHostileKeys(t)}
	if f.rsaKey, err = metadata.KeyFromPublicKey(&priv.PublicKey); err != nil {
		t.Fatal(err)
	}
	if f.rsaID, err = f.rsaKey.ID(); err != nil {
		t.Fatal(err)
	}
	if f.rsa, err = signature.LoadRSAPSSSigner(priv, crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256}); err != nil {
		t.Fatal(err)
	}
	return f
}

// signRSA signs signed with the RSA key.
func (f *replayFixture) signRSA(t *testing.T, signed []byte) metadata.Signature {
	payload, err := (&Envelope{Signed: signed}).Payload()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := f.rsa.SignMessage(strings.NewReader(string(payload)))
	if err != nil {
		t.Fatal(err)
	}
	return metadata.Signature{KeyID: f.rsaID, Signature: sig}
}

// rootKeys sets the root role to keys, with threshold.
func rootKeys(threshold int, keys ...*hostileKey) func(r *metadata.RootType) {
	return func(r *metadata.RootType) {
		var mk []*metadata.Key
		for _, k := range keys {
			mk = append(mk, k.key)
		}
		setRole(r, metadata.ROOT, threshold, mk...)
	}
}

// editSigned changes the signed part of a root as JSON.
func editSigned(t *testing.T, signed []byte, edit func(m map[string]any)) []byte {
	return hostileEdit(t, signed, edit)
}

// Steps crafted at each rule of VerifyDelegate and UpdateRoot, both
// verdicts, compared with go-tuf's own loop.
func TestGoTUFReplayAgreesOnCraftedSteps(t *testing.T) {
	f := newReplayFixture(t)
	k := f.hostileKeys
	exp := hostileExpires
	v1 := k.file(k.root(1, exp), k.a, k.b)
	role := func(m map[string]any) map[string]any {
		return m["roles"].(map[string]any)["root"].(map[string]any)
	}
	pss := func(v int64) []byte { // root v with the RSA key in the root role
		return k.root(v, exp, func(r *metadata.RootType) {
			r.Keys[f.rsaID] = f.rsaKey
			r.Roles[metadata.ROOT].KeyIDs = append(r.Roles[metadata.ROOT].KeyIDs, f.rsaID)
			r.Roles[metadata.ROOT].Threshold = 3
		})
	}
	pssV1 := pss(1)
	pssV1File := hostileEnvelope(t, pssV1, k.a.sign(t, pssV1), k.b.sign(t, pssV1), f.signRSA(t, pssV1))

	cases := []struct {
		name   string
		prev   []byte
		data   []byte
		accept bool
	}{
		{"first root, threshold met", nil, v1, true},
		{"first root, one signature of two", nil, k.file(k.root(1, exp), k.a), false},
		{"rotation to d and e, both thresholds met", v1, k.file(k.root(2, exp, rootKeys(2, k.a, k.d, k.e)), k.a, k.b, k.d, k.e), true},
		{"rotation signed by the new keys only", v1, k.file(k.root(2, exp, rootKeys(2, k.d, k.e)), k.d, k.e), false},
		{"rotation signed by the old keys only", v1, k.file(k.root(2, exp, rootKeys(2, k.d, k.e)), k.a, k.b), false},
		{"version skipped", v1, k.file(k.root(3, exp), k.a, k.b), false},
		{"version repeated", v1, k.file(k.root(1, exp), k.a, k.b), false},
		{"key ID listed twice, one signer", nil, k.file(k.root(1, exp, func(r *metadata.RootType) {
			r.Roles[metadata.ROOT].KeyIDs = []string{k.a.id, k.a.id}
		}), k.a), false},
		{"key ID listed twice, two signers", nil, k.file(k.root(1, exp, func(r *metadata.RootType) {
			r.Roles[metadata.ROOT].KeyIDs = []string{k.a.id, k.a.id, k.b.id}
		}), k.a, k.b), true},
		{"one public key under two key IDs", nil, func() []byte {
			signed := k.root(1, exp, func(r *metadata.RootType) {
				alias := *k.a.key
				alias.UnrecognizedFields = map[string]any{"x-alias": true}
				r.Keys["alias"] = &alias
				r.Roles[metadata.ROOT].KeyIDs = []string{k.a.id, "alias"}
			})
			return hostileEnvelope(t, signed, k.a.sign(t, signed), k.a.signAs(t, signed, "alias"))
		}(), false},
		{"signature by a key no root lists, filed under a root key ID", nil, func() []byte {
			signed := k.root(1, exp)
			return hostileEnvelope(t, signed, k.a.sign(t, signed), k.mallory.signAs(t, signed, k.b.id))
		}(), false},
		{"key ID in the role, no such key", nil, k.file(editSigned(t, k.root(1, exp), func(m map[string]any) {
			role(m)["keyids"] = append(role(m)["keyids"].([]any), "feed")
		}), k.a, k.b), false},
		{"threshold 0", nil, k.file(k.root(1, exp, func(r *metadata.RootType) { r.Roles[metadata.ROOT].Threshold = 0 }), k.a, k.b), false},
		{"no root role", nil, k.file(editSigned(t, k.root(1, exp), func(m map[string]any) {
			delete(m["roles"].(map[string]any), "root")
		}), k.a, k.b), false},
		{"null root role", nil, k.file(editSigned(t, k.root(1, exp), func(m map[string]any) {
			m["roles"].(map[string]any)["root"] = nil
		}), k.a, k.b), false},
		{"null root key", nil, k.file(editSigned(t, k.root(1, exp), func(m map[string]any) {
			m["keys"].(map[string]any)[k.c.id] = nil
		}), k.a, k.b), false},
		{"root role with no key IDs", nil, k.file(editSigned(t, k.root(1, exp), func(m map[string]any) {
			role(m)["keyids"] = []any{}
		}), k.a, k.b), false},
		{"unknown key type outside the root role", nil, k.file(editSigned(t, k.root(1, exp), func(m map[string]any) {
			m["keys"].(map[string]any)["odd"] = map[string]any{"keytype": "odd", "scheme": "odd", "keyval": map[string]any{"public": "x"}}
		}), k.a, k.b), true},
		{"unknown key type in the root role", nil, k.file(editSigned(t, k.root(1, exp), func(m map[string]any) {
			m["keys"].(map[string]any)["odd"] = map[string]any{"keytype": "odd", "scheme": "odd", "keyval": map[string]any{"public": "x"}}
			role(m)["keyids"] = append(role(m)["keyids"].([]any), "odd")
		}), k.a, k.b), false},
		{"P-256 key whose scheme says P-384 (SHA-384)", nil, k.file(k.root(1, exp, func(r *metadata.RootType) {
			c := *k.c.key
			c.Scheme = metadata.KeySchemeECDSA_SHA2_P384
			r.Keys[k.c.id] = &c
		}), k.a, k.c), false},
		// The trusted root's key c counts with SHA-256; the same key in the
		// new root says P-384: one signature, two checks (the memo of
		// checks must keep them apart).
		{"new root's own copy of a key changes its hash", v1, k.file(k.root(2, exp, func(r *metadata.RootType) {
			c := *k.c.key
			c.Scheme = metadata.KeySchemeECDSA_SHA2_P384
			r.Keys[k.c.id] = &c
			r.Roles[metadata.ROOT].KeyIDs = []string{k.a.id, k.c.id}
		}), k.a, k.c), false},
		{"unrecognized fields, kept through the re-encoding", nil, k.file(editSigned(t, k.root(1, exp), func(m map[string]any) {
			m["x-custom"] = map[string]any{"z": 1, "a": []any{"b", json.Number("2")}}
		}), k.a, k.b), true},
		{"expiry with fractional seconds (go-tuf re-encodes it)", nil, k.file(editSigned(t, k.root(1, exp), func(m map[string]any) {
			m["expires"] = "2099-01-01T00:00:00.500Z"
		}), k.a, k.b), false},
		{"signed part of type targets", nil, k.file(editSigned(t, k.root(1, exp), func(m map[string]any) { m["_type"] = "targets" }), k.a, k.b), false},
		{"two signatures under one key ID", nil, func() []byte {
			signed := k.root(1, exp)
			return hostileEnvelope(t, signed, k.a.sign(t, signed), k.b.sign(t, signed), k.b.sign(t, signed))
		}(), false},
		{"RSA-PSS signer, threshold 3", nil, pssV1File, true},
		{"RSA-PSS signer missing, threshold 3", nil, hostileEnvelope(t, pssV1, k.a.sign(t, pssV1), k.b.sign(t, pssV1)), false},
		{"RSA-PSS key holding an ECDSA key", nil, func() []byte {
			signed := pss(1)
			signed = editSigned(t, signed, func(m map[string]any) {
				m["keys"].(map[string]any)[f.rsaID].(map[string]any)["keyval"] = map[string]any{"public": k.c.key.Value.PublicKey}
			})
			return hostileEnvelope(t, signed, k.a.sign(t, signed), k.b.sign(t, signed), k.c.signAs(t, signed, f.rsaID))
		}(), false},
		{"RSA-PSS rotation", pssV1File, func() []byte {
			signed := pss(2)
			return hostileEnvelope(t, signed, k.a.sign(t, signed), k.b.sign(t, signed), f.signRSA(t, signed))
		}(), true},
		{"expired root (expiry is checked on the newest root only)", nil, k.file(k.root(1, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)), k.a, k.b), true},
	}
	for _, c := range cases {
		if checkReplay(t, c.name, c.prev, c.data) != c.accept {
			t.Errorf("%s: go-tuf accepts: %v, the case expects %v", c.name, !c.accept, c.accept)
		}
	}
}

// A walk refused by the replay reports go-tuf's own words.
func TestGoTUFReplayReportsGoTUFsWords(t *testing.T) {
	k := newHostileKeys(t)
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1.root.json", k.file(k.root(1, hostileExpires), k.a, k.b))
	write("2.root.json", k.file(k.root(2, hostileExpires, rootKeys(2, k.d, k.e)), k.d, k.e))
	seg := walkChainSegment(dir, []int64{1, 2}, 0, 1)
	if seg.goTUFFailed != 1 || seg.goTUFErr == nil || !strings.Contains(seg.goTUFErr.Error(), "Verifying root failed, not enough signatures, got 0, want 2") {
		t.Fatalf("failed at %d: %v", seg.goTUFFailed, seg.goTUFErr)
	}
}

// FuzzGoTUFReplay: on any pair of files the replay and go-tuf's own loop
// give the same verdict, and neither crashes.
func FuzzGoTUFReplay(f *testing.F) {
	k := newHostileKeys(f)
	v1 := k.file(k.root(1, hostileExpires), k.a, k.b)
	f.Add([]byte(nil), v1)
	f.Add(v1, k.file(k.root(2, hostileExpires, rootKeys(2, k.a, k.d)), k.a, k.b, k.d))
	f.Add(v1, k.file(k.root(2, hostileExpires), k.a, k.c))
	dirs, _ := filepath.Glob(filepath.Join(hostileCorpus, "*"))
	for _, dir := range dirs {
		roots, _ := filepath.Glob(filepath.Join(dir, "*.root.json"))
		slices.Sort(roots)
		for i := range roots {
			data, err := os.ReadFile(roots[i])
			if err != nil || len(data) > 1<<16 {
				continue
			}
			f.Add([]byte(nil), data)
			if i > 0 {
				prev, err := os.ReadFile(roots[i-1])
				if err == nil && len(prev) <= 1<<16 {
					f.Add(prev, data)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, prev, data []byte) {
		if len(prev) == 0 {
			prev = nil
		}
		checkReplay(t, "fuzzed step", prev, data)
	})
}

// checkTargetsAsGoTUF gives the verdict of go-tuf's VerifyDelegate(targets)
// on the whole parsed file: every targets file of the corpus against every
// root of its repository, and crafted ones.
func TestCheckTargetsAsGoTUFAgrees(t *testing.T) {
	k := newHostileKeys(t)
	exp := hostileExpires
	type pair struct {
		name          string
		root, targets []byte
	}
	var pairs []pair
	dirs, err := filepath.Glob(filepath.Join(hostileCorpus, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		roots, _ := filepath.Glob(filepath.Join(dir, "*.root.json"))
		targets, _ := filepath.Glob(filepath.Join(dir, "*targets*.json"))
		for _, r := range roots {
			for _, tg := range targets {
				rd, err1 := os.ReadFile(r)
				td, err2 := os.ReadFile(tg)
				if err1 == nil && err2 == nil && len(td) < 1<<20 {
					pairs = append(pairs, pair{filepath.Base(dir) + "/" + filepath.Base(tg) + " under " + filepath.Base(r), rd, td})
				}
			}
		}
	}
	root2 := k.file(k.root(1, exp, func(r *metadata.RootType) {
		setRole(r, metadata.TARGETS, 2, k.targets.key, k.targets2.key)
	}), k.a, k.b)
	part := k.targetsPart(1, exp)
	pairs = append(pairs,
		pair{"two of two", root2, k.file(part, k.targets, k.targets2)},
		pair{"one of two", root2, k.file(part, k.targets)},
		pair{"one signer under both IDs", root2, hostileEnvelope(t, part, k.targets.sign(t, part), k.targets.signAs(t, part, k.targets2.id))},
		pair{"a root key signs", root2, k.file(part, k.a, k.b)},
	)
	accepted := 0
	for _, p := range pairs {
		rmd, err := metadata.Root().FromBytes(p.root)
		if err != nil {
			continue
		}
		real := safeGoTUF(func() error {
			md, err := ParseTargets(p.targets)
			if err != nil {
				return err
			}
			return rmd.VerifyDelegate(metadata.TARGETS, md)
		})
		var replayed error
		env, err := ParseEnvelope(p.targets)
		var payload []byte
		if err == nil {
			payload, err = env.Payload()
		}
		if err == nil {
			_, replayed = checkTargetsAsGoTUF(rmd, p.targets, payload)
		}
		if err != nil {
			replayed = err
		}
		if (real == nil) != (replayed == nil) {
			t.Errorf("%s: go-tuf says %v, the check %v", p.name, real, replayed)
		}
		if real == nil {
			accepted++
		} else if _, perr := parseTargetsChecked(p.targets); perr == nil && replayed != nil && replayed.Error() != real.Error() {
			// A file read as go-tuf reads it is refused in go-tuf's words.
			t.Errorf("%s: refused in other words than go-tuf's: %v; go-tuf: %v", p.name, replayed, real)
		}
	}
	if accepted < 5 || accepted == len(pairs) {
		t.Fatalf("%d of %d accepted: not the mix this test means", accepted, len(pairs))
	}
	t.Logf("%d pairs, %d accepted", len(pairs), accepted)
}
