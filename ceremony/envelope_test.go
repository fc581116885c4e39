package ceremony

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// marshalIndentEnvelope is what Envelope.Marshal wrote before it wrote
// field by field: it must write the same bytes.
func marshalIndentEnvelope(e *Envelope) ([]byte, error) {
	sigs := e.Signatures
	if sigs == nil {
		sigs = []metadata.Signature{}
	}
	top := map[string]any{"signed": e.Signed, "signatures": sigs}
	for k, v := range e.extra {
		top[k] = v
	}
	b, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// parseWithDecoder is what ParseEnvelope did before it used
// json.Unmarshal: it must accept and reject the same files.
func parseWithDecoder(data []byte) error {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&top); err != nil {
		return err
	}
	if err := dec.Decode(new(json.RawMessage)); err != io.EOF {
		return errors.New("data after the metadata object")
	}
	return nil
}

func checkEnvelope(t *testing.T, data []byte) {
	t.Helper()
	env, err := ParseEnvelope(data)
	if derr := parseWithDecoder(data); derr != nil && err == nil {
		t.Fatalf("%q: accepted; the decoder rejects it: %v", data, derr)
	}
	if err != nil {
		return
	}
	want, werr := marshalIndentEnvelope(env)
	got, gerr := env.Marshal()
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: Marshal error %v, MarshalIndent's %v", data, gerr, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%q:\n got %q\nwant %q", data, got, want)
	}
}

func FuzzEnvelopeMarshal(f *testing.F) {
	f.Add([]byte(`{"signed":{"a":"<&>\u2028"},"signatures":[],"x-extra":{"b":"&"},"a":[1, 2]}`))
	f.Add([]byte(`{"signatures":[{"keyid":"k","sig":"00","z":"<"}],"signed":{"b":[{},[]],"a":null}}`))
	f.Add([]byte(`{"signatures":[],"signed":{}} x`))
	f.Add([]byte(`{"a":["<", {"b": "\u2028 &"}, [], {}], "c": "\"x\\"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkEnvelope(t, data)
		if json.Valid(data) && bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
			checkEnvelope(t, append(append([]byte(`{"signatures":[],"signed":`), data...), '}'))
		}
	})
}

func TestEnvelopeMarshalOnTestdata(t *testing.T) {
	var files []string
	for _, pat := range []string{"../testdata/*/*/*.json", "../testdata/*/*.json", "testdata/*/*.json", "testdata/*/*/*.json"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkEnvelope(t, data)
	}
}
