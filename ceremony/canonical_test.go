package ceremony

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
)

// checkCanonical: canonicalJSON writes what securesystemslib's cjson
// writes, byte for byte, and fails where and as it fails.
func checkCanonical(t *testing.T, src []byte) {
	t.Helper()
	want, werr := cjson.EncodeCanonical(json.RawMessage(src))
	got, gerr := canonicalJSON(src)
	if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
		t.Fatalf("%q: error %v, cjson's %v", src, gerr, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%q:\n got %q\nwant %q", src, got, want)
	}
}

var canonicalSeeds = []string{
	`{}`, `[]`, `null`, `true`, ` {"b":1,"a":[1,2,{"z":null,"y":false}]} `,
	`{"a":1,"a":2}`, `{"a":{"x":1},"b":"q\"\\/\b\f\n\r\tz","a":[3]}`,
	`"\ud83d\ude00 \ud83d x \ude00 \u00e9 \u0000"`, "\"\xff\xfe ok \xc3\xa9\"",
	`1.5`, `{"a":1e3}`, `{"a":-0}`, `{"a":99999999999999999999}`, `{"a":-9223372036854775808}`,
	`{"é":1,"e":2,"E":3,"":4}`, `[1,[2,[3,[4,{}]]],"x"]`, `{"a" : [ 1 , 2 ] , "b" : { } }`,
	`{"k":"\u005c\u0022"}`, `{"\u0061":1,"a":2}`, `{"a\u0000b":1,"a":2}`, `{"a":{"b":{"c":{"d":[{"e":"f"}]}}}}`,
	`{bad`, ``, `{"a":1}x`, `{"a":1.0}`, `{"b":2.5,"a":1.5}`,
}

func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) { checkCanonical(t, src) })
}

// Deep nesting is written as cjson writes it, and in linear time: the
// encoder hands it to cjson rather than rescanning each level.
func TestCanonicalJSONDeepNesting(t *testing.T) {
	for _, depth := range []int{maxCanonicalDepth, maxCanonicalDepth + 1, 5000} {
		src := `{"signed":` + strings.Repeat(`{"x":[`, depth) + `1` + strings.Repeat(`]}`, depth) + `}`
		if got := nestingDepth([]byte(src)); got != 2*depth+1 {
			t.Fatalf("nestingDepth = %d, want %d", got, 2*depth+1)
		}
		checkCanonical(t, []byte(src))
	}
	if got := nestingDepth([]byte(`{"a":"[[[{\"{"}`)); got != 1 {
		t.Fatalf("brackets in strings counted: depth %d", got)
	}
}

// Every metadata file of the test data, whole and its signed part.
func TestCanonicalJSONOnTestdata(t *testing.T) {
	var files []string
	for _, pat := range []string{"../testdata/*/*/*.json", "../testdata/*/*.json", "testdata/*/*.json", "testdata/*/*/*.json"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no test data")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkCanonical(t, data)
		var top map[string]json.RawMessage
		if json.Unmarshal(data, &top) == nil && top["signed"] != nil {
			checkCanonical(t, top["signed"])
		}
	}
}
