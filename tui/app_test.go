package tui

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

func TestHomeShowsTokensMediaClockAndAirGap(t *testing.T) {
	fake := newFakeBackend("alice", "bob")
	media := filepath.Join(t.TempDir(), "media")
	opts := testOptions(t, media, fake)
	opts.InterfacesUp = func() ([]string, error) { return []string{"eth0", "wlan0"}, nil }
	h := newHarness(t, opts)
	v := h.waitFor("Tokens (2)", "empty: ready for a new repository", "NETWORK UP")
	for _, want := range []string{
		"tuf-ceremony · home",
		"Clock: Sun 22 Nov 2026 09:30:00 UTC",
		"compare with a watch, then press c",
		"!! NETWORK UP: eth0, wlan0",
		"ip link set eth0 down",
		"alice    0000000000001000, 0 keys",
		"bob      0000000000001001",
		"n  New repository (plan)",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("home does not show %q:\n%s", want, v)
		}
	}

	// A token pulled out disappears at the next poll; the clock is
	// confirmed with c.
	fake.setPresent("bob", false)
	h.poll()
	v = h.waitFor("Tokens (1)")
	if strings.Contains(v, "bob ") {
		t.Errorf("bob's token was removed but is still listed:\n%s", v)
	}
	h.key("c")
	h.waitFor("✓ checked against a watch")
}

func TestHomeWithoutNetworkSaysSoQuietly(t *testing.T) {
	h := newHarness(t, testOptions(t, "", newFakeBackend()))
	v := h.waitFor("air gap: no network interface up", "none chosen")
	if strings.Contains(v, "NETWORK UP") {
		t.Errorf("no interface is up, yet:\n%s", v)
	}
	// m asks for the medium.
	h.key("m")
	h.waitFor("media directory:")
	dir := t.TempDir()
	h.typeText(dir)
	h.key("enter")
	h.waitFor("Medium "+dir[:20], "empty: ready for a new repository")
}

func TestScreenFitsTheTerminal(t *testing.T) {
	h := newHarness(t, testOptions(t, t.TempDir(), newFakeBackend("alice", "bob", "carol", "dave", "erin", "frank", "grace")))
	for _, size := range [][2]int{{80, 24}, {120, 40}, {100, 30}} {
		h.update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		h.poll()
		v := h.a.View()
		lines := strings.Split(v, "\n")
		if len(lines) != size[1] {
			t.Errorf("%dx%d: %d lines", size[0], size[1], len(lines))
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w > size[0] {
				t.Errorf("%dx%d: line %d is %d cells wide: %q", size[0], size[1], i+1, w, ansi.Strip(l))
			}
		}
	}
}

func TestQuitAsksWhileACeremonyIsInProgress(t *testing.T) {
	media := filepath.Join(t.TempDir(), "media")
	h := newHarness(t, testOptions(t, media, newFakeBackend("alice")))
	h.waitFor("empty: ready")

	// Nothing in progress: q quits at once.
	_, cmd := h.a.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	if cmd == nil || cmd() != tea.Quit() {
		t.Fatal("q on the home screen did not quit")
	}

	h.key("n")
	h.waitFor("1. Check the clock and the air gap")
	h.key("enter")
	h.waitFor("2. Open the plan")
	h.key("ctrl+c")
	h.waitFor("A ceremony is in progress. Quit anyway?")
	h.key("n")
	v := h.waitFor("2. Open the plan")
	if strings.Contains(v, "Quit anyway") {
		t.Fatal("the question stayed after n")
	}
	h.key("ctrl+c")
	h.waitFor("Quit anyway?")
	h.key("y")
	if !h.quit {
		t.Fatal("y did not quit")
	}
}

// esc on the first step goes home; once a step is done it asks first, and
// n (or esc again) stays on the step with what was typed.
func TestLeavingACeremonyAsksOnceStepsAreDone(t *testing.T) {
	media := filepath.Join(t.TempDir(), "media")
	h := newHarness(t, testOptions(t, media, newFakeBackend("alice")))
	h.waitFor("empty: ready")

	h.key("n")
	h.waitFor("1. Check the clock and the air gap")
	h.key("esc")
	h.waitFor("Ceremonies")

	h.key("n")
	h.waitFor("1. Check the clock and the air gap")
	h.key("enter")
	h.waitFor("2. Open the plan")
	h.key("esc")
	h.waitFor("Leave this ceremony?")
	h.key("n")
	v := h.waitFor("2. Open the plan")
	if strings.Contains(v, "Leave this ceremony?") {
		t.Fatal("the question stayed after n")
	}
	h.key("esc")
	h.waitFor("Leave this ceremony?")
	h.key("esc")
	h.waitFor("2. Open the plan")
	h.key("esc")
	h.waitFor("Leave this ceremony?")
	h.key("y")
	h.waitFor("Ceremonies")
}

func TestNoColor(t *testing.T) {
	render := func() string {
		r := lipgloss.NewRenderer(io_discard{}, termenv.WithTTY(true))
		opts := testOptions(t, "", newFakeBackend())
		opts.Renderer = r
		opts.InterfacesUp = func() ([]string, error) { return []string{"eth0"}, nil }
		h := newHarness(t, opts)
		h.waitFor("NETWORK UP")
		return h.a.View()
	}
	t.Setenv("TERM", "xterm-256color")
	t.Setenv("COLORTERM", "truecolor")
	t.Setenv("NO_COLOR", "")
	if v := render(); !strings.Contains(v, "\x1b[") {
		t.Fatal("no colour on a colour terminal: the test does not test anything")
	}
	t.Setenv("NO_COLOR", "1")
	if v := render(); strings.Contains(v, "\x1b[") {
		t.Errorf("NO_COLOR=1, yet the screen has escape sequences: %q", v[:200])
	}
}

type io_discard struct{}

func (io_discard) Write(p []byte) (int, error) { return len(p), nil }

// bootstrap runs a new repository from the plan, three signatures (with a
// wrong PIN first), publish and the ceremony record, by keys alone.
func bootstrap(t *testing.T, h *harness, plan string) {
	t.Helper()
	h.key("n")
	h.waitFor("1. Check the clock and the air gap", "Sunday 22 November 2026, 09:30:00 UTC")
	h.key("enter")
	h.waitFor("2. Open the plan", "plan file:")
	h.clearInput()
	h.typeText(plan)
	h.key("enter")
	h.waitFor("3. Read the plan aloud", "root: 2 of 3 keys, expires after 365d", "dave", "online key online-snapshot.pem")
	h.key("enter")
	for _, who := range []string{"alice", "bob", "carol", "dave"} {
		h.waitFor("insert the token of "+who, "✓ "+who)
		h.key("enter")
		h.waitFor("type your PIN", "3 retries left")
		h.typeText("1234")
		h.key("enter")
	}
	v := h.waitFor("5. Keys generated, version 1 staged", "staged staged/1.root.json", "staged staged/1.targets.json")
	for _, want := range []string{"root: 2 of 3", "alice", "targets: 1 of 1", "dave"} {
		if !strings.Contains(v, want) {
			t.Errorf("keys screen lacks %q:\n%s", want, v)
		}
	}
	h.key("enter")

	// alice: a wrong PIN first, then the right one.
	h.waitFor("Sign a staged proposal", "2. See what is staged", "root v1", "0/2", "can still sign: alice, bob, carol")
	h.key("enter")
	h.waitFor("3. Insert the token", "✓ alice's key: signs 1.root.json")
	h.key("enter")
	v = h.waitFor("Review: staged/1.root.json (root v1)", "Fingerprint of the exact bytes")
	if !strings.Contains(v, "Contents (first version)") {
		t.Errorf("review screen:\n%s", v)
	}
	h.key("y")
	h.waitFor("type your PIN")
	h.typeText("9999")
	h.key("enter")
	h.waitFor("error: wrong PIN", "hint: press r and type the PIN again")
	h.key("r")
	h.waitFor("3. Insert the token")
	h.key("enter")
	h.waitFor("Review: staged/1.root.json")
	h.key("y")
	h.waitFor("type your PIN", "2 retries left")
	h.typeText("1234")
	h.key("enter")
	h.waitFor("5. Signed", "staged/1.root.json signed by alice", "1/2")
	h.key("enter")

	// bob: alice's token is now named as the wrong one.
	h.waitFor("2. See what is staged", "signed: alice")
	h.key("enter")
	v = h.waitFor("3. Insert the token", "✗ wrong token: alice's")
	if !strings.Contains(v, "▶ bob") {
		t.Errorf("bob's token is not chosen first:\n%s", v)
	}
	h.key("enter")
	h.waitFor("Review: staged/1.root.json")
	h.key("y")
	h.waitFor("type your PIN")
	h.typeText("1234")
	h.key("enter")
	h.waitFor("5. Signed", "2/2")
	h.key("enter")

	// dave signs targets.
	h.waitFor("2. See what is staged")
	h.key("enter")
	h.waitFor("3. Insert the token", "✓ dave's key: signs 1.targets.json")
	for !strings.Contains(h.view(), "▶ dave") {
		h.key("down")
	}
	h.key("enter")
	h.waitFor("Review: staged/1.targets.json (targets v1)")
	h.key("y")
	h.waitFor("type your PIN")
	h.typeText("1234")
	h.key("enter")
	h.waitFor("5. Signed", "Every threshold is met: next, publish.")
	h.key("enter")

	// publish, verify, record
	h.waitFor("tuf-ceremony · Publish", "Check that every threshold is met", "ready to publish")
	h.key("enter")
	v = h.waitFor("Published; verified as a TUF client would", "OK: no problem found", "metadata/1.root.json")
	for _, want := range []string{"CUSTODIAN", "alice", "born on the token, never extractable", "root  2 of 3"} {
		if !strings.Contains(v, want) {
			t.Errorf("verify table lacks %q:\n%s", want, v)
		}
	}
	h.key("enter")
	h.waitFor("Write the ceremony record", "record file:")
	h.key("enter")
	h.waitFor("Ceremony record written", "# TUF key ceremony record: model test")
	h.key("enter")
	h.waitFor("The ceremony is complete.")
	h.key("enter")
	h.waitFor("tuf-ceremony · home", "root     v1")
}

func TestBootstrapByKeys(t *testing.T) {
	dir := t.TempDir()
	plan := writePlan(t, dir)
	media := filepath.Join(dir, "media")
	opts := testOptions(t, media, newFakeBackend("alice", "bob", "carol", "dave"))
	h := newHarness(t, opts)
	h.waitFor("Tokens (4)")
	bootstrap(t, h, plan)

	rep, err := ceremony.Verify(media, ceremony.VerifyOptions{At: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("the published metadata does not verify: %v", rep.Problems)
	}
	// Every step the custodians acknowledged is in the transcript.
	ws, err := ceremony.OpenWorkspace(media)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ws.Transcript()
	if err != nil {
		t.Fatal(err)
	}
	var acks []string
	for _, e := range entries {
		if e.Event != "acknowledged" {
			continue
		}
		var a ackRecord
		if err := json.Unmarshal(e.Data, &a); err != nil {
			t.Fatal(err)
		}
		acks = append(acks, a.Ceremony+": "+a.Title)
	}
	got := strings.Join(acks, "\n")
	for _, want := range []string{
		"new-repository: Check the clock and the air gap",
		"new-repository: Read the plan aloud",
		"new-repository: Keys generated, version 1 staged",
		"sign: See what is staged and who can sign",
		"sign: Signed",
		"publish: Check that every threshold is met",
		"publish: Published; verified as a TUF client would",
		"publish: Ceremony record written",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("transcript lacks the acknowledgement %q; it has:\n%s", want, got)
		}
	}
	files, _ := filepath.Glob(filepath.Join(opts.ReportDir, "ceremony-record-*.md"))
	if len(files) != 1 {
		t.Fatalf("ceremony record: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	if !bytes.Contains(data, []byte("## Witnesses")) {
		t.Errorf("record:\n%s", data)
	}
}

func TestRenewalThenSign(t *testing.T) {
	dir := t.TempDir()
	fake := newFakeBackend("alice", "bob", "carol", "dave")
	setupMedia(t, dir, fake, "published")
	h := newHarness(t, testOptions(t, filepath.Join(dir, "media"), fake))
	h.waitFor("nothing staged", "Tokens (4)")
	h.key("r")
	h.waitFor("Check the clock")
	h.key("enter")
	h.waitFor("2. Choose what to renew", "root v1", "targets v1")
	h.key("down")
	h.key("enter")
	h.waitFor("3. How long the new version is valid", "validity:")
	h.typeText("12x")
	h.key("enter")
	h.waitFor("error:")
	h.clearInput()
	h.typeText("90d")
	h.key("enter")
	h.waitFor("4. Renewal staged", "staged staged/2.targets.json", "expires")
	h.key("enter")
	h.waitFor("Sign a staged proposal", "targets v2")
	h.key("enter")
	h.waitFor("3. Insert the token", "✓ dave's key: signs 2.targets.json", "✗ wrong token")
	h.key("enter")
	h.waitFor("Review: staged/2.targets.json (targets v2)", "Changes since v1:", "~ expires")
	h.key("y")
	h.waitFor("type your PIN")
	h.typeText("1234")
	h.key("enter")
	h.waitFor("5. Signed", "Every threshold is met")
	h.key("enter")
	h.waitFor("tuf-ceremony · Publish")
	h.key("enter")
	h.waitFor("OK: no problem found", "metadata/2.targets.json")
}

func TestEmergencyRevocation(t *testing.T) {
	dir := t.TempDir()
	fake := newFakeBackend("alice", "bob", "carol", "dave", "erin")
	setupMedia(t, dir, fake, "published")
	h := newHarness(t, testOptions(t, filepath.Join(dir, "media"), fake))
	h.waitFor("nothing staged", "Tokens (5)")
	h.key("x")
	h.waitFor("Emergency revocation", "Check the clock")
	h.key("enter")
	h.waitFor("2. Mark the compromised keys", "[ ] bob")
	h.key("down")
	h.key("space")
	h.waitFor("[x] bob")
	h.key("enter")
	// erin gets a new root key on her token.
	h.waitFor("3. Generate new keys", "no more new keys", "erin")
	for !strings.Contains(h.view(), "▶ erin") {
		h.key("down")
	}
	h.key("enter")
	h.waitFor("Name the custodian of the new key", "custodian:")
	h.typeText("erin")
	h.key("enter")
	h.waitFor("type your PIN")
	h.typeText("1234")
	h.key("enter")
	h.waitFor("Generate new keys", "✓ new root key of erin")
	h.key("enter") // no more new keys
	h.waitFor("Set the threshold", "threshold: 2")
	h.key("enter")
	h.waitFor("How long the new root is valid", "validity: 30d")
	h.key("enter")
	v := h.waitFor("Proposal staged", "staged staged/2.root.json")
	for _, want := range []string{"bob", "erin", "compromised"} {
		if !strings.Contains(v, want) {
			t.Errorf("proposal screen lacks %q:\n%s", want, v)
		}
	}
	h.key("enter")
	h.waitFor("Sign a staged proposal", "previous root v1")
}
