package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// TestSecretsNeverWritten runs a whole rehearsal through the real binary
// (tokens, keygen, init, status, sign, publish, verify, propose targets,
// report, and refusals with a wrong PIN), with PINs given by pin-source
// files (and once by pin-value, as automation may), then searches every
// stdout and stderr, every file under the medium, the transcript among
// them, and the report for each PIN used, wrong ones included: none may
// appear.
//
// A PIN must also never be in the argv of a child process (the spec):
// TestSecretsNoChildProcess finds every place that can start one.
func TestSecretsNeverWritten(t *testing.T) {
	store := softhsmtest.New(t, "alice", "bob", "carol", "dave", "erin")
	bin := secretsBinary(t)
	work := t.TempDir()
	media := filepath.Join(work, "media")

	pins := map[string]string{} // what → PIN
	for _, label := range []string{"alice", "bob", "carol", "dave", "erin"} {
		pins["PIN of "+label] = store.PIN(t, label)
	}
	wrong := "5" + store.PIN(t, "alice")[1:] + "7"
	wrongFile := filepath.Join(work, "wrong.pin")
	os.WriteFile(wrongFile, []byte(wrong+"\n"), 0o600)
	pins["wrong PIN"] = wrong
	wrongValue := "93" + store.PIN(t, "bob")[2:]
	pins["wrong pin-value"] = wrongValue
	for what, pin := range pins {
		if len(pin) < 6 {
			t.Fatalf("%s is too short to search for: %q", what, pin)
		}
	}

	for _, name := range []string{"snapshot.pem", "timestamp.pem"} {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(pub)
		os.WriteFile(filepath.Join(work, name), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	}
	key := func(label, alg string) string {
		return fmt.Sprintf(`{custodian: %s, token: "%s", algorithm: %s}`, label, store.URI(label), alg)
	}
	plan := fmt.Sprintf(`name: secrets rehearsal
roles:
  root:
    threshold: 2
    expires: 365d
    keys: [%s, %s, %s]
  targets:
    threshold: 1
    expires: 26w
    keys: [%s]
  snapshot:
    threshold: 1
    expires: 7d
    keys: [{public_key: snapshot.pem}]
  timestamp:
    threshold: 1
    expires: 1d
    keys: [{public_key: timestamp.pem}]
`, key("alice", "ecdsa-p256"), key("bob", "ed25519"), key("carol", "ecdsa-p384"), key("dave", "rsa-3072"))
	planPath := filepath.Join(work, "plan.yaml")
	os.WriteFile(planPath, []byte(plan), 0o644)
	target := filepath.Join(work, "app.tgz")
	os.WriteFile(target, []byte("the release\n"), 0o644)
	report := filepath.Join(work, "record.md")

	var outputs []string // "command: stdout|stderr", then the text
	run := func(ok bool, args ...string) (stderr string) {
		t.Helper()
		// Only the runs that pass a PIN in the URI on purpose (pin-value,
		// or a PIN mistakenly given as pin-source) have it in argv.
		line := strings.Join(args, " ")
		for what, pin := range pins {
			if strings.Contains(line, pin) && !strings.Contains(line, "pin-value="+pin) && !strings.Contains(line, "pin-source="+pin) {
				t.Fatalf("the test put the %s in argv", what)
			}
		}
		var stdout, errb bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &errb
		err := cmd.Run()
		name := "tuf-ceremony " + strings.Join(args[:min(2, len(args))], " ")
		if ok && err != nil {
			t.Fatalf("%s: %v\n%s%s", name, err, stdout.String(), errb.String())
		}
		if !ok && err == nil {
			t.Fatalf("%s succeeded; it should have failed\n%s", name, stdout.String())
		}
		outputs = append(outputs, name+" stdout", stdout.String(), name+" stderr", errb.String())
		return errb.String()
	}
	pinValueURI := func(label, pin string) string {
		return store.URIWithoutPIN(label) + "&pin-value=" + pin
	}

	run(true, "tokens", "--module", store.Module)
	run(true, "tokens", "--module", store.Module, "--json")
	run(true, "init", "--media", media, "--plan", planPath, "--yes")
	run(true, "status", "--media", media)
	// Refusals: a wrong PIN from a file and as a pin-value, and one
	// passed where a pin-source path belongs.
	for _, refusal := range []struct{ uri, why string }{
		{store.URIWithoutPIN("alice") + "&pin-source=file:" + wrongFile, "error: wrong PIN"},
		{pinValueURI("bob", wrongValue), "error: wrong PIN"},
		{store.URIWithoutPIN("carol") + "&pin-source=" + store.PIN(t, "carol"), "pin-source must be an absolute path"},
	} {
		if stderr := run(false, "sign", "--media", media, "--token", refusal.uri, "--yes"); !strings.Contains(stderr, refusal.why) {
			t.Errorf("sign refused for another reason than %q:\n%s", refusal.why, stderr)
		}
	}
	run(true, "sign", "--media", media, "--token", store.URI("alice"), "--yes")
	run(true, "sign", "--media", media, "--token", store.URI("carol"), "--yes", "--json")
	run(true, "sign", "--media", media, "--token", store.URI("dave"), "--yes")
	run(true, "status", "--media", media, "--json")
	run(true, "publish", "--media", media)
	run(true, "verify", media)
	run(true, "verify", media, "--json")
	// A key generated for later, with the PIN as a pin-value: the URI is
	// recorded without it.
	run(true, "keygen", "--media", media, "--token", pinValueURI("erin", store.PIN(t, "erin")), "--custodian", "erin", "--algorithm", "ed25519")
	run(true, "propose", "targets", "--media", media, "--add-target", "apps/app.tgz="+target)
	run(true, "sign", "--media", media, "--token", store.URI("dave"), "--yes")
	run(true, "publish", "--media", media)
	run(true, "verify", media)
	run(true, "report", "--media", media)
	run(true, "report", "--media", media, "--output", report)

	// The searches.
	if n := len(outputs); n == 0 {
		t.Fatal("no output collected")
	}
	searched := 0
	leaks := func(data []byte) []string {
		var found []string
		for what, pin := range pins {
			if bytes.Contains(data, []byte(pin)) {
				found = append(found, what)
			}
		}
		return found
	}
	search := func(where string, data []byte) {
		searched++
		for _, what := range leaks(data) {
			t.Errorf("the %s appears in %s", what, where)
		}
	}
	// The search finds what it looks for.
	if pinFile, _ := os.ReadFile(store.PINFile("dave")); len(leaks(pinFile)) != 1 {
		t.Fatalf("the search does not find dave's PIN in its PIN file")
	}
	for i := 0; i < len(outputs); i += 2 {
		search(outputs[i], []byte(outputs[i+1]))
	}
	sawTranscript := false
	err := filepath.Walk(media, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if filepath.Base(path) == "transcript.jsonl" {
			sawTranscript = len(data) > 0
		}
		search(path, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	search(report, data)
	if !sawTranscript || !bytes.Contains(data, []byte("Name: ")) {
		t.Fatalf("the rehearsal did not produce a transcript and a report (transcript %v)", sawTranscript)
	}
	t.Logf("searched %d outputs and files for %d PINs", searched, len(pins))
}

// TestSecretsNoChildProcess: a PIN can reach a child process's argv only
// where tuf-ceremony runs another program. This finds every place in the
// code linked into the binary that can: in tuf-ceremony's own packages,
// every call of exec.Command, exec.CommandContext, os.StartProcess,
// syscall.ForkExec, syscall.StartProcess or syscall.Exec; among the
// dependencies, every package that imports os/exec. Each must be one of
// the known ones below, whose argv cannot hold a custodian's PIN.
// Finally, neither the binary nor the PKCS#11 module the rehearsals load
// (SoftHSM2) imports a libc function that starts a program (fork, execve,
// posix_spawn, system, popen, …), so C code cannot do it either.
//
// PINs given in a pin-value stay in tuf-ceremony's own argv, by the
// user's choice; pin-source keeps them out of it.
func TestSecretsNoChildProcess(t *testing.T) {
	// Where tuf-ceremony's own code may start a program, and why no
	// custodian's PIN can be in its argv.
	ownSites := map[string]string{
		"hsm/virtualpiv/pcscd.go": "unshare, sh and pcscd for a rehearsal's private pcscd, with fixed arguments, the rehearsal's directory and pcscd's path; " +
			"the virtual YubiKey runs in this process and is set up over PC/SC, so its PIN and PUK never leave it",
	}
	// Dependencies that import os/exec, and what they run.
	depSites := map[string]string{
		"github.com/charmbracelet/bubbletea":    "tea.ExecProcess runs a command the TUI gives it; the TUI gives none a PIN",
		"github.com/charmbracelet/colorprofile": `"tmux info", to detect the terminal's colours`,
		"github.com/atotto/clipboard":           "xclip, xsel or wl-copy with fixed arguments; what is copied goes through stdin",
	}

	gotool := "go"
	if p, err := exec.LookPath("go"); err == nil {
		gotool = p
	}
	cmd := exec.Command(gotool, "list", "-deps", "-json", ".")
	cmd.Dir = filepath.Join(softhsmtest.RepoRoot(), "cmd", "tuf-ceremony")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/tuf-ceremony/tuf-ceremony"
	spawning := map[string]map[string]bool{
		"exec":    {"Command": true, "CommandContext": true},
		"os":      {"StartProcess": true},
		"syscall": {"ForkExec": true, "StartProcess": true, "Exec": true},
	}
	ownPackages := 0
	seenOwn, seenDeps := map[string]bool{}, map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var pkg struct {
			ImportPath string
			Dir        string
			GoFiles    []string
			CgoFiles   []string
			Imports    []string
			Module     *struct{ Path string }
		}
		if err := dec.Decode(&pkg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if pkg.Module == nil || pkg.Module.Path != module {
			if pkg.Module != nil && slices.Contains(pkg.Imports, "os/exec") {
				seenDeps[pkg.ImportPath] = true
				if depSites[pkg.ImportPath] == "" {
					t.Errorf("dependency %s imports os/exec: check it can never run a program with a PIN in its argv, then add it to the list", pkg.ImportPath)
				}
			}
			continue
		}
		ownPackages++
		for _, name := range append(slices.Clone(pkg.GoFiles), pkg.CgoFiles...) {
			path := filepath.Join(pkg.Dir, name)
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			// The local names of os/exec, os and syscall in this file.
			local := map[string]string{}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				name := filepath.Base(p)
				if imp.Name != nil {
					name = imp.Name.Name
				}
				switch p {
				case "os/exec":
					local[name] = "exec"
				case "os", "syscall":
					local[name] = p
				}
			}
			rel, _ := filepath.Rel(softhsmtest.RepoRoot(), path)
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				id, ok := sel.X.(*ast.Ident)
				if !ok || !spawning[local[id.Name]][sel.Sel.Name] {
					return true
				}
				seenOwn[rel] = true
				if ownSites[rel] == "" {
					t.Errorf("%s: %s.%s starts a program: a PIN must never be in a child's argv; if this one cannot carry a custodian's PIN, add it to the list with the reason",
						fset.Position(sel.Pos()), id.Name, sel.Sel.Name)
				}
				return true
			})
		}
	}
	if ownPackages < 5 {
		t.Fatalf("go list found %d of tuf-ceremony's packages in the binary", ownPackages)
	}
	for site := range ownSites {
		if !seenOwn[site] {
			t.Logf("%s no longer starts a program: drop it from the list", site)
		}
	}
	for dep := range depSites {
		if !seenDeps[dep] {
			t.Logf("%s is no longer linked with os/exec: drop it from the list", dep)
		}
	}

	bin := secretsBinary(t)
	spawners := []string{"fork", "vfork", "clone", "clone3", "execve", "execv", "execvp", "execvpe", "execl", "execlp", "execle", "fexecve", "posix_spawn", "posix_spawnp", "system", "popen"}
	checkImports := func(path string) {
		t.Helper()
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		imported, err := f.ImportedSymbols()
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			t.Fatal(err)
		}
		if len(imported) == 0 {
			t.Fatalf("%s imports nothing: the check would see nothing", path)
		}
		for _, s := range imported {
			if slices.Contains(spawners, s.Name) {
				t.Errorf("%s imports %s from %s", path, s.Name, s.Library)
			}
		}
	}
	checkImports(bin)
	checkImports(softhsmtest.RequireSoftHSM(t))
}

// secretsBinary builds cmd/tuf-ceremony as it ships, once per test.
func secretsBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tuf-ceremony")
	gotool := "go"
	if p, err := exec.LookPath("go"); err == nil {
		gotool = p
	}
	cmd := exec.Command(gotool, "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(softhsmtest.RepoRoot(), "cmd", "tuf-ceremony")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
