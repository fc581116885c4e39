// Package softhsmtest gives tests an isolated SoftHSM2 store with real,
// initialized tokens, made by scripts/softhsm-tokens.sh.
//
// Tests that need a system package call Require. Under `make test`
// (TUF_CEREMONY_ALL_TIERS=1) a missing package fails the test; run by hand
// without it, the test is skipped with a message naming the package.
package softhsmtest

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// AllTiersEnv, when set to 1, turns every skip for a missing system
// dependency into a failure. `make test` sets it.
const AllTiersEnv = "TUF_CEREMONY_ALL_TIERS"

// Require skips t (or fails it under AllTiersEnv) unless ok.
func Require(t testing.TB, ok bool, what, debianPackage string) {
	t.Helper()
	if ok {
		return
	}
	msg := fmt.Sprintf("needs %s (Debian package %s; `make deps` installs it)", what, debianPackage)
	if os.Getenv(AllTiersEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// ModulePaths are where Debian and others install libsofthsm2.so.
var ModulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// Module returns the SoftHSM2 module path, or "" when it is not installed.
func Module() string {
	for _, p := range ModulePaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// RequireSoftHSM skips or fails t unless SoftHSM2 is installed, and
// returns the module path.
func RequireSoftHSM(t testing.TB) string {
	t.Helper()
	m := Module()
	_, err := exec.LookPath("softhsm2-util")
	Require(t, m != "" && err == nil, "SoftHSM2", "softhsm2")
	return m
}

// Store is an isolated SoftHSM2 store with initialized tokens.
type Store struct {
	Dir    string // holds softhsm2.conf, tokens/ and LABEL.pin files
	Conf   string // the SOFTHSM2_CONF of this store
	Module string
}

// New creates a store in a temporary directory with one token per label
// and points SOFTHSM2_CONF at it for the rest of the test.
func New(t testing.TB, labels ...string) *Store {
	t.Helper()
	module := RequireSoftHSM(t)
	s := &Store{Dir: t.TempDir(), Module: module}
	s.Conf = filepath.Join(s.Dir, "softhsm2.conf")
	s.AddTokens(t, labels...)
	t.Setenv("SOFTHSM2_CONF", s.Conf)
	return s
}

// AddTokens initializes more tokens in the store. A process that already
// initialized the module sees them only after finalizing it.
func (s *Store) AddTokens(t testing.TB, labels ...string) {
	t.Helper()
	if len(labels) == 0 {
		return
	}
	cmd := exec.Command("bash", append([]string{Script("softhsm-tokens.sh"), s.Dir}, labels...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm-tokens.sh: %v\n%s", err, out)
	}
}

// PINFile is the file holding the user PIN of the token label.
func (s *Store) PINFile(label string) string { return filepath.Join(s.Dir, label+".pin") }

// PIN reads the user PIN of the token label.
func (s *Store) PIN(t testing.TB, label string) string {
	t.Helper()
	b, err := os.ReadFile(s.PINFile(label))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// URI addresses the token label with its module and PIN file; extra path
// attributes (such as "object=root") are added before the query.
func (s *Store) URI(label string, extra ...string) string {
	path := append([]string{"token=" + url.PathEscape(label)}, extra...)
	return "pkcs11:" + strings.Join(path, ";") + "?module-path=" + s.Module + "&pin-source=file:" + s.PINFile(label)
}

// URIWithoutPIN addresses the token label with its module only.
func (s *Store) URIWithoutPIN(label string) string {
	return "pkcs11:token=" + url.PathEscape(label) + "?module-path=" + s.Module
}

// Script returns the path of a file in the repository's scripts/.
func Script(name string) string {
	return filepath.Join(RepoRoot(), "scripts", name)
}

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
