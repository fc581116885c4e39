package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/tui"
)

type tuiOptions struct {
	media   string
	plan    string
	roots   string
	modules []string
}

func newTUICmd(f *factory) *cobra.Command {
	opts := &tuiOptions{}
	c := &cobra.Command{
		Use:   "tui [--media DIR]",
		Short: "The guided ceremonies, on the terminal (also: tuf-ceremony with no arguments)",
		Long: `Open the guided terminal UI: the tokens present, the medium and what it holds,
a clock check and an air-gap check, and every ceremony as a numbered script of
steps the custodians acknowledge one by one (the acknowledgements go to the
transcript): a new repository from a plan, signing, publishing, verifying,
renewal, planned and emergency root rotation, targets key rotation, and a
rehearsal on throw-away SoftHSM tokens and a virtual YubiKey (where pcscd and
vsmartcard-vpcd are installed).

It needs a terminal; it draws on the terminal even when stdout is redirected.`,
		Example: `  tuf-ceremony tui --media /media/usb/ceremony
  tuf-ceremony                     # the same, asking for the medium`,
		RunE: func(c *cobra.Command, _ []string) error {
			return runTUIWith(c.Context(), f, opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&opts.media, "media", "", "workspace `DIR` on the removable medium")
	fl.StringVar(&opts.plan, "plan", "", "ceremony plan `FILE` for a new repository")
	fl.StringVar(&opts.roots, "attestation-roots", "", "`PEM` file of the roots YubiKey attestations must chain to (default: Yubico's)")
	fl.StringArrayVar(&opts.modules, "module", nil, "PKCS#11 module `PATH` to list tokens of (repeatable; default: the well-known ones present)")
	return c
}

// runTUI opens the TUI on the terminal with the medium media ("" asks).
func runTUI(ctx context.Context, f *factory, media string) error {
	return runTUIWith(ctx, f, &tuiOptions{media: media})
}

func runTUIWith(ctx context.Context, f *factory, opts *tuiOptions) error {
	tty, err := f.openTTY()
	if err != nil {
		return fmt.Errorf("%w for the TUI: run it on a terminal, or use the subcommands (tuf-ceremony --help)", errNoTerminal)
	}
	defer tty.Close()
	roots, err := attestationRoots(opts.roots)
	if err != nil {
		return err
	}
	// One set of backends for listing and for ceremonies: a PKCS#11
	// module is per process, and a second backend would finalize it
	// under the first.
	backends := f.backends()
	return tui.Run(ctx, tui.Options{
		Media:            opts.media,
		Plan:             opts.plan,
		Backends:         backends,
		Modules:          opts.modules,
		InterfacesUp:     f.interfacesUp,
		AttestationRoots: roots,
	}, tty, tty)
}
