package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/piv"
)

// newTokenCmd groups what only YubiKeys need: setup before a ceremony and
// a reset of the PIV applet.
func newTokenCmd(f *factory) *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "Set up or reset a YubiKey (PIV) before a ceremony",
		Long: `Prepare a YubiKey for a ceremony (setup) or return its PIV applet to the
factory state (reset). Other tokens are prepared with their own tools
(softhsm2-util, yubihsm-shell, the HSM vendor's).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.AddCommand(newTokenSetupCmd(f), newTokenResetCmd(f))
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
	return c
}

type tokenSetupOptions struct {
	token    string
	newPIN   string
	newPUK   string
	yes      bool
	forcePIN bool
}

func newTokenSetupCmd(f *factory) *cobra.Command {
	opts := &tokenSetupOptions{}
	c := &cobra.Command{
		Use:   "setup --token URI [--new-pin P --new-puk P] [--yes]",
		Short: "Give a new YubiKey its own PIN, PUK and a random PIN-protected management key",
		Long: `Set up a new YubiKey for a ceremony:

  - a random management key (AES-192; 3DES before firmware 5.4) replaces the
    factory one and is stored on the card, readable only with the PIN, as
    ykman's --protect does. It is never shown: nobody needs to know it, and
    with the factory key anyone could replace the card's keys without the PIN.
  - the PUK and then the PIN are changed from the factory defaults
    (12345678 and 123456). Each has 6 to 8 characters; the PUK unblocks a
    blocked PIN, so keep it as safe as the PIN.

New PIN and PUK are asked twice on the terminal, never echoed, unless given
with --new-pin and --new-puk (rehearsals and scripts only: a command line is
visible to other users of the machine). The current PIN is the factory one,
or the one the token URI carries (pin-source=file:PATH). Run it once per
YubiKey, before keygen.`,
		Example: `  tuf-ceremony token setup --token yubikey:serial=12345678
  tuf-ceremony token setup --token yubikey:serial=12345678 --new-pin 24681357 --new-puk 97531864 --yes`,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "token"); err != nil {
				return err
			}
			return runTokenSetup(c.Context(), f, opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&opts.token, "token", "", "YubiKey `URI` (yubikey:serial=N)")
	fl.StringVar(&opts.newPIN, "new-pin", "", "new `PIN` (6 to 8 characters; asked on the terminal when absent)")
	fl.StringVar(&opts.newPUK, "new-puk", "", "new `PUK` (6 to 8 characters; asked on the terminal when absent)")
	fl.BoolVar(&opts.yes, "yes", false, "do not ask for confirmation")
	fl.BoolVar(&opts.forcePIN, "force-pin", false, "try the current PIN even when the YubiKey reports its final try")
	return c
}

// openYubiKey opens the YubiKey a yubikey: URI addresses.
func openYubiKey(ctx context.Context, uri string) (*piv.Token, error) {
	if _, err := piv.ParseURI(uri); err != nil {
		var ue *piv.URIError
		if errors.As(err, &ue) && strings.Contains(ue.Msg, "scheme") {
			return nil, fmt.Errorf("only YubiKeys are set up and reset here: %w", err)
		}
		return nil, err
	}
	return piv.NewBackend().OpenToken(ctx, uri)
}

func runTokenSetup(ctx context.Context, f *factory, opts *tokenSetupOptions) error {
	current, _, err := hsm.URIPIN(opts.token)
	if err != nil {
		return err
	}
	tok, err := openYubiKey(ctx, opts.token)
	if err != nil {
		return err
	}
	defer tok.Close()
	info := tok.Info()
	state, err := tok.PINState(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(f.stderr, "%s: %s %s, firmware %s (PIN: %s)\n", info.Label, info.Manufacturer, info.Model, info.Firmware, state)

	newPIN, newPUK := hsm.NewPIN(opts.newPIN), hsm.NewPIN(opts.newPUK)
	if newPIN.Empty() {
		if newPIN, err = askNewSecret(ctx, f, "PIN", info, piv.ValidateNewPIN); err != nil {
			return err
		}
	} else if err := piv.ValidateNewPIN(newPIN); err != nil {
		return err
	}
	if newPUK.Empty() {
		if newPUK, err = askNewSecret(ctx, f, "PUK", info, piv.ValidateNewPUK); err != nil {
			return err
		}
	} else if err := piv.ValidateNewPUK(newPUK); err != nil {
		return err
	}
	ok, err := f.prompter(opts.yes, false).Confirm(ctx,
		fmt.Sprintf("set up %s: replace its management key by a random PIN-protected one, and change its PUK and PIN?", info.Label))
	if err != nil {
		return err
	}
	if !ok {
		return errAborted
	}
	res, err := tok.Setup(ctx, piv.SetupOptions{CurrentPIN: current, NewPIN: newPIN, NewPUK: newPUK, Force: opts.forcePIN})
	if err != nil {
		return err
	}
	fmt.Fprintf(f.stdout, "%s is set up\n", info.Label)
	fmt.Fprintf(f.stdout, "  management key: random %s, stored PIN-protected on the card (replaced the %s one)\n", res.ManagementKey, res.Replaced)
	fmt.Fprintln(f.stdout, "  PIN and PUK:    changed; keep the PUK as safe as the PIN, it unblocks a blocked PIN")
	fmt.Fprintf(f.stdout, "  next:           tuf-ceremony keygen --token '%s;slot-id=9c' …\n", info.URI)
	return nil
}

// askNewSecret reads a new PIN or PUK twice on the terminal, without echo.
func askNewSecret(ctx context.Context, f *factory, what string, info hsm.TokenInfo, validate func(hsm.PIN) error) (hsm.PIN, error) {
	tty, err := f.openTTY()
	if err != nil {
		return hsm.PIN{}, fmt.Errorf("%w for the new %s of %s (or give --new-%s)", errNoTerminal, what, info.Label, strings.ToLower(what))
	}
	defer tty.Close()
	read := func(prompt string) (hsm.PIN, error) {
		fmt.Fprint(tty, prompt)
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
				return hsm.PIN{}, fmt.Errorf("failed to read the new %s: %w", what, r.err)
			}
			p := hsm.NewPIN(string(r.b))
			clear(r.b)
			return p, nil
		}
	}
	first, err := read(fmt.Sprintf("new %s for %s (6 to 8 characters): ", what, info.Label))
	if err != nil {
		return hsm.PIN{}, err
	}
	if err := validate(first); err != nil {
		return hsm.PIN{}, err
	}
	second, err := read(fmt.Sprintf("new %s again: ", what))
	if err != nil {
		return hsm.PIN{}, err
	}
	if first.Reveal() != second.Reveal() {
		return hsm.PIN{}, fmt.Errorf("the two new %ss differ; nothing was changed", what)
	}
	return first, nil
}

type tokenResetOptions struct {
	token         string
	confirmSerial string
}

func newTokenResetCmd(f *factory) *cobra.Command {
	opts := &tokenResetOptions{}
	c := &cobra.Command{
		Use:   "reset --token URI",
		Short: "Reset a YubiKey's PIV applet: every key on it is destroyed",
		Long: `Reset the PIV applet of a YubiKey to its factory state. Every key and
certificate in its PIV slots is destroyed for good, and PIN, PUK and
management key are the factory defaults again (123456, 12345678, the
default key). FIDO, OpenPGP and OTP are not touched.

A YubiKey only resets once both its PIN and its PUK are blocked: reset blocks
them on purpose first, with wrong values. It is the way out when PIN and PUK
are both blocked, and the way to retire a custodian's YubiKey.

The custodian confirms by typing the serial number of the YubiKey (printed on
it) on the terminal; --confirm-serial gives it for rehearsal scripts.`,
		Example: `  tuf-ceremony token reset --token yubikey:serial=12345678`,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "token"); err != nil {
				return err
			}
			return runTokenReset(c.Context(), f, opts)
		},
	}
	c.Flags().StringVar(&opts.token, "token", "", "YubiKey `URI` (yubikey:serial=N)")
	c.Flags().StringVar(&opts.confirmSerial, "confirm-serial", "", "the YubiKey's `SERIAL`, as the custodian would type it (for scripts)")
	return c
}

func runTokenReset(ctx context.Context, f *factory, opts *tokenResetOptions) error {
	tok, err := openYubiKey(ctx, opts.token)
	if err != nil {
		return err
	}
	defer tok.Close()
	info := tok.Info()
	keys, err := tok.Keys(ctx)
	if err != nil {
		return err
	}
	var slots []string
	for _, k := range keys {
		slots = append(slots, fmt.Sprintf("%s (%s)", k.Label, k.Algorithm))
	}
	lost := "no key found in its slots"
	if len(slots) > 0 {
		lost = "the keys in " + strings.Join(slots, ", ")
	}
	warning := fmt.Sprintf("Resetting the PIV applet of %s (%s, firmware %s) destroys every key on it for good: %s.\n"+
		"PIN, PUK and management key go back to the factory defaults. A TUF key that was on it can\n"+
		"never sign again: make sure it is no longer needed (revoked, or its roles have enough other keys).",
		info.Label, info.Model, info.Firmware, lost)

	typed := strings.TrimSpace(opts.confirmSerial)
	if typed == "" {
		tty, err := f.openTTY()
		if err != nil {
			return fmt.Errorf("%w to confirm the reset of %s (--confirm-serial gives the serial in scripts)", errNoTerminal, info.Label)
		}
		defer tty.Close()
		fmt.Fprintf(tty, "%s\nTo reset it, type its serial number (printed on the YubiKey): ", warning)
		if typed, err = readLine(ctx, tty); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(f.stderr, warning)
	}
	if typed != info.Serial {
		fmt.Fprintf(f.stderr, "%q is not the serial number of %s; nothing was changed\n", typed, info.Label)
		return errAborted
	}
	if err := tok.Reset(ctx); err != nil {
		return err
	}
	fmt.Fprintf(f.stdout, "%s: the PIV applet is reset; every key on it is destroyed and PIN, PUK and management key are the factory defaults\n", info.Label)
	fmt.Fprintf(f.stdout, "  next: tuf-ceremony token setup --token %s\n", info.URI)
	return nil
}

// readLine reads one line from r, giving up when ctx ends.
func readLine(ctx context.Context, r io.Reader) (string, error) {
	done := make(chan struct {
		s   string
		err error
	}, 1)
	go func() {
		s, err := bufio.NewReader(r).ReadString('\n')
		done <- struct {
			s   string
			err error
		}{s, err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-done:
		if r.err != nil && r.s == "" {
			return "", fmt.Errorf("failed to read the confirmation: %w", r.err)
		}
		return strings.TrimSpace(r.s), nil
	}
}
