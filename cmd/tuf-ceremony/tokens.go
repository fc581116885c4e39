package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
)

type tokensOptions struct {
	modules []string
	json    bool
}

func newTokensCmd(f *factory) *cobra.Command {
	opts := &tokensOptions{}
	c := &cobra.Command{
		Use:   "tokens",
		Short: "List tokens and the keys on them",
		Long: `List the initialized tokens of the PKCS#11 modules, with each key's label,
algorithm and TUF key ID. No PIN is asked: public keys are readable without one.

Without --module, the well-known modules present on this machine are used
(SoftHSM2, ykcs11, YubiHSM).`,
		Example: `  tuf-ceremony tokens
  tuf-ceremony tokens --module /usr/lib/softhsm/libsofthsm2.so --json`,
		RunE: func(c *cobra.Command, _ []string) error {
			return runTokens(c.Context(), f, opts)
		},
	}
	c.Flags().StringArrayVar(&opts.modules, "module", nil, "PKCS#11 module `PATH` (repeatable)")
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return c
}

func runTokens(ctx context.Context, f *factory, opts *tokensOptions) error {
	modules := opts.modules
	if len(modules) == 0 {
		modules = pkcs11.DefaultModules()
	}
	listing, notes, err := ceremony.ListTokens(ctx, f.backends(), modules)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintf(f.stderr, "note: %s\n", n)
	}
	if opts.json {
		if listing == nil {
			listing = []ceremony.TokenListing{}
		}
		return writeJSON(f.stdout, listing)
	}
	if len(listing) == 0 {
		fmt.Fprintf(f.stdout, "no initialized token found (modules: %v)\n", modules)
		fmt.Fprintln(f.stdout, "hint: insert a token, or create SoftHSM tokens with scripts/softhsm-tokens.sh and set SOFTHSM2_CONF")
		return nil
	}
	for i, l := range listing {
		if i > 0 {
			fmt.Fprintln(f.stdout)
		}
		printTokenListing(f.stdout, l)
	}
	return nil
}

func printTokenListing(w io.Writer, l ceremony.TokenListing) {
	t := l.Token
	fmt.Fprintf(w, "%s\n", t.Label)
	fmt.Fprintf(w, "  %s %s, serial %s, firmware %s\n", t.Manufacturer, t.Model, t.Serial, t.Firmware)
	fmt.Fprintf(w, "  uri: %s\n", t.URI)
	if l.PIN != nil {
		fmt.Fprintf(w, "  PIN: %s\n", l.PIN)
	}
	if l.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", l.Error)
		return
	}
	if len(l.Keys) == 0 {
		fmt.Fprintln(w, "  no keys")
		return
	}
	for _, k := range l.Keys {
		fmt.Fprintf(w, "  key %s  %s  keyid %s\n", k.Label, k.Algorithm, k.KeyID)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
