package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

type statusOptions struct {
	media     string
	available []string
	json      bool
}

func newStatusCmd(f *factory) *cobra.Command {
	opts := &statusOptions{}
	c := &cobra.Command{
		Use:   "status --media DIR",
		Short: "Show the signatures and thresholds of staged metadata",
		Example: `  tuf-ceremony status --media /media/usb
  tuf-ceremony status --media ./ws --json`,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "media"); err != nil {
				return err
			}
			return runStatus(c.Context(), f, opts)
		},
	}
	c.Flags().StringVar(&opts.media, "media", "", "workspace `DIR`")
	c.Flags().StringSliceVar(&opts.available, "available", nil, "custodians present: say whether a staged root can be completed with them (`NAME,…`)")
	c.Flags().BoolVar(&opts.json, "json", false, "print JSON")
	return c
}

func runStatus(_ context.Context, f *factory, opts *statusOptions) error {
	ws, err := ceremony.OpenWorkspace(opts.media)
	if err != nil {
		return err
	}
	st, err := ceremony.Status(ws)
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(f.stdout, st)
	}
	if len(st) == 0 {
		fmt.Fprintln(f.stdout, "nothing staged")
		return nil
	}
	for _, s := range st {
		printStatus(f.stdout, s, time.Now())
	}
	for _, s := range st {
		if s.Role == "root" && (s.Version > 1 || len(opts.available) > 0) {
			a, err := ceremony.AnalyzeRotation(ws, opts.available, time.Now())
			if err != nil {
				return err
			}
			printAnalysis(f.stdout, a)
		}
	}
	return nil
}

func printStatus(w io.Writer, s ceremony.ProposalStatus, now time.Time) {
	ready := "not ready"
	switch {
	case s.Expired:
		ready = "EXPIRED: propose a new version"
	case s.Ready:
		ready = "ready to publish"
	}
	days := int(s.Expires.Sub(now).Hours() / 24)
	fmt.Fprintf(w, "%s  %s v%d  expires %s (%d days)  %s\n", s.File, s.Role, s.Version, s.Expires.UTC().Format("2006-01-02"), days, ready)
	for _, r := range s.Requirements {
		mark := "✗"
		if r.Met && len(r.Invalid) == 0 {
			mark = "✓"
		}
		fmt.Fprintf(w, "  %s: %d/%d %s", r.Name, len(r.Signed), r.Threshold, mark)
		if len(r.Signed) > 0 {
			fmt.Fprintf(w, "  signed: %s", ceremony.SignerNames(r.Signed))
		}
		if len(r.Invalid) > 0 {
			fmt.Fprintf(w, "  INVALID signature: %s", ceremony.SignerNames(r.Invalid))
		}
		if !r.Met {
			fmt.Fprintf(w, "  can still sign: %s", ceremony.SignerNames(r.CanStillSign))
		}
		fmt.Fprintln(w)
	}
}
