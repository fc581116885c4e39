package tuftest

// Independent TUF clients for tests (SPEC invariant 7): tuf-js's Updater
// (Node, scripts/clients/tufjs-refresh.mjs, the tuf-js version pinned in
// scripts/clients/package-lock.json) and securesystemslib's signature checks
// (Python, scripts/clients/sslib-verify.py, Debian's
// python3-securesystemslib). Both read files only: no network, no server.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// ClientsDir is scripts/clients: the scripts and their npm package.
func ClientsDir() string {
	return filepath.Join(softhsmtest.RepoRoot(), "scripts", "clients")
}

// Serve writes, under workDir/repo, the repository Refresh serves to
// go-tuf's client: every N.ROLE.json of metadataDir, a snapshot listing the
// newest version of each role but root, and a timestamp, both signed by
// key. It returns workDir/repo; its metadata/ is what a client fetches.
func Serve(metadataDir, workDir string, key *OnlineKey) (string, error) {
	repo := filepath.Join(workDir, "repo")
	meta := filepath.Join(repo, "metadata")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(metadataDir)
	if err != nil {
		return "", err
	}
	snap := metadata.Snapshot(time.Now().Add(24 * time.Hour))
	newest := map[string]int64{}
	for _, e := range entries {
		m := versioned.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if err := copyFile(filepath.Join(metadataDir, e.Name()), filepath.Join(meta, e.Name())); err != nil {
			return "", err
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		if m[2] != metadata.ROOT && v > newest[m[2]] {
			newest[m[2]] = v
		}
	}
	for role, v := range newest {
		snap.Signed.Meta[role+".json"] = metadata.MetaFile(v)
	}
	signer, err := signature.LoadECDSASigner(key.priv, crypto.SHA256)
	if err != nil {
		return "", err
	}
	if _, err := snap.Sign(signer); err != nil {
		return "", err
	}
	if err := snap.ToFile(filepath.Join(meta, "1.snapshot.json"), true); err != nil {
		return "", err
	}
	ts := metadata.Timestamp(time.Now().Add(time.Hour))
	ts.Signed.Meta["snapshot.json"] = metadata.MetaFile(1)
	if _, err := ts.Sign(signer); err != nil {
		return "", err
	}
	if err := ts.ToFile(filepath.Join(meta, "timestamp.json"), true); err != nil {
		return "", err
	}
	return repo, nil
}

// copyFile streams src to dst: a hostile corpus has files of many MiB.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TufJSOptions modify a tuf-js run.
type TufJSOptions struct {
	// Root is the trusted root the client starts from; empty is
	// metadata/1.root.json of the repository.
	Root string
	// At is the client's reference time for every expiry; zero is now.
	At time.Time
	// RootsOnly stops after the root chain (and the newest root's expiry
	// check): for a root history without its online roles.
	RootsOnly bool
	// Targets are looked up (through delegations) after the refresh; each
	// must be found.
	Targets []string
}

// TufJSJob is one repository for tuf-js: Repo holds metadata/ as a client
// fetches it (see Serve); Cache receives the client's metadata cache.
type TufJSJob struct {
	Repo, Cache string
	TufJSOptions
}

// TufJSResult is what tuf-js's client concluded.
type TufJSResult struct {
	Client         string                  `json:"client"` // "tuf-js 3.1.0"
	Accepted       bool                    `json:"accepted"`
	RootVersion    int64                   `json:"root_version"` // trusted when it stopped, also when it rejected
	TargetsVersion int64                   `json:"targets_version"`
	Targets        map[string]*TufJSTarget `json:"targets"`
	FoundAll       bool                    `json:"found_all"` // every target asked for was found
	Error          string                  `json:"error"`     // "ErrorClass: message" when rejected
}

// TufJSTarget is one looked-up target.
type TufJSTarget struct {
	Found  bool              `json:"found"`
	Length int64             `json:"length"`
	Hashes map[string]string `json:"hashes"`
}

// ErrRejected is wrapped by the errors of a client that ran and rejected
// the repository (or did not find a target), as opposed to a client that
// could not run.
var ErrRejected = errors.New("rejected by the client")

// Err is nil when tuf-js accepted the repository and found every target,
// and otherwise wraps ErrRejected.
func (r *TufJSResult) Err() error {
	if r.Accepted && r.FoundAll {
		return nil
	}
	return fmt.Errorf("%w: tuf-js: %s", ErrRejected, r.Error)
}

// TufJSRun runs tuf-js's Updater over each job's repository, all in one
// node process (its start-up is most of the cost), and returns the results
// in the order of jobs. The error says tuf-js could not run at all; a
// rejection is in the result (see Err).
func TufJSRun(jobs []TufJSJob) ([]*TufJSResult, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	type wire struct {
		Repo      string   `json:"repo"`
		Cache     string   `json:"cache"`
		Root      string   `json:"root,omitempty"`
		At        string   `json:"at,omitempty"`
		RootsOnly bool     `json:"roots_only,omitempty"`
		Targets   []string `json:"targets,omitempty"`
	}
	var list []wire
	for _, j := range jobs {
		w := wire{Repo: j.Repo, Cache: j.Cache, Root: j.Root, RootsOnly: j.RootsOnly, Targets: j.Targets}
		if !j.At.IsZero() {
			w.At = j.At.UTC().Format(time.RFC3339Nano)
		}
		list = append(list, w)
	}
	data, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	// tuf-js downloads into os.tmpdir(): keep that beside the first cache.
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(jobs[0].Cache)), "tufjs-tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	jobsFile := filepath.Join(tmp, "jobs.json")
	if err := os.WriteFile(jobsFile, data, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("node", filepath.Join(ClientsDir(), "tufjs-refresh.mjs"), "--jobs", jobsFile)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "NODE_OPTIONS=", "DEBUG=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var results []*TufJSResult
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil || runErr != nil || len(results) != len(jobs) {
		return nil, fmt.Errorf("tuf-js did not run: %v (%d results for %d jobs); stdout %q; stderr %q", runErr, len(results), len(jobs), stdout.String(), strings.TrimSpace(stderr.String()))
	}
	return results, nil
}

// TufJS runs tuf-js's Updater over one repository (TufJSRun). The error
// wraps ErrRejected when the client rejects the repository or misses a
// target; the result says what it trusted meanwhile.
func TufJS(repoDir, cacheDir string, opts TufJSOptions) (*TufJSResult, error) {
	results, err := TufJSRun([]TufJSJob{{Repo: repoDir, Cache: cacheDir, TufJSOptions: opts}})
	if err != nil {
		return nil, err
	}
	return results[0], results[0].Err()
}

// TufJSRefresh is Refresh with tuf-js's client: it serves metadataDir with
// snapshot and timestamp signed by key (Serve), runs tuf-js's Updater from
// 1.root.json through every N.root.json, timestamp, snapshot and targets,
// and looks up each target named. workDir receives the served repository
// and the client's cache.
func TufJSRefresh(metadataDir, workDir string, key *OnlineKey, targets ...string) (*TufJSResult, error) {
	repo, err := Serve(metadataDir, workDir, key)
	if err != nil {
		return nil, err
	}
	return TufJS(repo, filepath.Join(workDir, "tufjs-client"), TufJSOptions{Targets: targets})
}

// TufJSRootChain runs tuf-js's root update alone over a directory of
// N.root.json files, from 1.root.json, judging the newest root's expiry at
// at (zero: now). For root histories whose online roles are not at hand.
func TufJSRootChain(rootsDir, workDir string, at time.Time) (*TufJSResult, error) {
	repo, err := ServeRoots(rootsDir, workDir)
	if err != nil {
		return nil, err
	}
	return TufJS(repo, filepath.Join(workDir, "tufjs-client"), TufJSOptions{At: at, RootsOnly: true})
}

// ServeRoots writes the N.root.json files of rootsDir under
// workDir/roots/metadata and returns workDir/roots, for a client run with
// RootsOnly.
func ServeRoots(rootsDir, workDir string) (string, error) {
	repo := filepath.Join(workDir, "roots")
	meta := filepath.Join(repo, "metadata")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(rootsDir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if m := versioned.FindStringSubmatch(e.Name()); m == nil || m[2] != metadata.ROOT {
			continue
		}
		if err := copyFile(filepath.Join(rootsDir, e.Name()), filepath.Join(meta, e.Name())); err != nil {
			return "", err
		}
	}
	return repo, nil
}

// SSLibReport is securesystemslib's verdict on each signature of each file.
type SSLibReport struct {
	Library string      `json:"library"` // "securesystemslib 0.26.0"
	Files   []SSLibFile `json:"files"`
}

// SSLibFile is one checked file.
type SSLibFile struct {
	File       string           `json:"file"`
	Error      string           `json:"error"` // the file could not be read as TUF metadata
	Signatures []SSLibSignature `json:"signatures"`
}

// SSLibSignature is one signature's verdict: Status is "valid", "invalid",
// "unsupported" (securesystemslib cannot read the key or does not know its
// scheme), "no-key" (no file checked defines the key ID) or "empty" (a
// placeholder whose sig is "", as tuf-on-ci writes for absent signers).
type SSLibSignature struct {
	KeyID   string `json:"keyid"`
	KeyType string `json:"keytype"`
	Scheme  string `json:"scheme"`
	Status  string `json:"status"`
	Detail  string `json:"detail"`
}

// Count returns how many signatures have each status.
func (r *SSLibReport) Count() map[string]int {
	n := map[string]int{}
	for _, f := range r.Files {
		for _, s := range f.Signatures {
			n[s.Status]++
		}
	}
	return n
}

// Unsupported lists the distinct "keytype/scheme" securesystemslib could
// not check.
func (r *SSLibReport) Unsupported() []string {
	seen := map[string]bool{}
	for _, f := range r.Files {
		for _, s := range f.Signatures {
			if s.Status == "unsupported" {
				seen[s.KeyType+"/"+s.Scheme] = true
			}
		}
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// SSLibVerify checks every signature of files with securesystemslib, each
// against the key of its key ID as defined in any of files (roots' keys,
// targets' delegation keys) or keySources. The error wraps ErrRejected
// when a signature does not verify or a file is not TUF metadata.
func SSLibVerify(files []string, keySources ...string) (*SSLibReport, error) {
	py, err := sslibPython()
	if err != nil {
		return nil, err
	}
	args := []string{filepath.Join(ClientsDir(), "sslib-verify.py")}
	args = append(args, files...)
	for _, k := range keySources {
		args = append(args, "--keys", k)
	}
	cmd := exec.Command(py, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep SSLibReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return nil, fmt.Errorf("sslib-verify.py did not run: %v; stdout %q; stderr %q", runErr, stdout.String(), stderr.String())
	}
	if runErr == nil {
		return &rep, nil
	}
	var problems []string
	for _, f := range rep.Files {
		if f.Error != "" {
			problems = append(problems, filepath.Base(f.File)+": "+f.Error)
		}
		for _, s := range f.Signatures {
			if s.Status == "invalid" {
				problems = append(problems, fmt.Sprintf("%s: signature of %.8s (%s): %s", filepath.Base(f.File), s.KeyID, s.Scheme, s.Detail))
			}
		}
	}
	if len(problems) == 0 {
		return &rep, fmt.Errorf("sslib-verify.py failed: %v: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	return &rep, fmt.Errorf("%w: securesystemslib: %s", ErrRejected, strings.Join(problems, "; "))
}

// SSLibVerifyDir checks every N.ROLE.json of dir (SSLibVerify).
func SSLibVerifyDir(dir string) (*SSLibReport, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type vf struct {
		role string
		v    int64
		path string
	}
	var list []vf
	for _, e := range entries {
		if m := versioned.FindStringSubmatch(e.Name()); m != nil {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			list = append(list, vf{m[2], v, filepath.Join(dir, e.Name())})
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if (list[i].role == metadata.ROOT) != (list[j].role == metadata.ROOT) {
			return list[i].role == metadata.ROOT
		}
		if list[i].role != list[j].role {
			return list[i].role < list[j].role
		}
		return list[i].v < list[j].v
	})
	var files []string
	for _, f := range list {
		files = append(files, f.path)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no N.ROLE.json in %s", dir)
	}
	return SSLibVerify(files)
}

// RequireClients skips t, or fails it under TUF_CEREMONY_ALL_TIERS=1,
// unless tuf-js (node and the pinned npm package) and securesystemslib
// (python3 and python3-securesystemslib) are installed.
func RequireClients(t testing.TB) {
	t.Helper()
	RequireTufJS(t)
	RequireSSLib(t)
}

// RequireTufJS skips or fails t unless node and the pinned tuf-js are
// installed in scripts/clients/node_modules.
func RequireTufJS(t testing.TB) {
	t.Helper()
	if err := CheckTufJS(); err != nil {
		requireClient(t, err)
	}
}

// RequireSSLib skips or fails t unless a python3 with securesystemslib and
// cryptography is installed.
func RequireSSLib(t testing.TB) {
	t.Helper()
	if err := CheckSSLib(); err != nil {
		requireClient(t, err)
	}
}

// CheckTufJS says what is missing for TufJS, naming what installs it; nil
// when it can run.
func CheckTufJS() error {
	if err := tufJSCheck(); err != nil {
		return fmt.Errorf("tuf-js: %v (Debian packages nodejs and npm, unless node is already installed, then `npm ci --prefix scripts/clients`; `make deps` does both)", err)
	}
	return nil
}

// CheckSSLib says what is missing for SSLibVerify, naming the Debian
// packages; nil when it can run.
func CheckSSLib() error {
	if _, err := sslibPython(); err != nil {
		return fmt.Errorf("securesystemslib: %v (Debian packages python3-securesystemslib python3-cryptography python3-nacl; `make deps` installs them)", err)
	}
	return nil
}

func requireClient(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(softhsmtest.AllTiersEnv) == "1" {
		t.Fatalf("needs %v", err)
	}
	t.Skipf("needs %v", err)
}

// OnlineKeyFromECDSA wraps a P-256 private key (a corpus' fixed online
// key, say) as an OnlineKey.
func OnlineKeyFromECDSA(priv *ecdsa.PrivateKey) *OnlineKey { return &OnlineKey{priv: priv} }

var tufJSCheck = sync.OnceValue(func() error {
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("node is not on PATH")
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	data, err := os.ReadFile(filepath.Join(ClientsDir(), "package.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		return fmt.Errorf("scripts/clients/package.json: %v", err)
	}
	for _, name := range []string{"tuf-js", "@tufjs/models"} {
		want := pkg.Dependencies[name]
		var installed struct {
			Version string `json:"version"`
		}
		data, err := os.ReadFile(filepath.Join(ClientsDir(), "node_modules", filepath.FromSlash(name), "package.json"))
		if err != nil {
			return fmt.Errorf("%s is not installed in scripts/clients/node_modules", name)
		}
		if err := json.Unmarshal(data, &installed); err != nil || installed.Version != want {
			return fmt.Errorf("scripts/clients/node_modules holds %s %s, package.json pins %s", name, installed.Version, want)
		}
	}
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return fmt.Errorf("node --version: %v", err)
	}
	// tuf-js 3.1.0 wants node ^18.17.0 || >=20.5.0.
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "v%d.%d", &major, &minor); err != nil || major < 18 || (major == 18 && minor < 17) {
		return fmt.Errorf("node %s is older than 18.17", strings.TrimSpace(string(out)))
	}
	return nil
})

// TufJSVersion is the version of the tuf-js package installed in
// scripts/clients, or "" when there is none.
func TufJSVersion() string {
	var installed struct {
		Version string `json:"version"`
	}
	data, err := os.ReadFile(filepath.Join(ClientsDir(), "node_modules", "tuf-js", "package.json"))
	if err != nil || json.Unmarshal(data, &installed) != nil {
		return ""
	}
	return installed.Version
}

// sslibPython finds a python3 that imports securesystemslib and
// cryptography. Debian's python3-securesystemslib lives in /usr/lib/python3,
// which only /usr/bin/python3 sees (not a pyenv or venv python3 earlier on
// PATH), so /usr/bin/python3 is tried first.
var sslibPython = sync.OnceValues(func() (string, error) {
	var tried []string
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, py := range candidates {
		if _, err := os.Stat(py); err != nil {
			continue
		}
		out, err := exec.Command(py, "-c", "import securesystemslib, cryptography").CombinedOutput()
		if err == nil {
			return py, nil
		}
		tried = append(tried, fmt.Sprintf("%s: %s", py, lastLine(string(out))))
	}
	if len(tried) == 0 {
		return "", errors.New("no python3")
	}
	return "", fmt.Errorf("no python3 imports securesystemslib and cryptography (%s)", strings.Join(tried, "; "))
})

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
