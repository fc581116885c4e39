package tui

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/piv"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/virtualpiv"
)

// virtualYubiKeys are a rehearsal's virtual YubiKeys: a private pcscd
// (hsm/virtualpiv) in the rehearsal's directory, cards played by this
// process (goroutines that speak vpcd on 127.0.0.1), and this process's
// PC/SC client redirected to that pcscd, so that the ceremony reaches
// them through piv-go exactly as it reaches a real YubiKey.
type virtualYubiKeys struct {
	pcscd   *virtualpiv.PCSCD
	cancel  context.CancelFunc
	cards   sync.WaitGroup // the cards' vpcd connectors
	restore func()         // the PC/SC client back to the machine's pcscd
	keys    []virtualYubiKey
	// roots are the cards' own attestation roots (a virtual vendor, NOT
	// Yubico): the ceremony verifies their attestations against them.
	roots *x509.CertPool
	// log collects what the cards say, for errors.
	logMu sync.Mutex
	log   []string
}

// virtualYubiKey is one card, set up for a custodian.
type virtualYubiKey struct {
	serial string
	reader string
	pin    string
}

// virtualYubiKeyTimeout bounds each wait of the set-up (a card appearing
// in pcscd, the card's set-up through piv-go).
const virtualYubiKeyTimeout = 20 * time.Second

// noVirtualYubiKey says why a rehearsal has no virtual YubiKey, and what
// would give it one.
type noVirtualYubiKey struct {
	reason string
	fix    string
}

func (e *noVirtualYubiKey) Error() string { return "no virtual YubiKey: " + e.reason }

// unavailable is the reason and the fix of virtualpiv.Check's error.
func unavailable(err error) *noVirtualYubiKey {
	var u *virtualpiv.UnavailableError
	if errors.As(err, &u) {
		return &noVirtualYubiKey{reason: err.Error(), fix: u.Fix}
	}
	return &noVirtualYubiKey{reason: err.Error(), fix: "make deps"}
}

// startVirtualYubiKeys starts n virtual YubiKeys with automatic touch in
// dir and sets each up with a random PIN and PUK and a random
// PIN-protected management key (hsm/piv's Setup, as `tuf-ceremony token
// setup` does for a real one). The cards' state lives only in this
// process's memory: no PIN, PUK or key is written to disk or given to a
// child process. On an error everything started is stopped again; the
// error is a *noVirtualYubiKey.
func startVirtualYubiKeys(ctx context.Context, dir string, n int) (_ *virtualYubiKeys, err error) {
	if err := virtualpiv.Check(); err != nil {
		return nil, unavailable(err)
	}
	pdir := filepath.Join(dir, "pcscd")
	if err := os.Mkdir(pdir, 0o700); err != nil {
		return nil, &noVirtualYubiKey{reason: err.Error()}
	}
	p, err := virtualpiv.StartPCSCD(pdir, n)
	if err != nil {
		return nil, &noVirtualYubiKey{reason: err.Error()}
	}
	cardCtx, cancel := context.WithCancel(context.Background())
	y := &virtualYubiKeys{pcscd: p, cancel: cancel, roots: x509.NewCertPool()}
	defer func() {
		if err != nil {
			y.stop()
			var no *noVirtualYubiKey
			if !errors.As(err, &no) {
				err = &noVirtualYubiKey{reason: err.Error()}
			}
		}
	}()
	for i := 0; i < n; i++ {
		st, err := virtualpiv.NewFactoryState(0)
		if err != nil {
			return nil, err
		}
		ca, err := x509.ParseCertificate(st.CA.Cert)
		if err != nil {
			return nil, err
		}
		y.roots.AddCert(ca)
		// Touch is automatic: a real YubiKey's touch is a finger on the
		// device, not a key in this program, so a rehearsal key for it
		// would teach a gesture that does nothing on the day. The TUI
		// still shows the "touch your YubiKey" prompt when it asks.
		card := virtualpiv.NewCard(virtualpiv.CardOptions{State: st, Context: cardCtx})
		serial := strconv.FormatUint(uint64(st.Serial), 10)
		conn := &virtualpiv.Connector{Addr: p.Addrs[i], Card: card, Logf: y.logf(serial)}
		y.cards.Add(1)
		go func() {
			defer y.cards.Done()
			conn.Run(cardCtx)
		}()
		y.keys = append(y.keys, virtualYubiKey{serial: serial, reader: p.Readers[i]})
	}
	for _, k := range y.keys {
		if err := p.WaitInserted(k.reader, 1, virtualYubiKeyTimeout); err != nil {
			return nil, fmt.Errorf("virtual YubiKey %s: %w%s", k.serial, err, y.tail())
		}
	}
	// Quitting during the set-up stops here.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if y.restore, err = virtualpiv.RedirectClient(ctx, p.Socket); err != nil {
		return nil, err
	}
	backend := piv.NewBackend()
	if err := y.checkVisible(ctx, backend); err != nil {
		return nil, err
	}
	for i := range y.keys {
		if err := y.setUp(ctx, backend, &y.keys[i]); err != nil {
			return nil, err
		}
	}
	return y, nil
}

// checkVisible makes sure this process reaches the cards: it does not if
// its PC/SC client was connected before the client switch was prepared
// (libpcsclite keeps the socket path it read first).
func (y *virtualYubiKeys) checkVisible(ctx context.Context, backend *piv.Backend) error {
	ctx, cancel := context.WithTimeout(ctx, virtualYubiKeyTimeout)
	defer cancel()
	// The private pcscd runs and holds the cards: not reaching it, or
	// not finding them there, means the client went elsewhere.
	notSeen := func(serial string, err error) error {
		return &noVirtualYubiKey{
			reason: fmt.Sprintf("this process does not reach virtual YubiKey %s through the rehearsal's pcscd (%v): "+
				"its PC/SC client connected to another pcscd before the rehearsal could redirect it (libpcsclite reads %s once per process)",
				serial, err, virtualpiv.SocketEnv),
			fix: "quit, start tuf-ceremony again (with a writable TMPDIR) and begin with the rehearsal",
		}
	}
	infos, err := backend.Tokens(ctx, nil)
	if errors.Is(err, hsm.ErrNoReaderService) {
		return notSeen(y.keys[0].serial, err)
	}
	if err != nil {
		return fmt.Errorf("failed to list the virtual YubiKeys: %w", err)
	}
	for _, k := range y.keys {
		if !slices.ContainsFunc(infos, func(i hsm.TokenInfo) bool { return i.Serial == k.serial }) {
			return notSeen(k.serial, errors.New("not listed"))
		}
	}
	return nil
}

// setUp gives a factory-fresh card a random PIN and PUK and a random
// PIN-protected management key.
func (y *virtualYubiKeys) setUp(ctx context.Context, backend *piv.Backend, k *virtualYubiKey) error {
	ctx, cancel := context.WithTimeout(ctx, virtualYubiKeyTimeout)
	defer cancel()
	tok, err := backend.OpenToken(ctx, piv.URI{Serial: k.serial}.String())
	if err != nil {
		return err
	}
	defer tok.Close()
	pin, puk := randomPIVSecret(), randomPIVSecret()
	if _, err := tok.Setup(ctx, piv.SetupOptions{NewPIN: hsm.NewPIN(pin), NewPUK: hsm.NewPIN(puk)}); err != nil {
		return fmt.Errorf("failed to set up virtual YubiKey %s: %w", k.serial, err)
	}
	k.pin = pin
	return nil
}

// randomPIVSecret is a random 8-digit PIN or PUK that Setup accepts (never
// a factory default).
func randomPIVSecret() string {
	for {
		s := randomPIN()
		if piv.ValidateNewPIN(hsm.NewPIN(s)) == nil {
			return s
		}
	}
}

func (y *virtualYubiKeys) logf(serial string) func(string, ...any) {
	return func(format string, args ...any) {
		y.logMu.Lock()
		defer y.logMu.Unlock()
		y.log = append(y.log, "virtual YubiKey "+serial+": "+fmt.Sprintf(format, args...))
	}
}

// tail is the last lines the cards and pcscd printed, for an error.
func (y *virtualYubiKeys) tail() string {
	y.logMu.Lock()
	lines := append([]string(nil), y.log...)
	y.logMu.Unlock()
	if pl := strings.TrimSpace(y.pcscd.Log()); pl != "" {
		lines = append(lines, strings.Split(pl, "\n")...)
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	if len(lines) == 0 {
		return ""
	}
	return " (" + strings.Join(lines, "; ") + ")"
}

// stop sends the PC/SC client back to the machine's pcscd, removes the
// cards and stops the private pcscd (its mount namespace goes with it).
// It returns once every process and goroutine is gone; stopping twice is
// fine.
func (y *virtualYubiKeys) stop() {
	if y.restore != nil {
		y.restore()
	}
	y.cancel()
	y.cards.Wait()
	y.pcscd.Stop()
}

// pin is the PIN of the card with this serial, or "".
func (y *virtualYubiKeys) pin(serial string) string {
	for _, k := range y.keys {
		if k.serial == serial {
			return k.pin
		}
	}
	return ""
}
