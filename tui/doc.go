// Package tui is the guided terminal UI of tuf-ceremony (bubbletea): the
// screens custodians follow on the air-gapped machine.
//
// The home screen shows what the ceremony depends on: the tokens present
// (polled every two seconds), the medium and what it holds (published
// versions, staged proposals with their signature progress, expiries), the
// machine's clock to be checked against a watch, and a loud warning when a
// network interface is up. Every ceremony is a numbered script of steps
// that the custodians acknowledge one by one; acknowledgements go to the
// medium's transcript.
//
// The package calls the ceremony package, never a second implementation of
// it. A ceremony call runs in its own goroutine (a tea.Cmd); whatever it
// needs from a person (a PIN, a confirmation, a review of what is about to
// be signed, "touch your YubiKey now") reaches the model as a message
// carrying a reply channel, and the model answers once the person has. All
// other IO (token listing, reading the medium, the clock) happens in
// tea.Cmds that return typed messages; errors are messages too and are
// shown in place with what to do next.
//
// The root model (App) holds a screen enum and one component per screen,
// shared styles (NO_COLOR is respected: the meaning never rests on colour
// alone) and a help line; it handles resizes and works at 80x24. Quitting
// asks for confirmation while a ceremony is in progress, and waits for a
// running ceremony call to stop, so no file is left half-written (the
// ceremony package's writes are atomic in any case).
package tui
