package ceremony

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"go.yaml.in/yaml/v3"
)

var (
	planTestKeyID1 = strings.Repeat("ab", 32)
	planTestKeyID2 = strings.Repeat("cd", 32)
)

// planTestRoles are the roles of a valid plan, one line each (lines 3 to 6
// of the document planTestYAML writes).
var planTestRoles = map[string]string{
	"root":      `{threshold: 2, expires: 365d, keys: [{custodian: alice, token: "pkcs11:token=alice"}, {custodian: bob, token: "pkcs11:token=bob"}, {custodian: carol, token: "pkcs11:token=carol"}]}`,
	"targets":   `{threshold: 1, expires: 26w, keys: [{custodian: dave, token: "pkcs11:token=dave"}, {custodian: erin, token: "yubikey:serial=1;slot-id=9c"}]}`,
	"snapshot":  `{threshold: 1, expires: 7d, keys: [{public_key: snapshot.pem, custodian: online}]}`,
	"timestamp": `{threshold: 1, expires: 1d, keys: [{key: ` + planTestKeyID1 + `}]}`,
}

// planTestYAML writes a valid plan with some roles replaced: a role mapped
// to "" is left out.
func planTestYAML(override map[string]string) string {
	var b strings.Builder
	b.WriteString("name: test\nroles:\n")
	for _, name := range planRoleNames {
		v, ok := override[name]
		if !ok {
			v = planTestRoles[name]
		}
		if v != "" {
			b.WriteString("  " + name + ": " + v + "\n")
		}
	}
	return b.String()
}

// planTestRole is one role's line with keys given as YAML list items.
func planTestRole(threshold, expires string, keys ...string) string {
	s := "{"
	if threshold != "" {
		s += "threshold: " + threshold + ", "
	}
	if expires != "" {
		s += "expires: " + expires + ", "
	}
	return s + "keys: [" + strings.Join(keys, ", ") + "]}"
}

func planProblems(t *testing.T, err error) []string {
	t.Helper()
	var pe *PlanError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *PlanError", err, err)
	}
	return pe.Problems
}

func checkProblems(t *testing.T, in string, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Errorf("no error for\n%s\nwant %q", in, want)
		return
	}
	got := planProblems(t, err)
	if !slices.Equal(got, want) {
		t.Errorf("for\n%s\n got %q\nwant %q", in, got, want)
	}
}

func TestParsePlanValid(t *testing.T) {
	in := planTestYAML(nil)
	p, err := ParsePlan([]byte(in))
	if err != nil {
		t.Fatalf("ParsePlan: %v", err)
	}
	want := &Plan{
		Name: "test",
		Roles: PlanRoles{
			Root: &RolePlan{Threshold: 2, Expires: Duration(365 * 24 * time.Hour), Keys: []PlanKey{
				{Custodian: "alice", Token: "pkcs11:token=alice"},
				{Custodian: "bob", Token: "pkcs11:token=bob"},
				{Custodian: "carol", Token: "pkcs11:token=carol"},
			}},
			Targets: &RolePlan{Threshold: 1, Expires: Duration(26 * 7 * 24 * time.Hour), Keys: []PlanKey{
				{Custodian: "dave", Token: "pkcs11:token=dave"},
				{Custodian: "erin", Token: "yubikey:serial=1;slot-id=9c"},
			}},
			Snapshot: &RolePlan{Threshold: 1, Expires: Duration(7 * 24 * time.Hour), Keys: []PlanKey{
				{Custodian: "online", PublicKey: "snapshot.pem"},
			}},
			Timestamp: &RolePlan{Threshold: 1, Expires: Duration(24 * time.Hour), Keys: []PlanKey{
				{Key: planTestKeyID1},
			}},
		},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("ParsePlan =\n%#v\nwant\n%#v", p, want)
	}
	if got := p.RoleNames(); !slices.Equal(got, []string{"root", "targets", "snapshot", "timestamp"}) {
		t.Errorf("RoleNames = %q", got)
	}
	for _, name := range p.RoleNames() {
		if p.Role(name) != *p.Roles.ref(name) || p.Role(name) == nil {
			t.Errorf("Role(%q) is not Roles.%s", name, name)
		}
	}
	if p.Role("delegated") != nil {
		t.Error(`Role("delegated") != nil`)
	}
	kinds := map[string]string{"root": "token", "targets": "token", "snapshot": "public_key", "timestamp": "key"}
	for role, kind := range kinds {
		if got := p.Role(role).Keys[0].Kind(); got != kind {
			t.Errorf("roles.%s.keys[0].Kind() = %q, want %q", role, got, kind)
		}
	}
	if got := p.Roles.Root.Keys[0].TokenAlgorithm(); got != "ecdsa-p256" {
		t.Errorf("default TokenAlgorithm = %q", got)
	}
	if got := (PlanKey{Token: "pkcs11:", Algorithm: "ed25519"}).TokenAlgorithm(); got != "ed25519" {
		t.Errorf("TokenAlgorithm = %q", got)
	}
	if got := (PlanKey{Token: "pkcs11:", Key: planTestKeyID1}).Kind(); got != "" {
		t.Errorf("Kind of two kinds = %q", got)
	}
	if p.Roles.Snapshot.Keys[0].OnlineKey() != nil {
		t.Error("ParsePlan read a public key file")
	}

	// What ParsePlan accepts, yaml.Marshal writes back and ParsePlan reads
	// again to the same plan.
	out, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePlan(out)
	if err != nil {
		t.Fatalf("ParsePlan of Marshal:\n%s\n%v", out, err)
	}
	if !reflect.DeepEqual(back, p) {
		t.Errorf("round trip:\n%s\ngave %#v", out, back)
	}
}

func TestParsePlanAccepts(t *testing.T) {
	for _, in := range []string{
		// Block style, comments, a document start marker.
		"---\n# plan\nname: x\nroles:\n  root:\n    threshold: 1\n    expires: 365d\n    keys:\n      - custodian: alice\n        token: pkcs11:token=alice\n" +
			"  targets: " + planTestRoles["targets"] + "\n  snapshot: " + planTestRoles["snapshot"] + "\n  timestamp: " + planTestRoles["timestamp"] + "\n",
		// No name; every algorithm; a custodian that YAML would read as a number.
		planTestYAML(map[string]string{"root": planTestRole("1", "365d",
			`{custodian: 1234, token: "pkcs11:token=a", algorithm: ecdsa-p256}`,
			`{custodian: b, token: "pkcs11:token=b", algorithm: ecdsa-p384}`,
			`{custodian: c, token: "pkcs11:token=c", algorithm: ed25519}`,
			`{custodian: d, token: "pkcs11:token=d", algorithm: rsa-3072}`)})[len("name: test\n"):],
		// A key ID that YAML would read as a number.
		planTestYAML(map[string]string{"timestamp": planTestRole("1", "1d", "{key: "+strings.Repeat("1", 64)+"}")}),
		// pin-source, uppercase scheme, two objects on one token, the same
		// token in two roles.
		planTestYAML(map[string]string{"root": planTestRole("2", "365d",
			`{custodian: a, token: "PKCS11:token=a;object=root-1?pin-source=file:/run/a.pin"}`,
			`{custodian: a, token: "pkcs11:token=a;object=root-2"}`,
			`{custodian: d, token: "pkcs11:token=dave"}`)}),
		// An absolute public_key path; a custodian on an online key.
		planTestYAML(map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: /etc/tuf/snapshot.pem, custodian: "cloud kms"}`)}),
		// Threshold equal to the keys.
		planTestYAML(map[string]string{"targets": planTestRole("2", "26w", `{custodian: a, token: "pkcs11:token=a"}`, `{custodian: b, token: "pkcs11:token=b"}`)}),
	} {
		if _, err := ParsePlan([]byte(in)); err != nil {
			t.Errorf("ParsePlan(\n%s): %v", in, err)
		}
	}
}

// TestParsePlanRules checks the exact message of each validation rule.
func TestParsePlanRules(t *testing.T) {
	tok := func(custodian, uri string) string { return `{custodian: ` + custodian + `, token: "` + uri + `"}` }
	alice, bob, carol := tok("alice", "pkcs11:token=alice"), tok("bob", "pkcs11:token=bob"), tok("carol", "pkcs11:token=carol")
	for _, tc := range []struct {
		name  string
		roles map[string]string
		want  []string
	}{
		{"threshold exceeds keys", map[string]string{"root": planTestRole("4", "365d", alice, bob, carol)},
			[]string{"roles.root.threshold: 4 exceeds the 3 keys listed"}},
		{"threshold exceeds one key", map[string]string{"targets": planTestRole("2", "26w", alice)},
			[]string{"roles.targets.threshold: 2 exceeds the 1 key listed"}},
		{"threshold zero", map[string]string{"root": planTestRole("0", "365d", alice, bob)},
			[]string{"roles.root.threshold: must be at least 1"}},
		{"threshold negative", map[string]string{"root": planTestRole("-1", "365d", alice, bob)},
			[]string{"roles.root.threshold: must be at least 1"}},
		{"threshold too large", map[string]string{"root": planTestRole("99999999999999999999", "365d", alice)},
			[]string{"roles.root.threshold: 99999999999999999999 is too large"}},
		{"threshold missing", map[string]string{"root": planTestRole("", "365d", alice)},
			[]string{"roles.root.threshold: missing"}},
		{"threshold null", map[string]string{"root": `{threshold: , expires: 365d, keys: [` + alice + `]}`},
			[]string{"roles.root.threshold: missing"}},
		{"expires missing", map[string]string{"root": planTestRole("1", "", alice)},
			[]string{"roles.root.expires: missing"}},
		{"expires invalid", map[string]string{"root": planTestRole("1", "1y", alice)},
			[]string{`roles.root.expires: invalid duration "1y": unknown unit "y": write a year as 365d`}},
		{"expires without unit", map[string]string{"snapshot": planTestRole("1", "7", `{key: `+planTestKeyID1+`}`)},
			[]string{`roles.snapshot.expires: invalid duration "7": no unit; write a whole number and a unit (m, h, d or w), e.g. 365d`}},
		{"expires zero", map[string]string{"timestamp": planTestRole("1", "0m", `{key: `+planTestKeyID1+`}`)},
			[]string{`roles.timestamp.expires: invalid duration "0m": must be positive`}},
		{"keys missing", map[string]string{"root": `{threshold: 1, expires: 365d}`},
			[]string{"roles.root.keys: missing"}},
		{"keys empty", map[string]string{"root": `{threshold: 1, expires: 365d, keys: []}`},
			[]string{"roles.root.keys: no keys listed"}},
		{"role missing", map[string]string{"targets": ""},
			[]string{"roles.targets: missing"}},
		{"role null", map[string]string{"snapshot": "~"},
			[]string{"roles.snapshot: missing"}},
		{"roles missing", map[string]string{"root": "", "targets": "", "snapshot": "", "timestamp": ""},
			[]string{"roles: missing"}},
		{"two kinds", map[string]string{"root": planTestRole("1", "365d", alice, `{custodian: bob, token: "pkcs11:token=bob", key: `+planTestKeyID1+`}`)},
			[]string{"roles.root.keys[1]: give exactly one of token, key or public_key"}},
		{"three kinds", map[string]string{"root": planTestRole("1", "365d", `{custodian: bob, token: "pkcs11:token=bob", key: `+planTestKeyID1+`, public_key: a.pem}`)},
			[]string{"roles.root.keys[0]: give exactly one of token, key or public_key"}},
		{"no kind", map[string]string{"root": planTestRole("1", "365d", alice, `{custodian: bob}`)},
			[]string{"roles.root.keys[1]: give exactly one of token, key or public_key"}},
		{"null key", map[string]string{"root": planTestRole("1", "365d", alice, `~`)},
			[]string{"roles.root.keys[1]: give exactly one of token, key or public_key"}},
		{"custodian required", map[string]string{"root": planTestRole("1", "365d", `{token: "pkcs11:token=alice"}`)},
			[]string{"roles.root.keys[0].custodian: required with token"}},
		{"custodian empty", map[string]string{"root": planTestRole("1", "365d", `{custodian: "", token: "pkcs11:token=alice"}`)},
			[]string{"roles.root.keys[0].custodian: required with token"}},
		{"custodian invalid", map[string]string{"root": planTestRole("1", "365d", `{custodian: "alice/evil", token: "pkcs11:token=alice"}`)},
			[]string{`roles.root.keys[0].custodian: custodian name "alice/evil": use letters, digits, spaces and . _ @ + - (at most 64, no leading or trailing space)`}},
		{"custodian invalid on online key", map[string]string{"snapshot": planTestRole("1", "7d", `{custodian: " online", public_key: s.pem}`)},
			[]string{`roles.snapshot.keys[0].custodian: custodian name " online": use letters, digits, spaces and . _ @ + - (at most 64, no leading or trailing space)`}},
		{"custodian with key", map[string]string{"timestamp": planTestRole("1", "1d", `{key: `+planTestKeyID1+`, custodian: alice}`)},
			[]string{"roles.timestamp.keys[0].custodian: not allowed with key: the custodian is the one recorded in keys/<keyid>.json"}},
		{"algorithm unknown", map[string]string{"root": planTestRole("1", "365d", alice, bob, `{custodian: carol, token: "pkcs11:token=carol", algorithm: dsa}`)},
			[]string{`roles.root.keys[2].algorithm: unknown algorithm "dsa" (supported: ecdsa-p256, ecdsa-p384, ed25519, rsa-3072)`}},
		{"algorithm with key", map[string]string{"timestamp": planTestRole("1", "1d", `{key: `+planTestKeyID1+`, algorithm: ed25519}`)},
			[]string{"roles.timestamp.keys[0].algorithm: only allowed with token"}},
		{"algorithm with public_key", map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: s.pem, algorithm: ecdsa-p256}`)},
			[]string{"roles.snapshot.keys[0].algorithm: only allowed with token"}},
		{"key not an ID", map[string]string{"root": planTestRole("1", "365d", alice, `{key: xyz}`)},
			[]string{`roles.root.keys[1].key: "xyz" is not a key ID (64 hex digits)`}},
		{"key too short", map[string]string{"root": planTestRole("1", "365d", `{key: `+planTestKeyID1[:63]+`}`)},
			[]string{`roles.root.keys[0].key: "` + planTestKeyID1[:63] + `" is not a key ID (64 hex digits)`}},
		{"key uppercase", map[string]string{"root": planTestRole("1", "365d", `{key: `+strings.ToUpper(planTestKeyID1)+`}`)},
			[]string{`roles.root.keys[0].key: "` + strings.ToUpper(planTestKeyID1) + `": write key IDs in lowercase`}},
		{"key twice", map[string]string{"root": planTestRole("1", "365d", `{key: `+planTestKeyID1+`}`, `{key: `+planTestKeyID2+`}`, `{key: `+planTestKeyID1+`}`)},
			[]string{"roles.root.keys[2].key: same key as roles.root.keys[0]"}},
		{"token twice", map[string]string{"root": planTestRole("1", "365d", alice, bob, tok("carol", "pkcs11:token=alice"))},
			[]string{"roles.root.keys[2].token: same token as roles.root.keys[0]"}},
		{"token twice with pin-source", map[string]string{"root": planTestRole("1", "365d",
			tok("alice", "pkcs11:token=alice?module-path=/m.so&pin-source=file:/a"), tok("alice", "PKCS11:token=alice?module-path=/m.so"))},
			[]string{"roles.root.keys[1].token: same token as roles.root.keys[0]"}},
		{"yubikey twice", map[string]string{"targets": planTestRole("1", "26w", tok("a", "yubikey:serial=1;slot-id=9c"), tok("b", "yubikey:serial=1;slot-id=9c?pin-source=file:/p"))},
			[]string{"roles.targets.keys[1].token: same token as roles.targets.keys[0]"}},
		{"public_key twice", map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: a.pem}`, `{public_key: ./a.pem}`)},
			[]string{"roles.snapshot.keys[1].public_key: same file as roles.snapshot.keys[0]"}},
		{"token scheme", map[string]string{"root": planTestRole("1", "365d", tok("alice", "https://hsm.example/alice"))},
			[]string{`roles.root.keys[0].token: "https://hsm.example/alice" is not a token address: it must start with pkcs11: or yubikey:`}},
		{"token without scheme", map[string]string{"root": planTestRole("1", "365d", tok("alice", "alice"))},
			[]string{`roles.root.keys[0].token: "alice" is not a token address: it must start with pkcs11: or yubikey:`}},
		{"pin-value", map[string]string{"root": planTestRole("1", "365d", tok("alice", "pkcs11:token=alice?pin-value=123456"))},
			[]string{"roles.root.keys[0].token: pin-value must not be written in a plan; use pin-source=file:… or let the PIN be asked"}},
		{"pin-value on a yubikey", map[string]string{"root": planTestRole("1", "365d", tok("alice", "yubikey:serial=1?pin-value=123456"))},
			[]string{"roles.root.keys[0].token: pin-value must not be written in a plan; use pin-source=file:… or let the PIN be asked"}},
		{"pin-value in the path", map[string]string{"root": planTestRole("1", "365d", tok("alice", "pkcs11:token=alice;PIN-Value=123456"))},
			[]string{"roles.root.keys[0].token: pin-value must not be written in a plan; use pin-source=file:… or let the PIN be asked"}},
		{"pin-value percent-encoded", map[string]string{"root": planTestRole("1", "365d", tok("alice", "pkcs11:token=alice?pin%2Dvalue=123456"))},
			[]string{"roles.root.keys[0].token: pin-value must not be written in a plan; use pin-source=file:… or let the PIN be asked"}},
		{"pin-value and a bad scheme", map[string]string{"root": planTestRole("1", "365d", tok("alice", "token=alice?pin-value=123456"))},
			[]string{
				"roles.root.keys[0].token: not a token address: it must start with pkcs11: or yubikey:",
				"roles.root.keys[0].token: pin-value must not be written in a plan; use pin-source=file:… or let the PIN be asked",
			}},
		{"empty token", map[string]string{"root": planTestRole("1", "365d", `{custodian: alice, token: ""}`)},
			[]string{"roles.root.keys[0].token: empty"}},
		{"null token", map[string]string{"root": planTestRole("1", "365d", `{custodian: alice, token: }`)},
			[]string{"roles.root.keys[0].token: empty"}},
		{"empty public_key", map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: ""}`)},
			[]string{"roles.snapshot.keys[0].public_key: empty"}},
		{"empty key", map[string]string{"timestamp": planTestRole("1", "1d", `{key: ""}`)},
			[]string{"roles.timestamp.keys[0].key: empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := planTestYAML(tc.roles)
			_, err := ParsePlan([]byte(in))
			checkProblems(t, in, err, tc.want)
		})
	}
}

// TestParsePlanStrict checks that decoding is strict and that the
// decoder's problems carry their line.
func TestParsePlanStrict(t *testing.T) {
	valid := planTestYAML(nil)
	roles := func(root string) string { return planTestYAML(map[string]string{"root": root}) }
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"empty", "", []string{"the plan is empty"}},
		{"comments only", "# nothing\n", []string{"the plan is empty"}},
		{"null", "~\n", []string{"the plan is empty"}},
		{"not a mapping", "- root\n", []string{"line 1: plan: must be a mapping (name, roles), got a list"}},
		{"text", "hello\n", []string{`line 1: plan: must be a mapping (name, roles), got "hello"`}},
		{"unknown top-level field", valid + "version: 1\n",
			[]string{"line 7: version: unknown field (known: name, roles)"}},
		{"unknown role", strings.Replace(valid, "roles:\n", "roles:\n  mirrors: {}\n", 1),
			[]string{"line 3: roles.mirrors: unknown role (known: root, targets, snapshot, timestamp)"}},
		{"unknown role field", roles(`{treshold: 2, threshold: 2, expires: 365d, keys: [{custodian: a, token: "pkcs11:token=a"}, {custodian: b, token: "pkcs11:token=b"}]}`),
			[]string{"line 3: roles.root.treshold: unknown field (known: threshold, expires, keys)"}},
		{"unknown key field", roles(planTestRole("1", "365d", `{custodian: a, token: "pkcs11:token=a", pin: 1234}`)),
			[]string{"line 3: roles.root.keys[0].pin: unknown field (known: custodian, token, algorithm, key, public_key)"}},
		{"odd field name", valid + "\"a b\": 1\n",
			[]string{`line 7: "a b": unknown field (known: name, roles)`}},
		{"duplicate top-level field", valid + "name: again\n",
			[]string{"line 7: name: repeated (first at line 1)"}},
		{"duplicate role field", roles(`{threshold: 1, expires: 365d, threshold: 2, keys: [{custodian: a, token: "pkcs11:token=a"}]}`),
			[]string{"line 3: roles.root.threshold: repeated (first at line 3)"}},
		{"duplicate key field", roles(planTestRole("1", "365d", `{custodian: a, token: "pkcs11:token=a", custodian: b}`)),
			[]string{"line 3: roles.root.keys[0].custodian: repeated (first at line 3)"}},
		{"second document", valid + "---\nname: other\n",
			[]string{`line 7: a plan is a single YAML document; remove the second one, from "---"`}},
		{"empty second document", valid + "---\n",
			[]string{`line 7: a plan is a single YAML document; remove the second one, from "---"`}},
		{"syntax error", "name: [\n", []string{"line 1: did not find expected node content"}},
		{"tab indentation", "roles:\n\troot: {}\n", []string{"line 2: found character that cannot start any token"}},
		{"threshold text", roles(planTestRole("two", "365d", `{custodian: a, token: "pkcs11:token=a"}`)),
			[]string{`line 3: roles.root.threshold: must be a whole number, got "two"`}},
		{"threshold quoted", roles(planTestRole(`"2"`, "365d", `{custodian: a, token: "pkcs11:token=a"}`)),
			[]string{`line 3: roles.root.threshold: must be a whole number, got "2"`}},
		{"threshold float", roles(planTestRole("1.5", "365d", `{custodian: a, token: "pkcs11:token=a"}`)),
			[]string{`line 3: roles.root.threshold: must be a whole number, got 1.5`}},
		{"threshold hex", roles(planTestRole("0x2", "365d", `{custodian: a, token: "pkcs11:token=a"}`)),
			[]string{`line 3: roles.root.threshold: must be a whole number, got 0x2`}},
		{"threshold list", roles(planTestRole("[2]", "365d", `{custodian: a, token: "pkcs11:token=a"}`)),
			[]string{`line 3: roles.root.threshold: must be a whole number, got a list`}},
		{"expires mapping", roles(planTestRole("1", "{days: 365}", `{custodian: a, token: "pkcs11:token=a"}`)),
			[]string{`line 3: roles.root.expires: must be a duration such as 365d, got a mapping`}},
		{"keys mapping", roles(`{threshold: 1, expires: 365d, keys: {custodian: a}}`),
			[]string{`line 3: roles.root.keys: must be a list, got a mapping`}},
		{"key text", roles(planTestRole("1", "365d", `alice`)),
			[]string{`line 3: roles.root.keys[0]: must be a mapping (custodian, token, algorithm, key, public_key), got "alice"`}},
		{"custodian list", roles(planTestRole("1", "365d", `{custodian: [a], token: "pkcs11:token=a"}`)),
			[]string{`line 3: roles.root.keys[0].custodian: must be text, got a list`, "roles.root.keys[0].custodian: required with token"}},
		{"token mapping", roles(planTestRole("1", "365d", `{custodian: a, token: {uri: x}}`)),
			[]string{`line 3: roles.root.keys[0].token: must be text, got a mapping`}},
		{"name list", "name: [a]\n" + valid[len("name: test\n"):],
			[]string{"line 1: name: must be text, got a list"}},
		{"roles list", "roles: [root]\n",
			[]string{"line 1: roles: must be a mapping (root, targets, snapshot, timestamp), got a list"}},
		{"role text", roles(`2-of-3`),
			[]string{`line 3: roles.root: must be a mapping (threshold, expires, keys), got "2-of-3"`}},
		{"field name list", valid + "[a]: 1\n",
			[]string{"line 7: plan: a field name must be a plain name, got a list"}},
		{"anchor", roles(`&r ` + planTestRoles["root"]),
			[]string{"line 3: roles.root: anchors (&r) are not allowed in a plan"}},
		{"alias", planTestYAML(map[string]string{"root": `&r ` + planTestRoles["targets"], "targets": `*r`}),
			[]string{"line 3: roles.root: anchors (&r) are not allowed in a plan", "line 4: roles.targets: aliases (*r) are not allowed in a plan"}},
		{"merge key", roles(`{<<: {threshold: 1}, expires: 365d, keys: [{custodian: a, token: "pkcs11:token=a"}]}`),
			[]string{"line 3: roles.root.\"<<\": unknown field (known: threshold, expires, keys)", "roles.root.threshold: missing"}},
		{"tag", roles(planTestRole("!!int 2", "365d", `{custodian: a, token: "pkcs11:token=a"}`, `{custodian: b, token: "pkcs11:token=b"}`)),
			[]string{"line 3: roles.root.threshold: tags (!!int) are not allowed in a plan"}},
		{"custom tag", roles(planTestRole("1", "365d", `{custodian: a, token: !uri "pkcs11:token=a"}`)),
			[]string{"line 3: roles.root.keys[0].token: tags (!uri) are not allowed in a plan"}},
		{"too large", valid + "#" + strings.Repeat("x", PlanMaxSize) + "\n",
			[]string{"larger than 1 MiB; a plan is a short document"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePlan([]byte(tc.in))
			checkProblems(t, tc.in, err, tc.want)
		})
	}

	// A role written twice under roles.
	in := strings.Replace(valid, "  targets:", "  root: "+planTestRoles["root"]+"\n  targets:", 1)
	_, err := ParsePlan([]byte(in))
	checkProblems(t, in, err, []string{"line 4: roles.root: repeated (first at line 3)"})
}

// TestParsePlanAllProblems checks that every problem is listed at once,
// in document order, and how PlanError prints them.
func TestParsePlanAllProblems(t *testing.T) {
	in := planTestYAML(map[string]string{
		"root":     planTestRole("4", "1y", `{token: "pkcs11:token=alice"}`, `{custodian: bob, key: nope}`),
		"targets":  `{threshold: 1, expires: 26w, keys: [{custodian: dave, token: "pkcs11:token=dave"}], extra: 1}`,
		"snapshot": "",
	}) + "version: 2\n"
	_, err := ParsePlan([]byte(in))
	want := []string{
		"roles.root.threshold: 4 exceeds the 2 keys listed",
		`roles.root.expires: invalid duration "1y": unknown unit "y": write a year as 365d`,
		"roles.root.keys[0].custodian: required with token",
		"roles.root.keys[1].custodian: not allowed with key: the custodian is the one recorded in keys/<keyid>.json",
		`roles.root.keys[1].key: "nope" is not a key ID (64 hex digits)`,
		"line 4: roles.targets.extra: unknown field (known: threshold, expires, keys)",
		"roles.snapshot: missing",
		"line 6: version: unknown field (known: name, roles)",
	}
	checkProblems(t, in, err, want)
	if got, wantErr := err.Error(), "plan has 8 problems:\n  "+strings.Join(want, "\n  "); got != wantErr {
		t.Errorf("Error() =\n%s\nwant\n%s", got, wantErr)
	}
}

func TestPlanErrorString(t *testing.T) {
	for _, tc := range []struct {
		e    PlanError
		want string
	}{
		{PlanError{File: "ceremony.yaml", Problems: []string{"roles.root.threshold: 4 exceeds the 3 keys listed"}},
			"plan ceremony.yaml: roles.root.threshold: 4 exceeds the 3 keys listed"},
		{PlanError{Problems: []string{"roles: missing"}}, "plan: roles: missing"},
		{PlanError{File: "p.yaml", Problems: []string{"a", "b"}}, "plan p.yaml has 2 problems:\n  a\n  b"},
		{PlanError{File: "p.yaml"}, "plan p.yaml is invalid"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	many := PlanError{File: "p.yaml"}
	for i := range 60 {
		many.Problems = append(many.Problems, strings.Repeat("x", i%3+1))
	}
	got := many.Error()
	if !strings.HasPrefix(got, "plan p.yaml has 60 problems:\n") || !strings.HasSuffix(got, "\n  … and 10 more") || strings.Count(got, "\n") != 51 {
		t.Errorf("Error() of 60 problems =\n%s", got)
	}
}

// TestParsePlanNoPIN checks that no message repeats a PIN written in a
// plan, wherever it was written.
func TestParsePlanNoPIN(t *testing.T) {
	const pin = "918273"
	for _, uri := range []string{
		"pkcs11:token=a?pin-value=" + pin,
		"pkcs11:token=a;pin-value=" + pin,
		"yubikey:serial=1?pin-value=" + pin,
		"file:/x?pin-value=" + pin,
		"token=a;pin-value=" + pin,
	} {
		in := planTestYAML(map[string]string{"root": planTestRole("2", "365d", `{token: "`+uri+`"}`, `{token: "`+uri+`", custodian: "x/y"}`)})
		_, err := ParsePlan([]byte(in))
		if err == nil || strings.Contains(err.Error(), pin) {
			t.Errorf("token %q: error %v", uri, err)
		}
	}
}

func TestParsePlanFixtures(t *testing.T) {
	for _, name := range []string{"softhsm.yaml", "yubikey.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "plans", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePlan(data); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// planTestPEM writes a PEM file and returns its path.
func planTestPEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func planTestSPKI(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// planTestRSA returns an RSA public key of the given size; only its size
// matters here, so it is not a real key pair (and costs no key generation).
func planTestRSA(bits int) *rsa.PublicKey {
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	n.Add(n, big.NewInt(12345))
	return &rsa.PublicKey{N: n, E: 65537}
}

func TestLoadPublicKey(t *testing.T) {
	dir := t.TempDir()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name           string
		pub            any
		keytype, sheme string
	}{
		{"p256", &p256.PublicKey, "ecdsa", "ecdsa-sha2-nistp256"},
		{"p384", &p384.PublicKey, "ecdsa", "ecdsa-sha2-nistp384"},
		{"ed25519", edPub, "ed25519", "ed25519"},
		{"rsa2048", planTestRSA(2048), "rsa", "rsassa-pss-sha256"},
		{"rsa4096", planTestRSA(4096), "rsa", "rsassa-pss-sha256"},
	} {
		path := planTestPEM(t, dir, tc.name+".pem", "PUBLIC KEY", planTestSPKI(t, tc.pub))
		key, err := LoadPublicKey(path)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if key.Type != tc.keytype || key.Scheme != tc.sheme {
			t.Errorf("%s: type %q scheme %q, want %q %q", tc.name, key.Type, key.Scheme, tc.keytype, tc.sheme)
		}
		want, _ := TUFKey(tc.pub)
		if !reflect.DeepEqual(key, want) {
			t.Errorf("%s: LoadPublicKey = %+v, want TUFKey's %+v", tc.name, key, want)
		}
	}

	// Text around the PEM block, as openssl's -text output leaves it.
	path := filepath.Join(dir, "text.pem")
	os.WriteFile(path, append([]byte("Public-Key: (256 bit)\n"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: planTestSPKI(t, &p256.PublicKey)})...), 0o644)
	if _, err := LoadPublicKey(path); err != nil {
		t.Errorf("PEM with text before it: %v", err)
	}
}

func TestLoadPublicKeyErrors(t *testing.T) {
	dir := t.TempDir()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	x25519, _ := ecdh.X25519().GenerateKey(rand.Reader)
	spki := planTestSPKI(t, &p256.PublicKey)
	ecPriv, _ := x509.MarshalECPrivateKey(p256)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(p256)
	cert := []byte{0x30, 0x03, 0x02, 0x01, 0x01}
	unknownAlg, _ := asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 3, 101, 111}}, asn1.BitString{Bytes: make([]byte, 56), BitLength: 448}})

	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	const supported = "(supported: ECDSA P-256 or P-384, Ed25519, RSA of at least 2048 bits)"
	for _, tc := range []struct {
		name string
		data []byte
		want string // after "PATH: "
	}{
		{"empty", nil, `no PEM block found; want a "PUBLIC KEY" PEM block (SubjectPublicKeyInfo)`},
		{"text", []byte("ecdsa-sha2-nistp256 AAAA...\n"), `no PEM block found; want a "PUBLIC KEY" PEM block (SubjectPublicKeyInfo)`},
		{"der", spki, `not PEM (binary DER?); want a "PUBLIC KEY" PEM block: openssl pkey -pubin -inform DER -in FILE -out FILE.pem`},
		{"ec public key", block("EC PUBLIC KEY", spki), `PEM "EC PUBLIC KEY" is not supported; want "PUBLIC KEY" (SubjectPublicKeyInfo)`},
		{"pkcs1", block("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(planTestRSA(2048))), `PEM "RSA PUBLIC KEY" (PKCS #1) is not supported; want "PUBLIC KEY" (SubjectPublicKeyInfo): openssl rsa -RSAPublicKey_in -in FILE -pubout -out FILE.pub`},
		{"certificate", block("CERTIFICATE", cert), `holds a certificate; want its "PUBLIC KEY" (SubjectPublicKeyInfo): openssl x509 -in FILE -pubkey -noout -out FILE.pub`},
		{"ec private key", block("EC PRIVATE KEY", ecPriv), `holds a private key (PEM "EC PRIVATE KEY"); give only its public key, e.g. openssl pkey -in KEY -pubout -out KEY.pub`},
		{"pkcs8 after public", append(block("PUBLIC KEY", spki), block("PRIVATE KEY", pkcs8)...), `holds a private key (PEM "PRIVATE KEY"); give only its public key, e.g. openssl pkey -in KEY -pubout -out KEY.pub`},
		{"two blocks", append(block("PUBLIC KEY", spki), block("PUBLIC KEY", spki)...), `holds 2 PEM blocks; want exactly one "PUBLIC KEY"`},
		{"bad spki", block("PUBLIC KEY", []byte{0x30, 0x00}), `not a valid SubjectPublicKeyInfo: …`},
		{"p521", block("PUBLIC KEY", planTestSPKI(t, &p521.PublicKey)), "unsupported key type ECDSA P-521 " + supported},
		{"x25519", block("PUBLIC KEY", planTestSPKI(t, x25519.PublicKey())), "unsupported key type X25519, a key agreement key " + supported},
		{"unknown algorithm", block("PUBLIC KEY", unknownAlg), "unsupported key type " + supported},
		{"rsa1024", block("PUBLIC KEY", planTestSPKI(t, planTestRSA(1024))), "RSA key of 1024 bits is too short (at least 2048)"},
		{"rsa2047", block("PUBLIC KEY", planTestSPKI(t, planTestRSA(2047))), "RSA key of 2047 bits is too short (at least 2048)"},
	} {
		path := write(strings.ReplaceAll(tc.name, " ", "-")+".pem", tc.data)
		_, err := LoadPublicKey(path)
		want := path + ": " + tc.want
		if prefix, ok := strings.CutSuffix(want, "…"); ok && err != nil && strings.HasPrefix(err.Error(), prefix) {
			continue
		}
		if err == nil || err.Error() != want {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, err, want)
		}
	}

	missing := filepath.Join(dir, "missing.pem")
	if _, err := LoadPublicKey(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadPublicKey(dir); err == nil || err.Error() != dir+" is not a regular file" {
		t.Errorf("directory: %v", err)
	}
	big := write("big.pem", make([]byte, 64<<10+1))
	if _, err := LoadPublicKey(big); err == nil || err.Error() != big+" is larger than 64 KiB, too large for a public key" {
		t.Errorf("large file: %v", err)
	}
}

// planTestDir copies the fixture plans into a temporary directory.
func planTestDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "testdata", "plans")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadPlan(t *testing.T) {
	fixtures := filepath.Join("..", "testdata", "plans")
	p, err := LoadPlan(filepath.Join(fixtures, "softhsm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(fixtures)
	if p.Dir != abs {
		t.Errorf("Dir = %q, want %q", p.Dir, abs)
	}
	if p.Name != "example.org rehearsal" || p.Roles.Root.Threshold != 2 || len(p.Roles.Root.Keys) != 3 || len(p.Roles.Targets.Keys) != 1 {
		t.Errorf("unexpected plan %+v", p)
	}
	for _, role := range []string{"snapshot", "timestamp"} {
		k := p.Role(role).Keys[0]
		want, err := LoadPublicKey(filepath.Join(fixtures, k.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		got := k.OnlineKey()
		if got == nil || got.Type != want.Type || got.Scheme != want.Scheme || got.Value.PublicKey != want.Value.PublicKey {
			t.Errorf("%s: OnlineKey = %+v, want %+v", role, got, want)
		}
	}
	if p.Roles.Root.Keys[0].OnlineKey() != nil {
		t.Error("a token key has an OnlineKey")
	}

	y, err := LoadPlan(filepath.Join(fixtures, "yubikey.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if k := y.Roles.Snapshot.Keys[0].OnlineKey(); k == nil || k.Type != metadata.KeyTypeEd25519 {
		t.Errorf("yubikey.yaml snapshot key = %+v", k)
	}

	// The invalid fixture: every problem at once, the file's own and its
	// public key's.
	_, err = LoadPlan(filepath.Join(fixtures, "invalid.yaml"))
	want := []string{
		"roles.root.threshold: 5 exceeds the 4 keys listed",
		`roles.root.expires: invalid duration "1y": unknown unit "y": write a year as 365d`,
		"roles.root.keys[0].custodian: required with token",
		"roles.root.keys[0].token: pin-value must not be written in a plan; use pin-source=file:… or let the PIN be asked",
		"roles.root.keys[1]: give exactly one of token, key or public_key",
		`roles.root.keys[1].key: "3f1a" is not a key ID (64 hex digits)`,
		`roles.root.keys[2].algorithm: unknown algorithm "dsa" (supported: ecdsa-p256, ecdsa-p384, ed25519, rsa-3072)`,
		"roles.root.keys[3].token: same token as roles.root.keys[2]",
		"line 14: roles.targets.treshold: unknown field (known: threshold, expires, keys)",
		"line 16: roles.targets.expires: repeated (first at line 15)",
		`roles.targets.keys[0].custodian: custodian name " dave": use letters, digits, spaces and . _ @ + - (at most 64, no leading or trailing space)`,
		`roles.targets.keys[0].token: "https://dave.example" is not a token address: it must start with pkcs11: or yubikey:`,
		"roles.targets.threshold: missing",
		"roles.snapshot.threshold: must be at least 1",
		"roles.snapshot.keys[0].public_key: " + filepath.Join(abs, "missing.pem") + " does not exist",
		"roles.snapshot.keys[0].algorithm: only allowed with token",
		"roles.timestamp: missing",
	}
	checkProblems(t, "invalid.yaml", err, want)
	if got := err.Error(); !strings.HasPrefix(got, "plan "+filepath.Join(fixtures, "invalid.yaml")+" has 17 problems:\n  roles.root.threshold: ") || strings.Contains(got, "1234") {
		t.Errorf("Error() =\n%s", got)
	}
}

func TestLoadPlanErrors(t *testing.T) {
	dir := planTestDir(t)
	if _, err := LoadPlan(filepath.Join(dir, "none.yaml")); !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "failed to read plan: ") {
		t.Errorf("missing plan: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, make([]byte, PlanMaxSize+1), 0o644)
	if _, err := LoadPlan(big); err == nil || err.Error() != "plan "+big+": larger than 1 MiB; a plan is a short document" {
		t.Errorf("large plan: %v", err)
	}

	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	planTestPEM(t, dir, "copy.pem", "PUBLIC KEY", planTestSPKI(t, &p256.PublicKey))
	planTestPEM(t, dir, "same.pem", "PUBLIC KEY", planTestSPKI(t, &p256.PublicKey))
	planTestPEM(t, dir, "private.pem", "EC PRIVATE KEY", []byte{0x30})
	os.WriteFile(filepath.Join(dir, "text.pem"), []byte("not a key\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	planTestPEM(t, dir, "sub/sub.pem", "PUBLIC KEY", planTestSPKI(t, &p256.PublicKey))
	keyID := func() string {
		k, _ := TUFKey(&p256.PublicKey)
		id, _ := k.ID()
		return id
	}()

	for _, tc := range []struct {
		name  string
		roles map[string]string
		want  []string
	}{
		{"missing file", map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: nope.pem}`)},
			[]string{"roles.snapshot.keys[0].public_key: " + filepath.Join(dir, "nope.pem") + " does not exist"}},
		{"not PEM", map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: text.pem}`)},
			[]string{`roles.snapshot.keys[0].public_key: no PEM block found; want a "PUBLIC KEY" PEM block (SubjectPublicKeyInfo)`}},
		{"private key", map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: private.pem}`)},
			[]string{`roles.snapshot.keys[0].public_key: holds a private key (PEM "EC PRIVATE KEY"); give only its public key, e.g. openssl pkey -in KEY -pubout -out KEY.pub`}},
		{"directory", map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: sub}`)},
			[]string{"roles.snapshot.keys[0].public_key: " + filepath.Join(dir, "sub") + " is not a regular file"}},
		{"two files, one key", map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: copy.pem}`, `{public_key: same.pem}`)},
			[]string{"roles.snapshot.keys[1].public_key: same key as roles.snapshot.keys[0]"}},
		{"a file and its key ID", map[string]string{"snapshot": planTestRole("1", "7d", `{key: `+keyID+`}`, `{public_key: sub/sub.pem}`)},
			[]string{"roles.snapshot.keys[1].public_key: same key as roles.snapshot.keys[0]"}},
		{"one file twice", map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: copy.pem}`, `{public_key: ./copy.pem}`)},
			[]string{"roles.snapshot.keys[1].public_key: same file as roles.snapshot.keys[0]"}},
		{"with other problems", map[string]string{"root": planTestRole("9", "365d", `{custodian: a, token: "pkcs11:token=a"}`), "snapshot": planTestRole("1", "7d", `{public_key: nope.pem}`)},
			[]string{"roles.root.threshold: 9 exceeds the 1 key listed", "roles.snapshot.keys[0].public_key: " + filepath.Join(dir, "nope.pem") + " does not exist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			roles := map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: copy.pem}`)}
			for k, v := range tc.roles {
				roles[k] = v
			}
			in := planTestYAML(roles)
			path := filepath.Join(dir, "plan.yaml")
			if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadPlan(path)
			checkProblems(t, in, err, tc.want)
		})
	}

	// An absolute path is not relative to the plan.
	in := planTestYAML(map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: "`+filepath.Join(dir, "copy.pem")+`"}`)})
	path := filepath.Join(dir, "sub", "plan.yaml")
	os.WriteFile(path, []byte(in), 0o644)
	if _, err := LoadPlan(path); err != nil {
		t.Errorf("absolute public_key: %v", err)
	}
}

func TestLint(t *testing.T) {
	tok := func(custodian, uri string) string { return `{custodian: ` + custodian + `, token: "` + uri + `"}` }
	a, b, c := tok("a", "pkcs11:token=a"), tok("b", "pkcs11:token=b"), tok("c", "pkcs11:token=c")
	d, e := tok("d", "pkcs11:token=d"), tok("e", "pkcs11:token=e")
	clean := map[string]string{
		"root":      planTestRole("2", "365d", a, b, c),
		"targets":   planTestRole("1", "26w", d, e),
		"snapshot":  planTestRole("1", "7d", `{public_key: s.pem}`),
		"timestamp": planTestRole("1", "1d", `{public_key: s.pem}`),
	}
	for _, tc := range []struct {
		name  string
		roles map[string]string
		want  []string
	}{
		{"clean", nil, nil},
		{"boundaries", map[string]string{"root": planTestRole("2", "90d", a, b, c), "targets": planTestRole("1", "730d", d, e),
			"snapshot": planTestRole("1", "1h", `{public_key: s.pem}`), "timestamp": planTestRole("1", "30d", `{public_key: t.pem}`)}, nil},
		{"boundaries 2", map[string]string{"root": planTestRole("2", "1825d", a, b, c), "targets": planTestRole("1", "1w", d, e),
			"snapshot": planTestRole("1", "365d", `{public_key: s.pem}`), "timestamp": planTestRole("1", "10m", `{public_key: t.pem}`)}, nil},
		{"root threshold 1", map[string]string{"root": planTestRole("1", "365d", a, b)},
			[]string{"roles.root.threshold: a threshold of 1 means a single stolen key can replace the root"}},
		{"root 1 of 1", map[string]string{"root": planTestRole("1", "365d", a)},
			[]string{"roles.root.threshold: a threshold of 1 means a single stolen key can replace the root",
				"roles.root.keys: no spare key above the threshold of 1: losing one key locks the role"}},
		{"root without spare", map[string]string{"root": planTestRole("3", "365d", a, b, c)},
			[]string{"roles.root.keys: no spare key above the threshold of 3: losing one key locks the role"}},
		{"targets without spare", map[string]string{"targets": planTestRole("1", "26w", d)},
			[]string{"roles.targets.keys: no spare key above the threshold of 1: losing one key locks the role"}},
		{"online roles without spare", map[string]string{"snapshot": planTestRole("1", "7d", `{public_key: s.pem}`)}, nil},
		{"token keys for online roles", map[string]string{"timestamp": planTestRole("1", "1d", tok("f", "pkcs11:token=f"))}, nil},
		{"token in root and targets", map[string]string{"targets": planTestRole("1", "26w", d, tok("x", "pkcs11:token=b?pin-source=file:/p"))},
			[]string{"roles.targets.keys[1].token: same token as roles.root.keys[1]: keep root keys for root alone"}},
		{"other object on the same token", map[string]string{"targets": planTestRole("1", "26w", d, tok("b", "pkcs11:token=b;object=targets"))}, nil},
		{"key in root and targets", map[string]string{
			"root":    planTestRole("2", "365d", a, b, `{key: `+planTestKeyID1+`}`),
			"targets": planTestRole("1", "26w", `{key: `+planTestKeyID2+`}`, `{key: `+planTestKeyID1+`}`)},
			[]string{"roles.targets.keys[1].key: same key as roles.root.keys[2]: keep root keys for root alone"}},
		{"online key in root", map[string]string{"root": planTestRole("2", "365d", a, b, `{public_key: s.pem}`)},
			[]string{"roles.root.keys[2].public_key: online key in root: root keys belong offline, on tokens",
				"roles.snapshot.keys[0].public_key: same file as roles.root.keys[2]: keep root keys for root alone",
				"roles.timestamp.keys[0].public_key: same file as roles.root.keys[2]: keep root keys for root alone"}},
		{"expiry too short", map[string]string{"root": planTestRole("2", "30d", a, b, c), "targets": planTestRole("1", "6d", d, e),
			"snapshot": planTestRole("1", "59m", `{public_key: s.pem}`), "timestamp": planTestRole("1", "9m", `{public_key: t.pem}`)},
			[]string{
				"roles.root.expires: 30d is shorter than usual for root (90d to 1825d)",
				"roles.targets.expires: 6d is shorter than usual for targets (7d to 730d)",
				"roles.snapshot.expires: 59m is shorter than usual for snapshot (1h to 365d)",
				"roles.timestamp.expires: 9m is shorter than usual for timestamp (10m to 30d)",
			}},
		{"expiry too long", map[string]string{"root": planTestRole("2", "1826d", a, b, c), "targets": planTestRole("1", "105w", d, e),
			"snapshot": planTestRole("1", "366d", `{public_key: s.pem}`), "timestamp": planTestRole("1", "721h", `{public_key: t.pem}`)},
			[]string{
				"roles.root.expires: 1826d is longer than usual for root (90d to 1825d)",
				"roles.targets.expires: 105w is longer than usual for targets (7d to 730d)",
				"roles.snapshot.expires: 366d is longer than usual for snapshot (1h to 365d)",
				"roles.timestamp.expires: 721h is longer than usual for timestamp (10m to 30d)",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			roles := map[string]string{}
			for k, v := range clean {
				roles[k] = v
			}
			for k, v := range tc.roles {
				roles[k] = v
			}
			in := planTestYAML(roles)
			p, err := ParsePlan([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range p.Lint() {
				got = append(got, w.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("for\n%s\n got %q\nwant %q", in, got, tc.want)
			}
		})
	}

	w := Warning{Field: "roles.root.threshold", Message: "m"}
	if w.String() != "roles.root.threshold: m" {
		t.Errorf("Warning.String() = %q", w.String())
	}
	if ws := (&Plan{}).Lint(); len(ws) != 0 {
		t.Errorf("Lint of an empty plan = %v", ws)
	}
}

// TestLintLoaded checks that Lint compares online keys by key ID once
// LoadPlan has read them, and the fixtures' warnings.
func TestLintLoaded(t *testing.T) {
	dir := planTestDir(t)
	p, err := LoadPlan(filepath.Join(dir, "softhsm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Lint(); !reflect.DeepEqual(got, []Warning{
		{"roles.root.keys[2].algorithm", P384ClientWarning},
		{"roles.targets.keys", "no spare key above the threshold of 1: losing one key locks the role"},
	}) {
		t.Errorf("softhsm.yaml: Lint = %q", got)
	}
	y, err := LoadPlan(filepath.Join(dir, "yubikey.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := y.Lint(); !reflect.DeepEqual(got, []Warning{{"roles.root.keys[2].algorithm", P384ClientWarning}}) {
		t.Errorf("yubikey.yaml: Lint = %q", got)
	}

	// The snapshot key, copied to another file, is also listed in root
	// by its key ID and by the copy.
	snap := p.Roles.Snapshot.Keys[0].OnlineKey()
	id, _ := snap.ID()
	data, _ := os.ReadFile(filepath.Join(dir, "online-snapshot.pem"))
	os.WriteFile(filepath.Join(dir, "copy.pem"), data, 0o644)
	in := planTestYAML(map[string]string{
		"root":     planTestRole("2", "365d", `{custodian: a, token: "pkcs11:token=a"}`, `{custodian: b, token: "pkcs11:token=b"}`, `{key: `+id+`}`),
		"targets":  planTestRole("1", "26w", `{custodian: d, token: "pkcs11:token=d"}`, `{public_key: copy.pem}`),
		"snapshot": planTestRole("1", "7d", `{public_key: online-snapshot.pem}`),
	})
	os.WriteFile(filepath.Join(dir, "shared.yaml"), []byte(in), 0o644)
	p, err = LoadPlan(filepath.Join(dir, "shared.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range p.Lint() {
		got = append(got, w.String())
	}
	want := []string{
		"roles.targets.keys[1].public_key: same key as roles.root.keys[2]: keep root keys for root alone",
		"roles.snapshot.keys[0].public_key: same key as roles.root.keys[2]: keep root keys for root alone",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Lint =\n%q\nwant\n%q", got, want)
	}
}

// TestParsePlanLargeInputs checks that pathological inputs are rejected in
// time linear in their size: the deepest nesting at the size cap, and
// long lists of fields, keys and aliases at an eighth of it (the YAML
// parser takes about a second per MiB of tokens, five under -race).
func TestParsePlanLargeInputs(t *testing.T) {
	n, m := PlanMaxSize, PlanMaxSize/8
	for name, in := range map[string]string{
		"nested lists":    strings.Repeat("[", n),
		"nested mappings": strings.Repeat("{a: ", n/4),
		"long line":       "name: " + strings.Repeat("x", n-10) + "\n",
		"many documents":  strings.Repeat("---\n", n/4),
		"many fields":     strings.Repeat("x: 1\n", m/5),
		"many keys":       "roles:\n  root:\n    threshold: 1\n    expires: 1d\n    keys:\n" + strings.Repeat("      - {key: x}\n", m/17),
		"many aliases":    "a: &a [" + strings.Repeat("x,", 1000) + "]\nb: &b [" + strings.Repeat("*a,", m/3) + "]\n",
		"long list":       "[" + strings.Repeat("1,", m/2) + "]",
	} {
		start := time.Now()
		_, err := ParsePlan([]byte(in))
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
		if len(planProblems(t, err)) == 0 {
			t.Errorf("%s: no problems", name)
		}
	}
}

func FuzzParsePlan(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "plans", "*.yaml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(planTestYAML(nil)))
	f.Add([]byte("roles: {root: &a {threshold: 1}, targets: *a}\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlan(data)
		if err != nil {
			var pe *PlanError
			if !errors.As(err, &pe) || len(pe.Problems) == 0 || p != nil {
				t.Fatalf("ParsePlan returned %v, %v", p, err)
			}
			return
		}
		// A plan ParsePlan accepts is complete and consistent...
		for _, name := range p.RoleNames() {
			r := p.Role(name)
			if r == nil || r.Threshold < 1 || r.Threshold > len(r.Keys) || r.Expires <= 0 {
				t.Fatalf("accepted an invalid role %s: %+v", name, r)
			}
			for i, k := range r.Keys {
				if k.Kind() == "" {
					t.Fatalf("accepted roles.%s.keys[%d] = %+v", name, i, k)
				}
			}
		}
		p.Lint()
		// ...and reads back the same after writing.
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := ParsePlan(out)
		if err != nil {
			t.Fatalf("ParsePlan of Marshal:\n%s\n%v", out, err)
		}
		if !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip of\n%s\ngave %+v", out, back)
		}
	})
}
