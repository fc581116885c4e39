package ceremony

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		str  string // String of the result
	}{
		{"365d", 365 * day, "365d"},
		{"26w", 26 * 7 * day, "26w"},
		{"12h", 12 * time.Hour, "12h"},
		{"90m", 90 * time.Minute, "90m"},
		{"1m", time.Minute, "1m"},
		{"60m", time.Hour, "1h"},
		{"14d", 14 * day, "2w"},
		{"48h", 2 * day, "2d"},
		{"007d", 7 * day, "1w"},
		{"15250w", 15250 * 7 * day, "15250w"},
		{"106751d", 106751 * day, "106751d"},
	} {
		d, err := ParseDuration(tc.in)
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", tc.in, err)
			continue
		}
		if time.Duration(d) != tc.want {
			t.Errorf("ParseDuration(%q) = %v, want %v", tc.in, time.Duration(d), tc.want)
		}
		if d.String() != tc.str {
			t.Errorf("ParseDuration(%q).String() = %q, want %q", tc.in, d.String(), tc.str)
		}
		if back, err := ParseDuration(d.String()); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", d.String(), back, err, d)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	const help = "write a whole number and a unit (m, h, d or w), e.g. 365d"
	for _, tc := range []struct{ in, want string }{
		{"", `invalid duration "": ` + help},
		{"d", `invalid duration "d": ` + help},
		{" 1d", `invalid duration " 1d": ` + help},
		{"+1d", `invalid duration "+1d": ` + help},
		{"1 d", `invalid duration "1 d": unknown unit " d"; use m, h, d or w`},
		{"365", `invalid duration "365": no unit; ` + help},
		{"-1d", `invalid duration "-1d": must be positive`},
		{"0d", `invalid duration "0d": must be positive`},
		{"0m", `invalid duration "0m": must be positive`},
		{"1.5d", `invalid duration "1.5d": use a whole number and a smaller unit, e.g. 36h rather than 1.5d`},
		{"1d12h", `invalid duration "1d12h": use one unit, e.g. 36h rather than 1d12h`},
		{"1y", `invalid duration "1y": unknown unit "y": write a year as 365d`},
		{"30s", `invalid duration "30s": unknown unit "s"; use m, h, d or w`},
		{"1D", `invalid duration "1D": unknown unit "D"; use m, h, d or w`},
		{"15251w", `invalid duration "15251w": too long`},
		{"106752d", `invalid duration "106752d": too long`},
		{"9223372036854775807m", `invalid duration "9223372036854775807m": too long`},
		{"99999999999999999999999d", `invalid duration "99999999999999999999999d": too long`},
	} {
		d, err := ParseDuration(tc.in)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want error", tc.in, d)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("ParseDuration(%q):\n got %s\nwant %s", tc.in, err, tc.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{90 * time.Second, "1m30s"},
		{0, "0s"},
		{-time.Hour, "-1h0m0s"},
	} {
		if got := Duration(tc.d).String(); got != tc.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	type doc struct {
		Expires Duration `yaml:"expires"`
	}
	out, err := yaml.Marshal(doc{Duration(365 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "expires: 365d\n" {
		t.Errorf("Marshal = %q, want %q", out, "expires: 365d\n")
	}
	var back doc
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if back.Expires != Duration(365*24*time.Hour) {
		t.Errorf("round trip gave %v", back.Expires)
	}

	for _, tc := range []struct{ in, want string }{
		{"expires: 1y\n", `line 1: invalid duration "1y": unknown unit "y": write a year as 365d`},
		{"expires: [1d]\n", `line 1: a duration must be written as e.g. 365d, got a list`},
	} {
		var d doc
		err := yaml.Unmarshal([]byte(tc.in), &d)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Unmarshal(%q):\n got %v\nwant %s", tc.in, err, tc.want)
		}
	}

	for _, d := range []time.Duration{90 * time.Second, 0, -time.Hour} {
		_, err := yaml.Marshal(doc{Duration(d)})
		if err == nil || !strings.Contains(err.Error(), "is not a positive whole number of minutes") {
			t.Errorf("Marshal(%v): got %v, want an error", d, err)
		}
	}
}
