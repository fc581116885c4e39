package tui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// tmuxTerm is the real binary in a real terminal (tmux), driven by keys.
type tmuxTerm struct {
	t      *testing.T
	socket string
	name   string
}

func (m *tmuxTerm) tmux(args ...string) string {
	m.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", m.socket}, args...)...).CombinedOutput()
	if err != nil {
		m.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (m *tmuxTerm) screen() string { return m.tmux("capture-pane", "-p", "-t", m.name) }

// send types keys (tmux key names, or text with -l).
func (m *tmuxTerm) send(keys ...string) {
	m.tmux(append([]string{"send-keys", "-t", m.name}, keys...)...)
}

func (m *tmuxTerm) text(s string) { m.tmux("send-keys", "-t", m.name, "-l", s) }

// waitFor waits until the screen shows every one of want.
func (m *tmuxTerm) waitFor(want ...string) string {
	m.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := m.screen()
		ok := true
		for _, w := range want {
			if !strings.Contains(s, w) {
				ok = false
			}
		}
		if ok {
			return s
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("the terminal never showed %q; it shows:\n%s", want, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRealBinaryInTmux builds cmd/tuf-ceremony, runs `tuf-ceremony tui`
// in a detached tmux session of 80x24 against SoftHSM tokens made by
// scripts/softhsm-tokens.sh, completes a bootstrap (new repository, three
// signatures with the PINs typed, publish, record) by sending keys, and
// checks that the published metadata verifies.
func TestRealBinaryInTmux(t *testing.T) {
	_, err := exec.LookPath("tmux")
	softhsmtest.Require(t, err == nil, "tmux", "tmux")
	store := softhsmtest.New(t, "alice", "bob", "carol", "dave")

	dir := t.TempDir()
	bin := filepath.Join(dir, "tuf-ceremony")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tuf-ceremony")
	build.Dir = softhsmtest.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "tui", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "guided") {
		t.Fatalf("the binary has no tui command: add newTUICmd(f) to root.AddCommand in cmd/tuf-ceremony/root.go (exit: %v)", err)
	}

	for _, f := range []string{"online-snapshot.pem", "online-timestamp.pem"} {
		data, err := os.ReadFile(filepath.Join(softhsmtest.RepoRoot(), "testdata", "plans", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var plan strings.Builder
	plan.WriteString("name: tmux rehearsal\nroles:\n  root:\n    threshold: 2\n    expires: 365d\n    keys:\n")
	for _, who := range []string{"alice", "bob", "carol"} {
		fmt.Fprintf(&plan, "      - {custodian: %s, token: %q}\n", who, store.URIWithoutPIN(who))
	}
	fmt.Fprintf(&plan, "  targets:\n    threshold: 1\n    expires: 26w\n    keys:\n      - {custodian: dave, token: %q}\n", store.URIWithoutPIN("dave"))
	plan.WriteString("  snapshot:\n    threshold: 1\n    expires: 7d\n    keys:\n      - {public_key: online-snapshot.pem, custodian: online}\n")
	plan.WriteString("  timestamp:\n    threshold: 1\n    expires: 1d\n    keys:\n      - {public_key: online-timestamp.pem, custodian: online}\n")
	planFile := filepath.Join(dir, "ceremony.yaml")
	if err := os.WriteFile(planFile, []byte(plan.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	media := filepath.Join(dir, "media")

	m := &tmuxTerm{t: t, socket: fmt.Sprintf("tuf-ceremony-test-%d", os.Getpid()), name: "ceremony"}
	t.Cleanup(func() { exec.Command("tmux", "-L", m.socket, "kill-server").Run() })
	shell := fmt.Sprintf("cd %q && %q tui --media %q --plan %q --module %q; echo tui exited $?; sleep 60", dir, bin, media, planFile, store.Module)
	m.tmux("-f", "/dev/null", "new-session", "-d", "-s", m.name, "-x", "80", "-y", "24",
		"-e", "SOFTHSM2_CONF="+store.Conf, "-e", "NO_COLOR=1", "-e", "TERM=xterm-256color", shell)

	m.waitFor("tuf-ceremony · home", "Tokens (4)", "empty: ready for a new repository")
	m.send("n")
	m.waitFor("1. Check the clock and the air gap")
	m.send("Enter")
	m.waitFor("2. Open the plan", "plan file: "+planFile[:20])
	m.send("Enter")
	m.waitFor("3. Read the plan aloud", "root: 2 of 3 keys")
	m.send("Enter")
	for _, who := range []string{"alice", "bob", "carol", "dave"} {
		m.waitFor("insert the token of " + who)
		m.send("Enter")
		m.waitFor("type your PIN")
		m.text(store.PIN(t, who))
		m.send("Enter")
	}
	m.waitFor("5. Keys generated, version 1 staged")
	m.send("Enter")

	sign := func(who string, down int, after string) {
		m.waitFor("2. See what is staged")
		m.send("Enter")
		m.waitFor("3. Insert the token", "✓ "+who+"'s key: signs")
		for i := 0; i < down; i++ {
			m.send("Down")
		}
		m.waitFor("▶ " + who)
		m.send("Enter")
		m.waitFor("Review: staged/", "Fingerprint of the exact bytes")
		m.send("y")
		m.waitFor("type your PIN")
		m.text(store.PIN(t, who))
		m.send("Enter")
		m.waitFor("5. Signed", after)
		m.send("Enter")
	}
	sign("alice", 0, "1/2")
	sign("bob", 0, "2/2")
	sign("dave", 1, "Every threshold is met")

	m.waitFor("tuf-ceremony · Publish", "Check that every threshold is met")
	m.send("Enter")
	m.waitFor("Published; verified as a TUF client would", "OK: no problem found")
	m.send("Enter")
	m.waitFor("Write the ceremony record")
	m.send("Enter")
	m.waitFor("Ceremony record written")
	m.send("Enter")
	m.waitFor("The ceremony is complete.")
	m.send("Enter")
	m.waitFor("tuf-ceremony · home", "root     v1")
	m.send("q")
	m.waitFor("tui exited 0")

	rep, err := ceremony.Verify(media, ceremony.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("the published metadata does not verify: %v", rep.Problems)
	}
	if len(rep.Roots) != 1 || rep.Targets == nil {
		t.Fatalf("published: roots %v, targets %v", rep.Roots, rep.Targets)
	}
	for _, pin := range []string{store.PIN(t, "alice"), store.PIN(t, "dave")} {
		data, _ := os.ReadFile(filepath.Join(media, ceremony.TranscriptFile))
		if strings.Contains(string(data), pin) {
			t.Fatal("a PIN is in the transcript")
		}
	}
}
