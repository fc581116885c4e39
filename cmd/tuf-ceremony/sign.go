package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type signOptions struct {
	media    string
	token    string
	role     string
	yes      bool
	forcePIN bool
	json     bool
}

func newSignCmd(f *factory) *cobra.Command {
	opts := &signOptions{}
	c := &cobra.Command{
		Use:   "sign --media DIR --token URI",
		Short: "Sign staged metadata with the keys on a token",
		Long: `Find the staged metadata that needs a signature from a key on this token,
show what will be signed (the changes since the previous version and a
fingerprint of the exact bytes, to read aloud), ask for confirmation, then ask
for the PIN, sign, verify each signature, and write them all at once.

The token is identified and its keys matched against the staged files before
any PIN is asked: a wrong token is named, not tried.`,
		Example: `  tuf-ceremony sign --media /media/usb --token 'pkcs11:token=alice?module-path=/usr/lib/softhsm/libsofthsm2.so'
  tuf-ceremony sign --media ./ws --role targets --yes --token 'pkcs11:token=dave?pin-source=file:/run/dave.pin'`,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "media", "token"); err != nil {
				return err
			}
			return runSign(c.Context(), f, opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&opts.media, "media", "", "workspace `DIR`")
	fl.StringVar(&opts.token, "token", "", "token `URI`")
	fl.StringVar(&opts.role, "role", "", "sign only staged metadata of this `ROLE` (root or targets)")
	fl.BoolVar(&opts.yes, "yes", false, "sign without asking for confirmation (the review is still printed)")
	fl.BoolVar(&opts.forcePIN, "force-pin", false, "try the PIN even when the token reports its final try")
	fl.BoolVar(&opts.json, "json", false, "print what was signed as JSON")
	return c
}

func runSign(ctx context.Context, f *factory, opts *signOptions) error {
	ws, err := ceremony.OpenWorkspace(opts.media)
	if err != nil {
		return err
	}
	tok, pin, err := f.openToken(ctx, opts.token)
	if err != nil {
		return err
	}
	defer tok.Close()
	signed, err := ceremony.Sign(f.withTouch(ctx), ws, tok, f.prompter(opts.yes, false), ceremony.SignOptions{
		Role:   opts.role,
		Unlock: ceremony.UnlockOptions{PIN: pin, Force: opts.forcePIN},
	})
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(f.stdout, signed)
	}
	for _, s := range signed {
		who := s.Custodian
		if who == "" {
			who = ceremony.ShortID(s.KeyID)
		}
		fmt.Fprintf(f.stdout, "signed %s by %s (counts for %v)\n", s.File, who, s.Under)
	}
	return nil
}
