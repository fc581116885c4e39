package tui

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/ceremony/tuftest"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// hsmRepo is a repository bootstrapped on real SoftHSM tokens with the
// ceremony library (init, signatures, publish), for the TUI to carry on.
// Its clock is the real one, fixed when the test starts: the go-tuf
// client run at the end checks expiries against the real clock.
type hsmRepo struct {
	t       *testing.T
	store   *softhsmtest.Store
	backend *pkcs11.Backend
	dir     string
	media   string
	online  *tuftest.OnlineKey
	now     time.Time
}

// newHSMRepo makes SoftHSM tokens, a plan from planText (where $LABEL is
// the URI of the token LABEL, without its PIN, and online.pem the online
// key of snapshot and timestamp), initialises the medium, signs with
// signers' tokens and publishes version 1.
func newHSMRepo(t *testing.T, planText string, tokens, signers []string) *hsmRepo {
	t.Helper()
	r := &hsmRepo{t: t, store: softhsmtest.New(t, tokens...), backend: pkcs11.NewBackend(), dir: t.TempDir()}
	r.media = filepath.Join(r.dir, "media")
	r.now = time.Now().UTC().Truncate(time.Second)
	var err error
	if r.online, err = tuftest.NewOnlineKey(filepath.Join(r.dir, "online.pem")); err != nil {
		t.Fatal(err)
	}
	// Longest labels first: $ALICE2 before $ALICE.
	labels := append([]string{}, tokens...)
	sort.Slice(labels, func(i, j int) bool { return len(labels[i]) > len(labels[j]) })
	for _, l := range labels {
		planText = strings.ReplaceAll(planText, "$"+strings.ToUpper(l), r.store.URIWithoutPIN(l))
	}
	planFile := filepath.Join(r.dir, "ceremony.yaml")
	if err := os.WriteFile(planFile, []byte(planText), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := ceremony.LoadPlan(planFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ws := r.workspace()
	if _, err := ceremony.Init(ctx, ws, scripted{}, ceremony.InitOptions{Plan: plan, PlanBytes: []byte(planText), Open: r.open, Preflight: true}); err != nil {
		t.Fatalf("init: %v", err)
	}
	for _, who := range signers {
		r.sign(ws, who)
	}
	if _, err := ceremony.Publish(ws, r.now); err != nil {
		t.Fatalf("publish: %v", err)
	}
	return r
}

func (r *hsmRepo) workspace() *ceremony.Workspace {
	r.t.Helper()
	ws, err := ceremony.OpenOrNewWorkspace(r.media)
	if err != nil {
		r.t.Fatal(err)
	}
	ws.Now = func() time.Time { return r.now }
	return ws
}

// open opens a token with the backend the TUI uses, with its PIN.
func (r *hsmRepo) open(ctx context.Context, uri string) (hsm.Token, hsm.PIN, error) {
	tok, err := hsm.Open(ctx, []hsm.Backend{r.backend}, uri)
	if err != nil {
		return nil, hsm.PIN{}, err
	}
	return tok, hsm.NewPIN(r.store.PIN(r.t, tok.Info().Label)), nil
}

// sign signs what is staged with who's token, through the library.
func (r *hsmRepo) sign(ws *ceremony.Workspace, who string) ([]ceremony.SignedFile, error) {
	r.t.Helper()
	ctx := context.Background()
	tok, pin, err := r.open(ctx, r.store.URIWithoutPIN(who))
	if err != nil {
		r.t.Fatal(err)
	}
	defer tok.Close()
	signed, err := ceremony.Sign(ctx, ws, tok, scripted{}, ceremony.SignOptions{Unlock: ceremony.UnlockOptions{PIN: pin}})
	if err != nil && !errors.As(err, new(*ceremony.WrongTokenError)) {
		r.t.Fatalf("sign with %s: %v", who, err)
	}
	return signed, err
}

// options are the TUI's options over the store's tokens.
func (r *hsmRepo) options(t *testing.T) Options {
	opts := testOptions(t, r.media, r.backend)
	opts.Modules = []string{r.store.Module}
	opts.Now = func() time.Time { return r.now }
	return opts
}

// verify checks the medium as `tuf-ceremony verify` does and with go-tuf's
// client (from 1.root.json, every rotation walked), and returns the
// report and the root and targets versions the client trusts.
func (r *hsmRepo) verify() (*ceremony.VerifyReport, int64, int64) {
	r.t.Helper()
	rep, err := ceremony.Verify(r.media, ceremony.VerifyOptions{At: r.now})
	if err != nil {
		r.t.Fatal(err)
	}
	if !rep.OK() {
		r.t.Fatalf("the medium does not verify: %v", rep.Problems)
	}
	up, err := tuftest.Refresh(filepath.Join(r.media, "metadata"), r.t.TempDir(), r.online)
	if err != nil {
		r.t.Fatalf("go-tuf: %v", err)
	}
	trusted := up.GetTrustedMetadataSet()
	return rep, trusted.Root.Signed.Version, trusted.Targets["targets"].Signed.Version
}

// nextRootSignedBy makes the next version of the published root, nothing
// else changed, signed straight with the tokens of the custodians signers
// (custodian → key ID), bypassing the ceremony's own checks: what a
// client gets if those keys sign.
func (r *hsmRepo) nextRootSignedBy(signers map[string]string) []byte {
	t := r.t
	t.Helper()
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(r.media, "metadata", "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := ceremony.ParseEnvelope(data)
	if err != nil {
		t.Fatal(err)
	}
	h, err := env.Header()
	if err != nil {
		t.Fatal(err)
	}
	var signed map[string]json.RawMessage
	if err := json.Unmarshal(env.Signed, &signed); err != nil {
		t.Fatal(err)
	}
	signed["version"], _ = json.Marshal(h.Version + 1)
	if env.Signed, err = json.Marshal(signed); err != nil {
		t.Fatal(err)
	}
	env.Signatures = nil
	payload, err := env.Payload()
	if err != nil {
		t.Fatal(err)
	}
	ws := r.workspace()
	for who, id := range signers {
		rec, err := ws.ReadKeyRecord(id)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := rec.Key.ToPublicKey()
		if err != nil {
			t.Fatal(err)
		}
		tok, pin, err := r.open(ctx, r.store.URIWithoutPIN(who))
		if err != nil {
			t.Fatal(err)
		}
		if err := tok.Login(ctx, pin, hsm.LoginOptions{}); err != nil {
			t.Fatal(err)
		}
		keys, err := tok.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var signer crypto.Signer
		for _, k := range keys {
			if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); ok && eq.Equal(k.Public) {
				if signer, err = tok.Signer(ctx, k); err != nil {
					t.Fatal(err)
				}
			}
		}
		if signer == nil {
			t.Fatalf("%s's token does not hold the key %s", who, id)
		}
		sig, err := ceremony.SignPayload(signer, rec.Key, payload)
		if err != nil {
			t.Fatal(err)
		}
		env.SetSignature(id, sig)
		tok.Close()
	}
	out, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// roleKeys maps the custodians of a role of the newest root to key IDs.
func roleKeys(t *testing.T, rep *ceremony.VerifyReport, role string) (map[string]string, int) {
	t.Helper()
	for _, r := range rep.Roles {
		if r.Role == role {
			m := map[string]string{}
			for _, k := range r.Keys {
				m[k.Custodian] = k.KeyID
			}
			return m, r.Threshold
		}
	}
	t.Fatalf("no role %s in %+v", role, rep.Roles)
	return nil, 0
}

// evidenceOf is verify's line on the origin of who's key in role.
func evidenceOf(rep *ceremony.VerifyReport, role, who string) string {
	for _, r := range rep.Roles {
		for _, k := range r.Keys {
			if r.Role == role && k.Custodian == who {
				return k.Evidence
			}
		}
	}
	return ""
}

func sortedNames(m map[string]string) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// signByKeys signs in the sign ceremony (from "See what is staged")
// with who's token and PIN, and returns the "Signed" screen once it
// shows every one of after.
func signByKeys(t *testing.T, h *harness, who, pin string, after ...string) string {
	t.Helper()
	h.waitFor("2. See what is staged")
	h.key("enter")
	h.waitFor("3. Insert the token", "✓ "+who+"'s key: signs")
	return signWith(t, h, who, pin, after...)
}

// signWith chooses who's token on "Insert the token" and signs.
func signWith(t *testing.T, h *harness, who, pin string, after ...string) string {
	t.Helper()
	for i := 0; !strings.Contains(h.view(), "▶ "+who) && i < 10; i++ {
		h.key("down")
	}
	h.key("enter")
	h.waitFor("Review: staged/", "Fingerprint of the exact bytes")
	h.key("y")
	h.waitFor("type your PIN")
	h.typeText(pin)
	h.key("enter")
	return h.waitFor(append([]string{"5. Signed", "signed by " + who}, after...)...)
}

// newKeyByKeys generates a key on the token label for custodian who in a
// rotation's "Generate new keys" step, then says there are no more.
func newKeyByKeys(t *testing.T, h *harness, label, who, pin, role string) {
	t.Helper()
	h.waitFor("Generate new keys", "no more new keys", label)
	for i := 0; !strings.Contains(h.view(), "▶ "+label) && i < 10; i++ {
		h.key("down")
	}
	h.key("enter")
	h.waitFor("Name the custodian of the new key", "custodian:", "The new "+role+" key is generated on")
	h.clearInput()
	h.typeText(who)
	h.key("enter")
	h.waitFor("type your PIN")
	h.typeText(pin)
	h.key("enter")
	h.waitFor("Generate new keys", "✓ new "+role+" key of "+who, "▶ no more new keys")
	h.key("enter")
}

// lineWith is the first line of screen that contains s.
func lineWith(screen, s string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// mustContain fails unless screen shows every one of want.
func mustContain(t *testing.T, what, screen string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(screen, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, screen)
		}
	}
}

// A planned root rotation through the TUI on SoftHSM tokens: erin
// replaces alice. The new key is generated on erin's new token, the new
// root is signed under both thresholds (erin: new only, bob: both, alice:
// previous only), published and verified by tuf-ceremony and go-tuf;
// alice's key no longer counts.
func TestPlannedRootRotationOnSoftHSM(t *testing.T) {
	r := newHSMRepo(t, `name: rotation e2e
roles:
  root:
    threshold: 2
    expires: 365d
    keys:
      - {custodian: alice, token: "$ALICE"}
      - {custodian: bob, token: "$BOB"}
      - {custodian: carol, token: "$CAROL"}
  targets:
    threshold: 1
    expires: 26w
    keys: [{custodian: dave, token: "$DAVE"}]
  snapshot: {threshold: 1, expires: 7d, keys: [{public_key: online.pem}]}
  timestamp: {threshold: 1, expires: 1d, keys: [{public_key: online.pem}]}
`, []string{"alice", "bob", "carol", "dave", "erin"}, []string{"alice", "bob", "dave"})
	before, _, _ := r.verify()
	oldRoot, _ := roleKeys(t, before, "root")
	pin := func(who string) string { return r.store.PIN(t, who) }

	h := newHarness(t, r.options(t))
	h.waitFor("Tokens (5)", "nothing staged")
	h.key("o")
	h.waitFor("Planned root rotation", "1. Check the clock and the air gap")
	h.key("enter")
	v := h.waitFor("2. Choose the keys to retire", "[ ] alice", "[ ] bob", "[ ] carol")
	if strings.Contains(v, "dave") {
		t.Errorf("dave's targets key is offered in a root rotation:\n%s", v)
	}
	h.key("space") // alice is first
	h.waitFor("[x] alice", "[ ] bob")
	h.key("enter")
	newKeyByKeys(t, h, "erin", "erin", pin("erin"), "root")
	v = h.waitFor("Set the threshold", "threshold: 2")
	mustContain(t, "threshold step", v, "How many of the 3 root keys must sign. Today: 2.")
	h.key("enter")
	h.waitFor("How long the new root is valid", "validity:")
	h.key("enter")
	v = h.waitFor("Proposal staged", "staged staged/2.root.json")
	mustContain(t, "proposal", v,
		"version: 1 → 2",
		"(erin)",
		"(alice)",
		"✓ both thresholds can be reached with the custodians' keys",
		"root v2              needs 2: can sign bob, carol, erin",
		"previous root v1     needs 2: can sign alice, bob, carol")
	h.key("enter")

	// Both thresholds, each with its own bar.
	v = h.waitFor("Sign a staged proposal", "2. See what is staged",
		"staged/2.root.json (root v2): waiting for signatures",
		"root v2              [--------] 0/2",
		"previous root v1     [--------] 0/2")
	mustContain(t, "status", v, "can still sign: bob, carol, erin", "can still sign: alice, bob, carol")

	// erin's key counts for the new root only.
	v = signByKeys(t, h, "erin", pin("erin"), "counts for root v2)")
	mustContain(t, "after erin", v,
		"root v2              [####----] 1/2  signed: erin",
		"previous root v1     [--------] 0/2",
		"Next: the next custodian inserts their token.")
	h.key("enter")
	// bob's counts for both.
	v = signByKeys(t, h, "bob", pin("bob"), "counts for root v2, previous root v1")
	mustContain(t, "after bob", v,
		"root v2              [########] 2/2  signed: bob, erin",
		"previous root v1     [####----] 1/2  signed: bob",
		"can still sign: alice, carol")
	h.key("enter")
	// alice, whose key is retired, still signs for the previous root; her
	// token is offered, erin's no longer is.
	h.waitFor("2. See what is staged")
	h.key("enter")
	v = h.waitFor("3. Insert the token", "✓ alice's key: signs 2.root.json")
	mustContain(t, "tokens", v, "✗ wrong token: erin's, which has signed all it can")
	v = signWith(t, h, "alice", pin("alice"), "counts for previous root v1)", "Every threshold is met: next, publish.")
	mustContain(t, "after alice", v,
		"staged/2.root.json (root v2): ✓ ready to publish",
		"previous root v1     [########] 2/2  signed: alice, bob")
	h.key("enter")

	h.waitFor("tuf-ceremony · Publish", "Check that every threshold is met", "ready to publish")
	h.key("enter")
	v = h.waitFor("Published; verified as a TUF client would", "metadata/2.root.json", "OK: no problem found")
	mustContain(t, "published", v, "root  2 of 3")

	// What a client sees.
	rep, rootV, targetsV := r.verify()
	if rootV != 2 || targetsV != 1 {
		t.Errorf("go-tuf trusts root v%d and targets v%d; want v2 and v1", rootV, targetsV)
	}
	if len(rep.Roots) != 2 || rep.Roots[1].File != "2.root.json" {
		t.Errorf("verified roots: %+v", rep.Roots)
	}
	newRoot, threshold := roleKeys(t, rep, "root")
	if got := sortedNames(newRoot); got != "bob,carol,erin" || threshold != 2 {
		t.Errorf("root v2: keys of %s, threshold %d; want bob, carol, erin and 2", got, threshold)
	}
	if e := evidenceOf(rep, "root", "erin"); !strings.HasPrefix(e, `generated on pkcs11 token "erin"`) {
		t.Errorf("erin's new key: %q; want it generated on her token", e)
	}
	if newRoot["bob"] != oldRoot["bob"] || newRoot["carol"] != oldRoot["carol"] {
		t.Errorf("bob's or carol's key changed: %v → %v", oldRoot, newRoot)
	}
	for _, id := range newRoot {
		if id == oldRoot["alice"] {
			t.Errorf("alice's key %s is still in root v2", id)
		}
	}

	// alice's key no longer counts, for go-tuf: a next root signed by
	// alice and bob is refused; signed by bob and erin, accepted.
	root2, err := os.ReadFile(filepath.Join(r.media, "metadata", "2.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		signers []string
		ok      bool
	}{{[]string{"alice", "bob"}, false}, {[]string{"bob", "erin"}, true}} {
		ids := map[string]string{}
		for _, who := range tc.signers {
			ids[who] = oldRoot[who]
			if id := newRoot[who]; id != "" {
				ids[who] = id
			}
		}
		trusted, err := trustedmetadata.New(root2)
		if err != nil {
			t.Fatal(err)
		}
		_, err = trusted.UpdateRoot(r.nextRootSignedBy(ids))
		if (err == nil) != tc.ok {
			t.Errorf("go-tuf, root v3 signed by %v: %v", tc.signers, err)
		}
		if !tc.ok && !errors.As(err, new(*metadata.ErrUnsignedMetadata)) {
			t.Errorf("go-tuf refused root v3 signed by %v, but not for its signatures: %v", tc.signers, err)
		}
	}

	// And for the ceremony: for the next root alice is the wrong token,
	// and nothing is signed.
	ws := r.workspace()
	if _, err := ceremony.ProposeRoot(ws, ceremony.RootChange{Expires: ceremony.Duration(90 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	signed, err := r.sign(ws, "alice")
	var wrong *ceremony.WrongTokenError
	if !errors.As(err, &wrong) || len(signed) != 0 {
		t.Errorf("alice signed root v3: %v, %v", signed, err)
	}
	st, err := ceremony.Status(ws)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st {
		for _, req := range p.Requirements {
			if len(req.Signed) != 0 || strings.Contains(ceremony.SignerNames(req.CanStillSign), "alice") {
				t.Errorf("%s %s: signed %v, can still sign %v", p.File, req.Name, req.Signed, req.CanStillSign)
			}
		}
	}
}

// A targets key rotation through the TUI on SoftHSM tokens: frank's new
// key replaces dave's. The root moves the targets role, targets v2 is
// signed by frank (dave's token is refused), both are published and
// verified; go-tuf trusts targets v2 under root v2.
func TestTargetsRotationOnSoftHSM(t *testing.T) {
	r := newHSMRepo(t, `name: targets rotation e2e
roles:
  root: {threshold: 1, expires: 365d, keys: [{custodian: alice, token: "$ALICE"}]}
  targets: {threshold: 1, expires: 26w, keys: [{custodian: dave, token: "$DAVE"}]}
  snapshot: {threshold: 1, expires: 7d, keys: [{public_key: online.pem}]}
  timestamp: {threshold: 1, expires: 1d, keys: [{public_key: online.pem}]}
`, []string{"alice", "dave", "frank"}, []string{"alice", "dave"})
	before, _, _ := r.verify()
	oldTargets, _ := roleKeys(t, before, "targets")
	pin := func(who string) string { return r.store.PIN(t, who) }

	h := newHarness(t, r.options(t))
	h.waitFor("Tokens (3)", "nothing staged")
	h.key("t")
	h.waitFor("Targets key rotation", "1. Check the clock and the air gap")
	h.key("enter")
	v := h.waitFor("2. Choose the targets keys to retire", "[ ] dave")
	if strings.Contains(v, "alice") {
		t.Errorf("alice's root key is offered in a targets rotation:\n%s", v)
	}
	h.key("space")
	h.waitFor("[x] dave")
	h.key("enter")
	newKeyByKeys(t, h, "frank", "frank", pin("frank"), "targets")
	v = h.waitFor("Set the threshold", "threshold: 1")
	mustContain(t, "threshold step", v, "How many of the 1 targets keys must sign. Today: 1.")
	h.key("enter")
	h.waitFor("How long the new root is valid", "validity:")
	h.key("enter")
	v = h.waitFor("Proposal staged", "staged staged/2.root.json", "staged staged/2.targets.json")
	// Whose key comes and goes is on the screen, not cut off with the
	// key ID.
	mustContain(t, "proposal", v, "(frank)", "(dave)", "✓ both thresholds can be reached")
	h.key("enter")

	v = h.waitFor("2. See what is staged",
		"staged/2.root.json (root v2): waiting for signatures",
		"staged/2.targets.json (targets v2): waiting for signatures")
	mustContain(t, "status", v,
		"root v2              [--------] 0/1",
		"previous root v1     [--------] 0/1",
		"targets (root v2)    [--------] 0/1",
		"can still sign: frank")
	if strings.Contains(v, "can still sign: dave") {
		t.Errorf("dave may still sign targets v2:\n%s", v)
	}

	v = signByKeys(t, h, "alice", pin("alice"), "counts for root v2, previous root v1")
	mustContain(t, "after alice", v,
		"root v2              [########] 1/1  signed: alice",
		"targets (root v2)    [--------] 0/1")
	h.key("enter")
	// dave's token holds no key that counts any more.
	h.waitFor("2. See what is staged")
	h.key("enter")
	v = h.waitFor("3. Insert the token", "✓ frank's key: signs 2.targets.json")
	// (not "which has signed all it can": dave has signed nothing)
	if l := lineWith(v, "dave "); !strings.Contains(l, "✗ wrong token: dave's; none of its keys is needed") {
		t.Errorf("dave's token is not refused for what it is: %q\n%s", l, v)
	}
	signWith(t, h, "frank", pin("frank"), "counts for targets (root v2)", "Every threshold is met: next, publish.")
	h.key("enter")

	h.waitFor("tuf-ceremony · Publish", "Check that every threshold is met")
	h.key("enter")
	v = h.waitFor("Published; verified as a TUF client would", "metadata/2.root.json", "metadata/2.targets.json", "OK: no problem found")
	if strings.Index(v, "metadata/2.root.json") > strings.Index(v, "metadata/2.targets.json") {
		t.Errorf("targets published before the root that names its key:\n%s", v)
	}

	rep, rootV, targetsV := r.verify()
	if rootV != 2 || targetsV != 2 {
		t.Errorf("go-tuf trusts root v%d and targets v%d; want v2 and v2", rootV, targetsV)
	}
	if rep.Targets == nil || rep.Targets.Version != 2 {
		t.Errorf("verified targets: %+v", rep.Targets)
	}
	newTargets, threshold := roleKeys(t, rep, "targets")
	if got := sortedNames(newTargets); got != "frank" || threshold != 1 {
		t.Errorf("targets of root v2: keys of %s, threshold %d; want frank and 1", got, threshold)
	}
	if e := evidenceOf(rep, "targets", "frank"); !strings.HasPrefix(e, `generated on pkcs11 token "frank"`) {
		t.Errorf("frank's new key: %q; want it generated on his token", e)
	}
	if newTargets["frank"] == oldTargets["dave"] {
		t.Error("frank's key is dave's")
	}
	rootKeys, _ := roleKeys(t, rep, "root")
	if got := sortedNames(rootKeys); got != "alice" {
		t.Errorf("root keys changed: %s", got)
	}
}
