package ceremony_test

// Benchmarks of issue 8 (run by `make bench`, never by `make test`):
//
//   - BenchmarkChainVerify: ceremony.Verify on a 1,000-version root chain
//     against go-tuf v2's trusted-metadata loop over the same files.
//   - BenchmarkChainVerifyTufJS: the same Verify against tuf-js's
//     TrustedMetadataStore loop (scripts/bench/tufjs-chain.mjs).
//   - BenchmarkLargeTargetsSign / BenchmarkLargeTargetsVerify: a targets
//     file of 100,000 entries signed and verified on the ceremony's path
//     (Envelope, Payload, SignPayload, VerifySignature, the tally) against
//     go-tuf's Metadata.Sign and VerifyDelegate.
//   - BenchmarkLargeTargetsPeakMemory: the peak RSS of a process that signs
//     and verifies that file, against the file's size.
//
// The machine is noisy, so no figure is an absolute time: every iteration
// runs the subject and its baseline back to back (alternating which goes
// first) and the reported "x" is the median of the per-iteration ratios.
// ns/op is the subject's median time. With -benchtime Nx (N > 1) the
// testing package runs each benchmark once with b.N = 1 first, which
// serves as the warm-up; -benchtime 1x is a quick check that they still
// run.

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
)

const (
	benchChainLength   = 1000
	benchTargetEntries = 100000
)

// paired times a subject and its baseline back to back, n times, and
// keeps each pair: wall-clock time, and the process's CPU time (user +
// system, all threads), which other tenants of a shared machine disturb
// less.
type paired struct {
	subject, baseline       []time.Duration
	subjectCPU, baselineCPU []time.Duration
}

func (p *paired) add(subject, baseline time.Duration) {
	p.subject = append(p.subject, subject)
	p.baseline = append(p.baseline, baseline)
}

func (p *paired) addCPU(subject, baseline time.Duration) {
	p.subjectCPU = append(p.subjectCPU, subject)
	p.baselineCPU = append(p.baselineCPU, baseline)
}

// cpuTime is the CPU time this process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func medianRatio(subject, baseline []time.Duration, inverse bool) float64 {
	ratios := make([]float64, len(subject))
	for i := range subject {
		ratios[i] = float64(subject[i]) / float64(baseline[i])
		if inverse {
			ratios[i] = 1 / ratios[i]
		}
	}
	return medianFloat(ratios)
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianFloat(fs []float64) float64 {
	s := slices.Clone(fs)
	slices.Sort(s)
	return s[len(s)/2]
}

// report sets ns/op to the subject's median, "x" to the median of
// subject/baseline (baseline/subject when inverse) in wall-clock time and
// "cpu-x" the same in CPU time.
func (p *paired) report(b *testing.B, baselineName string, inverse bool) {
	b.ReportMetric(float64(medianDuration(p.subject).Nanoseconds()), "ns/op")
	b.ReportMetric(float64(medianDuration(p.baseline).Nanoseconds()), baselineName+"-ns/op")
	if len(p.subjectCPU) == len(p.subject) {
		b.ReportMetric(medianRatio(p.subjectCPU, p.baselineCPU, inverse), "cpu-x")
	}
	b.ReportMetric(medianRatio(p.subject, p.baseline, inverse), "x")
}

// timed runs f and returns how long it took; f failing ends the benchmark.
func timed(b *testing.B, what string, f func() error) time.Duration {
	d, _ := timedCPU(b, what, f)
	return d
}

// timedCPU runs f and returns how long it took, in wall-clock and CPU time.
func timedCPU(b *testing.B, what string, f func() error) (wall, cpu time.Duration) {
	b.Helper()
	startCPU, start := cpuTime(), time.Now()
	err := f()
	wall, cpu = time.Since(start), cpuTime()-startCPU
	if err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	return wall, cpu
}

// runPaired runs subject and baseline b.N times, alternating which runs
// first.
func runPaired(b *testing.B, subject, baseline func() error) *paired {
	b.Helper()
	p := &paired{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var s, base, sCPU, baseCPU time.Duration
		if i%2 == 0 {
			s, sCPU = timedCPU(b, "subject", subject)
			base, baseCPU = timedCPU(b, "baseline", baseline)
		} else {
			base, baseCPU = timedCPU(b, "baseline", baseline)
			s, sCPU = timedCPU(b, "subject", subject)
		}
		p.add(s, base)
		p.addCPU(sCPU, baseCPU)
	}
	b.StopTimer()
	return p
}

// benchKey is an in-memory ECDSA P-256 key standing in for a token.
type benchKey struct {
	priv *ecdsa.PrivateKey
	tuf  *metadata.Key // as a ceremony writes it, with the custodian
	id   string
}

func newBenchKey(tb testing.TB, owner string) *benchKey {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := ceremony.TUFKey(&priv.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := ceremony.KeyID(k)
	if err != nil {
		tb.Fatal(err)
	}
	if owner != "" {
		k.UnrecognizedFields = map[string]any{ceremony.KeyOwnerField: owner}
	}
	return &benchKey{priv: priv, tuf: k, id: id}
}

// writeBenchChain writes 1.root.json … n.root.json and root.json into dir:
// root 3-of-5 ECDSA P-256 (targets, snapshot and timestamp 1-of-1), each
// version signed by the threshold of the previous version and its own. A
// root key is rotated out every 200 versions; a rotation is signed by the
// three keys both versions share and by the new key.
func writeBenchChain(tb testing.TB, dir string, n int) {
	tb.Helper()
	custodians := 0
	newRootKey := func() *benchKey {
		custodians++
		return newBenchKey(tb, fmt.Sprintf("custodian-%d", custodians))
	}
	rootKeys := []*benchKey{newRootKey(), newRootKey(), newRootKey(), newRootKey(), newRootKey()}
	targets, snapshot, timestamp := newBenchKey(tb, "targets"), newBenchKey(tb, "online"), newBenchKey(tb, "online")
	expires := time.Now().UTC().Truncate(time.Second).Add(10 * 365 * 24 * time.Hour)
	var prev []*benchKey
	var data []byte
	for v := 1; v <= n; v++ {
		var added *benchKey
		if v%200 == 0 {
			added = newRootKey()
			rootKeys = append(rootKeys[1:], added) // the oldest key leaves
		}
		md := metadata.Root(expires)
		r := &md.Signed
		r.Version = int64(v)
		r.SpecVersion = ceremony.SpecVersion
		r.ConsistentSnapshot = true
		for _, k := range append(slices.Clone(rootKeys), targets, snapshot, timestamp) {
			r.Keys[k.id] = k.tuf
		}
		for _, k := range rootKeys {
			r.Roles[metadata.ROOT].KeyIDs = append(r.Roles[metadata.ROOT].KeyIDs, k.id)
		}
		r.Roles[metadata.ROOT].Threshold = 3
		r.Roles[metadata.TARGETS].KeyIDs = []string{targets.id}
		r.Roles[metadata.SNAPSHOT].KeyIDs = []string{snapshot.id}
		r.Roles[metadata.TIMESTAMP].KeyIDs = []string{timestamp.id}

		// Three keys in both versions, in turn, and a new key.
		var both []*benchKey
		for _, k := range rootKeys {
			if prev == nil || slices.Contains(prev, k) {
				both = append(both, k)
			}
		}
		var signers []*benchKey
		for i := 0; i < 3; i++ {
			signers = append(signers, both[(v+i)%len(both)])
		}
		if added != nil {
			signers = append(signers, added)
		}

		env, err := ceremony.MarshalSigned(r)
		if err != nil {
			tb.Fatal(err)
		}
		payload, err := env.Payload()
		if err != nil {
			tb.Fatal(err)
		}
		for _, k := range signers {
			sig, err := ceremony.SignPayload(k.priv, k.tuf, payload)
			if err != nil {
				tb.Fatal(err)
			}
			env.SetSignature(k.id, sig)
		}
		if data, err = env.Marshal(); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ceremony.VersionedName(metadata.ROOT, int64(v))), data, 0o644); err != nil {
			tb.Fatal(err)
		}
		prev = slices.Clone(rootKeys)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.json"), data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// benchChain writes a chain into a temporary directory, or reuses the one
// in $TUF_BENCH_CHAIN_DIR (written there if it holds none). Every timed
// run checks that it verifies.
func benchChain(b *testing.B) string {
	b.Helper()
	dir := os.Getenv("TUF_BENCH_CHAIN_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	if _, err := os.Stat(filepath.Join(dir, "root.json")); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		writeBenchChain(b, dir, benchChainLength) // root.json last
	}
	return dir
}

// goTUFChain is what a go-tuf v2 client does with a root chain: trust
// 1.root.json, then UpdateRoot with each next version.
func goTUFChain(dir string, n int) error {
	data, err := os.ReadFile(filepath.Join(dir, "1.root.json"))
	if err != nil {
		return err
	}
	tm, err := trustedmetadata.New(data)
	if err != nil {
		return err
	}
	for v := 2; v <= n; v++ {
		data, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(v)+".root.json"))
		if err != nil {
			return err
		}
		if _, err := tm.UpdateRoot(data); err != nil {
			return fmt.Errorf("root v%d: %w", v, err)
		}
	}
	return nil
}

func verifyChain(dir string) func() error {
	return func() error {
		rep, err := ceremony.Verify(dir, ceremony.VerifyOptions{})
		if err != nil {
			return err
		}
		if !rep.OK() || len(rep.Roots) != benchChainLength || len(rep.Notes) != 0 {
			return fmt.Errorf("verify: %d roots, problems %q, notes %q", len(rep.Roots), rep.Problems, rep.Notes)
		}
		return nil
	}
}

// BenchmarkChainVerify: x = Verify / go-tuf's trusted-metadata loop.
// Goal: x ≤ 1.2.
func BenchmarkChainVerify(b *testing.B) {
	dir := benchChain(b)
	p := runPaired(b, verifyChain(dir), func() error { return goTUFChain(dir, benchChainLength) })
	p.report(b, "gotuf", false)
}

// BenchmarkChainGoTUF is go-tuf's loop alone, for profiles.
func BenchmarkChainGoTUF(b *testing.B) {
	dir := benchChain(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := goTUFChain(dir, benchChainLength); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChainVerifyOnly is Verify alone, for profiles
// (-cpuprofile).
func BenchmarkChainVerifyOnly(b *testing.B) {
	dir := benchChain(b)
	f := verifyChain(dir)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
}

// tufJS is scripts/bench/tufjs-chain.mjs running over a chain, walking it
// with tuf-js when asked (after a warm-up walk of each kind).
type tufJS struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr bytes.Buffer
}

func startTufJS(dir string) (*tufJS, error) {
	script := filepath.Join(repoRoot(), "scripts", "bench", "tufjs-chain.mjs")
	js := &tufJS{cmd: exec.Command("node", script, dir, strconv.Itoa(benchChainLength))}
	js.cmd.Stderr = &js.stderr
	var err error
	if js.in, err = js.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := js.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := js.cmd.Start(); err != nil {
		return nil, err
	}
	js.out = bufio.NewScanner(stdout)
	if !js.out.Scan() || js.out.Text() != "ready" {
		return nil, js.fail(fmt.Errorf("printed %q, want ready", js.out.Text()))
	}
	return js, nil
}

// walk has node walk the chain once, "store" or "updater", and returns
// the time node measured for it, in wall-clock and CPU time.
func (js *tufJS) walk(kind string) (wall, cpu time.Duration, err error) {
	if _, err := fmt.Fprintln(js.in, kind); err != nil {
		return 0, 0, js.fail(err)
	}
	if !js.out.Scan() {
		return 0, 0, js.fail(errors.New("no answer"))
	}
	var res struct {
		Ms    float64 `json:"ms"`
		CPUMs float64 `json:"cpu_ms"`
	}
	if err := json.Unmarshal(js.out.Bytes(), &res); err != nil {
		return 0, 0, js.fail(fmt.Errorf("printed %q: %v", js.out.Text(), err))
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	return ms(res.Ms), ms(res.CPUMs), nil
}

func (js *tufJS) fail(err error) error {
	js.close()
	return fmt.Errorf("node tufjs-chain.mjs: %v\n%s", err, js.stderr.String())
}

func (js *tufJS) close() {
	js.in.Close()
	js.cmd.Wait()
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), ".."))
}

// BenchmarkChainVerifyTufJS: x = tuf-js's TrustedMetadataStore loop /
// Verify, over the same files (how many times faster Verify is). Goal:
// x ≥ 3. One node process serves the benchmark (tufjs-chain.mjs, warmed
// up first); each iteration times, back to back and alternating which
// goes first, a Verify and a walk of tuf-js's store, then a go-tuf loop
// next to another store walk, then a walk of tuf-js's Updater. Reported
// alongside: cpu-x (the same in CPU time), updater-x (tuf-js's Updater
// walking the chain through a file-backed fetcher and persisting each
// root, as a client does, over Verify) and gotuf-vs-tufjs (tuf-js's store
// over go-tuf's loop: how many times faster go-tuf itself is). Skipped
// when node or scripts/bench/node_modules is missing
// (scripts/bench/run.sh installs it).
func BenchmarkChainVerifyTufJS(b *testing.B) {
	if _, err := exec.LookPath("node"); err != nil {
		b.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(repoRoot(), "scripts", "bench", "node_modules", "tuf-js")); err != nil {
		b.Skip("scripts/bench/node_modules/tuf-js is missing: run npm ci --prefix scripts/bench")
	}
	dir := benchChain(b)
	verify := verifyChain(dir)
	goTUF := func() error { return goTUFChain(dir, benchChainLength) }
	js, err := startTufJS(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer js.close()
	walk := func(kind string) func() (time.Duration, time.Duration) {
		return func() (time.Duration, time.Duration) {
			wall, cpu, err := js.walk(kind)
			if err != nil {
				b.Fatal(err)
			}
			return wall, cpu
		}
	}
	store, updaterWalk := walk("store"), walk("updater")
	p, updater, goTUFvsJS := &paired{}, &paired{}, &paired{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var v, vCPU, s, sCPU time.Duration
		if i%2 == 0 {
			v, vCPU = timedCPU(b, "verify", verify)
			s, sCPU = store()
		} else {
			s, sCPU = store()
			v, vCPU = timedCPU(b, "verify", verify)
		}
		p.add(v, s)
		p.addCPU(vCPU, sCPU)
		var g time.Duration
		if i%2 == 0 {
			g = timed(b, "go-tuf", goTUF)
			s, _ = store()
		} else {
			s, _ = store()
			g = timed(b, "go-tuf", goTUF)
		}
		goTUFvsJS.add(g, s)
		u, _ := updaterWalk()
		updater.add(v, u)
	}
	b.StopTimer()
	b.ReportMetric(medianRatio(updater.subject, updater.baseline, true), "updater-x")
	b.ReportMetric(medianRatio(goTUFvsJS.subject, goTUFvsJS.baseline, true), "gotuf-vs-tufjs")
	p.report(b, "tufjs", true)
}

// largeTargets is a targets file of n entries as a ceremony stages it,
// with the key that signs it and a root that delegates targets to it.
type largeTargets struct {
	data   []byte // the staged file (no signature)
	key    *benchKey
	root   *metadata.Metadata[metadata.RootType]
	signer signature.Signer // the same key for go-tuf
}

// theLargeTargets is made once per process: the testing package calls a
// benchmark with b.N = 1 before the real run, and three benchmarks use it.
var theLargeTargets struct {
	sync.Once
	lt     *largeTargets
	signed []byte // lt.data signed on the ceremony's path
	err    error
}

func benchLargeTargets(b *testing.B) (*largeTargets, []byte) {
	b.Helper()
	theLargeTargets.Do(func() {
		lt := newLargeTargets(b, benchTargetEntries)
		signed, err := lt.ceremonySign(lt.data)
		if err == nil {
			if err = lt.goTUFVerify(signed); err != nil {
				err = fmt.Errorf("go-tuf rejects what the ceremony signed: %w", err)
			}
		}
		theLargeTargets.lt, theLargeTargets.signed, theLargeTargets.err = lt, signed, err
	})
	if theLargeTargets.err != nil {
		b.Fatal(theLargeTargets.err)
	}
	return theLargeTargets.lt, theLargeTargets.signed
}

func newLargeTargets(tb testing.TB, n int) *largeTargets {
	tb.Helper()
	key := newBenchKey(tb, "")
	md := metadata.Targets(time.Now().UTC().Truncate(time.Second).Add(26 * 7 * 24 * time.Hour))
	md.Signed.SpecVersion = ceremony.SpecVersion
	md.Signed.Version = 7
	buf := make([]byte, 32+64)
	for i := 0; i < n; i++ {
		if _, err := rand.Read(buf); err != nil {
			tb.Fatal(err)
		}
		s256 := sha256.Sum256(buf)
		s512 := sha512.Sum512(buf)
		p := fmt.Sprintf("packages/%03d/package-%06d-1.%d.%d.tar.gz", i%1000, i, i%17, i%101)
		md.Signed.Targets[p] = &metadata.TargetFiles{
			Length: int64(1000 + i*37%5000000),
			Hashes: metadata.Hashes{"sha256": s256[:], "sha512": s512[:]},
			Path:   p,
		}
	}
	env, err := ceremony.MarshalSigned(md.Signed)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := env.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	root := metadata.Root(time.Now().Add(time.Hour))
	root.Signed.Keys[key.id] = key.tuf
	root.Signed.Roles[metadata.TARGETS].KeyIDs = []string{key.id}
	signer, err := signature.LoadECDSASigner(key.priv, crypto.SHA256)
	if err != nil {
		tb.Fatal(err)
	}
	return &largeTargets{data: data, key: key, root: root, signer: signer}
}

// ceremonySign is the ceremony's path from staged bytes to signed bytes:
// parse the envelope, canonicalize, sign with the token (here an in-memory
// crypto.Signer), verify the signature (invariant 5), write.
func (lt *largeTargets) ceremonySign(staged []byte) ([]byte, error) {
	env, err := ceremony.ParseEnvelope(staged)
	if err != nil {
		return nil, err
	}
	if _, err := env.Header(); err != nil {
		return nil, err
	}
	payload, err := env.Payload()
	if err != nil {
		return nil, err
	}
	sig, err := ceremony.SignPayload(lt.key.priv, lt.key.tuf, payload)
	if err != nil {
		return nil, err
	}
	if err := ceremony.VerifySignature(lt.key.tuf, payload, sig); err != nil {
		return nil, err
	}
	env.SetSignature(lt.key.id, sig)
	return env.Marshal()
}

// ceremonyVerify is the tally of a staged proposal (proposals.go):
// parse, canonicalize, check every signature against the requirement.
func (lt *largeTargets) ceremonyVerify(signed []byte) error {
	env, err := ceremony.ParseEnvelope(signed)
	if err != nil {
		return err
	}
	payload, err := env.Payload()
	if err != nil {
		return err
	}
	p := &ceremony.Proposal{Env: env, Payload: payload, Requirements: []ceremony.Requirement{{
		Name: "targets", Role: metadata.TARGETS, Threshold: 1,
		KeyIDs: []string{lt.key.id}, Keys: map[string]*metadata.Key{lt.key.id: lt.key.tuf},
	}}}
	for _, t := range p.Tally() {
		if !t.Met() {
			return fmt.Errorf("tally: %d of %d", len(t.Signed), t.Threshold)
		}
	}
	return nil
}

// goTUFSign is go-tuf's path: parse, Metadata.Sign with an in-memory
// key, write.
func (lt *largeTargets) goTUFSign(staged []byte) ([]byte, error) {
	md, err := metadata.Targets().FromBytes(staged)
	if err != nil {
		return nil, err
	}
	if _, err := md.Sign(lt.signer); err != nil {
		return nil, err
	}
	return md.ToBytes(true)
}

// goTUFVerify is a go-tuf client's check of targets against root.
func (lt *largeTargets) goTUFVerify(signed []byte) error {
	md, err := metadata.Targets().FromBytes(signed)
	if err != nil {
		return err
	}
	return lt.root.VerifyDelegate(metadata.TARGETS, md)
}

// BenchmarkLargeTargetsSign: x = the ceremony's signing path / go-tuf's
// Metadata.Sign, on a staged targets file of 100,000 entries. Goal: x ≤ 1.2.
func BenchmarkLargeTargetsSign(b *testing.B) {
	lt, _ := benchLargeTargets(b)
	p := runPaired(b,
		func() error { _, err := lt.ceremonySign(lt.data); return err },
		func() error { _, err := lt.goTUFSign(lt.data); return err })
	p.report(b, "gotuf", false)
	b.ReportMetric(float64(len(lt.data)), "file-bytes")
}

// BenchmarkLargeTargetsVerify: x = the ceremony's tally / go-tuf's
// VerifyDelegate, on the signed targets file of 100,000 entries.
// Goal: x ≤ 1.2.
func BenchmarkLargeTargetsVerify(b *testing.B) {
	lt, signed := benchLargeTargets(b)
	p := runPaired(b,
		func() error { return lt.ceremonyVerify(signed) },
		func() error { return lt.goTUFVerify(signed) })
	p.report(b, "gotuf", false)
	b.ReportMetric(float64(len(signed)), "file-bytes")
}

// BenchmarkLargeTargetsVerifyRepo: x = ceremony.Verify of a repository
// whose targets has 100,000 entries (root v1 and targets v1, both signed)
// / a go-tuf client's parse and check of the same targets against the same
// root. Verify also checks what go-tuf writes back (parseTargetsChecked)
// and the root. Goal: x ≤ 1.2.
func BenchmarkLargeTargetsVerifyRepo(b *testing.B) {
	lt, signed := benchLargeTargets(b)
	dir := b.TempDir()
	root := *lt.root
	root.Signed.Version = 1
	root.Signed.SpecVersion = ceremony.SpecVersion
	root.Signed.Roles[metadata.ROOT].KeyIDs = []string{lt.key.id}
	root.Signed.Roles[metadata.SNAPSHOT].KeyIDs = []string{lt.key.id}
	root.Signed.Roles[metadata.TIMESTAMP].KeyIDs = []string{lt.key.id}
	env, err := ceremony.MarshalSigned(root.Signed)
	if err != nil {
		b.Fatal(err)
	}
	payload, err := env.Payload()
	if err != nil {
		b.Fatal(err)
	}
	sig, err := ceremony.SignPayload(lt.key.priv, lt.key.tuf, payload)
	if err != nil {
		b.Fatal(err)
	}
	env.SetSignature(lt.key.id, sig)
	rootData, err := env.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	for name, data := range map[string][]byte{"1.root.json": rootData, "7.targets.json": signed} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	verify := func() error {
		rep, err := ceremony.Verify(dir, ceremony.VerifyOptions{})
		if err != nil {
			return err
		}
		if !rep.OK() || rep.Targets == nil {
			return fmt.Errorf("verify: %q", rep.Problems)
		}
		return nil
	}
	goTUF := func() error {
		data, err := os.ReadFile(filepath.Join(dir, "1.root.json"))
		if err != nil {
			return err
		}
		if _, err := trustedmetadata.New(data); err != nil {
			return err
		}
		data, err = os.ReadFile(filepath.Join(dir, "7.targets.json"))
		if err != nil {
			return err
		}
		return lt.goTUFVerify(data)
	}
	p := runPaired(b, verify, goTUF)
	p.report(b, "gotuf", false)
	b.ReportMetric(float64(len(signed)), "file-bytes")
}

// BenchmarkLargeTargetsSignOnly and BenchmarkLargeTargetsGoTUFSignOnly are
// the two paths alone, for -cpuprofile and -benchmem.
func BenchmarkLargeTargetsSignOnly(b *testing.B) {
	lt, _ := benchLargeTargets(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := lt.ceremonySign(lt.data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLargeTargetsGoTUFSignOnly(b *testing.B) {
	lt, _ := benchLargeTargets(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := lt.goTUFSign(lt.data); err != nil {
			b.Fatal(err)
		}
	}
}

// peakChildEnv makes BenchmarkLargeTargetsPeakMemory, re-run in a child
// process, do one measured operation and print its memory.
const peakChildEnv = "TUF_BENCH_PEAK_CHILD"

// BenchmarkLargeTargetsPeakMemory: x = the peak RSS of a process signing a
// staged 100,000-entry targets file on the ceremony's path (read, parse,
// canonicalize, sign, verify the signature, write), or of one verifying
// the signed file (read, parse, canonicalize, tally), whichever is higher,
// less the peak RSS of the same process doing nothing, over the file's
// size. Goal: x < 4. Each figure is its own child process (VmHWM of
// /proc/self/status), so one does not inherit another's heap. sign-x,
// verify-x and go-tuf's gotuf-x (the higher of its Metadata.Sign and
// VerifyDelegate) are reported alongside.
func BenchmarkLargeTargetsPeakMemory(b *testing.B) {
	if mode := os.Getenv(peakChildEnv); mode != "" {
		peakChild(b, mode)
		return
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc/self/status (Linux)")
	}
	lt, signed := benchLargeTargets(b)
	dir := b.TempDir()
	staged := filepath.Join(dir, "staged.json")
	signedFile := filepath.Join(dir, "signed.json")
	keyFile := filepath.Join(dir, "key.der")
	der, err := x509.MarshalPKCS8PrivateKey(lt.key.priv)
	if err != nil {
		b.Fatal(err)
	}
	for f, data := range map[string][]byte{staged: lt.data, signedFile: signed, keyFile: der} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	size := float64(len(lt.data))
	modes := []string{"idle", "sign", "verify", "gotuf-sign", "gotuf-verify"}
	peaks := map[string][]float64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, mode := range modes {
			file := staged
			if strings.HasSuffix(mode, "verify") {
				file = signedFile
			}
			peaks[mode] = append(peaks[mode], float64(childPeak(b, mode, file, keyFile)))
		}
	}
	b.StopTimer()
	idle := medianFloat(peaks["idle"])
	x := func(mode string) float64 { return (medianFloat(peaks[mode]) - idle) / size }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(size, "file-bytes")
	b.ReportMetric(idle, "idle-peak-bytes")
	b.ReportMetric(x("sign"), "sign-x")
	b.ReportMetric(x("verify"), "verify-x")
	b.ReportMetric(max(x("gotuf-sign"), x("gotuf-verify")), "gotuf-x")
	b.ReportMetric(max(x("sign"), x("verify")), "x")
}

// childPeak runs this benchmark in a child process in mode over file and
// returns the VmHWM it reports, in bytes.
func childPeak(b *testing.B, mode, file, keyFile string) int64 {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkLargeTargetsPeakMemory$", "-test.benchtime=1x", "-test.count=1")
	cmd.Env = append(os.Environ(), peakChildEnv+"="+strings.Join([]string{mode, file, keyFile}, string(os.PathListSeparator)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child %s: %v\n%s", mode, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM-bytes: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("child %s printed no VmHWM:\n%s", mode, out)
	return 0
}

// peakChild does one operation (or nothing, in mode idle) over the file
// and prints VmHWM. Everything but the file is set up in every mode.
func peakChild(b *testing.B, env string) {
	args := strings.Split(env, string(os.PathListSeparator))
	if len(args) != 3 {
		b.Fatalf("%s=%q", peakChildEnv, env)
	}
	mode, file, keyFile := args[0], args[1], args[2]
	der, err := os.ReadFile(keyFile)
	if err != nil {
		b.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		b.Fatal(err)
	}
	priv := k.(*ecdsa.PrivateKey)
	tk, err := ceremony.TUFKey(&priv.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	id, err := ceremony.KeyID(tk)
	if err != nil {
		b.Fatal(err)
	}
	lt := &largeTargets{key: &benchKey{priv: priv, tuf: tk, id: id}}
	lt.root = metadata.Root(time.Now().Add(time.Hour))
	lt.root.Signed.Keys[id] = tk
	lt.root.Signed.Roles[metadata.TARGETS].KeyIDs = []string{id}
	if lt.signer, err = signature.LoadECDSASigner(priv, crypto.SHA256); err != nil {
		b.Fatal(err)
	}
	out := file + "." + mode
	if mode != "idle" {
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		switch mode {
		case "sign", "gotuf-sign":
			sign := lt.ceremonySign
			if mode == "gotuf-sign" {
				sign = lt.goTUFSign
			}
			signed, err := sign(data)
			if err == nil {
				err = os.WriteFile(out, signed, 0o600)
			}
			if err != nil {
				b.Fatal(err)
			}
		case "verify":
			err = lt.ceremonyVerify(data)
		case "gotuf-verify":
			err = lt.goTUFVerify(data)
		default:
			err = fmt.Errorf("unknown mode %q", mode)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Printf("VmHWM-bytes: %d\n", kb*1024)
			return
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
}
