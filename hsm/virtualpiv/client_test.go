package virtualpiv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The client switch: SocketEnv names a link that follows the redirection
// in force, one at a time, and goes back where it pointed before.
func TestClientSwitch(t *testing.T) {
	t.Setenv(SocketEnv, "/somewhere/pcscd.comm")
	link, err := PrepareClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ReleaseClient() })
	if got := os.Getenv(SocketEnv); got != link {
		t.Fatalf("%s = %q, want the link %q", SocketEnv, got, link)
	}
	points := func() string {
		t.Helper()
		target, err := os.Readlink(link)
		if err != nil {
			t.Fatal(err)
		}
		return target
	}
	if got := points(); got != "/somewhere/pcscd.comm" {
		t.Fatalf("the link points at %q before any redirection", got)
	}
	if fi, err := os.Stat(filepath.Dir(link)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the link's directory: %v %v", fi.Mode(), err)
	}

	restore, err := RedirectClient(context.Background(), "/private/one.comm")
	if err != nil {
		t.Fatal(err)
	}
	if got := points(); got != "/private/one.comm" {
		t.Fatalf("redirected to %q", got)
	}
	// A second redirection waits for the first to be restored, or for
	// its context to end.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := RedirectClient(ctx, "/private/late.comm"); !errors.Is(err, context.DeadlineExceeded) || points() != "/private/one.comm" {
		t.Fatalf("a redirection whose context ended: %v, link at %q", err, points())
	}
	second := make(chan func())
	go func() {
		r, err := RedirectClient(context.Background(), "/private/two.comm")
		if err != nil {
			t.Error(err)
		}
		second <- r
	}()
	select {
	case <-second:
		t.Fatal("a second redirection did not wait")
	case <-time.After(100 * time.Millisecond):
	}
	if err := ReleaseClient(); err != nil || points() != "/private/one.comm" {
		t.Fatalf("ReleaseClient during a redirection: %v, link at %q", err, points())
	}
	restore()
	restore() // twice is harmless
	restore2 := <-second
	if got := points(); got != "/private/two.comm" {
		t.Fatalf("second redirection: %q", got)
	}
	restore2()
	if got := points(); got != "/somewhere/pcscd.comm" {
		t.Fatalf("restored to %q", got)
	}

	// Released, then prepared again at the same path (libpcsclite keeps
	// the path it read first).
	if err := ReleaseClient(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(link)); !os.IsNotExist(err) {
		t.Fatalf("the link's directory is still there: %v", err)
	}
	if got := os.Getenv(SocketEnv); got != "/somewhere/pcscd.comm" {
		t.Fatalf("%s after release: %q", SocketEnv, got)
	}
	again, err := PrepareClient()
	if err != nil || again != link || points() != "/somewhere/pcscd.comm" {
		t.Fatalf("prepared again: %q, %v", again, err)
	}
}
