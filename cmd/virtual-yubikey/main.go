// Command virtual-yubikey is a software YubiKey for tests and rehearsals:
// it plugs into pcscd through the vpcd virtual reader (Debian package
// vsmartcard-vpcd) and answers the YubiKey PIV applet's commands the way
// piv-go and Yubico's yubico-piv-tool use them, with keys generated in
// software, real PIN and PUK retry counters, touch either automatic or
// waiting for SIGUSR1, and attestation certificates issued by a vendor CA
// of its own ("Virtual YubiKey CA, NOT Yubico"), so that a virtual key is
// never mistaken for a real one. The card itself is package
// hsm/virtualpiv; this command runs one as a process.
//
//	virtual-yubikey run --state FILE [--serial N] [--vpcd 127.0.0.1:35963] [--touch auto|wait]
//	virtual-yubikey ca --state FILE
//
// The state file holds the PIN, PUK, management key and private keys in
// clear: it is a test device. Stopping the process removes the card.
package main

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuf-ceremony/tuf-ceremony/hsm/virtualpiv"
)

func main() { os.Exit(Main()) }

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Main runs the command line and returns the process's exit code.
func Main() int {
	return run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
}

// usageError marks errors in the command line.
type usageError struct{ error }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "virtual-yubikey",
		Short:         "A software YubiKey (PIV) that plugs into pcscd through vpcd, for tests and rehearsals",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRunCmd(stdout, stderr), newCACmd(stdout, stderr))
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) || isCobraUsage(err) {
			fmt.Fprintln(stderr, "hint: virtual-yubikey --help")
			return exitUsage
		}
		return exitError
	}
	return exitOK
}

// isCobraUsage recognizes cobra's own command-line errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "required flag", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// deviceFlags are the settings of a new card; for an existing state they
// must match it.
type deviceFlags struct {
	serial   uint32
	firmware string
}

func (d *deviceFlags) add(cmd *cobra.Command) {
	cmd.Flags().Uint32Var(&d.serial, "serial", 0, "serial number of a new card (default: random); must match an existing state")
	cmd.Flags().StringVar(&d.firmware, "firmware", "", "firmware version of a new card (default 5.7.1; 5.7 brings Ed25519 and an AES-192 management key)")
}

func (d *deviceFlags) load(store virtualpiv.Store) (*virtualpiv.State, bool, error) {
	var fw *virtualpiv.Firmware
	if d.firmware != "" {
		f, err := virtualpiv.ParseFirmware(d.firmware)
		if err != nil {
			return nil, false, usageError{err}
		}
		fw = &f
	}
	return store.LoadOrCreate(d.serial, fw, nil)
}

type runOptions struct {
	State        string
	Device       deviceFlags
	VPCD         string
	Touch        string
	TouchTimeout time.Duration
	Verbose      bool
	Stdout       io.Writer
	Stderr       io.Writer
	// signals, if set, replaces the process's signal handling (tests).
	signals <-chan os.Signal
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	o := &runOptions{Stdout: stdout, Stderr: stderr}
	cmd := &cobra.Command{
		Use:   "run --state FILE [--serial N] [--vpcd HOST:PORT] [--touch auto|wait]",
		Short: "Insert the virtual YubiKey into pcscd's vpcd reader until stopped",
		Long: `Insert the virtual YubiKey into pcscd's vpcd reader until stopped.

The card connects to the vpcd reader's TCP port as pcscd's virtual card,
and connects again when pcscd restarts. SIGTERM or SIGINT removes the card
and ends the process. The state file is created (a factory-fresh card:
PIN 123456, PUK 12345678, default management key) when it does not exist,
and saved after every change.

With --touch wait, an operation that needs a touch waits for SIGUSR1
(kill -USR1 PID); without one before --touch-timeout it fails with status
6982, as a YubiKey does. The card prints a line on stderr when it waits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCard(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.State, "state", "", "state file of the card (created if missing)")
	o.Device.add(cmd)
	cmd.Flags().StringVar(&o.VPCD, "vpcd", "127.0.0.1:35963", "address of pcscd's vpcd reader")
	cmd.Flags().StringVar(&o.Touch, "touch", string(virtualpiv.TouchAuto), "touch sensor: auto (touched at once) or wait (SIGUSR1 touches)")
	cmd.Flags().DurationVar(&o.TouchTimeout, "touch-timeout", virtualpiv.DefaultTouchTimeout, "how long to wait for a touch")
	cmd.Flags().BoolVarP(&o.Verbose, "verbose", "v", false, "log every command (never PINs or keys)")
	cmd.MarkFlagRequired("state")
	return cmd
}

func runCard(ctx context.Context, o *runOptions) error {
	touch, err := virtualpiv.NewTouchSensor(virtualpiv.TouchMode(o.Touch), o.TouchTimeout)
	if err != nil {
		return usageError{err}
	}
	store := virtualpiv.Store{Path: o.State}
	lock, err := store.Lock()
	if err != nil {
		return err
	}
	defer lock.Close()
	state, created, err := o.Device.load(store)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	prefix := fmt.Sprintf("virtual-yubikey[%d]: ", state.Serial)
	logf := func(format string, args ...any) { fmt.Fprintf(o.Stderr, prefix+format+"\n", args...) }
	pid := os.Getpid()
	touch.OnWait = func(what string) {
		logf("waiting for touch on %s: kill -USR1 %d within %s", what, pid, touch.Timeout)
	}
	verbose := func(string, ...any) {}
	if o.Verbose {
		verbose = logf
	}
	card := virtualpiv.NewCard(virtualpiv.CardOptions{State: state, Save: store.Save, Touch: touch, Context: ctx, Logf: verbose})

	signals := o.signals
	if signals == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
		defer signal.Stop(ch)
		signals = ch
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-signals:
				if sig == syscall.SIGUSR1 {
					logf("touched")
					touch.Touch()
					continue
				}
				cancel()
				return
			}
		}
	}()

	how := "opened"
	if created {
		how = "created"
	}
	logf("serial %d, firmware %s, pid %d, touch %s; state %s %s", state.Serial, state.Firmware, pid, touch.Mode, how, o.State)
	v := &virtualpiv.Connector{Addr: o.VPCD, Card: card, Logf: logf}
	return v.Run(ctx)
}

type caOptions struct {
	State  string
	Device deviceFlags
	Stdout io.Writer
	Stderr io.Writer
}

func newCACmd(stdout, stderr io.Writer) *cobra.Command {
	o := &caOptions{Stdout: stdout, Stderr: stderr}
	cmd := &cobra.Command{
		Use:   "ca --state FILE",
		Short: "Print the virtual vendor's attestation root (PEM) of a card",
		Long: `Print the virtual vendor's attestation root (PEM) of a card.

Attestations of this card verify only against this root, never against
Yubico's. The state is created (as by run) when it does not exist yet.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return runCA(o) },
	}
	cmd.Flags().StringVar(&o.State, "state", "", "state file of the card")
	o.Device.add(cmd)
	cmd.MarkFlagRequired("state")
	return cmd
}

func runCA(o *caOptions) error {
	store := virtualpiv.Store{Path: o.State}
	state, err := store.Load()
	if errors.Is(err, virtualpiv.ErrNoState) {
		// Create it under the lock, so as not to race a starting card.
		lock, lerr := store.Lock()
		if lerr != nil {
			return lerr
		}
		defer lock.Close()
		var created bool
		state, created, err = o.Device.load(store)
		if err == nil && created {
			fmt.Fprintf(o.Stderr, "virtual-yubikey: created card %d in %s\n", state.Serial, o.State)
		}
	} else if err == nil {
		_, _, err = o.Device.load(store) // checks --serial and --firmware
	}
	if err != nil {
		return err
	}
	return pem.Encode(o.Stdout, &pem.Block{Type: "CERTIFICATE", Bytes: state.CA.Cert})
}
