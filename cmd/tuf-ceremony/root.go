package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

// Exit codes. Scripts branch on them.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitTimeout = 124
	exitAborted = 130
)

// version is set at release time with -ldflags; "dev" otherwise.
var version = "dev"

// Main runs the command line and returns the exit code; only main exits.
func Main() int {
	// SIGHUP too: a terminal closed under the TUI stops it as ctrl+c
	// does, and what a rehearsal set up is removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	f := newFactory(os.Stdin, os.Stdout, os.Stderr)
	ceremony.SetSession(ceremony.ReadBuildInfo(version))
	return run(ctx, f, os.Args[1:])
}

// run executes args and reports any error as "error: …" and "hint: …".
func run(ctx context.Context, f *factory, args []string) int {
	root := newRootCmd(f)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var uerr *usageError
	switch {
	case errors.As(err, &uerr):
		fmt.Fprintf(f.stderr, "error: %v\n", uerr.err)
		fmt.Fprintf(f.stderr, "hint: see %s --help\n", uerr.cmd)
		return exitUsage
	case errors.Is(err, context.Canceled), errors.Is(err, errAborted):
		fmt.Fprintln(f.stderr, "error: aborted")
		return exitAborted
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(f.stderr, "error: %v\n", err)
		return exitTimeout
	}
	printError(f.stderr, err)
	return exitError
}

func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "error: %v\n", err)
	for _, h := range hintsFor(err) {
		fmt.Fprintf(w, "hint: %s\n", h)
	}
}

// usageError is a mistake in the command line itself.
type usageError struct {
	cmd string
	err error
}

func (e *usageError) Error() string { return e.err.Error() }

func newRootCmd(f *factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "tuf-ceremony",
		Short: "Run TUF key ceremonies with hardware tokens on an air-gapped machine",
		Long: `tuf-ceremony generates TUF root and targets keys on hardware tokens
(PKCS#11 HSMs, YubiKeys, SoftHSM for rehearsals), threshold-signs metadata,
and keeps everything on removable media with an append-only transcript.`,
		Example: `  tuf-ceremony tokens                                   # what is plugged in
  tuf-ceremony init --media /media/usb --plan ceremony.yaml
  tuf-ceremony sign --media /media/usb --token 'pkcs11:token=alice?module-name=softhsm2'
  tuf-ceremony status --media /media/usb
  tuf-ceremony publish --media /media/usb && tuf-ceremony verify /media/usb`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
	}
	root.PersistentPreRun = func(c *cobra.Command, _ []string) {
		if c.Annotations[annotationCeremony] == "true" {
			warnIfNetworked(f)
		}
		switch c.Name() {
		case "tuf-ceremony", "tui", "version", "gen-docs", "completion", "help", "tokens":
		default:
			tightenGC()
		}
	}
	root.SetOut(f.stdout)
	root.SetErr(f.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{cmd: c.CommandPath(), err: err}
	})
	root.AddCommand(newTokensCmd(f), newKeygenCmd(f), newInitCmd(f), newSignCmd(f), newStatusCmd(f),
		newPublishCmd(f), newVerifyCmd(f), newDiffCmd(f), newReportCmd(f), newProposeCmd(f),
		newMergeCmd(f), newImportCmd(f), newDiscardCmd(f), newTokenCmd(f), newVersionCmd(f), newDocsCmd(f), newTUICmd(f))
	media := root.Flags().String("media", "", "workspace `DIR` for the TUI (tuf-ceremony with no arguments, on a terminal)")
	root.RunE = func(c *cobra.Command, _ []string) error {
		if !f.interactive() {
			return c.Help()
		}
		return runTUI(c.Context(), f, *media)
	}
	for _, c := range root.Commands() {
		wrapArgs(c)
		markCeremony(c)
	}
	return root
}

// annotationCeremony marks commands that handle keys or change a
// workspace: they warn when the machine is on a network.
const annotationCeremony = "ceremony"

// markCeremony annotates every command but the read-only ones.
func markCeremony(c *cobra.Command) {
	switch c.Name() {
	case "tokens", "status", "verify", "diff", "report", "version", "gen-docs", "completion", "help", "tui":
		return
	}
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annotationCeremony] = "true"
	for _, sub := range c.Commands() {
		markCeremony(sub)
	}
}

// tightenGC lets the heap grow by a quarter of what is live before a
// collection, not Go's default of as much again, for the commands that read
// metadata. Metadata is small, except targets files of many thousands of
// entries, which are parsed, diffed and canonicalized: at the default,
// sign's peak is 6 times such a file's size, at 25 it stays under 4
// (BENCHMARKS.md, 2d). The price is a few milliseconds per signature on a
// small workspace, whose small heap is collected more often (3a, 3b). Not
// for start-up, the TUI or --version, where that took half as long again.
// GOGC in the environment decides.
func tightenGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
}

// warnIfNetworked prints the air-gap warning of invariant 8.
func warnIfNetworked(f *factory) {
	up, err := f.interfacesUp()
	if err != nil || len(up) == 0 {
		return
	}
	fmt.Fprintf(f.stderr, "warning: network interface(s) up: %s. A ceremony machine should be air-gapped: unplug the network, or run: ip link set %s down\n", strings.Join(up, ", "), up[0])
}

// wrapArgs turns cobra's argument errors into usage errors.
func wrapArgs(c *cobra.Command) {
	if c.Args == nil {
		c.Args = cobra.NoArgs
	}
	check := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{cmd: cmd.CommandPath(), err: err}
		}
		return nil
	}
}

// requireFlags fails with a usage error naming the first missing flag.
func requireFlags(c *cobra.Command, names ...string) error {
	for _, n := range names {
		if !c.Flags().Changed(n) {
			return &usageError{cmd: c.CommandPath(), err: fmt.Errorf("--%s is required", n)}
		}
	}
	return nil
}
