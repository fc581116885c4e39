package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type publishOptions struct {
	media string
	json  bool
}

func newPublishCmd(f *factory) *cobra.Command {
	opts := &publishOptions{}
	c := &cobra.Command{
		Use:   "publish --media DIR",
		Short: "Move fully signed metadata from staged/ to metadata/",
		Long: `Publish every staged file, all or nothing, once the rules a TUF client
applies hold: each root signed by the threshold of the previous root and of
its own, targets signed by the threshold of the newest root's targets role,
versions one above the published ones, expiries in the future. Otherwise
nothing is written and every problem is listed.

metadata/ can then be served as-is to TUF clients (after adding snapshot and
timestamp with the online keys).`,
		Example: `  tuf-ceremony publish --media /media/usb`,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "media"); err != nil {
				return err
			}
			return runPublish(c.Context(), f, opts)
		},
	}
	c.Flags().StringVar(&opts.media, "media", "", "workspace `DIR`")
	c.Flags().BoolVar(&opts.json, "json", false, "print the published files as JSON")
	return c
}

func runPublish(_ context.Context, f *factory, opts *publishOptions) error {
	ws, err := ceremony.OpenWorkspace(opts.media)
	if err != nil {
		return err
	}
	files, err := ceremony.Publish(ws, time.Now())
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(f.stdout, files)
	}
	for _, p := range files {
		fmt.Fprintf(f.stdout, "published %s  sha256 %s\n", p.File, p.SHA256)
	}
	return nil
}
