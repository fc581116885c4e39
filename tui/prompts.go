package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// The prompts a running ceremony call opens: PIN, confirmation, review,
// notice. Each is answered exactly once, on its reply channel.

func (f *flow) promptKey(k tea.KeyMsg) tea.Cmd {
	switch p := f.prompt.(type) {
	case pinRequest:
		switch {
		case key.Matches(k, keys.Back):
			p.reply <- pinReply{err: ceremony.ErrAborted}
			f.prompt = nil
			return nil
		case key.Matches(k, keys.Enter):
			v := f.pinInput.Value()
			if v == "" {
				return nil
			}
			p.reply <- pinReply{pin: hsm.NewPIN(v)}
			f.pinInput.Reset()
			f.prompt = nil
			return nil
		}
		var cmd tea.Cmd
		f.pinInput, cmd = f.pinInput.Update(k)
		return cmd
	case confirmRequest:
		switch {
		case key.Matches(k, keys.Yes):
			p.reply <- true
			f.prompt = nil
		case key.Matches(k, keys.No), key.Matches(k, keys.Back):
			p.reply <- false
			f.prompt = nil
		}
	case reviewRequest:
		switch {
		case key.Matches(k, keys.Yes):
			f.log = append(f.log, "confirmed: "+p.review.File+" "+p.review.Fingerprint.Short)
			p.reply <- true
			f.prompt = nil
		case key.Matches(k, keys.No), key.Matches(k, keys.Back):
			p.reply <- false
			f.prompt = nil
		case key.Matches(k, keys.Up), key.Matches(k, keys.PgUp):
			f.vp.ScrollUp(3)
		case key.Matches(k, keys.Down), key.Matches(k, keys.PgDown):
			f.vp.ScrollDown(3)
		}
	case noticeRequest:
		switch {
		case key.Matches(k, keys.Enter):
			f.prompt = nil
			f.sh.pollPaused = true
			if f.sh.polling {
				f.afterPoll = func() tea.Cmd { p.reply <- struct{}{}; return nil }
				return nil
			}
			p.reply <- struct{}{}
		case key.Matches(k, keys.Back):
			f.sh.pollPaused = true
			f.leave = true
			f.stop()
		}
	}
	return nil
}

func (f *flow) promptHelp() []key.Binding {
	switch f.prompt.(type) {
	case pinRequest:
		return []key.Binding{bind("enter", "log in"), bind("esc", "cancel")}
	case confirmRequest:
		return []key.Binding{keys.Yes, keys.No}
	case reviewRequest:
		return []key.Binding{bind("y", "the fingerprint matches: sign"), bind("n", "refuse"), keys.PgUp}
	case noticeRequest:
		return []key.Binding{bind("enter", "done"), bind("esc", "stop")}
	}
	return nil
}

func (f *flow) promptView() string {
	sh := f.sh
	st := sh.st
	w := sh.width
	var b strings.Builder
	switch p := f.prompt.(type) {
	case pinRequest:
		b.WriteString(st.heading.Render("PIN") + "\n\n")
		b.WriteString(wrap(fmt.Sprintf("Custodian of %s: type your PIN. It is not shown and not recorded.", p.token), w) + "\n\n")
		state := p.state.String()
		if p.state.OnFinalTry() || p.state.CountLow {
			state = st.bad.Render("!! " + state)
		} else {
			state = st.subtle.Render(state)
		}
		b.WriteString("  " + state + "\n\n")
		f.pinInput.Width = 32
		b.WriteString("  " + f.pinInput.View() + "\n")
		if hint := sh.rehearsalPIN(p.token); hint != "" {
			b.WriteString("\n" + st.subtle.Render("  rehearsal: the PIN of this throw-away token is "+hint) + "\n")
		}
	case confirmRequest:
		b.WriteString(st.heading.Render("Confirm") + "\n\n")
		b.WriteString(wrap(p.question+"  (y/n)", w) + "\n") // wrap pads to the width: "(y/n)" goes inside
	case noticeRequest:
		b.WriteString(st.heading.Render("Now") + "\n\n")
		b.WriteString(wrap(p.message, w) + "\n\n")
		b.WriteString(f.tokensPresent(p.message))
		b.WriteString("\n" + st.subtle.Render("Press enter when it is done.") + "\n")
	case reviewRequest:
		b.WriteString(reviewView(st, p.review, p.changes, w))
	}
	if len(f.log) > 0 {
		b.WriteString("\n")
		start := 0
		if len(f.log) > 3 {
			start = len(f.log) - 3
		}
		for _, l := range f.log[start:] {
			b.WriteString(st.subtle.Render(truncate("  "+l, w)) + "\n")
		}
	}
	return b.String()
}

// reviewView is what a custodian checks before signing (invariant 4):
// the changes against the previous version and the fingerprint of the
// exact bytes, as hex and as PGP words to read aloud.
func reviewView(st *styles, r ceremony.Review, changes []ceremony.Change, w int) string {
	var b strings.Builder
	b.WriteString(st.heading.Render(fmt.Sprintf("Review: %s (%s v%d)", r.File, r.Role, r.Version)) + "\n")
	b.WriteString(truncate(fmt.Sprintf("signed by the key of %s; counts for %s", r.Signer, strings.Join(r.Under, ", ")), w) + "\n\n")
	b.WriteString("Fingerprint of the exact bytes to sign:\n")
	b.WriteString("  " + st.words.Render(r.Fingerprint.Short) + "\n")
	b.WriteString("  " + st.words.Render(strings.Join(r.Fingerprint.Words, " ")) + "\n")
	b.WriteString(wrap("Read the words aloud; everyone compares them with their own screen or printout.", w) + "\n\n")
	if r.Version <= 1 {
		b.WriteString(st.heading.Render("Contents (first version):") + "\n")
	} else {
		b.WriteString(st.heading.Render(fmt.Sprintf("Changes since v%d:", r.Version-1)) + "\n")
	}
	// Every change in full, wrapped: nothing of what is signed is cut.
	b.WriteString(changesText(st, changes, w))
	b.WriteString("\nfull SHA-256: " + r.Fingerprint.SHA256 + "\n")
	return b.String()
}

// tokensPresent lists the tokens the App sees now; the one a message
// names (token=LABEL or serial=N) is marked as recognised.
func (f *flow) tokensPresent(message string) string {
	sh := f.sh
	st := sh.st
	if !sh.tokensRead {
		return st.subtle.Render("looking for tokens…") + "\n"
	}
	if len(sh.tokens) == 0 {
		return st.subtle.Render("no token present") + "\n"
	}
	var b strings.Builder
	b.WriteString("Tokens present:\n")
	for _, l := range sh.tokens {
		mark := "  "
		if named(message, l) {
			mark = st.ok.Render("✓ ")
		}
		b.WriteString(mark + truncate(tokenLine(l, sh.media.custodianOf(l)), sh.width-2) + "\n")
	}
	return b.String()
}

// named reports whether message addresses the token of l by label or
// serial.
func named(message string, l ceremony.TokenListing) bool {
	t := l.Token
	for _, k := range []string{"token=" + t.Label, "serial=" + t.Serial} {
		i := strings.Index(message, k)
		if i < 0 || strings.HasSuffix(k, "=") {
			continue
		}
		end := i + len(k)
		if end == len(message) || strings.ContainsRune(";?&) \n", rune(message[end])) {
			return true
		}
	}
	return false
}

// tokenLine is one token for a listing.
func tokenLine(l ceremony.TokenListing, custodian string) string {
	return tokenText(l, custodian, true)
}

// tokenText is a token for a listing, with or without its model.
func tokenText(l ceremony.TokenListing, custodian string, model bool) string {
	t := l.Token
	name := t.Label
	if name == "" {
		name = t.Model
	}
	s := fmt.Sprintf("%-8s %s", name, t.Serial)
	if model {
		s = fmt.Sprintf("%-8s %s %s", name, t.Model, t.Serial)
	}
	if custodian != "" {
		s += ", " + custodian + "'s"
	}
	switch {
	case l.Error != "":
		s += " — error: " + l.Error
	case len(l.Keys) == 1:
		s += ", 1 key"
	default:
		s += fmt.Sprintf(", %d keys", len(l.Keys))
	}
	if p := l.PIN; p != nil && (p.CountLow || p.FinalTry || p.Locked || (model && p.RetriesLeft >= 0)) {
		s += ", " + p.String()
	}
	return s
}
