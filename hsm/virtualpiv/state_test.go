package virtualpiv

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	store := Store{Path: filepath.Join(dir, "card.json")}
	state, created, err := store.LoadOrCreate(0, nil, nil)
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	if state.Serial < 10_000_000 || state.Serial > 99_999_999 {
		t.Errorf("random serial %d is not eight digits", state.Serial)
	}
	if state.Firmware != (Firmware{5, 7, 1}) || state.ManagementKey.Algorithm != algoAES192 {
		t.Errorf("default card: firmware %s, management key %#x", state.Firmware, state.ManagementKey.Algorithm)
	}

	card := NewCard(CardOptions{State: state, Save: store.Save})
	h := &harness{t: t, card: card, state: state, mgm: state.ManagementKey}
	card.PowerCycle()
	h.ok(insSelect, 4, 0, aidPIV)
	h.mustAuthenticate()
	pub := h.generate(0x9a, algoECCP256, pinNever, touchNever).(*ecdsa.PublicKey)
	h.verifyPIN("000000")
	h.send(insChangeRef, 0, keyRefPUK, make([]byte, 16))

	// A new process: the same keys, counters and identity.
	again, created, err := store.LoadOrCreate(state.Serial, nil, nil)
	if err != nil || created {
		t.Fatalf("reload: %v, created %v", err, created)
	}
	if again.PINRetriesLeft != 2 || again.PUKRetriesLeft != 2 {
		t.Errorf("retries after restart: PIN %d PUK %d, want 2 2", again.PINRetriesLeft, again.PUKRetriesLeft)
	}
	if !bytes.Equal(again.CA.Cert, state.CA.Cert) {
		t.Error("the vendor CA changed")
	}
	h2 := &harness{t: t, card: NewCard(CardOptions{State: again}), state: again}
	h2.card.PowerCycle()
	h2.ok(insSelect, 4, 0, aidPIV)
	d := make([]byte, 32)
	sig, sw := h2.sign(0x9a, algoECCP256, d)
	if sw != swOK || !ecdsa.VerifyASN1(pub, d, sig) {
		t.Fatalf("the key did not survive: sw %04x", sw)
	}

	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "card.json" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	fi, _ := os.Stat(store.Path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestLoadOrCreateChecksIdentity(t *testing.T) {
	store := Store{Path: filepath.Join(t.TempDir(), "card.json")}
	fw := Firmware{5, 4, 3}
	s, _, err := store.LoadOrCreate(11111111, &fw, nil)
	if err != nil || s.Serial != 11111111 || s.ManagementKey.Algorithm != algo3DES {
		t.Fatalf("%v %+v", err, s)
	}
	if _, _, err := store.LoadOrCreate(22222222, nil, nil); err == nil || !strings.Contains(err.Error(), "serial 11111111") {
		t.Errorf("serial mismatch: %v", err)
	}
	other := Firmware{5, 7, 1}
	if _, _, err := store.LoadOrCreate(0, &other, nil); err == nil || !strings.Contains(err.Error(), "firmware 5.4.3") {
		t.Errorf("firmware mismatch: %v", err)
	}
}

func TestLoadRejectsBadState(t *testing.T) {
	dir := t.TempDir()
	if _, err := (Store{Path: filepath.Join(dir, "missing.json")}).Load(); !errors.Is(err, ErrNoState) {
		t.Errorf("missing state: %v", err)
	}
	good := freshState(t, Firmware{5, 7, 1})
	tests := map[string]func(*State){
		"version":        func(s *State) { s.Version = 99 },
		"serial":         func(s *State) { s.Serial = 0 },
		"no CA":          func(s *State) { s.CA = CA{} },
		"no f9 key":      func(s *State) { delete(s.Keys, "f9") },
		"retries":        func(s *State) { s.PINRetries = 0 },
		"management key": func(s *State) { s.ManagementKey.Algorithm = 0x42 },
	}
	for name, spoil := range tests {
		t.Run(name, func(t *testing.T) {
			b, _ := json.Marshal(good)
			var s State
			json.Unmarshal(b, &s)
			spoil(&s)
			b, _ = json.Marshal(&s)
			path := filepath.Join(dir, name+".json")
			os.WriteFile(path, b, 0o600)
			if _, err := (Store{Path: path}).Load(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	path := filepath.Join(dir, "garbage.json")
	os.WriteFile(path, []byte("{"), 0o600)
	if _, err := (Store{Path: path}).Load(); err == nil {
		t.Error("accepted garbage")
	}
}

func TestLockIsExclusive(t *testing.T) {
	store := Store{Path: filepath.Join(t.TempDir(), "card.json")}
	f, err := store.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Lock(); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second lock: %v", err)
	}
	f.Close()
	f, err = store.Lock()
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	f.Close()
}

func TestSaveFailureIsMemoryFailure(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	h.card.save = func(*State) error { return errors.New("disk full") }
	if sw := h.verifyPIN("000000"); sw != swMemoryFailure {
		t.Fatalf("failed save: sw %04x, want 6581", sw)
	}
}
