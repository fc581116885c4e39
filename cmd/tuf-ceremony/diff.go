package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type diffOptions struct {
	oldFile string
	newFile string
	json    bool
}

func newDiffCmd(f *factory) *cobra.Command {
	opts := &diffOptions{}
	c := &cobra.Command{
		Use:   "diff OLD.json NEW.json",
		Short: "Show what changes between two versions of root or targets metadata",
		Long: `Compare two versions of TUF root or targets metadata (delegated targets
included) and list what changes, one line per change: the review a custodian
sees before signing.

  + an addition    - a removal    ~ a change, old → new

Root: version, spec_version, expires, consistent_snapshot, keys (with their
scheme and custodian), each role's threshold and key IDs, roles. Targets:
version, spec_version, expires, target files (length, hashes, custom),
delegations (keys, roles, their key IDs, threshold, paths, path_hash_prefixes,
terminating, succinct roles). Fields that TUF does not define (such as
x-tuf-on-ci-keyowner) are compared too. Signatures are not: they are not part
of what is signed.

Key IDs are shown in full, as the files list them. A key's custodian comes from
its x-tuf-on-ci-keyowner field when it has one. Text that could disturb the
terminal (newlines, escape sequences) is shown quoted.

The exit status is 0 whether or not there are differences ("no differences"
is printed when there are none), and non-zero only when a file cannot be read
or compared.`,
		Example: `  tuf-ceremony diff /media/usb/metadata/1.root.json /media/usb/staged/2.root.json
  tuf-ceremony diff metadata/3.targets.json metadata/4.targets.json --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			opts.oldFile, opts.newFile = args[0], args[1]
			return runDiff(c.Context(), f, opts)
		},
	}
	c.Flags().BoolVar(&opts.json, "json", false, `print {"type": …, "changes": [{"kind", "field", "old", "new", "note"}…]}`)
	return c
}

// diffResult is what --json prints.
type diffResult struct {
	Type    string            `json:"type"`
	Changes []ceremony.Change `json:"changes"`
}

func runDiff(_ context.Context, f *factory, opts *diffOptions) error {
	oldJSON, err := readDiffFile(opts.oldFile)
	if err != nil {
		return err
	}
	newJSON, err := readDiffFile(opts.newFile)
	if err != nil {
		return err
	}
	changes, err := ceremony.DiffFiles(oldJSON, newJSON, nil)
	if err != nil {
		return diffFailure(opts, err)
	}
	if opts.json {
		typ, _ := ceremony.MetadataType(newJSON) // DiffFiles has checked it
		if changes == nil {
			changes = []ceremony.Change{}
		}
		return writeJSON(f.stdout, diffResult{Type: typ, Changes: changes})
	}
	ceremony.FormatChanges(f.stdout, changes)
	return nil
}

// readDiffFile reads one of the files to compare. An empty file would
// read as "no previous version": it is refused here instead.
func readDiffFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &diffError{
			err:   fmt.Errorf("failed to read metadata: %w", err),
			hints: []string{"give the paths of two metadata files, e.g. tuf-ceremony diff metadata/1.root.json staged/2.root.json"},
		}
	}
	if len(data) == 0 {
		return nil, &diffError{
			err:   fmt.Errorf("%s: %w: the file is empty", path, ceremony.ErrInvalidMetadata),
			hints: []string{"diff compares TUF metadata files as TUF clients download them: JSON with \"signed\" and \"signatures\""},
		}
	}
	return data, nil
}

// diffFailure names the file a DiffFiles error is about and says what to
// do next.
func diffFailure(opts *diffOptions, err error) error {
	var inputErr *ceremony.DiffInputError
	if errors.As(err, &inputErr) {
		path := opts.oldFile
		if inputErr.Which == "new" {
			path = opts.newFile
		}
		err = fmt.Errorf("%s: %w", path, inputErr.Err)
	}
	var hints []string
	switch {
	case errors.Is(err, ceremony.ErrInvalidMetadata):
		hints = []string{"diff compares TUF metadata files as TUF clients download them: JSON with \"signed\" and \"signatures\""}
	case errors.Is(err, ceremony.ErrMetadataTypeMismatch):
		hints = []string{"compare two versions of the same role, e.g. metadata/1.root.json and staged/2.root.json"}
	case errors.Is(err, ceremony.ErrUnsupportedMetadataType):
		hints = []string{"snapshot and timestamp metadata are made and signed online; compare root or targets files"}
	}
	return &diffError{err: err, hints: hints}
}

// diffError carries the hints of a diff failure; hintsFor shows them.
type diffError struct {
	err   error
	hints []string
}

func (e *diffError) Error() string   { return e.err.Error() }
func (e *diffError) Unwrap() error   { return e.err }
func (e *diffError) Hints() []string { return e.hints }
