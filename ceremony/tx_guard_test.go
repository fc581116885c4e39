package ceremony

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Two commands that read the same staged file and write it back cannot
// both succeed: the second is refused and the first one's write stays.
func TestExpectRefusesLostUpdate(t *testing.T) {
	ws, err := OpenOrNewWorkspace(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatal(err)
	}
	tx := ws.Begin()
	tx.Create("staged/1.root.json", []byte("v0"))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	read, _ := ws.ReadFile("staged/1.root.json")

	first := ws.Begin()
	first.Expect("staged/1.root.json", read)
	first.Replace("staged/1.root.json", []byte("v0+alice"))
	second := ws.Begin()
	second.Expect("staged/1.root.json", read)
	second.Replace("staged/1.root.json", []byte("v0+carol"))
	second.Record("signed", map[string]string{"by": "carol"})

	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	before, _ := ws.ReadFile(TranscriptFile)
	if err := second.Commit(); !errors.Is(err, ErrChangedMeanwhile) {
		t.Fatalf("second commit: %v", err)
	}
	if got, _ := ws.ReadFile("staged/1.root.json"); string(got) != "v0+alice" {
		t.Errorf("file = %q", got)
	}
	if after, _ := ws.ReadFile(TranscriptFile); string(after) != string(before) {
		t.Error("the refused commit changed the transcript")
	}
}

// A file changed outside tuf-ceremony stops every later commit, so that
// SHA256SUMS never re-approves it; discarding it is the way out.
func TestTamperedMediumRefusesCommits(t *testing.T) {
	ws, err := OpenOrNewWorkspace(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatal(err)
	}
	tx := ws.Begin()
	tx.Create("keys/a.json", []byte(`{"custodian":"dave"}`))
	tx.Create("staged/1.root.json", []byte("proposal"))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(ws.Path("keys/a.json"), []byte(`{"custodian":"mallory"}`), 0o644)
	tx = ws.Begin()
	tx.Create("staged/1.targets.json", []byte("other"))
	if err := tx.Commit(); !errors.Is(err, ErrSumsMismatch) {
		t.Fatalf("commit on a tampered medium: %v", err)
	}
	if err := ws.VerifySums(); !errors.Is(err, ErrSumsMismatch) {
		t.Errorf("SHA256SUMS re-approved the change: %v", err)
	}

	os.WriteFile(ws.Path("staged/1.root.json"), []byte("edited"), 0o644)
	os.WriteFile(ws.Path("keys/a.json"), []byte(`{"custodian":"dave"}`), 0o644)
	removed, err := Discard(ws, []string{"staged/1.root.json"})
	if err != nil || len(removed) != 1 {
		t.Fatalf("discard: %v %v", removed, err)
	}
	if err := ws.VerifySums(); err != nil {
		t.Errorf("after discard: %v", err)
	}
}

// The check before a commit compares a file with what was read, piece by
// piece: equal only when every byte and the length are.
func TestHoldsComparesWholeFile(t *testing.T) {
	ws, err := OpenOrNewWorkspace(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 200<<10+7) // more than three pieces
	for i := range content {
		content[i] = byte(i * 7)
	}
	tx := ws.Begin()
	tx.Create("staged/1.targets.json", content)
	tx.Create("staged/2.targets.json", nil)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	changed := append([]byte{}, content...)
	changed[150<<10] ^= 1
	for _, c := range []struct {
		name string
		rel  string
		want []byte
		same bool
	}{
		{"the same bytes", "staged/1.targets.json", content, true},
		{"a prefix", "staged/1.targets.json", content[:len(content)-1], false},
		{"a longer file", "staged/1.targets.json", append(append([]byte{}, content...), '\n'), false},
		{"one bit changed", "staged/1.targets.json", changed, false},
		{"empty and empty", "staged/2.targets.json", nil, true},
		{"empty and something", "staged/2.targets.json", []byte("x"), false},
	} {
		same, err := ws.holds(c.rel, c.want)
		if err != nil || same != c.same {
			t.Errorf("%s: holds = %v, %v; want %v", c.name, same, err, c.same)
		}
	}
	if _, err := ws.holds("staged/3.targets.json", nil); err == nil {
		t.Error("a missing file holds nothing")
	}
}

// A large file is read into a buffer of its size, not grown step by step
// to up to twice that.
func TestReadFileSizedBuffer(t *testing.T) {
	ws, err := OpenOrNewWorkspace(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 3<<20+5)
	tx := ws.Begin()
	tx.Create("staged/1.targets.json", content)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	data, err := ws.ReadFile("staged/1.targets.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != len(content) || cap(data) > len(content)+1 {
		t.Errorf("read %d bytes into a buffer of %d", len(data), cap(data))
	}
}
