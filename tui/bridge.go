package tui

import (
	"context"
	"errors"
	"sync/atomic"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// A job is one ceremony call running in its own goroutine. Whatever it
// needs from a person arrives at the model as a message on events, with a
// reply channel; the model listens for one event at a time (listen) until
// jobDoneMsg.
type job struct {
	id     int64
	events chan tea.Msg
	ctx    context.Context
	cancel context.CancelFunc
}

// jobFunc is a ceremony call: it runs off the UI goroutine and talks to
// the person only through p.
type jobFunc func(ctx context.Context, p ceremony.Prompter) (any, error)

var jobIDs atomic.Int64

// startJob runs fn and returns the job and the command that starts it.
// The touch prompt of hsm reaches the model as touchMsg.
func startJob(parent context.Context, fn jobFunc) (*job, tea.Cmd) {
	ctx, cancel := context.WithCancel(parent)
	j := &job{id: jobIDs.Add(1), events: make(chan tea.Msg, 16), ctx: ctx, cancel: cancel}
	p := &prompter{j: j}
	ctx = hsm.WithTouchPrompt(ctx, func(t hsm.TokenInfo) {
		// Must return quickly: the buffer holds it, or it is dropped
		// when the person is gone.
		select {
		case j.events <- touchMsg{job: j.id, token: t}:
		default:
		}
	})
	run := func() tea.Msg {
		go func() {
			res, err := fn(ctx, p)
			j.events <- jobDoneMsg{job: j.id, result: res, err: err}
		}()
		return j.next()
	}
	return j, run
}

// next waits for the job's next event.
func (j *job) next() tea.Msg { return <-j.events }

// listen is the command that delivers the job's next event.
func (j *job) listen() tea.Cmd { return j.next }

// Messages from a running job.
type (
	jobDoneMsg struct {
		job    int64
		result any
		err    error
	}
	progressMsg struct {
		job  int64
		text string
	}
	touchMsg struct {
		job   int64
		token hsm.TokenInfo
	}
	pinRequest struct {
		job   int64
		token hsm.TokenInfo
		state hsm.PINState
		reply chan pinReply
	}
	pinReply struct {
		pin hsm.PIN
		err error
	}
	confirmRequest struct {
		job      int64
		question string
		reply    chan bool
	}
	reviewRequest struct {
		job     int64
		review  ceremony.Review
		changes []ceremony.Change // every change, read once for the screen
		reply   chan bool
	}
	noticeRequest struct {
		job     int64
		message string
		reply   chan struct{}
	}
)

// jobOf says which job a message comes from, for messages that do.
func jobOf(msg tea.Msg) (int64, bool) {
	switch m := msg.(type) {
	case jobDoneMsg:
		return m.job, true
	case progressMsg:
		return m.job, true
	case touchMsg:
		return m.job, true
	case pinRequest:
		return m.job, true
	case confirmRequest:
		return m.job, true
	case reviewRequest:
		return m.job, true
	case noticeRequest:
		return m.job, true
	}
	return 0, false
}

// prompter is the job's side of ceremony.Prompter: every method sends a
// request to the model and waits for its answer or for the job to be
// cancelled.
type prompter struct{ j *job }

var _ ceremony.Prompter = (*prompter)(nil)

// errStopped is the answer to a prompt whose job was cancelled (the
// custodian quit or left the ceremony).
var errStopped = errors.New("stopped by the custodian")

func (p *prompter) send(ctx context.Context, msg tea.Msg) error {
	select {
	case p.j.events <- msg:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.j.ctx.Done():
		return errStopped
	}
}

func wait[T any](ctx context.Context, j *job, reply chan T) (T, error) {
	var zero T
	select {
	case v := <-reply:
		return v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-j.ctx.Done():
		return zero, errStopped
	}
}

func (p *prompter) PIN(ctx context.Context, token hsm.TokenInfo, state hsm.PINState) (hsm.PIN, error) {
	reply := make(chan pinReply, 1)
	if err := p.send(ctx, pinRequest{job: p.j.id, token: token, state: state, reply: reply}); err != nil {
		return hsm.PIN{}, err
	}
	r, err := wait(ctx, p.j, reply)
	if err != nil {
		return hsm.PIN{}, err
	}
	return r.pin, r.err
}

func (p *prompter) Confirm(ctx context.Context, question string) (bool, error) {
	reply := make(chan bool, 1)
	if err := p.send(ctx, confirmRequest{job: p.j.id, question: question, reply: reply}); err != nil {
		return false, err
	}
	return wait(ctx, p.j, reply)
}

func (p *prompter) Review(ctx context.Context, r ceremony.Review) (bool, error) {
	changes, err := r.ChangeList()
	if err != nil {
		return false, err
	}
	reply := make(chan bool, 1)
	if err := p.send(ctx, reviewRequest{job: p.j.id, review: r, changes: changes, reply: reply}); err != nil {
		return false, err
	}
	return wait(ctx, p.j, reply)
}

func (p *prompter) Notice(ctx context.Context, message string) error {
	reply := make(chan struct{}, 1)
	if err := p.send(ctx, noticeRequest{job: p.j.id, message: message, reply: reply}); err != nil {
		return err
	}
	_, err := wait(ctx, p.j, reply)
	return err
}

func (p *prompter) Progress(message string) {
	_ = p.send(p.j.ctx, progressMsg{job: p.j.id, text: message})
}
