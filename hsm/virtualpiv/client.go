package virtualpiv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// SocketEnv is the variable pcsc-lite's client library (libpcsclite, which
// piv-go uses) reads pcscd's socket path from.
const SocketEnv = "PCSCLITE_CSOCK_NAME"

// DefaultSocket is where pcsc-lite clients find pcscd when SocketEnv is
// not set.
const DefaultSocket = "/run/pcscd/pcscd.comm"

// The client switch. libpcsclite reads SocketEnv once, at the process's
// first PC/SC call, and keeps the path for good: setting the variable
// later changes nothing. So a process that must move between pcscds (the
// machine's, then a rehearsal's private one, then the machine's again)
// points SocketEnv, before its first PC/SC call, at a symbolic link in a
// private directory of its own, and moves the link: connect(2) follows it
// at each new PC/SC context.
var client struct {
	held chan struct{} // holds a token while a redirection is in force

	mu       sync.Mutex
	link     string // the link SocketEnv names ("" before PrepareClient)
	target   string // where the link points when nothing redirects it
	prevEnv  string // SocketEnv before PrepareClient
	hadEnv   bool
	pointsTo string // where the link points now
}

func init() { client.held = make(chan struct{}, 1) }

// PrepareClient points this process's pcsc-lite client (SocketEnv) at a
// symbolic link in a private temporary directory, which points where the
// client went before (SocketEnv, or DefaultSocket). Call it before the
// process's first PC/SC call; RedirectClient then moves the link. It
// returns the link's path; calling it again returns the same path (and
// makes the link again after ReleaseClient).
func PrepareClient() (string, error) {
	client.mu.Lock()
	defer client.mu.Unlock()
	if client.link == "" {
		client.prevEnv, client.hadEnv = os.LookupEnv(SocketEnv)
		client.target = DefaultSocket
		if client.hadEnv && client.prevEnv != "" {
			client.target = client.prevEnv
		}
		dir, err := os.MkdirTemp("", "tuf-ceremony-pcsc-")
		if err != nil {
			return "", fmt.Errorf("failed to prepare the PC/SC client: %w", err)
		}
		client.link = filepath.Join(dir, "pcscd.comm")
		client.pointsTo = ""
	} else if _, err := os.Lstat(client.link); err == nil {
		return client.link, nil
	} else if err := os.Mkdir(filepath.Dir(client.link), 0o700); err != nil {
		// Made again at the same path (libpcsclite keeps the path); a
		// directory someone else made there is not used.
		return "", fmt.Errorf("failed to prepare the PC/SC client: %w", err)
	}
	if client.pointsTo == "" {
		client.pointsTo = client.target
	}
	if err := os.Symlink(client.pointsTo, client.link); err != nil {
		return "", fmt.Errorf("failed to prepare the PC/SC client: %w", err)
	}
	if err := os.Setenv(SocketEnv, client.link); err != nil {
		return "", err
	}
	return client.link, nil
}

// pointLocked moves the link to socket atomically (a new link renamed
// over the old one).
func pointLocked(socket string) error {
	tmp := client.link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(socket, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, client.link); err != nil {
		os.Remove(tmp)
		return err
	}
	client.pointsTo = socket
	return nil
}

// RedirectClient sends this process's new PC/SC contexts to the pcscd
// listening on socket, until the returned restore is called (which sends
// them back where they went before). One redirection holds the client at
// a time: RedirectClient waits until the one in force is restored.
// Contexts already established keep their pcscd.
//
// The redirection works only if PrepareClient ran before the process's
// first PC/SC call; RedirectClient calls it, which is enough in a process
// that had made none yet. Waiting for another redirection ends with ctx.
func RedirectClient(ctx context.Context, socket string) (restore func(), err error) {
	select {
	case client.held <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("the PC/SC client is redirected elsewhere (another rehearsal or test holds it): %w", ctx.Err())
	}
	unhold := func() { <-client.held }
	if _, err := PrepareClient(); err != nil {
		unhold()
		return nil, err
	}
	client.mu.Lock()
	err = pointLocked(socket)
	client.mu.Unlock()
	if err != nil {
		unhold()
		return nil, fmt.Errorf("failed to redirect the PC/SC client: %w", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			client.mu.Lock()
			if _, err := os.Lstat(client.link); err == nil {
				if pointLocked(client.target) != nil {
					// Not left pointing at a pcscd that is gone: made
					// again in place.
					os.Remove(client.link)
					if os.Symlink(client.target, client.link) == nil {
						client.pointsTo = client.target
					}
				}
			} else {
				client.pointsTo = client.target
			}
			client.mu.Unlock()
			unhold()
		})
	}, nil
}

// ReleaseClient removes the link's directory and restores SocketEnv, as
// the process ends. PC/SC calls after it fail until PrepareClient runs
// again. While a redirection is in force it does nothing: the link stays
// for its holder.
func ReleaseClient() error {
	select {
	case client.held <- struct{}{}:
	default:
		return nil
	}
	defer func() { <-client.held }()
	client.mu.Lock()
	defer client.mu.Unlock()
	if client.link == "" {
		return nil
	}
	if client.hadEnv {
		os.Setenv(SocketEnv, client.prevEnv)
	} else {
		os.Unsetenv(SocketEnv)
	}
	err := os.RemoveAll(filepath.Dir(client.link))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return err
}
