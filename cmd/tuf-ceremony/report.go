package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type reportOptions struct {
	media  string
	output string
	roots  string
}

func newReportCmd(f *factory) *cobra.Command {
	opts := &reportOptions{}
	c := &cobra.Command{
		Use:   "report --media DIR",
		Short: "Write a printable ceremony record (Markdown)",
		Long: `Write a Markdown record of the ceremony to print and sign: participants,
tokens by serial, keys and their evidence, published files with SHA-256, the
verification result, the transcript and its final hash, and lines for
witnesses. Printed to stdout, or written to --output.`,
		Example: `  tuf-ceremony report --media /media/usb > ceremony-record.md
  tuf-ceremony report --media /media/usb --output /media/usb-2/record.md`,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "media"); err != nil {
				return err
			}
			return runReport(c.Context(), f, opts)
		},
	}
	c.Flags().StringVar(&opts.media, "media", "", "workspace `DIR`")
	c.Flags().StringVarP(&opts.output, "output", "o", "", "write to `FILE` instead of stdout")
	c.Flags().StringVar(&opts.roots, "attestation-roots", "", "`PEM` file of the roots YubiKey attestations must chain to (default: Yubico's)")
	return c
}

func runReport(_ context.Context, f *factory, opts *reportOptions) error {
	ws, err := ceremony.OpenWorkspace(opts.media)
	if err != nil {
		return err
	}
	roots, err := attestationRoots(opts.roots)
	if err != nil {
		return err
	}
	if opts.output == "" {
		return ceremony.Report(f.stdout, ws, time.Now(), roots)
	}
	tmp, err := os.CreateTemp(filepath.Dir(opts.output), ".report-*")
	if err != nil {
		return fmt.Errorf("failed to write the report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := ceremony.Report(tmp, ws, time.Now(), roots); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), opts.output); err != nil {
		return fmt.Errorf("failed to write the report: %w", err)
	}
	fmt.Fprintf(f.stderr, "report written to %s\n", opts.output)
	return nil
}
