// Package pivtest gives tests a private pcscd with virtual YubiKeys
// (cmd/virtual-yubikey) in its vpcd readers, so that the real piv-go path
// runs without hardware.
//
//	env := pivtest.Start(t, 2)           // pcscd + 2 cards, touch automatic
//	yk, err := piv.Open(env.Cards[0].Reader)
//	... env.Cards[0].Serial, env.Roots (the cards' attestation roots)
//
//	env := pivtest.StartWith(t, 1, pivtest.Options{Touch: "wait", TouchTimeout: 2 * time.Second})
//	go env.Cards[0].Touch()              // touches when the card asks
//	env.Cards[0].Kill(t)                 // pulled out (mid-operation)
//	env.Cards[0].Remove(t); env.Cards[0].Insert(t) // restarted with its keys
//	pivtest.WithoutPCSCD(t)              // piv-go as with no pcscd running
//
// The cards are factory-fresh YubiKeys (firmware 5.7.1 unless Options say
// otherwise): PIN 123456, PUK 12345678, management key 0102…08 (AES-192 on
// 5.7, 3DES before). Their attestations chain to their own virtual vendor
// CA (Env.Roots, Env.CAFile), never to Yubico's roots.
//
// The pcscd is isolated by virtualpiv.StartPCSCD: its own mount namespace
// (root, or unprivileged user namespaces), its own socket, no USB readers,
// vpcd ports chosen free at random; so test packages that `go test ./...`
// runs in parallel each have their own. Start points this process's
// pcsc-lite client at it (virtualpiv.RedirectClient) until the test ends.
//
// One Env at a time per test process: libpcsclite reads
// PCSCLITE_CSOCK_NAME once, so a process has one client switch
// (virtualpiv.PrepareClient), and Start waits until the Env that holds it
// is cleaned up (parallel tests take turns, with the TUI's rehearsal
// too). Start once per test.
//
// Tests that need pcscd and vpcd call Require (Start does). Under `make
// test` (TUF_CEREMONY_ALL_TIERS=1) a missing package fails the test; run by
// hand without it, the test is skipped with a message naming the package.
package pivtest

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/virtualpiv"
)

// SocketEnv is the variable libpcsclite reads the pcscd socket from.
const SocketEnv = virtualpiv.SocketEnv

// VPCDDriver is where Debian's vsmartcard-vpcd installs the vpcd driver.
const VPCDDriver = virtualpiv.VPCDDriver

// Timeouts of the helper.
const (
	startTimeout = 20 * time.Second
	touchTimeout = 20 * time.Second
	// removalSettle is how long pcscd takes to mark a reader empty after
	// logging the removal.
	removalSettle = 100 * time.Millisecond
)

// PCSCD is a private pcscd with vpcd readers (virtualpiv.StartPCSCD).
type PCSCD = virtualpiv.PCSCD

// Require skips t (or fails it under TUF_CEREMONY_ALL_TIERS=1) unless pcscd,
// the vpcd driver and a private mount namespace are available.
func Require(t testing.TB) {
	t.Helper()
	var u *virtualpiv.UnavailableError
	if err := virtualpiv.Check(); errors.As(err, &u) {
		what := u.What
		if u.Err != nil {
			what = fmt.Sprintf("%s (%s: %v)", u.What, u.Fix, u.Err)
		}
		softhsmtest.Require(t, false, what, u.Package)
	}
}

// PCSCDPath returns the path of pcscd, or "" when it is not installed.
func PCSCDPath() string { return virtualpiv.PCSCDPath() }

// Options configure the cards of StartWith.
type Options struct {
	// Touch is "auto" (default: touched at once) or "wait" (Card.Touch).
	Touch string
	// TouchTimeout is how long a card waits for a touch (default 15s).
	TouchTimeout time.Duration
	// Firmware is the cards' firmware version (default 5.7.1).
	Firmware string
	// Verbose makes the cards log every command (see Card.Log).
	Verbose bool
}

// Env is a private pcscd with virtual YubiKeys.
type Env struct {
	*PCSCD
	Cards []*Card
	// CAFile holds the PEM roots of every card's virtual vendor CA, the
	// only roots their attestations verify against.
	CAFile string
	// Roots holds the same roots.
	Roots *x509.CertPool
}

// Start starts a private pcscd and n virtual YubiKeys with automatic touch.
func Start(t testing.TB, n int) *Env {
	t.Helper()
	return StartWith(t, n, Options{})
}

// StartWith starts a private pcscd and n virtual YubiKeys. Everything is
// stopped when the test ends.
func StartWith(t testing.TB, n int, o Options) *Env {
	t.Helper()
	if n < 1 || n > 16 {
		t.Fatalf("pivtest: %d cards: want 1 to 16", n)
	}
	Require(t)
	bin := Binary(t)
	p := StartPCSCD(t, n)
	env := &Env{PCSCD: p, Roots: x509.NewCertPool()}
	stateDir := t.TempDir()
	env.CAFile = filepath.Join(stateDir, "ca.pem")
	var bundle []byte
	for i := 0; i < n; i++ {
		c := &Card{
			Index:  i,
			Reader: p.Readers[i],
			Addr:   p.Addrs[i],
			State:  filepath.Join(stateDir, fmt.Sprintf("card%d.json", i+1)),
			bin:    bin,
			opts:   o,
			pcscd:  p,
		}
		if err := c.start(); err != nil {
			t.Fatalf("pivtest: %v", err)
		}
		t.Cleanup(func() { c.stop(syscall.SIGTERM) })
		env.Cards = append(env.Cards, c)
	}
	for _, c := range env.Cards {
		if err := p.WaitInserted(c.Reader, 1, startTimeout); err != nil {
			t.Fatalf("pivtest: card %d: %v\n%s", c.Index+1, err, c.Log())
		}
		if err := c.identify(); err != nil {
			t.Fatalf("pivtest: card %d: %v", c.Index+1, err)
		}
		env.Roots.AddCert(c.CA)
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.CA.Raw})...)
	}
	if err := os.WriteFile(env.CAFile, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, c := range env.Cards {
				t.Logf("pivtest: card %d (serial %d) log:\n%s", c.Index+1, c.Serial, c.Log())
			}
		}
	})
	return env
}

// Card is one virtual YubiKey process.
type Card struct {
	Index  int    // position in Env.Cards
	Serial uint32 // the card's serial number
	Reader string // the pcscd reader it sits in
	Addr   string // its vpcd address
	State  string // its state file
	CA     *x509.Certificate

	bin   string
	opts  Options
	pcscd *PCSCD

	mu      sync.Mutex
	cmd     *exec.Cmd
	log     *virtualpiv.Lines
	done    chan struct{}
	touches int // touch requests answered so far
}

func (c *Card) start() error {
	args := []string{"run", "--state", c.State, "--vpcd", c.Addr}
	if c.opts.Touch != "" {
		args = append(args, "--touch", c.opts.Touch)
	}
	if c.opts.TouchTimeout != 0 {
		args = append(args, "--touch-timeout", c.opts.TouchTimeout.String())
	}
	if c.opts.Firmware != "" {
		if _, err := os.Stat(c.State); err != nil {
			args = append(args, "--firmware", c.opts.Firmware)
		}
	}
	if c.opts.Verbose {
		args = append(args, "--verbose")
	}
	cmd := exec.Command(c.bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("failed to start %s: %w", c.bin, err)
	}
	log := virtualpiv.NewLines(stderr)
	done := make(chan struct{})
	go func() {
		<-log.EOF()
		cmd.Wait()
		close(done)
	}()
	c.mu.Lock()
	c.cmd, c.log, c.done, c.touches = cmd, log, done, 0
	c.mu.Unlock()
	return nil
}

// identify reads the serial from the state and the CA from `ca`.
func (c *Card) identify() error {
	b, err := os.ReadFile(c.State)
	if err != nil {
		return err
	}
	var st struct{ Serial uint32 }
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("state %s: %w", c.State, err)
	}
	c.Serial = st.Serial
	out, err := exec.Command(c.bin, "ca", "--state", c.State).Output()
	if err != nil {
		return fmt.Errorf("virtual-yubikey ca: %w", err)
	}
	block, _ := pem.Decode(out)
	if block == nil {
		return fmt.Errorf("virtual-yubikey ca printed no PEM")
	}
	c.CA, err = x509.ParseCertificate(block.Bytes)
	return err
}

// stop signals the card process and waits for it to end.
func (c *Card) stop(sig syscall.Signal) {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Kill removes the card abruptly (SIGKILL), as when it is pulled out in
// the middle of an operation. It returns once the process is gone.
func (c *Card) Kill(t testing.TB) {
	t.Helper()
	c.stop(syscall.SIGKILL)
}

// Remove stops the card (SIGTERM) and waits until pcscd saw it go.
func (c *Card) Remove(t testing.TB) {
	t.Helper()
	removed := c.pcscd.Removed(c.Reader)
	c.stop(syscall.SIGTERM)
	if err := c.pcscd.WaitRemoved(c.Reader, removed+1, startTimeout); err != nil {
		t.Fatalf("pivtest: card %d: %v", c.Index+1, err)
	}
	// pcscd logs the removal just before it updates the reader's state; a
	// client connecting in between gets a handle on a card that is gone
	// (and piv-go's Open leaks it when its SELECT fails).
	time.Sleep(removalSettle)
}

// Insert starts the card again with its state (after Kill or Remove) and
// waits until pcscd sees it.
func (c *Card) Insert(t testing.TB) {
	t.Helper()
	inserted := c.pcscd.Inserted(c.Reader)
	if err := c.start(); err != nil {
		t.Fatalf("pivtest: %v", err)
	}
	if err := c.pcscd.WaitInserted(c.Reader, inserted+1, startTimeout); err != nil {
		t.Fatalf("pivtest: card %d: %v\n%s", c.Index+1, err, c.Log())
	}
}

// Touch waits until the card asks for a touch (a card started with Touch
// "wait"), then touches it. It may be called before the operation that
// needs the touch starts, from any goroutine.
func (c *Card) Touch() error {
	c.mu.Lock()
	log, cmd := c.log, c.cmd
	c.touches++
	want := c.touches
	c.mu.Unlock()
	if log == nil {
		return errors.New("pivtest: card not running")
	}
	if err := log.Wait("waiting for touch", want, touchTimeout); err != nil {
		return fmt.Errorf("pivtest: card %d never asked for a touch: %w", c.Index+1, err)
	}
	return cmd.Process.Signal(syscall.SIGUSR1)
}

// TouchRequests is how many times the current card process asked for a
// touch.
func (c *Card) TouchRequests() int {
	c.mu.Lock()
	log := c.log
	c.mu.Unlock()
	if log == nil {
		return 0
	}
	return log.Count("waiting for touch")
}

// Log returns what the card process printed.
func (c *Card) Log() string {
	c.mu.Lock()
	log := c.log
	c.mu.Unlock()
	if log == nil {
		return ""
	}
	return log.String()
}

// StartPCSCD starts a private pcscd with at least slots vpcd readers, and
// points this process's pcsc-lite client at it until the test ends. It is
// stopped when the test ends.
func StartPCSCD(t testing.TB, slots int) *PCSCD {
	t.Helper()
	Require(t)
	claimClient(t)
	dir, err := os.MkdirTemp("", "pivtest-")
	if err != nil {
		t.Fatal(err)
	}
	p, err := virtualpiv.StartPCSCD(dir, slots)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("pivtest: %v", err)
	}
	restore, err := virtualpiv.RedirectClient(context.Background(), p.Socket)
	if err != nil {
		p.Stop()
		os.RemoveAll(dir)
		t.Fatalf("pivtest: %v", err)
	}
	ownClient(t)
	t.Cleanup(func() {
		restore()
		virtualpiv.ReleaseClient()
		p.Stop()
		if t.Failed() {
			t.Logf("pivtest: pcscd log:\n%s", p.Log())
		}
		os.RemoveAll(dir)
	})
	return p
}

// WithoutPCSCD points this process's pcsc-lite client at a socket with no
// pcscd behind it, for the rest of the test: piv-go then fails as when
// pcscd is not running, even if the machine runs one.
func WithoutPCSCD(t testing.TB) {
	t.Helper()
	claimClient(t)
	restore, err := virtualpiv.RedirectClient(context.Background(), filepath.Join(t.TempDir(), "no-pcscd.comm"))
	if err != nil {
		t.Fatalf("pivtest: %v", err)
	}
	t.Cleanup(func() {
		restore()
		virtualpiv.ReleaseClient()
	})
	ownClient(t)
}

var (
	ownerMu  sync.Mutex
	envOwner testing.TB
)

// claimClient refuses a second Env in the same test: the test would wait
// for itself, since one Env at a time holds this process's pcsc-lite
// client (virtualpiv.RedirectClient waits for the test that holds it).
func claimClient(t testing.TB) {
	t.Helper()
	ownerMu.Lock()
	mine := envOwner == t
	ownerMu.Unlock()
	if mine {
		t.Fatal("pivtest: this test already holds the pcscd of this process; start it once per test")
	}
}

// ownClient records that t holds the client, until it ends.
func ownClient(t testing.TB) {
	ownerMu.Lock()
	envOwner = t
	ownerMu.Unlock()
	t.Cleanup(func() {
		ownerMu.Lock()
		envOwner = nil
		ownerMu.Unlock()
	})
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary builds cmd/virtual-yubikey once per test process and returns its
// path: $XDG_CACHE_HOME/tuf-ceremony-tests/virtual-yubikey (or under the
// temporary directory), replaced atomically, so that test processes
// running side by side never see a half-written binary and nothing
// accumulates.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		dir = filepath.Join(dir, "tuf-ceremony-tests")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			binErr = err
			return
		}
		f, err := os.CreateTemp(dir, ".virtual-yubikey-*")
		if err != nil {
			binErr = err
			return
		}
		tmp := f.Name()
		f.Close()
		cmd := exec.Command(goTool(), "build", "-o", tmp, "./cmd/virtual-yubikey")
		cmd.Dir = softhsmtest.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			binErr = fmt.Errorf("go build ./cmd/virtual-yubikey: %v\n%s", err, out)
			return
		}
		binPath = filepath.Join(dir, "virtual-yubikey")
		if err := os.Rename(tmp, binPath); err != nil {
			os.Remove(tmp)
			binErr = err
		}
	})
	if binErr != nil {
		t.Fatalf("pivtest: %v", binErr)
	}
	return binPath
}

// goTool is the go command; `go test` puts its own first on PATH.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}
