package tui

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

// screen is what the App shows.
type screen int

const (
	screenHome     screen = iota // tokens, medium, clock, air gap, ceremonies
	screenMedia                  // choose the medium
	screenCeremony               // a guided ceremony (flow)
)

// component is one screen: its model, key map and size.
type component interface {
	update(msg tea.Msg) tea.Cmd
	view() string
	// help lists the keys the screen takes now.
	help() []key.Binding
	// busy reports work in progress: leaving asks first.
	busy() bool
}

// shared is what every screen reads: options, styles, size, and the state
// the App polls (tokens, the medium, the network, the clock).
type shared struct {
	opts   Options
	st     *styles
	ctx    context.Context
	width  int
	height int
	now    time.Time

	tokens     []ceremony.TokenListing
	tokenNotes []string
	tokensErr  error
	tokensRead bool
	polling    bool
	// pollPaused is set while a ceremony call runs: it may hold a token
	// (a YubiKey is opened exclusively).
	pollPaused bool

	media  mediaInfo
	netUp  []string
	netErr error

	// clockChecked is when the custodians confirmed the clock against a
	// watch (zero: not yet), with the machine's time then.
	clockChecked time.Time
	rehearsal    *rehearsal
	spin         spinner.Model

	// rehearsals are every rehearsal set up, from the moment it is (the
	// screen takes it later): Close removes them all. closed is set by
	// Close.
	rehearsalsMu sync.Mutex
	rehearsals   []*rehearsal
	closed       bool
}

// App is the root model.
type App struct {
	sh     *shared
	screen screen
	home   *home
	media  *mediaScreen
	flow   *flow
	// confirmQuit is set while "quit?" is asked.
	confirmQuit bool
	// stopping is set when quitting waits for a ceremony call to stop.
	stopping bool
	// aborted is set when the person quit a ceremony in progress.
	aborted bool
}

var _ tea.Model = (*App)(nil)

// New returns the root model. ctx bounds every ceremony call.
func New(ctx context.Context, opts Options) *App {
	opts.withDefaults()
	ctx = context.WithValue(ctx, clockKey{}, opts.Now)
	sh := &shared{opts: opts, st: newStyles(opts.Renderer), ctx: ctx, width: 80, height: 24}
	sh.now = opts.Now()
	sh.spin = spinner.New(spinner.WithSpinner(spinner.Line))
	if opts.StaticSpinner {
		sh.spin.Spinner = spinner.Spinner{Frames: []string{"*"}, FPS: time.Hour}
	}
	sh.media.dir = opts.Media
	a := &App{sh: sh}
	a.home = newHome(sh)
	return a
}

// Messages of the App's own polling.
type (
	pollTickMsg  struct{}
	clockTickMsg time.Time
	tokensMsg    struct {
		listing []ceremony.TokenListing
		notes   []string
		err     error
	}
	netMsg struct {
		up  []string
		err error
	}
	mediaMsg mediaInfo
	// switchMsg opens a ceremony; nil goes home.
	switchMsg struct{ flow *flow }
	// mediaChosenMsg sets the medium.
	mediaChosenMsg struct{ dir string }
	// refreshMsg asks for the medium to be read again now.
	refreshMsg struct{}
	// forceQuitMsg ends a quit that waited too long for a call to stop.
	forceQuitMsg struct{}
)

func (a *App) Init() tea.Cmd {
	return tea.Batch(a.pollTokens(), a.readMedia(), a.checkNet(), a.clockTick(), a.sh.spin.Tick)
}

func (a *App) clockTick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return clockTickMsg(t) })
}

func (a *App) pollTick() tea.Cmd {
	return tea.Tick(a.sh.opts.PollInterval, func(time.Time) tea.Msg { return pollTickMsg{} })
}

// pollTokens lists the tokens unless a ceremony call runs.
func (a *App) pollTokens() tea.Cmd {
	sh := a.sh
	if sh.polling || sh.pollPaused {
		return nil
	}
	sh.polling = true
	ctx, backends, modules := sh.ctx, sh.opts.Backends, sh.opts.Modules
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		l, notes, err := ceremony.ListTokens(ctx, backends, modules)
		return tokensMsg{listing: l, notes: notes, err: err}
	}
}

func (a *App) checkNet() tea.Cmd {
	f := a.sh.opts.InterfacesUp
	return func() tea.Msg {
		up, err := f()
		return netMsg{up: up, err: err}
	}
}

func (a *App) readMedia() tea.Cmd {
	if a.sh.pollPaused {
		return nil
	}
	dir, now := a.sh.media.dir, a.sh.opts.Now
	return func() tea.Msg { return mediaMsg(readMediaInfo(dir, now)) }
}

func (a *App) current() component {
	switch a.screen {
	case screenMedia:
		return a.media
	case screenCeremony:
		return a.flow
	}
	return a.home
}

// busy reports whether quitting should ask first.
func (a *App) busy() bool { return a.flow != nil && a.flow.busy() }

func (a *App) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	sh := a.sh
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		sh.width, sh.height = msg.Width, msg.Height
		return a, a.current().update(msg)
	case clockTickMsg:
		sh.now = sh.opts.Now()
		return a, a.clockTick()
	case spinner.TickMsg:
		var cmd tea.Cmd
		sh.spin, cmd = sh.spin.Update(msg)
		return a, cmd
	case pollTickMsg:
		return a, tea.Batch(a.pollTokens(), a.readMedia(), a.checkNet())
	case tokensMsg:
		sh.polling = false
		sh.tokens, sh.tokenNotes, sh.tokensErr, sh.tokensRead = msg.listing, msg.notes, msg.err, true
		sort.SliceStable(sh.tokens, func(i, j int) bool {
			a, b := sh.tokens[i].Token, sh.tokens[j].Token
			if a.Backend != b.Backend {
				return a.Backend > b.Backend // YubiKeys (piv) before PKCS#11 tokens
			}
			if a.Label != b.Label {
				return a.Label < b.Label
			}
			return a.Serial < b.Serial
		})
		return a, tea.Batch(a.pollTick(), a.current().update(msg))
	case netMsg:
		sh.netUp, sh.netErr = msg.up, msg.err
		return a, nil
	case mediaMsg:
		if mediaInfo(msg).dir == sh.media.dir {
			sh.media = mediaInfo(msg)
		}
		return a, a.current().update(msg)
	case refreshMsg:
		return a, tea.Batch(a.readMedia(), a.pollTokens())
	case mediaChosenMsg:
		sh.media = mediaInfo{dir: msg.dir}
		a.screen = screenHome
		return a, a.readMedia()
	case switchMsg:
		if msg.flow == nil {
			a.flow = nil
			a.screen = screenHome
			sh.pollPaused = false
			return a, tea.Batch(a.readMedia(), a.pollTokens())
		}
		a.flow = msg.flow
		a.screen = screenCeremony
		return a, tea.Batch(a.flow.start(), a.readMedia())
	case openFlowMsg:
		if msg.media != nil && msg.media.dir == sh.media.dir {
			sh.media = *msg.media
		}
		f, err := msg.open(sh)
		if err != nil {
			a.home.err = err
			a.flow = nil
			a.screen = screenHome
			sh.pollPaused = false
			return a, a.readMedia()
		}
		a.home.err = nil
		return a.Update(switchMsg{flow: f})
	case openMediaMsg:
		a.media = newMediaScreen(sh)
		a.screen = screenMedia
		return a, nil
	case homeErrMsg:
		a.home.err = msg.err
		return a, nil
	case forceQuitMsg:
		return a, tea.Quit
	case jobDoneMsg:
		if a.stopping {
			return a, tea.Quit
		}
	case tea.KeyMsg:
		return a, a.key(msg)
	}
	if a.flow != nil {
		if _, ok := jobOf(msg); ok {
			return a, a.flow.update(msg)
		}
	}
	return a, a.current().update(msg)
}

// key handles quitting, then gives the key to the screen.
func (a *App) key(msg tea.KeyMsg) tea.Cmd {
	if a.stopping {
		return nil
	}
	if a.confirmQuit {
		switch {
		case key.Matches(msg, keys.Yes):
			a.confirmQuit = false
			a.aborted = true
			if a.flow != nil && a.flow.stop() {
				a.stopping = true
				return tea.Tick(10*time.Second, func(time.Time) tea.Msg { return forceQuitMsg{} })
			}
			return tea.Quit
		case key.Matches(msg, keys.No), key.Matches(msg, keys.Back):
			a.confirmQuit = false
		}
		return nil
	}
	quit := key.Matches(msg, keys.Interrupt) ||
		(key.Matches(msg, keys.Quit) && a.screen == screenHome)
	if quit {
		if a.busy() {
			a.confirmQuit = true
			return nil
		}
		return tea.Quit
	}
	return a.current().update(msg)
}

func (a *App) View() string {
	sh := a.sh
	var b strings.Builder
	body := a.current().view()
	help := helpLine(sh.st, sh.width, append(a.current().help(), keys.Interrupt)...)
	switch {
	case a.stopping:
		help = sh.st.warn.Render(sh.spin.View() + " stopping the ceremony call in progress; nothing half-written is left")
	case a.confirmQuit:
		help = sh.st.warn.Render("A ceremony is in progress. Quit anyway? Nothing half-written is left. (y/n)")
	}
	b.WriteString(fitHeight(body, sh.height-1))
	b.WriteString("\n")
	b.WriteString(help)
	return b.String()
}

// fitHeight pads or cuts s to exactly h lines.
func fitHeight(s string, h int) string {
	if h < 1 {
		h = 1
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// header is the first line of every screen: the title, a REHEARSAL
// banner, and the clock.
func (sh *shared) header(title string) string {
	st := sh.st
	left := st.title.Render(title)
	if sh.rehearsal != nil {
		left += " " + st.banner.Render(" REHEARSAL ")
	}
	right := st.subtle.Render(sh.now.UTC().Format("2006-01-02 15:04:05 UTC"))
	gap := sh.width - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return left
	}
	return left + strings.Repeat(" ", gap) + right
}

// airGap is the air-gap line: a loud warning when a network interface is
// up (invariant 8), one quiet line otherwise.
func (sh *shared) airGap() string {
	st := sh.st
	switch {
	case sh.netErr != nil:
		return st.warn.Render("!! air gap: cannot list network interfaces: " + sh.netErr.Error())
	case len(sh.netUp) > 0:
		msg := fmt.Sprintf("!! NETWORK UP: %s. A ceremony machine must be air-gapped: unplug the cable or run: ip link set %s down",
			strings.Join(sh.netUp, ", "), sh.netUp[0])
		return st.alarm.Render(truncate(msg, sh.width))
	}
	return st.ok.Render("✓") + " air gap: no network interface up"
}

// clockKey carries Options.Now to the ceremony calls, which give it to
// the workspace: expiries and transcript times follow the TUI's clock.
type clockKey struct{}

func clockOf(ctx context.Context) func() time.Time {
	if f, ok := ctx.Value(clockKey{}).(func() time.Time); ok {
		return f
	}
	return time.Now
}

// openWS opens the workspace at media with the TUI's clock.
func openWS(ctx context.Context, media string) (*ceremony.Workspace, error) {
	ws, err := ceremony.OpenWorkspace(media)
	if err != nil {
		return nil, err
	}
	ws.Now = clockOf(ctx)
	return ws, nil
}

// openOrNewWS is openWS for a workspace that may not exist yet.
func openOrNewWS(ctx context.Context, media string) (*ceremony.Workspace, error) {
	ws, err := ceremony.OpenOrNewWorkspace(media)
	if err != nil {
		return nil, err
	}
	ws.Now = clockOf(ctx)
	return ws, nil
}
