package pivtest_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pivtest"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

func TestStart(t *testing.T) {
	env := pivtest.Start(t, 3)
	// The client reaches pcscd through this process's switch.
	if got, err := os.Readlink(os.Getenv(pivtest.SocketEnv)); err != nil || got != env.Socket {
		t.Fatalf("%s = %q points at %q (%v), want %q", pivtest.SocketEnv, os.Getenv(pivtest.SocketEnv), got, err, env.Socket)
	}
	readers, err := piv.Cards()
	if err != nil {
		t.Fatal(err)
	}
	if len(readers) != 4 { // three cards and the spare slot of the second vpcd reader
		t.Errorf("piv.Cards() = %q", readers)
	}
	serials := map[uint32]bool{}
	for _, c := range env.Cards {
		if !slices.Contains(readers, c.Reader) {
			t.Errorf("card %d: reader %q not listed", c.Index, c.Reader)
		}
		yk, err := piv.Open(c.Reader)
		if err != nil {
			t.Fatalf("card %d: %v", c.Index, err)
		}
		s, err := yk.Serial()
		yk.Close()
		if err != nil || s != c.Serial {
			t.Errorf("card %d: serial %d, %v; want %d", c.Index, s, err, c.Serial)
		}
		serials[s] = true
		if !strings.Contains(c.CA.Subject.CommonName, "NOT Yubico") {
			t.Errorf("card %d: CA %q", c.Index, c.CA.Subject.CommonName)
		}
	}
	if len(serials) != 3 {
		t.Errorf("serials %v are not distinct", serials)
	}
	b, err := os.ReadFile(env.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Errorf("%s holds %d certificates, want 3", env.CAFile, n)
	}
}

func TestStartAgainInTheSameProcess(t *testing.T) {
	// libpcsclite reads the socket path once per process: a second Env
	// must be reached through the same path.
	env := pivtest.Start(t, 1)
	yk, err := piv.Open(env.Cards[0].Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer yk.Close()
	if s, err := yk.Serial(); err != nil || s != env.Cards[0].Serial {
		t.Fatalf("serial %d, %v", s, err)
	}
}

func TestWithoutPCSCD(t *testing.T) {
	pivtest.WithoutPCSCD(t)
	if _, err := piv.Cards(); err == nil {
		t.Fatal("piv.Cards() worked without pcscd")
	} else {
		t.Logf("without pcscd: %v", err)
	}
}

// TestScript runs scripts/virtual-yubikeys.sh as `make demo` and users do,
// checking the cards with Yubico's client.
func TestScript(t *testing.T) {
	pivtest.Require(t)
	_, err := exec.LookPath("yubico-piv-tool")
	softhsmtest.Require(t, err == nil, "yubico-piv-tool", "yubico-piv-tool")
	bin := pivtest.Binary(t)
	script := softhsmtest.Script("virtual-yubikeys.sh")
	dir := t.TempDir()
	environ := append(os.Environ(), "VIRTUAL_YUBIKEY="+bin)

	start := exec.Command("bash", script, "start", "-n", "3", "-d", dir)
	start.Env = environ
	var stderr strings.Builder
	start.Stderr = &stderr
	t.Cleanup(func() {
		stop := exec.Command("bash", script, "stop", dir)
		stop.Env = environ
		stop.Run()
	})
	began := time.Now()
	out, err := start.Output()
	if err != nil {
		t.Fatalf("start: %v\n%s%s", err, out, stderr.String())
	}
	t.Logf("start took %s", time.Since(began))
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		kv, ok := strings.CutPrefix(line, "export ")
		if !ok {
			t.Fatalf("stdout line %q is not an export", line)
		}
		k, v, _ := strings.Cut(kv, "=")
		exports[k] = v
	}
	socket := exports["PCSCLITE_CSOCK_NAME"]
	if socket != filepath.Join(dir, "run", "pcscd.comm") || exports["VIRTUAL_YUBIKEYS_DIR"] != dir {
		t.Fatalf("exports %v", exports)
	}
	cards, err := os.ReadFile(filepath.Join(dir, "cards"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(cards)), "\n")
	if len(lines) != 3 {
		t.Fatalf("cards file:\n%s", cards)
	}
	var pids []int
	for _, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("cards line %q", line)
		}
		if !strings.Contains(stderr.String(), "serial "+f[1]) {
			t.Errorf("stderr does not name serial %s:\n%s", f[1], stderr.String())
		}
		pid, _ := strconv.Atoi(f[2])
		pids = append(pids, pid)
		status := exec.Command("yubico-piv-tool", "-r", f[3], "-a", "status")
		status.Env = append(os.Environ(), "PCSCLITE_CSOCK_NAME="+socket)
		b, err := status.CombinedOutput()
		if err != nil || !strings.Contains(string(b), "Serial Number:\t"+f[1]) {
			t.Errorf("card %s in %q: %v\n%s", f[0], f[3], err, b)
		}
	}

	stop := exec.Command("bash", script, "stop", dir)
	stop.Env = environ
	if b, err := stop.CombinedOutput(); err != nil {
		t.Fatalf("stop: %v\n%s", err, b)
	}
	for _, pid := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z ") {
			t.Errorf("card process %d still runs after stop", pid)
		}
	}
	if _, err := os.Stat(socket); err == nil {
		t.Error("pcscd's socket is still there after stop")
	}
}
