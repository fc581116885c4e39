package ceremony

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// A chain long enough for go-tuf's walk to be cut into segments, with a
// root that tuf-ceremony's own checks accept and go-tuf refuses (a
// signature repeated under one key ID) placed in the last segment: verify
// reports go-tuf's refusal of that file and of no other, as one walk would.
func TestVerifyGoTUFWalkInSegments(t *testing.T) {
	prev := runtime.GOMAXPROCS(2) // two segments, whatever the machine
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	const n = 3 * minChainSegment
	k := newHostileKeys(t)
	dir := t.TempDir()
	write := func(v int64, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, VersionedName("root", v)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for v := int64(1); v <= n; v++ {
		signed := k.root(v, hostileExpires)
		sigs := []*hostileKey{k.a, k.b}
		if v == n-10 || v == n-3 {
			sig := k.a.sign(t, signed)
			write(v, hostileEnvelope(t, signed, sig, k.b.sign(t, signed), sig))
			continue
		}
		write(v, k.file(signed, sigs...))
	}
	segments := walkChain(dir, versionsUpTo(n))
	if len(segments) != 2 || segments[0].goTUFFailed != -1 || segments[1].goTUFFailed != n-11 {
		t.Fatalf("%d segments; go-tuf's rules refused index %d, then %d (%v), want none, then %d", len(segments), segments[0].goTUFFailed, segments[len(segments)-1].goTUFFailed, segments[len(segments)-1].goTUFErr, n-11)
	}
	rep, err := Verify(dir, VerifyOptions{At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	want := "root.json is rejected by go-tuf v2's client logic: value error: multiple signatures found for key ID"
	if len(rep.Problems) != 1 || !strings.HasPrefix(rep.Problems[0], VersionedName("root", n-10)) || !strings.Contains(rep.Problems[0], want) {
		t.Fatalf("problems %q, want only %s: …%s", rep.Problems, VersionedName("root", n-10), want)
	}
	if len(rep.Roots) != n {
		t.Fatalf("%d roots accepted by the own checks, want %d", len(rep.Roots), n)
	}

	// The same chain without the repeated signatures verifies, every
	// segment of go-tuf's walk included.
	for _, v := range []int64{n - 10, n - 3} {
		write(v, k.file(k.root(v, hostileExpires), k.a, k.b))
	}
	if rep, err = Verify(dir, VerifyOptions{At: time.Now()}); err != nil || !rep.OK() || len(rep.Roots) != n || rep.TrustedFrom != 1 {
		t.Fatalf("verify: %v %q, %d roots, trusted from v%d", err, rep.Problems, len(rep.Roots), rep.TrustedFrom)
	}

	// Refusals in both segments and at the root they share (shared: the
	// first root of the second segment, the last of the first): the first
	// one is reported, as one walk would.
	shared := int64(segments[1].first) + 1
	sound := func(v int64) { write(v, k.file(k.root(v, hostileExpires), k.a, k.b)) }
	repeated := func(v int64) {
		signed := k.root(v, hostileExpires)
		sig := k.a.sign(t, signed)
		write(v, hostileEnvelope(t, signed, sig, k.b.sign(t, signed), sig))
	}
	for _, c := range []struct {
		what    string
		edit    func()
		refused int64 // the file reported
		roots   int   // accepted by the own walk
	}{
		{"go-tuf refuses v20 and v" + fmt.Sprint(n-3), func() { repeated(20); repeated(n - 3) }, 20, n},
		{"go-tuf refuses the shared root and v" + fmt.Sprint(n-3), func() { repeated(shared); repeated(n - 3) }, shared, n},
		{"go-tuf refuses the shared root", func() { repeated(shared) }, shared, n},
		{"the own walk refuses the shared root", func() { write(shared, k.file(k.root(shared, hostileExpires), k.a)) }, shared, int(shared - 1)},
	} {
		c.edit()
		rep, err := Verify(dir, VerifyOptions{At: time.Now()})
		if err != nil || len(rep.Problems) != 1 || !strings.HasPrefix(rep.Problems[0], VersionedName("root", c.refused)+" ") || len(rep.Roots) != c.roots {
			t.Fatalf("%s: %v, %d roots, problems %q", c.what, err, len(rep.Roots), rep.Problems)
		}
		for _, v := range []int64{20, shared, n - 3} {
			sound(v)
		}
	}

	// A root the own walk refuses in the second segment: the roots before
	// it are trusted, none after, and the newest trusted is the one before.
	write(n-5, k.file(k.root(n-5, hostileExpires), k.a))
	trusted, complete, _ := (&VerifyReport{}).walkRoots(dir, versionsUpTo(n))
	if complete || trusted == nil || trusted.Signed.Version != n-6 {
		t.Fatalf("complete %v, trusted %v", complete, trusted)
	}
	if rep, err = Verify(dir, VerifyOptions{At: time.Now()}); err != nil || len(rep.Roots) != n-6 || len(rep.Problems) != 1 ||
		!strings.Contains(rep.Problems[0], VersionedName("root", n-5)+" is not signed by the threshold of root v") {
		t.Fatalf("verify: %v, %d roots, problems %q", err, len(rep.Roots), rep.Problems)
	}
}

// A root whose signatures verify over the canonical form of its bytes but
// not over go-tuf's re-encoding of it (an expiry with a fraction of a
// second, which go-tuf writes back shorter): the own walk accepts it, and
// its signature checks, made over other bytes, must not stand in for
// go-tuf's. verify reports go-tuf's refusal.
func TestVerifyGoTUFChecksItsOwnPayload(t *testing.T) {
	k := newHostileKeys(t)
	dir := t.TempDir()
	v2 := editSigned(t, k.root(2, hostileExpires), func(m map[string]any) {
		m["expires"] = "2099-01-01T00:00:00.500Z"
	})
	for name, data := range map[string][]byte{
		"1.root.json": k.file(k.root(1, hostileExpires), k.a, k.b),
		"2.root.json": k.file(v2, k.a, k.b),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Verify(dir, VerifyOptions{At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Roots) != 2 || len(rep.Problems) != 1 || !strings.HasPrefix(rep.Problems[0], "2.root.json is rejected by go-tuf v2's client logic") ||
		!strings.Contains(rep.Problems[0], "not enough signatures") {
		t.Fatalf("%d roots, problems %q", len(rep.Roots), rep.Problems)
	}
}

func versionsUpTo(n int64) []int64 {
	var vs []int64
	for v := int64(1); v <= n; v++ {
		vs = append(vs, v)
	}
	return vs
}

// A root whose root role is null: go-tuf's VerifyDelegate panics on it;
// verify says the file is rejected instead of crashing.
func TestVerifyNullRoleIsRejectedNotACrash(t *testing.T) {
	k := newHostileKeys(t)
	signed := hostileEdit(t, k.root(1, hostileExpires), func(m map[string]any) {
		m["roles"].(map[string]any)["root"] = nil
	})
	data := k.file(signed, k.a, k.b)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "1.root.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, VerifyOptions{At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Problems) == 0 || !strings.HasPrefix(rep.Problems[0], "1.root.json is rejected") {
		t.Fatalf("problems %q", rep.Problems)
	}
	if seg := walkChainSegment(dir, []int64{1}, 0, 0); seg.goTUFFailed != 0 || seg.goTUFErr == nil {
		t.Fatalf("go-tuf's rules: refused index %d, %v", seg.goTUFFailed, seg.goTUFErr)
	}
}

// A root two segments share, read with other bytes by each, is a problem,
// whatever the walks made of it.
func TestVerifyChainFileChanged(t *testing.T) {
	segment := func(first int, firstSum, lastSum string, roots ...string) *chainSegment {
		seg := &chainSegment{first: first, own: &VerifyReport{}, goTUFFailed: -1, complete: true, firstSHA256: firstSum, lastSHA256: lastSum}
		for _, r := range roots {
			seg.own.Roots = append(seg.own.Roots, FileSummary{File: r})
			seg.legacy = append(seg.legacy, false)
		}
		return seg
	}
	versions := []int64{1, 2, 3}
	rep := &VerifyReport{}
	if _, complete, _ := rep.readSegments([]*chainSegment{segment(0, "aa", "bb", "1.root.json", "2.root.json"), segment(1, "bb", "cc", "3.root.json")}, versions); !complete || !rep.OK() {
		t.Fatalf("complete %v, problems %q", complete, rep.Problems)
	}
	rep = &VerifyReport{}
	if _, complete, _ := rep.readSegments([]*chainSegment{segment(0, "aa", "bb", "1.root.json", "2.root.json"), segment(1, "b2", "cc", "3.root.json")}, versions); complete ||
		len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "2.root.json changed while it was being verified") {
		t.Fatalf("complete %v, problems %q", complete, rep.Problems)
	}
}

// A targets file signed by the threshold of its role, under a root whose
// targets role also lists a key go-tuf cannot load: the own count accepts
// it, go-tuf's VerifyDelegate stops at that key and refuses. verify
// reports go-tuf's refusal (invariant 7).
func TestVerifyTargetsAsGoTUF(t *testing.T) {
	k := newHostileKeys(t)
	root := k.root(1, hostileExpires, func(r *metadata.RootType) {
		r.Keys["00bad"] = &metadata.Key{Type: metadata.KeyTypeECDSA_SHA2_P256, Scheme: metadata.KeySchemeECDSA_SHA2_P256, Value: metadata.KeyVal{PublicKey: "not a key"}}
		r.Roles[metadata.TARGETS].KeyIDs = append(r.Roles[metadata.TARGETS].KeyIDs, "00bad")
	})
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"1.root.json":    k.file(root, k.a, k.b),
		"1.targets.json": k.file(k.targetsPart(1, hostileExpires), k.targets),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Verify(dir, VerifyOptions{At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || !strings.HasPrefix(rep.Problems[0], "1.targets.json is rejected by go-tuf v2's client logic") || strings.Contains(rep.Problems[0], "go-tuf itself accepts") {
		t.Fatalf("problems %q", rep.Problems)
	}
}
