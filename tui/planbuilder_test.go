package tui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// tab presses the tab key.
func tab(h *harness) {
	h.update(tea.KeyMsg{Type: tea.KeyTab})
	h.settle()
}

// pick moves the cursor of a list to the option starting with label.
func pick(t *testing.T, h *harness, label string) {
	t.Helper()
	for range 20 {
		if strings.Contains(h.view(), "▶ "+label) {
			return
		}
		h.key("down")
	}
	t.Fatalf("no option %q:\n%s", label, h.view())
}

// answer clears the focused input, types v and presses enter.
func answer(h *harness, v string) {
	h.clearInput()
	if v != "" {
		h.typeText(v)
	}
	h.key("enter")
}

// startBuilder opens the new repository and presses tab on "Open the
// plan".
func startBuilder(t *testing.T, h *harness) {
	t.Helper()
	h.key("n")
	h.waitFor("1. Check the clock and the air gap")
	h.key("enter")
	v := h.waitFor("2. Open the plan", "tab build the plan here")
	if !strings.Contains(v, "Press tab to build the plan here.") {
		t.Errorf("the plan step does not say how to build a plan:\n%s", v)
	}
	tab(h)
	h.waitFor("3. Name the repository", "name:")
}

// addTokenKey adds the key of custodian on the listed token label with the
// default algorithm.
func addTokenKey(t *testing.T, h *harness, role, label, custodian string) {
	t.Helper()
	pick(t, h, label)
	h.key("enter")
	h.waitFor("Name the custodian of this "+role+" key", "custodian:")
	answer(h, custodian)
	h.waitFor("Choose the algorithm of this "+role+" key", "▶ ecdsa-p256 (default)")
	h.key("enter")
	h.waitFor("The "+role+" keys", custodian)
}

// addPublicKey adds an online key from a PEM file.
func addPublicKey(t *testing.T, h *harness, role, file string) {
	t.Helper()
	pick(t, h, "add a public key file")
	h.key("enter")
	h.waitFor("Give the public key file of a "+role+" key", "public key file:")
	answer(h, file)
	h.waitFor("The "+role+" keys (online)", role+" keys so far")
}

// wantError waits for an error naming a field, and checks the screen
// still fits.
func wantError(t *testing.T, h *harness, want string, more ...string) string {
	t.Helper()
	v := h.waitFor(append([]string{"error: " + want}, more...)...)
	if strings.Contains(v, "goroutine") || strings.Contains(v, "panic") {
		t.Errorf("a stack trace on screen:\n%s", v)
	}
	return v
}

// The whole builder by keys, with a mistake at each kind of field: every
// problem is named by its field on the step that gives it, and the value
// is taken only once it is right.
func TestPlanBuilderByKeys(t *testing.T) {
	dir := t.TempDir()
	existing := writePlan(t, dir) // dir/ceremony.yaml exists: not to be replaced unasked
	before, _ := os.ReadFile(existing)
	media := filepath.Join(dir, "media")
	fake := newFakeBackend("alice", "bob", "carol", "dave")
	h := newHarness(t, testOptions(t, media, fake))
	h.waitFor("Tokens (4)")
	startBuilder(t, h)

	answer(h, "")
	wantError(t, h, "name: type the name of the repository")
	answer(h, "built here")

	// root: alice, bob, then a typed URI for carol.
	v := h.waitFor("4. The root keys", "No root key yet.", "done: 0 root keys listed", "type a token URI")
	if strings.Contains(v, "x remove the last key") {
		t.Errorf("x is offered with no key:\n%s", v)
	}
	h.key("enter") // done, with no key
	wantError(t, h, "roles.root.keys: no keys listed")
	h.key("r")
	pick(t, h, "alice")
	h.key("enter")
	h.waitFor("Name the custodian of this root key", "generated on pkcs11:token=alice")
	answer(h, "")
	v = wantError(t, h, "roles.root.keys[0].custodian: required with token")
	if !strings.Contains(v, "\nenter try again · esc back") {
		t.Errorf("the help of a value to correct:\n%s", v)
	}
	// r is typed into the value, not taken as "try again".
	h.key("r")
	h.waitFor("Name the custodian of this root key", "custodian: r", "error: roles.root.keys[0].custodian")
	answer(h, "alice;bob")
	wantError(t, h, `roles.root.keys[0].custodian: custodian name "alice;bob": use letters`)
	answer(h, "alice")
	h.waitFor("Choose the algorithm of this root key", "▶ ecdsa-p256 (default)", "ed25519")
	h.key("enter")
	h.waitFor("root keys so far (1):", "1. alice      ecdsa-p256 on pkcs11:token=alice", "x remove the last key")
	addTokenKey(t, h, "root", "bob", "bob")

	// alice's token a second time: the plan names the duplicate.
	pick(t, h, "alice")
	v = h.view()
	if !strings.Contains(v, "already in the plan: root key of alice") {
		t.Errorf("alice's token is not marked as in the plan:\n%s", v)
	}
	h.key("enter")
	wantError(t, h, "roles.root.keys[2].token: same token as roles.root.keys[0]")
	h.key("r")
	pick(t, h, "type a token URI")
	h.key("enter")
	h.waitFor("Type the token URI of a root key", "token URI:")
	answer(h, "/dev/hsm0")
	wantError(t, h, `roles.root.keys[2].token: "/dev/hsm0" is not a token address`)
	answer(h, "pkcs11:token=carol?pin-value=735194")
	v = wantError(t, h, "roles.root.keys[2].token: pin-value must not be written in a plan")
	if strings.Count(v, "735194") > 1 {
		t.Errorf("the PIN typed is repeated on screen:\n%s", v)
	}
	answer(h, "pkcs11:token=carol")
	h.waitFor("Name the custodian of this root key")
	answer(h, "carol")
	h.waitFor("Choose the algorithm")
	h.key("down") // ecdsa-p384
	h.key("enter")
	h.waitFor("3. carol      ecdsa-p384 on pkcs11:token=carol")
	// x takes the last key out again; carol is added back with the default.
	h.key("x")
	v = h.waitFor("root keys so far (2):")
	if strings.Contains(v, "3. carol") {
		t.Errorf("x did not remove carol's key:\n%s", v)
	}
	addTokenKey(t, h, "root", "carol", "carol")
	pick(t, h, "done: 3 root keys listed")
	h.key("enter")

	h.waitFor("Set the root threshold", "How many of the 3 root keys must sign", "threshold: 2")
	answer(h, "4")
	wantError(t, h, "roles.root.threshold: 4 exceeds the 3 keys listed")
	answer(h, "0")
	wantError(t, h, "roles.root.threshold: must be at least 1")
	answer(h, "two")
	wantError(t, h, `roles.root.threshold: must be a whole number, got "two"`)
	answer(h, "2")

	h.waitFor("How long root metadata is valid", "expires: 365d")
	answer(h, "1y")
	wantError(t, h, `roles.root.expires: invalid duration "1y": unknown unit "y": write a year`)
	answer(h, "12x")
	wantError(t, h, `roles.root.expires: invalid duration "12x"`)
	answer(h, "52w")

	// targets: dave; one key, so no threshold to ask.
	h.waitFor("The targets keys", "No targets key yet.")
	addTokenKey(t, h, "targets", "dave", "dave")
	pick(t, h, "done: 1 targets key listed")
	h.key("enter")
	v = h.waitFor("How long targets metadata is valid", "expires: 26w")
	if strings.Contains(v, "Set the targets threshold") {
		t.Errorf("a threshold asked for one key:\n%s", v)
	}
	h.key("enter")

	// snapshot and timestamp: online keys from PEM files.
	h.waitFor("The snapshot keys (online)", "No snapshot key yet.")
	pick(t, h, "add a public key file")
	h.key("enter")
	h.waitFor("public key file:")
	answer(h, filepath.Join(dir, "missing.pem"))
	wantError(t, h, "roles.snapshot.keys[0].public_key:", "missing.pem does not exist")
	h.key("r") // found by the step's call, corrected in the value all the same
	h.waitFor("missing.pemr")
	answer(h, existing) // a YAML file, not a key
	wantError(t, h, "roles.snapshot.keys[0].public_key: no PEM block found")
	answer(h, filepath.Join(dir, "online-snapshot.pem"))
	h.waitFor("The snapshot keys (online)", "1. online key "+filepath.Join(dir, "online-snapshot.pem"))
	pick(t, h, "done: 1 snapshot key listed")
	h.key("enter")
	h.waitFor("How long snapshot metadata is valid", "expires: 7d")
	h.key("enter")
	h.waitFor("The timestamp keys (online)")
	addPublicKey(t, h, "timestamp", filepath.Join(dir, "online-timestamp.pem"))
	pick(t, h, "done: 1 timestamp key listed")
	h.key("enter")
	h.waitFor("How long timestamp metadata is valid", "expires: 1d")
	answer(h, "12h")

	// Where to save: ceremony.yaml next to the medium exists; it is kept
	// unless the custodians say otherwise.
	h.waitFor("Choose where to save the plan", "plan file: "+existing)
	h.key("enter")
	v = strings.Join(strings.Fields(h.waitFor("Confirm", "(y/n)")), " ")
	if !strings.Contains(v, "exists and holds something else. Replace it with the plan built here?") {
		t.Errorf("the question:\n%s", v)
	}
	h.key("n")
	flatError(t, h, "ceremony.yaml was kept: type another path")
	built := filepath.Join(dir, "built.yaml")
	answer(h, built)

	v = h.waitFor("Read the plan aloud", "Plan: built here", "root: 2 of 3 keys, expires after 52w",
		"targets: 1 of 1 keys, expires after 26w", "online key online-snapshot.pem", "timestamp: 1 of 1 keys, expires after 12h",
		"To be saved as "+built, "Fingerprint of the plan:", "enter everyone agrees", "e edit the plan")
	for _, want := range []string{"alice      new ecdsa-p256 key on pkcs11:token=alice", "warning: roles.targets.keys: no spare key"} {
		if !strings.Contains(v, want) {
			t.Errorf("the review lacks %q:\n%s", want, v)
		}
	}
	if _, err := os.Stat(built); err == nil {
		t.Fatal("the plan was saved before it was agreed")
	}
	h.key("enter")

	// From here the new repository goes on as from a plan file.
	for _, who := range []string{"alice", "bob", "carol", "dave"} {
		h.waitFor("insert the token of "+who, "✓ "+who)
		h.key("enter")
		h.waitFor("type your PIN")
		h.typeText("1234")
		h.key("enter")
	}
	v = h.waitFor("Keys generated, version 1 staged", "staged staged/1.root.json")
	if !strings.Contains(v, "root: 2 of 3") {
		t.Errorf("keys screen:\n%s", v)
	}
	h.key("enter")
	h.waitFor("Sign a staged proposal")

	want := `name: built here
roles:
  root:
    threshold: 2
    expires: 52w
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
    expires: 1w
    keys:
      - {public_key: "online-snapshot.pem"}
  timestamp:
    threshold: 1
    expires: 12h
    keys:
      - {public_key: "online-timestamp.pem"}
`
	data, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != want {
		t.Errorf("saved plan:\n%s\nwant:\n%s", data, want)
	}
	if after, _ := os.ReadFile(existing); string(after) != string(before) {
		t.Error("the existing ceremony.yaml was changed")
	}
	if onMedia, _ := os.ReadFile(filepath.Join(media, ceremony.PlanFile)); string(onMedia) != string(data) {
		t.Errorf("the medium's plan differs from the saved one:\n%s", onMedia)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".tuf-ceremony-tmp-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	// The PIN typed into the token field and refused is in no file: not
	// the plan, not the medium (which is in dir), not its transcript.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("735194")) {
				t.Errorf("the PIN typed in the plan builder is in %s", p)
			}
		}
		return nil
	})

	// The transcript says the plan was built here, with its SHA-256, the
	// same as init's.
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	ws, err := ceremony.OpenWorkspace(media)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ws.Transcript()
	if err != nil {
		t.Fatal(err)
	}
	var ack, initSum string
	for _, e := range entries {
		switch e.Event {
		case "acknowledged":
			var a ackRecord
			if err := json.Unmarshal(e.Data, &a); err != nil {
				t.Fatal(err)
			}
			if a.Title == "Read the plan aloud" {
				ack = a.Text
			}
		case "init":
			var d struct {
				Sum string `json:"plan_sha256"`
			}
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			initSum = d.Sum
		}
	}
	if wantAck := "plan built in the TUI, sha256 " + hexSum + ", read aloud and agreed; saved as " + built; ack != wantAck {
		t.Errorf("acknowledgement %q, want %q", ack, wantAck)
	}
	if initSum != hexSum {
		t.Errorf("init recorded plan sha256 %s, the file has %s", initSum, hexSum)
	}
}

// flatError waits for an error and checks that it says phrase, however
// the screen wraps it.
func flatError(t *testing.T, h *harness, phrase string) {
	t.Helper()
	v := strings.Join(strings.Fields(h.waitFor("error:")), " ")
	if !strings.Contains(v, phrase) {
		t.Fatalf("the error does not say %q:\n%s", phrase, h.view())
	}
}

// e on the review goes through the builder again with every value kept;
// changing one changes the plan. The plan is saved neither on the medium
// nor over a file that appeared meanwhile, and a medium that already holds
// another plan is named.
func TestPlanBuilderEditAndSave(t *testing.T) {
	dir := t.TempDir()
	writePlan(t, dir)
	media := filepath.Join(dir, "sub", "media")
	if err := os.MkdirAll(media, 0o755); err != nil {
		t.Fatal(err)
	}
	// A workspace holding another plan (and no root yet).
	ws, err := ceremony.OpenOrNewWorkspace(media)
	if err != nil {
		t.Fatal(err)
	}
	tx := ws.Begin()
	tx.Create(ceremony.PlanFile, []byte("name: another plan\n"))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	fake := newFakeBackend("alice", "bob", "carol", "dave")
	h := newHarness(t, testOptions(t, media, fake))
	h.waitFor("Tokens (4)")
	startBuilder(t, h)
	answer(h, "edit test")
	h.waitFor("The root keys")
	addTokenKey(t, h, "root", "alice", "alice")
	addTokenKey(t, h, "root", "bob", "bob")
	h.waitFor("▶ done: 2 root keys listed")
	h.key("enter")
	h.waitFor("Set the root threshold", "threshold: 2")
	h.key("enter")
	h.waitFor("How long root metadata is valid")
	h.key("enter")
	// The list follows the tokens as they come and go.
	h.waitFor("The targets keys")
	fake.add("erin", "0000000000002000")
	fake.setPresent("bob", false)
	h.poll()
	v := h.waitFor("erin     Fake HSM 0000000000002000")
	if strings.Contains(v, "bob      Fake HSM") {
		t.Errorf("bob's token was pulled out but is still listed:\n%s", v)
	}
	addTokenKey(t, h, "targets", "carol", "carol")
	addTokenKey(t, h, "targets", "dave", "dave")
	pick(t, h, "done")
	h.key("enter")
	h.waitFor("Set the targets threshold", "threshold: 2")
	answer(h, "1")
	h.waitFor("How long targets metadata is valid")
	h.key("enter")
	addPublicKey(t, h, "snapshot", filepath.Join(dir, "online-snapshot.pem"))
	h.key("enter")
	h.waitFor("How long snapshot metadata is valid")
	h.key("enter")
	addPublicKey(t, h, "timestamp", filepath.Join(dir, "online-timestamp.pem"))
	h.key("enter")
	h.waitFor("How long timestamp metadata is valid")
	h.key("enter")
	h.waitFor("Choose where to save the plan", "plan file: "+filepath.Join(dir, "sub", "ceremony.yaml"))
	h.key("enter")
	flatError(t, h, "the medium already holds another plan")
	tx = ws.Begin()
	tx.Remove(ceremony.PlanFile)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	answer(h, filepath.Join(media, "plan.yaml"))
	flatError(t, h, "is on the medium, which only tuf-ceremony writes")
	answer(h, filepath.Join(dir, "sub", "ceremony.yaml"))
	// Outside the plan's directory, public key files stay absolute.
	h.waitFor("Read the plan aloud", "root: 2 of 2 keys", "targets: 1 of 2 keys",
		"online key "+filepath.Join(dir, "online-snapshot.pem")[:30])

	// Edit: the same answers come back; the root threshold becomes 1.
	h.key("e")
	h.waitFor("Name the repository", "name: edit test")
	h.key("enter")
	h.waitFor("The root keys", "root keys so far (2):", "▶ done: 2 root keys listed")
	h.key("enter")
	h.waitFor("Set the root threshold", "threshold: 2")
	answer(h, "1")
	for _, title := range []string{"How long root metadata is valid", "The targets keys", "Set the targets threshold",
		"How long targets metadata is valid", "The snapshot keys", "How long snapshot metadata is valid",
		"The timestamp keys", "How long timestamp metadata is valid", "Choose where to save the plan"} {
		h.waitFor(title)
		h.key("enter")
	}
	h.waitFor("Read the plan aloud", "root: 1 of 2 keys", "warning: roles.root.threshold: a threshold of 1")
	// Someone writes a file where the plan is to go: it is not replaced,
	// and r goes back to the path.
	theirs := filepath.Join(dir, "sub", "ceremony.yaml")
	if err := os.WriteFile(theirs, []byte("theirs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.key("enter")
	flatError(t, h, "a file of that name exists")
	flatError(t, h, "hint: press r to give another path")
	h.key("r")
	h.waitFor("Choose where to save the plan")
	answer(h, filepath.Join(dir, "sub", "built.yaml"))
	h.waitFor("Read the plan aloud", "root: 1 of 2 keys")
	h.key("enter")
	h.waitFor("insert the token of alice")
	if got, _ := os.ReadFile(theirs); string(got) != "theirs\n" {
		t.Errorf("the file that appeared was replaced: %q", got)
	}
	data, err := os.ReadFile(filepath.Join(dir, "sub", "built.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := ceremony.ParsePlan(data)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Roles.Root.Threshold != 1 || plan.Roles.Targets.Threshold != 1 || len(plan.Roles.Targets.Keys) != 2 {
		t.Errorf("saved plan:\n%s", data)
	}
	if k := plan.Roles.Snapshot.Keys[0].PublicKey; k != filepath.Join(dir, "online-snapshot.pem") {
		t.Errorf("snapshot key file %q", k)
	}
}

// A long flow keeps its step line on one line of the terminal.
func TestStepLineFitsTheWidth(t *testing.T) {
	sh := &shared{st: newStyles(testOptions(t, "", nil).Renderer), width: 40}
	var steps []*step
	for range 30 {
		steps = append(steps, &step{})
	}
	f := &flow{sh: sh, steps: steps, cur: 14}
	for i := range 14 {
		steps[i].status = statusDone
	}
	steps[1].status = statusSkipped
	got := f.stepLine()
	if lenCells(got) > 40 {
		t.Errorf("step line %q (%d cells), want at most 40", got, lenCells(got))
	}
	if !strings.Contains(got, "▶15") || !strings.HasPrefix(got, "Steps ✓1 …") || !strings.HasSuffix(got, "…  30") {
		t.Errorf("step line %q", got)
	}
	sh.width = 200
	if got := f.stepLine(); strings.Contains(got, "…") {
		t.Errorf("elided although it fits: %q", got)
	}
}

// A plan built in the TUI on real SoftHSM tokens goes through init,
// signing and publishing, and the result verifies as a TUF client would.
func TestPlanBuilderSoftHSM(t *testing.T) {
	store := softhsmtest.New(t, "alice", "bob", "carol", "dave")
	dir := t.TempDir()
	writePlan(t, dir)
	media := filepath.Join(dir, "media")
	opts := testOptions(t, media, pkcs11.NewBackend())
	opts.Modules = []string{store.Module}
	h := newHarness(t, opts)
	h.waitFor("Tokens (4)")
	startBuilder(t, h)
	answer(h, "softhsm built")
	h.waitFor("The root keys")
	for _, who := range []string{"alice", "bob", "carol"} {
		addTokenKey(t, h, "root", who, who)
	}
	pick(t, h, "done")
	h.key("enter")
	h.waitFor("Set the root threshold", "threshold: 2")
	h.key("enter")
	h.waitFor("How long root metadata is valid")
	h.key("enter")
	addTokenKey(t, h, "targets", "dave", "dave")
	pick(t, h, "done")
	h.key("enter")
	h.waitFor("How long targets metadata is valid")
	h.key("enter")
	addPublicKey(t, h, "snapshot", filepath.Join(dir, "online-snapshot.pem"))
	h.key("enter")
	h.waitFor("How long snapshot metadata is valid")
	h.key("enter")
	addPublicKey(t, h, "timestamp", filepath.Join(dir, "online-timestamp.pem"))
	h.key("enter")
	h.waitFor("How long timestamp metadata is valid")
	h.key("enter")
	h.waitFor("Choose where to save the plan")
	// Over the plan file there, with the custodians' yes.
	answer(h, filepath.Join(dir, "ceremony.yaml"))
	h.waitFor("Confirm", "Replace it")
	h.key("y")
	h.waitFor("Read the plan aloud", "root: 2 of 3 keys", "alice      new ecdsa-p256 key on pkcs11:token=alice")
	h.key("enter")

	for _, who := range []string{"alice", "bob", "carol", "dave"} {
		h.waitFor("insert the token of " + who)
		h.key("enter")
		h.waitFor("type your PIN")
		h.typeText(store.PIN(t, who))
		h.key("enter")
	}
	h.waitFor("Keys generated, version 1 staged", "staged staged/1.targets.json")
	h.key("enter")

	sign := func(who, file string) {
		t.Helper()
		h.waitFor("2. See what is staged")
		h.key("enter")
		h.waitFor("3. Insert the token", "✓ "+who+"'s key: signs "+file)
		pick(t, h, who)
		h.key("enter")
		h.waitFor("Review: staged/" + file)
		h.key("y")
		h.waitFor("type your PIN")
		h.typeText(store.PIN(t, who))
		h.key("enter")
		h.waitFor("5. Signed")
		h.key("enter")
	}
	sign("alice", "1.root.json")
	sign("bob", "1.root.json")
	sign("dave", "1.targets.json")
	h.waitFor("tuf-ceremony · Publish", "ready to publish")
	h.key("enter")
	h.waitFor("Published; verified as a TUF client would", "OK: no problem found")

	rep, err := ceremony.Verify(media, ceremony.VerifyOptions{At: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("the published metadata does not verify: %v", rep.Problems)
	}
	data, err := os.ReadFile(filepath.Join(media, ceremony.PlanFile))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := ceremony.ParsePlan(data)
	if err != nil {
		t.Fatalf("the plan on the medium: %v", err)
	}
	if plan.Name != "softhsm built" || !strings.HasPrefix(plan.Roles.Root.Keys[0].Token, "pkcs11:token=alice") {
		t.Errorf("plan on the medium: %+v", plan.Roles.Root.Keys)
	}
	if saved, _ := os.ReadFile(filepath.Join(dir, "ceremony.yaml")); string(saved) != string(data) {
		t.Errorf("the replaced plan file differs from the medium's:\n%s", saved)
	}
}

// The builder's key screens at 80x24: a key list with the tokens present,
// and a threshold refused by the plan's own validation.
func TestPlanBuilderGolden(t *testing.T) {
	toBuilder := func(t *testing.T, tm *teatest.TestModel) {
		waitText(t, tm, "empty: ready", "Tokens (4)")
		press(tm, "n")
		waitText(t, tm, "Check the clock")
		press(tm, "enter")
		waitText(t, tm, "Open the plan")
		tm.Send(tea.KeyMsg{Type: tea.KeyTab})
		waitText(t, tm, "Name the repository")
		tm.Type("example.org updates")
		press(tm, "enter")
		waitText(t, tm, "No root key yet.")
		for _, who := range []string{"alice", "bob"} {
			press(tm, "down")
			if who == "bob" {
				press(tm, "down")
			}
			press(tm, "enter")
			waitText(t, tm, "Name the custodian")
			tm.Type(who)
			press(tm, "enter")
			waitText(t, tm, "Choose the algorithm")
			press(tm, "enter")
			waitText(t, tm, "keys so far ("+map[string]string{"alice": "1", "bob": "2"}[who])
		}
	}
	t.Run("keys", func(t *testing.T) {
		dir := t.TempDir()
		fake := newFakeBackend("alice", "bob", "carol", "dave")
		goldenScreen(t, dir, goldenOptions(t, fake), func(tm *teatest.TestModel) { toBuilder(t, tm) },
			"root keys so far (2)", "done: 2 root keys listed")
	})
	t.Run("threshold", func(t *testing.T) {
		dir := t.TempDir()
		fake := newFakeBackend("alice", "bob", "carol", "dave")
		goldenScreen(t, dir, goldenOptions(t, fake), func(tm *teatest.TestModel) {
			toBuilder(t, tm)
			press(tm, "enter") // done: 2 root keys listed
			waitText(t, tm, "Set the root threshold")
			tm.Send(tea.KeyMsg{Type: tea.KeyBackspace})
			tm.Type("3")
			press(tm, "enter")
		}, "3 exceeds the 2 keys listed")
	})
}

// An error is wrapped to the width, not cut, and takes at most
// errorMaxLines lines.
func TestErrorViewWrapsAndCaps(t *testing.T) {
	st := newStyles(testOptions(t, "").Renderer)
	long := "roles.root.keys[0].public_key: /a/very/long/path/" + strings.Repeat("x", 60) + "/key.pem does not exist"
	got := errorView(st, errors.New(long), []string{"correct it"}, 40)
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	if flat := strings.Join(strings.Fields(got), " "); len(lines) < 4 || !strings.HasPrefix(lines[0], "error: roles.root.keys[0]") ||
		!strings.HasSuffix(flat, "does not exist hint: correct it") {
		t.Errorf("wrapped error:\n%s", got)
	}
	for _, l := range lines {
		if lenCells(l) > 40 {
			t.Errorf("line %q is wider than 40", l)
		}
	}
	many := strings.Repeat("problem\n", 20)
	lines = strings.Split(strings.TrimRight(errorView(st, errors.New(many), nil, 40), "\n"), "\n")
	if len(lines) != errorMaxLines || lines[len(lines)-1] != "       … (14 more lines)" {
		t.Errorf("capped error:\n%s", strings.Join(lines, "\n"))
	}
}

// TestPlanBuilderInTmux builds a plan in the real binary in a real
// terminal (tmux, 80x24) against SoftHSM tokens, keys typed one by one,
// with a value corrected after an error (r typed into it), and generates
// the keys from it.
func TestPlanBuilderInTmux(t *testing.T) {
	_, err := exec.LookPath("tmux")
	softhsmtest.Require(t, err == nil, "tmux", "tmux")
	store := softhsmtest.New(t, "alice", "bob", "carol", "dave")
	dir := t.TempDir()
	writePlan(t, dir) // for the online keys' PEM files
	if err := os.Remove(filepath.Join(dir, "ceremony.yaml")); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tuf-ceremony")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tuf-ceremony")
	build.Dir = softhsmtest.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	media := filepath.Join(dir, "media")
	m := &tmuxTerm{t: t, socket: fmt.Sprintf("tuf-ceremony-plan-%d", os.Getpid()), name: "plan"}
	t.Cleanup(func() { exec.Command("tmux", "-L", m.socket, "kill-server").Run() })
	shell := fmt.Sprintf("cd %q && %q tui --media %q --module %q; echo tui exited $?; sleep 60", dir, bin, media, store.Module)
	m.tmux("-f", "/dev/null", "new-session", "-d", "-s", m.name, "-x", "80", "-y", "24",
		"-e", "SOFTHSM2_CONF="+store.Conf, "-e", "NO_COLOR=1", "-e", "TERM=xterm-256color", shell)

	m.waitFor("tuf-ceremony · home", "Tokens (4)", "empty: ready for a new repository")
	m.send("n")
	m.waitFor("1. Check the clock and the air gap")
	m.send("Enter")
	m.waitFor("2. Open the plan", "tab build the plan here")
	m.send("Tab")
	m.waitFor("3. Name the repository")
	m.text("tmux built")
	m.send("Enter")
	token := func(role, label, typed string) {
		t.Helper()
		m.waitFor("The " + role + " keys")
		for i := 0; !strings.Contains(m.screen(), "▶ "+label); i++ {
			if i == 20 {
				t.Fatalf("no option %q:\n%s", label, m.screen())
			}
			m.send("Down")
			time.Sleep(50 * time.Millisecond)
		}
		m.send("Enter")
		m.waitFor("Name the custodian of this " + role + " key")
		for _, c := range typed {
			m.text(string(c)) // one key at a time, as a person types
		}
		m.send("Enter")
	}
	for _, who := range []string{"alice", "bob"} {
		token("root", who, who)
		m.waitFor("Choose the algorithm")
		m.send("Enter")
	}
	token("root", "carol", "ca/")
	m.waitFor(`error: roles.root.keys[2].custodian: custodian name "ca/"`, "enter try again")
	m.send("BSpace")
	for _, c := range "rol" {
		m.text(string(c))
	}
	m.waitFor("custodian: carol")
	m.send("Enter")
	m.waitFor("Choose the algorithm")
	m.send("Enter")
	m.waitFor("root keys so far (3)", "▶ done: 3 root keys listed")
	m.send("Enter")
	m.waitFor("Set the root threshold", "threshold: 2")
	m.send("Enter")
	m.waitFor("How long root metadata is valid", "expires: 365d")
	m.send("Enter")
	token("targets", "dave", "dave")
	m.waitFor("Choose the algorithm")
	m.send("Enter")
	m.waitFor("▶ done: 1 targets key listed")
	m.send("Enter")
	m.waitFor("How long targets metadata is valid")
	m.send("Enter")
	for _, role := range []string{"snapshot", "timestamp"} {
		m.waitFor("The " + role + " keys (online)")
		m.send("Down")
		m.waitFor("▶ add a public key file")
		m.send("Enter")
		m.waitFor("public key file:")
		m.text("online-" + role + ".pem") // relative to the working directory
		m.send("Enter")
		m.waitFor("▶ done: 1 " + role + " key listed")
		m.send("Enter")
		m.waitFor("How long " + role + " metadata is valid")
		m.send("Enter")
	}
	m.waitFor("Choose where to save the plan")
	m.send("Enter")
	m.waitFor("Read the plan aloud", "Plan: tmux built", "root: 2 of 3 keys", "online key online-snapshot.pem", "Fingerprint of the plan")
	m.send("Enter")
	for _, who := range []string{"alice", "bob", "carol", "dave"} {
		m.waitFor("insert the token of " + who)
		m.send("Enter")
		m.waitFor("type your PIN")
		m.text(store.PIN(t, who))
		m.send("Enter")
	}
	m.waitFor("Keys generated, version 1 staged", "root: 2 of 3")

	saved, err := os.ReadFile(filepath.Join(dir, "ceremony.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if onMedia, _ := os.ReadFile(filepath.Join(media, ceremony.PlanFile)); string(onMedia) != string(saved) {
		t.Errorf("the medium's plan differs from the one saved:\n%s\n---\n%s", onMedia, saved)
	}
	plan, err := ceremony.LoadPlan(filepath.Join(dir, "ceremony.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c := plan.Roles.Root.Keys[2].Custodian; c != "carol" {
		t.Errorf("root key 3's custodian %q, want carol", c)
	}
	if k := plan.Roles.Snapshot.Keys[0].PublicKey; k != "online-snapshot.pem" {
		t.Errorf("snapshot key file %q, want it relative to the plan", k)
	}
	for _, who := range []string{"alice", "dave"} {
		if strings.Contains(string(saved), store.PIN(t, who)) {
			t.Fatal("a PIN is in the plan")
		}
	}
}

// A plan file the custodians agreed to replace is replaced only if it
// still holds what it held when they agreed.
func TestSavePlanReplacesOnlyWhatWasAgreed(t *testing.T) {
	dir := t.TempDir()
	path := writePlan(t, dir)
	agreed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	built := strings.Replace(string(agreed), "365d", "52w", 1)
	if built == string(agreed) {
		t.Fatal("the test plan has no 365d to change")
	}
	if err := os.WriteFile(path, []byte("# changed meanwhile\n"+string(agreed)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := saveAndLoadPlan(path, []byte(built), true, agreed); err == nil || !strings.Contains(err.Error(), "changed since you agreed to replace it") {
		t.Fatalf("a file changed since the agreement: %v", err)
	}
	if got, _ := os.ReadFile(path); !strings.HasPrefix(string(got), "# changed meanwhile") {
		t.Fatal("the changed file was replaced")
	}
	if err := os.WriteFile(path, agreed, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := saveAndLoadPlan(path, []byte(built), true, agreed); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != built {
		t.Fatal("the agreed replacement was not saved")
	}
}
