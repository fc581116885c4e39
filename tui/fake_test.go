package tui

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// fakeBackend is a deterministic token backend for model tests: tokens
// are inserted and removed by the test, keys are Ed25519 from a seed (so
// key IDs, fingerprints and golden files do not change), and a PIN is
// "1234" unless set otherwise.
type fakeBackend struct {
	mu     sync.Mutex
	tokens map[string]*fakeState // by label
	order  []string
}

type fakeState struct {
	info    hsm.TokenInfo
	pin     string
	retries int
	present bool
	keys    []fakeKey
}

type fakeKey struct {
	key  hsm.Key
	priv ed25519.PrivateKey
}

func newFakeBackend(labels ...string) *fakeBackend {
	b := &fakeBackend{tokens: map[string]*fakeState{}}
	for i, l := range labels {
		b.add(l, fmt.Sprintf("%016x", 0x1000+i))
	}
	return b
}

func (b *fakeBackend) add(label, serial string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens[label] = &fakeState{
		info: hsm.TokenInfo{Backend: "pkcs11", Manufacturer: "Test", Model: "Fake HSM", Serial: serial,
			Label: label, Firmware: "1.0", URI: "pkcs11:token=" + label},
		pin: "1234", retries: 3, present: true,
	}
	b.order = append(b.order, label)
}

func (b *fakeBackend) setPresent(label string, present bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens[label].present = present
}

func (b *fakeBackend) Scheme() string { return "pkcs11" }

func (b *fakeBackend) Tokens(context.Context, []string) ([]hsm.TokenInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []hsm.TokenInfo
	for _, l := range b.order {
		if s := b.tokens[l]; s.present {
			out = append(out, s.info)
		}
	}
	return out, nil
}

func (b *fakeBackend) Open(_ context.Context, uri string) (hsm.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	label := strings.TrimPrefix(uri, "pkcs11:token=")
	if i := strings.IndexAny(label, "?;"); i >= 0 {
		label = label[:i]
	}
	s, ok := b.tokens[label]
	if !ok || !s.present {
		return nil, &hsm.DeviceError{Op: "open", Kind: hsm.ErrTokenNotFound, Token: uri}
	}
	return &fakeToken{b: b, s: s}, nil
}

type fakeToken struct {
	b      *fakeBackend
	s      *fakeState
	logged bool
}

func (t *fakeToken) Info() hsm.TokenInfo { return t.s.info }

func (t *fakeToken) PINState(context.Context) (hsm.PINState, error) {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	return hsm.PINState{RetriesLeft: t.s.retries, Locked: t.s.retries == 0, LoggedIn: t.logged}, nil
}

func (t *fakeToken) Login(_ context.Context, pin hsm.PIN, opts hsm.LoginOptions) error {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	if t.logged {
		return nil
	}
	if t.s.retries == 1 && !opts.Force {
		return &hsm.DeviceError{Op: "login", Kind: hsm.ErrFinalTry, Token: t.s.info.String()}
	}
	if pin.Reveal() != t.s.pin {
		t.s.retries--
		return &hsm.DeviceError{Op: "C_Login", Kind: hsm.ErrPINIncorrect, Token: t.s.info.String()}
	}
	t.s.retries = 3
	t.logged = true
	return nil
}

func (t *fakeToken) Keys(context.Context) ([]hsm.Key, error) {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	var out []hsm.Key
	for _, k := range t.s.keys {
		out = append(out, k.key)
	}
	return out, nil
}

func (t *fakeToken) GenerateKey(_ context.Context, spec hsm.KeySpec) (hsm.Key, error) {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	if !t.logged {
		return hsm.Key{}, hsm.ErrNotLoggedIn
	}
	seed := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", t.s.info.Label, len(t.s.keys))))
	priv := ed25519.NewKeyFromSeed(seed[:])
	label := spec.Label
	if label == "" {
		label = fmt.Sprintf("%s-%d", spec.Prefix, len(t.s.keys)+1)
	}
	k := hsm.Key{Label: label, ID: fmt.Sprintf("%02x", len(t.s.keys)+1), Algorithm: hsm.Ed25519,
		Public: priv.Public(), URI: t.s.info.URI + ";object=" + label}
	t.s.keys = append(t.s.keys, fakeKey{key: k, priv: priv})
	return k, nil
}

func (t *fakeToken) DeleteKey(_ context.Context, key hsm.Key) error {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	for i, k := range t.s.keys {
		if k.key.ID == key.ID {
			t.s.keys = append(t.s.keys[:i], t.s.keys[i+1:]...)
			return nil
		}
	}
	return hsm.ErrKeyNotFound
}

func (t *fakeToken) Signer(_ context.Context, key hsm.Key) (crypto.Signer, error) {
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	if !t.logged {
		return nil, hsm.ErrNotLoggedIn
	}
	for _, k := range t.s.keys {
		if k.key.ID == key.ID {
			return k.priv, nil
		}
	}
	return nil, hsm.ErrKeyNotFound
}

func (t *fakeToken) Evidence(_ context.Context, key hsm.Key) (hsm.Evidence, error) {
	attrs := map[string]bool{"CKA_TOKEN": true, "CKA_PRIVATE": true, "CKA_SENSITIVE": true, "CKA_EXTRACTABLE": false,
		"CKA_LOCAL": true, "CKA_NEVER_EXTRACTABLE": true, "CKA_ALWAYS_SENSITIVE": true}
	return hsm.Evidence{Kind: "pkcs11-attributes", Token: t.s.info, Attributes: attrs}, nil
}

func (t *fakeToken) Close() error { return nil }
