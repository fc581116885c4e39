package ceremony

// Independent clients (issue 7, item 1; SPEC invariant 7): what the
// ceremony publishes is accepted by go-tuf v2's client and by tuf-js (the
// client of sigstore-js and npm), and securesystemslib (python-tuf's
// signature library) verifies every signature whose scheme it supports;
// the clients reject a repository exactly when Verify does. Repositories:
// every stage of a ceremony's life on real SoftHSM tokens (bootstrap, a
// planned root rotation, an emergency rotation, a targets key rotation, a
// delegation), one repository per key algorithm, Sigstore's real root
// history and, when it exists, the hostile corpus of testdata/hostile.
//
// Each test logs a table of every case with every verdict, and the cases
// where Verify and a client differ. A client rejecting a repository the
// ceremony published, when Verify accepts it, fails the test, unless the
// rejection is a known limitation of the pinned client (clientsLimitations),
// which the table names.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony/tuftest"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// clientsLimitation is a key scheme a pinned client cannot verify. A
// repository signed with it may be rejected by that client; the test
// checks that it still is (so the entry goes when the pin moves past it).
type clientsLimitation struct {
	client, version, scheme, why string
}

var clientsLimitations = []clientsLimitation{{
	client:  "tuf-js",
	version: "3.1.0",
	scheme:  metadata.KeySchemeECDSA_SHA2_P384,
	why: "@tufjs/models 3.0.1 verifies every signature with crypto.verify(undefined, …), " +
		"which hashes ECDSA with SHA-256 whatever the curve; an ecdsa-sha2-nistp384 " +
		"signature (SHA-384) never verifies. Fixed in @tufjs/models 5.0.2 (tuf-js 6.0.2), " +
		"which needs node >= 22.22.2",
}}

// clientsSchemeOf is the TUF scheme of each key algorithm.
var clientsSchemeOf = map[hsm.Algorithm]string{
	hsm.ECDSAP256: metadata.KeySchemeECDSA_SHA2_P256,
	hsm.ECDSAP384: metadata.KeySchemeECDSA_SHA2_P384,
	hsm.Ed25519:   metadata.KeySchemeEd25519,
	hsm.RSA3072:   metadata.KeySchemeRSASSA_PSS_SHA256,
}

// clientsCase is one repository shown to every client.
type clientsCase struct {
	name string
	dir  string // the metadata a client is served (plus snapshot and timestamp)
	// published: the ceremony published it, so every client must accept it.
	published bool
	// targets must be found by every client that accepts.
	targets []string
	// verify is Verify's report when it was taken on the workspace at
	// publish time; nil runs Verify on dir at at.
	verify *VerifyReport
	// at is the reference time of Verify (and of tuf-js with rootsOnly);
	// zero is now, at which the clients judge the online roles Serve signs.
	at time.Time
	// rootsOnly: only the root chain (no online roles at hand); go-tuf's
	// client does not run.
	rootsOnly bool
	key       *tuftest.OnlineKey
	sslib     bool // check every signature with securesystemslib
	// onlyScheme is the scheme of every offline key (root, targets), when
	// there is one.
	onlyScheme string
	note       string
}

type clientsVerdict struct {
	ran         bool
	accepts     bool
	detail      string // first problem or error
	rootVersion int64
	known       string // the known limitation that explains a rejection
}

func (v clientsVerdict) String() string {
	switch {
	case !v.ran:
		return "n/a"
	case v.accepts && v.rootVersion > 0:
		return fmt.Sprintf("accepts (root v%d)", v.rootVersion)
	case v.accepts:
		return "accepts"
	case v.known != "":
		return "rejects (known: " + v.known + ")"
	}
	return "rejects"
}

type clientsResult struct {
	c                    clientsCase
	verify, goTUF, tufJS clientsVerdict
	targetsVersion       int64 // verify's
	tufJSTargetsVersion  int64
	sslib                string // summary
	sslibReport          *tuftest.SSLibReport
	sslibErr             error
	failures             []string // invariant 7 broken, or a client could not run
}

func (r *clientsResult) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *clientsResult) agree() bool {
	for _, v := range []clientsVerdict{r.goTUF, r.tufJS} {
		if v.ran && v.accepts != r.verify.accepts {
			return false
		}
	}
	return true
}

// clientsRun shows every case to every client and returns the results in
// the order of cases: tuf-js in one node process for all cases, meanwhile
// Verify, go-tuf's client and securesystemslib a few cases at a time.
func clientsRun(t *testing.T, cases []clientsCase) []*clientsResult {
	t.Helper()
	results := make([]*clientsResult, len(cases))
	work := t.TempDir()
	var jobs []tuftest.TufJSJob
	var jobOf []int
	for i, c := range cases {
		results[i] = &clientsResult{c: c}
		dir := filepath.Join(work, fmt.Sprintf("case%03d", i), "tufjs")
		var repo string
		var err error
		opts := tuftest.TufJSOptions{Targets: c.targets}
		if c.rootsOnly {
			repo, err = tuftest.ServeRoots(c.dir, dir)
			opts.RootsOnly, opts.At = true, c.at
		} else {
			repo, err = tuftest.Serve(c.dir, dir, c.key)
		}
		if err != nil {
			t.Fatalf("%s: serving for tuf-js: %v", c.name, err)
		}
		jobs = append(jobs, tuftest.TufJSJob{Repo: repo, Cache: filepath.Join(dir, "client"), TufJSOptions: opts})
		jobOf = append(jobOf, i)
	}
	var tufJS []*tuftest.TufJSResult
	var tufJSErr error
	tufJSDone := make(chan struct{})
	start := time.Now()
	var tufJSTime time.Duration
	go func() {
		defer close(tufJSDone)
		tufJS, tufJSErr = tuftest.TufJSRun(jobs)
		tufJSTime = time.Since(start)
	}()

	sem := make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			clientsRunCase(results[i], c, filepath.Join(work, fmt.Sprintf("case%03d", i)))
		}()
	}
	wg.Wait()
	othersTime := time.Since(start)
	<-tufJSDone
	if tufJSErr != nil {
		t.Fatalf("tuf-js could not run: %v", tufJSErr)
	}
	for k, res := range tufJS {
		r := results[jobOf[k]]
		err := res.Err()
		r.tufJS = clientsVerdict{ran: true, accepts: err == nil, rootVersion: res.RootVersion}
		r.tufJSTargetsVersion = res.TargetsVersion
		if err != nil {
			r.tufJS.detail = res.Error
			r.tufJS.rootVersion = 0
		}
	}
	t.Logf("%d cases: tuf-js %v (one process); verify, go-tuf and securesystemslib %v", len(cases), tufJSTime.Round(time.Millisecond), othersTime.Round(time.Millisecond))
	return results
}

func clientsRunCase(r *clientsResult, c clientsCase, work string) {
	if err := os.MkdirAll(work, 0o755); err != nil {
		r.fail("%v", err)
		return
	}
	at := c.at
	if at.IsZero() {
		at = time.Now()
	}

	// verify
	rep := c.verify
	if rep == nil {
		err := clientsCall(func() error {
			var err error
			rep, err = Verify(c.dir, VerifyOptions{At: at})
			return err
		})
		if err != nil {
			r.verify = clientsVerdict{ran: true, detail: err.Error()}
		}
	}
	if rep != nil {
		r.verify = clientsVerdict{ran: true, accepts: rep.OK()}
		if len(rep.Problems) > 0 {
			r.verify.detail = rep.Problems[0]
		}
		if n := len(rep.Roots); n > 0 {
			r.verify.rootVersion = rep.Roots[n-1].Version
		}
		if rep.Targets != nil {
			r.targetsVersion = rep.Targets.Version
		}
	}

	// go-tuf v2's client
	if !c.rootsOnly {
		r.goTUF.ran = true
		err := clientsCall(func() error {
			up, err := tuftest.Refresh(c.dir, filepath.Join(work, "gotuf"), c.key)
			if up != nil {
				r.goTUF.rootVersion = up.GetTrustedMetadataSet().Root.Signed.Version
			}
			for _, target := range c.targets {
				if err != nil {
					break
				}
				if _, err = up.GetTargetInfo(target); err != nil {
					err = fmt.Errorf("target %s: %w", target, err)
				}
			}
			return err
		})
		r.goTUF.accepts = err == nil
		if err != nil {
			r.goTUF.detail = strings.TrimPrefix(err.Error(), "go-tuf client refresh: ")
		}
	}

	// securesystemslib
	r.sslib = "n/a"
	if c.sslib {
		r.sslibReport, r.sslibErr = tuftest.SSLibVerifyDir(c.dir)
		switch {
		case r.sslibReport == nil:
			r.sslib = "could not run"
		default:
			n := r.sslibReport.Count()
			var parts []string
			for _, s := range []string{"valid", "invalid", "no-key", "unsupported", "empty"} {
				if n[s] > 0 {
					parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
				}
			}
			r.sslib = strings.Join(parts, ", ")
		}
	}
}

// clientsCall runs f, turning a panic into an error.
func clientsCall(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("PANIC: %v", p)
		}
	}()
	return f()
}

// clientsSchemes lists the key schemes every versioned file of dir defines
// (roots' keys, delegations' keys).
func clientsSchemes(dir string) map[string]bool {
	schemes := map[string]bool{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if _, _, ok := ParseVersionedName(e.Name()); !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var md struct {
			Signed struct {
				Keys        map[string]struct{ Scheme string } `json:"keys"`
				Delegations *struct {
					Keys map[string]struct{ Scheme string } `json:"keys"`
				} `json:"delegations"`
			} `json:"signed"`
		}
		if json.Unmarshal(data, &md) != nil {
			continue
		}
		for _, k := range md.Signed.Keys {
			schemes[k.Scheme] = true
		}
		if md.Signed.Delegations != nil {
			for _, k := range md.Signed.Delegations.Keys {
				schemes[k.Scheme] = true
			}
		}
	}
	return schemes
}

// clientsJudgePublished applies invariant 7 to a repository the ceremony
// published: Verify accepts it, both clients accept it and trust what
// Verify trusts, and securesystemslib verifies every signature.
func clientsJudgePublished(r *clientsResult) {
	c := r.c
	if !r.verify.accepts {
		r.fail("verify rejects what the ceremony published: %s", r.verify.detail)
	}
	schemes := clientsSchemes(c.dir)
	tufJSVersion := tuftest.TufJSVersion()
	for _, v := range []*clientsVerdict{&r.goTUF, &r.tufJS} {
		if !v.ran || v.accepts {
			continue
		}
		client := "go-tuf"
		if v == &r.tufJS {
			client = "tuf-js"
			for _, l := range clientsLimitations {
				// Only a signature that does not count explains it.
				if l.client == client && l.version == tufJSVersion && schemes[l.scheme] && strings.Contains(v.detail, "UnsignedMetadataError") {
					v.known = l.scheme
				}
			}
		}
		if v.known == "" {
			r.fail("%s's client rejects what the ceremony published and verify accepts (invariant 7): %s", client, v.detail)
		}
	}
	// A known limitation must still hold: a repository whose offline keys
	// all use the scheme is rejected, or the entry is stale.
	if r.tufJS.ran && r.tufJS.accepts {
		for _, l := range clientsLimitations {
			if l.client == "tuf-js" && l.version == tufJSVersion && c.onlyScheme == l.scheme {
				r.fail("tuf-js %s accepts a repository signed with %s only: remove the known limitation", l.version, l.scheme)
			}
		}
	}
	for _, v := range []struct {
		client string
		v      clientsVerdict
	}{{"go-tuf", r.goTUF}, {"tuf-js", r.tufJS}} {
		if v.v.ran && v.v.accepts && v.v.rootVersion != r.verify.rootVersion {
			r.fail("%s's client trusts root v%d, verify root v%d", v.client, v.v.rootVersion, r.verify.rootVersion)
		}
	}
	if r.tufJS.accepts && r.tufJSTargetsVersion != r.targetsVersion {
		r.fail("tuf-js trusts targets v%d, verify targets v%d", r.tufJSTargetsVersion, r.targetsVersion)
	}
	if c.sslib {
		switch {
		case r.sslibErr != nil:
			r.fail("%v", r.sslibErr)
		case r.sslibReport != nil:
			for _, f := range r.sslibReport.Files {
				for _, s := range f.Signatures {
					if s.Status != "valid" && s.Status != "unsupported" {
						r.fail("securesystemslib: %s: signature of %s (%s): %s %s", filepath.Base(f.File), shortID(s.KeyID), s.Scheme, s.Status, s.Detail)
					}
				}
			}
		}
	}
}

// clientsTable logs every case and then where Verify and a client differ.
func clientsTable(t *testing.T, title string, results []*clientsResult) {
	t.Helper()
	tufJS := "tuf-js " + tuftest.TufJSVersion()
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n| case | verify | go-tuf v2 | %s | securesystemslib | agree |\n|---|---|---|---|---|---|\n", title, tufJS)
	for _, r := range results {
		agree := "yes"
		if !r.agree() {
			agree = "**NO**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.c.name, r.verify, r.goTUF, r.tufJS, r.sslib, agree)
	}
	var diff strings.Builder
	for _, r := range results {
		if r.agree() {
			continue
		}
		fmt.Fprintf(&diff, "- %s: verify %s", r.c.name, r.verify)
		if r.verify.detail != "" {
			fmt.Fprintf(&diff, " (%s)", clientsShort(r.verify.detail))
		}
		for _, v := range []struct {
			name string
			v    clientsVerdict
		}{{"go-tuf", r.goTUF}, {"tuf-js", r.tufJS}} {
			if !v.v.ran {
				continue
			}
			fmt.Fprintf(&diff, "; %s %s", v.name, v.v)
			if v.v.detail != "" {
				fmt.Fprintf(&diff, " (%s)", clientsShort(v.v.detail))
			}
		}
		if r.c.note != "" {
			fmt.Fprintf(&diff, "; %s", r.c.note)
		}
		diff.WriteString("\n")
	}
	if diff.Len() == 0 {
		b.WriteString("\nverify and the clients agree on every case.\n")
	} else {
		b.WriteString("\nwhere verify and the clients differ:\n" + diff.String())
	}
	var known strings.Builder
	for _, l := range clientsLimitations {
		for _, r := range results {
			if r.tufJS.known == l.scheme {
				fmt.Fprintf(&known, "- %s %s cannot verify %s: %s\n", l.client, l.version, l.scheme, l.why)
				break
			}
		}
	}
	if known.Len() > 0 {
		b.WriteString("\nknown client limitations:\n" + known.String())
	}
	t.Log("\n" + b.String())
}

func clientsShort(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:157] + "…"
	}
	return s
}

// clientsReport fails t for every failure of every result.
func clientsReport(t *testing.T, results []*clientsResult) {
	t.Helper()
	for _, r := range results {
		for _, f := range r.failures {
			t.Errorf("%s: %s", r.c.name, f)
		}
	}
}

// clientsCeremony drives a workspace through the ceremony library on
// SoftHSM tokens, and snapshots what is published for the clients.
type clientsCeremony struct {
	t     *testing.T
	ctx   context.Context
	store *softhsmtest.Store
	ws    *Workspace
	key   *tuftest.OnlineKey
	dir   string
	cases []clientsCase
}

func (cc *clientsCeremony) open(ctx context.Context, uri string) (hsm.Token, hsm.PIN, error) {
	tk, err := openTokenURI(ctx, uri)
	label := strings.TrimPrefix(strings.Split(uri, "?")[0], "pkcs11:token=")
	return tk, hsm.NewPIN(cc.store.PIN(cc.t, label)), err
}

func (cc *clientsCeremony) token(label string) (hsm.Token, hsm.PIN) {
	cc.t.Helper()
	tk, pin, err := cc.open(cc.ctx, cc.store.URIWithoutPIN(label))
	if err != nil {
		cc.t.Fatalf("open token %s: %v", label, err)
	}
	return tk, pin
}

// init runs the first ceremony of the plan (roles: YAML under roles:).
func (cc *clientsCeremony) init(name, roles string) {
	cc.t.Helper()
	plan := "name: " + name + "\nroles:\n" + roles
	planPath := filepath.Join(cc.dir, name+".yaml")
	if err := os.WriteFile(planPath, []byte(plan), 0o644); err != nil {
		cc.t.Fatal(err)
	}
	p, err := LoadPlan(planPath)
	if err != nil {
		cc.t.Fatalf("plan %s: %v\n%s", name, err, plan)
	}
	if cc.ws, err = OpenOrNewWorkspace(filepath.Join(cc.dir, name)); err != nil {
		cc.t.Fatal(err)
	}
	if _, err := Init(cc.ctx, cc.ws, &recordingPrompter{}, InitOptions{Plan: p, PlanBytes: []byte(plan), Open: cc.open, Preflight: true}); err != nil {
		cc.t.Fatalf("init %s: %v", name, err)
	}
}

// tok is a plan key generated on the token label.
func (cc *clientsCeremony) tok(label string, alg hsm.Algorithm) string {
	return fmt.Sprintf(`{custodian: %s, token: "%s", algorithm: %s}`, label, cc.store.URIWithoutPIN(label), alg)
}

func (cc *clientsCeremony) keygen(label string, alg hsm.Algorithm) string {
	cc.t.Helper()
	tk, pin := cc.token(label)
	defer tk.Close()
	rec, err := Keygen(cc.ctx, cc.ws, tk, &recordingPrompter{}, KeygenOptions{Custodian: label, Algorithm: alg, Unlock: UnlockOptions{PIN: pin}})
	if err != nil {
		cc.t.Fatalf("keygen %s %s: %v", label, alg, err)
	}
	return rec.KeyID
}

func (cc *clientsCeremony) keyOf(custodian string) string {
	cc.t.Helper()
	names, err := cc.ws.Custodians()
	if err != nil {
		cc.t.Fatal(err)
	}
	for id, n := range names {
		if n == custodian {
			return id
		}
	}
	cc.t.Fatalf("no key of %s", custodian)
	return ""
}

func (cc *clientsCeremony) sign(labels ...string) {
	cc.t.Helper()
	for _, label := range labels {
		tk, pin := cc.token(label)
		_, err := Sign(cc.ctx, cc.ws, tk, &recordingPrompter{}, SignOptions{Unlock: UnlockOptions{PIN: pin}})
		tk.Close()
		if err != nil {
			cc.t.Fatalf("sign with %s: %v", label, err)
		}
	}
}

// publish publishes what is staged and records the published metadata,
// with Verify's report on the workspace, as a case.
func (cc *clientsCeremony) publish(name string, targets ...string) {
	cc.t.Helper()
	if _, err := Publish(cc.ws, time.Now()); err != nil {
		cc.t.Fatalf("%s: publish: %v", name, err)
	}
	rep, err := Verify(cc.ws.Dir, VerifyOptions{})
	if err != nil {
		cc.t.Fatalf("%s: verify: %v", name, err)
	}
	snap := filepath.Join(cc.dir, "published", strings.ReplaceAll(name, "/", "-"))
	if err := os.MkdirAll(snap, 0o755); err != nil {
		cc.t.Fatal(err)
	}
	src := filepath.Join(cc.ws.Dir, MetadataDir)
	entries, err := os.ReadDir(src)
	if err != nil {
		cc.t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			cc.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(snap, e.Name()), data, 0o644); err != nil {
			cc.t.Fatal(err)
		}
	}
	cc.cases = append(cc.cases, clientsCase{name: name, dir: snap, published: true, targets: targets, verify: rep, key: cc.key, sslib: true})
}

func (cc *clientsCeremony) file(name, content string) string {
	p := filepath.Join(cc.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		cc.t.Fatal(err)
	}
	return p
}

// TestClientsAcceptPublishedRepositories: every stage of a ceremony and
// every key algorithm, on SoftHSM, accepted by go-tuf's client and
// tuf-js, every signature verified by securesystemslib (invariant 7).
func TestClientsAcceptPublishedRepositories(t *testing.T) {
	tuftest.RequireClients(t)
	start := time.Now()
	labels := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	for _, alg := range hsm.Algorithms {
		labels = append(labels, "root-"+string(alg), "targets-"+string(alg))
	}
	cc := &clientsCeremony{t: t, ctx: context.Background(), store: softhsmtest.New(t, labels...), dir: t.TempDir()}
	online := filepath.Join(cc.dir, "online.pem")
	var err error
	if cc.key, err = tuftest.NewOnlineKey(online); err != nil {
		t.Fatal(err)
	}
	onlineRoles := fmt.Sprintf(`  snapshot: {threshold: 1, expires: 7d, keys: [{public_key: %q}]}
  timestamp: {threshold: 1, expires: 1d, keys: [{public_key: %q}]}
`, online, online)

	// One ceremony's life: bootstrap, a release, a planned root rotation,
	// an emergency one, a targets key rotation, a delegation and a release
	// in it.
	cc.init("life", fmt.Sprintf(`  root: {threshold: 2, expires: 365d, keys: [%s, %s, %s]}
  targets: {threshold: 1, expires: 26w, keys: [%s]}
`, cc.tok("alice", hsm.ECDSAP256), cc.tok("bob", hsm.Ed25519), cc.tok("carol", hsm.ECDSAP256), cc.tok("dave", hsm.ECDSAP256))+onlineRoles)
	cc.sign("alice", "bob", "dave")
	cc.publish("bootstrap")
	hello := cc.file("hello.txt", "hello, TUF\n")
	if _, err := ProposeTargets(cc.ws, TargetsChange{Add: map[string]string{"greetings/hello.txt": hello}}); err != nil {
		t.Fatal(err)
	}
	cc.sign("dave")
	cc.publish("bootstrap + release", "greetings/hello.txt")

	alice, bob, dave := cc.keyOf("alice"), cc.keyOf("bob"), cc.keyOf("dave")
	erin := cc.keygen("erin", hsm.Ed25519)
	if _, err := ProposeRoot(cc.ws, RootChange{Add: []RoleKey{{Role: metadata.ROOT, KeyID: erin}}, Revoke: []string{alice}}); err != nil {
		t.Fatal(err)
	}
	cc.sign("bob", "erin", "alice") // new root: bob, erin; previous root: bob, alice
	cc.publish("root rotation", "greetings/hello.txt")

	if _, err := ProposeRoot(cc.ws, RootChange{Revoke: []string{bob}, Compromised: true, Thresholds: map[string]int{metadata.ROOT: 1}, Expires: Duration(30 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cc.sign("carol", "erin")
	cc.publish("emergency root rotation", "greetings/hello.txt")

	frank := cc.keygen("frank", hsm.Ed25519)
	if _, err := ProposeRoot(cc.ws, RootChange{Add: []RoleKey{{Role: metadata.TARGETS, KeyID: frank}}, Revoke: []string{dave}}); err != nil {
		t.Fatal(err)
	}
	cc.sign("carol")
	if _, err := ProposeTargets(cc.ws, TargetsChange{Expires: Duration(26 * 7 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cc.sign("frank")
	cc.publish("targets key rotation", "greetings/hello.txt")

	grace, heidi := cc.keygen("grace", hsm.Ed25519), cc.keygen("heidi", hsm.ECDSAP256)
	if _, err := ProposeTargets(cc.ws, TargetsChange{Delegate: &Delegation{Name: "apps", KeyIDs: []string{grace, heidi}, Threshold: 2, Paths: []string{"apps/*"}}}); err != nil {
		t.Fatal(err)
	}
	cc.sign("frank", "grace", "heidi")
	cc.publish("delegation", "greetings/hello.txt")
	tool := cc.file("tool.txt", "a tool\n")
	if _, err := ProposeTargets(cc.ws, TargetsChange{Role: "apps", Add: map[string]string{"apps/tool.txt": tool}}); err != nil {
		t.Fatal(err)
	}
	cc.sign("grace", "heidi")
	cc.publish("delegated release", "greetings/hello.txt", "apps/tool.txt")

	// Every key algorithm alone: root and targets each held by one key.
	for _, alg := range hsm.Algorithms {
		cc.init("alg-"+string(alg), fmt.Sprintf(`  root: {threshold: 1, expires: 365d, keys: [%s]}
  targets: {threshold: 1, expires: 26w, keys: [%s]}
`, cc.tok("root-"+string(alg), alg), cc.tok("targets-"+string(alg), alg))+onlineRoles)
		cc.sign("root-"+string(alg), "targets-"+string(alg))
		if _, err := Publish(cc.ws, time.Now()); err != nil {
			t.Fatalf("algorithm %s: publish: %v", alg, err)
		}
		if _, err := ProposeTargets(cc.ws, TargetsChange{Add: map[string]string{"greetings/hello.txt": hello}}); err != nil {
			t.Fatal(err)
		}
		cc.sign("targets-" + string(alg))
		cc.publish("algorithm "+string(alg), "greetings/hello.txt")
		cc.cases[len(cc.cases)-1].onlyScheme = clientsSchemeOf[alg]
	}
	built := time.Since(start)

	results := clientsRun(t, cc.cases)
	for _, r := range results {
		if r.c.published {
			clientsJudgePublished(r)
		}
	}
	clientsTable(t, "Repositories the ceremony published (invariant 7: every client accepts them)", results)
	var schemes []string
	for _, r := range results {
		if r.sslibReport != nil {
			schemes = append(schemes, r.sslibReport.Unsupported()...)
		}
	}
	if len(schemes) > 0 {
		t.Logf("securesystemslib cannot check: %v", schemes)
	}
	t.Logf("ceremonies on SoftHSM: %v; clients: %v", built.Round(time.Millisecond), (time.Since(start) - built).Round(time.Millisecond))
	clientsReport(t, results)
}

// TestClientsSigstoreRootHistory: Sigstore's real root chain, 1 to 15
// (hex ECDSA keys in 1–4, tuf-on-ci's empty signature placeholders later),
// judged by Verify and by tuf-js's root update before and after the newest
// root's expiry, every signature by securesystemslib. go-tuf v2's client
// does not run: it cannot read roots 1–4, and Sigstore's online roles are
// not at hand.
func TestClientsSigstoreRootHistory(t *testing.T) {
	t.Parallel()
	tuftest.RequireClients(t)
	dir := sigstoreHistory(t) // 1.root.json … 15.root.json; 15 expires 2026-11-20T15:14:38Z
	before := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	after := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	cases := []clientsCase{
		{name: "sigstore 1→15 at " + before.Format("2006-01-02"), dir: dir, at: before, rootsOnly: true, sslib: true},
		{name: "sigstore 1→15 at " + after.Format("2006-01-02") + " (expired)", dir: dir, at: after, rootsOnly: true},
	}
	results := clientsRun(t, cases)
	clientsTable(t, "Sigstore's root history (root chain only)", results)
	clientsReport(t, results)

	ok, expired := results[0], results[1]
	if !ok.verify.accepts || ok.verify.rootVersion != 15 {
		t.Errorf("verify at %s: %s %s", before, ok.verify, ok.verify.detail)
	}
	if !ok.tufJS.accepts || ok.tufJS.rootVersion != 15 {
		t.Errorf("tuf-js at %s: %s %s", before, ok.tufJS, ok.tufJS.detail)
	}
	if expired.verify.accepts || expired.tufJS.accepts || !strings.Contains(expired.tufJS.detail, "expired") {
		t.Errorf("after root 15 expired: verify %s, tuf-js %s %s", expired.verify, expired.tufJS, expired.tufJS.detail)
	}
	if ok.sslibReport == nil {
		t.Fatalf("securesystemslib: %v", ok.sslibErr)
	}
	// Every signature securesystemslib can read verifies; it cannot read
	// the hex ECDSA keys of roots 1–4 (go-tuf v0.x's encoding).
	for _, f := range ok.sslibReport.Files {
		for _, s := range f.Signatures {
			if s.Status == "invalid" || s.Status == "no-key" {
				t.Errorf("securesystemslib: %s: %s %s: %s", filepath.Base(f.File), shortID(s.KeyID), s.Status, s.Detail)
			}
		}
	}
	if n := ok.sslibReport.Count(); n["valid"] == 0 {
		t.Errorf("securesystemslib verified no signature: %v", n)
	}
	t.Logf("securesystemslib on Sigstore's roots: %v; cannot check %v", ok.sslibReport.Count(), ok.sslibReport.Unsupported())
}

// TestClientsHostileCorpus: every case of testdata/hostile judged by
// Verify, go-tuf's client and tuf-js, with snapshot and timestamp signed by
// the corpus' online key. The table says where they differ; tuf-ceremony's
// own verdicts are TestHostileCorpus's business.
func TestClientsHostileCorpus(t *testing.T) {
	t.Parallel()
	corpus := filepath.Join(softhsmtest.RepoRoot(), "testdata", "hostile")
	entries, err := os.ReadDir(corpus)
	if errors.Is(err, os.ErrNotExist) || len(entries) == 0 {
		t.Skip("no hostile corpus in testdata/hostile yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	tuftest.RequireTufJS(t)

	// The corpus' online key, derived from its fixed seed (see
	// hostile_test.go and testdata/hostile/README.md).
	seed := sha256.Sum256([]byte("tuf-ceremony hostile corpus: online"))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed[:])
	if err != nil {
		t.Fatal(err)
	}
	pub, err := metadata.KeyFromPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	onlineID, _ := pub.ID()
	key := tuftest.OnlineKeyFromECDSA(priv)

	var cases []clientsCase
	listed := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(corpus, e.Name())
		if root1, err := os.ReadFile(filepath.Join(dir, "1.root.json")); err == nil && strings.Contains(string(root1), onlineID) {
			listed++
		}
		c := clientsCase{name: e.Name(), dir: dir, key: key}
		if desc, err := os.ReadFile(filepath.Join(dir, "case.txt")); err == nil {
			lines := strings.SplitN(strings.TrimSpace(string(desc)), "\n", 3)
			if len(lines) == 3 {
				c.note = strings.TrimSpace(strings.SplitN(lines[2], "\n", 2)[0])
			}
			var ok bool
			if c.dir, ok = clientsHostileGenerated(t, dir, string(desc)); !ok {
				t.Logf("%s: case.txt says a file is written by the test, but not which or how big: skipped", e.Name())
				continue
			}
		}
		cases = append(cases, c)
	}
	if listed == 0 {
		t.Fatalf("no case of %s lists the online key %s derived from the corpus' seed: has the derivation changed?", corpus, shortID(onlineID))
	}
	results := clientsRun(t, cases)
	clientsTable(t, "Hostile corpus (testdata/hostile): verify and the clients", results)
	clientsReport(t, results)
}

// A case whose big file is written by the test, never committed, says so
// in case.txt, in one of these ways.
var (
	clientsGeneratedBytes = regexp.MustCompile(`(\S+\.json) \(([0-9]+) bytes\) is written by the test`)
	clientsGeneratedMiB   = regexp.MustCompile(`(\S+\.json) is ([0-9]+) MiB`)
	clientsGenerated      = regexp.MustCompile(`written (by the test|at test time)`)
)

// clientsHostileGenerated returns dir, or, for a case whose case.txt says a
// file is written by the test (a huge file, never committed), a copy of dir
// with that file written: a JSON root of that size. ok is false when
// case.txt says a file is written but not which or how big.
func clientsHostileGenerated(t *testing.T, dir, desc string) (string, bool) {
	var name string
	var size int64
	if m := clientsGeneratedBytes.FindStringSubmatch(desc); m != nil {
		name = m[1]
		size, _ = strconv.ParseInt(m[2], 10, 64)
	} else if m := clientsGeneratedMiB.FindStringSubmatch(desc); m != nil {
		name = m[1]
		mib, _ := strconv.ParseInt(m[2], 10, 64)
		size = mib << 20
	} else if clientsGenerated.MatchString(desc) {
		return dir, false
	} else {
		return dir, true
	}
	if size <= 0 || size > 1<<30 {
		t.Fatalf("%s/case.txt: size %d", dir, size)
	}
	tmp := t.TempDir()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && e.Type().IsRegular() {
			if err := os.WriteFile(filepath.Join(tmp, e.Name()), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	head := `{"signatures":[],"signed":{"_type":"root","spec_version":"1.0.31","version":2,"x-padding":"`
	tail := `"}}`
	f, err := os.Create(filepath.Join(tmp, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pad := size - int64(len(head)+len(tail))
	chunk := []byte(strings.Repeat("A", 1<<16))
	f.WriteString(head)
	for pad > 0 {
		n := min(pad, int64(len(chunk)))
		if _, err := f.Write(chunk[:n]); err != nil {
			t.Fatal(err)
		}
		pad -= n
	}
	f.WriteString(tail)
	return tmp, true
}
