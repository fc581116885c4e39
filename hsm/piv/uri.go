package piv

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// URI addresses a YubiKey and one of its PIV slots, in the convention of
// smallstep's step-kms-plugin:
//
//	yubikey:serial=12345678;slot-id=9c?pin-source=file:/run/alice.pin
//
// Path attributes (separated by ";"): serial (decimal, as printed on the
// device) and slot-id (two hex digits: 9a, 9c, 9d, 9e or 82–95; 9c when
// absent). Query attributes (separated by "&"): pin-source and pin-value,
// with the rules of hsm.URIPIN, which reads them. "yubikey:" alone
// selects the only YubiKey present. Vendor attributes "x-…" are ignored.
//
// A management key is never accepted in a URI: tuf-ceremony uses the one
// stored PIN-protected on the card (tuf-ceremony token setup).
type URI struct {
	Serial    string // decimal; "" selects the only card present
	Slot      byte   // 0 when slot-id is absent (DefaultSlot applies)
	PINSource string // query "pin-source", decoded
	PINValue  string // query "pin-value", decoded; never printed
}

// DefaultSlot is the slot used when a URI names none: 9c, PIV's digital
// signature slot.
const DefaultSlot byte = 0x9c

// URIError says why a string is not a usable yubikey: URI. Its message
// never contains a pin-value.
type URIError struct {
	Msg string
	// Hint says what to write instead.
	Hint string
}

func (e *URIError) Error() string { return "invalid YubiKey URI: " + e.Msg }

// Hints gives the CLI its "hint:" lines.
func (e *URIError) Hints() []string {
	if e.Hint != "" {
		return []string{e.Hint}
	}
	return []string{uriLooks}
}

const (
	uriScheme  = "yubikey:"
	uriExample = "yubikey:serial=12345678;slot-id=9c"
	uriLooks   = "YubiKey addresses look like " + uriExample + " (tuf-ceremony tokens lists the serials)"
)

var (
	uriPathAttrs  = []string{"serial", "slot-id"}
	uriQueryAttrs = []string{"pin-source", "pin-value"}
)

// ParseURI parses a yubikey: URI. Errors are *URIError.
func ParseURI(s string) (*URI, error) {
	u, err := parseURI(s)
	if err != nil {
		return nil, err
	}
	return u, nil
}

func parseURI(s string) (*URI, *URIError) {
	if len(s) < len(uriScheme) || !strings.EqualFold(s[:len(uriScheme)], uriScheme) {
		if s == "" {
			return nil, &URIError{Msg: "empty address"}
		}
		if scheme, _, ok := strings.Cut(s, ":"); ok && isSchemeName(scheme) {
			msg := fmt.Sprintf("scheme %q is not %q", scheme+":", uriScheme)
			if strings.EqualFold(scheme, "pkcs11") {
				return nil, &URIError{Msg: msg, Hint: "a pkcs11: address is for PKCS#11 tokens; " + uriLooks}
			}
			return nil, &URIError{Msg: msg}
		}
		return nil, &URIError{Msg: fmt.Sprintf("missing %q scheme", uriScheme)}
	}
	rest := s[len(uriScheme):]
	if strings.HasPrefix(rest, "//") {
		return nil, &URIError{Msg: `"yubikey:" is not followed by "//"`}
	}
	path, query, _ := strings.Cut(rest, "?")
	u := &URI{}
	seen := map[string]bool{}
	if path != "" {
		for _, seg := range strings.Split(path, ";") {
			if err := u.pathAttr(seg, seen); err != nil {
				return nil, err
			}
		}
	}
	if query != "" {
		afterPIN := false
		for i, seg := range strings.Split(query, "&") {
			if err := u.queryAttr(i+1, seg, seen, &afterPIN); err != nil {
				return nil, err
			}
		}
	}
	if u.PINSource != "" && u.PINValue != "" {
		return nil, &URIError{Msg: "pin-source and pin-value cannot be used together", Hint: "keep one of them, or neither to be asked for the PIN"}
	}
	return u, nil
}

func (u *URI) pathAttr(seg string, seen map[string]bool) *URIError {
	if seg == "" {
		return &URIError{Msg: `empty attribute (stray ";")`}
	}
	name, value, ok := strings.Cut(seg, "=")
	switch {
	case !ok:
		return &URIError{Msg: fmt.Sprintf("attribute %q has no \"=\" (expected name=value)", seg)}
	case isVendorAttr(name):
		return nil
	case name == "pin-source" || name == "pin-value":
		return &URIError{Msg: fmt.Sprintf(`attribute %q belongs in the query, after "?"`, name),
			Hint: "e.g. " + uriExample + "?pin-source=file:/run/alice.pin"}
	case isManagementKeyAttr(name):
		return managementKeyAttrError(name)
	case name != "serial" && name != "slot-id":
		return unknownAttr(name)
	}
	if seen[name] {
		return &URIError{Msg: fmt.Sprintf("duplicate attribute %q", name)}
	}
	seen[name] = true
	v, err := url.PathUnescape(value)
	if err != nil {
		return &URIError{Msg: fmt.Sprintf("invalid percent-encoding in %q", name)}
	}
	if v == "" {
		return &URIError{Msg: fmt.Sprintf("empty value for %q", name), Hint: fmt.Sprintf("give a value, or leave %s out", name)}
	}
	switch name {
	case "serial":
		if !isDecimal(v) {
			return &URIError{Msg: fmt.Sprintf("serial must be the decimal serial number printed on the YubiKey, not %q", v), Hint: uriLooks}
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return &URIError{Msg: fmt.Sprintf("serial %q is too large for a YubiKey serial number", v)}
		}
		u.Serial = strconv.FormatUint(n, 10)
	case "slot-id":
		slot, err := ParseSlot(v)
		if err != nil {
			return &URIError{Msg: err.Error(), Hint: "slot-id is two hex digits: 9c (the default), 9a, 9d, 9e, or a retired slot 82 to 95"}
		}
		u.Slot = slot
	}
	return nil
}

func (u *URI) queryAttr(pos int, seg string, seen map[string]bool, afterPIN *bool) *URIError {
	name, value, ok := strings.Cut(seg, "=")
	known := name == "pin-source" || name == "pin-value" || name == "serial" || name == "slot-id" || isManagementKeyAttr(name)
	switch {
	case *afterPIN && (!ok || (!known && !isVendorAttr(name))):
		return &URIError{
			Msg:  fmt.Sprintf("query attribute %d, after pin-value, is malformed (not shown: it may be part of the PIN)", pos),
			Hint: `write a "&" inside a PIN as %26, or use pin-source=file:/path`,
		}
	case seg == "":
		return &URIError{Msg: `empty query attribute (stray "&")`}
	case !ok:
		// Not shown: a bare segment of the query might be a PIN.
		return &URIError{Msg: fmt.Sprintf(`query attribute %d has no "=" (expected name=value; not shown: it may hold a PIN)`, pos)}
	case isVendorAttr(name):
		return nil
	case name == "serial" || name == "slot-id":
		return &URIError{Msg: fmt.Sprintf(`attribute %q belongs in the path, before "?"`, name), Hint: uriLooks}
	case isManagementKeyAttr(name):
		return managementKeyAttrError(name)
	case !known:
		return unknownAttr(name)
	}
	if seen[name] {
		return &URIError{Msg: fmt.Sprintf("duplicate attribute %q", name)}
	}
	seen[name] = true
	secret := name == "pin-value"
	if secret {
		*afterPIN = true
	}
	v, err := url.PathUnescape(value)
	if err != nil {
		if secret {
			return &URIError{Msg: "invalid percent-encoding in pin-value", Hint: `write a literal "%" as %25`}
		}
		return &URIError{Msg: fmt.Sprintf("invalid percent-encoding in %q", name), Hint: `write a literal "%" as %25`}
	}
	if v == "" {
		return &URIError{Msg: fmt.Sprintf("empty value for %q", name), Hint: "leave it out to be asked for the PIN"}
	}
	if secret {
		u.PINValue = v
	} else {
		u.PINSource = v
	}
	return nil
}

func isManagementKeyAttr(name string) bool {
	return name == "management-key" || name == "management-key-source"
}

func managementKeyAttrError(name string) *URIError {
	return &URIError{
		Msg:  fmt.Sprintf("attribute %q is not accepted: tuf-ceremony never takes a management key in an address", name),
		Hint: "store a random management key PIN-protected on the YubiKey with: tuf-ceremony token setup --token yubikey:serial=N",
	}
}

func unknownAttr(name string) *URIError {
	e := &URIError{Msg: fmt.Sprintf("unknown attribute %q (known: %s; in the query: %s)", name,
		strings.Join(uriPathAttrs, ", "), strings.Join(uriQueryAttrs, ", "))}
	switch strings.ToLower(name) {
	case "slot", "slotid", "slot_id", "id", "object":
		e.Hint = `did you mean "slot-id"?`
	case "serial-number", "sn", "token":
		e.Hint = `did you mean "serial"?`
	case "pin", "pinvalue", "pin_value":
		e.Hint = `did you mean "pin-value" (in the query, after "?")?`
	}
	return e
}

func isVendorAttr(name string) bool {
	if len(name) <= 2 || !strings.HasPrefix(name, "x-") {
		return false
	}
	for i := 2; i < len(name); i++ {
		c := name[i]
		if !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isSchemeName(s string) bool {
	if s == "" || len(s) > 32 || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// ParseSlot parses a PIV key slot written as two hex digits ("9c", "9C",
// "0x9c"): 9a, 9c, 9d, 9e or a retired key management slot 82 to 95.
func ParseSlot(s string) (byte, error) {
	h := strings.TrimPrefix(strings.ToLower(s), "0x")
	n, err := strconv.ParseUint(h, 16, 8)
	if err != nil || len(h) != 2 {
		return 0, fmt.Errorf("slot-id %q is not two hex digits", s)
	}
	slot := byte(n)
	switch {
	case slot == 0x9b:
		return 0, fmt.Errorf("slot-id 9b is the management key, not a key slot")
	case slot == 0xf9:
		return 0, fmt.Errorf("slot-id f9 holds the YubiKey's own attestation key and cannot hold a TUF key")
	case !validSlot(slot):
		return 0, fmt.Errorf("slot-id %s is not a PIV key slot", h)
	}
	return slot, nil
}

// validSlot reports whether slot can hold a TUF key.
func validSlot(slot byte) bool {
	switch {
	case slot == 0x9a, slot == 0x9c, slot == 0x9d, slot == 0x9e:
		return true
	case slot >= 0x82 && slot <= 0x95:
		return true
	}
	return false
}

// SlotID returns the slot the URI names, or DefaultSlot.
func (u *URI) SlotID() byte {
	if u.Slot == 0 {
		return DefaultSlot
	}
	return u.Slot
}

// String returns the URI without pin-value: yubikey:serial=N;slot-id=9c
// and ?pin-source=… when present. ParseURI(u.String()) gives back u
// without its PINValue.
func (u URI) String() string {
	var parts []string
	if u.Serial != "" {
		parts = append(parts, "serial="+u.Serial)
	}
	if u.Slot != 0 {
		parts = append(parts, "slot-id="+slotHex(u.Slot))
	}
	s := uriScheme + strings.Join(parts, ";")
	if u.PINSource != "" {
		s += "?pin-source=" + escapeQuery(u.PINSource)
	}
	return s
}

// Format makes every fmt verb print String, so that no verb prints the
// pin-value field.
func (u URI) Format(f fmt.State, verb rune) {
	s := u.String()
	switch {
	case verb == 'v' && f.Flag('#'):
		s = "piv.URI(" + strconv.Quote(s)
		if u.PINValue != "" {
			s += " + pin-value [redacted]"
		}
		s += ")"
	case verb == 'q':
		s = strconv.Quote(s)
	}
	io.WriteString(f, s)
}

// MarshalText gives String, so encoders write the URI without its pin-value.
func (u URI) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// escapeQuery percent-encodes what would end or split a query value.
func escapeQuery(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '%' || c == '&' || c == '#' || c <= ' ' || c >= 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func slotHex(slot byte) string { return fmt.Sprintf("%02x", slot) }
