package ceremony

import (
	"context"
	"errors"
	"fmt"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// TokenListing is one token and the keys on it, as `tokens` shows them.
type TokenListing struct {
	Token hsm.TokenInfo `json:"token"`
	Keys  []KeyListing  `json:"keys"`
	Error string        `json:"error,omitempty"`
	PIN   *hsm.PINState `json:"pin,omitempty"`
}

// KeyListing is a key pair on a token with its TUF key ID.
type KeyListing struct {
	Label     string        `json:"label"`
	ID        string        `json:"id"`
	Algorithm hsm.Algorithm `json:"algorithm"`
	KeyID     string        `json:"keyid,omitempty"`
	Scheme    string        `json:"scheme,omitempty"`
	URI       string        `json:"uri"`
}

// ListTokens lists every token the backends find, with the public keys on
// each. No PIN is asked: public key objects are readable without one. A
// token that cannot be read is listed with its error rather than hiding
// the others.
//
// A backend with no way to reach its tokens at all (pcscd not running) is
// skipped when there are others, and said in the notes.
func ListTokens(ctx context.Context, backends []hsm.Backend, modules []string) (out []TokenListing, notes []string, err error) {
	for _, b := range backends {
		infos, err := b.Tokens(ctx, modules)
		if errors.Is(err, hsm.ErrNoReaderService) && len(backends) > 1 {
			notes = append(notes, fmt.Sprintf("%s: tokens not listed: %v", b.Scheme(), err))
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		for _, info := range infos {
			out = append(out, listToken(ctx, b, info))
		}
	}
	return out, notes, nil
}

func listToken(ctx context.Context, b hsm.Backend, info hsm.TokenInfo) TokenListing {
	l := TokenListing{Token: info, Keys: []KeyListing{}}
	tok, err := b.Open(ctx, info.URI)
	if err != nil {
		l.Error = err.Error()
		return l
	}
	defer tok.Close()
	if st, err := tok.PINState(ctx); err == nil {
		l.PIN = &st
	}
	keys, err := tok.Keys(ctx)
	if err != nil {
		l.Error = err.Error()
		return l
	}
	for _, k := range keys {
		kl := KeyListing{Label: k.Label, ID: k.ID, Algorithm: k.Algorithm, URI: k.URI}
		if tk, err := TUFKey(k.Public); err == nil {
			if id, err := KeyID(tk); err == nil {
				kl.KeyID, kl.Scheme = id, tk.Scheme
			}
		}
		l.Keys = append(l.Keys, kl)
	}
	return l
}

// String is a one-line summary of a token for listings.
func (l TokenListing) String() string {
	return fmt.Sprintf("%s  %s %s  firmware %s", l.Token.Label, l.Token.Manufacturer, l.Token.Model, l.Token.Firmware)
}
