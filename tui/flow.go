package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// A flow is a guided ceremony: a numbered script of steps that the
// custodians go through one by one. A step is an interaction (read and
// acknowledge, type a value, choose from a list, or none) followed by an
// optional ceremony call (a job) whose result the next step shows.
type flow struct {
	sh    *shared
	name  string // recorded with acknowledgements: "sign", "new-repository"…
	title string
	steps []*step
	cur   int
	// finished is set once the last step is done.
	finished bool

	// media is the workspace directory of this ceremony.
	media string

	// state of the current step
	input   textinput.Model
	cursor  int
	err     error
	errHint []string
	// retype: the error is corrected by editing the input's value (r is
	// then typed, not taken as "try again").
	retype  bool
	running *job
	log     []string
	touch   *touchMsg
	touchAt time.Time
	// prompt is the job's open request: pinRequest, confirmRequest,
	// reviewRequest or noticeRequest.
	prompt   tea.Msg
	pinInput textinput.Model
	vp       viewport.Model
	// force is set when the custodian chose to spend a final PIN try.
	force bool
	// stopping: leaving (or quitting) waits for the job to end.
	stopping bool
	leave    bool
	// confirmLeave is set while "leave this ceremony?" is asked.
	confirmLeave bool
	// pendingAcks wait for the workspace to exist (a new repository).
	pendingAcks []ackRecord
	// afterPoll runs once the token listing in flight is done: a
	// ceremony call must not open a token while it is being listed.
	afterPoll func() tea.Cmd
	// onFinish, when set, says what comes after the last step (the next
	// ceremony of a script, e.g. signing after a new repository).
	onFinish func(f *flow) tea.Cmd
}

type stepKind int

const (
	stepAck    stepKind = iota // read, then acknowledge with enter (recorded)
	stepInput                  // type a value
	stepChoose                 // choose one option
	stepAuto                   // nothing to do: the job starts at once
)

// step is one numbered step of a flow.
type step struct {
	title string
	kind  stepKind
	// body is the text of the step, for the flow's width.
	body func(f *flow) string
	// ack is what the acknowledgement records; "" records the title.
	ack func(f *flow) string
	// skip is asked on entry: a step that is not needed is marked done.
	skip func(f *flow) bool
	// input: the prompt, the initial value, and what to do with it.
	prompt  string
	initial func(f *flow) string
	submit  func(f *flow, value string) error
	// choose: the options (recomputed: tokens come and go) and what
	// choosing one does.
	options func(f *flow) []option
	choose  func(f *flow, o option) error
	// run is the ceremony call of the step; it must copy what it needs
	// from the flow, since it runs on its own goroutine.
	run func(f *flow) jobFunc
	// done takes the call's result on the UI goroutine.
	done func(f *flow, result any) error
	// actions are extra keys of the step (e.g. "p publish").
	actions func(f *flow) []action
	// finalKey replaces "enter acknowledge" in the help of the step.
	finalKey string
	// retryPrev: "try again" goes back to the step before (e.g. choose
	// another token after a wrong one).
	retryPrev bool
	// toggle makes a stepChoose a multiple choice: space toggles an
	// option, enter goes on with what is chosen.
	toggle func(f *flow, o option)

	// summary is shown once the step is done.
	summary string
	status  stepStatus
}

type stepStatus int

const (
	statusTodo stepStatus = iota
	statusDone
	statusSkipped
)

// option is one choice of a stepChoose.
type option struct {
	label    string
	detail   string
	value    any
	disabled bool
}

// action is a key a step offers besides enter.
type action struct {
	key key.Binding
	run func(f *flow) tea.Cmd
}

func newFlow(sh *shared, name, title, media string, steps ...*step) *flow {
	f := &flow{sh: sh, name: name, title: title, steps: steps, media: media}
	f.vp = viewport.New(sh.width, sh.height)
	return f
}

// insert puts steps right after the current one.
func (f *flow) insert(steps ...*step) {
	rest := append([]*step{}, f.steps[f.cur+1:]...)
	f.steps = append(append(f.steps[:f.cur+1], steps...), rest...)
}

func (f *flow) step() *step {
	if f.cur >= len(f.steps) {
		return nil
	}
	return f.steps[f.cur]
}

// start enters the current step.
func (f *flow) start() tea.Cmd {
	for f.cur < len(f.steps) {
		s := f.steps[f.cur]
		if s.skip != nil && s.skip(f) {
			s.status = statusSkipped
			f.cur++
			continue
		}
		break
	}
	f.err, f.errHint, f.log, f.touch, f.prompt, f.cursor = nil, nil, nil, nil, nil, 0
	f.vp.GotoTop()
	s := f.step()
	if s == nil {
		f.finished = true
		return nil
	}
	switch s.kind {
	case stepInput:
		f.input = textinput.New()
		f.input.Prompt = s.prompt
		f.input.CharLimit = 4096
		if s.initial != nil {
			f.input.SetValue(s.initial(f))
		}
		return f.input.Focus()
	case stepAuto:
		return f.runJob()
	case stepChoose:
		opts := s.options(f)
		for i, o := range opts {
			if !o.disabled {
				f.cursor = i
				break
			}
		}
	}
	return nil
}

// next marks the current step done and enters the following one.
func (f *flow) next() tea.Cmd {
	if s := f.step(); s != nil {
		s.status = statusDone
	}
	f.cur++
	f.force = false
	if f.cur >= len(f.steps) {
		f.finished = true
		refresh := func() tea.Msg { return refreshMsg{} }
		if f.onFinish != nil {
			return tea.Batch(refresh, f.onFinish(f))
		}
		return refresh
	}
	return tea.Batch(f.start(), func() tea.Msg { return refreshMsg{} })
}

// runJob starts the current step's call, or moves on if it has none.
func (f *flow) runJob() tea.Cmd {
	s := f.step()
	if s.run == nil {
		if s.done != nil {
			if err := s.done(f, nil); err != nil {
				f.fail(err)
				return nil
			}
		}
		return f.next()
	}
	return f.startJob(s.run(f))
}

// startJob runs fn as the current step's call, once no token listing
// is in flight.
func (f *flow) startJob(fn jobFunc) tea.Cmd {
	j, cmd := startJob(f.sh.ctx, fn)
	f.running = j
	f.sh.pollPaused = true
	f.err, f.errHint, f.log = nil, nil, nil
	if f.sh.polling {
		f.afterPoll = func() tea.Cmd { return cmd }
		return nil
	}
	return cmd
}

func (f *flow) fail(err error) {
	var r retyper
	f.err = err
	f.errHint = hintsFor(err)
	f.retype = errors.As(err, &r)
}

// retyper is an error that the custodian corrects by editing the value of
// an input step, as a value refused by the step's submit is.
type retyper interface{ Retype() }

// busy: a ceremony that has begun and not finished is work in progress.
func (f *flow) busy() bool {
	return f.running != nil || (!f.finished && f.cur > 0)
}

// stop cancels the running call; it reports whether one was running (the
// caller then waits for its jobDoneMsg).
func (f *flow) stop() bool {
	if f.running == nil {
		return false
	}
	f.running.cancel()
	f.stopping = true
	return true
}

func (f *flow) update(msg tea.Msg) tea.Cmd {
	if id, ok := jobOf(msg); ok {
		if f.running == nil || id != f.running.id {
			return nil
		}
		return f.jobEvent(msg)
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		return nil
	case tokensMsg:
		if f.afterPoll != nil {
			run := f.afterPoll
			f.afterPoll = nil
			return run()
		}
		return nil
	case tea.KeyMsg:
		return f.key(msg)
	}
	if f.prompt == nil && f.step() != nil && f.step().kind == stepInput {
		var cmd tea.Cmd
		f.input, cmd = f.input.Update(msg)
		return cmd
	}
	if _, ok := f.prompt.(pinRequest); ok {
		var cmd tea.Cmd
		f.pinInput, cmd = f.pinInput.Update(msg)
		return cmd
	}
	return nil
}

// discard closes a result nobody will take, the custodian having left
// while it was being made: a rehearsal set up meanwhile holds processes,
// this process's PC/SC client and SOFTHSM2_CONF.
func discard(result any) {
	if ar, ok := result.(ackResult); ok {
		result = ar.result
	}
	if d, ok := result.(interface{ discard() }); ok {
		d.discard()
	}
}

// jobEvent handles a message of the running job.
func (f *flow) jobEvent(msg tea.Msg) tea.Cmd {
	j := f.running
	switch msg := msg.(type) {
	case jobDoneMsg:
		f.running, f.prompt, f.touch = nil, nil, nil
		f.sh.pollPaused = false
		refresh := func() tea.Msg { return refreshMsg{} }
		if f.stopping || f.leave {
			discard(msg.result)
			f.stopping = false
			if f.leave {
				return goHome
			}
			return refresh
		}
		result := msg.result
		if ar, ok := result.(ackResult); ok {
			f.pendingAcks = append(ar.left, f.pendingAcks...)
			result = ar.result
		}
		if msg.err != nil {
			f.fail(msg.err)
			return refresh
		}
		if s := f.step(); s.done != nil {
			if err := s.done(f, result); err != nil {
				f.fail(err)
				return refresh
			}
		}
		return f.next()
	case progressMsg:
		f.touch = nil
		f.log = append(f.log, msg.text)
	case touchMsg:
		f.touch = &msg
		f.touchAt = f.sh.opts.Now()
	case pinRequest:
		f.touch = nil
		f.prompt = msg
		f.pinInput = textinput.New()
		f.pinInput.Prompt = "PIN: "
		f.pinInput.EchoMode = textinput.EchoPassword
		f.pinInput.EchoCharacter = '•'
		f.pinInput.CharLimit = 128
		return tea.Batch(j.listen(), f.pinInput.Focus())
	case confirmRequest:
		f.touch = nil
		f.prompt = msg
	case noticeRequest:
		// "Insert the token of …": the call holds no token now, so
		// the tokens are listed again while the person acts.
		f.touch = nil
		f.prompt = msg
		f.sh.pollPaused = false
		return tea.Batch(j.listen(), func() tea.Msg { return refreshMsg{} })
	case reviewRequest:
		f.touch = nil
		f.prompt = msg
		f.vp.GotoTop()
	}
	return j.listen()
}

func goHome() tea.Msg { return switchMsg{} }

func (f *flow) key(k tea.KeyMsg) tea.Cmd {
	if f.stopping {
		return nil
	}
	if f.confirmLeave {
		switch {
		case key.Matches(k, keys.Yes):
			f.confirmLeave = false
			return goHome
		case key.Matches(k, keys.No), key.Matches(k, keys.Back):
			f.confirmLeave = false
		}
		return nil
	}
	if f.prompt != nil {
		return f.promptKey(k)
	}
	if f.running != nil {
		if key.Matches(k, keys.Back) {
			f.leave = true
			f.stop()
		}
		return nil
	}
	s := f.step()
	if key.Matches(k, keys.Back) {
		if s != nil && s.kind == stepInput && f.err != nil {
			f.err, f.errHint = nil, nil
			return nil
		}
		if f.cur > 0 && !f.finished {
			// Steps are done: leaving asks first (a plan half-built, a
			// value half-typed would be lost).
			f.confirmLeave = true
			return nil
		}
		return goHome
	}
	if f.err != nil {
		switch {
		// A value to correct: r is typed into the input, and enter
		// submits the value again.
		case key.Matches(k, keys.Retry) && !(f.retype && s != nil && s.kind == stepInput):
			if s != nil && s.retryPrev && f.cur > 0 {
				f.cur--
				f.steps[f.cur].status = statusTodo
			}
			return f.start()
		case key.Matches(k, keys.Force) && errors.Is(f.err, hsm.ErrFinalTry):
			f.force = true
			f.err, f.errHint = nil, nil
			return f.runJob()
		}
		if s == nil || s.kind != stepInput {
			return nil
		}
	}
	if f.finished || s == nil {
		if key.Matches(k, keys.Enter) {
			return goHome
		}
		return nil
	}
	if s.actions != nil {
		for _, a := range s.actions(f) {
			if key.Matches(k, a.key) {
				return a.run(f)
			}
		}
	}
	switch s.kind {
	case stepAck:
		switch {
		case key.Matches(k, keys.Enter):
			return f.acknowledge()
		case key.Matches(k, keys.Up), key.Matches(k, keys.PgUp):
			f.vp.ScrollUp(3)
		case key.Matches(k, keys.Down), key.Matches(k, keys.PgDown):
			f.vp.ScrollDown(3)
		}
	case stepInput:
		if key.Matches(k, keys.Enter) {
			f.err, f.errHint = nil, nil
			if s.submit != nil {
				if err := s.submit(f, strings.TrimSpace(f.input.Value())); err != nil {
					f.fail(err)
					f.retype = true
					return nil
				}
			}
			return f.runJob()
		}
		var cmd tea.Cmd
		f.input, cmd = f.input.Update(k)
		return cmd
	case stepChoose:
		opts := s.options(f)
		f.fixCursor(opts)
		switch {
		case key.Matches(k, keys.Up):
			f.moveCursor(opts, -1)
		case key.Matches(k, keys.Down):
			f.moveCursor(opts, +1)
		case s.toggle != nil && k.String() == " ":
			if f.cursor >= 0 && f.cursor < len(opts) && !opts[f.cursor].disabled {
				s.toggle(f, opts[f.cursor])
			}
		case s.toggle != nil && key.Matches(k, keys.Enter):
			return f.runJob()
		case key.Matches(k, keys.Enter):
			if f.cursor < 0 || f.cursor >= len(opts) || opts[f.cursor].disabled {
				return nil
			}
			if s.choose != nil {
				if err := s.choose(f, opts[f.cursor]); err != nil {
					f.fail(err)
					return nil
				}
			}
			s.summary = opts[f.cursor].label
			return f.runJob()
		}
	}
	return nil
}

// fixCursor puts the cursor on a choosable option (the list changes as
// tokens come and go).
func (f *flow) fixCursor(opts []option) {
	if f.cursor >= 0 && f.cursor < len(opts) && !opts[f.cursor].disabled {
		return
	}
	for i, o := range opts {
		if !o.disabled {
			f.cursor = i
			return
		}
	}
}

func (f *flow) moveCursor(opts []option, d int) {
	for i := f.cursor + d; i >= 0 && i < len(opts); i += d {
		if !opts[i].disabled {
			f.cursor = i
			return
		}
	}
}

// acknowledge records the step in the transcript, with any earlier
// acknowledgements still waiting for the workspace, then runs the step's
// call, if any. Recording is a call too: the flow takes no key meanwhile.
func (f *flow) acknowledge() tea.Cmd {
	s := f.step()
	text := s.title
	if s.ack != nil {
		text = s.ack(f)
	}
	rec := ackRecord{Ceremony: f.name, Step: f.cur + 1, Title: s.title, Text: text, Machine: f.now().UTC().Format(time.RFC3339)}
	pending := append(append([]ackRecord{}, f.pendingAcks...), rec)
	f.pendingAcks = nil
	var run jobFunc
	if s.run != nil {
		run = s.run(f)
	}
	media := f.media
	return f.startJob(func(ctx context.Context, p ceremony.Prompter) (any, error) {
		left, err := recordAcks(ctx, media, pending)
		if err != nil {
			return ackResult{left: pending}, fmt.Errorf("failed to record the acknowledgement: %w", err)
		}
		var res any
		if run != nil {
			if res, err = run(ctx, p); err != nil {
				return ackResult{left: left, result: res}, err
			}
		}
		if len(left) > 0 {
			// The call may have created the workspace (init).
			left, _ = recordAcks(ctx, media, left)
		}
		return ackResult{left: left, result: res}, nil
	})
}

// ackResult wraps the result of an acknowledged step's call with the
// acknowledgements that still wait for a workspace.
type ackResult struct {
	left   []ackRecord
	result any
}

// Acknowledgements are recorded in the transcript as "acknowledged".
type ackRecord struct {
	Ceremony string `json:"ceremony"`
	Step     int    `json:"step"`
	Title    string `json:"title"`
	Text     string `json:"text"`
	// Machine is the ceremony machine's clock when the step was
	// acknowledged (the entry's own time is that of the commit).
	Machine string `json:"machine_time"`
}

// recordAcks writes acks to the transcript of the workspace at media, if
// it exists; otherwise they are returned, to be recorded once it does.
func recordAcks(ctx context.Context, media string, acks []ackRecord) ([]ackRecord, error) {
	if media == "" || !fileExists(media+"/"+ceremony.TranscriptFile) {
		return acks, nil
	}
	ws, err := openWS(ctx, media)
	if err != nil {
		return acks, err
	}
	return nil, Acknowledge(ws, acks...)
}

// Acknowledge records, in one transaction, that the custodians
// acknowledged steps of a guided ceremony: one "acknowledged" transcript
// entry per step.
func Acknowledge(ws *ceremony.Workspace, acks ...ackRecord) error {
	if len(acks) == 0 {
		return nil
	}
	tx := ws.Begin()
	for _, a := range acks {
		tx.Record("acknowledged", a)
	}
	return tx.Commit()
}

// ---- view ----

func (f *flow) help() []key.Binding {
	var b []key.Binding
	s := f.step()
	switch {
	case f.stopping:
		return nil
	case f.confirmLeave:
		return []key.Binding{bind("y", "leave"), bind("n", "stay")}
	case f.prompt != nil:
		return f.promptHelp()
	case f.running != nil:
		return []key.Binding{bind("esc", "stop")}
	case f.err != nil:
		if f.retype && s != nil && s.kind == stepInput {
			b = append(b, bind("enter", "try again"))
		} else {
			b = append(b, keys.Retry)
		}
		if errors.Is(f.err, hsm.ErrFinalTry) {
			b = append(b, keys.Force)
		}
		return append(b, keys.Back)
	case f.finished || s == nil:
		return []key.Binding{bind("enter", "home")}
	}
	switch s.kind {
	case stepAck:
		desc := "acknowledge"
		if s.finalKey != "" {
			desc = s.finalKey
		}
		b = append(b, bind("enter", desc))
	case stepInput:
		b = append(b, bind("enter", "continue"))
	case stepChoose:
		if s.toggle != nil {
			b = append(b, keys.Up, bind("space", "select"), bind("enter", "continue"))
		} else {
			b = append(b, keys.Up, bind("enter", "choose"))
		}
	}
	if s.actions != nil {
		for _, a := range s.actions(f) {
			b = append(b, a.key)
		}
	}
	if s.kind == stepAck {
		b = append(b, keys.PgUp)
	}
	return append(b, keys.Back)
}

// stepLine is "Steps ✓1 ✓2 ▶3 4 5". A flow with more steps than the
// width holds (a plan built here, a rotation adding many keys) shows the
// first, the last and those around the current one: "Steps ✓1 … ✓9 ▶10
// 11 … 31".
func (f *flow) stepLine() string {
	st := f.sh.st
	n := len(f.steps)
	plain := make([]string, n)
	styled := make([]string, n)
	for i, s := range f.steps {
		num := fmt.Sprint(i + 1)
		switch {
		case s.status == statusDone:
			plain[i] = "✓" + num
			styled[i] = st.ok.Render(plain[i])
		case s.status == statusSkipped:
			plain[i] = "-" + num
			styled[i] = st.subtle.Render(plain[i])
		case i == f.cur && !f.finished:
			plain[i] = "▶" + num
			styled[i] = st.selected.Render(plain[i])
		default:
			plain[i] = " " + num
			styled[i] = st.subtle.Render(plain[i])
		}
	}
	tail, room := "", f.sh.width-lenCells("Steps ")
	if f.finished {
		tail = "  " + st.ok.Render("done")
		room -= lenCells("  done")
	}
	// line joins the steps in [lo, hi] with the first and the last; "…"
	// stands for two steps or more.
	line := func(lo, hi int, parts []string) string {
		shown := func(i int) bool { return i == 0 || i == n-1 || (i >= lo && i <= hi) }
		var out []string
		for i := 0; i < n; i++ {
			switch {
			case shown(i) || (i > 0 && i < n-1 && shown(i-1) && shown(i+1)):
				out = append(out, parts[i])
			case shown(i - 1):
				out = append(out, "…")
			}
		}
		return strings.Join(out, " ")
	}
	cur := min(f.cur, n-1)
	lo, hi := 0, n-1
	for k := n; k >= 0; k-- {
		lo, hi = max(0, cur-k), min(n-1, cur+k)
		if lenCells(line(lo, hi, plain)) <= room {
			break
		}
	}
	return "Steps " + line(lo, hi, styled) + tail
}

func (f *flow) view() string {
	sh := f.sh
	st := sh.st
	w := sh.width
	var head strings.Builder
	head.WriteString(sh.header("tuf-ceremony · "+f.title) + "\n")
	if len(sh.netUp) > 0 || sh.netErr != nil {
		head.WriteString(sh.airGap() + "\n")
	}
	head.WriteString(f.stepLine() + "\n")

	var body strings.Builder
	s := f.step()
	switch {
	case f.finished || s == nil:
		body.WriteString(st.heading.Render("The ceremony is complete.") + "\n")
		if last := f.lastSummary(); last != "" {
			body.WriteString(last + "\n")
		}
	case f.prompt != nil:
		body.WriteString(f.promptView())
	default:
		body.WriteString(st.heading.Render(fmt.Sprintf("%d. %s", f.cur+1, s.title)) + "\n\n")
		if s.body != nil {
			if text := s.body(f); text != "" {
				body.WriteString(strings.TrimRight(text, "\n") + "\n")
			}
		}
		switch s.kind {
		case stepInput:
			f.input.Width = w - lenCells(f.input.Prompt) - 2
			body.WriteString("\n" + f.input.View() + "\n")
		case stepChoose:
			opts := s.options(f)
			f.fixCursor(opts)
			body.WriteString("\n" + f.optionsView(opts))
		}
		if f.running != nil {
			body.WriteString("\n" + f.runningView())
		}
	}
	var foot strings.Builder
	if f.err != nil {
		foot.WriteString(errorView(st, f.err, f.errHint, w))
	}
	if f.stopping {
		foot.WriteString(st.warn.Render(sh.spin.View()+" stopping…") + "\n")
	}
	if f.confirmLeave {
		foot.WriteString(st.warn.Render(wrap("Leave this ceremony? What is done stays done (and recorded); what is typed on this step is lost. (y/n)", w)) + "\n")
	}
	headS := head.String()
	footS := foot.String()
	avail := sh.height - 1 - lineCount(headS) - lineCount(footS)
	if avail < 3 {
		avail = 3
	}
	f.vp.Width = w
	f.vp.Height = avail
	f.vp.SetContent(strings.TrimRight(body.String(), "\n"))
	return headS + f.vp.View() + "\n" + footS
}

func (f *flow) lastSummary() string {
	for i := len(f.steps) - 1; i >= 0; i-- {
		if s := f.steps[i]; s.body != nil && s.kind == stepAck {
			return s.body(f)
		}
	}
	return ""
}

func (f *flow) optionsView(opts []option) string {
	st := f.sh.st
	if len(opts) == 0 {
		return st.subtle.Render("(nothing to choose yet)") + "\n"
	}
	var b strings.Builder
	for i, o := range opts {
		cur := "  "
		label := o.label
		switch {
		case i == f.cursor && !o.disabled:
			cur = st.selected.Render("▶ ")
			label = st.selected.Render(label)
		case o.disabled:
			label = st.subtle.Render(label)
		}
		b.WriteString(cur + label + "\n")
		if o.detail != "" {
			for _, l := range strings.Split(o.detail, "\n") {
				b.WriteString("    " + truncate(l, f.sh.width-4) + "\n")
			}
		}
	}
	return b.String()
}

func (f *flow) runningView() string {
	sh := f.sh
	st := sh.st
	var b strings.Builder
	if f.touch != nil {
		secs := int(sh.now.Sub(f.touchAt).Seconds())
		if secs < 0 {
			secs = 0
		}
		b.WriteString(st.alarm.Render(" "+sh.spin.View()+" TOUCH YOUR YUBIKEY NOW ") + "\n")
		// Wrapped, not cut: the seconds come last.
		b.WriteString(wrap(fmt.Sprintf("%s is waiting for a touch of its gold contact (%ds; it gives up after about 15 s)", f.touch.token, secs), sh.width) + "\n")
	} else {
		b.WriteString(sh.spin.View() + " working…\n")
	}
	start := 0
	if len(f.log) > 6 {
		start = len(f.log) - 6
	}
	for _, l := range f.log[start:] {
		b.WriteString(st.subtle.Render(truncate("  "+l, sh.width)) + "\n")
	}
	return b.String()
}

func lineCount(s string) int {
	if s == "" {
		return 0
	}
	return strings.Count(strings.TrimRight(s, "\n"), "\n") + 1
}

func lenCells(s string) int { return len([]rune(s)) }

// errorView shows an error in place with what to do next.
func errorView(st *styles, err error, hints []string, width int) string {
	// A long line is wrapped, not cut: its end says what is wrong. At most
	// errorMaxLines are shown, so the step above keeps its room.
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		lines = append(lines, strings.Split(strings.TrimRight(wrapHard(l, width-7), "\n"), "\n")...)
	}
	if len(lines) > errorMaxLines {
		lines = append(lines[:errorMaxLines-1], fmt.Sprintf("… (%d more lines)", len(lines)-errorMaxLines+1))
	}
	var b strings.Builder
	for i, l := range lines {
		prefix := "       "
		if i == 0 {
			prefix = st.bad.Render("error: ")
		}
		b.WriteString(prefix + l + "\n")
	}
	for _, h := range hints {
		b.WriteString(st.warn.Render("hint: ") + truncate(h, width-6) + "\n")
	}
	return b.String()
}

// errorMaxLines is the most lines an error takes on screen.
const errorMaxLines = 7

func (f *flow) now() time.Time { return f.sh.opts.Now() }
