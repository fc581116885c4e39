package ceremony

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Fuzz targets for what tuf-ceremony reads from media it does not trust:
// the transcript and metadata to import or verify. The plan parser has
// FuzzParsePlan in plan_test.go. Seeds are in testdata/fuzz/<FuzzName>/
// (a real rehearsal's transcript and metadata, and two pairs of
// Sigstore's public roots) besides those added here; run one with
//
//	go test -run '^$' -fuzz '^FuzzReadTranscript$' -fuzztime 60s ./ceremony
//
// Nothing may panic or hang, and huge inputs are refused within bounded
// memory (TestHugeInputsBounded).

// fuzzTranscript builds a valid transcript of the given events.
func fuzzTranscript(t testing.TB, events ...string) []byte {
	var es []Entry
	for i, ev := range events {
		es = append(es, Entry{Event: ev, Time: fixedNow().Add(time.Duration(i) * time.Second).UTC().Truncate(time.Second), Data: json.RawMessage(`{"n":` + fmt.Sprint(i) + `}`)})
	}
	out, err := appendTranscript(nil, es)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func FuzzReadTranscript(f *testing.F) {
	f.Add([]byte{})
	f.Add(fuzzTranscript(f, EventWorkspaceCreated))
	f.Add(fuzzTranscript(f, EventWorkspaceCreated, "key-generated", "signed", "published"))
	f.Add([]byte("{\"seq\":1,\"time\":\"2025-03-04T05:06:07Z\",\"prev\":\"\",\"event\":\"x\"}"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ReadTranscript(bytes.NewReader(data))
		if err != nil {
			if entries != nil {
				t.Fatalf("entries and an error: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "transcript line ") && !strings.HasPrefix(err.Error(), "failed to read transcript") {
				t.Fatalf("the error does not name a line: %v", err)
			}
			return
		}
		// Every line was an entry, numbered from 1.
		if n := bytes.Count(data, []byte("\n")); n != len(entries) {
			t.Fatalf("%d entries from %d lines", len(entries), n)
		}
		for i, e := range entries {
			if e.Seq != i+1 || e.Event == "" || e.Time.IsZero() {
				t.Fatalf("entry %d accepted: %+v", i+1, e)
			}
		}
		if len(data) == 0 {
			return
		}
		// A torn last line is refused.
		if _, err := ReadTranscript(bytes.NewReader(data[:len(data)-1])); err == nil {
			t.Fatal("accepted a transcript without its final newline")
		}
		// Any change of a line but the last breaks the chain.
		if len(entries) > 1 {
			first := bytes.IndexByte(data, '\n')
			for _, i := range []int{0, first / 2, first - 1} {
				bad := bytes.Clone(data)
				bad[i] ^= 0x01
				if _, err := ReadTranscript(bytes.NewReader(bad)); err == nil {
					t.Fatalf("accepted a change of byte %d of line 1", i)
				}
			}
		}
		// Commit can extend what ReadTranscript accepts, and only extends it.
		if len(data) < maxTranscriptSize-4096 && len(entries) < maxTranscriptEntries {
			out, err := appendTranscript(data, []Entry{{Event: "fuzz", Time: fixedNow().UTC().Truncate(time.Second)}})
			if err != nil {
				t.Fatalf("appendTranscript: %v", err)
			}
			if !bytes.HasPrefix(out, data) {
				t.Fatal("appendTranscript rewrote history")
			}
			more, err := ReadTranscript(bytes.NewReader(out))
			if err != nil || len(more) != len(entries)+1 {
				t.Fatalf("extended transcript: %d entries, %v", len(more), err)
			}
		}
	})
}

// fuzzRootName names a root file by the version it holds, so that seeds
// from the middle of a chain (Sigstore's roots 14 and 15) verify.
func fuzzRootName(data []byte, fallback int64) (string, int64) {
	if env, err := ParseEnvelope(data); err == nil {
		if h, err := env.Header(); err == nil && h.Version >= 1 && h.Version <= 1<<20 {
			return VersionedName(metadata.ROOT, h.Version), h.Version
		}
	}
	return VersionedName(metadata.ROOT, fallback), fallback
}

// FuzzImportMetadata writes two roots and a targets file from the fuzzed
// bytes into a directory and verifies it, as import and verify do with a
// repository handed over on media; ParseEnvelope and ParseRawRoot see
// every input directly too.
func FuzzImportMetadata(f *testing.F) {
	f.Add([]byte(`{"signed":{"_type":"root","spec_version":"1.0.31","version":1,"expires":"2030-01-01T00:00:00Z","keys":{},"roles":{"root":{"keyids":[],"threshold":1}},"consistent_snapshot":true},"signatures":[]}`), []byte{}, []byte{})
	f.Add([]byte(`{"signed":{},"signatures":[{"keyid":"00","sig":"00"}],"x":[[[[[[[[]]]]]]]]}`), []byte(`{}`), []byte(`[`))
	// One directory per fuzzing process, emptied for each input: a
	// temporary directory per input costs more than the rest.
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, root1, root2, targets []byte) {
		for _, data := range [][]byte{root1, root2, targets} {
			env, err := ParseEnvelope(data)
			if err != nil {
				continue
			}
			// What parses re-encodes to what parses the same.
			out, err := env.Marshal()
			if err != nil {
				continue
			}
			again, err := ParseEnvelope(out)
			if err != nil {
				t.Fatalf("Marshal of an accepted envelope is refused: %v\n%s", err, out)
			}
			p1, err1 := env.Payload()
			p2, err2 := again.Payload()
			if (err1 == nil) != (err2 == nil) || !bytes.Equal(p1, p2) {
				t.Fatalf("the signed bytes changed through Marshal: %v %v", err1, err2)
			}
			ParseRawRoot(data)
		}

		dir := filepath.Join(base, "repo")
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		name1, v1 := fuzzRootName(root1, 1)
		write := func(name string, data []byte) {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write(name1, root1)
		at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		if len(root2) > 0 {
			name2, _ := fuzzRootName(root2, v1+1)
			if name2 == name1 {
				name2 = VersionedName(metadata.ROOT, v1+1)
			}
			write(name2, root2)
			if env, err := ParseEnvelope(root2); err == nil {
				if h, err := env.Header(); err == nil && !h.Expires.IsZero() {
					at = h.Expires.Add(-time.Minute)
				}
			}
		}
		if len(targets) > 0 {
			write("1.targets.json", targets)
		}
		sum := sha256.Sum256(root1)
		rep, err := Verify(dir, VerifyOptions{RootSHA256: hex.EncodeToString(sum[:]), At: at})
		if err != nil {
			return
		}
		if !rep.OK() {
			return
		}
		// Verify accepted it: each root's own threshold and its
		// predecessor's hold by tuf-ceremony's raw reading too.
		var prev *RawRoot
		for _, r := range rep.Roots {
			data, err := os.ReadFile(filepath.Join(dir, r.File))
			if err != nil {
				t.Fatal(err)
			}
			next, err := ParseRawRoot(data)
			if err != nil {
				t.Fatalf("verified %s, which ParseRawRoot refuses: %v", r.File, err)
			}
			for _, by := range []*RawRoot{prev, next} {
				if by == nil {
					continue
				}
				res, err := by.CheckThreshold(metadata.ROOT, next.Payload, next.Env.Signatures)
				if err != nil || !res.Met() {
					t.Fatalf("verified %s without its threshold: %+v %v", r.File, res, err)
				}
			}
			prev = next
		}
	})
}

// endless yields the same bytes forever.
type endless struct {
	chunk []byte
	n     int64
}

func (r *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.chunk[r.n%int64(len(r.chunk)):])
		n += c
		r.n += int64(c)
	}
	return n, nil
}

// chainedLines yields a valid transcript that never ends.
type chainedLines struct {
	seq  int
	prev string
	buf  []byte
}

func (r *chainedLines) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		r.seq++
		line, _ := json.Marshal(Entry{Seq: r.seq, Time: fixedNow().UTC().Truncate(time.Second), Prev: r.prev, Event: "e", Data: json.RawMessage(`"` + strings.Repeat("x", 600) + `"`)})
		sum := sha256.Sum256(line)
		r.prev = hex.EncodeToString(sum[:])
		r.buf = append(line, '\n')
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// allocated runs fn and returns how many bytes it allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Huge inputs are refused early, within bounded memory: an endless line,
// an endless (valid) transcript, a metadata file larger than the limit
// (a sparse file: never read), deep nesting.
func TestHugeInputsBounded(t *testing.T) {
	var err error
	n := allocated(func() { _, err = ReadTranscript(&endless{chunk: []byte("{\"seq\":1,")}) })
	if err == nil || !strings.Contains(err.Error(), "longer than") || n > 16<<20 {
		t.Errorf("endless line: %v after %d bytes allocated", err, n)
	}
	n = allocated(func() { _, err = ReadTranscript(&endless{chunk: []byte("\n")}) })
	if err == nil || n > 16<<20 {
		t.Errorf("endless empty lines: %v after %d bytes allocated", err, n)
	}
	// An endless valid transcript stops at the entry and size bounds. The
	// real bounds (100,000 entries, 64 MiB) take seconds under the race
	// detector, so smaller ones are used here: the code path is the same.
	for _, b := range []struct{ entries, size int }{{2000, 64 << 20}, {1 << 20, 1 << 20}} {
		r := &chainedLines{}
		n = allocated(func() { _, err = readTranscript(r, maxTranscriptLine, b.entries, b.size) })
		if err == nil || !strings.Contains(err.Error(), "more than") && !strings.Contains(err.Error(), "larger than") {
			t.Errorf("endless transcript: %v", err)
		}
		// What is kept is the entries: a few times the input's size.
		if limit := uint64(min(b.entries*700, b.size)) * 8; n > limit+(4<<20) {
			t.Errorf("endless transcript within %+v: %d bytes allocated", b, n)
		}
		t.Logf("endless transcript within %+v: refused at line %d, %d KiB allocated: %v", b, r.seq, n>>10, err)
	}

	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxMetadataSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var rep *VerifyReport
	n = allocated(func() { rep, err = Verify(dir, VerifyOptions{}) })
	if err == nil && rep.OK() {
		t.Error("verified a root larger than the limit")
	}
	if n > 16<<20 {
		t.Errorf("a %d byte root: %d bytes allocated", MaxMetadataSize+1, n)
	}
	if err == nil && !strings.Contains(strings.Join(rep.Problems, "\n"), "exceeds") {
		t.Errorf("problems %v do not say the file is too large", rep.Problems)
	}

	deep := []byte(`{"signed":` + strings.Repeat("[", 1<<20) + `,"signatures":[]}`)
	if _, err := ParseEnvelope(deep); err == nil {
		t.Error("accepted 1 MiB of nesting")
	}
	if _, err := ParseEnvelope(bytes.Repeat([]byte(" "), MaxMetadataSize+1)); err == nil {
		t.Error("accepted metadata larger than the limit")
	}
}
