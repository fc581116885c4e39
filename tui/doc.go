// Package tui will hold the guided terminal ceremonies (bubbletea): one
// model per screen, all IO in tea.Cmds, over the ceremony package. It is
// empty until the guided ceremonies are built; the CLI is the interface
// today.
package tui
