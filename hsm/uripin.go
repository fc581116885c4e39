package hsm

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrPINSource is a pin-value or pin-source that cannot be used.
var ErrPINSource = errors.New("unusable PIN in the token URI")

// URIPIN returns the PIN that a token URI carries in its pin-value or
// pin-source query attribute (RFC 7512; the same names serve yubikey:
// URIs). ok is false when the URI carries none and a person must be asked.
func URIPIN(uri string) (pin PIN, ok bool, err error) {
	pin, ok, err = uriPIN(uri)
	if err != nil {
		return PIN{}, false, fmt.Errorf("%w: %w", ErrPINSource, err)
	}
	return pin, ok, nil
}

func uriPIN(uri string) (pin PIN, ok bool, err error) {
	_, query, found := strings.Cut(uri, "?")
	if !found {
		return PIN{}, false, nil
	}
	var value, source string
	var haveValue bool
	for _, attr := range strings.Split(query, "&") {
		name, raw, _ := strings.Cut(attr, "=")
		switch name {
		case "pin-value":
			v, err := url.PathUnescape(raw)
			if err != nil {
				return PIN{}, false, errors.New("invalid pin-value: bad percent-encoding")
			}
			value, haveValue = v, true
		case "pin-source":
			v, err := url.PathUnescape(raw)
			if err != nil {
				return PIN{}, false, fmt.Errorf("invalid pin-source %q: bad percent-encoding", raw)
			}
			source = v
		}
	}
	switch {
	case haveValue && source != "":
		return PIN{}, false, errors.New("a token URI may carry pin-value or pin-source, not both")
	case haveValue:
		if value == "" {
			return PIN{}, false, errors.New("empty pin-value")
		}
		return NewPIN(value), true, nil
	case source != "":
		p, err := ReadPINSource(source)
		return p, err == nil, err
	}
	return PIN{}, false, nil
}

// RedactURI removes a pin-value from a token URI so it can be recorded or
// shown; pin-source stays (it names a file, not the PIN).
func RedactURI(uri string) string {
	base, query, found := strings.Cut(uri, "?")
	if !found {
		return uri
	}
	var kept []string
	for _, attr := range strings.Split(query, "&") {
		if name, _, _ := strings.Cut(attr, "="); name == "pin-value" {
			continue
		}
		kept = append(kept, attr)
	}
	if len(kept) == 0 {
		return base
	}
	return base + "?" + strings.Join(kept, "&")
}

// OpenWithURIPIN opens the token a URI addresses and returns the PIN the
// URI carries (empty when a person must be asked). The PIN is read first:
// an unusable pin-source fails before any device is touched.
func OpenWithURIPIN(ctx context.Context, backends []Backend, uri string) (Token, PIN, error) {
	pin, _, err := URIPIN(uri)
	if err != nil {
		return nil, PIN{}, err
	}
	tok, err := Open(ctx, backends, uri)
	if err != nil {
		return nil, PIN{}, err
	}
	return tok, pin, nil
}
