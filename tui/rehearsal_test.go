package tui

import (
	"context"
	"os"
	"testing"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// The rehearsal makes its own SoftHSM tokens and a valid plan, and
// removes them again.
func TestRehearsalSetup(t *testing.T) {
	softhsmtest.RequireSoftHSM(t)
	t.Setenv("SOFTHSM2_CONF", "/nonexistent/before.conf")
	r, err := setupRehearsal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	backend := pkcs11.NewBackend()
	infos, err := backend.Tokens(context.Background(), []string{r.module})
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, i := range infos {
		labels = append(labels, i.Label)
	}
	if len(labels) != 4 {
		t.Fatalf("tokens: %v", labels)
	}
	tok, err := hsm.Open(context.Background(), []hsm.Backend{backend}, "pkcs11:token=bob?module-path="+r.module)
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Login(context.Background(), hsm.NewPIN(r.pins["bob"]), hsm.LoginOptions{}); err != nil {
		t.Fatalf("bob's rehearsal PIN: %v", err)
	}
	tok.Close()
	if _, err := ceremony.LoadPlan(r.plan); err != nil {
		t.Fatalf("rehearsal plan: %v", err)
	}
	r.close()
	if got := os.Getenv("SOFTHSM2_CONF"); got != "/nonexistent/before.conf" {
		t.Errorf("SOFTHSM2_CONF after the rehearsal: %q", got)
	}
	if _, err := os.Stat(r.dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there", r.dir)
	}
}
