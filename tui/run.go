package tui

import (
	"context"
	"errors"
	"io"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/virtualpiv"
)

// Run shows the TUI on a terminal (in and out are the terminal, not
// stdout) until the person quits or ctx is cancelled. Whatever a
// rehearsal set up is removed before it returns. Quitting a ceremony in
// progress returns ceremony.ErrAborted.
func Run(ctx context.Context, opts Options, in io.Reader, out io.Writer) error {
	if opts.Renderer == nil {
		// NO_COLOR and the terminal's colour support are read here.
		opts.Renderer = lipgloss.NewRenderer(out)
	}
	// Before the first PC/SC call of this process (the token listing):
	// libpcsclite reads the pcscd socket's path once, and a rehearsal's
	// virtual YubiKeys need this process's client to move to their own
	// pcscd and back. Without the switch a rehearsal still runs, on
	// SoftHSM tokens only, and says why.
	if _, err := virtualpiv.PrepareClient(); err == nil {
		defer virtualpiv.ReleaseClient()
	}
	a := New(ctx, opts)
	defer a.Close()
	p := tea.NewProgram(a, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen())
	_, err := p.Run()
	switch {
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil:
		return ctx.Err()
	case err == nil && a.aborted:
		// Quit in the middle of a ceremony: the CLI exits with its
		// "aborted" code.
		return ceremony.ErrAborted
	}
	return err
}
