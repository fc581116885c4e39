package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/piv"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
)

// factory carries what every command needs: the streams, the terminal for
// prompts and the token backends.
type factory struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// openTTY opens the terminal that prompts go to, even when stdout is
	// redirected; it fails when there is none (scripts, CI).
	openTTY  func() (*os.File, error)
	backends func() []hsm.Backend
	// interfacesUp lists network interfaces other than loopback that are up.
	interfacesUp func() ([]string, error)
}

func newFactory(stdin io.Reader, stdout, stderr io.Writer) *factory {
	return &factory{
		stdin:  stdin,
		stdout: stdout,
		stderr: stderr,
		openTTY: func() (*os.File, error) {
			return os.OpenFile("/dev/tty", os.O_RDWR, 0)
		},
		backends:     func() []hsm.Backend { return []hsm.Backend{pkcs11.NewBackend(), piv.NewBackend()} },
		interfacesUp: ceremony.NetworkInterfacesUp,
	}
}

// errAborted is a custodian declining a confirmation.
var errAborted = ceremony.ErrAborted

// errNoTerminal means a person had to be asked and nobody can be.
var errNoTerminal = errors.New("no terminal to ask on")

// prompter asks on the terminal. quiet drops progress messages.
type prompter struct {
	f     *factory
	yes   bool
	quiet bool
}

var _ ceremony.Prompter = (*prompter)(nil)

func (f *factory) prompter(yes, quiet bool) *prompter {
	return &prompter{f: f, yes: yes, quiet: quiet}
}

// PIN reads a PIN from the terminal without echo. It is never written
// anywhere.
func (p *prompter) PIN(ctx context.Context, tok hsm.TokenInfo, state hsm.PINState) (hsm.PIN, error) {
	tty, err := p.f.openTTY()
	if err != nil {
		return hsm.PIN{}, fmt.Errorf("%w for the PIN of %s", errNoTerminal, tok)
	}
	defer tty.Close()
	fmt.Fprintf(tty, "PIN for %s (%s): ", tok, state)
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(int(tty.Fd()))
		done <- result{b, err}
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(tty)
		return hsm.PIN{}, ctx.Err()
	case r := <-done:
		fmt.Fprintln(tty)
		if r.err != nil {
			return hsm.PIN{}, fmt.Errorf("failed to read the PIN: %w", r.err)
		}
		pin := hsm.NewPIN(string(r.b))
		clear(r.b)
		if pin.Empty() {
			return hsm.PIN{}, errors.New("no PIN entered")
		}
		return pin, nil
	}
}

// Confirm asks a yes/no question on the terminal; --yes answers yes.
func (p *prompter) Confirm(ctx context.Context, question string) (bool, error) {
	if p.yes {
		return true, nil
	}
	tty, err := p.f.openTTY()
	if err != nil {
		return false, fmt.Errorf("%w to confirm %q", errNoTerminal, question)
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s [y/N] ", question)
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil && ctx.Err() != nil {
		return false, ctx.Err()
	}
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes", nil
}

// Review prints what is about to be signed, then asks to confirm unless
// --yes was given.
func (p *prompter) Review(ctx context.Context, r ceremony.Review) (bool, error) {
	w := p.f.stderr
	fmt.Fprintf(w, "\nabout to sign %s (%s v%d) with the key of %s\n", r.File, r.Role, r.Version, r.Signer)
	fmt.Fprintf(w, "counts for: %s\n", strings.Join(r.Under, ", "))
	if r.Version == 1 {
		fmt.Fprintln(w, "contents (first version):")
	} else {
		fmt.Fprintf(w, "changes since v%d:\n", r.Version-1)
	}
	if err := ceremony.FormatReviewChanges(w, r); err != nil {
		return false, err
	}
	fmt.Fprintf(w, "fingerprint of the signed bytes: %s\n", r.Fingerprint)
	return p.Confirm(ctx, "sign this?")
}

// Notice shows an instruction and, on a terminal and without --yes, waits
// for Enter.
func (p *prompter) Notice(ctx context.Context, message string) error {
	tty, err := p.f.openTTY()
	if p.yes || err != nil {
		if err == nil {
			tty.Close()
		}
		fmt.Fprintln(p.f.stderr, message)
		return nil
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s\npress Enter when ready (Ctrl-C to stop) ", message)
	done := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(tty).ReadString('\n')
		done <- err
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-done:
		return err
	}
}

// Progress goes to stderr so that stdout stays the command's result.
func (p *prompter) Progress(message string) {
	if !p.quiet {
		fmt.Fprintln(p.f.stderr, message)
	}
}

// withTouch makes signers say when a YubiKey waits for a touch.
func (f *factory) withTouch(ctx context.Context) context.Context {
	return hsm.WithTouchPrompt(ctx, func(t hsm.TokenInfo) {
		fmt.Fprintf(f.stderr, "touch your YubiKey now (%s)\n", t)
	})
}

// openToken opens the token a URI addresses and reads the PIN it carries,
// if any.
func (f *factory) openToken(ctx context.Context, uri string) (hsm.Token, hsm.PIN, error) {
	return hsm.OpenWithURIPIN(ctx, f.backends(), uri)
}

// attestationRoots loads --attestation-roots, or nil for Yubico's roots.
func attestationRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	return piv.LoadRoots(file)
}
