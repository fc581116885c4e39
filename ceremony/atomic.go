package ceremony

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// tempPrefix starts the name of every temporary file tuf-ceremony writes.
// The names are hidden (a leading dot), so they are never part of the
// workspace layout, and distinctive, so leftovers of a crash can be found
// and deleted without touching anything else.
const tempPrefix = ".tuf-ceremony-tmp-"

// isTempName reports whether a file name is one of tuf-ceremony's temporary
// files.
func isTempName(name string) bool {
	return strings.HasPrefix(name, tempPrefix)
}

// createTemp creates a new, empty temporary file in dir with permissions
// perm (less the umask). It never follows a symlink and never reuses an
// existing name. The file is created with its final permissions rather than
// chmod-ed later, because chmod fails on FAT-formatted media.
func createTemp(dir string, perm fs.FileMode) (*os.File, error) {
	var b [12]byte
	for range 10 {
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		name := filepath.Join(dir, tempPrefix+hex.EncodeToString(b[:]))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("failed to create a temporary file in %s: too many name collisions", dir)
}

// writeTemp writes data to a new temporary file in dir, flushes it to
// stable storage and returns its path. On error nothing is left behind.
func writeTemp(dir string, data []byte, perm fs.FileMode) (string, error) {
	f, err := createTemp(dir, perm)
	if err != nil {
		return "", err
	}
	name := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// writeFileAtomic replaces (or creates) path with data so that a crash at
// any instant leaves either the old content or the new one: it writes a
// temporary file in the same directory, fsyncs it, renames it over path and
// fsyncs the directory.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, data, perm)
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}

// syncDir flushes a directory's entries (creations, renames, removals) to
// stable storage. File systems that cannot fsync a directory (EINVAL) are
// tolerated: there is nothing more a program can do on them.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to sync directory %s: %w", dir, err)
	}
	return nil
}

// ErrWorkspaceLocked is returned when another process is changing the
// workspace.
var ErrWorkspaceLocked = errors.New("workspace is in use by another tuf-ceremony process")

// lockFile is the name of the workspace's lock file.
const lockFile = ".lock"

// lockDir takes an exclusive flock on dir/.lock, creating the file if
// needed, without waiting: a lock held by another process (or by another
// open of the file in this one) gives ErrWorkspaceLocked. created reports
// whether this call created the lock file. Closing the returned file
// releases the lock.
func lockDir(dir string) (f *os.File, created bool, err error) {
	path := filepath.Join(dir, lockFile)
	for range 10 {
		_, statErr := os.Lstat(path)
		created = errors.Is(statErr, fs.ErrNotExist)
		f, err = os.OpenFile(path, os.O_RDONLY|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			return nil, false, fmt.Errorf("failed to lock workspace: %w", err)
		}
		if err := flock(f); err != nil {
			f.Close()
			return nil, false, err
		}
		// A process that failed to create a workspace removes the lock file
		// it created; if that happened between our open and our flock, we
		// hold a lock on a file nobody else will ever see. Check that the
		// locked file is still the one at path.
		fi, err1 := f.Stat()
		pi, err2 := os.Lstat(path)
		if err1 == nil && err2 == nil && os.SameFile(fi, pi) {
			return f, created, nil
		}
		f.Close()
	}
	return nil, false, fmt.Errorf("failed to lock workspace: %s keeps changing", path)
}

func flock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("failed to lock workspace: %w", err)
	}
	var lerr error
	err = rc.Control(func(fd uintptr) {
		for {
			lerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
			if lerr != syscall.EINTR {
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("failed to lock workspace: %w", err)
	}
	if errors.Is(lerr, syscall.EWOULDBLOCK) {
		return ErrWorkspaceLocked
	}
	if lerr != nil {
		return fmt.Errorf("failed to lock workspace: %w", lerr)
	}
	return nil
}
