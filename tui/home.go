package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

// home is the first screen: what the ceremony depends on, and the
// ceremonies to start.
type home struct {
	sh     *shared
	cursor int
	err    error
}

// menuItem is a ceremony the home screen starts.
type menuItem struct {
	key   string
	label string
	open  func(sh *shared) (*flow, error)
}

var menu = []menuItem{
	{"n", "New repository (plan)", newInitFlow},
	{"s", "Sign a staged proposal", newSignFlow},
	{"p", "Publish", newPublishFlow},
	{"v", "Verify a medium", newVerifyFlow},
	{"r", "Renew expiring metadata", newRenewFlow},
	{"o", "Planned root rotation", newRotateFlow(rotatePlanned)},
	{"x", "Emergency revocation", newRotateFlow(rotateEmergency)},
	{"t", "Targets key rotation", newRotateFlow(rotateTargets)},
	{"h", "Rehearsal (throw-away)", newRehearsalFlow},
}

func newHome(sh *shared) *home { return &home{sh: sh} }

func (h *home) busy() bool { return false }

func (h *home) help() []key.Binding {
	return []key.Binding{keys.Up, bind("enter", "start"), keys.Clock, keys.Media, keys.Quit}
}

func (h *home) update(msg tea.Msg) tea.Cmd {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	switch {
	case key.Matches(k, keys.Up):
		if h.cursor > 0 {
			h.cursor--
		}
		return nil
	case key.Matches(k, keys.Down):
		if h.cursor < len(menu)-1 {
			h.cursor++
		}
		return nil
	case key.Matches(k, keys.Enter):
		return h.open(menu[h.cursor])
	case key.Matches(k, keys.Clock):
		return h.confirmClock()
	case key.Matches(k, keys.Media):
		return func() tea.Msg { return openMediaMsg{} }
	}
	for i, it := range menu {
		if k.String() == it.key {
			h.cursor = i
			return h.open(it)
		}
	}
	return nil
}

// openMediaMsg opens the media screen.
type openMediaMsg struct{}

func (h *home) open(it menuItem) tea.Cmd {
	f, err := it.open(h.sh)
	if err != nil {
		h.err = err
		return nil
	}
	h.err = nil
	return func() tea.Msg { return switchMsg{flow: f} }
}

// confirmClock records that the custodians checked the clock against a
// watch.
func (h *home) confirmClock() tea.Cmd {
	sh := h.sh
	sh.clockChecked = sh.now
	media, ctx := sh.media.dir, sh.ctx
	rec := ackRecord{Ceremony: "home", Title: "Check the clock", Text: clockAck(sh), Machine: sh.now.UTC().Format(time.RFC3339)}
	if !sh.media.exists {
		return nil
	}
	return func() tea.Msg {
		if _, err := recordAcks(ctx, media, []ackRecord{rec}); err != nil {
			return homeErrMsg{err}
		}
		return refreshMsg{}
	}
}

type homeErrMsg struct{ err error }

func clockAck(sh *shared) string {
	return "the machine's clock, " + sh.now.UTC().Format(time.RFC3339) + ", agrees with a watch"
}

func (h *home) view() string {
	sh := h.sh
	st := sh.st
	w := sh.width
	var b strings.Builder
	b.WriteString(sh.header("tuf-ceremony · home") + "\n")
	clock := "Clock: " + sh.now.Format("Mon 2 Jan 2006 15:04:05 MST")
	if sh.clockChecked.IsZero() {
		clock += " " + st.warn.Render("— compare with a watch, then press c")
	} else {
		clock += " " + st.ok.Render("✓ checked against a watch")
	}
	b.WriteString(truncate(clock, w) + "\n")
	if len(sh.netUp) > 0 {
		msg := fmt.Sprintf("!! NETWORK UP: %s. A ceremony machine must be air-gapped: unplug the cable, or run: ip link set %s down",
			strings.Join(sh.netUp, ", "), sh.netUp[0])
		b.WriteString(st.alarm.Width(w).Render(msg) + "\n")
	} else {
		b.WriteString(sh.airGap() + "\n")
	}
	b.WriteString("\n")

	left := h.menuView()
	rw := w - lipgloss.Width(left) - 3
	if rw < 30 {
		b.WriteString(left + "\n" + h.statusView(w))
	} else {
		right := h.statusView(rw)
		sep := strings.TrimRight(strings.Repeat("│\n", max(lineCount(left), lineCount(right))), "\n")
		b.WriteString(lipgloss.JoinHorizontal(lipgloss.Top, left, " ", st.subtle.Render(sep), " ", right))
	}
	if h.err != nil {
		b.WriteString("\n" + errorView(st, h.err, hintsFor(h.err), w))
	}
	return b.String()
}

func (h *home) menuView() string {
	st := h.sh.st
	var b strings.Builder
	b.WriteString(st.heading.Render("Ceremonies") + "\n")
	for i, it := range menu {
		line := it.key + "  " + it.label
		if i == h.cursor {
			b.WriteString(st.selected.Render("▶ "+line) + "\n")
		} else {
			b.WriteString("  " + line + "\n")
		}
	}
	b.WriteString("  m  Choose the medium\n")
	return strings.TrimRight(b.String(), "\n")
}

// statusView is the medium and the tokens, w cells wide.
func (h *home) statusView(w int) string {
	sh := h.sh
	st := sh.st
	mi := &sh.media
	var b strings.Builder
	line := func(s string) { b.WriteString(truncate(s, w) + "\n") }
	if mi.dir == "" {
		b.WriteString(st.heading.Render("Medium") + "\n")
		line(st.warn.Render("none chosen") + ": press m")
	} else {
		b.WriteString(st.heading.Render("Medium ") + truncate(mi.dir, w-7) + "\n")
		switch {
		case !mi.read:
			line(st.subtle.Render("reading…"))
		case mi.err != nil:
			line(st.bad.Render("✗ ") + mi.err.Error())
		case !mi.exists && mi.usable:
			line("empty: ready for a new repository (n)")
		case mi.exists:
			h.mediaLines(line, w)
		}
	}
	b.WriteString("\n")
	b.WriteString(st.heading.Render(fmt.Sprintf("Tokens (%d)", len(sh.tokens))) + "\n")
	switch {
	case !sh.tokensRead:
		line(st.subtle.Render("looking for tokens…"))
	case sh.tokensErr != nil:
		line(st.bad.Render("✗ ") + sh.tokensErr.Error())
	case len(sh.tokens) == 0:
		line("none present: insert a token")
	}
	for _, l := range sh.tokens {
		line(tokenText(l, mi.custodianOf(l), false))
	}
	for _, n := range sh.tokenNotes {
		line(st.subtle.Render("note: " + n))
	}
	return strings.TrimRight(b.String(), "\n")
}

func (h *home) mediaLines(line func(string), w int) {
	sh := h.sh
	st := sh.st
	mi := &sh.media
	roles := make([]string, 0, len(mi.versions))
	for r := range mi.versions {
		roles = append(roles, r)
	}
	sort.Slice(roles, func(i, j int) bool { return roleOrder(roles[i]) < roleOrder(roles[j]) })
	if len(roles) == 0 {
		line("nothing published yet")
	}
	for _, r := range roles {
		vs := mi.versions[r]
		line(fmt.Sprintf("%-8s v%d  %s", r, vs[len(vs)-1], expiryText(st, mi.expires[r], sh.now)))
	}
	if len(mi.status) == 0 {
		line(st.subtle.Render("nothing staged"))
	}
	for _, s := range mi.status {
		state := st.warn.Render("waiting for signatures")
		switch {
		case s.Expired:
			state = st.bad.Render("EXPIRED")
		case s.Ready:
			state = st.ok.Render("ready to publish")
		}
		line(fmt.Sprintf("staged %s: %s", strings.TrimPrefix(s.File, ceremony.StagedDir+"/"), state))
		for _, r := range s.Requirements {
			line(fmt.Sprintf("  %-17s %s", truncate(r.Name, 17), st.bar(len(r.Signed), r.Threshold, 6)))
		}
	}
}

func roleOrder(r string) int {
	switch r {
	case "root":
		return 0
	case "targets":
		return 1
	case "snapshot":
		return 2
	case "timestamp":
		return 3
	}
	return 4
}

// expiryText is "expires 2027-11-22 (365 days)", loud when close.
func expiryText(st *styles, exp, now time.Time) string {
	if exp.IsZero() {
		return ""
	}
	days := int(exp.Sub(now).Hours() / 24)
	s := fmt.Sprintf("expires %s (%d days)", exp.UTC().Format("2006-01-02"), days)
	switch {
	case !exp.After(now):
		return st.bad.Render("EXPIRED " + exp.UTC().Format("2006-01-02"))
	case days < 30:
		return st.warn.Render("!! " + s)
	}
	return s
}
