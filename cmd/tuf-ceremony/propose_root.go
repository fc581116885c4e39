package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type proposeRootOptions struct {
	media       string
	add         []string
	revoke      []string
	compromised bool
	thresholds  []string
	expires     []string
	available   []string
	json        bool
}

var keyIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

func newProposeRootCmd(f *factory) *cobra.Command {
	opts := &proposeRootOptions{}
	c := &cobra.Command{
		Use:   "root --media DIR",
		Short: "Stage the next root: rotate, revoke, change thresholds, or renew",
		Long: `Stage root N+1 from the newest published root N, unsigned, and show the
changes. With no change but --expires it is a renewal.

Root N+1 must be signed by the threshold of root N's root keys and by the
threshold of its own: the analysis printed after the proposal says whether the
custodians present (--available) can reach both, and if not, what the options
are. For an emergency, name the compromised keys with --revoke-key and add
--compromised: the analysis then says whose signatures remain usable.

Fields the tool does not know are kept byte for byte.`,
		Example: `  # planned rotation: erin replaces alice
  tuf-ceremony propose root --media /media/usb --add-key root=3f1a…(64 hex) --revoke-key 9c02…
  # emergency: bob's key is compromised; alice and carol are here
  tuf-ceremony propose root --media /media/usb --revoke-key 9c02… --compromised \
    --threshold root=1 --expires root=30d --available alice,carol
  # renewal
  tuf-ceremony propose root --media /media/usb --expires root=365d`,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "media"); err != nil {
				return err
			}
			return runProposeRoot(c.Context(), f, opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&opts.media, "media", "", "workspace `DIR`")
	fl.StringArrayVar(&opts.add, "add-key", nil, "add a key to a role: `ROLE=KEYID` (from keys/) or ROLE=PEMFILE (an online key); repeatable")
	fl.StringArrayVar(&opts.revoke, "revoke-key", nil, "remove the key `KEYID` from every role; repeatable")
	fl.BoolVar(&opts.compromised, "compromised", false, "the revoked keys are compromised (emergency rotation)")
	fl.StringArrayVar(&opts.thresholds, "threshold", nil, "set a role's threshold: `ROLE=N`; repeatable")
	fl.StringArrayVar(&opts.expires, "expires", nil, "validity of the new root: `root=DURATION`, e.g. root=365d")
	fl.StringSliceVar(&opts.available, "available", nil, "custodians present, for the analysis: `NAME,…` (default: everyone)")
	fl.BoolVar(&opts.json, "json", false, "print the proposal and its analysis as JSON")
	return c
}

func runProposeRoot(_ context.Context, f *factory, opts *proposeRootOptions) error {
	usage := func(format string, args ...any) error {
		return &usageError{cmd: "tuf-ceremony propose root", err: fmt.Errorf(format, args...)}
	}
	change := ceremony.RootChange{Revoke: opts.revoke, Compromised: opts.compromised, Thresholds: map[string]int{}}
	if opts.compromised && len(opts.revoke) == 0 {
		return usage("--compromised needs the compromised keys named with --revoke-key")
	}
	for _, id := range opts.revoke {
		if !keyIDPattern.MatchString(id) {
			return usage("--revoke-key %q: give the full key ID (64 hex digits; tuf-ceremony verify lists them)", id)
		}
	}
	for _, a := range opts.add {
		role, val, ok := strings.Cut(a, "=")
		if !ok || role == "" || val == "" {
			return usage("--add-key %q: write ROLE=KEYID or ROLE=PEMFILE", a)
		}
		if keyIDPattern.MatchString(val) {
			change.Add = append(change.Add, ceremony.RoleKey{Role: role, KeyID: val})
		} else {
			change.Add = append(change.Add, ceremony.RoleKey{Role: role, PEMFile: val})
		}
	}
	for _, t := range opts.thresholds {
		role, val, ok := strings.Cut(t, "=")
		n, err := strconv.Atoi(val)
		if !ok || err != nil || n < 1 {
			return usage("--threshold %q: write ROLE=N with N at least 1", t)
		}
		change.Thresholds[role] = n
	}
	for _, e := range opts.expires {
		role, val, ok := strings.Cut(e, "=")
		if !ok || role != "root" {
			return usage("--expires %q: a root proposal sets root=DURATION; targets expiries are set by propose targets", e)
		}
		d, err := ceremony.ParseDuration(val)
		if err != nil {
			return usage("--expires %q: %v", e, err)
		}
		change.Expires = d
	}
	ws, err := ceremony.OpenWorkspace(opts.media)
	if err != nil {
		return err
	}
	prop, err := ceremony.ProposeRoot(ws, change)
	if err != nil {
		return err
	}
	analysis, err := ceremony.AnalyzeRotation(ws, opts.available, time.Now())
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(f.stdout, map[string]any{"proposal": prop, "analysis": analysis})
	}
	fmt.Fprintf(f.stdout, "staged %s\n", prop.File)
	ceremony.FormatChanges(f.stdout, prop.Changes)
	printAnalysis(f.stdout, analysis)
	return nil
}

func printAnalysis(w io.Writer, a *ceremony.RotationAnalysis) {
	fmt.Fprintf(w, "\nwho must sign %s:\n", a.File)
	for _, r := range a.Requirements {
		mark := "reachable"
		if !r.Reachable {
			mark = "NOT reachable"
		}
		fmt.Fprintf(w, "  %s: %d needed, %s; signed: %s; can sign: %s", r.Name, r.Threshold, mark, ceremony.SignerNames(r.Signed), ceremony.SignerNames(r.Usable))
		if len(r.Unusable) > 0 {
			fmt.Fprintf(w, "; absent: %s", ceremony.SignerNames(r.Unusable))
		}
		if len(r.Tainted) > 0 {
			fmt.Fprintf(w, "; compromised: %s", ceremony.SignerNames(r.Tainted))
		}
		fmt.Fprintln(w)
	}
	for _, warn := range a.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if !a.Feasible {
		fmt.Fprintln(w, "this proposal cannot be completed with the custodians present. Options:")
		for _, o := range a.Options {
			fmt.Fprintf(w, "  - %s\n", o)
		}
	}
}
