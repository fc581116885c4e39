package ceremony

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony/tuftest"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

func writePEM(t *testing.T, path string, pub crypto.PublicKey) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The published directory of a bootstrap ceremony, completed with snapshot
// and timestamp signed by online keys that were in the plan, is accepted by
// go-tuf v2's client, which finds a target added in a second ceremony.
func TestPublishedRepositoryAcceptedByGoTUFClient(t *testing.T) {
	store := softhsmtest.New(t, "alice", "bob", "carol", "dave")
	ctx := context.Background()
	dir := t.TempDir()

	snapKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tsPub, tsPriv, _ := ed25519.GenerateKey(rand.Reader)
	writePEM(t, filepath.Join(dir, "snapshot.pem"), &snapKey.PublicKey)
	writePEM(t, filepath.Join(dir, "timestamp.pem"), tsPub)
	tok := func(label, extra string) string {
		return fmt.Sprintf(`{custodian: %s, token: "pkcs11:token=%s?module-path=%s"%s}`, label, label, store.Module, extra)
	}
	plan := fmt.Sprintf(`name: client test
roles:
  root:
    threshold: 2
    expires: 365d
    keys: [%s, %s, %s]
  targets:
    threshold: 1
    expires: 26w
    keys: [%s]
  snapshot:
    threshold: 1
    expires: 7d
    keys: [{public_key: snapshot.pem}]
  timestamp:
    threshold: 1
    expires: 1d
    keys: [{public_key: timestamp.pem}]
`, tok("alice", ""), tok("bob", ", algorithm: ed25519"), tok("carol", ", algorithm: ecdsa-p384"), tok("dave", ", algorithm: rsa-3072"))
	planPath := filepath.Join(dir, "ceremony.yaml")
	if err := os.WriteFile(planPath, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPlan(planPath)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := OpenOrNewWorkspace(filepath.Join(dir, "media"))
	if err != nil {
		t.Fatal(err)
	}
	open := func(ctx context.Context, uri string) (hsm.Token, hsm.PIN, error) {
		tk, err := openTokenURI(ctx, uri)
		label := strings.TrimPrefix(strings.Split(uri, "?")[0], "pkcs11:token=")
		return tk, hsm.NewPIN(store.PIN(t, label)), err
	}
	if _, err := Init(ctx, ws, &recordingPrompter{}, InitOptions{Plan: p, PlanBytes: []byte(plan), Open: open, Preflight: true}); err != nil {
		t.Fatalf("init: %v", err)
	}
	sign := func(label string) {
		t.Helper()
		tk, pin, err := open(ctx, "pkcs11:token="+label+"?module-path="+store.Module)
		if err != nil {
			t.Fatal(err)
		}
		defer tk.Close()
		if _, err := Sign(ctx, ws, tk, &recordingPrompter{}, SignOptions{Unlock: UnlockOptions{PIN: pin}}); err != nil {
			t.Fatalf("sign with %s: %v", label, err)
		}
	}
	sign("alice")
	sign("carol")
	sign("dave")
	if _, err := Publish(ws, time.Now()); err != nil {
		t.Fatalf("publish: %v", err)
	}

	// A second ceremony adds a target.
	target := filepath.Join(dir, "hello.txt")
	content := []byte("hello, TUF\n")
	os.WriteFile(target, content, 0o644)
	if _, err := ProposeTargets(ws, TargetsChange{Add: map[string]string{"greetings/hello.txt": target}}); err != nil {
		t.Fatal(err)
	}
	sign("dave")
	if _, err := Publish(ws, time.Now()); err != nil {
		t.Fatalf("publish targets v2: %v", err)
	}
	if rep, err := Verify(ws.Dir, VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}

	// The online roles, as the repository's online signer would add them.
	repo := filepath.Join(dir, "repo")
	os.MkdirAll(filepath.Join(repo, "metadata"), 0o755)
	os.MkdirAll(filepath.Join(repo, "targets", "greetings"), 0o755)
	for _, name := range []string{"1.root.json", "2.targets.json"} {
		data, err := ws.ReadFile("metadata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(repo, "metadata", name), data, 0o644)
	}
	sum := sha256.Sum256(content)
	sum512 := sha512.Sum512(content)
	// The client may fetch by either hash: serve both names.
	for _, h := range [][]byte{sum[:], sum512[:]} {
		os.WriteFile(filepath.Join(repo, "targets", "greetings", hex.EncodeToString(h)+".hello.txt"), content, 0o644)
	}

	snap := metadata.Snapshot(time.Now().Add(24 * time.Hour))
	snap.Signed.Meta["targets.json"] = metadata.MetaFile(2)
	snapSigner, _ := signature.LoadECDSASigner(snapKey, crypto.SHA256)
	if _, err := snap.Sign(snapSigner); err != nil {
		t.Fatal(err)
	}
	snapData, _ := snap.ToBytes(true)
	os.WriteFile(filepath.Join(repo, "metadata", "1.snapshot.json"), snapData, 0o644)
	ts := metadata.Timestamp(time.Now().Add(time.Hour))
	ts.Signed.Meta["snapshot.json"] = metadata.MetaFile(1)
	tsSigner, _ := signature.LoadED25519Signer(tsPriv)
	if _, err := ts.Sign(tsSigner); err != nil {
		t.Fatal(err)
	}
	tsData, _ := ts.ToBytes(true)
	os.WriteFile(filepath.Join(repo, "metadata", "timestamp.json"), tsData, 0o644)

	root1, _ := ws.ReadFile("metadata/1.root.json")
	cfg, err := config.New("https://repo.invalid/metadata/", root1)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RemoteTargetsURL = "https://repo.invalid/targets/"
	cfg.Fetcher = tuftest.FileFetcher{Base: "https://repo.invalid/", Dir: repo}
	cfg.LocalMetadataDir = t.TempDir()
	cfg.LocalTargetsDir = t.TempDir()
	up, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Refresh(); err != nil {
		t.Fatalf("go-tuf client refresh: %v", err)
	}
	info, err := up.GetTargetInfo("greetings/hello.txt")
	if err != nil {
		t.Fatalf("target lookup: %v", err)
	}
	if info.Length != int64(len(content)) || hex.EncodeToString(info.Hashes["sha256"]) != hex.EncodeToString(sum[:]) {
		t.Errorf("target info %+v", info)
	}
	_, got, err := up.DownloadTarget(info, filepath.Join(t.TempDir(), "hello.txt"), "")
	if err != nil || string(got) != string(content) {
		t.Fatalf("download: %q %v", got, err)
	}
	if _, err := up.GetTargetInfo("greetings/absent.txt"); err == nil {
		t.Error("the client found a target that is not listed")
	}
}

func openTokenURI(ctx context.Context, uri string) (hsm.Token, error) {
	return pkcs11.NewBackend().Open(ctx, uri)
}

// aliceBobCeremony initializes, in media, the ceremony whose root key
// alice and targets key bob generate on store's tokens (snapshot and
// timestamp: a PEM key in dir), and returns the workspace with the opener
// of their tokens ("pkcs11:token=LABEL" is enough), which gives each
// token's PIN.
func aliceBobCeremony(t *testing.T, ctx context.Context, store *softhsmtest.Store, dir, media string) (*Workspace, TokenOpener) {
	t.Helper()
	online, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "online.pem"), &online.PublicKey)
	plan := fmt.Sprintf(`roles:
  root: {threshold: 1, expires: 365d, keys: [{custodian: alice, token: "pkcs11:token=alice?module-path=%[1]s"}]}
  targets: {threshold: 1, expires: 26w, keys: [{custodian: bob, token: "pkcs11:token=bob?module-path=%[1]s"}]}
  snapshot: {threshold: 1, expires: 7d, keys: [{public_key: online.pem}]}
  timestamp: {threshold: 1, expires: 1d, keys: [{public_key: online.pem}]}
`, store.Module)
	if err := os.WriteFile(filepath.Join(dir, "plan.yaml"), []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPlan(filepath.Join(dir, "plan.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := OpenOrNewWorkspace(media)
	if err != nil {
		t.Fatal(err)
	}
	open := func(ctx context.Context, uri string) (hsm.Token, hsm.PIN, error) {
		label := strings.TrimPrefix(strings.Split(uri, "?")[0], "pkcs11:token=")
		tk, err := openTokenURI(ctx, "pkcs11:token="+label+"?module-path="+store.Module)
		return tk, hsm.NewPIN(store.PIN(t, label)), err
	}
	if _, err := Init(ctx, ws, &recordingPrompter{}, InitOptions{Plan: p, PlanBytes: []byte(plan), Open: open}); err != nil {
		t.Fatal(err)
	}
	return ws, open
}
