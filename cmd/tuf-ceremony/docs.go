package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

type docsOptions struct{ dir string }

// newDocsCmd writes man pages and shell completions, for packaging; it is
// hidden from the help.
func newDocsCmd(f *factory) *cobra.Command {
	opts := &docsOptions{}
	c := &cobra.Command{
		Use:    "gen-docs --dir DIR",
		Short:  "Write man pages (DIR/man1) and shell completions (DIR/completion)",
		Hidden: true,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "dir"); err != nil {
				return err
			}
			return runDocs(c.Context(), f, c.Root(), opts)
		},
	}
	c.Flags().StringVar(&opts.dir, "dir", "", "output `DIR`")
	return c
}

func runDocs(_ context.Context, f *factory, root *cobra.Command, opts *docsOptions) error {
	man := filepath.Join(opts.dir, "man1")
	comp := filepath.Join(opts.dir, "completion")
	for _, d := range []string{man, comp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	root.DisableAutoGenTag = true
	header := &doc.GenManHeader{Title: "TUF-CEREMONY", Section: "1", Source: "tuf-ceremony " + version}
	if err := doc.GenManTree(root, header, man); err != nil {
		return fmt.Errorf("failed to write man pages: %w", err)
	}
	for name, gen := range map[string]func(string) error{
		"tuf-ceremony.bash": func(p string) error { return root.GenBashCompletionFileV2(p, true) },
		"_tuf-ceremony":     root.GenZshCompletionFile,
		"tuf-ceremony.fish": func(p string) error { return root.GenFishCompletionFile(p, true) },
	} {
		if err := gen(filepath.Join(comp, name)); err != nil {
			return fmt.Errorf("failed to write %s: %w", name, err)
		}
	}
	fmt.Fprintf(f.stdout, "man pages in %s, completions in %s\n", man, comp)
	return nil
}
