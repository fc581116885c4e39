package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
)

// keys are the bindings shared by the screens; each screen adds its own.
var keys = struct {
	Quit, Interrupt, Back, Enter, Up, Down, Yes, No, Retry, Force, Media, Clock key.Binding
	PgUp, PgDown                                                                key.Binding
}{
	Quit:      key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
	Interrupt: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
	Back:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
	Enter:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "continue")),
	Up:        key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/↓", "choose")),
	Down:      key.NewBinding(key.WithKeys("down", "j")),
	Yes:       key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),
	No:        key.NewBinding(key.WithKeys("n", "N"), key.WithHelp("n", "no")),
	Retry:     key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "try again")),
	Force:     key.NewBinding(key.WithKeys("F"), key.WithHelp("F", "force the final PIN try")),
	Media:     key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "media")),
	Clock:     key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "clock is right")),
	PgUp:      key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup/pgdn", "scroll")),
	PgDown:    key.NewBinding(key.WithKeys("pgdown", " ")),
}

// helpLine renders bindings as "enter continue · esc back".
func helpLine(st *styles, width int, bindings ...key.Binding) string {
	var parts []string
	for _, b := range bindings {
		if !b.Enabled() || b.Help().Key == "" {
			continue
		}
		parts = append(parts, b.Help().Key+" "+b.Help().Desc)
	}
	return st.help.Render(truncate(strings.Join(parts, " · "), width))
}

// bind makes an ad-hoc binding for a screen's own keys.
func bind(k, desc string, more ...string) key.Binding {
	return key.NewBinding(key.WithKeys(append([]string{k}, more...)...), key.WithHelp(k, desc))
}
