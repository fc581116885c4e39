// Package piv is tuf-ceremony's YubiKey backend: the PIV applet through
// piv-go (github.com/go-piv/piv-go/v2) and pcscd, behind the same
// hsm.Backend and hsm.Token interface as PKCS#11.
//
// Tokens are addressed as yubikey:serial=12345678;slot-id=9c (see URI).
// The package promises:
//
//   - Keys are generated on the card, in the slot the URI names (9c by
//     default), with PIN policy and touch policy "always" unless asked
//     otherwise; a slot that already holds a key is never overwritten.
//   - The management key is the one stored PIN-protected on the card
//     (object 5FC109, as ykman and `tuf-ceremony token setup` store it),
//     else the factory default (with a warning that setup is
//     recommended); any other is refused, never guessed.
//   - No certificate is written to the slot after generation: the slot's
//     public key is read back from the card's key metadata (firmware 5.3
//     and later) or from its attestation (4.3 and later), neither of which
//     needs the PIN or a touch. A self-signed certificate as ykman writes
//     one would cost one more PIN entry and touch during keygen, and
//     would be one more thing that can disagree with the key. Keys are
//     therefore only generated on firmware 4.3 and later, which can attest.
//   - A PIN is never tried when the card reports one retry left, unless
//     forced; a wrong PIN reports the retries left after it.
//   - Every signature is verified with the public key before it is
//     returned; the hsm.TouchFunc of the signer's context is called right
//     before a signature that needs a touch, and a missing touch is
//     reported as hsm.ErrNoTouch.
//   - Device errors are kept as themselves inside *hsm.DeviceError, with
//     the hsm kind (wrong PIN, locked, removed, …); no PIN is ever part of
//     a message.
//
// A Token holds its card exclusively (piv-go keeps a PC/SC transaction
// open) until Close: other programs, ykman included, cannot use the card
// meanwhile.
package piv

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// Backend finds YubiKeys through pcscd.
type Backend struct {
	pcsc pcsc
}

var _ hsm.Backend = (*Backend)(nil)

// NewBackend returns a Backend that reaches cards through pcscd.
func NewBackend() *Backend { return &Backend{pcsc: pivGo{}} }

// Scheme is "yubikey".
func (b *Backend) Scheme() string { return "yubikey" }

// present is one card found in a reader, still open.
type present struct {
	reader string
	card   card
	info   hsm.TokenInfo
	fw     piv.Version
	ff     piv.Formfactor
}

// scan opens every card pcscd knows, in reader order. keep decides, from
// a card's serial, whether it stays open; the others are closed. Readers
// without a card, and cards without a PIV applet, are skipped.
func (b *Backend) scan(keep func(serial string) bool) (found []present, busy []string, err error) {
	readers, err := b.pcsc.Cards()
	if err != nil {
		return nil, nil, pcscError("SCardListReaders", err)
	}
	defer func() {
		if err != nil {
			for _, p := range found {
				if p.card != nil {
					p.card.Close()
				}
			}
			found = nil
		}
	}()
	for _, reader := range readers {
		c, err := b.pcsc.Open(reader)
		if err != nil {
			msg := err.Error()
			switch k := classify(err); {
			case strings.Contains(msg, msgNoCard), k == hsm.ErrTokenRemoved:
				continue // an empty reader, or a card that just left
			case strings.Contains(msg, "selecting piv applet"):
				continue // a smart card that is not a PIV card
			case k == ErrCardBusy:
				busy = append(busy, reader)
				continue
			case k == ErrNoPCSCD:
				return found, busy, pcscError("SCardEstablishContext", err)
			}
			return found, busy, deviceError("open", err, fmt.Sprintf("reader %q", reader))
		}
		p, err := identify(reader, c)
		if err != nil {
			c.Close()
			if errors.Is(err, hsm.ErrTokenRemoved) {
				continue
			}
			return found, busy, err
		}
		if keep != nil && !keep(p.info.Serial) {
			c.Close()
			p.card = nil
		}
		found = append(found, p)
	}
	return found, busy, nil
}

// identify reads what names a card. The form factor comes from the
// management applet, so it is read now, before any PIN is verified
// (selecting another applet ends the PIV session's PIN status).
func identify(reader string, c card) (present, error) {
	p := present{reader: reader, card: c, fw: c.Version()}
	serial, err := c.Serial()
	if err != nil {
		return p, deviceError("GET SERIAL", err, fmt.Sprintf("YubiKey in reader %q", reader))
	}
	p.ff, err = c.FormFactor()
	if err != nil {
		if k := classify(err); k == hsm.ErrTokenRemoved {
			return p, deviceError("READ CONFIG", err, fmt.Sprintf("YubiKey in reader %q", reader))
		}
		p.ff = 0 // older keys have no management applet; the model is vaguer
	}
	s := strconv.FormatUint(uint64(serial), 10)
	p.info = hsm.TokenInfo{
		Backend:      "piv",
		Manufacturer: "Yubico",
		Model:        modelName(p.fw, p.ff),
		Serial:       s,
		Label:        "YubiKey " + s,
		Firmware:     fmt.Sprintf("%d.%d.%d", p.fw.Major, p.fw.Minor, p.fw.Patch),
		URI:          URI{Serial: s}.String(),
	}
	return p, nil
}

// modelName names the device as far as PIV tells: series and form factor
// ("YubiKey 5 (USB-A Keychain)"). Whether it has NFC is not visible here.
func modelName(v piv.Version, ff piv.Formfactor) string {
	series := "YubiKey"
	switch {
	case v.Major >= 5:
		series = fmt.Sprintf("YubiKey %d", v.Major)
	case v.Major == 4:
		series = "YubiKey 4"
	case v.Major < 4:
		series = "YubiKey NEO"
	}
	if ff == 0 {
		return series
	}
	return series + " (" + ff.String() + ")"
}

// Tokens lists every YubiKey present. modules is ignored.
func (b *Backend) Tokens(context.Context, []string) ([]hsm.TokenInfo, error) {
	found, busy, err := b.scan(func(string) bool { return false })
	if err != nil {
		return nil, err
	}
	if len(busy) > 0 {
		return nil, busyError(busy)
	}
	out := make([]hsm.TokenInfo, 0, len(found))
	for _, p := range found {
		out = append(out, p.info)
	}
	return out, nil
}

func busyError(readers []string) error {
	return withHints(fmt.Errorf("%w: %s", ErrCardBusy, quoteAll(readers, "reader ")), hintBusy)
}

// Open opens the one YubiKey the URI selects.
func (b *Backend) Open(ctx context.Context, uri string) (hsm.Token, error) {
	t, err := b.OpenToken(ctx, uri)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// OpenToken is Open with the concrete type, for what only YubiKeys do
// (Setup, Reset).
func (b *Backend) OpenToken(ctx context.Context, uri string) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	found, busy, err := b.scan(func(serial string) bool { return u.Serial == "" || u.Serial == serial })
	if err != nil {
		return nil, err
	}
	var matches, all []present
	for _, p := range found {
		all = append(all, p)
		if p.card != nil {
			matches = append(matches, p)
		}
	}
	closeAll := func() {
		for _, p := range matches {
			p.card.Close()
		}
	}
	switch {
	case len(matches) == 1 && (u.Serial != "" || len(busy) == 0):
		return newToken(matches[0], u), nil
	case len(matches) > 1:
		closeAll()
		return nil, withHints(&SelectError{Kind: hsm.ErrAmbiguousToken, Want: u, Present: serials(all)},
			"add serial=N to the token URI to choose one: "+strings.Join(uriList(all), ", "))
	case len(matches) == 1:
		// "yubikey:" with another card we cannot see: refuse to guess.
		closeAll()
		return nil, busyError(busy)
	}
	if len(busy) > 0 {
		return nil, busyError(busy)
	}
	e := &SelectError{Kind: hsm.ErrTokenNotFound, Want: u, Present: serials(all)}
	if len(all) == 0 {
		return nil, withHints(e, "plug in the YubiKey; pcsc_scan shows what pcscd sees")
	}
	return nil, withHints(e, "present: "+strings.Join(uriList(all), ", "))
}

// SelectError says which YubiKeys a URI did not select, or selected too
// many of.
type SelectError struct {
	Kind    error // hsm.ErrTokenNotFound or hsm.ErrAmbiguousToken
	Want    *URI
	Present []string // serials
}

func (e *SelectError) Error() string {
	want := "any YubiKey"
	if e.Want != nil && e.Want.Serial != "" {
		want = "YubiKey serial " + e.Want.Serial
	}
	switch {
	case len(e.Present) == 0:
		return fmt.Sprintf("%v %s: no YubiKey is present", e.Kind, want)
	case errors.Is(e.Kind, hsm.ErrAmbiguousToken):
		return fmt.Sprintf("%v %s: serials %s", e.Kind, want, strings.Join(e.Present, ", "))
	}
	return fmt.Sprintf("%v %s (present: serial %s)", e.Kind, want, strings.Join(e.Present, ", "))
}

func (e *SelectError) Unwrap() error { return e.Kind }

func serials(ps []present) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.info.Serial)
	}
	sort.Strings(s)
	return s
}

func uriList(ps []present) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.info.URI)
	}
	sort.Strings(s)
	return s
}

func quoteAll(ss []string, prefix string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = prefix + strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
