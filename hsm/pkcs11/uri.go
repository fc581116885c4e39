package pkcs11

import (
	"fmt"
	"io"
	"math/bits"
	"path/filepath"
	"strconv"
	"strings"
)

// URI is a parsed RFC 7512 PKCS#11 URI: the path selects a token and an
// object on it, the query says which module to load and where the PIN is.
//
// Deliberate departures from RFC 7512, all in the direction of refusing
// an address rather than guessing what it means during a ceremony:
//
//   - An attribute with an empty value ("serial=") is refused. The RFC lets
//     it match an empty field; tuf-ceremony never selects a token or key
//     by the absence of a value, so an empty value is taken for a mistake.
//   - library-manufacturer, library-description, library-version,
//     slot-description and slot-manufacturer are refused with a message
//     saying they are not supported for matching, instead of being silently
//     ignored: ignoring a constraint the user wrote could select a token
//     they did not mean. Modules are chosen with module-path or module-name.
//   - Attribute names are matched exactly (lowercase); the scheme is
//     case-insensitive as RFC 3986 requires.
//   - Literal characters are checked against the RFC 7512 grammar; anything
//     else (space, "/" in the path, ";" in the query, non-ASCII) must be
//     percent-encoded, and the error says how.
//
// Vendor attributes ("x-…", in the path or the query) are ignored, as the
// RFC allows: they are neither checked nor kept, and String drops them.
//
// pin-source is percent-decoded like every value and kept as given
// otherwise; hsm.ReadPINSource interprets it when the PIN is needed.
type URI struct {
	Token, Serial, Manufacturer, Model, Object string // path attributes, percent-decoded
	ID                                         []byte // "id", percent-decoded raw bytes; nil when absent
	SlotID                                     *uint  // "slot-id" (decimal); nil when absent
	Type                                       string // "type": one of public, private, cert, secret-key, data; "" when absent
	ModulePath, ModuleName                     string // query
	PINSource                                  string // query "pin-source" as given, e.g. "file:/run/pin"
	PINValue                                   string // query "pin-value", decoded
}

// URIError says why a string is not a usable PKCS#11 URI. Its message
// never contains a pin-value, nor any text of the query that might be part
// of one.
type URIError struct {
	Msg string
	// Hint says what to write instead, when there is something useful to
	// say; the CLI shows it on a "hint:" line.
	Hint string
}

func (e *URIError) Error() string { return "invalid PKCS#11 URI: " + e.Msg }

const (
	uriScheme  = "pkcs11:"
	uriExample = "pkcs11:token=alice;object=root-alice?module-path=/usr/lib/softhsm/libsofthsm2.so"
	uriLooks   = "addresses look like " + uriExample
)

// Attribute names in the order String writes them.
var (
	uriPathAttrs  = []string{"token", "manufacturer", "model", "serial", "slot-id", "object", "type", "id"}
	uriQueryAttrs = []string{"module-path", "module-name", "pin-source", "pin-value"}
	// Defined by RFC 7512 but refused, see URI.
	uriUnsupportedAttrs = []string{"library-manufacturer", "library-description", "library-version", "slot-description", "slot-manufacturer"}
	uriTypes            = []string{"public", "private", "cert", "secret-key", "data"}
)

// ParseURI parses an RFC 7512 PKCS#11 URI such as
// pkcs11:token=alice;object=root-alice?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin.
// Errors are *URIError.
func ParseURI(s string) (*URI, error) {
	u, err := uriParse(s)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// uriParse returns a typed nil-able error so that ParseURI never returns a
// non-nil error interface holding a nil pointer.
func uriParse(s string) (*URI, *URIError) {
	if len(s) < len(uriScheme) || !strings.EqualFold(s[:len(uriScheme)], uriScheme) {
		return nil, uriSchemeError(s)
	}
	rest := s[len(uriScheme):]
	if strings.HasPrefix(rest, "//") {
		return nil, &URIError{Msg: `"pkcs11:" is not followed by "//"`, Hint: uriLooks}
	}
	if strings.Contains(rest, "#") {
		return nil, &URIError{
			Msg:  `unexpected "#": a PKCS#11 URI has no fragment`,
			Hint: `write a "#" inside a value as %23, e.g. token=PKCS%2311%20token`,
		}
	}
	path, query, _ := strings.Cut(rest, "?")
	p := uriParser{u: &URI{}, seen: map[string]bool{}}
	if path != "" {
		for _, seg := range strings.Split(path, ";") {
			if err := p.pathAttr(seg); err != nil {
				return nil, err
			}
		}
	}
	if query != "" {
		for i, seg := range strings.Split(query, "&") {
			if err := p.queryAttr(i+1, seg); err != nil {
				return nil, err
			}
		}
	}
	u := p.u
	if u.ModulePath != "" && u.ModuleName != "" {
		return nil, &URIError{Msg: "module-path and module-name cannot be used together", Hint: "keep module-path, the more precise of the two"}
	}
	if u.PINSource != "" && u.PINValue != "" {
		return nil, &URIError{Msg: "pin-source and pin-value cannot be used together", Hint: "keep one of them, or neither to be asked for the PIN"}
	}
	return u, nil
}

func uriSchemeError(s string) *URIError {
	if s == "" {
		return &URIError{Msg: "empty address", Hint: uriLooks}
	}
	if scheme, _, ok := strings.Cut(s, ":"); ok && uriIsScheme(scheme) {
		msg := fmt.Sprintf(`scheme %q is not "pkcs11:"`, scheme+":")
		if strings.EqualFold(scheme, "yubikey") {
			return &URIError{Msg: msg, Hint: "a yubikey: address is for the PIV backend; PKCS#11 " + uriLooks}
		}
		return &URIError{Msg: msg, Hint: uriLooks}
	}
	return &URIError{Msg: `missing "pkcs11:" scheme`, Hint: uriLooks}
}

// uriIsScheme reports whether s is an RFC 3986 scheme name of a plausible
// length; only then is it quoted back in an error.
func uriIsScheme(s string) bool {
	if s == "" || len(s) > 32 || !uriIsAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !uriIsAlpha(c) && !uriIsDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

type uriParser struct {
	u    *URI
	seen map[string]bool
	// afterPINValue is set once a pin-value attribute was read: from then
	// on, a malformed query attribute may be the rest of a PIN that holds
	// an unencoded "&", so its text is never shown.
	afterPINValue bool
}

func (p *uriParser) pathAttr(seg string) *URIError {
	if seg == "" {
		return &URIError{Msg: `empty path attribute (stray ";")`}
	}
	name, value, ok := strings.Cut(seg, "=")
	switch {
	case !ok:
		return &URIError{Msg: fmt.Sprintf(`attribute %q has no "=" (expected name=value)`, seg), Hint: uriLooks}
	case name == "":
		return &URIError{Msg: `attribute with an empty name`, Hint: uriLooks}
	case uriIn(name, uriPathAttrs):
		return p.set(name, value, false)
	case uriIsVendor(name):
		return nil
	case uriIn(name, uriQueryAttrs):
		return &URIError{Msg: fmt.Sprintf(`attribute %q belongs in the query, after "?"`, name), Hint: uriLooks}
	case uriIn(name, uriUnsupportedAttrs):
		return uriUnsupported(name)
	}
	return uriUnknown(name, uriPathAttrs)
}

func (p *uriParser) queryAttr(pos int, seg string) *URIError {
	name, value, ok := strings.Cut(seg, "=")
	known := uriIn(name, uriQueryAttrs) || uriIn(name, uriPathAttrs) || uriIn(name, uriUnsupportedAttrs)
	switch {
	case p.afterPINValue && (!ok || name == "" || (!known && !uriIsVendor(name))):
		return &URIError{
			Msg:  fmt.Sprintf("query attribute %d, after pin-value, is malformed (not shown: it may be part of the PIN)", pos),
			Hint: `write a "&" inside a PIN as %26, or use pin-source=file:/path`,
		}
	case seg == "":
		return &URIError{Msg: `empty query attribute (stray "&")`}
	case !ok && known:
		return &URIError{Msg: fmt.Sprintf(`attribute %q has no "=" (expected name=value)`, name), Hint: uriLooks}
	case !ok:
		// Not shown: a bare segment of the query might be a PIN.
		return &URIError{Msg: fmt.Sprintf(`query attribute %d has no "=" (expected name=value; not shown: it may hold a PIN)`, pos), Hint: uriLooks}
	case name == "":
		return &URIError{Msg: `attribute with an empty name`, Hint: uriLooks}
	case uriIn(name, uriQueryAttrs):
		if name == "pin-value" {
			p.afterPINValue = true
		}
		return p.set(name, value, true)
	case uriIsVendor(name):
		return nil
	case uriIn(name, uriPathAttrs):
		return &URIError{Msg: fmt.Sprintf(`attribute %q belongs in the path, before "?"`, name), Hint: uriLooks}
	case uriIn(name, uriUnsupportedAttrs):
		return uriUnsupported(name)
	}
	return uriUnknown(name, uriQueryAttrs)
}

func uriUnsupported(name string) *URIError {
	hint := "remove it; select the token with token, serial, manufacturer, model or slot-id"
	if strings.HasPrefix(name, "library-") {
		hint = "remove it; choose the module with module-path or module-name"
	}
	return &URIError{Msg: fmt.Sprintf("attribute %q is not supported for matching", name), Hint: hint}
}

func uriUnknown(name string, known []string) *URIError {
	e := &URIError{Msg: fmt.Sprintf("unknown attribute %q (known: %s)", name, strings.Join(known, ", "))}
	if s := uriSuggest(name); s != "" {
		e.Hint = fmt.Sprintf("did you mean %q?", s)
	}
	return e
}

// set stores one standard attribute. raw is the value as written.
func (p *uriParser) set(name, raw string, query bool) *URIError {
	if p.seen[name] {
		return &URIError{Msg: fmt.Sprintf("duplicate attribute %q", name)}
	}
	p.seen[name] = true
	if raw == "" {
		return &URIError{
			Msg:  fmt.Sprintf("empty value for %q", name),
			Hint: fmt.Sprintf("give a value, or leave %s out to match any", name),
		}
	}
	b, err := uriDecode(name, raw, query)
	if err != nil {
		return err
	}
	v := string(b)
	u := p.u
	switch name {
	case "token":
		u.Token = v
	case "manufacturer":
		u.Manufacturer = v
	case "model":
		u.Model = v
	case "serial":
		u.Serial = v
	case "object":
		u.Object = v
	case "id":
		u.ID = b
	case "slot-id":
		for i := 0; i < len(v); i++ {
			if !uriIsDigit(v[i]) {
				return &URIError{Msg: fmt.Sprintf("slot-id must be a non-negative decimal number, not %q", v)}
			}
		}
		n, err := strconv.ParseUint(v, 10, bits.UintSize)
		if err != nil {
			return &URIError{Msg: fmt.Sprintf("slot-id %q is too large", v)}
		}
		id := uint(n)
		u.SlotID = &id
	case "type":
		if !uriIn(v, uriTypes) {
			return &URIError{Msg: fmt.Sprintf("type must be one of %s, not %q", strings.Join(uriTypes, ", "), v)}
		}
		u.Type = v
	case "module-path":
		if !filepath.IsAbs(v) {
			return &URIError{
				Msg:  fmt.Sprintf("module-path must be an absolute path, not %q", v),
				Hint: "e.g. module-path=/usr/lib/softhsm/libsofthsm2.so, or module-name=softhsm2 to search the usual places",
			}
		}
		u.ModulePath = v
	case "module-name":
		if strings.ContainsAny(v, `/\`) {
			return &URIError{
				Msg:  fmt.Sprintf("module-name must be a library name without a directory, not %q", v),
				Hint: "use module-path for a path",
			}
		}
		u.ModuleName = v
	case "pin-source":
		u.PINSource = v
	case "pin-value":
		u.PINValue = v
	}
	return nil
}

// uriDecode percent-decodes raw, the value of attribute name, and checks
// that every literal character is one RFC 7512 allows there. Nothing of a
// pin-value's text goes into an error.
func uriDecode(name, raw string, query bool) ([]byte, *URIError) {
	secret := name == "pin-value"
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' {
			if i+2 < len(raw) && uriIsHex(raw[i+1]) && uriIsHex(raw[i+2]) {
				out = append(out, uriUnhex(raw[i+1])<<4|uriUnhex(raw[i+2]))
				i += 2
				continue
			}
			hint := `write a literal "%" as %25`
			if secret {
				return nil, &URIError{Msg: fmt.Sprintf("invalid percent-encoding in %q", name), Hint: hint}
			}
			return nil, &URIError{Msg: fmt.Sprintf("invalid percent-encoding %q in %q", raw[i:min(i+3, len(raw))], name), Hint: hint}
		}
		if uriAllowed(c, query) {
			out = append(out, c)
			continue
		}
		e := &URIError{}
		switch {
		case secret:
			e.Msg = fmt.Sprintf("%q contains a character that must be percent-encoded", name)
			e.Hint = `write each byte that is not a letter, a digit or one of -._~ as %XX, e.g. a space as %20`
		case c > ' ' && c < 0x7f:
			e.Msg = fmt.Sprintf("character %q in %q must be percent-encoded as %%%02X", string(c), name, c)
		case c == ' ':
			e.Msg = fmt.Sprintf(`space in %q must be percent-encoded as %%20`, name)
		default:
			e.Msg = fmt.Sprintf("byte 0x%02X in %q must be percent-encoded as %%%02X", c, name, c)
			if c >= 0x80 {
				e.Hint = `percent-encode each UTF-8 byte, e.g. "é" as %C3%A9`
			}
		}
		if query && c == ';' && !secret {
			e.Hint = `query attributes are separated by "&", not ";"`
		}
		return nil, e
	}
	return out, nil
}

// uriAllowed reports whether c may appear unencoded in a value: RFC 7512
// pk11-pchar (path) or pk11-qchar (query), less pct-encoded.
func uriAllowed(c byte, query bool) bool {
	if uriIsAlpha(c) || uriIsDigit(c) {
		return true
	}
	switch c {
	case '-', '.', '_', '~', // unreserved
		':', '[', ']', '@', '!', '$', '\'', '(', ')', '*', '+', ',', '=': // pk11-res-avail
		return true
	case '&':
		return !query
	case '/', '?', '|':
		return query
	}
	return false
}

func uriIsAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func uriIsDigit(c byte) bool { return '0' <= c && c <= '9' }
func uriIsHex(c byte) bool   { return uriIsDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func uriUnhex(c byte) byte {
	switch {
	case uriIsDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// uriIsVendor reports whether name is an RFC 7512 vendor attribute:
// "x-" followed by letters, digits, "-" or "_".
func uriIsVendor(name string) bool {
	if len(name) <= 2 || !strings.HasPrefix(name, "x-") {
		return false
	}
	for i := 2; i < len(name); i++ {
		c := name[i]
		if !uriIsAlpha(c) && !uriIsDigit(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func uriIn(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// uriSuggest returns the supported attribute name closest to name, or ""
// when none is close.
func uriSuggest(name string) string {
	lower := strings.ToLower(name)
	best, bestD := "", 3
	for _, list := range [][]string{uriPathAttrs, uriQueryAttrs} {
		for _, cand := range list {
			if d := uriDistance(lower, cand); d < bestD && (d == 0 || 2*d < len(name)) {
				best, bestD = cand, d
			}
		}
	}
	return best
}

// uriDistance is the Levenshtein distance between a and b.
func uriDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// String returns the canonical form of u: path attributes in the order
// token, manufacturer, model, serial, slot-id, object, type, id, then
// module-path, module-name and pin-source in the query, values
// percent-encoded where RFC 7512 requires it and id encoded byte by byte.
// Empty fields are left out.
//
// String never includes pin-value, so a URI can be shown, logged or
// recorded; pin-source, which names a file, is kept. ParseURI(u.String())
// gives back u without its PINValue.
func (u URI) String() string {
	var b strings.Builder
	b.WriteString(uriScheme)
	sep := ""
	add := func(name, encoded string) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(encoded)
	}
	path := func(name, v string) {
		if v != "" {
			add(name, uriEncode(v, false))
			sep = ";"
		}
	}
	path("token", u.Token)
	path("manufacturer", u.Manufacturer)
	path("model", u.Model)
	path("serial", u.Serial)
	if u.SlotID != nil {
		path("slot-id", strconv.FormatUint(uint64(*u.SlotID), 10))
	}
	path("object", u.Object)
	path("type", u.Type)
	if len(u.ID) > 0 {
		var id strings.Builder
		for _, c := range u.ID {
			fmt.Fprintf(&id, "%%%02X", c)
		}
		add("id", id.String())
		sep = ";"
	}
	sep = "?"
	query := func(name, v string) {
		if v != "" {
			add(name, uriEncode(v, true))
			sep = "&"
		}
	}
	query("module-path", u.ModulePath)
	query("module-name", u.ModuleName)
	query("pin-source", u.PINSource)
	return b.String()
}

// Format makes every fmt verb print String, so no format string (%v, %+v,
// %#v, %d, …) can print the pin-value field.
func (u URI) Format(f fmt.State, verb rune) {
	s := u.String()
	switch {
	case verb == 'v' && f.Flag('#'):
		s = "pkcs11.URI(" + strconv.Quote(s)
		if u.PINValue != "" {
			s += " + pin-value [redacted]"
		}
		s += ")"
	case verb == 'q':
		s = strconv.Quote(s)
	}
	io.WriteString(f, s)
}

// MarshalText gives String, so encoding/json and structured loggers write
// the URI without its pin-value.
func (u URI) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// HasPIN reports whether u carries a PIN: a pin-value or a pin-source.
func (u *URI) HasPIN() bool { return u.PINValue != "" || u.PINSource != "" }

func uriEncode(v string, query bool) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if c := v[i]; uriAllowed(c, query) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
