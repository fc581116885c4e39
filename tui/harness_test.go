package tui

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// testNow is the clock of every model test.
var testNow = time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)

// harness drives an App through Update, as a pure function of messages,
// running the commands it returns the way bubbletea would: each in its
// own goroutine, their messages fed back one at a time. Timer messages
// (clock, polling, spinner) are dropped so that nothing happens unless
// the test says so; the tokens and the medium are read when a screen
// asks (refreshMsg) or the test calls poll.
type harness struct {
	t    *testing.T
	a    *App
	msgs chan tea.Msg
	quit bool
}

func testOptions(t *testing.T, media string, backends ...hsm.Backend) Options {
	return Options{
		Media:         media,
		Backends:      backends,
		InterfacesUp:  func() ([]string, error) { return nil, nil },
		Now:           func() time.Time { return testNow },
		Renderer:      lipgloss.NewRenderer(io.Discard, termenv.WithProfile(termenv.Ascii)),
		StaticSpinner: true,
		ReportDir:     t.TempDir(),
	}
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &harness{t: t, a: New(ctx, opts), msgs: make(chan tea.Msg, 256)}
	t.Cleanup(h.a.Close)
	h.update(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.run(h.a.Init())
	return h
}

func (h *harness) update(msg tea.Msg) {
	_, cmd := h.a.Update(msg)
	h.run(cmd)
}

func (h *harness) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		if msg := cmd(); msg != nil {
			h.msgs <- msg
		}
	}()
}

// handle feeds one message back, unfolding batches.
func (h *harness) handle(msg tea.Msg) {
	switch msg := msg.(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			h.run(c)
		}
	case tea.QuitMsg:
		h.quit = true
	case clockTickMsg, pollTickMsg, spinner.TickMsg, forceQuitMsg:
		// timers: the test decides when things happen
	default:
		h.update(msg)
	}
}

// settle handles messages until none comes for a while.
func (h *harness) settle() {
	for {
		select {
		case msg := <-h.msgs:
			h.handle(msg)
		case <-time.After(100 * time.Millisecond):
			return
		}
	}
}

// view is the screen as a person reads it.
func (h *harness) view() string { return ansi.Strip(h.a.View()) }

// waitFor handles messages until the screen shows every one of want.
func (h *harness) waitFor(want ...string) string {
	h.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		v := h.view()
		ok := true
		for _, w := range want {
			if !strings.Contains(v, w) {
				ok = false
			}
		}
		if ok {
			h.checkSize()
			return v
		}
		select {
		case msg := <-h.msgs:
			h.handle(msg)
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			h.t.Fatalf("screen never showed %q; it shows:\n%s", want, v)
		}
	}
}

// checkSize fails the test when the screen does not fit the terminal.
func (h *harness) checkSize() {
	h.t.Helper()
	lines := strings.Split(h.a.View(), "\n")
	if len(lines) != h.a.sh.height {
		h.t.Errorf("%d lines on a terminal of %d:\n%s", len(lines), h.a.sh.height, h.view())
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > h.a.sh.width {
			h.t.Errorf("line %d is %d cells wide on a terminal of %d: %q", i+1, w, h.a.sh.width, ansi.Strip(l))
		}
	}
}

// poll reads the tokens and the medium now.
func (h *harness) poll() {
	h.update(refreshMsg{})
	h.settle()
}

func (h *harness) key(k string) {
	h.t.Helper()
	var msg tea.KeyMsg
	switch k {
	case "enter":
		msg = tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		msg = tea.KeyMsg{Type: tea.KeyEsc}
	case "up":
		msg = tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		msg = tea.KeyMsg{Type: tea.KeyDown}
	case "space":
		msg = tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	case "ctrl+c":
		msg = tea.KeyMsg{Type: tea.KeyCtrlC}
	default:
		msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
	}
	h.update(msg)
	h.settle()
}

// typeText types s into the focused input.
func (h *harness) typeText(s string) {
	h.update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)})
	h.settle()
}

// clearInput empties the focused input.
func (h *harness) clearInput() {
	h.update(tea.KeyMsg{Type: tea.KeyCtrlU})
	h.update(tea.KeyMsg{Type: tea.KeyCtrlK})
	h.settle()
}

// writePlan writes a plan for the fake tokens alice, bob, carol (root, 2
// of 3) and dave (targets), with the repository's online test keys.
func writePlan(t *testing.T, dir string) string {
	t.Helper()
	for _, f := range []string{"online-snapshot.pem", "online-timestamp.pem"} {
		data, err := os.ReadFile(filepath.Join(softhsmtest.RepoRoot(), "testdata", "plans", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	plan := `name: model test
roles:
  root:
    threshold: 2
    expires: 365d
    keys:
      - {custodian: alice, token: "pkcs11:token=alice"}
      - {custodian: bob, token: "pkcs11:token=bob"}
      - {custodian: carol, token: "pkcs11:token=carol"}
  targets:
    threshold: 1
    expires: 26w
    keys:
      - {custodian: dave, token: "pkcs11:token=dave"}
  snapshot:
    threshold: 1
    expires: 7d
    keys:
      - {public_key: online-snapshot.pem, custodian: online}
  timestamp:
    threshold: 1
    expires: 1d
    keys:
      - {public_key: online-timestamp.pem, custodian: online}
`
	p := filepath.Join(dir, "ceremony.yaml")
	if err := os.WriteFile(p, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
