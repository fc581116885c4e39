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
