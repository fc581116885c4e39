package ceremony

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// A medium that already holds another ceremony.yaml is refused before any
// token is touched: init would keep that file, and the renewals and
// rotations to come would read their expiries from it, not from the plan
// recorded in the transcript.
func TestInitRefusesAnotherPlanOnTheMedium(t *testing.T) {
	dir := t.TempDir()
	online, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "online.pem"), &online.PublicKey)
	plan := `roles:
  root: {threshold: 1, expires: 365d, keys: [{custodian: alice, token: "pkcs11:token=alice?module-path=/nonexistent.so"}]}
  targets: {threshold: 1, expires: 26w, keys: [{custodian: bob, token: "pkcs11:token=bob?module-path=/nonexistent.so"}]}
  snapshot: {threshold: 1, expires: 7d, keys: [{public_key: online.pem}]}
  timestamp: {threshold: 1, expires: 1d, keys: [{public_key: online.pem}]}
`
	if err := os.WriteFile(filepath.Join(dir, "plan.yaml"), []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPlan(filepath.Join(dir, "plan.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	media := filepath.Join(dir, "media")
	ws, err := OpenOrNewWorkspace(media)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(media, 0o755); err != nil {
		t.Fatal(err)
	}
	older := strings.Replace(plan, "expires: 365d", "expires: 730d", 1)
	if err := os.WriteFile(filepath.Join(media, PlanFile), []byte(older), 0o644); err != nil {
		t.Fatal(err)
	}
	open := func(context.Context, string) (hsm.Token, hsm.PIN, error) {
		t.Fatal("a token was opened")
		return nil, hsm.PIN{}, nil
	}
	_, err = Init(context.Background(), ws, &recordingPrompter{}, InitOptions{Plan: p, PlanBytes: []byte(plan), Open: open})
	if !errors.Is(err, ErrOtherPlan) || !strings.Contains(err.Error(), "remove ceremony.yaml from the medium") {
		t.Fatalf("init with another plan on the medium: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(media, PlanFile)); string(got) != older {
		t.Fatal("the medium's plan changed")
	}
}
