package ceremony

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	mpkcs11 "github.com/miekg/pkcs11"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// Token faults at the ceremony level, through pkcs11.SetFaultHooks on real
// SoftHSM tokens: a device error at each PKCS#11 call of keygen and of
// sign in turn, and a token counting wrong PINs down to its final try.
// Each must end with a clear error, the workspace unchanged byte for byte,
// and no key left behind on the token.

// errInjected is the device error the fault tests inject.
var errInjected = mpkcs11.Error(mpkcs11.CKR_DEVICE_ERROR)

// faultCalls records the PKCS#11 calls made while it is installed and
// fails the one at index failAt (counting from 0; -1 fails none).
type faultCalls struct {
	mu     sync.Mutex
	calls  []string
	failAt int
}

func (f *faultCalls) before(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	if len(f.calls)-1 == f.failAt {
		return errInjected
	}
	return nil
}

func (f *faultCalls) install() (restore func()) {
	return pkcs11.SetFaultHooks(pkcs11.FaultHooks{Before: f.before})
}

// stop makes no further call fail and returns the calls seen so far.
func (f *faultCalls) stop() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAt = -1
	return slices.Clone(f.calls)
}

// end marks the end of the calls under test with "END"; nil does nothing.
func (f *faultCalls) end() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAt = -1
	f.calls = append(f.calls, "END")
}

// untilEnd returns the calls made before end.
func (f *faultCalls) untilEnd() []string {
	calls := f.stop()
	if i := slices.Index(calls, "END"); i >= 0 {
		calls = calls[:i]
	}
	return calls
}

// tokenObjectFiles lists the objects SoftHSM stores for a token, one file
// each: a witness of what is on the token that does not go through
// PKCS#11 at all.
func tokenObjectFiles(t *testing.T, store *softhsmtest.Store) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(store.Dir, "tokens", "*", "*.object"))
	if err != nil {
		t.Fatal(err)
	}
	var objs []string
	for _, f := range files {
		if filepath.Base(f) != "token.object" {
			objs = append(objs, strings.TrimPrefix(f, store.Dir))
		}
	}
	return objs
}

// checkClearError requires the injected device error to reach the caller
// as itself, named with the call that failed.
func checkClearError(t *testing.T, what, op string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error although %s failed", what, op)
	case !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "CKR_DEVICE_ERROR"):
		t.Errorf("%s: the device error of %s is lost: %v", what, op, err)
	case !strings.Contains(err.Error(), op) && !strings.Contains(err.Error(), strings.TrimPrefix(op, "C_")):
		t.Errorf("%s: the error does not name %s: %v", what, op, err)
	}
}

func TestFaultAtEveryPKCS11CallOfKeygen(t *testing.T) {
	store := softhsmtest.New(t, "alice")
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "media")
	uri := store.URI("alice")
	// keygen opens the token and generates a key; f, when given, marks
	// the end of Keygen's calls with "END" (closing the token comes after
	// the record is written, and cannot undo it).
	keygen := func(ws *Workspace, f *faultCalls) error {
		tok, pin, err := crashOpen(ctx, uri)
		if err != nil {
			return err
		}
		defer tok.Close()
		_, err = Keygen(ctx, ws, tok, crashPrompter{}, KeygenOptions{Custodian: "alice", Algorithm: hsm.ECDSAP256, Unlock: UnlockOptions{PIN: pin}})
		f.end()
		return err
	}
	ws, err := OpenOrNewWorkspace(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := keygen(ws, nil); err != nil {
		t.Fatal(err)
	}

	// The calls of one keygen that nobody disturbs.
	rec := &faultCalls{failAt: -1}
	restore := rec.install()
	if ws, err = OpenWorkspace(dir); err == nil {
		err = keygen(ws, rec)
	}
	restore()
	if err != nil {
		t.Fatal(err)
	}
	calls := rec.untilEnd()
	t.Logf("keygen makes %d PKCS#11 calls: %s", len(calls), strings.Join(calls, " "))
	for _, want := range []string{"C_Initialize", "C_OpenSession", "C_Login", "C_GenerateKeyPair", "C_GetAttributeValue"} {
		if !slices.Contains(calls, want) {
			t.Fatalf("keygen made no %s call: the hooks see the wrong module", want)
		}
	}

	before := crashHashes(t, dir)
	objects := tokenObjectFiles(t, store)
	if len(objects) != 4 {
		t.Fatalf("the token holds %d objects after two keygens, want 4: %v", len(objects), objects)
	}
	for i, op := range calls {
		f := &faultCalls{failAt: i}
		restore := f.install()
		ws, err := OpenWorkspace(dir)
		if err != nil {
			restore()
			t.Fatal(err)
		}
		err = keygen(ws, f)
		seen := f.stop()
		restore()
		what := fmt.Sprintf("keygen failing at call %d (%s)", i, op)
		if len(seen) <= i || !slices.Equal(seen[:i+1], calls[:i+1]) {
			t.Fatalf("%s: the calls went another way: %v", what, seen)
		}
		checkClearError(t, what, op, err)
		if d := crashDiff(crashHashes(t, dir), before); d != "" {
			t.Errorf("%s: the workspace changed: %s", what, d)
			before = crashHashes(t, dir)
		}
		if got := tokenObjectFiles(t, store); !slices.Equal(got, objects) {
			t.Errorf("%s: the token holds %d objects, had %d: a key was left behind (error: %v)", what, len(got), len(objects), err)
			objects = got
		}

		// The same fault in a workspace's first keygen, which would
		// create it: nothing is created.
		fresh := filepath.Join(t.TempDir(), "new-media")
		f = &faultCalls{failAt: i}
		restore = f.install()
		if ws, err = OpenOrNewWorkspace(fresh); err == nil {
			err = keygen(ws, f)
		}
		f.stop()
		restore()
		checkClearError(t, what+" in a new workspace", op, err)
		if _, serr := os.Lstat(fresh); !errors.Is(serr, fs.ErrNotExist) {
			t.Errorf("%s in a new workspace: %s was created: %v", what, fresh, crashHashes(t, fresh))
		}
		if got := tokenObjectFiles(t, store); !slices.Equal(got, objects) {
			t.Errorf("%s in a new workspace: the token holds %d objects, had %d: a key was left behind (error: %v)", what, len(got), len(objects), err)
			objects = got
		}
	}

	// Nothing is stuck: a keygen still works.
	ws, err = OpenWorkspace(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := keygen(ws, nil); err != nil {
		t.Fatalf("keygen after the faults: %v", err)
	}
	if err := ws.VerifySums(); err != nil {
		t.Fatal(err)
	}
}

func TestFaultAtEveryPKCS11CallOfSign(t *testing.T) {
	store, ws := crashInit(t)
	ctx := context.Background()
	uri := store.URI("alice")
	sign := func(dir string, f *faultCalls) error {
		ws, err := OpenWorkspace(dir)
		if err != nil {
			return err
		}
		tok, pin, err := crashOpen(ctx, uri)
		if err != nil {
			return err
		}
		defer tok.Close()
		_, err = Sign(ctx, ws, tok, crashPrompter{}, SignOptions{Unlock: UnlockOptions{PIN: pin}})
		f.end()
		return err
	}

	// The calls of one undisturbed sign, on a copy.
	rec := &faultCalls{failAt: -1}
	restore := rec.install()
	err := sign(copyDir(t, ws.Dir), rec)
	restore()
	if err != nil {
		t.Fatal(err)
	}
	calls := rec.untilEnd()
	t.Logf("sign makes %d PKCS#11 calls: %s", len(calls), strings.Join(calls, " "))
	for _, want := range []string{"C_Login", "C_FindObjects", "C_SignInit", "C_Sign"} {
		if !slices.Contains(calls, want) {
			t.Fatalf("sign made no %s call", want)
		}
	}

	before := crashHashes(t, ws.Dir)
	objects := tokenObjectFiles(t, store)
	for i, op := range calls {
		f := &faultCalls{failAt: i}
		restore := f.install()
		err := sign(ws.Dir, f)
		seen := f.stop()
		restore()
		what := fmt.Sprintf("sign failing at call %d (%s)", i, op)
		if len(seen) <= i || !slices.Equal(seen[:i+1], calls[:i+1]) {
			t.Fatalf("%s: the calls went another way: %v", what, seen)
		}
		checkClearError(t, what, op, err)
		if d := crashDiff(crashHashes(t, ws.Dir), before); d != "" {
			t.Errorf("%s: the workspace changed: %s", what, d)
		}
		if got := tokenObjectFiles(t, store); !slices.Equal(got, objects) {
			t.Errorf("%s: the token's objects changed", what)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	if err := sign(ws.Dir, nil); err != nil {
		t.Fatalf("sign after the faults: %v", err)
	}
}

// copyDir copies a directory tree to a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// pinCounter plays a token with a PIN retry counter of 3, which SoftHSM
// lacks: every wrong PIN counts, a right one resets the count, and the
// token reports CKF_USER_PIN_COUNT_LOW, then CKF_USER_PIN_FINAL_TRY, then
// CKF_USER_PIN_LOCKED, as a real token does.
type pinCounter struct {
	mu     sync.Mutex
	wrong  int
	logins int
}

const pinTries = 3

func (c *pinCounter) hooks() pkcs11.FaultHooks {
	return pkcs11.FaultHooks{
		Before: func(op string) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			if op != "C_Login" {
				return nil
			}
			c.logins++
			if c.wrong >= pinTries {
				return mpkcs11.Error(mpkcs11.CKR_PIN_LOCKED)
			}
			return nil
		},
		After: func(op string, err error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			switch {
			case op != "C_Login":
			case errors.Is(err, mpkcs11.Error(mpkcs11.CKR_PIN_INCORRECT)):
				c.wrong++
			case err == nil:
				c.wrong = 0
			}
		},
		TokenFlags: func(flags uint) uint {
			c.mu.Lock()
			defer c.mu.Unlock()
			switch {
			case c.wrong >= pinTries:
				flags |= mpkcs11.CKF_USER_PIN_LOCKED
			case c.wrong == pinTries-1:
				flags |= mpkcs11.CKF_USER_PIN_COUNT_LOW | mpkcs11.CKF_USER_PIN_FINAL_TRY
			case c.wrong > 0:
				flags |= mpkcs11.CKF_USER_PIN_COUNT_LOW
			}
			return flags
		},
	}
}

func (c *pinCounter) state() (wrong, logins int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wrong, c.logins
}

// pinPrompter counts the times it is asked for a PIN.
type pinPrompter struct {
	crashPrompter
	pin   hsm.PIN
	asked int
}

func (p *pinPrompter) PIN(context.Context, hsm.TokenInfo, hsm.PINState) (hsm.PIN, error) {
	p.asked++
	return p.pin, nil
}

// A custodian who keeps mistyping the PIN is stopped before the try that
// would lock the token: sign refuses on the final try without asking for
// the PIN or trying one, and the workspace is unchanged throughout.
func TestFaultWrongPINUntilFinalTry(t *testing.T) {
	store, ws := crashInit(t)
	ctx := context.Background()
	counter := &pinCounter{}
	defer pkcs11.SetFaultHooks(counter.hooks())()
	before := crashHashes(t, ws.Dir)

	p := &pinPrompter{pin: hsm.NewPIN("000000")}
	var errs []error
	for range pinTries + 2 {
		tok, err := pkcs11.NewBackend().Open(ctx, store.URIWithoutPIN("alice"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Sign(ctx, ws, tok, p, SignOptions{})
		tok.Close()
		errs = append(errs, err)
		if d := crashDiff(crashHashes(t, ws.Dir), before); d != "" {
			t.Fatalf("a refused sign changed the workspace: %s", d)
		}
	}
	for i, err := range errs {
		want := hsm.ErrPINIncorrect
		if i >= pinTries-1 {
			want = hsm.ErrFinalTry
		}
		if !errors.Is(err, want) {
			t.Errorf("attempt %d: %v, want %v", i+1, err, want)
		}
		if errors.Is(err, hsm.ErrPINLocked) {
			t.Errorf("attempt %d locked the token: %v", i+1, err)
		}
	}
	wrong, logins := counter.state()
	if wrong != pinTries-1 || logins != pinTries-1 || p.asked != pinTries-1 {
		t.Errorf("%d wrong PINs in %d logins, asked %d times; want %d of each, and no try on the final one", wrong, logins, p.asked, pinTries-1)
	}
	if msg := errs[len(errs)-1].Error(); !strings.Contains(msg, "final PIN try") || !strings.Contains(msg, "alice") {
		t.Errorf("the refusal does not say why or which token: %s", msg)
	}

	// Forced, the custodian's right PIN goes through and resets the count.
	tok, err := pkcs11.NewBackend().Open(ctx, store.URIWithoutPIN("alice"))
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	p.pin = hsm.NewPIN(store.PIN(t, "alice"))
	if _, err := Sign(ctx, ws, tok, p, SignOptions{Unlock: UnlockOptions{Force: true}}); err != nil {
		t.Fatalf("forced sign with the right PIN: %v", err)
	}
	if wrong, logins := counter.state(); wrong != 0 || logins != pinTries {
		t.Errorf("after the forced login: %d wrong, %d logins", wrong, logins)
	}
}

// On a token that reports its final try, Unlock refuses without asking
// for the PIN or trying it; forced, it tries once. Keygen and sign stop
// there too, leaving the workspace and the token as they were.
func TestFaultFinalTryNotSpent(t *testing.T) {
	store, ws := crashInit(t)
	ctx := context.Background()
	var mu sync.Mutex
	logins := 0
	defer pkcs11.SetFaultHooks(pkcs11.FaultHooks{
		Before: func(op string) error {
			if op == "C_Login" {
				mu.Lock()
				logins++
				mu.Unlock()
			}
			return nil
		},
		TokenFlags: func(f uint) uint { return f | mpkcs11.CKF_USER_PIN_FINAL_TRY | mpkcs11.CKF_USER_PIN_COUNT_LOW },
	})()
	loginCount := func() int { mu.Lock(); defer mu.Unlock(); return logins }
	open := func() hsm.Token {
		tok, err := pkcs11.NewBackend().Open(ctx, store.URIWithoutPIN("alice"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tok.Close() })
		return tok
	}
	before := crashHashes(t, ws.Dir)
	objects := tokenObjectFiles(t, store)

	p := &pinPrompter{pin: hsm.NewPIN(store.PIN(t, "alice"))}
	st, err := open().PINState(ctx)
	if err != nil || !st.OnFinalTry() {
		t.Fatalf("PINState = %+v, %v; the hook's flags did not reach it", st, err)
	}
	if err := Unlock(ctx, open(), p, UnlockOptions{}); !errors.Is(err, hsm.ErrFinalTry) {
		t.Errorf("Unlock on the final try: %v", err)
	}
	if err := Unlock(ctx, open(), p, UnlockOptions{PIN: p.pin}); !errors.Is(err, hsm.ErrFinalTry) {
		t.Errorf("Unlock on the final try with the PIN from the URI: %v", err)
	}
	_, err = Keygen(ctx, ws, open(), p, KeygenOptions{Custodian: "alice"})
	if !errors.Is(err, hsm.ErrFinalTry) {
		t.Errorf("Keygen on the final try: %v", err)
	}
	_, err = Sign(ctx, ws, open(), p, SignOptions{})
	if !errors.Is(err, hsm.ErrFinalTry) {
		t.Errorf("Sign on the final try: %v", err)
	}
	if p.asked != 0 || loginCount() != 0 {
		t.Errorf("asked for the PIN %d times and tried it %d times on the final try", p.asked, loginCount())
	}
	if d := crashDiff(crashHashes(t, ws.Dir), before); d != "" {
		t.Errorf("the workspace changed: %s", d)
	}
	if got := tokenObjectFiles(t, store); !slices.Equal(got, objects) {
		t.Errorf("the token's objects changed: %v, had %v", got, objects)
	}

	// Forced, the PIN is asked and tried, once.
	if err := Unlock(ctx, open(), p, UnlockOptions{Force: true}); err != nil {
		t.Errorf("forced Unlock: %v", err)
	}
	if p.asked != 1 || loginCount() != 1 {
		t.Errorf("forced: asked %d times, tried %d times; want 1 and 1", p.asked, loginCount())
	}
}
