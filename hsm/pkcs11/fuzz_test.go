package pkcs11_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
)

// Fuzz targets for the token URI parser, beside FuzzParseURI (which
// parses arbitrary strings) in uri_test.go. Run one with
//
//	go test -run '^$' -fuzz '^FuzzURIFields$' -fuzztime 60s ./hsm/pkcs11

// fuzzURITypes are the values of "type", and "" for none.
var fuzzURITypes = []string{"", "public", "private", "cert", "secret-key", "data"}

// FuzzURIFields builds a URI from arbitrary field values: String must
// give a URI that ParseURI reads back as the same fields (less the
// pin-value, which String never writes), and String of that must be the
// same string; the only URIs ParseURI may refuse are those whose fields
// it never accepts (a relative module-path, a module-name with a
// directory, both module-path and module-name).
func FuzzURIFields(f *testing.F) {
	f.Add("alice", "", "", "", "root-alice", uint8(0), []byte(nil), false, uint(0), "/usr/lib/softhsm/libsofthsm2.so", "", "file:/run/pin", "")
	f.Add("The Software PKCS#11 softtoken", "Snake Oil, Inc.", "1.0", "8a6e", "my-certificate", uint8(3), []byte{0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91}, true, uint(7), "", "softhsm2", "", "1234")
	f.Add("a/b;c?d#e%f g", "", "", "", "ключ", uint8(2), []byte{0}, true, ^uint(0), "/opt/my lib;v1&2#.so", "", "file:/run/p&q", "p&w=d;%")
	f.Add(":[]@!$'()*+,=&-._~", "", "", "", "", uint8(0), []byte{}, false, uint(0), "/opt/:[]@!$'()*+,=/?|-._~", "", "", "")
	f.Fuzz(func(t *testing.T, token, manufacturer, model, serial, object string, typ uint8, id []byte, hasSlot bool, slot uint, modulePath, moduleName, pinSource, pinValue string) {
		u := pkcs11.URI{
			Token: token, Manufacturer: manufacturer, Model: model, Serial: serial, Object: object,
			Type: fuzzURITypes[int(typ)%len(fuzzURITypes)], ID: id,
			ModulePath: modulePath, ModuleName: moduleName, PINSource: pinSource, PINValue: pinValue,
		}
		if hasSlot {
			u.SlotID = &slot
		}
		s := u.String()
		if pinValue != "" && strings.Contains(s, "pin-value") {
			t.Fatalf("String() writes the pin-value: %q", s)
		}
		back, err := pkcs11.ParseURI(s)
		refusable := modulePath != "" && !filepath.IsAbs(modulePath) ||
			strings.ContainsAny(moduleName, `/\`) ||
			modulePath != "" && moduleName != ""
		if err != nil {
			var ue *pkcs11.URIError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseURI(%q): error of type %T: %v", s, err, err)
			}
			if !refusable {
				t.Fatalf("ParseURI(String()) with String() = %q: %v", s, err)
			}
			return
		}
		if refusable {
			t.Fatalf("ParseURI(%q) accepted fields it should refuse: %+v", s, back)
		}
		want := u
		want.PINValue = ""
		if len(want.ID) == 0 {
			want.ID = nil
		}
		if !reflect.DeepEqual(*back, want) {
			t.Fatalf("ParseURI(%q) =\n  %#v\nwant fields\n  token=%q manufacturer=%q model=%q serial=%q object=%q type=%q id=%x slot=%v module-path=%q module-name=%q pin-source=%q",
				s, *back, want.Token, want.Manufacturer, want.Model, want.Serial, want.Object, want.Type, want.ID, want.SlotID, want.ModulePath, want.ModuleName, want.PINSource)
		}
		if again := back.String(); again != s {
			t.Fatalf("String() is not a fixed point: %q then %q", s, again)
		}
	})
}

// FuzzURIPINValueNotShown parses URIs that carry a pin-value among
// arbitrary attributes: whether ParseURI accepts or refuses them, neither
// its error nor its hint nor String nor any fmt verb shows the PIN.
func FuzzURIPINValueNotShown(f *testing.F) {
	f.Add("token=alice", []byte("s3cr3t-pin"), "module-path=/usr/lib/softhsm/libsofthsm2.so")
	f.Add("token=alice;object=root", []byte("1234&5678"), "")
	f.Add("", []byte{0, 0xff, ' ', '%'}, "pin-source=file:/run/pin")
	f.Add("slot-id=1", []byte("PIN"), "x-vendor=1&&&")
	f.Add("token=a", []byte("abc"), "pin-value=again")
	f.Fuzz(func(t *testing.T, path string, pin []byte, rest string) {
		// The PIN as the marker of this run: long and distinctive enough
		// not to occur in any message by chance.
		secret := "Q9" + hex.EncodeToString(pin) + "Zx"
		for _, uri := range []string{
			"pkcs11:" + path + "?pin-value=" + secret + "&" + rest,
			"pkcs11:" + path + "?" + rest + "&pin-value=" + secret,
			"pkcs11:" + path + "?pin-value=" + secret + rest,
			"pkcs11:" + path + "?pin-value=" + secret + "%" + rest,
		} {
			if strings.Count(strings.ToLower(fuzzUnescape(uri)), strings.ToLower(secret)) != 1 {
				continue // the fuzzer wrote the PIN elsewhere too
			}
			u, err := pkcs11.ParseURI(uri)
			if err != nil {
				var ue *pkcs11.URIError
				if !errors.As(err, &ue) {
					t.Fatalf("error of type %T", err)
				}
				for what, s := range map[string]string{"error": ue.Error(), "hint": ue.Hint} {
					if strings.Contains(strings.ToLower(s), strings.ToLower(secret)) {
						t.Fatalf("the %s shows the pin-value of %q: %s", what, uri, s)
					}
				}
				continue
			}
			if u.PINValue == "" {
				// A later pin-value attribute is a duplicate, refused; a
				// malformed one refused: otherwise it was read.
				t.Fatalf("ParseURI(%q) lost the pin-value", uri)
			}
			for what, s := range map[string]string{
				"String()": u.String(), "%v": fmt.Sprintf("%v", *u), "%+v": fmt.Sprintf("%+v", u), "%#v": fmt.Sprintf("%#v", *u),
				"%s": fmt.Sprintf("%s", u), "%q": fmt.Sprintf("%q", *u), "%x": fmt.Sprintf("%x", *u),
			} {
				if strings.Contains(s, secret) {
					t.Fatalf("%s of the URI shows its pin-value: %s", what, s)
				}
			}
		}
	})
}

// fuzzUnescape percent-decodes s, leaving malformed escapes as they are.
func fuzzUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := hex.DecodeString(s[i+1 : i+3]); err == nil {
				b.WriteByte(v[0])
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
