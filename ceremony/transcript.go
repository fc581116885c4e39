package ceremony

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// Entry is one line of the ceremony transcript (transcript.jsonl).
//
// The transcript is a hash chain: every entry carries the SHA-256 of the
// previous line's exact bytes, so changing, inserting or deleting any line
// but the last breaks the chain, and SHA256SUMS (or a copy of the last
// line's hash kept elsewhere) covers the last one.
type Entry struct {
	Seq   int             `json:"seq"`   // 1, 2, 3…
	Time  time.Time       `json:"time"`  // UTC, whole seconds
	Prev  string          `json:"prev"`  // hex SHA-256 of the previous line without its newline; "" for the first
	Event string          `json:"event"` // what happened, e.g. "workspace-created"
	Data  json.RawMessage `json:"data,omitempty"`
}

// EventWorkspaceCreated is the first entry of every transcript, recorded
// by the Commit that creates the workspace. Its data is {"dir": "<absolute
// path of the workspace when it was created>"}.
const EventWorkspaceCreated = "workspace-created"

// Bounds on what ReadTranscript accepts, so that a hostile or damaged
// medium cannot exhaust memory. Commit refuses to write a transcript that
// would exceed them.
const (
	maxTranscriptLine    = 1 << 20  // bytes per line, without the newline
	maxTranscriptEntries = 100_000  // lines
	maxTranscriptSize    = 64 << 20 // bytes in all
)

// ReadTranscript reads a transcript in JSON Lines form and verifies it:
// every line is a complete JSON entry ending in a newline, seq counts 1, 2,
// 3…, every prev is the SHA-256 of the line before it, and every entry has
// a time and an event. Errors name the offending line, e.g.
// "transcript line 4: prev does not match the SHA-256 of line 3". An empty
// input is an empty transcript.
func ReadTranscript(r io.Reader) ([]Entry, error) {
	return readTranscript(r, maxTranscriptLine, maxTranscriptEntries, maxTranscriptSize)
}

// readTranscript is ReadTranscript with the given bounds, so that tests can
// reach them without gigabytes of input.
func readTranscript(r io.Reader, maxLine, maxEntries, maxSize int) ([]Entry, error) {
	br := bufio.NewReaderSize(r, maxLine+1)
	var (
		entries []Entry
		prev    string
		total   int
	)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		switch {
		case err == io.EOF && len(line) == 0:
			return entries, nil
		case err == io.EOF:
			return nil, fmt.Errorf("transcript line %d: incomplete last line (torn write)", n)
		case errors.Is(err, bufio.ErrBufferFull):
			return nil, fmt.Errorf("transcript line %d: longer than %d bytes", n, maxLine)
		case err != nil:
			return nil, fmt.Errorf("failed to read transcript: %w", err)
		}
		if n > maxEntries {
			return nil, fmt.Errorf("transcript line %d: more than %d entries", n, maxEntries)
		}
		total += len(line)
		if total > maxSize {
			return nil, fmt.Errorf("transcript line %d: transcript is larger than %d bytes", n, maxSize)
		}
		line = line[:len(line)-1]
		e, err := parseEntry(line, n, prev)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
		sum := sha256.Sum256(line)
		prev = hex.EncodeToString(sum[:])
	}
}

// parseEntry decodes and checks line n of a transcript, whose predecessor
// hashes to prev ("" for the first line).
func parseEntry(line []byte, n int, prev string) (Entry, error) {
	var e Entry
	if len(bytes.TrimSpace(line)) == 0 {
		return e, fmt.Errorf("transcript line %d: empty line", n)
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return e, fmt.Errorf("transcript line %d: invalid JSON: %w", n, err)
	}
	switch {
	case e.Seq != n:
		return e, fmt.Errorf("transcript line %d: seq is %d, want %d", n, e.Seq, n)
	case n == 1 && e.Prev != "":
		return e, fmt.Errorf("transcript line 1: prev must be empty in the first entry")
	case e.Prev != prev:
		return e, fmt.Errorf("transcript line %d: prev does not match the SHA-256 of line %d", n, n-1)
	case e.Time.IsZero():
		return e, fmt.Errorf("transcript line %d: time is missing", n)
	case e.Event == "":
		return e, fmt.Errorf("transcript line %d: event is missing", n)
	}
	return e, nil
}

// Transcript reads and verifies the workspace's transcript.
func (w *Workspace) Transcript() ([]Entry, error) {
	f, err := os.OpenFile(w.Path(TranscriptFile), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("failed to read transcript: %w", err)
	}
	defer f.Close()
	return ReadTranscript(f)
}

// appendTranscript returns old followed by one line per event, chained to
// the last line of old, which must be a valid transcript. Seq and prev are
// assigned here; each event's Time and Event and Data are used as given.
// The result is verified with ReadTranscript, so Commit can never write a
// transcript that ReadTranscript would reject.
func appendTranscript(old []byte, events []Entry) ([]byte, error) {
	entries, err := ReadTranscript(bytes.NewReader(old))
	if err != nil {
		return nil, fmt.Errorf("existing %s is invalid: %w", TranscriptFile, err)
	}
	prev := ""
	if len(entries) > 0 {
		body := old[:len(old)-1]
		last := body[bytes.LastIndexByte(body, '\n')+1:]
		sum := sha256.Sum256(last)
		prev = hex.EncodeToString(sum[:])
	}
	out := bytes.Clone(old)
	for i, e := range events {
		e.Seq = len(entries) + i + 1
		e.Prev = prev
		line, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("failed to encode transcript entry %q: %w", e.Event, err)
		}
		if len(line) > maxTranscriptLine {
			return nil, fmt.Errorf("transcript entry %q is longer than %d bytes", e.Event, maxTranscriptLine)
		}
		out = append(out, line...)
		out = append(out, '\n')
		sum := sha256.Sum256(line)
		prev = hex.EncodeToString(sum[:])
	}
	if !bytes.HasPrefix(out, old) {
		// Cannot happen; the transcript is only ever appended to.
		return nil, errors.New("internal error: new transcript does not extend the old one")
	}
	if _, err := ReadTranscript(bytes.NewReader(out)); err != nil {
		return nil, fmt.Errorf("refusing to write an invalid transcript: %w", err)
	}
	return out, nil
}
