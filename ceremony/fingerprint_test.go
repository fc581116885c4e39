package ceremony

import (
	"encoding/hex"
	"strings"
	"testing"
)

// The PGP word list was checked against Philip Zimmermann's libzrtp
// (src/zrtp_crypto_sas.c), IANA's DNSSEC key ceremony tools
// (dnssec-keytools-legacy common/sha2wordlist.h) and magic-wormhole
// (src/wormhole/_wordlist.py): all 512 words agree. Some copies in the wild
// differ (0x17 even "basalt", a "dosage" inserted after "dogsled"): those
// are corrupt, and these pins catch a table pasted from one of them.
func TestFingerprintWordListEntries(t *testing.T) {
	tests := []struct {
		b         byte
		even, odd string
	}{
		{0x00, "aardvark", "adroitness"},
		{0x01, "absurd", "adviser"},
		{0x17, "banjo", "bookseller"},
		{0x20, "bison", "butterfat"},
		{0x29, "breakup", "certify"},
		{0x38, "classic", "consulting"},
		{0x47, "dashboard", "determine"},
		{0x4a, "dogsled", "direction"},
		{0x4b, "dragnet", "disable"},
		{0x6b, "glitter", "Hamilton"},
		{0x7f, "lockup", "integrate"},
		{0x80, "merit", "intention"},
		{0x9e, "quiver", "onlooker"},
		{0xd2, "standard", "sensation"},
		{0xfe, "woodlark", "yesteryear"},
		{0xff, "Zulu", "Yucatan"},
	}
	for _, tt := range tests {
		if got := pgpEvenWords[tt.b]; got != tt.even {
			t.Errorf("even %#02x = %q, want %q", tt.b, got, tt.even)
		}
		if got := pgpOddWords[tt.b]; got != tt.odd {
			t.Errorf("odd %#02x = %q, want %q", tt.b, got, tt.odd)
		}
	}
}

func TestFingerprintWordListDistinct(t *testing.T) {
	seen := map[string]string{}
	for i := range 256 {
		for _, w := range []struct{ list, word string }{{"even", pgpEvenWords[i]}, {"odd", pgpOddWords[i]}} {
			if w.word == "" || strings.TrimSpace(w.word) != w.word || strings.Contains(w.word, " ") {
				t.Errorf("%s %#02x = %q", w.list, i, w.word)
			}
			key := strings.ToLower(w.word)
			where := w.list + " " + hex.EncodeToString([]byte{byte(i)})
			if prev, ok := seen[key]; ok {
				t.Errorf("%q is both %s and %s", w.word, prev, where)
			}
			seen[key] = where
		}
	}
	if len(seen) != 512 {
		t.Errorf("%d distinct words, want 512", len(seen))
	}
}

// Known encodings published with other implementations.
func TestFingerprintPGPWords(t *testing.T) {
	tests := []struct{ hex, words string }{
		// Wikipedia's example fingerprint.
		{"e58294f2e9a227486e8b061b31cc528fd7fa3f19", "topmost Istanbul Pluto vagabond treadmill Pacific brackish dictator goldfish Medusa afflict bravado chatter revolver Dupont midsummer stopwatch whimsical cowbell bottomless"},
		// Test vector of a PHP implementation.
		{"12b4b0057400076fa5c0f5cbf726ac65", "atlas politeness ruffled almighty indoors adroitness ahead hemisphere reindeer recipe vapor revival virus caretaker ribcage glossary"},
		// README of warrenguy/ruby-pgp-word-list.
		{"d1d464c004f00fb5c9a4c8d8e433e7fb7ff56256", "stairway souvenir flytrap recipe adrift upcoming artist positive spearhead Pandora spaniel stupendous tonic concurrent transit Wichita lockup visitor flagpole escapade"},
		{"", ""},
	}
	for _, tt := range tests {
		b, err := hex.DecodeString(tt.hex)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(PGPWords(b), " "); got != tt.words {
			t.Errorf("PGPWords(%s) =\n  %s\nwant\n  %s", tt.hex, got, tt.words)
		}
	}
}

func TestFingerprintOf(t *testing.T) {
	tests := []struct {
		payload string
		sha256  string
		str     string
	}{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			"e3b0 c442 98fc 1c14 (tissue phonetic snowslide December printer Wilmington befriend belowground)"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			"ba78 16bf 8f01 cfea (shadow indigo backward rebellion payday adviser stagehand undaunted)"},
	}
	for _, tt := range tests {
		f := FingerprintOf([]byte(tt.payload))
		if f.SHA256 != tt.sha256 {
			t.Errorf("FingerprintOf(%q).SHA256 = %s, want %s", tt.payload, f.SHA256, tt.sha256)
		}
		if got := f.String(); got != tt.str {
			t.Errorf("FingerprintOf(%q).String() =\n  %s\nwant\n  %s", tt.payload, got, tt.str)
		}
		if len(f.Words) != FingerprintBytes || f.Short != tt.str[:19] {
			t.Errorf("FingerprintOf(%q) = %+v", tt.payload, f)
		}
	}
	// One bit changed anywhere changes what is read aloud.
	a, b := FingerprintOf([]byte("version 1")), FingerprintOf([]byte("version 2"))
	if a.Short == b.Short || strings.Join(a.Words, " ") == strings.Join(b.Words, " ") {
		t.Errorf("different payloads, same fingerprint: %s", a)
	}
}
