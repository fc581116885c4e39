package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/piv"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pivtest"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/virtualpiv"
)

// noPCSCD is the reason a machine without pcscd gives.
var noPCSCD = &noVirtualYubiKey{reason: "no pcscd", fix: "apt-get install pcscd vsmartcard-vpcd (or: make deps)"}

// Without virtual YubiKeys the rehearsal makes four SoftHSM tokens and a
// valid plan, and removes them again.
func TestRehearsalSetup(t *testing.T) {
	softhsmtest.RequireSoftHSM(t)
	t.Setenv("SOFTHSM2_CONF", "/nonexistent/before.conf")
	r, err := setupRehearsal(context.Background(), t.TempDir(), rehearsalOptions{noVirtualYubiKeys: noPCSCD})
	if err != nil {
		t.Fatal(err)
	}
	backend := pkcs11.NewBackend()
	infos, err := backend.Tokens(context.Background(), []string{r.module})
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, i := range infos {
		labels = append(labels, i.Label)
	}
	if len(labels) != 4 {
		t.Fatalf("tokens: %v", labels)
	}
	tok, err := hsm.Open(context.Background(), []hsm.Backend{backend}, "pkcs11:token=bob?module-path="+r.module)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Login(context.Background(), hsm.NewPIN(r.pins["bob"]), hsm.LoginOptions{}); err != nil {
		t.Fatalf("bob's rehearsal PIN: %v", err)
	}
	tok.Close()
	if _, err := ceremony.LoadPlan(r.plan); err != nil {
		t.Fatalf("rehearsal plan: %v", err)
	}
	r.close()
	if got := os.Getenv("SOFTHSM2_CONF"); got != "/nonexistent/before.conf" {
		t.Errorf("SOFTHSM2_CONF after the rehearsal: %q", got)
	}
	if _, err := os.Stat(r.dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there", r.dir)
	}
}

// Where the machine cannot run a virtual YubiKey, the rehearsal runs on
// SoftHSM alone and the "Tokens ready" screen says so, with the fix.
func TestRehearsalWithoutVirtualYubiKeySaysSo(t *testing.T) {
	softhsmtest.RequireSoftHSM(t)
	t.Setenv("SOFTHSM2_CONF", "")
	opts := testOptions(t, "", pkcs11.NewBackend())
	opts.rehearsal.noVirtualYubiKeys = noPCSCD
	h := newHarness(t, opts)
	h.waitFor("Tokens (")
	h.key("h")
	h.waitFor("1. Set up throw-away tokens", "virtual YubiKey where this machine can run one")
	h.key("enter")
	v := h.waitFor("2. Tokens ready")
	flat := strings.Join(strings.Fields(v), " ")
	for _, want := range []string{
		"bob SoftHSM token PIN " + h.a.sh.rehearsal.pins["bob"],
		"No virtual YubiKey in this rehearsal: no pcscd. bob's key is on a SoftHSM token instead.",
		"To rehearse with a virtual YubiKey, do this, then start the rehearsal again:",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("the screen lacks %q:\n%s", want, v)
		}
	}
	// The command is on a line of its own, never broken.
	if !regexp.MustCompile(`(?m)^ +apt-get install pcscd vsmartcard-vpcd \(or: make deps\) *$`).MatchString(v) {
		t.Errorf("the fix is not a line of its own:\n%s", v)
	}
	if h.a.sh.rehearsal.yk != nil {
		t.Error("virtual YubiKeys were started")
	}
	data, err := os.ReadFile(h.a.sh.rehearsal.plan)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "yubikey:") {
		t.Errorf("the plan names a YubiKey:\n%s", data)
	}
}

// The reason and the fix shown are those virtualpiv.Check gives for the
// machine.
func TestRehearsalFallbackReasonFromCheck(t *testing.T) {
	for _, c := range []struct {
		err         error
		reason, fix string
	}{
		{&virtualpiv.UnavailableError{What: "pcscd", Package: "pcscd", Fix: "apt-get install pcscd vsmartcard-vpcd (or: make deps)"},
			"no pcscd", "apt-get install pcscd vsmartcard-vpcd (or: make deps)"},
		{&virtualpiv.UnavailableError{What: "private mount namespace for pcscd", Package: "util-linux",
			Fix: "run as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)", Err: errors.New("unshare: Operation not permitted")},
			"no private mount namespace for pcscd: unshare: Operation not permitted", "run as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"},
	} {
		got := unavailable(c.err)
		if got.reason != c.reason || got.fix != c.fix {
			t.Errorf("%v: reason %q, fix %q; want %q, %q", c.err, got.reason, got.fix, c.reason, c.fix)
		}
	}
	// On this machine: either virtual YubiKeys run, or the reason says why.
	if err := virtualpiv.Check(); err != nil {
		y, err := startVirtualYubiKeys(context.Background(), t.TempDir(), 1)
		if y != nil {
			y.stop()
			t.Fatal("started although virtualpiv.Check fails")
		}
		if no, ok := err.(*noVirtualYubiKey); !ok || no.reason == "" || no.fix == "" {
			t.Fatalf("error %#v: want a reason and a fix", err)
		}
	}
}

// The whole bootstrap of a rehearsal with bob on a virtual YubiKey behind
// the rehearsal's own private pcscd: bob's key is generated on the card
// and attested, bob signs root with it, and the published metadata
// verifies with the attestation checked against the card's CA. Closing
// leaves no process, redirection or file behind.
func TestRehearsalWithVirtualYubiKey(t *testing.T) {
	softhsmtest.RequireSoftHSM(t)
	pivtest.Require(t)
	t.Setenv("SOFTHSM2_CONF", "")
	before, hadBefore := os.LookupEnv(virtualpiv.SocketEnv)
	// As Run does, before this process's first PC/SC call…
	if _, err := virtualpiv.PrepareClient(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { virtualpiv.ReleaseClient() })
	// …which is then made, to the machine's pcscd (or none): libpcsclite
	// keeps the socket path from here on, and the rehearsal must still
	// reach its own pcscd.
	if _, err := piv.NewBackend().Tokens(context.Background(), nil); err != nil {
		t.Logf("the machine's pcscd: %v", err)
	}

	opts := testOptions(t, "", pkcs11.NewBackend(), piv.NewBackend())
	h := newHarness(t, opts)
	h.waitFor("Tokens (")
	h.key("h")
	h.waitFor("1. Set up throw-away tokens")
	h.key("enter")
	v := h.waitFor("2. Tokens ready")
	r := h.a.sh.rehearsal
	if r.yk == nil {
		t.Fatalf("no virtual YubiKey: %v\n%s", r.noYK, v)
	}
	serial := r.yk.keys[0].serial
	flat := strings.Join(strings.Fields(v), " ")
	for _, want := range []string{
		"alice SoftHSM token PIN " + r.pins["alice"],
		"bob virtual YubiKey " + serial + " PIN " + r.yk.keys[0].pin,
		"dave SoftHSM token PIN " + r.pins["dave"],
		"touched automatically",
		"NOT Yubico's",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("the screen lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(flat, "No virtual YubiKey") {
		t.Errorf("the screen says there is no virtual YubiKey:\n%s", v)
	}
	roots := r.yk.roots
	pids := []int{r.yk.pcscd.Pid}
	pcscdDir := r.yk.pcscd.Dir

	h.key("enter")
	h.waitFor("1. Check the clock and the air gap")
	h.key("enter")
	h.waitFor("2. Open the plan", "plan file:")
	h.key("enter")
	h.waitFor("3. Read the plan aloud", "root: 2 of 3 keys")
	h.key("enter")
	present := map[string]string{"alice": "✓ alice", "bob": "✓ YubiKey " + serial, "carol": "✓ carol", "dave": "✓ dave"}
	for _, who := range rehearsalCustodians {
		h.waitFor("insert the token of "+who, present[who])
		h.key("enter")
		h.waitFor("type your PIN", "rehearsal: the PIN of this throw-away token is "+r.pin(who))
		h.typeText(r.pin(who))
		h.key("enter")
	}
	h.waitFor("5. Keys generated, version 1 staged")
	h.key("enter")

	sign := func(who, after string) {
		t.Helper()
		h.waitFor("2. See what is staged")
		h.key("enter")
		h.waitFor("3. Insert the token", "✓ "+who+"'s key")
		for i := 0; !strings.Contains(h.view(), "▶ "+who) && i < 10; i++ {
			h.key("down")
		}
		h.key("enter")
		h.waitFor("Review: staged/", "Fingerprint of the exact bytes")
		h.key("y")
		h.waitFor("type your PIN")
		h.typeText(r.pin(who))
		h.key("enter")
		h.waitFor("5. Signed", after)
		h.key("enter")
	}
	sign("bob", "1/2")
	sign("alice", "2/2")
	sign("dave", "Every threshold is met")

	h.waitFor("tuf-ceremony · Publish", "Check that every threshold is met")
	h.key("enter")
	h.waitFor("Published; verified as a TUF client would", "OK: no problem found")
	h.key("enter")
	h.waitFor("Write the ceremony record")
	h.key("enter")
	h.waitFor("Ceremony record written")
	h.key("enter")
	h.waitFor("The ceremony is complete.")

	// The published metadata verifies, bob's YubiKey attestation included.
	rep, err := ceremony.Verify(r.media, ceremony.VerifyOptions{At: testNow, AttestationRoots: roots})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("the published metadata does not verify: %v", rep.Problems)
	}
	bob := bobsKey(t, r.media)
	if bob.Evidence == nil || bob.Evidence.Kind != "piv-attestation" || bob.Evidence.Attestation == nil {
		t.Fatalf("bob's key has no PIV attestation: %+v", bob.Evidence)
	}
	if bob.Token == nil || bob.Token.Backend != "piv" || bob.Token.Serial != serial {
		t.Fatalf("bob's key is on %+v, want virtual YubiKey %s", bob.Token, serial)
	}
	pub, err := bob.Key.ToPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	att, err := piv.VerifyAttestation(bob.Evidence.Attestation, pub, roots)
	if err != nil {
		t.Fatalf("bob's attestation does not chain to the card's CA: %v", err)
	}
	if att.Serial != serial {
		t.Errorf("attested serial %q, want %s", att.Serial, serial)
	}
	// …and only to that CA: against Yubico's roots it fails.
	if _, err := piv.VerifyAttestation(bob.Evidence.Attestation, pub, nil); err == nil {
		t.Error("the virtual card's attestation verifies against Yubico's roots")
	}
	// No PIN of the rehearsal is in the transcript or the plan.
	transcript, _ := os.ReadFile(filepath.Join(r.media, ceremony.TranscriptFile))
	plan, _ := os.ReadFile(r.plan)
	for _, who := range rehearsalCustodians {
		if pin := r.pin(who); strings.Contains(string(transcript), pin) || strings.Contains(string(plan), pin) {
			t.Errorf("%s's PIN is written down", who)
		}
	}

	h.a.Close()
	assertRehearsalGone(t, r, pids, pcscdDir)
	// The PC/SC client goes where it went before the rehearsal…
	link := os.Getenv(virtualpiv.SocketEnv)
	target, err := os.Readlink(link)
	want := virtualpiv.DefaultSocket
	if hadBefore && before != "" {
		want = before
	}
	if err != nil || target != want {
		t.Errorf("after the rehearsal the PC/SC client goes to %q (%v), want %q", target, err, want)
	}
	// …and the variable is restored as the TUI exits (Run).
	virtualpiv.ReleaseClient()
	if got, had := os.LookupEnv(virtualpiv.SocketEnv); got != before || had != hadBefore {
		t.Errorf("%s = %q (set: %v) after the TUI, was %q (set: %v)", virtualpiv.SocketEnv, got, had, before, hadBefore)
	}
	if h.a.sh.opts.AttestationRoots != nil {
		t.Error("the rehearsal's attestation roots stayed after it closed")
	}
}

// close() leaves no process, no directory and no redirection behind, and
// neither does a set-up that fails half-way.
func TestRehearsalCloseLeavesNothing(t *testing.T) {
	softhsmtest.RequireSoftHSM(t)
	pivtest.Require(t)
	t.Setenv("SOFTHSM2_CONF", "")
	t.Cleanup(func() { virtualpiv.ReleaseClient() })

	r, err := setupRehearsal(context.Background(), t.TempDir(), rehearsalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.yk == nil {
		t.Fatalf("no virtual YubiKey: %v", r.noYK)
	}
	pid, dir := r.yk.pcscd.Pid, r.yk.pcscd.Dir
	if !alive(pid) {
		t.Fatalf("pcscd %d is not running", pid)
	}
	r.close()
	assertRehearsalGone(t, r, []int{pid}, dir)
	r.close() // twice is harmless

	// Half-way: the card set-up fails (the context is over); what was
	// started is stopped.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	parent := t.TempDir()
	y, err := startVirtualYubiKeys(ctx, parent, 1)
	if err == nil {
		y.stop()
		t.Fatal("set up with a cancelled context")
	}
	if _, ok := err.(*noVirtualYubiKey); !ok {
		t.Fatalf("error %T %v", err, err)
	}
	for _, p := range pcscdProcesses(t, parent) {
		t.Errorf("pcscd %d of the failed set-up still runs", p)
	}
}

// assertRehearsalGone checks that pids have ended and that the
// rehearsal's directory is gone.
func assertRehearsalGone(t *testing.T, r *rehearsal, pids []int, pcscdDir string) {
	t.Helper()
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still runs after close", pid)
		}
	}
	for _, p := range pcscdProcesses(t, pcscdDir) {
		t.Errorf("pcscd %d for %s still runs", p, pcscdDir)
	}
	if _, err := os.Stat(r.dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there", r.dir)
	}
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

// pcscdProcesses lists the running processes whose command line names dir.
func pcscdProcesses(t *testing.T, dir string) []int {
	t.Helper()
	// The process may take a moment to be reaped.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var found []int
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || !alive(pid) {
				continue
			}
			cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if strings.Contains(string(cmd), dir) {
				found = append(found, pid)
			}
		}
		if len(found) == 0 || time.Now().After(deadline) {
			return found
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bobsKey reads bob's key record from the medium.
func bobsKey(t *testing.T, media string) *ceremony.KeyRecord {
	t.Helper()
	ws, err := ceremony.OpenWorkspace(media)
	if err != nil {
		t.Fatal(err)
	}
	files, err := ws.List("keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		rec, err := ws.ReadKeyRecord(strings.TrimSuffix(filepath.Base(f), ".json"))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Custodian == "bob" {
			return rec
		}
	}
	t.Fatalf("no key of bob's in %s/keys: %v", media, files)
	return nil
}

// esc while the throw-away tokens are being set up: whether the set-up
// stops half-way or finishes meanwhile, nothing of it is left (no
// directory, no pcscd, the PC/SC client free for the next rehearsal).
func TestLeavingDuringRehearsalSetUpLeavesNothing(t *testing.T) {
	softhsmtest.RequireSoftHSM(t)
	pivtest.Require(t)
	t.Setenv("SOFTHSM2_CONF", "")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Cleanup(func() { virtualpiv.ReleaseClient() })
	h := newHarness(t, testOptions(t, "", pkcs11.NewBackend()))
	h.waitFor("Tokens (")
	for _, wait := range []time.Duration{0, 300 * time.Millisecond, 1500 * time.Millisecond} {
		h.key("h")
		h.waitFor("1. Set up throw-away tokens")
		h.key("enter")
		time.Sleep(wait)
		h.key("esc")
		h.waitFor("Ceremonies")
		if left, _ := filepath.Glob(filepath.Join(tmp, "tuf-ceremony-rehearsal-*")); len(left) > 0 {
			t.Fatalf("esc after %v: %v left behind", wait, left)
		}
		for _, p := range pcscdProcesses(t, tmp) {
			t.Fatalf("esc after %v: pcscd %d still runs", wait, p)
		}
		if h.a.sh.rehearsal != nil {
			t.Fatalf("esc after %v: a rehearsal is in force", wait)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		restore, err := virtualpiv.RedirectClient(ctx, filepath.Join(tmp, "free.comm"))
		cancel()
		if err != nil {
			t.Fatalf("esc after %v: the PC/SC client is still held: %v", wait, err)
		}
		restore()
	}
}
