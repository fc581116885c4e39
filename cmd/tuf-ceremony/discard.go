package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type discardOptions struct {
	media string
	files []string
	yes   bool
}

func newDiscardCmd(f *factory) *cobra.Command {
	opts := &discardOptions{}
	c := &cobra.Command{
		Use:   "discard --media DIR STAGED_FILE...",
		Short: "Remove a staged proposal (its signatures go with it)",
		Long: `Remove staged proposals from the workspace: one that was changed after it
was signed, or one that will not be completed. The transcript records what was
discarded and its SHA-256. Published metadata is never touched.`,
		Example: `  tuf-ceremony discard --media /media/usb staged/2.root.json
  tuf-ceremony discard --media /media/usb 3.targets.json --yes`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := requireFlags(c, "media"); err != nil {
				return err
			}
			opts.files = args
			return runDiscard(c.Context(), f, opts)
		},
	}
	c.Flags().StringVar(&opts.media, "media", "", "workspace `DIR`")
	c.Flags().BoolVar(&opts.yes, "yes", false, "do not ask for confirmation")
	return c
}

func runDiscard(ctx context.Context, f *factory, opts *discardOptions) error {
	ws, err := ceremony.OpenWorkspace(opts.media)
	if err != nil {
		return err
	}
	ok, err := f.prompter(opts.yes, false).Confirm(ctx, fmt.Sprintf("discard %v and the signatures on it?", opts.files))
	if err != nil {
		return err
	}
	if !ok {
		return errAborted
	}
	removed, err := ceremony.Discard(ws, opts.files)
	if err != nil {
		return err
	}
	for _, r := range removed {
		fmt.Fprintf(f.stdout, "discarded %s\n", r)
	}
	return nil
}
