package tui

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// The golden files (testdata/TestGolden/*.golden) are key screens at
// 80x24 in the ASCII colour profile, from the real program (teatest)
// over fake tokens with a fixed clock. Regenerate them with
//
//	go test ./tui -run TestGolden -update

// scripted answers the ceremony library's questions in setups.
type scripted struct{}

func (scripted) PIN(context.Context, hsm.TokenInfo, hsm.PINState) (hsm.PIN, error) {
	return hsm.NewPIN("1234"), nil
}
func (scripted) Confirm(context.Context, string) (bool, error)         { return true, nil }
func (scripted) Review(context.Context, ceremony.Review) (bool, error) { return true, nil }
func (scripted) Notice(context.Context, string) error                  { return nil }
func (scripted) Progress(string)                                       {}

// setupMedia makes dir/media with the plan of writePlan initialised
// (stage "init"), signed ("signed") or published ("published").
func setupMedia(t *testing.T, dir string, fake *fakeBackend, stage string) {
	t.Helper()
	ctx := context.Background()
	plan, err := ceremony.LoadPlan(writePlan(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "ceremony.yaml"))
	ws, err := ceremony.OpenOrNewWorkspace(filepath.Join(dir, "media"))
	if err != nil {
		t.Fatal(err)
	}
	ws.Now = func() time.Time { return testNow }
	open := func(ctx context.Context, uri string) (hsm.Token, hsm.PIN, error) {
		tok, err := fake.Open(ctx, uri)
		return tok, hsm.PIN{}, err
	}
	if _, err := ceremony.Init(ctx, ws, scripted{}, ceremony.InitOptions{Plan: plan, PlanBytes: data, Open: open}); err != nil {
		t.Fatal(err)
	}
	if stage == "init" {
		return
	}
	for _, who := range []string{"alice", "bob", "dave"} {
		tok, _, err := open(ctx, "pkcs11:token="+who)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ceremony.Sign(ctx, ws, tok, scripted{}, ceremony.SignOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if stage == "signed" {
		return
	}
	if _, err := ceremony.Publish(ws, testNow); err != nil {
		t.Fatal(err)
	}
}

// goldenScreen runs the program at 80x24 in dir (paths on screen are then
// relative and the same on every machine), drives it, and compares the
// screen once it shows every one of want with the golden file.
func goldenScreen(t *testing.T, dir string, opts Options, drive func(tm *teatest.TestModel), want ...string) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	back := func() {
		if err := os.Chdir(wd); err != nil {
			panic(err)
		}
	}
	t.Cleanup(func() {
		if cwd, _ := os.Getwd(); cwd != wd {
			back()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	a := New(ctx, opts)
	tm := teatest.NewTestModel(t, a, teatest.WithInitialTermSize(80, 24))
	if drive != nil {
		drive(tm)
	}
	waitText(t, tm, want...)
	delete(shown, tm)
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	final := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*App)
	view := ansi.Strip(final.View())
	cancel()
	a.Close()
	back()
	// The transcript's hash covers the medium's absolute path and the
	// session (host, process): the same on no two runs.
	view = transcriptHash.ReplaceAllLiteralString(view, "last entry SHA-256 <hash>")
	golden.RequireEqual(t, []byte(view))
}

// shown accumulates what each program wrote: the renderer redraws only
// the lines that change, so a wait must look at everything written so
// far, not only at what came since the last wait.
var shown = map[*teatest.TestModel]*bytes.Buffer{}

var transcriptHash = regexp.MustCompile(`last entry SHA-256 [0-9a-f]+…?`)

// waitText waits until the program has shown every one of want.
func waitText(t *testing.T, tm *teatest.TestModel, want ...string) {
	t.Helper()
	buf := shown[tm]
	if buf == nil {
		buf = &bytes.Buffer{}
		shown[tm] = buf
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := io.ReadAll(tm.Output())
		buf.Write(b)
		ok := true
		for _, w := range want {
			if !bytes.Contains(buf.Bytes(), []byte(w)) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the program never showed %q; it wrote:\n%s", want, ansi.Strip(buf.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// typePIN waits for the PIN prompt, types pin and enters it.
func typePIN(t *testing.T, tm *teatest.TestModel, pin string) {
	t.Helper()
	waitText(t, tm, "type your PIN")
	tm.Type(pin)
	press(tm, "enter")
}

func press(tm *teatest.TestModel, keys ...string) {
	for _, k := range keys {
		switch k {
		case "enter":
			tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		case "down":
			tm.Send(tea.KeyMsg{Type: tea.KeyDown})
		case "space":
			tm.Send(tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}})
		default:
			tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)})
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func goldenOptions(t *testing.T, fake *fakeBackend) Options {
	opts := testOptions(t, "media", fake)
	opts.InterfacesUp = func() ([]string, error) { return []string{"eth0"}, nil }
	opts.PollInterval = 200 * time.Millisecond
	return opts
}

func TestGolden(t *testing.T) {
	t.Run("home", func(t *testing.T) {
		dir := t.TempDir()
		fake := newFakeBackend("alice", "bob", "carol", "dave")
		setupMedia(t, dir, fake, "signed")
		goldenScreen(t, dir, goldenOptions(t, fake), nil, "Tokens (4)", "ready to publish", "NETWORK UP")
	})
	t.Run("plan", func(t *testing.T) {
		dir := t.TempDir()
		fake := newFakeBackend("alice", "bob", "carol", "dave")
		writePlan(t, dir)
		opts := goldenOptions(t, fake)
		opts.Plan = "ceremony.yaml"
		goldenScreen(t, dir, opts, func(tm *teatest.TestModel) {
			waitText(t, tm, "empty: ready")
			press(tm, "n")
			waitText(t, tm, "Check the clock")
			press(tm, "enter")
			waitText(t, tm, "Open the plan")
			press(tm, "enter")
		}, "Read the plan aloud", "online-timestamp.pem")
	})
	signTo := func(t *testing.T, tm *teatest.TestModel) {
		waitText(t, tm, "waiting for signatures", "Tokens (")
		press(tm, "s")
		waitText(t, tm, "Check the clock")
		press(tm, "enter")
		waitText(t, tm, "See what is staged")
		press(tm, "enter")
		waitText(t, tm, "Insert the token", "alice's key: signs")
	}
	t.Run("sign-tokens", func(t *testing.T) {
		dir := t.TempDir()
		fake := newFakeBackend("alice", "bob", "carol", "dave", "erin")
		setupMedia(t, dir, fake, "init")
		goldenScreen(t, dir, goldenOptions(t, fake), func(tm *teatest.TestModel) { signTo(t, tm) }, "wrong token", "dave's key: signs")
	})
	t.Run("sign-review", func(t *testing.T) {
		dir := t.TempDir()
		fake := newFakeBackend("alice", "bob", "carol", "dave")
		setupMedia(t, dir, fake, "init")
		goldenScreen(t, dir, goldenOptions(t, fake), func(tm *teatest.TestModel) {
			signTo(t, tm)
			press(tm, "enter")
		}, "Fingerprint of the exact bytes")
	})
	t.Run("sign-pin", func(t *testing.T) {
		dir := t.TempDir()
		fake := newFakeBackend("alice", "bob", "carol", "dave")
		setupMedia(t, dir, fake, "init")
		goldenScreen(t, dir, goldenOptions(t, fake), func(tm *teatest.TestModel) {
			signTo(t, tm)
			press(tm, "enter")
			waitText(t, tm, "Fingerprint of the exact bytes")
			press(tm, "y")
		}, "type your PIN", "3 retries left")
	})
	t.Run("sign-done", func(t *testing.T) {
		dir := t.TempDir()
		fake := newFakeBackend("alice", "bob", "carol", "dave")
		setupMedia(t, dir, fake, "init")
		goldenScreen(t, dir, goldenOptions(t, fake), func(tm *teatest.TestModel) {
			signTo(t, tm)
			press(tm, "enter")
			waitText(t, tm, "Fingerprint of the exact bytes")
			press(tm, "y")
			typePIN(t, tm, "1234")
		}, "5. Signed", "signed by alice")
	})
	t.Run("verify", func(t *testing.T) {
		dir := t.TempDir()
		fake := newFakeBackend("alice", "bob", "carol", "dave")
		setupMedia(t, dir, fake, "published")
		goldenScreen(t, dir, goldenOptions(t, fake), func(tm *teatest.TestModel) {
			waitText(t, tm, "nothing staged")
			press(tm, "v")
			waitText(t, tm, "directory: media")
			press(tm, "enter")
		}, "2. Result", "OK: no problem found")
	})
	t.Run("renewal", func(t *testing.T) {
		dir := t.TempDir()
		fake := newFakeBackend("alice", "bob", "carol", "dave")
		setupMedia(t, dir, fake, "published")
		goldenScreen(t, dir, goldenOptions(t, fake), func(tm *teatest.TestModel) {
			waitText(t, tm, "nothing staged")
			press(tm, "r")
			waitText(t, tm, "Check the clock")
			press(tm, "enter")
		}, "Choose what to renew", "targets v1")
	})
	t.Run("revocation", func(t *testing.T) {
		dir := t.TempDir()
		fake := newFakeBackend("alice", "bob", "carol", "dave")
		setupMedia(t, dir, fake, "published")
		goldenScreen(t, dir, goldenOptions(t, fake), func(tm *teatest.TestModel) {
			waitText(t, tm, "nothing staged")
			press(tm, "x")
			waitText(t, tm, "Check the clock")
			press(tm, "enter")
			waitText(t, tm, "Mark the compromised keys")
			press(tm, "down", "space")
		}, "[x] bob")
	})
	t.Run("rehearsal", func(t *testing.T) {
		dir := t.TempDir()
		goldenScreen(t, dir, goldenOptions(t, newFakeBackend()), func(tm *teatest.TestModel) {
			waitText(t, tm, "Tokens (0)")
			press(tm, "h")
		}, "Set up throw-away tokens")
	})
}

// The golden files must not depend on where the test runs.
func TestGoldenFilesHaveNoLocalPaths(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "TestGolden", "*.golden"))
	if len(files) == 0 {
		t.Skip("no golden files yet")
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if strings.Contains(string(data), os.TempDir()+"/") {
			t.Errorf("%s holds a temporary path", f)
		}
	}
}
