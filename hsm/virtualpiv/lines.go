package virtualpiv

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Lines collects the lines a process prints (pcscd, a card), so that its
// callers can wait for one: "Card inserted into …", "waiting for touch".
type Lines struct {
	mu     sync.Mutex
	all    []string
	notify chan struct{} // closed and replaced on every new line
	eof    chan struct{}
}

// NewLines reads r line by line until its end.
func NewLines(r io.Reader) *Lines {
	l := &Lines{notify: make(chan struct{}), eof: make(chan struct{})}
	go func() {
		defer close(l.eof)
		s := bufio.NewScanner(r)
		s.Buffer(make([]byte, 64*1024), 1024*1024)
		for s.Scan() {
			l.mu.Lock()
			l.all = append(l.all, s.Text())
			close(l.notify)
			l.notify = make(chan struct{})
			l.mu.Unlock()
		}
		io.Copy(io.Discard, r)
	}()
	return l
}

// EOF is closed once the reader has ended.
func (l *Lines) EOF() <-chan struct{} { return l.eof }

// String returns every line so far.
func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// Count counts the lines that contain sub.
func (l *Lines) Count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.countLocked(strings.Contains, sub)
}

// CountSuffix counts the lines that end in suffix.
func (l *Lines) CountSuffix(suffix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.countLocked(strings.HasSuffix, suffix)
}

func (l *Lines) countLocked(match func(s, sub string) bool, sub string) int {
	n := 0
	for _, s := range l.all {
		if match(s, sub) {
			n++
		}
	}
	return n
}

// Wait waits until n lines contain sub.
func (l *Lines) Wait(sub string, n int, timeout time.Duration) error {
	return l.wait(strings.Contains, sub, n, timeout, fmt.Sprintf("line %q (×%d)", sub, n))
}

// WaitSuffix waits until n lines end in suffix.
func (l *Lines) WaitSuffix(suffix string, n int, timeout time.Duration) error {
	return l.wait(strings.HasSuffix, suffix, n, timeout, fmt.Sprintf("line %q (×%d)", suffix, n))
}

func (l *Lines) wait(match func(s, sub string) bool, sub string, n int, timeout time.Duration, what string) error {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		done, notify := l.countLocked(match, sub) >= n, l.notify
		l.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-notify:
		case <-l.eof:
			l.mu.Lock()
			done = l.countLocked(match, sub) >= n
			l.mu.Unlock()
			if done {
				return nil
			}
			return fmt.Errorf("process ended before %s", what)
		case <-deadline:
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
	}
}
