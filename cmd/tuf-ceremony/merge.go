package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type mergeOptions struct {
	media  string
	others []string
	json   bool
}

func newMergeCmd(f *factory) *cobra.Command {
	opts := &mergeOptions{}
	c := &cobra.Command{
		Use:   "merge --media DIR OTHER_MEDIA...",
		Short: "Combine signatures collected on other copies of the workspace",
		Long: `Copy into DIR the signatures that other copies of the workspace hold for the
same staged files: copies carried to remote custodians, who signed there. The
signed content must be identical; if it differs, nothing is merged and the
difference is shown. Only signatures that verify, by keys the proposal asks
for, are copied. The other media are only read.`,
		Example: `  tuf-ceremony merge --media /media/usb /media/usb-from-berlin /media/usb-from-tokyo`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := requireFlags(c, "media"); err != nil {
				return err
			}
			opts.others = args
			return runMerge(c.Context(), f, opts)
		},
	}
	c.Flags().StringVar(&opts.media, "media", "", "workspace `DIR` to merge into")
	c.Flags().BoolVar(&opts.json, "json", false, "print the result as JSON")
	return c
}

func runMerge(_ context.Context, f *factory, opts *mergeOptions) error {
	ws, err := ceremony.OpenWorkspace(opts.media)
	if err != nil {
		return err
	}
	res, err := ceremony.Merge(ws, opts.others)
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(f.stdout, res)
	}
	for _, m := range res.Merged {
		who := m.Custodian
		if who == "" {
			who = ceremony.ShortID(m.KeyID)
		}
		fmt.Fprintf(f.stdout, "merged the signature of %s on %s from %s\n", who, m.File, m.From)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(f.stdout, "skipped %s\n", s)
	}
	if len(res.Merged) == 0 {
		fmt.Fprintln(f.stdout, "no new signature to merge")
	}
	return nil
}
