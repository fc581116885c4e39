package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type initOptions struct {
	media    string
	plan     string
	yes      bool
	forcePIN bool
	roots    string
	json     bool
}

func newInitCmd(f *factory) *cobra.Command {
	opts := &initOptions{}
	c := &cobra.Command{
		Use:   "init --media DIR --plan PLAN.yaml",
		Short: "Start a new repository: generate the plan's keys and stage root and targets v1",
		Long: `Read a ceremony plan, generate the keys it asks for on the custodians' tokens
(one token after the other, each named by its custodian), adopt the keys it
names by key ID or public key file, and stage 1.root.json and 1.targets.json
for signing. Lint warnings about the plan are printed first.

On a terminal, init asks for each token in turn. Without one (or with --yes),
every token URI must resolve: all tokens are opened before any key is made.`,
		Example: `  tuf-ceremony init --media /media/usb --plan ceremony.yaml
  tuf-ceremony init --media ./ws --plan plan.yaml --yes   # tokens and PIN files given in the plan`,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "media", "plan"); err != nil {
				return err
			}
			return runInit(c.Context(), f, opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&opts.media, "media", "", "workspace `DIR` on the removable medium")
	fl.StringVar(&opts.plan, "plan", "", "ceremony plan `FILE` (YAML)")
	fl.BoolVar(&opts.yes, "yes", false, "do not wait for tokens to be inserted; every token must be present")
	fl.BoolVar(&opts.forcePIN, "force-pin", false, "try PINs even on a token's final try")
	fl.StringVar(&opts.roots, "attestation-roots", "", "`PEM` file of the roots YubiKey attestations must chain to (default: Yubico's)")
	fl.BoolVar(&opts.json, "json", false, "print the result as JSON")
	return c
}

func runInit(ctx context.Context, f *factory, opts *initOptions) error {
	plan, err := ceremony.LoadPlan(opts.plan)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(opts.plan)
	if err != nil {
		return err
	}
	for _, w := range plan.Lint() {
		fmt.Fprintf(f.stderr, "warning: %s\n", w)
	}
	roots, err := attestationRoots(opts.roots)
	if err != nil {
		return err
	}
	ws, err := ceremony.OpenOrNewWorkspace(opts.media)
	if err != nil {
		return err
	}
	p := f.prompter(opts.yes, opts.json)
	res, err := ceremony.Init(f.withTouch(ctx), ws, p, ceremony.InitOptions{
		AttestationRoots: roots,
		Plan:             plan,
		PlanBytes:        data,
		Open:             f.openToken,
		Preflight:        opts.yes || !f.interactive(),
		ForcePIN:         opts.forcePIN,
	})
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(f.stdout, res)
	}
	for _, role := range plan.RoleNames() {
		fmt.Fprintf(f.stdout, "%s: %d of %d keys\n", role, plan.Role(role).Threshold, len(res.Keys[role]))
		for _, k := range res.Keys[role] {
			fmt.Fprintf(f.stdout, "  %s  %s  %s\n", k.KeyID, k.Key.Scheme, k.Custodian)
		}
	}
	for _, s := range res.Staged {
		fmt.Fprintf(f.stdout, "staged %s\n", s)
	}
	fmt.Fprintf(f.stdout, "next: each custodian signs with: tuf-ceremony sign --media %s --token URI\n", opts.media)
	return nil
}

// interactive reports whether a person can be asked on a terminal.
func (f *factory) interactive() bool {
	tty, err := f.openTTY()
	if err != nil {
		return false
	}
	defer tty.Close()
	return term.IsTerminal(int(tty.Fd()))
}
