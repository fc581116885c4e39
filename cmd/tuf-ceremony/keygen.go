package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

type keygenOptions struct {
	media              string
	token              string
	custodian          string
	algorithm          string
	alwaysAuthenticate bool
	forcePIN           bool
	attestationRoots   string
	json               bool
}

func newKeygenCmd(f *factory) *cobra.Command {
	opts := &keygenOptions{}
	c := &cobra.Command{
		Use:   "keygen --media DIR --token URI --custodian NAME",
		Short: "Generate a key on a token and record it in the workspace",
		Long: `Generate a key pair on a token, where it is created non-extractable and stays.
The public key, the custodian, the token's identity and the evidence the token
gives about the key (CKA_LOCAL, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE) are
written to DIR/keys/<keyid>.json, and the event to DIR/transcript.jsonl.
DIR is created as a workspace if needed.

The PIN is asked on the terminal, after the token has been identified and its
PIN state read, unless the URI carries pin-source=file:PATH. A token reporting
its final PIN try is not tried unless --force-pin is given.

The key's label on the token comes from object= in the URI, or is
tuf-<custodian>-<random>. Nothing is left behind on a failure: a key whose
record cannot be written is deleted from the token again.`,
		Example: `  tuf-ceremony keygen --media /media/usb --custodian alice \
    --token 'pkcs11:token=alice?module-path=/usr/lib/softhsm/libsofthsm2.so'
  tuf-ceremony keygen --media ./ws --custodian bob --algorithm ed25519 \
    --token 'pkcs11:token=bob;object=root-bob?module-name=softhsm2&pin-source=file:/run/bob.pin' --json`,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "media", "token", "custodian"); err != nil {
				return err
			}
			return runKeygen(c.Context(), f, opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&opts.media, "media", "", "workspace `DIR` on the removable medium")
	fl.StringVar(&opts.token, "token", "", "token `URI` (pkcs11:…)")
	fl.StringVar(&opts.custodian, "custodian", "", "`NAME` of the custodian who holds the token")
	fl.StringVar(&opts.algorithm, "algorithm", string(hsm.ECDSAP256), "ecdsa-p256, ecdsa-p384, ed25519 or rsa-3072")
	fl.BoolVar(&opts.alwaysAuthenticate, "always-authenticate", false, "require the PIN for every signature (CKA_ALWAYS_AUTHENTICATE)")
	fl.BoolVar(&opts.forcePIN, "force-pin", false, "try the PIN even when the token reports its final try")
	fl.StringVar(&opts.attestationRoots, "attestation-roots", "", "`PEM` file of the roots a YubiKey attestation must chain to (default: Yubico's)")
	fl.BoolVar(&opts.json, "json", false, "print the key record as JSON")
	return c
}

func runKeygen(ctx context.Context, f *factory, opts *keygenOptions) error {
	alg, err := hsm.ParseAlgorithm(opts.algorithm)
	if err != nil {
		return err
	}
	if err := ceremony.ValidateCustodian(opts.custodian); err != nil {
		return err
	}
	roots, err := attestationRoots(opts.attestationRoots)
	if err != nil {
		return err
	}
	// The medium is checked before the token is touched, so that a key is
	// never generated that cannot be recorded.
	ws, err := ceremony.OpenOrNewWorkspace(opts.media)
	if err != nil {
		return err
	}
	tok, pin, err := f.openToken(ctx, opts.token)
	if err != nil {
		return err
	}
	defer tok.Close()
	rec, err := ceremony.Keygen(f.withTouch(ctx), ws, tok, f.prompter(false, opts.json), ceremony.KeygenOptions{
		Custodian:          opts.custodian,
		Algorithm:          alg,
		AlwaysAuthenticate: opts.alwaysAuthenticate,
		AttestationRoots:   roots,
		Unlock:             ceremony.UnlockOptions{PIN: pin, Force: opts.forcePIN},
	})
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(f.stdout, rec)
	}
	fmt.Fprintf(f.stdout, "generated %s key for %s\n", rec.Algorithm, rec.Custodian)
	fmt.Fprintf(f.stdout, "  key ID:   %s\n", rec.KeyID)
	fmt.Fprintf(f.stdout, "  scheme:   %s\n", rec.Key.Scheme)
	fmt.Fprintf(f.stdout, "  token:    %s\n", rec.Token)
	fmt.Fprintf(f.stdout, "  label:    %s\n", rec.Object.Label)
	fmt.Fprintf(f.stdout, "  evidence: %s\n", evidenceSummary(rec.Evidence))
	fmt.Fprintf(f.stdout, "  record:   %s\n", ws.Path(ceremony.KeyRecordPath(rec.KeyID)))
	return nil
}

func evidenceSummary(ev *hsm.Evidence) string {
	if ev == nil {
		return "none"
	}
	if a := ev.Attestation; a != nil {
		return fmt.Sprintf("attested YubiKey serial %s, firmware %s, slot %s, PIN policy %s, touch policy %s", a.Serial, a.Firmware, a.Slot, a.PINPolicy, a.TouchPolicy)
	}
	s := ""
	for _, name := range []string{"CKA_LOCAL", "CKA_NEVER_EXTRACTABLE", "CKA_ALWAYS_SENSITIVE"} {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s=%t", name, ev.Attributes[name])
	}
	return s
}
