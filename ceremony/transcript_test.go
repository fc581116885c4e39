package ceremony

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var testTime = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// testTranscript returns a valid transcript of n entries.
func testTranscript(t *testing.T, n int) []byte {
	t.Helper()
	var events []Entry
	for i := range n {
		events = append(events, Entry{
			Time:  testTime,
			Event: "event",
			Data:  json.RawMessage(fmt.Sprintf(`{"i":%d}`, i+1)),
		})
	}
	out, err := appendTranscript(nil, events)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func lineHash(line string) string {
	sum := sha256.Sum256([]byte(line))
	return hex.EncodeToString(sum[:])
}

func TestReadTranscriptValid(t *testing.T) {
	data := testTranscript(t, 3)
	lines := strings.SplitAfter(string(data), "\n")
	want := `{"seq":1,"time":"2025-03-04T05:06:07Z","prev":"","event":"event","data":{"i":1}}` + "\n"
	if lines[0] != want {
		t.Errorf("line 1 = %q, want %q", lines[0], want)
	}
	entries, err := ReadTranscript(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d entries, want 3", len(entries))
	}
	for i, e := range entries {
		if e.Seq != i+1 || !e.Time.Equal(testTime) || e.Event != "event" || string(e.Data) != fmt.Sprintf(`{"i":%d}`, i+1) {
			t.Errorf("entry %d = %+v", i+1, e)
		}
		wantPrev := ""
		if i > 0 {
			wantPrev = lineHash(strings.TrimSuffix(lines[i-1], "\n"))
		}
		if e.Prev != wantPrev {
			t.Errorf("entry %d: prev = %q, want %q", i+1, e.Prev, wantPrev)
		}
	}
	if entries, err := ReadTranscript(strings.NewReader("")); err != nil || len(entries) != 0 {
		t.Errorf("empty transcript: %v, %v", entries, err)
	}
}

func TestReadTranscriptErrors(t *testing.T) {
	good := strings.SplitAfter(string(testTranscript(t, 4)), "\n")[:4]
	join := func(lines ...string) string { return strings.Join(lines, "") }
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{
			name:  "tampered middle line",
			input: join(good[0], strings.Replace(good[1], `"i":2`, `"i":9`, 1), good[2], good[3]),
			want:  "transcript line 3: prev does not match the SHA-256 of line 2",
		},
		{
			name:  "deleted middle line",
			input: join(good[0], good[1], good[3]),
			want:  "transcript line 3: seq is 4, want 3",
		},
		{
			name:  "swapped lines",
			input: join(good[1], good[0]),
			want:  "transcript line 1: seq is 2, want 1",
		},
		{
			name:  "torn last line",
			input: join(good[0], good[1], good[2][:20]),
			want:  "transcript line 3: incomplete last line (torn write)",
		},
		{
			name:  "last line without newline",
			input: join(good[0], strings.TrimSuffix(good[1], "\n")),
			want:  "transcript line 2: incomplete last line (torn write)",
		},
		{
			name:  "empty line",
			input: join(good[0], "\n", good[1]),
			want:  "transcript line 2: empty line",
		},
		{
			name:  "not JSON",
			input: join(good[0], "hello\n"),
			want:  "transcript line 2: invalid JSON: invalid character 'h' looking for beginning of value",
		},
		{
			name:  "first prev not empty",
			input: `{"seq":1,"time":"2025-03-04T05:06:07Z","prev":"00","event":"e"}` + "\n",
			want:  "transcript line 1: prev must be empty in the first entry",
		},
		{
			name:  "time missing",
			input: `{"seq":1,"prev":"","event":"e"}` + "\n",
			want:  "transcript line 1: time is missing",
		},
		{
			name:  "event missing",
			input: `{"seq":1,"time":"2025-03-04T05:06:07Z","prev":""}` + "\n",
			want:  "transcript line 1: event is missing",
		},
		{
			name:  "line too long",
			input: join(good[0], strings.Repeat(" ", maxTranscriptLine+1), "\n"),
			want:  "transcript line 2: longer than 1048576 bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadTranscript(strings.NewReader(tt.input))
			if err == nil || err.Error() != tt.want {
				t.Errorf("ReadTranscript error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestReadTranscriptLongestLine(t *testing.T) {
	// A line of exactly maxTranscriptLine bytes is accepted.
	e := Entry{Seq: 1, Time: testTime, Event: "e", Data: json.RawMessage(`""`)}
	line, _ := json.Marshal(e)
	pad := maxTranscriptLine - len(line)
	e.Data = json.RawMessage(`"` + strings.Repeat("x", pad) + `"`)
	line, _ = json.Marshal(e)
	if len(line) != maxTranscriptLine {
		t.Fatalf("test line is %d bytes", len(line))
	}
	if _, err := ReadTranscript(bytes.NewReader(append(line, '\n'))); err != nil {
		t.Error(err)
	}
	// appendTranscript refuses to write a longer one.
	_, err := appendTranscript(nil, []Entry{{Time: testTime, Event: "e", Data: json.RawMessage(`"` + strings.Repeat("x", maxTranscriptLine) + `"`)}})
	if want := `transcript entry "e" is longer than 1048576 bytes`; err == nil || err.Error() != want {
		t.Errorf("appendTranscript error = %v, want %q", err, want)
	}
}

func TestReadTranscriptBounds(t *testing.T) {
	data := testTranscript(t, 3)
	tests := []struct {
		maxLine, maxEntries, maxSize int
		want                         string
	}{
		{200, 3, 1000, ""},
		{200, 2, 1000, "transcript line 3: more than 2 entries"},
		{200, 3, len(data), ""},
		{200, 3, len(data) - 1, fmt.Sprintf("transcript line 3: transcript is larger than %d bytes", len(data)-1)},
		{50, 3, 1000, "transcript line 1: longer than 50 bytes"},
	}
	for _, tt := range tests {
		_, err := readTranscript(bytes.NewReader(data), tt.maxLine, tt.maxEntries, tt.maxSize)
		if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("readTranscript(%d, %d, %d) = %v, want %q", tt.maxLine, tt.maxEntries, tt.maxSize, err, tt.want)
		}
	}
}

func TestAppendTranscriptRefusesInvalidHistory(t *testing.T) {
	data := testTranscript(t, 2)
	_, err := appendTranscript(data[:len(data)-1], []Entry{{Time: testTime, Event: "e"}})
	if want := "existing transcript.jsonl is invalid: transcript line 2: incomplete last line (torn write)"; err == nil || err.Error() != want {
		t.Errorf("appendTranscript error = %v, want %q", err, want)
	}
}
