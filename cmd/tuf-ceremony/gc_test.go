package main

import (
	"context"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

// The commands that read metadata run with a tighter GC (a large targets
// file stays under 4 times its size in memory); start-up, --version and
// the TUI keep Go's default, which their small heaps need.
func TestGCTightenedForMetadataCommandsOnly(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set in the environment, which decides")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	percentAfter := func(args ...string) int {
		debug.SetGCPercent(100)
		f := newFactory(strings.NewReader(""), io.Discard, io.Discard)
		run(context.Background(), f, args)
		return debug.SetGCPercent(100)
	}
	if got := percentAfter("--version"); got != 100 {
		t.Errorf("--version ran with GOGC=%d", got)
	}
	if got := percentAfter("version"); got != 100 {
		t.Errorf("version ran with GOGC=%d", got)
	}
	if got := percentAfter("verify", t.TempDir()); got != 25 {
		t.Errorf("verify ran with GOGC=%d", got)
	}
	if got := percentAfter("diff", "a.json", "b.json"); got != 25 {
		t.Errorf("diff ran with GOGC=%d", got)
	}
}
