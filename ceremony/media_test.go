package ceremony

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// mountTmpfs mounts a small tmpfs at dir, standing in for a USB stick
// that can fill up or be write-protected.
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	softhsmtest.Require(t, os.Geteuid() == 0, "root, to mount a small tmpfs as the medium", "mount")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		softhsmtest.Require(t, false, fmt.Sprintf("permission to mount a tmpfs (%v: %s)", err, out), "mount")
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// snapshotFiles hashes every file under dir except skip.
func snapshotFiles(t *testing.T, dir, skip string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if d.IsDir() || filepath.Base(p) == skip {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(p, dir)] = sha256Hex(data)
		return nil
	})
	return out
}

func sameFiles(t *testing.T, before, after map[string]string) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf("files changed: before %v, after %v", before, after)
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed", k)
		}
	}
}

// A full or write-protected medium makes sign and publish fail cleanly:
// the workspace stays exactly as it was, and works again once there is
// room.
func TestFullAndReadOnlyMedia(t *testing.T) {
	store := softhsmtest.New(t, "alice", "bob")
	ctx := context.Background()
	dir := t.TempDir()
	media := filepath.Join(dir, "media")
	mountTmpfs(t, media, "256k")

	ws, open := aliceBobCeremony(t, ctx, store, dir, media)
	sign := func(label string) error {
		tk, pin, err := open(ctx, "pkcs11:token="+label)
		if err != nil {
			t.Fatal(err)
		}
		defer tk.Close()
		_, err = Sign(ctx, ws, tk, &recordingPrompter{}, SignOptions{Unlock: UnlockOptions{PIN: pin}})
		return err
	}
	if err := sign("alice"); err != nil {
		t.Fatal(err)
	}

	// Fill the medium.
	filler, err := os.Create(filepath.Join(media, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	filler.Close()
	before := snapshotFiles(t, media, "filler")
	if err := sign("bob"); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("sign on a full medium: %v", err)
	}
	sameFiles(t, before, snapshotFiles(t, media, "filler"))
	if _, err := Publish(ws, time.Now()); err == nil {
		t.Fatal("publish went ahead without bob's signature")
	}
	sameFiles(t, before, snapshotFiles(t, media, "filler"))

	// Room again: the same ceremony goes on.
	os.Remove(filepath.Join(media, "filler"))
	if err := sign("bob"); err != nil {
		t.Fatalf("sign after freeing space: %v", err)
	}

	// Write-protected: publish fails and changes nothing.
	if out, err := exec.Command("mount", "-o", "remount,ro", media).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	before = snapshotFiles(t, media, "")
	if _, err := Publish(ws, time.Now()); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("publish on a read-only medium: %v", err)
	}
	sameFiles(t, before, snapshotFiles(t, media, ""))
	if _, err := OpenOrNewWorkspace(media); !errors.Is(err, ErrMediaUnusable) {
		t.Errorf("a read-only medium is accepted for keygen: %v", err)
	}
	exec.Command("mount", "-o", "remount,rw", media).Run()
	if _, err := Publish(ws, time.Now()); err != nil {
		t.Fatalf("publish once writable: %v", err)
	}
	if rep, err := Verify(media, VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
}
