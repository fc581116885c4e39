package ceremony

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/softhsmtest"
)

// recordingPrompter answers from a script and records what it was asked.
type recordingPrompter struct {
	pin      hsm.PIN
	decline  bool
	reviews  []Review
	asked    []string
	progress []string
}

func (p *recordingPrompter) PIN(_ context.Context, tok hsm.TokenInfo, st hsm.PINState) (hsm.PIN, error) {
	p.asked = append(p.asked, "pin:"+tok.Label+":"+st.String())
	if p.pin.Empty() {
		return hsm.PIN{}, errors.New("no PIN scripted")
	}
	return p.pin, nil
}

func (p *recordingPrompter) Confirm(_ context.Context, q string) (bool, error) {
	p.asked = append(p.asked, "confirm:"+q)
	return true, nil
}

func (p *recordingPrompter) Review(_ context.Context, r Review) (bool, error) {
	p.asked = append(p.asked, "review:"+r.File+":"+r.Signer)
	p.reviews = append(p.reviews, r)
	return !p.decline, nil
}

func (p *recordingPrompter) Notice(_ context.Context, m string) error {
	p.asked = append(p.asked, "notice:"+m)
	return nil
}

func (p *recordingPrompter) Progress(m string) { p.progress = append(p.progress, m) }

func openSoftHSM(t *testing.T, store *softhsmtest.Store, label string) hsm.Token {
	t.Helper()
	tok, err := pkcs11.NewBackend().Open(context.Background(), store.URIWithoutPIN(label))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Close() })
	return tok
}

func TestKeygenRecordsKeyAndTranscript(t *testing.T) {
	store := softhsmtest.New(t, "alice")
	tok := openSoftHSM(t, store, "alice")
	ws, err := OpenOrNewWorkspace(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingPrompter{pin: hsm.NewPIN(store.PIN(t, "alice"))}
	ctx := context.Background()

	for _, alg := range hsm.Algorithms {
		rec, err := Keygen(ctx, ws, tok, p, KeygenOptions{Custodian: "Alice Liddell", Algorithm: alg})
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		got, err := ws.ReadKeyRecord(rec.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Custodian != "Alice Liddell" || got.Algorithm != alg || got.Token.Serial != tok.Info().Serial ||
			!strings.HasPrefix(got.Object.Label, "tuf-alice-liddell-") || got.CreatedAt.IsZero() {
			t.Errorf("record %+v", got)
		}
		if got.Evidence == nil || !got.Evidence.Attributes["CKA_NEVER_EXTRACTABLE"] || got.Evidence.Attributes["CKA_EXTRACTABLE"] {
			t.Errorf("evidence %+v", got.Evidence)
		}
		// The recorded key verifies a signature made by the token's key,
		// through go-tuf: the record names the key that is on the token.
		keys, err := tok.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var onToken hsm.Key
		for _, k := range keys {
			if k.ID == rec.Object.ID {
				onToken = k
			}
		}
		s, err := tok.Signer(ctx, onToken)
		if err != nil {
			t.Fatal(err)
		}
		verifyWithGoTUF(t, s, got.Key)
	}
	// The PIN was asked once, after the token's state was read.
	if len(p.asked) != 1 || !strings.HasPrefix(p.asked[0], "pin:alice:") {
		t.Errorf("asked %v", p.asked)
	}

	entries, err := ws.Transcript()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1+len(hsm.Algorithms) || entries[0].Event != EventWorkspaceCreated || entries[1].Event != "key-generated" {
		t.Fatalf("transcript %+v", entries)
	}
	var data struct {
		KeyID     string          `json:"keyid"`
		Custodian string          `json:"custodian"`
		Evidence  map[string]bool `json:"evidence"`
	}
	if err := json.Unmarshal(entries[1].Data, &data); err != nil || data.Custodian != "Alice Liddell" || len(data.KeyID) != 64 || !data.Evidence["CKA_LOCAL"] {
		t.Errorf("entry data %s (%v)", entries[1].Data, err)
	}
	if err := ws.VerifySums(); err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, ws.Dir, store.PIN(t, "alice"))
}

func verifyWithGoTUF(t *testing.T, s crypto.Signer, key *metadata.Key) {
	t.Helper()
	root := metadata.Root(time.Now().Add(time.Hour))
	if err := root.Signed.AddKey(key, metadata.ROOT); err != nil {
		t.Fatal(err)
	}
	canonical, err := cjson.EncodeCanonical(root.Signed)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := SignPayload(s, key, canonical)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := key.ID()
	root.Signatures = []metadata.Signature{{KeyID: id, Signature: sig}}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		t.Fatalf("go-tuf rejects a %s signature: %v", key.Scheme, err)
	}
}

func assertNoSecret(t *testing.T, dir, secret string) {
	t.Helper()
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), secret) {
			t.Errorf("%s contains the PIN", path)
		}
		return nil
	})
}

// A key whose record cannot be committed is deleted from the token again,
// and the workspace is as before.
func TestKeygenRollsBackTokenWhenRecordFails(t *testing.T) {
	store := softhsmtest.New(t, "alice")
	tok := openSoftHSM(t, store, "alice")
	dir := filepath.Join(t.TempDir(), "media")
	ws, err := OpenOrNewWorkspace(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingPrompter{pin: hsm.NewPIN(store.PIN(t, "alice"))}
	ctx := context.Background()

	t.Cleanup(func() { commitHook = nil })
	commitHook = func(step string) error { return errors.New("medium pulled out") }
	_, err = Keygen(ctx, ws, tok, p, KeygenOptions{Custodian: "alice"})
	if err == nil || !strings.Contains(err.Error(), "medium pulled out") {
		t.Fatalf("err = %v", err)
	}
	commitHook = nil
	if keys, err := tok.Keys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("keys left on the token: %v %v", keys, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed first keygen left %s behind (%v)", dir, err)
	}
}

// fakeToken reports a PIN state a SoftHSM token cannot produce.
type fakeToken struct {
	hsm.Token
	state  hsm.PINState
	logins int
}

func (f *fakeToken) Info() hsm.TokenInfo {
	return hsm.TokenInfo{Backend: "pkcs11", Label: "bob", Serial: "42"}
}
func (f *fakeToken) PINState(context.Context) (hsm.PINState, error) {
	return f.state, nil
}
func (f *fakeToken) Login(context.Context, hsm.PIN, hsm.LoginOptions) error { f.logins++; return nil }

func TestUnlockNeverAsksOnFinalTryOrLocked(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		state hsm.PINState
		force bool
		want  error
	}{
		{"final try flag", hsm.PINState{RetriesLeft: -1, FinalTry: true}, false, hsm.ErrFinalTry},
		{"one retry left", hsm.PINState{RetriesLeft: 1}, false, hsm.ErrFinalTry},
		{"locked", hsm.PINState{RetriesLeft: 0, Locked: true}, true, hsm.ErrPINLocked},
		{"final try forced", hsm.PINState{RetriesLeft: 1}, true, nil},
		{"three left", hsm.PINState{RetriesLeft: 3}, false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok := &fakeToken{state: c.state}
			p := &recordingPrompter{pin: hsm.NewPIN("123456")}
			err := Unlock(ctx, tok, p, UnlockOptions{Force: c.force})
			if c.want != nil {
				if !errors.Is(err, c.want) || len(p.asked) != 0 || tok.logins != 0 {
					t.Fatalf("err = %v, asked %v, logins %d", err, p.asked, tok.logins)
				}
				return
			}
			if err != nil || len(p.asked) != 1 || tok.logins != 1 {
				t.Fatalf("err = %v, asked %v, logins %d", err, p.asked, tok.logins)
			}
			// The retries left are shown with the question.
			if !strings.Contains(p.asked[0], c.state.String()) {
				t.Errorf("asked %q without the retry state", p.asked[0])
			}
		})
	}
}

func TestValidateCustodian(t *testing.T) {
	for name, ok := range map[string]bool{
		"alice": true, "Alice Liddell": true, "bob@example.org": true, "Zoë": true,
		"": false, " alice": false, "../x": false, "a/b": false, "a\nb": false, strings.Repeat("a", 65): false,
	} {
		if err := ValidateCustodian(name); (err == nil) != ok {
			t.Errorf("ValidateCustodian(%q) = %v", name, err)
		}
	}
}
