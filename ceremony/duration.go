package ceremony

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is how long signed metadata stays valid, as a plan writes it:
// a positive whole number and one unit, m (minutes), h (hours), d (days of
// 24 hours) or w (weeks): "365d", "26w", "12h", "90m". There is no year or
// month unit, whose length would depend on the calendar; write 365d.
type Duration time.Duration

// durationUnits in the order String prefers them, largest first.
var durationUnits = []struct {
	name byte
	d    time.Duration
}{
	{'w', 7 * 24 * time.Hour},
	{'d', 24 * time.Hour},
	{'h', time.Hour},
	{'m', time.Minute},
}

const durationHelp = "write a whole number and a unit (m, h, d or w), e.g. 365d"

// ParseDuration parses a duration as a plan writes it (see Duration).
func ParseDuration(s string) (Duration, error) {
	bad := func(why string) (Duration, error) {
		return 0, fmt.Errorf("invalid duration %q: %s", s, why)
	}
	digits := 0
	for digits < len(s) && '0' <= s[digits] && s[digits] <= '9' {
		digits++
	}
	num, rest := s[:digits], s[digits:]
	switch {
	case s == "":
		return bad(durationHelp)
	case s[0] == '-':
		return bad("must be positive")
	case num == "":
		return bad(durationHelp)
	case rest == "":
		return bad("no unit; " + durationHelp)
	case rest[0] == '.' || rest[0] == ',':
		return bad("use a whole number and a smaller unit, e.g. 36h rather than 1.5d")
	}
	var unit time.Duration
	for _, u := range durationUnits {
		if rest == string(u.name) {
			unit = u.d
		}
	}
	if unit == 0 {
		if len(rest) > 1 && isDurationUnit(rest[0]) {
			return bad("use one unit, e.g. 36h rather than 1d12h")
		}
		if rest == "y" {
			return bad(`unknown unit "y": write a year as 365d`)
		}
		return bad(fmt.Sprintf("unknown unit %q; use m, h, d or w", rest))
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return bad(durationHelp)
	}
	if err != nil || n > math.MaxInt64/int64(unit) {
		return bad("too long")
	}
	if n == 0 {
		return bad("must be positive")
	}
	return Duration(time.Duration(n) * unit), nil
}

func isDurationUnit(c byte) bool {
	for _, u := range durationUnits {
		if c == u.name {
			return true
		}
	}
	return false
}

// String writes the duration in the largest unit that divides it exactly:
// "365d", "26w", "12h". ParseDuration(d.String()) == d for every positive
// whole number of minutes; other values (never parsed from a plan) are
// written as time.Duration writes them.
func (d Duration) String() string {
	if d > 0 {
		for _, u := range durationUnits {
			if time.Duration(d)%u.d == 0 {
				return strconv.FormatInt(int64(time.Duration(d)/u.d), 10) + string(u.name)
			}
		}
	}
	return time.Duration(d).String()
}

// MarshalYAML writes the duration as String does. It fails for a value
// that ParseDuration would not read back.
func (d Duration) MarshalYAML() (any, error) {
	if d <= 0 || time.Duration(d)%time.Minute != 0 {
		return nil, fmt.Errorf("duration %s is not a positive whole number of minutes", time.Duration(d))
	}
	return d.String(), nil
}

// UnmarshalYAML reads a duration written as ParseDuration accepts.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be written as e.g. 365d, got %s", n.Line, planDescribe(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}
