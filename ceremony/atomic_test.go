package ceremony

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	for _, content := range []string{"first\n", "second, longer\n", ""} {
		if err := writeFileAtomic(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("content = %q, want %q", got, content)
		}
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o644 != 0 {
		t.Errorf("permissions = %v, want at most 0644", perm)
	}
	assertDirEntries(t, dir, "f.json")
}

func TestWriteFileAtomicFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	// Renaming a file over a non-empty directory fails after the temporary
	// file was written.
	target := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(target, []byte("data"), 0o644); err == nil {
		t.Fatal("writeFileAtomic over a directory succeeded")
	}
	assertDirEntries(t, dir, "d")

	err := writeFileAtomic(filepath.Join(dir, "missing", "f"), []byte("data"), 0o644)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("writeFileAtomic in a missing directory: %v, want fs.ErrNotExist", err)
	}
}

func TestSyncDir(t *testing.T) {
	if err := syncDir(t.TempDir()); err != nil {
		t.Error(err)
	}
	if err := syncDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("syncDir(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	f, created, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("created = false for a new lock file")
	}
	// flock locks belong to an open file description, so a second open in
	// the same process conflicts just like another process would.
	if _, _, err := lockDir(dir); !errors.Is(err, ErrWorkspaceLocked) || err.Error() != "workspace is in use by another tuf-ceremony process" {
		t.Errorf("second lockDir = %v, want ErrWorkspaceLocked", err)
	}
	f.Close()
	f, created, err = lockDir(dir)
	if err != nil {
		t.Fatalf("lockDir after release: %v", err)
	}
	if created {
		t.Error("created = true for an existing lock file")
	}
	f.Close()
}

// assertDirEntries checks that dir holds exactly the named entries.
func assertDirEntries(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(want) {
		t.Errorf("%s holds %q, want %q", dir, got, want)
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s holds %q, want %q", dir, got, want)
			return
		}
	}
}
