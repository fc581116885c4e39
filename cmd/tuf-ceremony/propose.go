package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

func newProposeCmd(f *factory) *cobra.Command {
	c := &cobra.Command{
		Use:   "propose",
		Short: "Stage a new version of metadata for signing",
		Example: `  tuf-ceremony propose root --media /media/usb --expires root=365d
  tuf-ceremony propose targets --media /media/usb --add-target dist/app-1.2.tgz`,
	}
	c.AddCommand(newProposeRootCmd(f), newProposeTargetsCmd(f))
	return c
}

type proposeTargetsOptions struct {
	media             string
	role              string
	add               []string
	remove            []string
	expires           string
	delegate          string
	delegateKeys      []string
	delegateThreshold int
	delegatePaths     []string
	removeDelegation  string
	json              bool
}

func newProposeTargetsCmd(f *factory) *cobra.Command {
	opts := &proposeTargetsOptions{}
	c := &cobra.Command{
		Use:   "targets --media DIR",
		Short: "Stage the next targets version: targets added or removed, delegations",
		Long: `Stage the next version of targets (or, with --role, of a delegated role)
from the newest published one. Each --add-target FILE is listed under its base
name (or TARGET_PATH=FILE) with its length, SHA-256 and SHA-512 computed from
the file. The new version expires after --expires, or after the plan's targets
expiry. It starts unsigned: the role's custodians sign it with tuf-ceremony sign.

--delegate NAME delegates the paths given with --delegate-path to a role held
by the keys given with --delegate-key (recorded in keys/, e.g. by keygen),
--delegate-threshold of them; a new role's empty version 1 is staged with it,
to be signed by its own keys. --remove-delegation NAME drops one.`,
		Example: `  tuf-ceremony propose targets --media /media/usb --add-target dist/app-1.2.tar.gz
  tuf-ceremony propose targets --media ./ws --add-target apps/app.tgz=build/app.tgz --remove-target app-1.1.tar.gz --expires 26w
  tuf-ceremony propose targets --media ./ws --delegate apps --delegate-key 3f1a… --delegate-key 9c02… \
    --delegate-threshold 2 --delegate-path 'apps/*'
  tuf-ceremony propose targets --media ./ws --role apps --add-target apps/tool.tgz=dist/tool.tgz`,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "media"); err != nil {
				return err
			}
			return runProposeTargets(c.Context(), f, opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&opts.media, "media", "", "workspace `DIR`")
	fl.StringArrayVar(&opts.add, "add-target", nil, "add `FILE` (or TARGET_PATH=FILE); repeatable")
	fl.StringArrayVar(&opts.remove, "remove-target", nil, "remove the target `PATH`; repeatable")
	fl.StringVar(&opts.expires, "expires", "", "validity of the new version, e.g. 26w, 365d")
	fl.StringVar(&opts.role, "role", "", "stage a delegated `ROLE`'s metadata instead of targets")
	fl.StringVar(&opts.delegate, "delegate", "", "delegate to the role `NAME` (new or replaced)")
	fl.StringArrayVar(&opts.delegateKeys, "delegate-key", nil, "a `KEYID` of the delegated role; repeatable")
	fl.IntVar(&opts.delegateThreshold, "delegate-threshold", 1, "signatures the delegated role needs")
	fl.StringArrayVar(&opts.delegatePaths, "delegate-path", nil, "a path `PATTERN` the delegated role may sign, e.g. 'apps/*'; repeatable")
	fl.StringVar(&opts.removeDelegation, "remove-delegation", "", "drop the delegation to `NAME`")
	fl.BoolVar(&opts.json, "json", false, "print the proposal as JSON")
	return c
}

func runProposeTargets(_ context.Context, f *factory, opts *proposeTargetsOptions) error {
	change := ceremony.TargetsChange{Role: opts.role, Add: map[string]string{}, Remove: opts.remove, RemoveDelegation: opts.removeDelegation}
	if opts.delegate != "" {
		change.Delegate = &ceremony.Delegation{Name: opts.delegate, KeyIDs: opts.delegateKeys, Threshold: opts.delegateThreshold, Paths: opts.delegatePaths}
	} else if len(opts.delegateKeys) > 0 || len(opts.delegatePaths) > 0 {
		return &usageError{cmd: "tuf-ceremony propose targets", err: fmt.Errorf("--delegate-key and --delegate-path need --delegate NAME")}
	}
	if opts.expires != "" {
		d, err := ceremony.ParseDuration(opts.expires)
		if err != nil {
			return &usageError{cmd: "tuf-ceremony propose targets", err: fmt.Errorf("--expires: %w", err)}
		}
		change.Expires = d
	}
	for _, a := range opts.add {
		p, file := ceremony.TargetPathOf(a)
		change.Add[p] = file
	}
	ws, err := ceremony.OpenWorkspace(opts.media)
	if err != nil {
		return err
	}
	prop, err := ceremony.ProposeTargets(ws, change)
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(f.stdout, prop)
	}
	fmt.Fprintf(f.stdout, "staged %s\n", prop.File)
	for _, a := range prop.Also {
		fmt.Fprintf(f.stdout, "staged %s\n", a)
	}
	ceremony.FormatChanges(f.stdout, prop.Changes)
	return nil
}
