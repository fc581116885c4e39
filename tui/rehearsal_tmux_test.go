package tui

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pivtest"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// TestRealBinaryRehearsalInTmux runs the rehearsal of an installed
// tuf-ceremony: the binary alone, started outside the repository with no
// Go toolchain on PATH, in tmux at 80x24. It sets up bob's virtual
// YubiKey itself, generates the four keys (bob's on the card, attested),
// and quitting in the middle leaves no process and no file behind.
func TestRealBinaryRehearsalInTmux(t *testing.T) {
	_, err := exec.LookPath("tmux")
	softhsmtest.Require(t, err == nil, "tmux", "tmux")
	softhsmtest.RequireSoftHSM(t)
	pivtest.Require(t)

	dir := t.TempDir()
	bin := filepath.Join(dir, "tuf-ceremony")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tuf-ceremony")
	build.Dir = softhsmtest.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tmp := filepath.Join(dir, "tmp") // the rehearsal's TMPDIR: empty again at the end
	work := filepath.Join(dir, "work")
	for _, d := range []string{tmp, work} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}

	m := &tmuxTerm{t: t, socket: fmt.Sprintf("tuf-ceremony-rehearsal-%d", os.Getpid()), name: "rehearsal"}
	t.Cleanup(func() { exec.Command("tmux", "-L", m.socket, "kill-server").Run() })
	shell := fmt.Sprintf("cd %q && env -i PATH=/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin HOME=%q TMPDIR=%q TERM=xterm-256color NO_COLOR=1 %q tui; echo tui exited $?; sleep 60",
		work, work, tmp, bin)
	m.tmux("-f", "/dev/null", "new-session", "-d", "-s", m.name, "-x", "80", "-y", "24", shell)

	m.waitFor("tuf-ceremony · home")
	m.send("h")
	m.waitFor("1. Set up throw-away tokens")
	m.send("Enter")
	screen := m.waitFor("2. Tokens ready", "touched automatically")
	pins := map[string]string{}
	for _, match := range regexp.MustCompile(`(?m)^ +(alice|bob|carol|dave) +(SoftHSM token|virtual YubiKey \d+) +PIN (\d{8})`).FindAllStringSubmatch(screen, -1) {
		pins[match[1]] = match[3]
		if (match[1] == "bob") != (match[2] != "SoftHSM token") {
			t.Errorf("%s is on a %s", match[1], match[2])
		}
	}
	if len(pins) != 4 {
		t.Fatalf("PINs read from the screen: %v\n%s", pins, screen)
	}
	m.send("Enter")
	m.waitFor("1. Check the clock and the air gap")
	m.send("Enter")
	m.waitFor("2. Open the plan")
	m.send("Enter")
	m.waitFor("3. Read the plan aloud", "root: 2 of 3 keys")
	m.send("Enter")
	for _, who := range rehearsalCustodians {
		m.waitFor("insert the token of " + who)
		m.send("Enter")
		m.waitFor("type your PIN")
		m.text(pins[who])
		m.send("Enter")
	}
	m.waitFor("5. Keys generated, version 1 staged")

	// bob's key was born on the virtual YubiKey and attested.
	media, _ := filepath.Glob(filepath.Join(tmp, "tuf-ceremony-rehearsal-*", "media"))
	if len(media) != 1 {
		t.Fatalf("media: %v", media)
	}
	files, _ := filepath.Glob(filepath.Join(media[0], "keys", "*.json"))
	attested := false
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rec ceremony.KeyRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Custodian == "bob" {
			attested = rec.Evidence != nil && rec.Evidence.Kind == "piv-attestation" && rec.Token != nil && rec.Token.Backend == "piv"
		}
	}
	if !attested {
		t.Errorf("bob's key is not attested by a (virtual) YubiKey: %v", files)
	}

	// Quit in the middle of the ceremony.
	m.send("C-c")
	m.waitFor("Quit anyway?")
	m.send("y")
	m.waitFor("tui exited")
	// (The pane's shell names tmp itself; the rehearsal's pcscd names its
	// directory in tmp.)
	for _, p := range pcscdProcesses(t, filepath.Join(tmp, "tuf-ceremony-")) {
		t.Errorf("process %d of the rehearsal still runs after the TUI quit", p)
	}
	left, _ := os.ReadDir(tmp)
	for _, e := range left {
		t.Errorf("%s left behind in the TUI's TMPDIR", e.Name())
	}
}
