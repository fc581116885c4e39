package virtualpiv

import (
	"context"
	"fmt"
	"time"
)

// TouchMode says how the virtual key's touch sensor behaves.
type TouchMode string

const (
	// TouchAuto touches at once whenever a touch is needed.
	TouchAuto TouchMode = "auto"
	// TouchWait waits for Touch (SIGUSR1 for the command) and fails the
	// operation with 6982 when none comes before the timeout.
	TouchWait TouchMode = "wait"
)

// DefaultTouchTimeout is how long a YubiKey waits for a touch.
const DefaultTouchTimeout = 15 * time.Second

// touchCacheDuration is how long a touch stays valid for keys with the
// "cached" touch policy.
const touchCacheDuration = 15 * time.Second

// TouchSensor is the virtual key's touch sensor.
type TouchSensor struct {
	Mode    TouchMode
	Timeout time.Duration
	// OnWait, if set, is called when the card starts waiting for a touch
	// (in TouchWait mode), with a description of what waits.
	OnWait func(what string)

	touches chan struct{}
}

// NewTouchSensor returns a sensor in mode with the given timeout
// (DefaultTouchTimeout when 0).
func NewTouchSensor(mode TouchMode, timeout time.Duration) (*TouchSensor, error) {
	if mode != TouchAuto && mode != TouchWait {
		return nil, fmt.Errorf("touch mode %q: want auto or wait", mode)
	}
	if timeout <= 0 {
		timeout = DefaultTouchTimeout
	}
	return &TouchSensor{Mode: mode, Timeout: timeout, touches: make(chan struct{}, 1)}, nil
}

// Touch touches the sensor. A touch counts only while the card waits for
// one; otherwise it is forgotten when the next wait starts, as on a real key.
func (t *TouchSensor) Touch() {
	select {
	case t.touches <- struct{}{}:
	default:
	}
}

// wait blocks until a touch, the timeout or ctx's end, and reports whether
// the sensor was touched.
func (t *TouchSensor) wait(ctx context.Context, what string) bool {
	if t.Mode == TouchAuto {
		return true
	}
	select { // forget touches from before
	case <-t.touches:
	default:
	}
	if t.OnWait != nil {
		t.OnWait(what)
	}
	timer := time.NewTimer(t.Timeout)
	defer timer.Stop()
	select {
	case <-t.touches:
		return true
	case <-timer.C:
		return false
	case <-ctx.Done():
		return false
	}
}
