package tui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

// roomStep is the first step of every ceremony: the clock, which expiries
// are computed from, checked against a watch, and the air gap. It is
// skipped when both were checked within the hour.
func roomStep() *step {
	return &step{
		title: "Check the clock and the air gap",
		kind:  stepAck,
		skip: func(f *flow) bool {
			sh := f.sh
			// The air-gap warning stays on every screen meanwhile.
			return !sh.clockChecked.IsZero() && sh.now.Sub(sh.clockChecked) < time.Hour
		},
		body: func(f *flow) string {
			sh := f.sh
			st := sh.st
			var b strings.Builder
			b.WriteString("The machine's clock says:\n\n")
			b.WriteString("  " + st.words.Render(sh.now.Format("Monday 2 January 2006, 15:04:05 MST (-07:00)")) + "\n")
			b.WriteString("  " + sh.now.UTC().Format("2006-01-02 15:04:05 UTC") + "\n\n")
			b.WriteString(wrap("Compare it with a watch. Every expiry signed today is computed from this clock: a wrong date signs metadata that expires too early or too late.", sh.width) + "\n\n")
			if len(sh.netUp) > 0 {
				b.WriteString(st.alarm.Width(sh.width).Render(fmt.Sprintf("!! NETWORK UP: %s. Unplug the cable (or run: ip link set %s down) before going on.", strings.Join(sh.netUp, ", "), sh.netUp[0])) + "\n")
			} else {
				b.WriteString(sh.airGap() + "\n")
			}
			return b.String()
		},
		ack: func(f *flow) string {
			sh := f.sh
			sh.clockChecked = sh.now
			net := "no network interface up"
			if len(sh.netUp) > 0 {
				net = "network interfaces up: " + strings.Join(sh.netUp, ", ")
			}
			return clockAck(sh) + "; " + net
		},
		finalKey: "the clock is right",
	}
}

// requireWorkspace refuses to start a ceremony without a workspace.
func requireWorkspace(sh *shared) error {
	mi := &sh.media
	switch {
	case mi.dir == "":
		return errors.New("no medium chosen: press m")
	case mi.err != nil:
		return mi.err
	case !mi.exists:
		return fmt.Errorf("%s is not a tuf-ceremony workspace yet: start a new repository (n)", mi.dir)
	}
	return nil
}

// statusText shows each staged file with a bar per threshold and who can
// still sign.
func statusText(st *styles, status []ceremony.ProposalStatus, width int) string {
	if len(status) == 0 {
		return "Nothing is staged.\n"
	}
	var b strings.Builder
	for _, s := range status {
		state := st.warn.Render("waiting for signatures")
		switch {
		case s.Expired:
			state = st.bad.Render("EXPIRED: propose a new version")
		case s.Ready:
			state = st.ok.Render("✓ ready to publish")
		}
		b.WriteString(fmt.Sprintf("%s (%s v%d): %s\n", s.File, s.Role, s.Version, state))
		for _, r := range s.Requirements {
			line := fmt.Sprintf("  %-20s %s", truncate(r.Name, 20), st.bar(len(r.Signed), r.Threshold, 8))
			if len(r.Signed) > 0 {
				line += "  signed: " + ceremony.SignerNames(r.Signed)
			}
			b.WriteString(truncate(line, width) + "\n")
			if !r.Met {
				b.WriteString(truncate("  "+strings.Repeat(" ", 20)+" can still sign: "+ceremony.SignerNames(r.CanStillSign), width) + "\n")
			}
			if len(r.Invalid) > 0 {
				b.WriteString(st.bad.Render(truncate("  !! signature that does not verify: "+ceremony.SignerNames(r.Invalid), width)) + "\n")
			}
		}
	}
	return b.String()
}

// allReady reports whether every staged file can be published.
func allReady(status []ceremony.ProposalStatus) bool {
	if len(status) == 0 {
		return false
	}
	for _, s := range status {
		if !s.Ready {
			return false
		}
	}
	return true
}

// switchTo opens the flow that open makes, or goes home with its error.
// The medium is read first: the flow starts from what the last step
// wrote.
func switchTo(sh *shared, open func(*shared) (*flow, error)) tea.Cmd {
	dir, now := sh.media.dir, sh.opts.Now
	return func() tea.Msg {
		mi := readMediaInfo(dir, now)
		return openFlowMsg{open: open, media: &mi}
	}
}

// openFlowMsg asks the App to open a flow on the UI goroutine (its
// constructor reads shared state), with the medium as just read.
type openFlowMsg struct {
	open  func(*shared) (*flow, error)
	media *mediaInfo
}

// changesText lists a proposal's changes in full, wrapped: a key's line
// ends with its custodian, which a cut line would lose.
func changesText(st *styles, changes []ceremony.Change, width int) string {
	var b strings.Builder
	if len(changes) == 0 {
		b.WriteString("  no differences\n")
	}
	for _, c := range changes {
		style := st.changed
		switch c.Kind {
		case ceremony.ChangeAdded:
			style = st.added
		case ceremony.ChangeRemoved:
			style = st.removed
		}
		for i, l := range strings.Split(strings.TrimRight(wrapHard(c.String(), width-6), "\n"), "\n") {
			indent := "  "
			if i > 0 {
				indent = "      "
			}
			b.WriteString(indent + style.Render(l) + "\n")
		}
	}
	return b.String()
}
