package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCACommand(t *testing.T) {
	state := filepath.Join(t.TempDir(), "card.json")
	code, out, errOut := runCLI(t, "ca", "--state", state, "--serial", "31415926")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "created card 31415926") {
		t.Errorf("stderr %q", errOut)
	}
	block, rest := pem.Decode([]byte(out))
	if block == nil || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("stdout is not one PEM block: %q", out)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || !strings.Contains(ca.Subject.CommonName, "NOT Yubico") {
		t.Errorf("CA %v", ca.Subject)
	}
	// The same root every time.
	code, again, _ := runCLI(t, "ca", "--state", state)
	if code != exitOK || again != out {
		t.Errorf("second ca: exit %d, same output %v", code, again == out)
	}
	if code, _, errOut := runCLI(t, "ca", "--state", state, "--serial", "1"); code != exitError || !strings.Contains(errOut, "serial 31415926") {
		t.Errorf("serial mismatch: exit %d, %q", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "required flag"},
		{[]string{"ca"}, "required flag"},
		{[]string{"bogus"}, "unknown command"},
		{[]string{"run", "--state", filepath.Join(dir, "a.json"), "--touch", "sometimes"}, "touch mode"},
		{[]string{"run", "--state", filepath.Join(dir, "b.json"), "--firmware", "4.3.5"}, "firmware"},
		{[]string{"ca", "--state", filepath.Join(dir, "c.json"), "--nope"}, "unknown flag"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(t, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "hint:") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with %q", tt.args, code, errOut, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a.json")); err == nil {
		t.Error("a refused run left a state behind")
	}
}

func TestRunCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	state := filepath.Join(t.TempDir(), "card.json")
	signals := make(chan os.Signal, 1)
	var stderr bytes.Buffer
	o := &runOptions{State: state, VPCD: ln.Addr().String(), Touch: "wait", TouchTimeout: time.Second,
		Stdout: &bytes.Buffer{}, Stderr: &syncWriter{w: &stderr}, signals: signals}
	o.Device.serial = 27182818
	done := make(chan error, 1)
	go func() { done <- runCard(context.Background(), o) }()

	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	exchange(t, conn, r, []byte{0x00, 0xa4, 0x04, 0x00, 0x05, 0xa0, 0x00, 0x00, 0x03, 0x08}) // SELECT PIV
	if got := exchange(t, conn, r, []byte{0x00, 0xf8, 0x00, 0x00, 0x00}); !bytes.Equal(got, binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint32(nil, 27182818), 0x9000)) {
		t.Fatalf("GET SERIAL %x", got)
	}
	// A second process on the same state is refused.
	if code, _, errOut := runCLI(t, "run", "--state", state, "--vpcd", ln.Addr().String()); code != exitError || !strings.Contains(errOut, "in use") {
		t.Errorf("second run: exit %d %q", code, errOut)
	}
	signals <- syscall.SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop on SIGTERM")
	}
	for _, want := range []string{"serial 27182818", "touch wait", "card inserted", "card removed"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// syncWriter serializes writes from the card's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// exchange sends one APDU as pcscd's vpcd reader does (a 2-byte length,
// then the payload) and returns the card's reply.
func exchange(t *testing.T, conn net.Conn, r *bufio.Reader, apdu []byte) []byte {
	t.Helper()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(apdu))), apdu...)); err != nil {
		t.Fatal(err)
	}
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(r, reply); err != nil {
		t.Fatal(err)
	}
	return reply
}
