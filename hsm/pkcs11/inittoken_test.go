package pkcs11

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// Rehearsal tokens are made through PKCS#11, with no PIN in any argv, and
// work with the PIN they were given.
func TestInitTokens(t *testing.T) {
	module := softhsmtest.RequireSoftHSM(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	os.MkdirAll(filepath.Join(dir, "tokens"), 0o700)
	os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600)
	t.Setenv("SOFTHSM2_CONF", conf)

	err := InitTokens(module, []NewToken{
		{Label: "alice", SOPIN: hsm.NewPIN("so-alice-1"), UserPIN: hsm.NewPIN("pin-alice-1")},
		{Label: "bob", SOPIN: hsm.NewPIN("so-bob-22"), UserPIN: hsm.NewPIN("pin-bob-22")},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBackend()
	infos, err := b.Tokens(ctxBG, []string{module})
	if err != nil || len(infos) != 2 {
		t.Fatalf("tokens %+v %v", infos, err)
	}
	tok, err := b.Open(ctxBG, "pkcs11:token=bob?module-path="+module)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if err := tok.Login(ctxBG, hsm.NewPIN("pin-bob-22"), hsm.LoginOptions{}); err != nil {
		t.Fatalf("login with the new PIN: %v", err)
	}
	if _, err := tok.GenerateKey(ctxBG, hsm.KeySpec{Algorithm: hsm.ECDSAP256, Label: "k"}); err != nil {
		t.Fatal(err)
	}
}

// InitTokens leaves no module initialized behind it: SoftHSM, once
// initialized, stays on its first configuration, so a leaked module would
// keep this process on the rehearsal's token store (gone with it) and a
// store named afterwards by SOFTHSM2_CONF would never be seen.
func TestInitTokensReleasesTheModule(t *testing.T) {
	first := softhsmtest.New(t, "first")
	if err := InitTokens(first.Module, []NewToken{{Label: "made", SOPIN: hsm.NewPIN("87654321"), UserPIN: hsm.NewPIN("12345678")}}); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(first.Dir); err != nil {
		t.Fatal(err)
	}
	second := softhsmtest.New(t, "second")
	infos, err := NewBackend().Tokens(context.Background(), []string{second.Module})
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Label != "second" {
		t.Fatalf("after InitTokens on another store, SOFTHSM2_CONF's store lists %v", infos)
	}
}
