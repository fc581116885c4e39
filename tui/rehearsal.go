package tui

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/piv"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
)

// rehearsal is a practice ceremony on throw-away SoftHSM tokens and, where
// the machine can run one, a virtual YubiKey, in a temporary directory,
// removed when the TUI exits.
type rehearsal struct {
	dir    string
	media  string
	plan   string
	module string
	// labels are the custodians on SoftHSM tokens (token label =
	// custodian), pins their PINs.
	labels []string
	pins   map[string]string
	// prevConf is SOFTHSM2_CONF before the rehearsal ("" and !hadConf:
	// unset).
	prevConf string
	hadConf  bool

	// yk holds the virtual YubiKeys (nil: none), ykCustodians who is on
	// which (custodian → card, in yk.keys' order).
	yk           *virtualYubiKeys
	ykCustodians []string
	// noYK says why there is no virtual YubiKey (nil when there is one).
	noYK *noVirtualYubiKey
	// prevRoots are the TUI's attestation roots before the rehearsal
	// replaced them with its cards' CA.
	prevRoots *x509.CertPool

	confSet bool // SOFTHSM2_CONF was set for the rehearsal
	closed  bool
}

// rehearsalCustodians hold the rehearsal's roles: root 2 of 3, targets 1.
var rehearsalCustodians = []string{"alice", "bob", "carol", "dave"}

// rehearsalYubiKeyCustodians are put on virtual YubiKeys when the machine
// can run them; the others keep SoftHSM tokens.
var rehearsalYubiKeyCustodians = []string{"bob"}

// rehearsalOptions change how a rehearsal is set up (tests).
type rehearsalOptions struct {
	// noVirtualYubiKeys, when set, is the reason given instead of
	// starting virtual YubiKeys, as on a machine without them.
	noVirtualYubiKeys *noVirtualYubiKey
}

// softHSMModule is the SoftHSM2 module of this machine, or "".
func softHSMModule() string {
	for _, m := range pkcs11.DefaultModules() {
		if strings.Contains(m, "softhsm") {
			return m
		}
	}
	return ""
}

// setupRehearsal makes the tokens, two online keys, the plan and an empty
// medium in a new temporary directory, and points SOFTHSM2_CONF at the
// tokens for the rest of this process. Where the machine can, bob's token
// is a virtual YubiKey behind a private pcscd (this process's PC/SC
// client is redirected to it); otherwise r.noYK says why not. On an error
// nothing is left behind.
func setupRehearsal(ctx context.Context, parent string, o rehearsalOptions) (r *rehearsal, err error) {
	module := softHSMModule()
	if module == "" {
		return nil, errors.New("a rehearsal needs SoftHSM2: apt-get install softhsm2 (or: make deps)")
	}
	dir, err := os.MkdirTemp(parent, "tuf-ceremony-rehearsal-")
	if err != nil {
		return nil, err
	}
	r = &rehearsal{dir: dir, media: filepath.Join(dir, "media"), plan: filepath.Join(dir, "ceremony.yaml"),
		module: module, pins: map[string]string{}}
	defer func() {
		if err != nil {
			r.close()
		}
	}()

	// The virtual YubiKeys first: the custodians they cannot hold get
	// SoftHSM tokens.
	if o.noVirtualYubiKeys != nil {
		r.noYK = o.noVirtualYubiKeys
	} else if yk, err := startVirtualYubiKeys(ctx, dir, len(rehearsalYubiKeyCustodians)); err != nil {
		if !errors.As(err, &r.noYK) {
			return nil, err
		}
	} else {
		r.yk, r.ykCustodians = yk, rehearsalYubiKeyCustodians
	}
	for _, c := range rehearsalCustodians {
		if !slices.Contains(r.ykCustodians, c) {
			r.labels = append(r.labels, c)
		}
	}

	hsmDir := filepath.Join(dir, "hsm")
	if err := os.MkdirAll(filepath.Join(hsmDir, "tokens"), 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(hsmDir, "softhsm2.conf")
	confText := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\nslots.mechanisms = ALL\nlibrary.reset_on_fork = false\n", filepath.Join(hsmDir, "tokens"))
	if err := os.WriteFile(conf, []byte(confText), 0o600); err != nil {
		return nil, err
	}
	// The tokens are made through PKCS#11: no PIN passes through a child
	// process's argv, not even these throw-away ones. SoftHSM reads its
	// configuration when the module is initialized, so it is set first.
	r.prevConf, r.hadConf = os.LookupEnv("SOFTHSM2_CONF")
	os.Setenv("SOFTHSM2_CONF", conf)
	r.confSet = true
	var tokens []pkcs11.NewToken
	for _, label := range r.labels {
		pin := randomPIN()
		tokens = append(tokens, pkcs11.NewToken{Label: label, SOPIN: hsm.NewPIN(randomPIN()), UserPIN: hsm.NewPIN(pin)})
		r.pins[label] = pin
	}
	if err := pkcs11.InitTokens(module, tokens); err != nil {
		return nil, err
	}
	for _, role := range []string{"snapshot", "timestamp"} {
		if err := writeOnlineKey(filepath.Join(dir, "online-"+role+".pem")); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(r.plan, []byte(r.planText()), 0o644); err != nil {
		return nil, err
	}
	return r, nil
}

// close stops the virtual YubiKeys (cards, pcscd, the PC/SC client's
// redirection), restores SOFTHSM2_CONF and removes the rehearsal's
// directory. Closing twice is fine.
func (r *rehearsal) close() {
	if r.closed {
		return
	}
	r.closed = true
	if r.yk != nil {
		r.yk.stop()
	}
	if r.confSet {
		r.restoreConf()
	}
	os.RemoveAll(r.dir)
}

func (r *rehearsal) restoreConf() {
	if r.hadConf {
		os.Setenv("SOFTHSM2_CONF", r.prevConf)
	} else {
		os.Unsetenv("SOFTHSM2_CONF")
	}
}

// token is the URI of a custodian's rehearsal token.
func (r *rehearsal) token(custodian string) string {
	if i := slices.Index(r.ykCustodians, custodian); i >= 0 {
		return piv.URI{Serial: r.yk.keys[i].serial}.String()
	}
	return fmt.Sprintf("pkcs11:token=%s?module-path=%s", custodian, r.module)
}

// tokenKind names a custodian's token for people: "SoftHSM token" or
// "virtual YubiKey 12345678".
func (r *rehearsal) tokenKind(custodian string) string {
	if i := slices.Index(r.ykCustodians, custodian); i >= 0 {
		return "virtual YubiKey " + r.yk.keys[i].serial
	}
	return "SoftHSM token"
}

// pin is a custodian's PIN.
func (r *rehearsal) pin(custodian string) string {
	if i := slices.Index(r.ykCustodians, custodian); i >= 0 {
		return r.yk.keys[i].pin
	}
	return r.pins[custodian]
}

func (r *rehearsal) planText() string {
	what := "throw-away SoftHSM tokens"
	if r.yk != nil {
		what += " and a virtual YubiKey (bob)"
	}
	return fmt.Sprintf(`# A rehearsal on %s, made by the tuf-ceremony TUI.
name: rehearsal
roles:
  root:
    threshold: 2
    expires: 365d
    keys:
      - {custodian: alice, token: "%s"}
      - {custodian: bob, token: "%s", algorithm: ecdsa-p384}
      - {custodian: carol, token: "%s"}
  targets:
    threshold: 1
    expires: 26w
    keys:
      - {custodian: dave, token: "%s"}
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
`, what, r.token("alice"), r.token("bob"), r.token("carol"), r.token("dave"))
}

func randomPIN() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return fmt.Sprintf("%08d", binary.BigEndian.Uint32(b[:])%100000000)
}

// writeOnlineKey writes the public half of a fresh P-256 key; the private
// half is dropped (the rehearsal signs no snapshot or timestamp).
func writeOnlineKey(file string) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return err
	}
	return os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}

// rehearsalPIN is the PIN of a rehearsal token, shown on the PIN screen
// (a real custodian knows their own PIN; here nobody does).
func (sh *shared) rehearsalPIN(t hsm.TokenInfo) string {
	r := sh.rehearsal
	switch {
	case r == nil:
		return ""
	case t.Backend == "pkcs11":
		return r.pins[t.Label]
	case t.Backend == "piv" && r.yk != nil:
		return r.yk.pin(t.Serial)
	}
	return ""
}

// newRehearsalFlow: the whole ceremony on throw-away tokens.
func newRehearsalFlow(sh *shared) (*flow, error) {
	if sh.rehearsal != nil {
		return nil, fmt.Errorf("a rehearsal is already set up in %s: start a new repository (n)", sh.rehearsal.dir)
	}
	var r *rehearsal
	f := newFlow(sh, "rehearsal", "Rehearsal on throw-away tokens", "",
		&step{
			title: "Set up throw-away tokens",
			kind:  stepAck,
			body: func(f *flow) string {
				return wrap("A rehearsal runs the whole first ceremony, exactly as on the day, on throw-away tokens in a temporary directory: four custodians (alice, bob and carol hold root, any 2 of 3 sign; dave holds targets), a plan, and an empty medium. bob's token is a virtual YubiKey where this machine can run one (with pcscd and the vpcd virtual reader), the others are SoftHSM tokens. Real tokens are not touched. Everything is removed when you quit.", f.sh.width)
			},
			ack:      func(f *flow) string { return "rehearsal started" },
			finalKey: "set up",
			run: func(f *flow) jobFunc {
				sh, o := f.sh, f.sh.opts.rehearsal
				return func(ctx context.Context, _ ceremony.Prompter) (any, error) {
					r, err := setupRehearsal(ctx, "", o)
					if err != nil {
						return nil, err
					}
					if !sh.holdRehearsal(r) {
						r.close()
						return nil, errors.New("the TUI was closed during the rehearsal's set-up; nothing is left behind")
					}
					return r, nil
				}
			},
			done: func(f *flow, res any) error {
				r = res.(*rehearsal)
				f.sh.rehearsal = r
				f.sh.media = mediaInfo{dir: r.media}
				if r.yk != nil {
					// The cards' attestations chain to their own virtual
					// vendor, not to Yubico: keygen and verify check them
					// against it during the rehearsal.
					r.prevRoots = f.sh.opts.AttestationRoots
					f.sh.opts.AttestationRoots = r.yk.roots
				}
				return nil
			},
		},
		&step{
			title: "Tokens ready",
			kind:  stepAck,
			body: func(f *flow) string {
				st := f.sh.st
				var b strings.Builder
				b.WriteString(wrap("Throw-away tokens and their PINs (on the day, each custodian knows only their own):", f.sh.width) + "\n\n")
				for _, c := range rehearsalCustodians {
					b.WriteString(fmt.Sprintf("  %-6s %-25s PIN %s\n", c, r.tokenKind(c), r.pin(c)))
				}
				if r.yk != nil {
					b.WriteString("\n" + wrap("The virtual YubiKey is set up like a real one (random PIN, PUK and PIN-protected management key) and is touched automatically. Its attestations chain to its own virtual vendor CA, NOT Yubico's: this rehearsal checks them against that CA.", f.sh.width) + "\n")
				} else if r.noYK != nil {
					msg := wrap("No virtual YubiKey in this rehearsal: "+r.noYK.reason+". bob's key is on a SoftHSM token instead.", f.sh.width)
					if r.noYK.fix != "" {
						// The command on a line of its own, never broken.
						msg += "\n" + wrap("To rehearse with a virtual YubiKey, do this, then start the rehearsal again:", f.sh.width) + "\n    " + r.noYK.fix
					}
					b.WriteString("\n" + st.warn.Render(msg) + "\n")
				}
				b.WriteString("\nplan:   " + r.plan + "\n")
				b.WriteString("medium: " + r.media + "\n\n")
				b.WriteString("Next: the new repository ceremony, from this plan.\n")
				return b.String()
			},
			finalKey: "begin",
		},
	)
	f.onFinish = func(f *flow) tea.Cmd { return switchTo(sh, newInitFlow) }
	return f, nil
}

// discard closes a rehearsal whose set-up finished after the custodian
// left its screen.
func (r *rehearsal) discard() { r.close() }

// holdRehearsal records a rehearsal as soon as it is set up, so that
// Close removes it even when the TUI quits before the screen takes it.
// It reports false when the App is already closed.
func (sh *shared) holdRehearsal(r *rehearsal) bool {
	sh.rehearsalsMu.Lock()
	defer sh.rehearsalsMu.Unlock()
	if sh.closed {
		return false
	}
	sh.rehearsals = append(sh.rehearsals, r)
	return true
}

// Close removes what a rehearsal set up: its virtual YubiKeys and their
// pcscd, its tokens and its directory; SOFTHSM2_CONF, this process's
// PC/SC client and the attestation roots are as before. Run calls it on
// exit.
func (a *App) Close() {
	sh := a.sh
	sh.rehearsalsMu.Lock()
	sh.closed = true
	made := sh.rehearsals
	sh.rehearsals = nil
	sh.rehearsalsMu.Unlock()
	for i := len(made) - 1; i >= 0; i-- {
		made[i].close()
	}
	if r := sh.rehearsal; r != nil {
		r.close()
		if r.yk != nil {
			sh.opts.AttestationRoots = r.prevRoots
		}
		sh.rehearsal = nil
	}
}
