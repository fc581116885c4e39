package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// styles are shared by every screen. Colours only underline what the text
// already says ("!!", "✓", "✗"), so that NO_COLOR (and a monochrome
// terminal) loses nothing.
type styles struct {
	r        *lipgloss.Renderer
	title    lipgloss.Style
	heading  lipgloss.Style
	subtle   lipgloss.Style
	ok       lipgloss.Style
	warn     lipgloss.Style
	bad      lipgloss.Style
	alarm    lipgloss.Style // the air-gap warning
	selected lipgloss.Style
	key      lipgloss.Style
	help     lipgloss.Style
	added    lipgloss.Style
	removed  lipgloss.Style
	changed  lipgloss.Style
	words    lipgloss.Style // the fingerprint, read aloud
	banner   lipgloss.Style // REHEARSAL
	box      lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) *styles {
	s := &styles{r: r}
	s.title = r.NewStyle().Bold(true).Foreground(lipgloss.Color("12"))
	s.heading = r.NewStyle().Bold(true)
	s.subtle = r.NewStyle().Foreground(lipgloss.Color("8"))
	s.ok = r.NewStyle().Foreground(lipgloss.Color("10"))
	s.warn = r.NewStyle().Foreground(lipgloss.Color("11")).Bold(true)
	s.bad = r.NewStyle().Foreground(lipgloss.Color("9")).Bold(true)
	s.alarm = r.NewStyle().Bold(true).Foreground(lipgloss.Color("15")).Background(lipgloss.Color("1"))
	s.selected = r.NewStyle().Bold(true).Foreground(lipgloss.Color("14"))
	s.key = r.NewStyle().Bold(true)
	s.help = r.NewStyle().Foreground(lipgloss.Color("8"))
	s.added = r.NewStyle().Foreground(lipgloss.Color("10"))
	s.removed = r.NewStyle().Foreground(lipgloss.Color("9"))
	s.changed = r.NewStyle().Foreground(lipgloss.Color("11"))
	s.words = r.NewStyle().Bold(true).Foreground(lipgloss.Color("14"))
	s.banner = r.NewStyle().Bold(true).Foreground(lipgloss.Color("0")).Background(lipgloss.Color("11"))
	s.box = r.NewStyle().Border(lipgloss.NormalBorder()).Padding(0, 1)
	return s
}

// bar draws a threshold as "[##--] 2/4", in ASCII so that it reads the
// same without colour.
func (s *styles) bar(have, need, width int) string {
	if need <= 0 {
		need = 1
	}
	if width < 3 {
		width = 3
	}
	filled := have * width / need
	if filled > width {
		filled = width
	}
	b := "[" + strings.Repeat("#", filled) + strings.Repeat("-", width-filled) + "]"
	st := s.warn
	if have >= need {
		st = s.ok
	}
	return st.Render(b) + fmt.Sprintf(" %d/%d", have, need)
}

// truncate cuts s to width display cells, with "…"; styles survive.
func truncate(s string, width int) string {
	if width <= 0 {
		return ""
	}
	return ansi.Truncate(s, width, "…")
}

// wrap breaks plain text at width.
func wrap(s string, width int) string {
	if width < 10 {
		width = 10
	}
	return lipgloss.NewStyle().Width(width).Render(s)
}

// wrapHard breaks s at width, also inside long words (key IDs, hashes).
func wrapHard(s string, width int) string {
	if width < 10 {
		width = 10
	}
	return ansi.Wrap(s, width, "")
}
