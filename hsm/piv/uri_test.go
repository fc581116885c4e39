package piv

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want URI
		str  string
	}{
		{"yubikey:", URI{}, "yubikey:"},
		{"yubikey:serial=12345678;slot-id=9c", URI{Serial: "12345678", Slot: 0x9c}, "yubikey:serial=12345678;slot-id=9c"},
		{"YubiKey:slot-id=9A;serial=7", URI{Serial: "7", Slot: 0x9a}, "yubikey:serial=7;slot-id=9a"},
		{"yubikey:serial=007", URI{Serial: "7"}, "yubikey:serial=7"},
		{"yubikey:slot-id=82", URI{Slot: 0x82}, "yubikey:slot-id=82"},
		{"yubikey:slot-id=0x95", URI{Slot: 0x95}, "yubikey:slot-id=95"},
		{"yubikey:serial=1?pin-source=file:/run/a%20b.pin", URI{Serial: "1", PINSource: "file:/run/a b.pin"}, "yubikey:serial=1?pin-source=file:/run/a%20b.pin"},
		{"yubikey:serial=1?pin-value=12%2634", URI{Serial: "1", PINValue: "12&34"}, "yubikey:serial=1"},
		{"yubikey:serial=1;x-vendor=1?x-other=2", URI{Serial: "1"}, "yubikey:serial=1"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseURI(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if *u != tc.want {
				t.Errorf("got %#v, want %#v", *u, tc.want)
			}
			if s := u.String(); s != tc.str {
				t.Errorf("String() = %q, want %q", s, tc.str)
			}
			back, err := ParseURI(u.String())
			if err != nil {
				t.Fatal(err)
			}
			tc.want.PINValue = ""
			if *back != tc.want {
				t.Errorf("round trip %#v, want %#v", *back, tc.want)
			}
		})
	}
}

func TestParseURIErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg, hint string }{
		{"", "empty address", "yubikey:serial="},
		{"pkcs11:token=a", `scheme "pkcs11:" is not "yubikey:"`, "PKCS#11"},
		{"ykey", `missing "yubikey:" scheme`, ""},
		{"yubikey://x", `not followed by "//"`, ""},
		{"yubikey:serial=abc", `serial must be the decimal serial number printed on the YubiKey, not "abc"`, ""},
		{"yubikey:serial=99999999999", "too large", ""},
		{"yubikey:serial=", `empty value for "serial"`, ""},
		{"yubikey:serial=1;serial=2", `duplicate attribute "serial"`, ""},
		{"yubikey:slot-id=9b", "slot-id 9b is the management key", "two hex digits"},
		{"yubikey:slot-id=f9", "attestation key", ""},
		{"yubikey:slot-id=a0", "slot-id a0 is not a PIV key slot", ""},
		{"yubikey:slot-id=9", `slot-id "9" is not two hex digits`, ""},
		{"yubikey:slot=9c", `unknown attribute "slot"`, `did you mean "slot-id"?`},
		{"yubikey:serial", `attribute "serial" has no "="`, ""},
		{"yubikey:serial=1;", `empty attribute (stray ";")`, ""},
		{"yubikey:pin-value=123456", `attribute "pin-value" belongs in the query`, ""},
		{"yubikey:?serial=1", `attribute "serial" belongs in the path`, ""},
		{"yubikey:serial=1?management-key=010203", `"management-key" is not accepted`, "token setup"},
		{"yubikey:serial=1?pin-source=file:/a&pin-value=123456", "pin-source and pin-value cannot be used together", ""},
		{"yubikey:?pin-value=", `empty value for "pin-value"`, ""},
		{"yubikey:?foo=1", `unknown attribute "foo"`, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseURI(tc.in)
			var ue *URIError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want *URIError", err)
			}
			if !strings.HasPrefix(err.Error(), "invalid YubiKey URI: ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %q, want it to contain %q", err, tc.msg)
			}
			if h := strings.Join(ue.Hints(), "\n"); !strings.Contains(h, tc.hint) {
				t.Errorf("hints = %q, want %q", h, tc.hint)
			}
		})
	}
}

// A pin-value never appears in an error or in a printed URI.
func TestURINeverShowsPINValue(t *testing.T) {
	const secret = "S3cr3tPIN"
	for _, in := range []string{
		"yubikey:serial=1?pin-value=" + secret + "&garbage",
		"yubikey:serial=1?pin-value=" + secret + "%zz",
		"yubikey:serial=1?pin-value=" + secret + "&pin-value=" + secret,
		"yubikey:serial=1?pin-value=" + secret + "&pin-source=file:/x",
		"yubikey:serial=1?pin-value=" + secret + "&" + secret,
	} {
		_, err := ParseURI(in)
		if err == nil {
			t.Fatalf("%s: no error", in)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%+v", err), secret) {
			t.Errorf("error shows the PIN: %v", err)
		}
	}
	u, err := ParseURI("yubikey:serial=1?pin-value=" + secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{u.String(), fmt.Sprint(u), fmt.Sprintf("%v %+v %#v %s %q", *u, *u, *u, *u, *u)} {
		if strings.Contains(s, secret) {
			t.Errorf("printed URI shows the PIN: %s", s)
		}
	}
}
