package ceremony

import (
	"context"
	"errors"
	"fmt"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// Prompter is everything the ceremony needs from a person: a PIN, a yes or
// no, and a place to say what is happening. The CLI and the TUI implement
// it; the ceremony itself does no terminal IO.
type Prompter interface {
	// PIN asks for the PIN of a token that has already been identified
	// and whose PIN state allows a try.
	PIN(ctx context.Context, token hsm.TokenInfo, state hsm.PINState) (hsm.PIN, error)
	// Confirm asks a yes/no question; false means the person declined.
	Confirm(ctx context.Context, question string) (bool, error)
	// Review shows what is about to be signed and asks for confirmation;
	// false means the custodian declined.
	Review(ctx context.Context, r Review) (bool, error)
	// Notice shows an instruction ("insert the token of alice") and, on
	// a terminal, waits until the person acknowledges it; when nobody can
	// be asked it only shows it.
	Notice(ctx context.Context, message string) error
	// Progress reports a step of a slow or important operation.
	Progress(message string)
}

// ErrAborted is returned when the custodian declines to go on.
var ErrAborted = errors.New("aborted by the custodian")

// UnlockOptions say where the PIN comes from and whether a final try may
// be spent.
type UnlockOptions struct {
	// PIN was given in the token URI (pin-source or pin-value); when
	// empty, the prompter is asked.
	PIN hsm.PIN
	// Force tries the PIN even on the token's final try.
	Force bool
}

// Unlock logs in to tok, asking for the PIN only once the token's PIN state
// is known: a locked token is not tried at all, and a token on its final
// try only when the custodian forces it.
func Unlock(ctx context.Context, tok hsm.Token, p Prompter, opts UnlockOptions) error {
	state, err := tok.PINState(ctx)
	if err != nil {
		return err
	}
	if state.LoggedIn {
		return nil
	}
	info := tok.Info()
	if state.Locked {
		return &hsm.DeviceError{Op: "login", Kind: hsm.ErrPINLocked, Token: info.String()}
	}
	if state.OnFinalTry() && !opts.Force {
		return &hsm.DeviceError{Op: "login", Kind: hsm.ErrFinalTry, Token: info.String()}
	}
	p.Progress(fmt.Sprintf("%s: %s", info, state))
	pin := opts.PIN
	if pin.Empty() {
		if pin, err = p.PIN(ctx, info, state); err != nil {
			return err
		}
	}
	return tok.Login(ctx, pin, hsm.LoginOptions{Force: opts.Force})
}
