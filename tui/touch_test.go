package tui

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/ceremony/tuftest"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/piv"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pivtest"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// mediumBytes reads every file of a medium, by path.
func mediumBytes(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// sameMedium fails t unless the medium holds exactly the files of before,
// byte for byte.
func sameMedium(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := mediumBytes(t, dir)
	var diff []string
	for p, b := range before {
		if a, ok := after[p]; !ok {
			diff = append(diff, "removed "+p)
		} else if a != b {
			diff = append(diff, "changed "+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			diff = append(diff, "added "+p)
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Errorf("the medium changed: %s", strings.Join(diff, ", "))
	}
}

// stepClock is a clock the test moves.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// A signature on a virtual YubiKey that waits for a touch (piv-go through
// a real pcscd): the TUI says "touch your YubiKey" with the spinner and
// the seconds waited. Nobody touches: the card's refusal is shown in
// place with what to do, and the medium is unchanged byte for byte. Try
// again, the test touches the card: the signature is placed, published
// and verified.
func TestTouchPromptOnVirtualYubiKey(t *testing.T) {
	// Long enough for the test to see the prompt and touch under load.
	const touchTimeout = 4 * time.Second
	env := pivtest.StartWith(t, 1, pivtest.Options{Touch: "wait", TouchTimeout: touchTimeout})
	card := env.Cards[0]
	store := softhsmtest.New(t, "dave")
	dir := t.TempDir()
	media := filepath.Join(dir, "media")
	clock := &stepClock{t: time.Now().UTC().Truncate(time.Second)}
	online, err := tuftest.NewOnlineKey(filepath.Join(dir, "online.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p11 := pkcs11.NewBackend()
	backends := []hsm.Backend{p11, piv.NewBackend()}

	// Set-up with the library: alice's root key on the YubiKey, dave's
	// targets key on SoftHSM; dave signs.
	planText := fmt.Sprintf(`name: touch
roles:
  root: {threshold: 1, expires: 365d, keys: [{custodian: alice, token: "yubikey:serial=%d"}]}
  targets: {threshold: 1, expires: 26w, keys: [{custodian: dave, token: %q}]}
  snapshot: {threshold: 1, expires: 7d, keys: [{public_key: online.pem}]}
  timestamp: {threshold: 1, expires: 1d, keys: [{public_key: online.pem}]}
`, card.Serial, store.URIWithoutPIN("dave"))
	planFile := filepath.Join(dir, "ceremony.yaml")
	if err := os.WriteFile(planFile, []byte(planText), 0o644); err != nil {
		t.Fatal(err)
	}
	plan, err := ceremony.LoadPlan(planFile)
	if err != nil {
		t.Fatal(err)
	}
	open := func(ctx context.Context, uri string) (hsm.Token, hsm.PIN, error) {
		tok, err := hsm.Open(ctx, backends, uri)
		if err != nil {
			return nil, hsm.PIN{}, err
		}
		if tok.Info().Backend == "pkcs11" {
			return tok, hsm.NewPIN(store.PIN(t, "dave")), nil
		}
		return tok, hsm.NewPIN(piv.DefaultPIN), nil
	}
	ctx := context.Background()
	ws, err := ceremony.OpenOrNewWorkspace(media)
	if err != nil {
		t.Fatal(err)
	}
	ws.Now = clock.now
	if _, err := ceremony.Init(ctx, ws, scripted{}, ceremony.InitOptions{Plan: plan, PlanBytes: []byte(planText), Open: open, Preflight: true, AttestationRoots: env.Roots}); err != nil {
		t.Fatalf("init: %v", err)
	}
	tok, pin, err := open(ctx, store.URIWithoutPIN("dave"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ceremony.Sign(ctx, ws, tok, scripted{}, ceremony.SignOptions{Unlock: ceremony.UnlockOptions{PIN: pin}}); err != nil {
		t.Fatal(err)
	}
	tok.Close()
	if n := card.TouchRequests(); n != 0 {
		t.Fatalf("the set-up asked for %d touches", n)
	}

	opts := testOptions(t, media, backends...)
	opts.Modules = []string{store.Module}
	opts.Now = clock.now
	opts.AttestationRoots = env.Roots
	h := newHarness(t, opts)
	h.waitFor("Tokens (2)", "waiting for signatures")
	h.key("s")
	h.waitFor("1. Check the clock and the air gap")
	h.key("enter")
	h.waitFor("2. See what is staged", "root v1", "0/1")
	h.key("enter")
	toSignature := func() string {
		t.Helper()
		h.waitFor("3. Insert the token", "✓ alice's key: signs 1.root.json", "▶ ")
		h.key("enter")
		h.waitFor("Review: staged/1.root.json (root v1)", "Fingerprint of the exact bytes")
		h.key("y")
		h.waitFor("type your PIN")
		h.typeText(piv.DefaultPIN)
		h.key("enter")
		return h.waitFor("TOUCH YOUR YUBIKEY NOW")
	}

	// Nobody touches.
	before := mediumBytes(t, media)
	v := toSignature()
	if l := lineWith(v, "TOUCH YOUR YUBIKEY NOW"); !strings.Contains(l, h.a.sh.spin.View()+" TOUCH") {
		t.Errorf("no spinner beside the touch prompt: %q", l)
	}
	mustContain(t, "touch prompt", v, "is waiting for a touch", "gold contact (0s; it gives up", fmt.Sprint(card.Serial), "esc stop")
	v = h.waitFor("error: ", "hint: press r and touch the YubiKey's gold contact when asked")
	mustContain(t, "no touch", v, "): no touch", "4. Review, PIN and signature", "r try again")
	if strings.Contains(v, "TOUCH YOUR YUBIKEY NOW") {
		t.Errorf("the touch prompt stays after the card gave up:\n%s", v)
	}
	if n := card.TouchRequests(); n != 1 {
		t.Errorf("the card was asked for %d touches, want 1", n)
	}
	sameMedium(t, media, before)

	// Again, and the test touches: the seconds count meanwhile.
	h.key("r")
	v = toSignature()
	mustContain(t, "touch prompt", v, "(0s;")
	for card.TouchRequests() < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	clock.add(2 * time.Second)
	h.update(clockTickMsg{})
	h.waitFor("gold contact (2s; it gives up")
	if err := card.Touch(); err != nil {
		t.Fatal(err)
	}
	v = h.waitFor("5. Signed", "staged/1.root.json signed by alice (counts for root v1)", "Every threshold is met")
	if strings.Contains(v, "TOUCH YOUR YUBIKEY") {
		t.Errorf("the touch prompt stays after the signature:\n%s", v)
	}
	h.key("enter")
	h.waitFor("tuf-ceremony · Publish", "Check that every threshold is met")
	h.key("enter")
	h.waitFor("Published; verified as a TUF client would", "OK: no problem found")

	rep, err := ceremony.Verify(media, ceremony.VerifyOptions{At: clock.now(), AttestationRoots: env.Roots})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Roots) != 1 || rep.Targets == nil {
		t.Fatalf("verify: problems %v, roots %v, targets %v", rep.Problems, rep.Roots, rep.Targets)
	}
	keys, _ := roleKeys(t, rep, "root")
	if keys["alice"] == "" {
		t.Errorf("root keys: %v", keys)
	}
	if e := evidenceOf(rep, "root", "alice"); !strings.HasPrefix(e, fmt.Sprintf("attested YubiKey, serial %d", card.Serial)) {
		t.Errorf("alice's key: %q; want it attested by the virtual YubiKey", e)
	}
	up, err := tuftest.Refresh(filepath.Join(media, "metadata"), t.TempDir(), online)
	if err != nil {
		t.Fatalf("go-tuf: %v", err)
	}
	if v := up.GetTrustedMetadataSet().Root.Signed.Version; v != 1 {
		t.Errorf("go-tuf trusts root v%d", v)
	}
	if n := card.TouchRequests(); n != 2 {
		t.Errorf("the card was asked for %d touches, want 2", n)
	}
	t.Logf("the card gave up after about %s", touchTimeout)
}

// Leaving while the key waits for its touch (esc) stops the signature:
// home again, the medium byte for byte as before, nothing signed.
func TestLeaveWhileWaitingForTouch(t *testing.T) {
	dir := t.TempDir()
	fake := newFakeBackend("alice", "bob", "carol", "dave")
	setupMedia(t, dir, fake, "init")
	media := filepath.Join(dir, "media")
	h := newHarness(t, testOptions(t, media, &touchFake{fakeBackend: fake, touched: make(chan struct{})}))
	h.waitFor("waiting for signatures", "Tokens (4)")
	h.key("s")
	h.waitFor("1. Check the clock and the air gap")
	h.key("enter")
	h.waitFor("2. See what is staged")
	h.key("enter")
	h.waitFor("3. Insert the token", "✓ alice's key: signs 1.root.json")
	before := mediumBytes(t, media)
	h.key("enter")
	h.waitFor("Review: staged/1.root.json")
	h.key("y")
	h.waitFor("type your PIN")
	h.typeText("1234")
	h.key("enter")
	h.waitFor("TOUCH YOUR YUBIKEY NOW", "esc stop")
	h.key("esc")
	h.waitFor("tuf-ceremony · home", "waiting for signatures")
	sameMedium(t, media, before)
	ws, err := ceremony.OpenWorkspace(media)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ceremony.Status(ws)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st {
		for _, r := range p.Requirements {
			if len(r.Signed) != 0 {
				t.Errorf("%s %s signed by %v", p.File, r.Name, r.Signed)
			}
		}
	}
}
