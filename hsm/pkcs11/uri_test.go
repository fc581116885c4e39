package pkcs11_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
)

const uriTestHint = "addresses look like pkcs11:token=alice;object=root-alice?module-path=/usr/lib/softhsm/libsofthsm2.so"

func uriTestSlot(n uint) *uint { return &n }

func TestParseURI(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want pkcs11.URI
		// canonical is want.String(); "" means the input is canonical.
		canonical string
	}{
		{
			name: "spec example",
			in:   "pkcs11:token=alice;object=root-alice?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
			want: pkcs11.URI{Token: "alice", Object: "root-alice", ModulePath: "/usr/lib/softhsm/libsofthsm2.so", PINSource: "file:/run/pin"},
		},
		{
			name: "empty path matches everything",
			in:   "pkcs11:",
		},
		{
			name:      "empty query",
			in:        "pkcs11:?",
			canonical: "pkcs11:",
		},
		{
			name:      "scheme is case-insensitive",
			in:        "PKCS11:token=alice",
			want:      pkcs11.URI{Token: "alice"},
			canonical: "pkcs11:token=alice",
		},
		{
			name: "rfc 7512: public key",
			in:   "pkcs11:object=my-pubkey;type=public",
			want: pkcs11.URI{Object: "my-pubkey", Type: "public"},
		},
		{
			name: "rfc 7512: private key with pin-source",
			in:   "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
			want: pkcs11.URI{Object: "my-key", Type: "private", PINSource: "file:/etc/token"},
		},
		{
			// The RFC's example carries "serial=", which ParseURI refuses
			// (see TestParseURIErrors); without it the example parses.
			name: "rfc 7512: certificate, without the empty serial",
			in:   "pkcs11:token=The%20Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91?pin-source=file:/etc/token_pin",
			want: pkcs11.URI{
				Token:        "The Software PKCS#11 softtoken",
				Manufacturer: "Snake Oil, Inc.",
				Model:        "1.0",
				Object:       "my-certificate",
				Type:         "cert",
				ID:           []byte{0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91},
				PINSource:    "file:/etc/token_pin",
			},
		},
		{
			name: "rfc 7512: module-name",
			in:   "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
			want: pkcs11.URI{Object: "my-sign-key", Type: "private", ModuleName: "mypkcs11"},
		},
		{
			name: "rfc 7512: module-path",
			in:   "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
			want: pkcs11.URI{Object: "my-sign-key", Type: "private", ModulePath: "/mnt/libmypkcs11.so.1"},
		},
		{
			name:      "rfc 7512: pin-value is parsed but never printed",
			in:        "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin",
			want:      pkcs11.URI{Token: "Software PKCS#11 softtoken", Manufacturer: "Snake Oil, Inc.", PINValue: "the-pin"},
			canonical: "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.",
		},
		{
			name: "rfc 7512: percent and semicolon in a label",
			in:   "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
			want: pkcs11.URI{Token: "A name with a substring %;", Object: "my-certificate", Type: "cert"},
		},
		{
			name: "rfc 7512: UTF-8 in a label",
			in:   "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
			want: pkcs11.URI{Token: "Name with a small A with acute: á", Object: "my-certificate", Type: "cert"},
		},
		{
			name:      "rfc 7512: vendor attributes are ignored",
			in:        "pkcs11:token=my-token;object=my-certificate;type=cert;x-vendor-aaa=value-a?pin-source=file:/etc/token_pin&x-vendor-bbb=value-b",
			want:      pkcs11.URI{Token: "my-token", Object: "my-certificate", Type: "cert", PINSource: "file:/etc/token_pin"},
			canonical: "pkcs11:token=my-token;object=my-certificate;type=cert?pin-source=file:/etc/token_pin",
		},
		{
			name:      "vendor attributes may repeat and hold anything",
			in:        "pkcs11:x-a=1;x-a=;token=t?x-b=%zz&x-b=",
			want:      pkcs11.URI{Token: "t"},
			canonical: "pkcs11:token=t",
		},
		{
			name: "slot-id zero",
			in:   "pkcs11:slot-id=0",
			want: pkcs11.URI{SlotID: uriTestSlot(0)},
		},
		{
			name:      "attributes come out in canonical order",
			in:        "pkcs11:id=%01;type=private;object=k;slot-id=007;serial=1a2b;model=m;manufacturer=SoftHSM%20project;token=t?pin-source=file:///run/pin&module-path=/lib/x.so",
			want:      pkcs11.URI{Token: "t", Manufacturer: "SoftHSM project", Model: "m", Serial: "1a2b", SlotID: uriTestSlot(7), Object: "k", Type: "private", ID: []byte{1}, ModulePath: "/lib/x.so", PINSource: "file:///run/pin"},
			canonical: "pkcs11:token=t;manufacturer=SoftHSM%20project;model=m;serial=1a2b;slot-id=7;object=k;type=private;id=%01?module-path=/lib/x.so&pin-source=file:///run/pin",
		},
		{
			name:      "lowercase hex and needless escapes are accepted",
			in:        "pkcs11:token=%61lice;id=%ba%dd",
			want:      pkcs11.URI{Token: "alice", ID: []byte{0xba, 0xdd}},
			canonical: "pkcs11:token=alice;id=%BA%DD",
		},
		{
			name:      "id is always written byte by byte",
			in:        "pkcs11:id=ab",
			want:      pkcs11.URI{ID: []byte("ab")},
			canonical: "pkcs11:id=%61%62",
		},
		{
			name: "characters RFC 7512 leaves unencoded",
			in:   "pkcs11:token=:[]@!$'()*+,=&-._~?module-path=/opt/:[]@!$'()*+,=/?|-._~",
			want: pkcs11.URI{Token: ":[]@!$'()*+,=&-._~", ModulePath: "/opt/:[]@!$'()*+,=/?|-._~"},
		},
		{
			name: "encoded ampersand in pin-source",
			in:   "pkcs11:token=t?pin-source=file:/run/a%26b",
			want: pkcs11.URI{Token: "t", PINSource: "file:/run/a&b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := pkcs11.ParseURI(tt.in)
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(*u, tt.want) {
				t.Errorf("ParseURI(%q) =\n  %#v\nwant\n  %#v", tt.in, uriTestFields(*u), uriTestFields(tt.want))
			}
			canonical := tt.canonical
			if canonical == "" {
				canonical = tt.in
			}
			if got := u.String(); got != canonical {
				t.Errorf("String() = %q, want %q", got, canonical)
			}
			uriTestRoundTrip(t, *u)
		})
	}
}

// uriTestFields shows every field, pin-value included, for failure output;
// %#v on a URI itself hides it.
func uriTestFields(u pkcs11.URI) string {
	slot := "nil"
	if u.SlotID != nil {
		slot = fmt.Sprint(*u.SlotID)
	}
	return fmt.Sprintf("{Token:%q Serial:%q Manufacturer:%q Model:%q Object:%q ID:%x(nil=%v) SlotID:%s Type:%q ModulePath:%q ModuleName:%q PINSource:%q PINValue:%q}",
		u.Token, u.Serial, u.Manufacturer, u.Model, u.Object, u.ID, u.ID == nil, slot, u.Type, u.ModulePath, u.ModuleName, u.PINSource, u.PINValue)
}

// uriTestRoundTrip checks that ParseURI(u.String()) gives u back, less its
// pin-value, and that the canonical form is a fixed point.
func uriTestRoundTrip(t *testing.T, u pkcs11.URI) {
	t.Helper()
	s := u.String()
	back, err := pkcs11.ParseURI(s)
	if err != nil {
		t.Fatalf("ParseURI(String()) with String() = %q: %v", s, err)
	}
	want := u
	want.PINValue = ""
	if !reflect.DeepEqual(*back, want) {
		t.Errorf("ParseURI(%q) =\n  %s\nwant\n  %s", s, uriTestFields(*back), uriTestFields(want))
	}
	if again := back.String(); again != s {
		t.Errorf("String() is not a fixed point: %q then %q", s, again)
	}
}

func TestURIStringEncodes(t *testing.T) {
	tests := []struct {
		u    pkcs11.URI
		want string
	}{
		{pkcs11.URI{}, "pkcs11:"},
		{
			pkcs11.URI{Token: "a/b;c?d#e%f g", Object: "ключ"},
			"pkcs11:token=a%2Fb%3Bc%3Fd%23e%25f%20g;object=%D0%BA%D0%BB%D1%8E%D1%87",
		},
		{
			pkcs11.URI{ModulePath: "/opt/my lib;v1&2#.so", PINSource: "file:/run/p&q"},
			"pkcs11:?module-path=/opt/my%20lib%3Bv1%262%23.so&pin-source=file:/run/p%26q",
		},
		{pkcs11.URI{ModuleName: "softhsm2", PINValue: "1234"}, "pkcs11:?module-name=softhsm2"},
		{pkcs11.URI{Token: "t", PINValue: "1234"}, "pkcs11:token=t"},
		{pkcs11.URI{Serial: "1", SlotID: uriTestSlot(42), ID: []byte{}}, "pkcs11:serial=1;slot-id=42"},
	}
	for _, tt := range tests {
		if got := tt.u.String(); got != tt.want {
			t.Errorf("%s.String() = %q, want %q", uriTestFields(tt.u), got, tt.want)
		}
		u := tt.u
		if len(u.ID) == 0 {
			u.ID = nil // an empty ID is not written, so it comes back nil
		}
		uriTestRoundTrip(t, u)
	}
}

func TestURIRoundTripEveryByte(t *testing.T) {
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	var noSlash []byte
	for _, c := range all {
		if c != '/' && c != '\\' {
			noSlash = append(noSlash, c)
		}
	}
	uriTestRoundTrip(t, pkcs11.URI{
		Token: string(all), Serial: string(all), Manufacturer: string(all), Model: string(all), Object: string(all),
		ID: all, SlotID: uriTestSlot(^uint(0)), Type: "secret-key",
		ModulePath: "/" + string(all), PINSource: "file:/" + string(all), PINValue: string(all),
	})
	uriTestRoundTrip(t, pkcs11.URI{ModuleName: string(noSlash), PINValue: "x"})
}

func TestURIHasPIN(t *testing.T) {
	for in, want := range map[string]bool{
		"pkcs11:token=a":                         false,
		"pkcs11:token=a?module-path=/x.so":       false,
		"pkcs11:token=a?pin-value=1234":          true,
		"pkcs11:token=a?pin-source=file:/run/pn": true,
	} {
		u, err := pkcs11.ParseURI(in)
		if err != nil {
			t.Fatalf("ParseURI(%q): %v", in, err)
		}
		if got := u.HasPIN(); got != want {
			t.Errorf("ParseURI(%q).HasPIN() = %v, want %v", in, got, want)
		}
	}
}

func TestParseURIErrors(t *testing.T) {
	const (
		pathKnown  = "(known: token, manufacturer, model, serial, slot-id, object, type, id)"
		queryKnown = "(known: module-path, module-name, pin-source, pin-value)"
	)
	tests := []struct {
		in   string
		msg  string // the whole Error()
		hint string // checked when not empty
	}{
		{"", `invalid PKCS#11 URI: empty address`, uriTestHint},
		{"token=alice", `invalid PKCS#11 URI: missing "pkcs11:" scheme`, uriTestHint},
		{"pkcs11", `invalid PKCS#11 URI: missing "pkcs11:" scheme`, uriTestHint},
		{"pkcs11token=alice", `invalid PKCS#11 URI: missing "pkcs11:" scheme`, uriTestHint},
		{" pkcs11:token=alice", `invalid PKCS#11 URI: missing "pkcs11:" scheme`, uriTestHint},
		{"yubikey:serial=12345678;slot-id=9c", `invalid PKCS#11 URI: scheme "yubikey:" is not "pkcs11:"`, "a yubikey: address is for the PIV backend; PKCS#11 " + uriTestHint},
		{"file:/run/pin", `invalid PKCS#11 URI: scheme "file:" is not "pkcs11:"`, uriTestHint},
		{"pkcs11://token=alice", `invalid PKCS#11 URI: "pkcs11:" is not followed by "//"`, uriTestHint},
		{"pkcs11:token=PKCS#11", `invalid PKCS#11 URI: unexpected "#": a PKCS#11 URI has no fragment`, `write a "#" inside a value as %23, e.g. token=PKCS%2311%20token`},

		// Structure.
		{"pkcs11:token=a;;object=b", `invalid PKCS#11 URI: empty path attribute (stray ";")`, ""},
		{"pkcs11:token=a;", `invalid PKCS#11 URI: empty path attribute (stray ";")`, ""},
		{"pkcs11:alice", `invalid PKCS#11 URI: attribute "alice" has no "=" (expected name=value)`, uriTestHint},
		{"pkcs11:token", `invalid PKCS#11 URI: attribute "token" has no "=" (expected name=value)`, uriTestHint},
		{"pkcs11:=alice", `invalid PKCS#11 URI: attribute with an empty name`, uriTestHint},
		{"pkcs11:token=a?module-path=/x.so&", `invalid PKCS#11 URI: empty query attribute (stray "&")`, ""},
		{"pkcs11:token=a?module-path", `invalid PKCS#11 URI: attribute "module-path" has no "=" (expected name=value)`, uriTestHint},
		{"pkcs11:token=a?softhsm", `invalid PKCS#11 URI: query attribute 1 has no "=" (expected name=value; not shown: it may hold a PIN)`, uriTestHint},
		{"pkcs11:token=a?=x", `invalid PKCS#11 URI: attribute with an empty name`, uriTestHint},

		// Names.
		{"pkcs11:tokn=alice", `invalid PKCS#11 URI: unknown attribute "tokn" ` + pathKnown, `did you mean "token"?`},
		{"pkcs11:Token=alice", `invalid PKCS#11 URI: unknown attribute "Token" ` + pathKnown, `did you mean "token"?`},
		{"pkcs11:label=alice", `invalid PKCS#11 URI: unknown attribute "label" ` + pathKnown, ""},
		{"pkcs11:x-=1", `invalid PKCS#11 URI: unknown attribute "x-" ` + pathKnown, ""},
		{"pkcs11:token=a?modul-path=/x.so", `invalid PKCS#11 URI: unknown attribute "modul-path" ` + queryKnown, `did you mean "module-path"?`},
		{"pkcs11:token=a?pin=1234", `invalid PKCS#11 URI: unknown attribute "pin" ` + queryKnown, ""},
		{"pkcs11:module-path=/x.so", `invalid PKCS#11 URI: attribute "module-path" belongs in the query, after "?"`, uriTestHint},
		{"pkcs11:token=a;pin-value=1234", `invalid PKCS#11 URI: attribute "pin-value" belongs in the query, after "?"`, uriTestHint},
		{"pkcs11:?token=alice", `invalid PKCS#11 URI: attribute "token" belongs in the path, before "?"`, uriTestHint},
		{"pkcs11:token=a;token=b", `invalid PKCS#11 URI: duplicate attribute "token"`, ""},
		{"pkcs11:?pin-source=file:/a&pin-source=file:/b", `invalid PKCS#11 URI: duplicate attribute "pin-source"`, ""},

		// Attributes RFC 7512 defines that tuf-ceremony does not match on.
		{"pkcs11:library-version=1.23", `invalid PKCS#11 URI: attribute "library-version" is not supported for matching`, "remove it; choose the module with module-path or module-name"},
		{"pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23", `invalid PKCS#11 URI: attribute "library-manufacturer" is not supported for matching`, ""},
		{"pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ca%fe%04%05%06", `invalid PKCS#11 URI: attribute "library-version" is not supported for matching`, ""},
		{"pkcs11:slot-description=Sun%20Metaslot", `invalid PKCS#11 URI: attribute "slot-description" is not supported for matching`, "remove it; select the token with token, serial, manufacturer, model or slot-id"},
		{"pkcs11:token=a?slot-manufacturer=x", `invalid PKCS#11 URI: attribute "slot-manufacturer" is not supported for matching`, ""},

		// Empty values.
		{"pkcs11:token=", `invalid PKCS#11 URI: empty value for "token"`, "give a value, or leave token out to match any"},
		{
			"pkcs11:token=The%20Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin",
			`invalid PKCS#11 URI: empty value for "serial"`, "give a value, or leave serial out to match any",
		},
		{"pkcs11:id=", `invalid PKCS#11 URI: empty value for "id"`, ""},
		{"pkcs11:?pin-value=", `invalid PKCS#11 URI: empty value for "pin-value"`, ""},
		{"pkcs11:?pin-source=", `invalid PKCS#11 URI: empty value for "pin-source"`, ""},
		{"pkcs11:?module-path=", `invalid PKCS#11 URI: empty value for "module-path"`, ""},

		// Encoding.
		{"pkcs11:token=a%2", `invalid PKCS#11 URI: invalid percent-encoding "%2" in "token"`, `write a literal "%" as %25`},
		{"pkcs11:token=a%zz", `invalid PKCS#11 URI: invalid percent-encoding "%zz" in "token"`, ""},
		{"pkcs11:token=100%", `invalid PKCS#11 URI: invalid percent-encoding "%" in "token"`, ""},
		{"pkcs11:token=my token", `invalid PKCS#11 URI: space in "token" must be percent-encoded as %20`, ""},
		{"pkcs11:object=keys/root", `invalid PKCS#11 URI: character "/" in "object" must be percent-encoded as %2F`, ""},
		{"pkcs11:token=a\"b", `invalid PKCS#11 URI: character "\"" in "token" must be percent-encoded as %22`, ""},
		{"pkcs11:token=alice\n", `invalid PKCS#11 URI: byte 0x0A in "token" must be percent-encoded as %0A`, ""},
		{"pkcs11:token=é", `invalid PKCS#11 URI: byte 0xC3 in "token" must be percent-encoded as %C3`, `percent-encode each UTF-8 byte, e.g. "é" as %C3%A9`},
		{"pkcs11:token=a?module-path=/x.so;pin-source=file:/p", `invalid PKCS#11 URI: character ";" in "module-path" must be percent-encoded as %3B`, `query attributes are separated by "&", not ";"`},
		{"pkcs11:token=a?module-path=/x.so|y.so&module-name=z", `invalid PKCS#11 URI: module-path and module-name cannot be used together`, ""},

		// Values.
		{"pkcs11:slot-id=-1", `invalid PKCS#11 URI: slot-id must be a non-negative decimal number, not "-1"`, ""},
		{"pkcs11:slot-id=+1", `invalid PKCS#11 URI: slot-id must be a non-negative decimal number, not "+1"`, ""},
		{"pkcs11:slot-id=0x1", `invalid PKCS#11 URI: slot-id must be a non-negative decimal number, not "0x1"`, ""},
		{"pkcs11:slot-id=99999999999999999999999", `invalid PKCS#11 URI: slot-id "99999999999999999999999" is too large`, ""},
		{"pkcs11:type=key", `invalid PKCS#11 URI: type must be one of public, private, cert, secret-key, data, not "key"`, ""},
		{"pkcs11:type=PRIVATE", `invalid PKCS#11 URI: type must be one of public, private, cert, secret-key, data, not "PRIVATE"`, ""},
		{"pkcs11:token=a?module-path=libsofthsm2.so", `invalid PKCS#11 URI: module-path must be an absolute path, not "libsofthsm2.so"`, "e.g. module-path=/usr/lib/softhsm/libsofthsm2.so, or module-name=softhsm2 to search the usual places"},
		{"pkcs11:token=a?module-name=/usr/lib/x.so", `invalid PKCS#11 URI: module-name must be a library name without a directory, not "/usr/lib/x.so"`, "use module-path for a path"},
		{"pkcs11:token=a?module-path=/x.so&module-name=softhsm2", `invalid PKCS#11 URI: module-path and module-name cannot be used together`, "keep module-path, the more precise of the two"},
		{"pkcs11:token=a?pin-source=file:/p&pin-value=1234", `invalid PKCS#11 URI: pin-source and pin-value cannot be used together`, "keep one of them, or neither to be asked for the PIN"},

		// A query segment after pin-value may be the rest of the PIN.
		{"pkcs11:token=a?pin-value=12&34", `invalid PKCS#11 URI: query attribute 2, after pin-value, is malformed (not shown: it may be part of the PIN)`, `write a "&" inside a PIN as %26, or use pin-source=file:/path`},
		{"pkcs11:token=a?pin-value=12&34=56", `invalid PKCS#11 URI: query attribute 2, after pin-value, is malformed (not shown: it may be part of the PIN)`, ""},
		{"pkcs11:token=a?pin-value=12&", `invalid PKCS#11 URI: query attribute 2, after pin-value, is malformed (not shown: it may be part of the PIN)`, ""},
		{"pkcs11:token=a?pin-value=12%zz", `invalid PKCS#11 URI: invalid percent-encoding in "pin-value"`, `write a literal "%" as %25`},
		{"pkcs11:token=a?pin-value=12;34", `invalid PKCS#11 URI: "pin-value" contains a character that must be percent-encoded`, `write each byte that is not a letter, a digit or one of -._~ as %XX, e.g. a space as %20`},
	}
	for _, tt := range tests {
		u, err := pkcs11.ParseURI(tt.in)
		if err == nil {
			t.Errorf("ParseURI(%q) = %s, want error %q", tt.in, uriTestFields(*u), tt.msg)
			continue
		}
		if u != nil {
			t.Errorf("ParseURI(%q) returned a URI with its error", tt.in)
		}
		var ue *pkcs11.URIError
		if !errors.As(err, &ue) {
			t.Errorf("ParseURI(%q) error is %T, want *pkcs11.URIError", tt.in, err)
			continue
		}
		if got := err.Error(); got != tt.msg {
			t.Errorf("ParseURI(%q) error\n  %s\nwant\n  %s", tt.in, got, tt.msg)
		}
		if tt.hint != "" && ue.Hint != tt.hint {
			t.Errorf("ParseURI(%q) hint\n  %s\nwant\n  %s", tt.in, ue.Hint, tt.hint)
		}
		if strings.HasSuffix(ue.Msg, ".") || ue.Msg == "" || strings.ToLower(ue.Msg[:1]) != ue.Msg[:1] {
			t.Errorf("ParseURI(%q) message %q: want lowercase, no trailing period", tt.in, ue.Msg)
		}
	}
}

// TestURINeverShowsPINValue feeds URIs that carry pin-value=SECRET123 (or
// a PIN with an unencoded "&") together with a mistake elsewhere, and
// checks that the PIN is in no error, hint or printed form.
func TestURINeverShowsPINValue(t *testing.T) {
	const pin = "SECRET123"
	bad := []string{
		"pkcs11:tokn=a?pin-value=" + pin,
		"pkcs11:token=a;;object=b?pin-value=" + pin,
		"pkcs11:slot-id=x?pin-value=" + pin,
		"pkcs11:token=a%zz?pin-value=" + pin,
		"pkcs11:token=a?pin-value=" + pin + "&module-path=relative.so",
		"pkcs11:token=a?pin-value=" + pin + "&pin-source=file:/run/pin",
		"pkcs11:token=a?pin-value=" + pin + "&pin-value=" + pin,
		"pkcs11:token=a?pin-value=" + pin + "&tokn=x",
		"pkcs11:token=a?pin-value=" + pin + "&",
		"pkcs11:token=a?pin-value=" + pin + "&modul-path=/x.so",
		"pkcs11:token=a?module-path=/x.so&pin-value=" + pin + "&module-name=x",
		"pkcs11:token=a?pin-value=" + pin + "#frag",
		"pkcs11:token=a?pin-value=" + pin + "%",
		"pkcs11:token=a?pin-value=" + pin + "%zz",
		"pkcs11:token=a?pin-value=" + pin + "%4",
		"pkcs11:token=a?pin-value=" + pin + " ",
		"pkcs11:token=a?pin-value=" + pin + ";x",
		"pkcs11:token=a?pin-value=" + pin + "é",
		"pkcs11:token=a?pin-value=" + pin + "\n",
		"pkcs11:token=a?pin-value" + pin,
		"pkcs11:token=a?pin-value:" + pin,
		"pkcs11:token=a?" + pin,
		"pkcs11:pin-value=" + pin,
		"pkcs11:token=a;pin-value=" + pin,
		"pin-value=" + pin,
		"pkcs11://?pin-value=" + pin,
		"yubikey:serial=1?pin-value=" + pin,
		// A PIN holding an unencoded "&": its second half must not show.
		"pkcs11:token=a?pin-value=SECRET&123XYZ",
		"pkcs11:token=a?pin-value=SECRET&123XYZ=1",
		"pkcs11:token=a?pin-value=SECRET&x-123XYZ&tokn",
	}
	for _, in := range bad {
		u, err := pkcs11.ParseURI(in)
		if err == nil {
			t.Errorf("ParseURI(%q) = %s, want an error", in, uriTestFields(*u))
			continue
		}
		var ue *pkcs11.URIError
		if !errors.As(err, &ue) {
			t.Fatalf("ParseURI(%q) error is %T", in, err)
		}
		shown := strings.Join([]string{err.Error(), ue.Hint, fmt.Sprintf("%v %+v %#v", err, err, err)}, "\n")
		for _, secret := range []string{"SECRET", "123XYZ"} {
			if strings.Contains(shown, secret) {
				t.Errorf("ParseURI(%q): error shows the PIN:\n%s", in, shown)
			}
		}
	}

	// Not even the one bad character or escape of a PIN is shown.
	for in, secret := range map[string]string{
		"pkcs11:?pin-value=ab%G7":    "G7",
		"pkcs11:?pin-value=ab%7":     "%7",
		"pkcs11:?pin-value=ab<":      "<",
		"pkcs11:?pin-value=ab\x01cd": "0x01",
		"pkcs11:?pin-value=ab;cd":    ";",
	} {
		_, err := pkcs11.ParseURI(in)
		if err == nil {
			t.Errorf("ParseURI(%q): no error", in)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("ParseURI(%q): error shows part of the PIN: %v", in, err)
		}
	}

	u, err := pkcs11.ParseURI("pkcs11:token=alice;object=root-alice?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=" + pin)
	if err != nil {
		t.Fatal(err)
	}
	if u.PINValue != pin {
		t.Fatalf("PINValue = %q, want %q", u.PINValue, pin)
	}
	js, err := json.Marshal(struct {
		P *pkcs11.URI
		V pkcs11.URI
	}{u, *u})
	if err != nil {
		t.Fatal(err)
	}
	printed := map[string]string{
		"String()":      u.String(),
		"%v":            fmt.Sprintf("%v", u),
		"%+v":           fmt.Sprintf("%+v", u),
		"%#v":           fmt.Sprintf("%#v", u),
		"%s":            fmt.Sprintf("%s", u),
		"%q":            fmt.Sprintf("%q", u),
		"%d":            fmt.Sprintf("%d", u),
		"%x":            fmt.Sprintf("%x", u),
		"value %v":      fmt.Sprintf("%v", *u),
		"value %+v":     fmt.Sprintf("%+v", *u),
		"value %#v":     fmt.Sprintf("%#v", *u),
		"value %d":      fmt.Sprintf("%d", *u),
		"in a struct":   fmt.Sprintf("%+v", struct{ U pkcs11.URI }{*u}),
		"in a slice":    fmt.Sprint([]*pkcs11.URI{u}),
		"encoding/json": string(js),
	}
	for how, s := range printed {
		if strings.Contains(s, pin) {
			t.Errorf("%s shows the PIN: %s", how, s)
		}
	}
	const want = "pkcs11:token=alice;object=root-alice?module-path=/usr/lib/softhsm/libsofthsm2.so"
	if printed["String()"] != want || printed["%v"] != want {
		t.Errorf("String() = %q, %%v = %q, want %q", printed["String()"], printed["%v"], want)
	}
	if got, want := printed["%#v"], `pkcs11.URI("`+want+`" + pin-value [redacted])`; got != want {
		t.Errorf("%%#v = %s, want %s", got, want)
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:",
		"pkcs11:token=alice;object=root-alice?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
		"pkcs11:token=The%20Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91?pin-source=file:/etc/token_pin",
		"pkcs11:slot-id=7;type=private;x-a=b?pin-value=1234&module-name=softhsm2",
		"pkcs11:token=:[]@!$'()*+,=&-._~?module-path=/opt/:[]@!$'()*+,=/?|-._~",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := pkcs11.ParseURI(s)
		if err != nil {
			var ue *pkcs11.URIError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseURI(%q) error is %T", s, err)
			}
			return
		}
		uriTestRoundTrip(t, *u)
	})
}
