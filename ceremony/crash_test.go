package ceremony

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// The crash-consistency test of the spec's "a crash at any instant leaves
// either the old or the new state": the real CLI binary runs sign, merge
// and publish on a real workspace and SoftHSM tokens and is killed with
// SIGKILL at random instants, from its first milliseconds to the middle of
// its commit (found by watching the workspace with inotify for the
// commit's temporary files and its journal). After every kill the
// workspace is opened (recovery runs) and must be exactly the state before
// the command or the state after it, verify, and keep its transcript
// chain; the other medium of merge must be untouched.

// crashTokens are the custodians of the crash and fault tests' plan.
// Every key is Ed25519, whose signatures are deterministic, so that two
// runs of the same sign give the same bytes.
var crashTokens = []string{"alice", "bob", "carol", "dave"}

// crashPrompter answers every question yes and never has a PIN: PINs come
// from pin-source in the token URIs.
type crashPrompter struct{}

func (crashPrompter) PIN(context.Context, hsm.TokenInfo, hsm.PINState) (hsm.PIN, error) {
	return hsm.PIN{}, errors.New("no PIN: the URI must carry a pin-source")
}
func (crashPrompter) Confirm(context.Context, string) (bool, error) { return true, nil }
func (crashPrompter) Review(context.Context, Review) (bool, error)  { return true, nil }
func (crashPrompter) Notice(context.Context, string) error          { return nil }
func (crashPrompter) Progress(string)                               {}

// crashOpen opens a token as the CLI does: the PIN comes from the URI.
func crashOpen(ctx context.Context, uri string) (hsm.Token, hsm.PIN, error) {
	pin, _, err := hsm.URIPIN(uri)
	if err != nil {
		return nil, hsm.PIN{}, err
	}
	tok, err := pkcs11.NewBackend().Open(ctx, uri)
	return tok, pin, err
}

// crashWritePEM writes the public half of a fresh Ed25519 key, an online
// key of the plan.
func crashWritePEM(t *testing.T, path string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// crashInit creates tokens alice, bob, carol and dave and a workspace
// initialized from a plan through the library: root 2 of alice, bob,
// carol; targets 1 of dave; online snapshot and timestamp keys. Nothing
// is signed yet.
func crashInit(t *testing.T, labels ...string) (*softhsmtest.Store, *Workspace) {
	t.Helper()
	if len(labels) == 0 {
		labels = crashTokens
	}
	store := softhsmtest.New(t, labels...)
	dir := t.TempDir()
	crashWritePEM(t, filepath.Join(dir, "snapshot.pem"))
	crashWritePEM(t, filepath.Join(dir, "timestamp.pem"))
	tok := func(label string) string {
		return fmt.Sprintf(`{custodian: %s, token: "%s", algorithm: ed25519}`, label, store.URI(label))
	}
	plan := fmt.Sprintf(`name: crash and fault rehearsal
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
`, tok("alice"), tok("bob"), tok("carol"), tok("dave"))
	planPath := filepath.Join(dir, "ceremony.yaml")
	if err := os.WriteFile(planPath, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPlan(planPath)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := OpenOrNewWorkspace(filepath.Join(dir, "media"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Init(context.Background(), ws, crashPrompter{}, InitOptions{Plan: p, PlanBytes: []byte(plan), Open: crashOpen, Preflight: true}); err != nil {
		t.Fatalf("init: %v", err)
	}
	return store, ws
}

// crashSign signs what ws has staged with the token label's keys.
func crashSign(t *testing.T, store *softhsmtest.Store, ws *Workspace, label string) {
	t.Helper()
	ctx := context.Background()
	tok, pin, err := crashOpen(ctx, store.URI(label))
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if _, err := Sign(ctx, ws, tok, crashPrompter{}, SignOptions{Unlock: UnlockOptions{PIN: pin}}); err != nil {
		t.Fatalf("sign with %s: %v", label, err)
	}
}

// crashHashes returns the SHA-256 of every file under dir, hidden ones
// (lock, journal, temporary files) included, and marks directories.
func crashHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case rel == ".":
			return nil
		case d.IsDir():
			out[rel+"/"] = "dir"
			return nil
		case !d.Type().IsRegular():
			out[rel] = "not a regular file: " + d.Type().String()
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// crashDiff describes how two crashHashes differ, "" when they do not.
func crashDiff(got, want map[string]string) string {
	var d []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
		for k := range want {
			if _, ok := got[k]; !ok && !yield(k) {
				return
			}
		}
	}) {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !wok:
			d = append(d, "unexpected "+k)
		case !gok:
			d = append(d, "missing "+k)
		case g != w:
			d = append(d, "changed "+k)
		}
	}
	return strings.Join(d, ", ")
}

// crashState is a snapshot of a workspace: the hashes of its files and
// the bytes of its transcript and SHA256SUMS.
type crashState struct {
	hashes     map[string]string
	transcript []byte
	sums       []byte
}

func crashSnapshot(t *testing.T, dir string) crashState {
	t.Helper()
	tr, err := os.ReadFile(filepath.Join(dir, TranscriptFile))
	if err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	return crashState{hashes: crashHashes(t, dir), transcript: tr, sums: sums}
}

// crashMatchesAfter says why got is not the state after, or "". The two
// come from different runs of the same command, so their transcripts
// differ in the time of the new entries, and hence in the hash chain and
// in SHA256SUMS' line for the transcript; everything else must be equal
// byte for byte, and the transcript must extend the one before byte for
// byte with the same entries (seq, event, data) as the reference run's.
func crashMatchesAfter(got, after, before crashState) string {
	skip := map[string]bool{TranscriptFile: true, SumsFile: true}
	g, a := map[string]string{}, map[string]string{}
	for k, v := range got.hashes {
		if !skip[k] {
			g[k] = v
		}
	}
	for k, v := range after.hashes {
		if !skip[k] {
			a[k] = v
		}
	}
	if d := crashDiff(g, a); d != "" {
		return d
	}
	if !bytes.HasPrefix(got.transcript, before.transcript) {
		return "the transcript does not extend the one before byte for byte"
	}
	ge, err := ReadTranscript(bytes.NewReader(got.transcript))
	if err != nil {
		return err.Error()
	}
	ae, err := ReadTranscript(bytes.NewReader(after.transcript))
	if err != nil {
		return "reference: " + err.Error()
	}
	if len(ge) != len(ae) {
		return fmt.Sprintf("the transcript has %d entries, want %d", len(ge), len(ae))
	}
	for i := range ge {
		if ge[i].Seq != ae[i].Seq || ge[i].Event != ae[i].Event || !bytes.Equal(ge[i].Data, ae[i].Data) {
			return fmt.Sprintf("transcript entry %d is %s %s, want %s %s", i+1, ge[i].Event, ge[i].Data, ae[i].Event, ae[i].Data)
		}
	}
	gs, err := parseSums(got.sums)
	if err != nil {
		return err.Error()
	}
	as, err := parseSums(after.sums)
	if err != nil {
		return "reference: " + err.Error()
	}
	delete(gs, TranscriptFile)
	delete(as, TranscriptFile)
	if d := crashDiff(gs, as); d != "" {
		return SumsFile + ": " + d
	}
	return ""
}

// crashBinary builds cmd/tuf-ceremony into a temporary directory of t,
// without the race detector: the product binary, as it ships.
func crashBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tuf-ceremony")
	gotool := "go"
	if p, err := exec.LookPath("go"); err == nil {
		gotool = p
	}
	cmd := exec.Command(gotool, "build", "-o", bin, "./cmd/tuf-ceremony")
	cmd.Dir = softhsmtest.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tuf-ceremony: %v\n%s", err, out)
	}
	return bin
}

// dirWatch reports, through inotify, the names created or renamed into
// a set of directories.
type dirWatch struct {
	f     *os.File
	names chan crashEvent
}

type crashEvent struct {
	name string
	at   time.Time
}

func watchDirs(dirs ...string) (*dirWatch, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	for _, d := range dirs {
		if _, err := syscall.InotifyAddWatch(fd, d, syscall.IN_CREATE|syscall.IN_MOVED_TO); err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("inotify %s: %w", d, err)
		}
	}
	w := &dirWatch{f: os.NewFile(uintptr(fd), "inotify"), names: make(chan crashEvent, 1024)}
	go w.loop()
	return w, nil
}

func (w *dirWatch) loop() {
	defer close(w.names)
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		at := time.Now()
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
			start := off + syscall.SizeofInotifyEvent
			if start+nameLen > n {
				break
			}
			name := string(bytes.TrimRight(buf[start:start+nameLen], "\x00"))
			off = start + nameLen
			select {
			case w.names <- crashEvent{name, at}:
			default: // nobody is listening any more
			}
		}
	}
}

func (w *dirWatch) Close() { w.f.Close() }

// crashRun is one run of the CLI and what the watch saw of it.
type crashRun struct {
	start, firstTemp, journal, exit time.Time
	killed                          bool
	exitErr                         error
	stderr                          string
}

// crashKillPlan says when to send SIGKILL: delay after the trigger, which
// is the start of the process ("start"), the creation of the commit's
// first temporary file ("temp") or of its journal ("journal"); the zero
// value never kills.
type crashKillPlan struct {
	trigger string
	delay   time.Duration
}

// waitUntil sleeps until t, spinning for the last stretch: a plain sleep
// of a few hundred microseconds is far less precise than that.
func waitUntil(t time.Time) {
	if d := time.Until(t) - time.Millisecond; d > 0 {
		time.Sleep(d)
	}
	for time.Now().Before(t) {
	}
}

func runCLI(t *testing.T, bin, media string, args []string, plan crashKillPlan) crashRun {
	t.Helper()
	var dirs []string
	for _, d := range append([]string{"."}, layoutDirs...) {
		if fi, err := os.Stat(filepath.Join(media, d)); err == nil && fi.IsDir() {
			dirs = append(dirs, filepath.Join(media, d))
		}
	}
	w, err := watchDirs(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	cmd.Stdin = nil
	var run crashRun
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	run.start = time.Now()
	exited := make(chan struct{})
	go func() {
		run.exitErr = cmd.Wait()
		run.exit = time.Now()
		close(exited)
	}()
	kill := func(at time.Time) {
		waitUntil(at)
		cmd.Process.Signal(syscall.SIGKILL)
	}
	if plan.trigger == "start" {
		kill(run.start.Add(plan.delay))
	}
	see := func(ev crashEvent) {
		if isTempName(ev.name) && run.firstTemp.IsZero() {
			run.firstTemp = ev.at
			if plan.trigger == "temp" {
				kill(ev.at.Add(plan.delay))
			}
		}
		if ev.name == journalFile && run.journal.IsZero() {
			run.journal = ev.at
			if plan.trigger == "journal" {
				kill(ev.at.Add(plan.delay))
			}
		}
	}
	events := w.names
	for events != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				break
			}
			see(ev)
		case <-exited:
			events = nil
		}
	}
	<-exited
	if plan.trigger == "" {
		// A run nobody kills must be seen whole: the events of a quick
		// commit can still be on their way when the exit is noticed.
		quiet := time.After(50 * time.Millisecond)
	drain:
		for {
			select {
			case ev, ok := <-w.names:
				if !ok {
					break drain
				}
				see(ev)
			case <-quiet:
				break drain
			}
		}
	}
	var ee *exec.ExitError
	if errors.As(run.exitErr, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() && st.Signal() == syscall.SIGKILL {
			run.killed = true
		}
	}
	run.stderr = stderr.String()
	return run
}

// crashCase is one command under test, from its starting workspace.
type crashCase struct {
	name  string
	start string   // pristine workspace the command starts from
	args  []string // with MEDIA for the workspace under test
	other string   // a medium the command only reads, or ""
	// tokens is SoftHSM's token directory, restored from pristineTokens
	// before every run: SoftHSM's own files are not what this test is
	// about, and a kill while SoftHSM writes them can leave a token
	// unreadable.
	tokens, pristineTokens string
}

func TestCrashConsistency(t *testing.T) {
	store, ws := crashInit(t)
	bin := crashBinary(t)

	// Root v1 and targets v1 published; targets v2, with a target added,
	// staged for dave.
	crashSign(t, store, ws, "alice")
	crashSign(t, store, ws, "bob")
	crashSign(t, store, ws, "dave")
	if _, err := Publish(ws, time.Now()); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "app.tgz")
	os.WriteFile(target, bytes.Repeat([]byte("tuf"), 1000), 0o644)
	if _, err := ProposeTargets(ws, TargetsChange{Add: map[string]string{"app.tgz": target}}); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	unsigned := filepath.Join(base, "unsigned")
	if err := os.CopyFS(unsigned, os.DirFS(ws.Dir)); err != nil {
		t.Fatal(err)
	}
	// The same, signed by dave: the other medium of merge, and publish's
	// starting point.
	crashSign(t, store, ws, "dave")
	signed := filepath.Join(base, "signed")
	if err := os.CopyFS(signed, os.DirFS(ws.Dir)); err != nil {
		t.Fatal(err)
	}

	tokensDir := filepath.Join(store.Dir, "tokens")
	pristineTokens := filepath.Join(base, "tokens")
	if err := os.CopyFS(pristineTokens, os.DirFS(tokensDir)); err != nil {
		t.Fatal(err)
	}
	cases := []crashCase{
		{name: "sign", start: unsigned, args: []string{"sign", "--media", "MEDIA", "--token", store.URI("dave"), "--yes"},
			tokens: tokensDir, pristineTokens: pristineTokens},
		{name: "merge", start: unsigned, args: []string{"merge", "--media", "MEDIA", signed}, other: signed},
		{name: "publish", start: signed, args: []string{"publish", "--media", "MEDIA"}},
	}
	kills := 48
	budget := 40 * time.Second
	if testing.Short() {
		kills, budget = 9, 15*time.Second
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, seed>>1))
	deadline := time.Now().Add(budget)
	for i, c := range cases {
		// Each command gets its share of what is left of the budget.
		share := time.Until(deadline) / time.Duration(len(cases)-i)
		t.Run(c.name, func(t *testing.T) { crashCommand(t, bin, c, kills, time.Now().Add(share), rng) })
	}
}

func crashCommand(t *testing.T, bin string, c crashCase, wantKills int, deadline time.Time, rng *mrand.Rand) {
	work := t.TempDir()
	media := filepath.Join(work, "media")
	args := slices.Clone(c.args)
	for i, a := range args {
		if a == "MEDIA" {
			args[i] = media
		}
	}
	reset := func() {
		t.Helper()
		if err := os.RemoveAll(media); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(media, os.DirFS(c.start)); err != nil {
			t.Fatal(err)
		}
		if c.tokens != "" {
			if err := os.RemoveAll(c.tokens); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(c.tokens, os.DirFS(c.pristineTokens)); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := crashSnapshot(t, c.start)
	var otherBefore map[string]string
	if c.other != "" {
		otherBefore = crashHashes(t, c.other)
	}

	// The state after: runs nobody kills, which also time the command and
	// its commit.
	var after crashState
	var total, commit, tail time.Duration
	for i := range 3 {
		reset()
		run := runCLI(t, bin, media, args, crashKillPlan{})
		if run.exitErr != nil {
			t.Fatalf("%s: %v\n%s", c.name, run.exitErr, run.stderr)
		}
		if run.firstTemp.IsZero() || run.journal.IsZero() {
			t.Fatalf("%s: the watch saw no commit (temporary file at %v, journal at %v)", c.name, run.firstTemp, run.journal)
		}
		total = max(total, run.exit.Sub(run.start))
		commit = max(commit, run.exit.Sub(run.firstTemp))
		tail = max(tail, run.exit.Sub(run.journal))
		if _, err := OpenWorkspace(media); err != nil {
			t.Fatal(err)
		}
		got := crashSnapshot(t, media)
		if i == 0 {
			after = got
			crashCheckWorkspace(t, media, before)
			if crashDiff(after.hashes, before.hashes) == "" {
				t.Fatalf("%s changed nothing", c.name)
			}
		} else if why := crashMatchesAfter(got, after, before); why != "" {
			t.Fatalf("two runs of %s that nobody killed differ: %s", c.name, why)
		}
	}
	t.Logf("%s takes %v, its commit the last %v, after the journal %v", c.name, total.Round(time.Microsecond), commit.Round(time.Microsecond), tail.Round(time.Microsecond))

	// Kill it, over and over.
	outcomes := map[string]int{}
	killed, runs := 0, 0
	// Past the deadline it goes on until a third of the kills are done,
	// within twice its share: a loaded machine slows every run down.
	hard := deadline.Add(time.Until(deadline))
	enough := func() bool {
		if time.Now().Before(deadline) {
			return false
		}
		return killed >= wantKills/3 || time.Now().After(hard)
	}
	for killed < wantKills && runs < 4*wantKills && !enough() {
		runs++
		var plan crashKillPlan
		switch runs % 4 {
		case 0: // the first few milliseconds: start-up, token, reading
			plan = crashKillPlan{"start", time.Duration(rng.Int64N(int64(5 * time.Millisecond)))}
		case 1: // anywhere in the run
			plan = crashKillPlan{"start", time.Duration(rng.Int64N(int64(total)))}
		case 2: // within the commit, before or after its point of no return
			plan = crashKillPlan{"temp", time.Duration(rng.Int64N(int64(commit)))}
		case 3: // past the point of no return: roll forward
			plan = crashKillPlan{"journal", time.Duration(rng.Int64N(int64(tail) + 1))}
		}
		reset()
		run := runCLI(t, bin, media, args, plan)
		if !run.killed && run.exitErr != nil {
			t.Fatalf("%s failed without being killed: %v\n%s", c.name, run.exitErr, run.stderr)
		}
		if run.killed {
			killed++
		}
		// What the kill left behind, before recovery.
		left := "nothing pending"
		switch {
		case fileExistsAt(filepath.Join(media, journalFile)):
			left = "journal (rolled forward)"
		case len((&Workspace{Dir: media}).tempFiles()) > 0:
			left = "temporary files (rolled back)"
		}
		if !run.killed {
			left = "finished"
		}
		if _, err := OpenWorkspace(media); err != nil {
			t.Fatalf("%s killed %v after %s (%s): OpenWorkspace: %v", c.name, plan.delay, plan.trigger, left, err)
		}
		got := crashSnapshot(t, media)
		state := "before"
		if d := crashDiff(got.hashes, before.hashes); d != "" {
			state = "after"
			if why := crashMatchesAfter(got, after, before); why != "" {
				t.Fatalf("%s killed %v after %s (%s): the workspace is neither the state before (%s) nor the state after (%s)",
					c.name, plan.delay, plan.trigger, left, d, why)
			}
		}
		outcomes[left+" → "+state]++
		crashCheckWorkspace(t, media, before)
		if c.other != "" {
			if d := crashDiff(crashHashes(t, c.other), otherBefore); d != "" {
				t.Fatalf("%s changed the medium it only reads: %s", c.name, d)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%s: %d runs, %d killed; outcomes %v", c.name, runs, killed, outcomes)
	if killed < wantKills/3 {
		t.Errorf("%s: only %d of %d kills within the time budget", c.name, killed, wantKills)
	}

	// The tokens and the workspace still work after all that.
	reset()
	if run := runCLI(t, bin, media, args, crashKillPlan{}); run.exitErr != nil {
		t.Fatalf("%s after the kills: %v\n%s", c.name, run.exitErr, run.stderr)
	}
}

func fileExistsAt(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// crashCheckWorkspace checks what must hold in any state: SHA256SUMS,
// verify, and a transcript whose chain is intact and extends, or is,
// the one before.
func crashCheckWorkspace(t *testing.T, dir string, before crashState) {
	t.Helper()
	ws, err := OpenWorkspace(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.VerifySums(); err != nil {
		t.Errorf("VerifySums: %v", err)
	}
	rep, err := Verify(dir, VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK() {
		t.Errorf("Verify: %v", rep.Problems)
	}
	f, err := os.Open(filepath.Join(dir, TranscriptFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := ReadTranscript(f)
	if err != nil {
		t.Errorf("ReadTranscript: %v", err)
	}
	old, _ := ReadTranscript(bytes.NewReader(before.transcript))
	if len(entries) < len(old) {
		t.Errorf("the transcript lost entries: %d, had %d", len(entries), len(old))
	}
	for _, rel := range (&Workspace{Dir: dir}).tempFiles() {
		t.Errorf("temporary file %s left after recovery", rel)
	}
}
