package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type importOptions struct {
	media  string
	source string
	at     string
	json   bool
}

func newImportCmd(f *factory) *cobra.Command {
	opts := &importOptions{}
	c := &cobra.Command{
		Use:   "import --media DIR SOURCE",
		Short: "Adopt an existing repository's metadata into a new workspace",
		Long: `Verify an existing repository as verify does, then copy its roots (from
1.root.json) and its targets, byte for byte, into DIR/metadata/, and record the
keys of its newest root in DIR/keys/ with their custodians (x-tuf-on-ci-keyowner).
Later proposals keep every field the tool does not know, byte for byte.

SOURCE is a directory of N.root.json files (with targets.json or V.targets.json),
or a tuf-on-ci repository (metadata/root_history/). A repository that does not
verify is refused; --at judges expiries at another time, e.g. to rehearse with
a snapshot of a repository that has since expired.`,
		Example: `  tuf-ceremony import --media /media/usb ~/src/root-signing
  tuf-ceremony import --media ./ws ./metadata --at 2026-11-01T00:00:00Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := requireFlags(c, "media"); err != nil {
				return err
			}
			opts.source = args[0]
			return runImport(c.Context(), f, opts)
		},
	}
	c.Flags().StringVar(&opts.media, "media", "", "workspace `DIR` to create")
	c.Flags().StringVar(&opts.at, "at", "", "judge expiries at this `RFC3339` time instead of now")
	c.Flags().BoolVar(&opts.json, "json", false, "print the result as JSON")
	return c
}

func runImport(_ context.Context, f *factory, opts *importOptions) error {
	var at time.Time
	if opts.at != "" {
		t, err := time.Parse(time.RFC3339, opts.at)
		if err != nil {
			return &usageError{cmd: "tuf-ceremony import", err: fmt.Errorf("--at %q is not an RFC 3339 time such as 2027-01-01T00:00:00Z", opts.at)}
		}
		at = t
	}
	ws, err := ceremony.OpenOrNewWorkspace(opts.media)
	if err != nil {
		return err
	}
	res, err := ceremony.Import(ws, opts.source, ceremony.ImportOptions{At: at})
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(f.stdout, res)
	}
	fmt.Fprintf(f.stdout, "imported root v%d → v%d", res.Roots[0].Version, res.Roots[len(res.Roots)-1].Version)
	if res.Targets != nil {
		fmt.Fprintf(f.stdout, " and targets v%d", res.Targets.Version)
	}
	fmt.Fprintf(f.stdout, "; %d keys recorded in keys/\n", len(res.Keys))
	for _, n := range res.Notes {
		fmt.Fprintf(f.stdout, "note: %s\n", n)
	}
	return nil
}
