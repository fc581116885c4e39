package ceremony

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A chain long enough for go-tuf's walk to be cut into segments, with a
// root that tuf-ceremony's own checks accept and go-tuf refuses (a
// signature repeated under one key ID) placed in the last segment: verify
// reports go-tuf's refusal of that file and of no other, as one walk would.
func TestVerifyGoTUFWalkInSegments(t *testing.T) {
	prev := runtime.GOMAXPROCS(2) // two segments, whatever the machine
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	const n = 3 * minGoTUFSegment
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
	if w := walkGoTUF(dir, versionsUpTo(n)); w.failed != n-11 {
		t.Fatalf("go-tuf's walk failed at index %d (%v), want %d", w.failed, w.err, n-11)
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
	if rep, err = Verify(dir, VerifyOptions{At: time.Now()}); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %q", err, rep.Problems)
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
	if w := walkGoTUF(dir, []int64{1}); w.failed != 0 || w.err == nil {
		t.Fatalf("go-tuf's walk: failed at %d, %v", w.failed, w.err)
	}
}

// A file go-tuf read with other bytes than the own walk did, or could not
// read, is a problem, whatever either walk made of it.
func TestVerifyGoTUFFindingsFileChanged(t *testing.T) {
	rep := &VerifyReport{Roots: []FileSummary{{File: "1.root.json", SHA256: "aa"}, {File: "2.root.json", SHA256: "bb"}}}
	rep.goTUFFindings(goTUFWalk{failed: -1, reads: []goTUFRead{{0, "aa"}, {1, "cc"}}}, []bool{false, false})
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "2.root.json changed while it was being verified") {
		t.Fatalf("problems %q", rep.Problems)
	}
	rep = &VerifyReport{Roots: []FileSummary{{File: "1.root.json", SHA256: "aa"}, {File: "2.root.json", SHA256: "bb"}}}
	rep.goTUFFindings(goTUFWalk{failed: -1, reads: []goTUFRead{{0, "aa"}, {1, ""}}}, []bool{false, false})
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "2.root.json changed while it was being verified") {
		t.Fatalf("unreadable to go-tuf: problems %q", rep.Problems)
	}
}
