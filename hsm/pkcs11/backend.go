package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// Backend opens tokens of PKCS#11 modules. A module loaded for one token is
// shared by every token of the same Backend, and finalized when the last
// of them closes: PKCS#11 state is per process, not per token.
type Backend struct {
	mu   sync.Mutex
	mods map[string]*module
}

var _ hsm.Backend = (*Backend)(nil)

// NewBackend returns a Backend with no module loaded yet.
func NewBackend() *Backend { return &Backend{mods: map[string]*module{}} }

// Scheme is "pkcs11".
func (b *Backend) Scheme() string { return "pkcs11" }

func (b *Backend) acquire(path string) (*module, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m, ok := b.mods[path]; ok {
		m.refs++
		return m, nil
	}
	m, err := loadModule(path)
	if err != nil {
		return nil, err
	}
	b.mods[path] = m
	return m, nil
}

func (b *Backend) retain(m *module) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m.refs++
}

func (b *Backend) release(m *module) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m.release()
	if m.refs == 0 {
		delete(b.mods, m.path)
	}
}

// slotToken is an initialized token in a slot of a loaded module.
type slotToken struct {
	slot uint
	info hsm.TokenInfo
}

// tokensOf lists the initialized tokens of a module; the spare slot that
// SoftHSM always keeps uninitialized is skipped.
func tokensOf(m *module) ([]slotToken, error) {
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return nil, deviceError("C_GetSlotList", err, m.path)
	}
	var out []slotToken
	for _, slot := range slots {
		ti, err := m.ctx.GetTokenInfo(slot)
		if err != nil {
			// A token pulled out between the two calls is not an error
			// of the listing.
			if errors.Is(classify(err), hsm.ErrTokenRemoved) {
				continue
			}
			return nil, deviceError("C_GetTokenInfo", err, m.path)
		}
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		info := hsm.TokenInfo{
			Backend:      "pkcs11",
			Manufacturer: ti.ManufacturerID,
			Model:        ti.Model,
			Serial:       ti.SerialNumber,
			Label:        ti.Label,
			Firmware:     fmt.Sprintf("%d.%d", ti.FirmwareVersion.Major, ti.FirmwareVersion.Minor),
			Module:       m.path,
		}
		info.URI = (&URI{Token: info.Label, Serial: info.Serial, ModulePath: m.path}).String()
		out = append(out, slotToken{slot: slot, info: info})
	}
	return out, nil
}

// Tokens lists the initialized tokens of each module, or of the
// well-known modules present on this machine when none is named.
func (b *Backend) Tokens(_ context.Context, modules []string) ([]hsm.TokenInfo, error) {
	if len(modules) == 0 {
		modules = DefaultModules()
	}
	var all []hsm.TokenInfo
	for _, path := range modules {
		m, err := b.acquire(path)
		if err != nil {
			return nil, err
		}
		toks, err := tokensOf(m)
		b.release(m)
		if err != nil {
			return nil, err
		}
		for _, t := range toks {
			all = append(all, t.info)
		}
	}
	return all, nil
}

// Open opens the one token that uri selects. Without module-path or
// module-name, the well-known modules present are searched.
func (b *Backend) Open(_ context.Context, raw string) (hsm.Token, error) {
	u, err := ParseURI(raw)
	if err != nil {
		return nil, err
	}
	var modules []string
	switch {
	case u.ModulePath != "":
		modules = []string{u.ModulePath}
	case u.ModuleName != "":
		p, err := ResolveModuleName(u.ModuleName)
		if err != nil {
			return nil, err
		}
		modules = []string{p}
	default:
		modules = DefaultModules()
		if len(modules) == 0 {
			return nil, fmt.Errorf("%w: no PKCS#11 module found in the usual places; name one with ?module-path=…", hsm.ErrModule)
		}
	}

	// Every module is held until the choice is made; the chosen token
	// then takes a reference of its own.
	var acquired []*module
	defer func() {
		for _, m := range acquired {
			b.release(m)
		}
	}()
	type candidate struct {
		mod *module
		tok slotToken
	}
	var matches []candidate
	var present []string
	for _, path := range modules {
		m, err := b.acquire(path)
		if err != nil {
			return nil, err
		}
		acquired = append(acquired, m)
		toks, err := tokensOf(m)
		if err != nil {
			return nil, err
		}
		for _, t := range toks {
			present = append(present, describe(t))
			if u.matches(t) {
				matches = append(matches, candidate{mod: m, tok: t})
			}
		}
	}
	switch len(matches) {
	case 0:
		return nil, &SelectError{Kind: hsm.ErrTokenNotFound, Want: u.selector(), Present: present}
	case 1:
	default:
		var names []string
		for _, c := range matches {
			names = append(names, describe(c.tok))
		}
		return nil, &SelectError{Kind: hsm.ErrAmbiguousToken, Want: u.selector(), Present: names}
	}
	c := matches[0]
	b.retain(c.mod)
	t, err := openToken(b, c.mod, c.tok, u)
	if err != nil {
		b.release(c.mod)
		return nil, err
	}
	return t, nil
}

// SelectError says which tokens a URI did not select, or selected too many of.
type SelectError struct {
	Kind    error // hsm.ErrTokenNotFound or hsm.ErrAmbiguousToken
	Want    string
	Present []string
}

func (e *SelectError) Error() string {
	if len(e.Present) == 0 {
		return fmt.Sprintf("%v %s: no initialized PKCS#11 token is present", e.Kind, e.Want)
	}
	if errors.Is(e.Kind, hsm.ErrAmbiguousToken) {
		return fmt.Sprintf("%v %s: %s", e.Kind, e.Want, strings.Join(e.Present, ", "))
	}
	return fmt.Sprintf("%v %s (present: %s)", e.Kind, e.Want, strings.Join(e.Present, ", "))
}

func (e *SelectError) Unwrap() error { return e.Kind }

func describe(t slotToken) string {
	return fmt.Sprintf("%q (serial %s)", t.info.Label, t.info.Serial)
}

// matches reports whether the URI's token attributes select t.
func (u *URI) matches(t slotToken) bool {
	return (u.Token == "" || u.Token == t.info.Label) &&
		(u.Serial == "" || u.Serial == t.info.Serial) &&
		(u.Manufacturer == "" || u.Manufacturer == t.info.Manufacturer) &&
		(u.Model == "" || u.Model == t.info.Model) &&
		(u.SlotID == nil || *u.SlotID == t.slot)
}

// selector describes the token attributes of the URI for a message.
func (u *URI) selector() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+strconv.Quote(v))
		}
	}
	add("token", u.Token)
	add("serial", u.Serial)
	add("manufacturer", u.Manufacturer)
	add("model", u.Model)
	if u.SlotID != nil {
		parts = append(parts, "slot-id="+strconv.FormatUint(uint64(*u.SlotID), 10))
	}
	if len(parts) == 0 {
		return "any token"
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}
