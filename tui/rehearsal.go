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
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
)

// rehearsal is a practice ceremony on throw-away SoftHSM tokens in a
// temporary directory, removed when the TUI exits.
type rehearsal struct {
	dir    string
	media  string
	plan   string
	module string
	labels []string
	pins   map[string]string
	// prevConf is SOFTHSM2_CONF before the rehearsal ("" and !hadConf:
	// unset).
	prevConf string
	hadConf  bool
}

// rehearsalCustodians hold the rehearsal's roles: root 2 of 3, targets 1.
var rehearsalCustodians = []string{"alice", "bob", "carol", "dave"}

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
// tokens for the rest of this process.
func setupRehearsal(parent string) (r *rehearsal, err error) {
	module := softHSMModule()
	if module == "" {
		return nil, errors.New("a rehearsal needs SoftHSM2: apt-get install softhsm2 (or: make deps)")
	}
	dir, err := os.MkdirTemp(parent, "tuf-ceremony-rehearsal-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	r = &rehearsal{dir: dir, media: filepath.Join(dir, "media"), plan: filepath.Join(dir, "ceremony.yaml"),
		module: module, labels: rehearsalCustodians, pins: map[string]string{}}
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
	defer func() {
		if err != nil {
			r.restoreConf()
		}
	}()
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
	if err := os.WriteFile(r.plan, []byte(rehearsalPlan(module)), 0o644); err != nil {
		return nil, err
	}
	return r, nil
}

// close removes the rehearsal's directory and restores SOFTHSM2_CONF.
func (r *rehearsal) close() {
	r.restoreConf()
	os.RemoveAll(r.dir)
}

func (r *rehearsal) restoreConf() {
	if r.hadConf {
		os.Setenv("SOFTHSM2_CONF", r.prevConf)
	} else {
		os.Unsetenv("SOFTHSM2_CONF")
	}
}

func rehearsalPlan(module string) string {
	tok := func(label string) string {
		return fmt.Sprintf("pkcs11:token=%s?module-path=%s", label, module)
	}
	return fmt.Sprintf(`# A rehearsal on throw-away SoftHSM tokens, made by the tuf-ceremony TUI.
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
`, tok("alice"), tok("bob"), tok("carol"), tok("dave"))
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
	if sh.rehearsal == nil || t.Backend != "pkcs11" {
		return ""
	}
	return sh.rehearsal.pins[t.Label]
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
				return wrap("A rehearsal runs the whole first ceremony, exactly as on the day, on throw-away SoftHSM tokens in a temporary directory: four custodians (alice, bob and carol hold root, any 2 of 3 sign; dave holds targets), a plan, and an empty medium. Real tokens are not touched. Everything is removed when you quit.", f.sh.width)
			},
			ack:      func(f *flow) string { return "rehearsal started" },
			finalKey: "set up",
			run: func(f *flow) jobFunc {
				return func(context.Context, ceremony.Prompter) (any, error) {
					return setupRehearsal("")
				}
			},
			done: func(f *flow, res any) error {
				r = res.(*rehearsal)
				f.sh.rehearsal = r
				f.sh.media = mediaInfo{dir: r.media}
				return nil
			},
		},
		&step{
			title: "Tokens ready",
			kind:  stepAck,
			body: func(f *flow) string {
				var b strings.Builder
				b.WriteString(wrap("Throw-away tokens and their PINs (on the day, each custodian knows only their own):", f.sh.width) + "\n\n")
				for _, l := range r.labels {
					b.WriteString(fmt.Sprintf("  %-6s PIN %s\n", l, r.pins[l]))
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

// Close removes what a rehearsal set up. Run calls it on exit.
func (a *App) Close() {
	if r := a.sh.rehearsal; r != nil {
		r.close()
		a.sh.rehearsal = nil
	}
}
