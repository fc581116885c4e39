package tui

import (
	"errors"
	"io/fs"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony"
	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// hintsFor says what to do next about an error, in the TUI's words (the
// CLI's hints name flags; these name keys and screens).
func hintsFor(err error) []string {
	var hinted interface{ Hints() []string }
	var planErr *ceremony.PlanError
	var wrong *ceremony.WrongTokenError
	switch {
	case errors.Is(err, errStopped), errors.Is(err, ceremony.ErrAborted):
		return []string{"nothing was signed or written; press r to start the step again"}
	case errors.As(err, &wrong):
		return []string{"take this token out and insert the token of one of the custodians named, then press r"}
	case errors.Is(err, hsm.ErrFinalTry):
		return []string{"one more wrong PIN locks the token: press F only if the custodian is certain of the PIN"}
	case errors.Is(err, hsm.ErrPINLocked):
		return []string{"the token's security officer must unblock the PIN (SoftHSM: softhsm2-util; YubiKey: the PUK)"}
	case errors.Is(err, hsm.ErrPINIncorrect):
		return []string{"press r and type the PIN again; the retries left are shown before each try"}
	case errors.Is(err, hsm.ErrNoTouch):
		return []string{"press r and touch the YubiKey's gold contact when asked"}
	case errors.Is(err, hsm.ErrTokenRemoved):
		return []string{"reinsert the token and press r; nothing was written"}
	case errors.Is(err, hsm.ErrTokenNotFound):
		return []string{"insert the token (the home screen lists what is present); for SoftHSM, is SOFTHSM2_CONF set?"}
	case errors.As(err, &hinted):
		return hinted.Hints()
	case errors.As(err, &planErr):
		return []string{"fix the plan file, then press enter again; nothing was written"}
	case errors.Is(err, ceremony.ErrNothingStaged):
		return []string{"stage something first: a new repository, a renewal or a rotation (home screen)"}
	case errors.Is(err, ceremony.ErrAlreadySigned):
		return []string{"this token has signed everything it can; the next custodian inserts theirs"}
	case errors.Is(err, ceremony.ErrNotPublishable):
		return []string{"nothing was written; the signatures still missing are listed above"}
	case errors.Is(err, ceremony.ErrTampered):
		return []string{"discard the staged file (tuf-ceremony discard) and propose again"}
	case errors.Is(err, ceremony.ErrSumsMismatch):
		return []string{"the medium no longer matches its SHA256SUMS: find out who changed what before going on"}
	case errors.Is(err, ceremony.ErrAlreadyInitialized):
		return []string{"this medium already holds a repository: choose an empty medium (m on the home screen)"}
	case errors.Is(err, ceremony.ErrAlreadyStaged):
		return []string{"sign and publish what is staged first (home screen), or discard it with tuf-ceremony discard"}
	case errors.Is(err, ceremony.ErrNothingToChange):
		return []string{"choose at least one change"}
	case errors.Is(err, ceremony.ErrUnusableProposal):
		return []string{"every role needs a key and a threshold no higher than its keys"}
	case errors.Is(err, ceremony.ErrMediaUnusable), errors.Is(err, ceremony.ErrNoWorkspace):
		return []string{"the medium must be an empty directory, a new path or an existing workspace (m on the home screen)"}
	case errors.Is(err, ceremony.ErrWorkspaceLocked):
		return []string{"another tuf-ceremony command is using this medium; wait for it, then press r"}
	case errors.Is(err, fs.ErrNotExist):
		return []string{"check the path: is the medium mounted?"}
	}
	return nil
}
