package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type verifyOptions struct {
	dir        string
	rootSHA256 string
	at         string
	roots      string
	json       bool
}

// errVerifyFailed makes verify exit non-zero after printing its report.
var errVerifyFailed = errors.New("verification failed")

func newVerifyCmd(f *factory) *cobra.Command {
	opts := &verifyOptions{}
	c := &cobra.Command{
		Use:   "verify DIR",
		Short: "Verify a published repository as a TUF client would",
		Long: `Walk the root chain from 1.root.json (or from the root pinned with
--root-sha256) through every version, check targets against the newest root,
expiries as of --at (default: now), and in a workspace SHA256SUMS and the
transcript's hash chain. Prints the roles, keys with custodians and evidence,
thresholds and expiries, and every problem found. Exits 0 only when all hold.

DIR is a workspace or a plain directory of N.root.json files.`,
		Example: `  tuf-ceremony verify /media/usb
  tuf-ceremony verify ./metadata --root-sha256 3f1a… --at 2027-01-01T00:00:00Z --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.dir = args[0]
			return runVerify(c.Context(), f, opts)
		},
	}
	c.Flags().StringVar(&opts.rootSHA256, "root-sha256", "", "trust the root file with this SHA-256 `HEX` and walk from it")
	c.Flags().StringVar(&opts.at, "at", "", "judge expiries at this `RFC3339` time instead of now")
	c.Flags().StringVar(&opts.roots, "attestation-roots", "", "`PEM` file of the roots YubiKey attestations must chain to (default: Yubico's)")
	c.Flags().BoolVar(&opts.json, "json", false, "print the report as JSON")
	return c
}

func runVerify(_ context.Context, f *factory, opts *verifyOptions) error {
	at := time.Now()
	if opts.at != "" {
		t, err := time.Parse(time.RFC3339, opts.at)
		if err != nil {
			return &usageError{cmd: "tuf-ceremony verify", err: fmt.Errorf("--at %q is not an RFC 3339 time such as 2027-01-01T00:00:00Z", opts.at)}
		}
		at = t
	}
	roots, err := attestationRoots(opts.roots)
	if err != nil {
		return err
	}
	rep, err := ceremony.Verify(opts.dir, ceremony.VerifyOptions{RootSHA256: opts.rootSHA256, At: at, AttestationRoots: roots})
	if err != nil {
		return err
	}
	if opts.json {
		if err := writeJSON(f.stdout, rep); err != nil {
			return err
		}
	} else {
		printVerifyReport(f.stdout, rep)
	}
	if !rep.OK() {
		return fmt.Errorf("%w: %d problem(s)", errVerifyFailed, len(rep.Problems))
	}
	return nil
}

func printVerifyReport(w io.Writer, rep *ceremony.VerifyReport) {
	fmt.Fprintf(w, "%s (%s), as of %s\n", rep.Dir, rep.Kind, rep.At.Format(time.RFC3339))
	if len(rep.Roots) > 0 {
		fmt.Fprintf(w, "root chain: v%d → v%d verified (%d files)\n", rep.Roots[0].Version, rep.Roots[len(rep.Roots)-1].Version, len(rep.Roots))
	}
	if rep.Targets != nil {
		fmt.Fprintf(w, "targets: %s verified against the newest root\n", rep.Targets.File)
	}
	for _, d := range rep.Delegated {
		fmt.Fprintf(w, "delegated: %s verified against targets, expires %s\n", d.File, d.Expires.UTC().Format("2006-01-02"))
	}
	for _, r := range rep.Roles {
		exp := ""
		if r.Expires != nil {
			exp = fmt.Sprintf("  v%d, expires %s (%d days left)", r.Version, r.Expires.UTC().Format("2006-01-02"), *r.DaysLeft)
		}
		fmt.Fprintf(w, "\n%s: %d of %d%s\n", r.Role, r.Threshold, len(r.Keys), exp)
		for _, k := range r.Keys {
			who := k.Custodian
			if who == "" {
				who = "(unknown custodian)"
			}
			fmt.Fprintf(w, "  %s  %s\n    keyid %s\n    %s\n", who, k.Scheme, k.KeyID, k.Evidence)
		}
	}
	fmt.Fprintf(w, "\nSHA256SUMS: %s\ntranscript: %s\n", rep.Sums, rep.Transcript)
	if len(rep.Notes) > 0 {
		fmt.Fprintf(w, "\nnotes:\n  %s\n", strings.Join(rep.Notes, "\n  "))
	}
	if rep.OK() {
		fmt.Fprintln(w, "\nOK: no problem found")
		return
	}
	fmt.Fprintf(w, "\n%d problem(s):\n  %s\n", len(rep.Problems), strings.Join(rep.Problems, "\n  "))
}
