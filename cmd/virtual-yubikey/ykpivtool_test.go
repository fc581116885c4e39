package main

// Cross-check with Yubico's own client, yubico-piv-tool (Debian 2.2.0), so
// that the virtual card behaves like the real device and not only like
// piv-go. yubico-piv-tool 2.2.0 knows only 3DES management keys, so the
// card plays firmware 5.4.3, whose factory management key is 3DES.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-piv/piv-go/v2/piv"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pivtest"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

func yubicoPIVTool(t *testing.T, reader string, args ...string) string {
	t.Helper()
	cmd := exec.Command("yubico-piv-tool", append([]string{"-r", reader}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("yubico-piv-tool %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String() + stderr.String()
}

func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

func decodePEM(t *testing.T, out, typ string) []byte {
	t.Helper()
	i := strings.Index(out, "-----BEGIN "+typ+"-----")
	if i < 0 {
		t.Fatalf("no %s in:\n%s", typ, out)
	}
	block, _ := pem.Decode([]byte(out[i:]))
	if block == nil {
		t.Fatalf("bad PEM in:\n%s", out)
	}
	return block.Bytes
}

func TestYubicoPIVTool(t *testing.T) {
	_, err := exec.LookPath("yubico-piv-tool")
	softhsmtest.Require(t, err == nil, "yubico-piv-tool", "yubico-piv-tool")
	env := pivtest.StartWith(t, 1, pivtest.Options{Firmware: "5.4.3"})
	card := env.Cards[0]
	r := card.Reader
	dir := t.TempDir()

	out := yubicoPIVTool(t, r, "-a", "status")
	mustContain(t, "status", out, "Version:\t5.4.3", fmt.Sprintf("Serial Number:\t%d", card.Serial), "PIN tries left:\t3")

	// Wrong PIN: the tool reads the retries from 63Cx.
	cmd := exec.Command("yubico-piv-tool", "-r", r, "-a", "verify-pin", "-P", "999999")
	b, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a wrong PIN verified:\n%s", b)
	}
	mustContain(t, "wrong PIN", string(b), "2 tries left")
	out = yubicoPIVTool(t, r, "-a", "verify-pin", "-P", "123456")
	mustContain(t, "right PIN", out, "Successfully verified PIN")
	out = yubicoPIVTool(t, r, "-a", "status") // a new session: the PIN is not verified
	mustContain(t, "status after the right PIN", out, "PIN tries left:\t3")

	// Generation with the factory 3DES management key.
	pubPath := filepath.Join(dir, "pub.pem")
	yubicoPIVTool(t, r, "-a", "generate", "-s", "9c", "-A", "ECCP256", "--pin-policy=never", "--touch-policy=never", "-o", pubPath)
	pemBytes, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	pubAny, err := x509.ParsePKIXPublicKey(decodePEM(t, string(pemBytes), "PUBLIC KEY"))
	if err != nil {
		t.Fatal(err)
	}
	pub := pubAny.(*ecdsa.PublicKey)

	// Import a certificate for it, read it back.
	der, err := issueCertificate(pub, "tuf-ceremony root key")
	if err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(dir, "cert.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	yubicoPIVTool(t, r, "-a", "import-certificate", "-s", "9c", "-i", certPath)
	out = yubicoPIVTool(t, r, "-a", "read-certificate", "-s", "9c")
	if got := decodePEM(t, out, "CERTIFICATE"); !bytes.Equal(got, der) {
		t.Fatal("read-certificate returned another certificate")
	}
	out = yubicoPIVTool(t, r, "-a", "status")
	mustContain(t, "status with a certificate", out, "Slot 9c:", "Algorithm:\tECCP256", "tuf-ceremony root key")

	// The card signs; the tool checks the signature against the certificate.
	out = yubicoPIVTool(t, r, "-a", "verify-pin", "-P", "123456", "-a", "test-signature", "-s", "9c", "-i", certPath)
	mustContain(t, "test-signature", out, "Successful")

	// Attestation, checked against the virtual CA and the f9 certificate.
	attested, err := x509.ParseCertificate(decodePEM(t, yubicoPIVTool(t, r, "-a", "attest", "-s", "9c"), "CERTIFICATE"))
	if err != nil {
		t.Fatal(err)
	}
	f9, err := x509.ParseCertificate(decodePEM(t, yubicoPIVTool(t, r, "-a", "read-certificate", "-s", "f9"), "CERTIFICATE"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := (&piv.Verifier{Roots: env.Roots}).Verify(f9, attested)
	if err != nil {
		t.Fatalf("attestation from yubico-piv-tool: %v", err)
	}
	if a.Serial != card.Serial || a.Version != (piv.Version{Major: 5, Minor: 4, Patch: 3}) || a.PINPolicy != piv.PINPolicyNever || a.TouchPolicy != piv.TouchPolicyNever {
		t.Errorf("attestation %+v", a)
	}
	if !pub.Equal(attested.PublicKey) {
		t.Error("attested key differs from the generated key")
	}
	if _, err := piv.Verify(f9, attested); err == nil {
		t.Error("verified against Yubico's roots")
	}
}
