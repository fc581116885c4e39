package ceremony

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// planMarshalFull is a valid plan with every kind of key.
func planMarshalFull() *Plan {
	return &Plan{
		Name: "example.org: updates # not a comment",
		Roles: PlanRoles{
			Root: &RolePlan{Threshold: 2, Expires: mustParseDuration("365d"), Keys: []PlanKey{
				{Custodian: "alice", Token: "pkcs11:token=alice;serial=1a2b?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin"},
				{Custodian: "Bob O. Neil", Token: "yubikey:serial=12345678;slot-id=9c", Algorithm: "ecdsa-p384"},
				{Key: planTestKeyID1},
			}},
			Targets: &RolePlan{Threshold: 1, Expires: mustParseDuration("26w"), Keys: []PlanKey{
				{Custodian: "123", Token: "pkcs11:token=dave", Algorithm: "ed25519"},
			}},
			Snapshot: &RolePlan{Threshold: 1, Expires: mustParseDuration("7d"), Keys: []PlanKey{
				{Custodian: "online", PublicKey: "keys/online snapshot.pem"},
			}},
			Timestamp: &RolePlan{Threshold: 1, Expires: mustParseDuration("90m"), Keys: []PlanKey{
				{PublicKey: "/abs/timestamp.pem"},
				{Key: planTestKeyID2},
			}},
		},
	}
}

func TestPlanMarshalRoundTrip(t *testing.T) {
	want := planMarshalFull()
	data, err := want.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePlan(data)
	if err != nil {
		t.Fatalf("ParsePlan of Marshal's output: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the plan:\ngot  %+v\nwant %+v\nYAML:\n%s", got, want, data)
	}
	again, err := got.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Errorf("Marshal is not stable:\n%s\n---\n%s", data, again)
	}
}

func TestPlanMarshalText(t *testing.T) {
	p := &Plan{Name: "test", Roles: PlanRoles{
		Root: &RolePlan{Threshold: 1, Expires: mustParseDuration("365d"), Keys: []PlanKey{
			{Custodian: "alice", Token: "pkcs11:token=alice"},
			{Custodian: "bob", Token: "yubikey:serial=1", Algorithm: "ed25519"},
		}},
		Snapshot: &RolePlan{Threshold: 1, Expires: mustParseDuration("7d"), Keys: []PlanKey{{PublicKey: "online.pem"}}},
	}}
	// 7d is written 1w: a Duration is written in its largest exact unit.
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `name: test
roles:
  root:
    threshold: 1
    expires: 365d
    keys:
      - {custodian: alice, token: "pkcs11:token=alice"}
      - {custodian: bob, token: "yubikey:serial=1", algorithm: ed25519}
  snapshot:
    threshold: 1
    expires: 1w
    keys:
      - {public_key: "online.pem"}
`
	if string(data) != want {
		t.Errorf("Marshal wrote:\n%s\nwant:\n%s", data, want)
	}
}

// An incomplete or wrong plan is written as far as it goes, and ParsePlan
// names each problem by its field: the TUI relies on it.
func TestPlanMarshalProblemsNameTheField(t *testing.T) {
	tok := func(who, label string) PlanKey { return PlanKey{Custodian: who, Token: "pkcs11:token=" + label} }
	for _, tc := range []struct {
		name   string
		change func(p *Plan)
		want   []string
	}{
		{"threshold above the keys", func(p *Plan) { p.Roles.Root.Threshold = 4 },
			[]string{"roles.root.threshold: 4 exceeds the 3 keys listed"}},
		{"threshold zero", func(p *Plan) { p.Roles.Targets.Threshold = 0 },
			[]string{"roles.targets.threshold: must be at least 1"}},
		{"no expiry", func(p *Plan) { p.Roles.Root.Expires = 0 },
			[]string{"roles.root.expires: missing"}},
		{"no keys", func(p *Plan) { p.Roles.Targets.Keys = nil },
			[]string{"roles.targets.keys: no keys listed"}},
		{"no role", func(p *Plan) { p.Roles.Snapshot = nil },
			[]string{"roles.snapshot: missing"}},
		{"empty custodian", func(p *Plan) { p.Roles.Targets.Keys = []PlanKey{tok("", "dave")} },
			[]string{"roles.targets.keys[0].custodian: required with token"}},
		{"bad custodian", func(p *Plan) { p.Roles.Targets.Keys = []PlanKey{tok(" dave", "dave")} },
			[]string{`roles.targets.keys[0].custodian: custodian name " dave": use letters, digits, spaces and . _ @ + - (at most 64, no leading or trailing space)`}},
		{"duplicate token", func(p *Plan) { p.Roles.Root.Keys[2] = tok("carol", "alice") },
			[]string{"roles.root.keys[2].token: same token as roles.root.keys[0]"}},
		{"not a token URI", func(p *Plan) {
			p.Roles.Targets.Keys = []PlanKey{tok("dave", "x")}
			p.Roles.Targets.Keys[0].Token = "/dev/usb0"
		},
			[]string{`roles.targets.keys[0].token: "/dev/usb0" is not a token address: it must start with pkcs11: or yubikey:`}},
		{"PIN in a URI", func(p *Plan) { p.Roles.Targets.Keys = []PlanKey{tok("dave", "dave?pin-value=1234")} },
			[]string{"roles.targets.keys[0].token: pin-value must not be written in a plan; use pin-source=file:… or let the PIN be asked"}},
		{"unknown algorithm", func(p *Plan) { p.Roles.Targets.Keys[0].Algorithm = "dsa" },
			[]string{`roles.targets.keys[0].algorithm: unknown algorithm "dsa" (supported: ecdsa-p256, ecdsa-p384, ed25519, rsa-3072)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Plan{Name: "t", Roles: PlanRoles{
				Root:      &RolePlan{Threshold: 2, Expires: mustParseDuration("365d"), Keys: []PlanKey{tok("alice", "alice"), tok("bob", "bob"), tok("carol", "carol")}},
				Targets:   &RolePlan{Threshold: 1, Expires: mustParseDuration("26w"), Keys: []PlanKey{tok("dave", "dave")}},
				Snapshot:  &RolePlan{Threshold: 1, Expires: mustParseDuration("7d"), Keys: []PlanKey{{Key: planTestKeyID1}}},
				Timestamp: &RolePlan{Threshold: 1, Expires: mustParseDuration("1d"), Keys: []PlanKey{{Key: planTestKeyID2}}},
			}}
			if _, err := p.Marshal(); err != nil {
				t.Fatal(err)
			}
			tc.change(p)
			data, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParsePlan(data)
			var pe *PlanError
			if !errors.As(err, &pe) {
				t.Fatalf("ParsePlan: %v, want a *PlanError\n%s", err, data)
			}
			if !reflect.DeepEqual(pe.Problems, tc.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(pe.Problems, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if strings.Contains(err.Error(), "1234") {
				t.Errorf("the error shows a PIN: %v", err)
			}
		})
	}
}

func TestPlanMarshalRefusesAnExpiryAPlanCannotHold(t *testing.T) {
	p := planMarshalFull()
	p.Roles.Targets.Expires = Duration(90 * time.Second)
	_, err := p.Marshal()
	if err == nil || !strings.HasPrefix(err.Error(), "roles.targets.expires: ") {
		t.Fatalf("Marshal: %v, want an error naming roles.targets.expires", err)
	}
}

func TestParsePlanAtReadsPublicKeysRelativeToDir(t *testing.T) {
	dir := t.TempDir()
	pem, err := os.ReadFile(filepath.Join("..", "testdata", "plans", "online-snapshot.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "snap.pem"), pem, 0o644); err != nil {
		t.Fatal(err)
	}
	plan := planMarshalFull()
	plan.Roles.Snapshot.Keys = []PlanKey{{PublicKey: "snap.pem"}}
	plan.Roles.Timestamp.Keys = []PlanKey{{PublicKey: "missing.pem"}}
	data, err := plan.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParsePlanAt(data, dir)
	var pe *PlanError
	if !errors.As(err, &pe) || len(pe.Problems) != 1 ||
		pe.Problems[0] != "roles.timestamp.keys[0].public_key: "+filepath.Join(dir, "missing.pem")+" does not exist" {
		t.Fatalf("ParsePlanAt: %v", err)
	}
	plan.Roles.Timestamp.Keys = []PlanKey{{Key: planTestKeyID1}}
	data, _ = plan.Marshal()
	got, err := ParsePlanAt(data, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Dir != dir || got.Roles.Snapshot.Keys[0].OnlineKey() == nil {
		t.Errorf("Dir %q, online key %v", got.Dir, got.Roles.Snapshot.Keys[0].OnlineKey())
	}
	// The same bytes in a file in dir load the same plan.
	file := filepath.Join(dir, "ceremony.yaml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadPlan(file)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, got) {
		t.Errorf("LoadPlan and ParsePlanAt differ:\n%+v\n%+v", loaded, got)
	}
}

func TestSavePlan(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ceremony.yaml")
	if err := SavePlan(path, []byte("one\n"), false); err != nil {
		t.Fatal(err)
	}
	err := SavePlan(path, []byte("two\n"), false)
	if !errors.Is(err, ErrPlanExists) {
		t.Fatalf("SavePlan over an existing file: %v, want ErrPlanExists", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "one\n" {
		t.Errorf("the existing file was changed: %q", data)
	}
	if err := SavePlan(path, []byte("three\n"), true); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "three\n" {
		t.Errorf("replace: %q", data)
	}
	if err := SavePlan(filepath.Join(dir, "no", "such", "dir.yaml"), []byte("x"), false); err == nil {
		t.Error("SavePlan into a missing directory did not fail")
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 1 {
		var ns []string
		for _, n := range names {
			ns = append(ns, n.Name())
		}
		t.Errorf("left behind: %v", ns)
	}
}
