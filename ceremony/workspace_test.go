package ceremony

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixedNow is a clock for deterministic transcripts. Its zone and
// fraction are dropped in the transcript.
func fixedNow() time.Time {
	return time.Date(2025, 3, 4, 6, 6, 7, 123456789, time.FixedZone("CET", 3600))
}

// newWorkspace creates a workspace in a fresh temporary directory with the
// given files (path → content) and returns it.
func newWorkspace(t *testing.T, files map[string]string) *Workspace {
	t.Helper()
	w, err := OpenOrNewWorkspace(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatal(err)
	}
	w.Now = fixedNow
	tx := w.Begin()
	for rel, content := range files {
		tx.Create(rel, []byte(content))
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return w
}

// snapshot returns every file under dir (path → content), except the lock
// file, whose presence does not matter.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel != "." {
				files[rel+"/"] = ""
			}
			return nil
		}
		if rel == lockFile {
			return nil
		}
		data, err := os.ReadFile(p)
		files[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func assertSameSnapshot(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: %s is missing", what, k)
		} else if g != v {
			t.Errorf("%s: %s = %q, want %q", what, k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %s", what, k)
		}
	}
}

// copyTree copies a workspace to a new directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func events(t *testing.T, w *Workspace) []string {
	t.Helper()
	entries, err := w.Transcript()
	if err != nil {
		t.Fatal(err)
	}
	var evs []string
	for _, e := range entries {
		evs = append(evs, e.Event)
	}
	return evs
}

// checkSums verifies SHA256SUMS with VerifySums and, where installed, with
// sha256sum(1).
func checkSums(t *testing.T, w *Workspace) {
	t.Helper()
	if err := w.VerifySums(); err != nil {
		t.Error(err)
	}
	if _, err := exec.LookPath("sha256sum"); err != nil {
		return
	}
	cmd := exec.Command("sha256sum", "--check", "--strict", "--quiet", SumsFile)
	cmd.Dir = w.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum --check: %v\n%s", err, out)
	}
}

func TestCreateReplaceRemove(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "media")
	w, err := OpenOrNewWorkspace(dir)
	if err != nil {
		t.Fatal(err)
	}
	if w.Exists() {
		t.Fatal("Exists() = true before the first commit")
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenOrNewWorkspace created %s", dir)
	}
	w.Now = fixedNow

	tx := w.Begin()
	tx.Create(PlanFile, []byte("plan\n"))
	tx.Create("metadata/1.root.json", []byte("root v1"))
	tx.Create("metadata/root.json", []byte("root v1"))
	tx.Create("staged/2.root.json", []byte("proposal"))
	tx.Record("initialized", map[string]any{"plan": PlanFile})
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if !w.Exists() {
		t.Fatal("Exists() = false after the first commit")
	}
	got := snapshot(t, dir)
	want := map[string]string{
		"ceremony.yaml":        "plan\n",
		"metadata/":            "",
		"metadata/1.root.json": "root v1",
		"metadata/root.json":   "root v1",
		"staged/":              "",
		"staged/2.root.json":   "proposal",
		"keys/":                "",
		"transcript.jsonl":     got["transcript.jsonl"],
		"SHA256SUMS":           got["SHA256SUMS"],
	}
	assertSameSnapshot(t, "after create", got, want)
	abs, _ := filepath.Abs(dir)
	dirJSON, _ := json.Marshal(abs)
	wantTranscript := `{"seq":1,"time":"2025-03-04T05:06:07Z","prev":"","event":"workspace-created","data":{"dir":` + string(dirJSON) + "}}\n"
	line2 := `"event":"initialized","data":{"plan":"ceremony.yaml"}}`
	if tr := got["transcript.jsonl"]; !strings.HasPrefix(tr, wantTranscript) || !strings.HasSuffix(tr, line2+"\n") || strings.Count(tr, "\n") != 2 {
		t.Errorf("transcript = %q", tr)
	}
	checkSums(t, w)

	// Reopen and change.
	w, err = OpenWorkspace(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.Now = fixedNow
	tx = w.Begin()
	tx.Replace("metadata/root.json", []byte("root v2"))
	tx.Create("metadata/2.root.json", []byte("root v2"))
	tx.Remove("staged/2.root.json")
	tx.Replace("keys/k1.json", []byte("key"))
	tx.Record("published", nil)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got = snapshot(t, dir)
	want["metadata/root.json"] = "root v2"
	want["metadata/2.root.json"] = "root v2"
	want["keys/k1.json"] = "key"
	delete(want, "staged/2.root.json")
	want["transcript.jsonl"] = got["transcript.jsonl"]
	want["SHA256SUMS"] = got["SHA256SUMS"]
	assertSameSnapshot(t, "after change", got, want)
	if evs := fmt.Sprint(events(t, w)); evs != "[workspace-created initialized published]" {
		t.Errorf("events = %s", evs)
	}
	checkSums(t, w)

	data, err := w.ReadFile("metadata/2.root.json")
	if err != nil || string(data) != "root v2" {
		t.Errorf("ReadFile = %q, %v", data, err)
	}
	for relDir, want := range map[string]string{
		"metadata": "[1.root.json 2.root.json root.json]",
		"staged":   "[]",
		"keys/":    "[k1.json]",
	} {
		names, err := w.List(relDir)
		if err != nil || fmt.Sprint(names) != want {
			t.Errorf("List(%q) = %v, %v, want %s", relDir, names, err, want)
		}
	}
	wantSums := "" +
		testSHA256Hex("plan\n") + "  ceremony.yaml\n" +
		testSHA256Hex("key") + "  keys/k1.json\n" +
		testSHA256Hex("root v1") + "  metadata/1.root.json\n" +
		testSHA256Hex("root v2") + "  metadata/2.root.json\n" +
		testSHA256Hex("root v2") + "  metadata/root.json\n" +
		testSHA256Hex(got["transcript.jsonl"]) + "  transcript.jsonl\n"
	if got["SHA256SUMS"] != wantSums {
		t.Errorf("SHA256SUMS = %q, want %q", got["SHA256SUMS"], wantSums)
	}
}

func testSHA256Hex(s string) string { return lineHash(s) }

func TestListMissingDir(t *testing.T) {
	w := &Workspace{Dir: t.TempDir()}
	names, err := w.List(KeysDir)
	if err != nil || len(names) != 0 {
		t.Errorf("List of a missing directory = %v, %v", names, err)
	}
	if _, err := w.List("transcript.jsonl"); err == nil || err.Error() != `invalid workspace directory "transcript.jsonl": must be metadata, staged or keys` {
		t.Errorf("List(transcript.jsonl) error = %v", err)
	}
}

func TestEmptyTxChangesNothing(t *testing.T) {
	w := newWorkspace(t, nil)
	before := snapshot(t, w.Dir)
	if err := w.Begin().Commit(); err != nil {
		t.Fatal(err)
	}
	assertSameSnapshot(t, "after empty commit", snapshot(t, w.Dir), before)

	tx := w.Begin()
	tx.Record("e", nil)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err == nil || err.Error() != "transaction already committed" {
		t.Errorf("second Commit = %v", err)
	}
}

func TestCommitRefusals(t *testing.T) {
	base := map[string]string{
		"metadata/1.root.json": "root v1",
		"metadata/root.json":   "root v1",
		"staged/x.json":        "x",
		"keys/k.json":          "key",
	}
	tests := []struct {
		name   string
		change func(tx *Tx)
		want   string
		is     error
	}{
		{"create existing staged", func(tx *Tx) { tx.Create("staged/x.json", nil) }, "cannot create staged/x.json: file already exists", fs.ErrExist},
		{"create existing metadata", func(tx *Tx) { tx.Create("metadata/1.root.json", nil) }, "cannot create metadata/1.root.json: file already exists", fs.ErrExist},
		{"create existing key", func(tx *Tx) { tx.Create("keys/k.json", nil) }, "cannot create keys/k.json: file already exists", fs.ErrExist},
		{"replace versioned metadata", func(tx *Tx) { tx.Replace("metadata/1.root.json", nil) }, "cannot replace metadata/1.root.json: file is write-once", ErrWriteOnce},
		{"replace key", func(tx *Tx) { tx.Replace("keys/k.json", nil) }, "cannot replace keys/k.json: file is write-once", ErrWriteOnce},
		{"remove key", func(tx *Tx) { tx.Remove("keys/k.json") }, "cannot remove keys/k.json: file is write-once", ErrWriteOnce},
		{"remove versioned metadata", func(tx *Tx) { tx.Remove("metadata/1.root.json") }, "cannot remove metadata/1.root.json: file is write-once", ErrWriteOnce},
		{"remove missing", func(tx *Tx) { tx.Remove("staged/y.json") }, "cannot remove staged/y.json: file does not exist", fs.ErrNotExist},
		{"absolute path", func(tx *Tx) { tx.Create("/etc/passwd", nil) }, `invalid workspace path "/etc/passwd": must be relative`, nil},
		{"dot dot", func(tx *Tx) { tx.Create("metadata/../../x", nil) }, `invalid workspace path "metadata/../../x": must not contain ".."`, nil},
		{"transcript", func(tx *Tx) { tx.Replace("transcript.jsonl", nil) }, `invalid workspace path "transcript.jsonl": only Commit writes it`, nil},
		{"sums", func(tx *Tx) { tx.Replace("SHA256SUMS", nil) }, `invalid workspace path "SHA256SUMS": only Commit writes it`, nil},
		{"outside layout", func(tx *Tx) { tx.Create("notes.txt", nil) }, `invalid workspace path "notes.txt": must be ceremony.yaml or a file name in metadata/, staged/ or keys/`, nil},
		{"layout dir", func(tx *Tx) { tx.Create("metadata", nil) }, `invalid workspace path "metadata": must be ceremony.yaml or a file name in metadata/, staged/ or keys/`, nil},
		{"nested", func(tx *Tx) { tx.Create("metadata/a/b.json", nil) }, `invalid workspace path "metadata/a/b.json": must be ceremony.yaml or a file name in metadata/, staged/ or keys/`, nil},
		{"hidden", func(tx *Tx) { tx.Create("staged/.x", nil) }, `invalid workspace path "staged/.x": file name must not start with "."`, nil},
		{"journal", func(tx *Tx) { tx.Create(".pending.json", nil) }, `invalid workspace path ".pending.json": must be ceremony.yaml or a file name in metadata/, staged/ or keys/`, nil},
		{"backslash", func(tx *Tx) { tx.Create(`keys/a\b`, nil) }, `invalid workspace path "keys/a\\b": file name contains a control character or a backslash`, nil},
		{"newline", func(tx *Tx) { tx.Create("keys/a\nb", nil) }, `invalid workspace path "keys/a\nb": file name contains a control character or a backslash`, nil},
		{"empty", func(tx *Tx) { tx.Create("", nil) }, `invalid workspace path "": empty`, nil},
		{"empty event", func(tx *Tx) { tx.Record("", nil) }, "transcript event must not be empty", nil},
		{"unencodable data", func(tx *Tx) { tx.Record("e", func() {}) }, `failed to encode data of transcript event "e": json: unsupported type: func()`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorkspace(t, base)
			before := snapshot(t, w.Dir)
			tx := w.Begin()
			// Valid changes that must not happen either.
			tx.Create("staged/new.json", []byte("new"))
			tx.Replace("metadata/root.json", []byte("root v2"))
			tx.Remove("staged/x.json")
			tx.Record("change", nil)
			tt.change(tx)
			err := tx.Commit()
			if err == nil || err.Error() != tt.want {
				t.Errorf("Commit error = %v, want %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Commit error %v is not %v", err, tt.is)
			}
			assertSameSnapshot(t, "after refused commit", snapshot(t, w.Dir), before)
			checkSums(t, w)
		})
	}
}

func TestReplaceUnversionedMetadataAllowed(t *testing.T) {
	w := newWorkspace(t, map[string]string{"metadata/root.json": "1", "metadata/targets.json": "1"})
	tx := w.Begin()
	tx.Replace("metadata/root.json", []byte("2"))
	tx.Remove("metadata/targets.json")
	tx.Replace("keys/new.json", []byte("a new key may be written with Replace"))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	checkSums(t, w)
}

func TestTranscriptChain(t *testing.T) {
	w := newWorkspace(t, nil)
	for i := range 4 {
		tx := w.Begin()
		tx.Record(fmt.Sprintf("step-%d", i), map[string]int{"i": i})
		tx.Record("again", nil)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := w.Transcript()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 9 {
		t.Fatalf("%d entries, want 9", len(entries))
	}
	raw, _ := w.ReadFile(TranscriptFile)
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	for i, e := range entries {
		if e.Seq != i+1 {
			t.Errorf("entry %d: seq %d", i+1, e.Seq)
		}
		if i > 0 && e.Prev != lineHash(lines[i-1]) {
			t.Errorf("entry %d: prev %s does not chain", i+1, e.Prev)
		}
		if want := fixedNow().UTC().Truncate(time.Second); !e.Time.Equal(want) || e.Time.Location() != time.UTC {
			t.Errorf("entry %d: time %v, want %v", i+1, e.Time, want)
		}
	}
	if entries[3].Event != "step-1" || string(entries[3].Data) != `{"i":1}` || entries[4].Event != "again" || entries[4].Data != nil {
		t.Errorf("entries 4, 5 = %+v, %+v", entries[3], entries[4])
	}
	checkSums(t, w)
}

func TestTamperedTranscriptDetected(t *testing.T) {
	w := newWorkspace(t, nil)
	for i := range 3 {
		tx := w.Begin()
		tx.Record("step", map[string]int{"i": i})
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	raw, _ := w.ReadFile(TranscriptFile)
	tampered := strings.Replace(string(raw), `{"i":1}`, `{"i":7}`, 1)
	if err := os.WriteFile(w.Path(TranscriptFile), []byte(tampered), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "transcript line 4: prev does not match the SHA-256 of line 3"
	if _, err := w.Transcript(); err == nil || err.Error() != want {
		t.Errorf("Transcript error = %v, want %q", err, want)
	}
	if err := w.VerifySums(); err == nil || err.Error() != "SHA256SUMS does not match the workspace: transcript.jsonl has changed" {
		t.Errorf("VerifySums = %v", err)
	}
	// Commit refuses to extend a broken history.
	before := snapshot(t, w.Dir)
	tx := w.Begin()
	tx.Record("more", nil)
	if err := tx.Commit(); err == nil || err.Error() != "existing transcript.jsonl is invalid: "+want {
		t.Errorf("Commit error = %v", err)
	}
	assertSameSnapshot(t, "after refused commit", snapshot(t, w.Dir), before)
}

func TestTornTranscriptDetected(t *testing.T) {
	w := newWorkspace(t, nil)
	tx := w.Begin()
	tx.Record("step", nil)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	raw, _ := w.ReadFile(TranscriptFile)
	if err := os.WriteFile(w.Path(TranscriptFile), raw[:len(raw)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	want := "transcript line 2: incomplete last line (torn write)"
	if _, err := w.Transcript(); err == nil || err.Error() != want {
		t.Errorf("Transcript error = %v, want %q", err, want)
	}
}

func TestTranscriptChangedDuringCommit(t *testing.T) {
	w := newWorkspace(t, nil)
	t.Cleanup(func() { commitHook = nil })
	commitHook = func(step string) error {
		if step == "temps-written" {
			// Another program, ignoring the lock, appends a line.
			f, err := os.OpenFile(w.Path(TranscriptFile), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("{}\n")
			return err
		}
		return nil
	}
	tx := w.Begin()
	tx.Create("staged/x", []byte("x"))
	tx.Record("e", nil)
	if err := tx.Commit(); err == nil || err.Error() != "transcript.jsonl changed during the commit" {
		t.Errorf("Commit error = %v", err)
	}
	commitHook = nil
	if w.fileExists("staged/x") || len(w.tempFiles()) != 0 {
		t.Error("refused commit left files behind")
	}
}

func TestVerifySums(t *testing.T) {
	tests := []struct {
		name   string
		change func(w *Workspace) error
		want   string
	}{
		{"changed", func(w *Workspace) error { return os.WriteFile(w.Path("metadata/root.json"), []byte("evil"), 0o644) }, "SHA256SUMS does not match the workspace: metadata/root.json has changed"},
		{"missing", func(w *Workspace) error { return os.Remove(w.Path("keys/k.json")) }, "SHA256SUMS does not match the workspace: keys/k.json is missing"},
		{"extra", func(w *Workspace) error { return os.WriteFile(w.Path("keys/a.json"), nil, 0o644) }, "SHA256SUMS does not match the workspace: keys/a.json is not listed"},
		{"extra plan", func(w *Workspace) error { return os.WriteFile(w.Path(PlanFile), nil, 0o644) }, "SHA256SUMS does not match the workspace: ceremony.yaml is not listed"},
		{"hidden file ignored", func(w *Workspace) error { return os.WriteFile(w.Path("metadata/._root.json"), nil, 0o644) }, ""},
		{"file outside layout ignored", func(w *Workspace) error { return os.WriteFile(w.Path("README"), nil, 0o644) }, ""},
		{"malformed", func(w *Workspace) error { return os.WriteFile(w.Path(SumsFile), []byte("abc  keys/k.json\n"), 0o644) }, "SHA256SUMS line 1: malformed"},
		{"torn", func(w *Workspace) error { return os.WriteFile(w.Path(SumsFile), []byte("abc"), 0o644) }, "SHA256SUMS: incomplete last line"},
		{"subdirectory", func(w *Workspace) error { return os.Mkdir(w.Path("metadata/sub"), 0o755) }, "metadata/sub is not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorkspace(t, map[string]string{"metadata/root.json": "root", "keys/k.json": "key"})
			if err := tt.change(w); err != nil {
				t.Fatal(err)
			}
			err := w.VerifySums()
			if tt.want == "" {
				if err != nil {
					t.Errorf("VerifySums = %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("VerifySums error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSymlinksRefused(t *testing.T) {
	w := newWorkspace(t, map[string]string{"metadata/root.json": "root"})
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), w.Path("staged/link.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFile("staged/link.json"); err == nil || err.Error() != "staged/link.json is a symlink, not a regular file" {
		t.Errorf("ReadFile(symlink) error = %v", err)
	}
	if err := w.VerifySums(); err == nil || err.Error() != "staged/link.json is not a regular file" {
		t.Errorf("VerifySums error = %v", err)
	}
	os.Remove(w.Path("staged/link.json"))

	// A layout directory that is a symlink is not followed.
	if err := os.Remove(w.Path(KeysDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, w.Path(KeysDir)); err != nil {
		t.Fatal(err)
	}
	tx := w.Begin()
	tx.Create("keys/k.json", []byte("key"))
	if err := tx.Commit(); err == nil || err.Error() != w.Path(KeysDir)+" is not a directory" {
		t.Errorf("Commit error = %v", err)
	}
	if _, err := w.ReadFile("keys/secret"); err == nil || err.Error() != w.Path(KeysDir)+" is not a directory" {
		t.Errorf("ReadFile error = %v", err)
	}
	assertDirEntries(t, outside, "secret")
}

func TestOpenWorkspaceErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := OpenWorkspace(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenWorkspace(missing) = %v, want fs.ErrNotExist", err)
	}
	empty := t.TempDir()
	_, err := OpenWorkspace(empty)
	if !errors.Is(err, ErrNoWorkspace) || err.Error() != empty+" has no transcript.jsonl: not a tuf-ceremony workspace" {
		t.Errorf("OpenWorkspace(empty) = %v", err)
	}
	assertDirEntries(t, empty)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := OpenWorkspace(file); !errors.Is(err, ErrNoWorkspace) || err.Error() != file+" is not a directory: not a tuf-ceremony workspace" {
		t.Errorf("OpenWorkspace(file) = %v", err)
	}
}

func TestOpenWorkspaceReadOnly(t *testing.T) {
	// Opening and reading a clean workspace writes nothing, so it works on
	// read-only media (here: a directory without write permission).
	if os.Geteuid() == 0 {
		t.Skip("skipping: running as root, where permissions do not stop writes")
	}
	w := newWorkspace(t, map[string]string{"keys/k.json": "key"})
	os.Remove(w.Path(lockFile))
	os.Chmod(w.Dir, 0o500)
	t.Cleanup(func() { os.Chmod(w.Dir, 0o755) })
	w, err := OpenWorkspace(w.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.VerifySums(); err != nil {
		t.Error(err)
	}
}

func TestOpenOrNewWorkspace(t *testing.T) {
	t.Run("missing nested dir", func(t *testing.T) {
		parent := t.TempDir()
		w, err := OpenOrNewWorkspace(filepath.Join(parent, "a", "b"))
		if err != nil || w.Exists() {
			t.Fatalf("OpenOrNewWorkspace = %v, %v", w, err)
		}
		assertDirEntries(t, parent)
	})
	t.Run("empty dir", func(t *testing.T) {
		dir := t.TempDir()
		if w, err := OpenOrNewWorkspace(dir); err != nil || w.Exists() {
			t.Fatalf("OpenOrNewWorkspace = %v, %v", w, err)
		}
		assertDirEntries(t, dir)
	})
	t.Run("fresh media", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "lost+found"), 0o700)
		if _, err := OpenOrNewWorkspace(dir); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("existing workspace", func(t *testing.T) {
		w := newWorkspace(t, nil)
		w2, err := OpenOrNewWorkspace(w.Dir)
		if err != nil || !w2.Exists() {
			t.Fatalf("OpenOrNewWorkspace = %v, %v", w2, err)
		}
	})
	t.Run("non-empty dir", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, ".bashrc"), nil, 0o644)
		_, err := OpenOrNewWorkspace(dir)
		if !errors.Is(err, ErrNoWorkspace) || err.Error() != dir+" is not empty: not a tuf-ceremony workspace" {
			t.Errorf("OpenOrNewWorkspace = %v", err)
		}
		assertDirEntries(t, dir, ".bashrc")
	})
	t.Run("dir with a metadata dir", func(t *testing.T) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "metadata"), 0o755)
		os.WriteFile(filepath.Join(dir, "metadata", "root.json"), nil, 0o644)
		if _, err := OpenOrNewWorkspace(dir); !errors.Is(err, ErrNoWorkspace) {
			t.Errorf("OpenOrNewWorkspace = %v", err)
		}
	})
	t.Run("regular file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o644)
		_, err := OpenOrNewWorkspace(file)
		if !errors.Is(err, ErrNoWorkspace) || err.Error() != file+" is not a directory: not a tuf-ceremony workspace" {
			t.Errorf("OpenOrNewWorkspace = %v", err)
		}
	})
	t.Run("parent is a regular file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		os.WriteFile(file, nil, 0o644)
		dir := filepath.Join(file, "sub", "media")
		_, err := OpenOrNewWorkspace(dir)
		if want := "cannot create workspace " + dir + ": " + file + " is not a directory"; err == nil || err.Error() != want {
			t.Errorf("OpenOrNewWorkspace = %v, want %q", err, want)
		}
	})
	t.Run("unwritable dir", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("skipping: running as root, where chmod 0500 does not stop writes (the parent-is-a-file case covers the check)")
		}
		dir := t.TempDir()
		os.Chmod(dir, 0o500)
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		if _, err := OpenOrNewWorkspace(dir); err == nil || !strings.HasPrefix(err.Error(), dir+" is not writable: ") {
			t.Errorf("OpenOrNewWorkspace = %v", err)
		}
		if _, err := OpenOrNewWorkspace(filepath.Join(dir, "media")); err == nil || !strings.HasPrefix(err.Error(), "cannot create workspace "+filepath.Join(dir, "media")+": "+dir+" is not writable: ") {
			t.Errorf("OpenOrNewWorkspace = %v", err)
		}
	})
}

func TestFailedFirstCommitLeavesNothing(t *testing.T) {
	t.Cleanup(func() { commitHook = nil })
	for _, failAt := range []string{"locked", "dirs-created", "temps-written"} {
		t.Run(failAt, func(t *testing.T) {
			commitHook = func(step string) error {
				if step == failAt {
					return errors.New("injected")
				}
				return nil
			}
			defer func() { commitHook = nil }()

			// A directory that did not exist disappears, parents too.
			parent := t.TempDir()
			w, err := OpenOrNewWorkspace(filepath.Join(parent, "a", "media"))
			if err != nil {
				t.Fatal(err)
			}
			tx := w.Begin()
			tx.Create("keys/k.json", []byte("key"))
			if err := tx.Commit(); err == nil || err.Error() != "injected" {
				t.Errorf("Commit = %v", err)
			}
			assertDirEntries(t, parent)

			// An empty directory that existed stays, empty.
			dir := t.TempDir()
			if w, err = OpenOrNewWorkspace(dir); err != nil {
				t.Fatal(err)
			}
			tx = w.Begin()
			tx.Create("keys/k.json", []byte("key"))
			if err := tx.Commit(); err == nil {
				t.Error("Commit succeeded")
			}
			assertDirEntries(t, dir)
		})
	}
}

// commitSteps returns the steps of a commit, in order, as commitHook sees
// them.
func commitSteps(t *testing.T, commit func() error) []string {
	t.Helper()
	var steps []string
	commitHook = func(step string) error {
		steps = append(steps, step)
		return nil
	}
	defer func() { commitHook = nil }()
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	return steps
}

// TestCommitInterrupted interrupts a Commit after each of its steps, by a
// simulated crash (nothing cleaned up) and by an error, and checks that
// reopening the workspace gives exactly the old state or exactly the new
// one.
func TestCommitInterrupted(t *testing.T) {
	t.Cleanup(func() { commitHook = nil })
	base := newWorkspace(t, map[string]string{
		"metadata/1.root.json": "root v1",
		"metadata/root.json":   "root v1",
		"staged/2.root.json":   "proposal",
		"keys/k1.json":         "key 1",
	})
	change := func(w *Workspace) error {
		w.Now = fixedNow
		tx := w.Begin()
		tx.Create("metadata/2.root.json", []byte("root v2"))
		tx.Replace("metadata/root.json", []byte("root v2"))
		tx.Remove("staged/2.root.json")
		tx.Create("keys/k2.json", []byte("key 2"))
		tx.Record("published", map[string]int{"version": 2})
		return tx.Commit()
	}
	oldState := snapshot(t, base.Dir)
	ref := copyTree(t, base.Dir)
	steps := commitSteps(t, func() error { return change(&Workspace{Dir: ref}) })
	newState := snapshot(t, ref)
	wantSteps := "[locked dirs-created temps-written journal-written " +
		"rename keys/k2.json rename metadata/2.root.json rename metadata/root.json remove staged/2.root.json " +
		"rename transcript.jsonl rename SHA256SUMS dirs-synced journal-removed]"
	if fmt.Sprint(steps) != wantSteps {
		t.Fatalf("steps = %v\nwant %v", steps, wantSteps)
	}

	committed := false
	for _, step := range steps {
		committed = committed || step == "journal-written"
		for _, crash := range []bool{true, false} {
			name := "error after " + step
			if crash {
				name = "crash after " + step
			}
			t.Run(name, func(t *testing.T) {
				dir := copyTree(t, base.Dir)
				fail := errors.New("injected")
				if crash {
					fail = errSimulatedCrash
				}
				commitHook = func(s string) error {
					if s == step {
						return fail
					}
					return nil
				}
				err := change(&Workspace{Dir: dir})
				commitHook = nil
				if !errors.Is(err, fail) {
					t.Fatalf("Commit = %v, want %v", err, fail)
				}
				want := oldState
				if committed {
					want = newState
				}
				if !crash && !committed {
					// An error before the point of no return is cleaned up
					// at once.
					assertSameSnapshot(t, "after failed commit", snapshot(t, dir), oldState)
				}
				w, err := OpenWorkspace(dir)
				if err != nil {
					t.Fatal(err)
				}
				assertSameSnapshot(t, "after reopening", snapshot(t, dir), want)
				checkSums(t, w)
				if _, err := w.Transcript(); err != nil {
					t.Error(err)
				}
				// And the workspace works on.
				tx := w.Begin()
				tx.Record("next", nil)
				if err := tx.Commit(); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestFirstCommitInterrupted crashes the Commit that creates a workspace
// after each step: reopening gives no workspace, or the complete one.
func TestFirstCommitInterrupted(t *testing.T) {
	t.Cleanup(func() { commitHook = nil })
	create := func(dir string) error {
		w, err := OpenOrNewWorkspace(dir)
		if err != nil {
			return err
		}
		w.Now = fixedNow
		tx := w.Begin()
		tx.Create("keys/k.json", []byte("key"))
		tx.Record("key-generated", nil)
		return tx.Commit()
	}
	steps := commitSteps(t, func() error { return create(filepath.Join(t.TempDir(), "media")) })
	committed := false
	for _, step := range steps {
		committed = committed || step == "journal-written"
		t.Run("crash after "+step, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "media")
			commitHook = func(s string) error {
				if s == step {
					return errSimulatedCrash
				}
				return nil
			}
			err := create(dir)
			commitHook = nil
			if !errors.Is(err, errSimulatedCrash) {
				t.Fatalf("Commit = %v", err)
			}
			w, err := OpenOrNewWorkspace(dir)
			if err != nil {
				t.Fatal(err)
			}
			if w.Exists() != committed {
				t.Fatalf("Exists() = %v, want %v", w.Exists(), committed)
			}
			if !committed {
				if len(w.tempFiles()) != 0 {
					t.Errorf("temporary files left: %v", w.tempFiles())
				}
				if _, err := OpenWorkspace(dir); !errors.Is(err, ErrNoWorkspace) {
					t.Errorf("OpenWorkspace = %v, want ErrNoWorkspace", err)
				}
				if err := create(dir); err != nil {
					t.Fatalf("creating the workspace again: %v", err)
				}
			}
			if evs := fmt.Sprint(events(t, w)); evs != "[workspace-created key-generated]" {
				t.Errorf("events = %s", evs)
			}
			checkSums(t, w)
		})
	}
}

func TestRecoverHandWrittenJournal(t *testing.T) {
	w := newWorkspace(t, map[string]string{"staged/a.json": "a", "metadata/root.json": "old"})
	// A commit interrupted half-way through its journal: the first rename
	// and the removal are done, the second rename is not.
	tmp1 := ".tuf-ceremony-tmp-0001"
	tmp2 := ".tuf-ceremony-tmp-0002"
	os.WriteFile(w.Path("metadata/root.json"), []byte("new"), 0o644)
	os.Remove(w.Path("staged/a.json"))
	os.WriteFile(w.Path("keys/"+tmp2), []byte("key"), 0o644)
	stray := w.Path("staged/.tuf-ceremony-tmp-0003") // not in the journal
	os.WriteFile(stray, []byte("stray"), 0o644)
	j := `{"version":1,"steps":[
		{"rename":"metadata/` + tmp1 + `","to":"metadata/root.json"},
		{"remove":"staged/a.json"},
		{"rename":"keys/` + tmp2 + `","to":"keys/k.json"}]}`
	os.WriteFile(w.Path(journalFile), []byte(j), 0o644)
	unrelated := w.Path("staged/.DS_Store")
	os.WriteFile(unrelated, nil, 0o644)

	w2, err := OpenWorkspace(w.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"metadata/root.json": "new", "keys/k.json": "key"} {
		if got, err := w2.ReadFile(rel); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v, want %q", rel, got, err, want)
		}
	}
	for _, p := range []string{w.Path("staged/a.json"), w.Path(journalFile), w.Path("keys/" + tmp2), stray} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists", p)
		}
	}
	if _, err := os.Lstat(unrelated); err != nil {
		t.Errorf("recovery removed a hidden file that is not its own: %v", err)
	}
}

func TestRecoverRefusesBadJournal(t *testing.T) {
	tests := []struct {
		journal string
		want    string
	}{
		{`{"version":1,"steps":[{"rename":"metadata/.tuf-ceremony-tmp-1","to":"../../etc/passwd"}]}`,
			`step 1: invalid workspace path "../../etc/passwd": must not contain ".."`},
		{`{"version":1,"steps":[{"rename":"metadata/root.json","to":"metadata/1.root.json"}]}`,
			`step 1: "metadata/root.json" is not a temporary file next to "metadata/1.root.json"`},
		{`{"version":1,"steps":[{"rename":"keys/.tuf-ceremony-tmp-1","to":"metadata/1.root.json"}]}`,
			`step 1: "keys/.tuf-ceremony-tmp-1" is not a temporary file next to "metadata/1.root.json"`},
		{`{"version":1,"steps":[{"rename":"x/../metadata/.tuf-ceremony-tmp-1","to":"metadata/1.root.json"}]}`,
			`step 1: "x/../metadata/.tuf-ceremony-tmp-1" is not a temporary file next to "metadata/1.root.json"`},
		{`{"version":1,"steps":[{"remove":"/etc/passwd"}]}`,
			`step 1: invalid workspace path "/etc/passwd": must be relative`},
		{`{"version":1,"steps":[{"remove":"transcript.jsonl"}]}`,
			`step 1: invalid workspace path "transcript.jsonl": only Commit writes it`},
		{`{"version":1,"steps":[{"remove":"staged/x","to":"staged/y"}]}`,
			`step 1: want either rename and to, or remove`},
		{`{"version":2,"steps":[]}`, `unsupported version 2`},
		{`{"version":1,"steps":[]`, `invalid JSON: unexpected EOF`},
	}
	for _, tt := range tests {
		w := newWorkspace(t, nil)
		os.WriteFile(w.Path(journalFile), []byte(tt.journal), 0o644)
		_, err := OpenWorkspace(w.Dir)
		want := "cannot complete a change that an interrupted command left behind: .pending.json: " + tt.want
		if err == nil || err.Error() != want {
			t.Errorf("OpenWorkspace error = %v\nwant %q", err, want)
		}
	}
}

// TestHelperHoldLock is not a test: TestLockContention runs the test binary
// with it to hold a workspace's lock from another process.
func TestHelperHoldLock(t *testing.T) {
	dir := os.Getenv("TUF_CEREMONY_TEST_HOLD_LOCK")
	if dir == "" {
		t.Skip("helper process for TestLockContention")
	}
	f, _, err := lockDir(dir)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer f.Close()
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n') // until the test closes stdin
}

func TestLockContention(t *testing.T) {
	w := newWorkspace(t, map[string]string{"staged/a.json": "a"})
	before := snapshot(t, w.Dir)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), "TUF_CEREMONY_TEST_HOLD_LOCK="+w.Dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "locked\n" {
		t.Fatalf("helper process: %q", line)
	}

	tx := w.Begin()
	tx.Replace("staged/a.json", []byte("b"))
	tx.Record("e", nil)
	err = tx.Commit()
	if !errors.Is(err, ErrWorkspaceLocked) || err.Error() != "workspace is in use by another tuf-ceremony process" {
		t.Errorf("Commit = %v, want ErrWorkspaceLocked", err)
	}
	assertSameSnapshot(t, "after refused commit", snapshot(t, w.Dir), before)

	// An interrupted change cannot be completed while another process
	// holds the lock either.
	os.WriteFile(w.Path(journalFile), []byte(`{"version":1,"steps":[]}`), 0o644)
	if _, err := OpenWorkspace(w.Dir); !errors.Is(err, ErrWorkspaceLocked) {
		t.Errorf("OpenWorkspace = %v, want ErrWorkspaceLocked", err)
	}
	// Leftover temporary files alone do not stop a reader, and are left
	// alone: their writer may still be at work.
	os.Remove(w.Path(journalFile))
	tmp := w.Path("staged/.tuf-ceremony-tmp-live")
	os.WriteFile(tmp, nil, 0o644)
	if _, err := OpenWorkspace(w.Dir); err != nil {
		t.Errorf("OpenWorkspace = %v", err)
	}
	if _, err := os.Lstat(tmp); err != nil {
		t.Error("a temporary file was removed while the lock was held")
	}

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	tx = w.Begin()
	tx.Replace("staged/a.json", []byte("b"))
	if err := tx.Commit(); err != nil {
		t.Errorf("Commit after the lock was released: %v", err)
	}
	if _, err := os.Lstat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Error("Commit did not remove a leftover temporary file")
	}
}

func TestVanishedTranscriptRefused(t *testing.T) {
	w := newWorkspace(t, map[string]string{"keys/k.json": "key"})
	os.Remove(w.Path(TranscriptFile))
	tx := w.Begin()
	tx.Record("e", nil)
	if err := tx.Commit(); err == nil || err.Error() != "transcript.jsonl has disappeared from the workspace" {
		t.Errorf("Commit = %v", err)
	}
	if w.fileExists(TranscriptFile) {
		t.Error("Commit started a new transcript")
	}
}
