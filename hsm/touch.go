package hsm

import (
	"context"
	"errors"
)

// TouchFunc is told that a token waits for a touch of its sensor (a
// YubiKey's gold contact) before it signs: the UI says "touch your YubiKey
// now". It is called on the signing goroutine right before the operation
// that needs the touch, must return quickly and must not call the token.
type TouchFunc func(TokenInfo)

type touchKey struct{}

// WithTouchPrompt returns a context whose signers call f right before a
// signature that needs a touch. Backends take the context given to
// Token.Signer and keep it in the signer.
func WithTouchPrompt(ctx context.Context, f TouchFunc) context.Context {
	return context.WithValue(ctx, touchKey{}, f)
}

// TouchPrompt returns the TouchFunc of ctx, or nil when there is none.
func TouchPrompt(ctx context.Context) TouchFunc {
	if ctx == nil {
		return nil
	}
	f, _ := ctx.Value(touchKey{}).(TouchFunc)
	return f
}

// ErrNoTouch is a signature the token refused because nobody touched it
// in time.
var ErrNoTouch = errors.New("no touch")
