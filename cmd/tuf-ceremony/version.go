package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type versionOptions struct{ json bool }

func newVersionCmd(f *factory) *cobra.Command {
	opts := &versionOptions{}
	c := &cobra.Command{
		Use:   "version",
		Short: "Say exactly which binary this is",
		Long: `Print the version, the Go version and, with --json, the build settings and
every module dependency with its checksum. The same is recorded in the
transcript at the start of every session that changes a workspace, so a
ceremony record says exactly which binary ran.`,
		Example: `  tuf-ceremony version
  tuf-ceremony version --json`,
		RunE: func(c *cobra.Command, _ []string) error { return runVersion(c.Context(), f, opts) },
	}
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return c
}

func runVersion(_ context.Context, f *factory, opts *versionOptions) error {
	b := ceremony.ReadBuildInfo(version)
	if opts.json {
		return writeJSON(f.stdout, b)
	}
	fmt.Fprintf(f.stdout, "tuf-ceremony %s (%s, %d modules)\n", b.Version, b.GoVersion, len(b.Deps))
	return nil
}
