package ceremony

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

var (
	diffExp1 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	diffExp2 = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
)

// diffTestKeys are stand-in public keys: the diff never parses a key, and
// their IDs are fixed (sorted: online, carol, alice, bob, release, dave).
type diffTestKeys struct {
	alice, bob, carol, dave, online, release *metadata.Key
	ids                                      map[string]string // name → key ID
}

func diffTestKey(name, typ, scheme string) *metadata.Key {
	sum := sha256.Sum256([]byte(name))
	return &metadata.Key{Type: typ, Scheme: scheme, Value: metadata.KeyVal{PublicKey: hex.EncodeToString(sum[:])}}
}

func newDiffTestKeys(t *testing.T) *diffTestKeys {
	t.Helper()
	k := &diffTestKeys{
		alice:   diffTestKey("alice", "ed25519", "ed25519"),
		bob:     diffTestKey("bob", "ecdsa", "ecdsa-sha2-nistp256"),
		carol:   diffTestKey("carol", "ed25519", "ed25519"),
		dave:    diffTestKey("dave", "ed25519", "ed25519"),
		online:  diffTestKey("online", "ecdsa", "ecdsa-sha2-nistp256"),
		release: diffTestKey("release", "ed25519", "ed25519"),
		ids:     map[string]string{},
	}
	for name, key := range map[string]*metadata.Key{"alice": k.alice, "bob": k.bob, "carol": k.carol, "dave": k.dave, "online": k.online, "release": k.release} {
		id, err := key.ID()
		if err != nil {
			t.Fatal(err)
		}
		k.ids[name] = id
	}
	// carol is named only by her key's tuf-on-ci field.
	k.carol.UnrecognizedFields = map[string]any{KeyOwnerField: "@carol"}
	return k
}

// names knows alice, bob, dave and the online key, not carol or release.
func (k *diffTestKeys) names(id string) string {
	for _, n := range []string{"alice", "bob", "dave", "online"} {
		if k.ids[n] == id {
			return n
		}
	}
	return ""
}

// expand replaces {alice} and the like with key IDs.
func (k *diffTestKeys) expand(s string) string {
	var pairs []string
	for name, id := range k.ids {
		pairs = append(pairs, "{"+name+"}", id)
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func (k *diffTestKeys) rootV1(t *testing.T) *metadata.Metadata[metadata.RootType] {
	t.Helper()
	r := metadata.Root(diffExp1)
	for _, a := range []struct {
		key  *metadata.Key
		role string
	}{{k.alice, "root"}, {k.bob, "root"}, {k.online, "timestamp"}, {k.online, "snapshot"}, {k.carol, "targets"}} {
		if err := r.Signed.AddKey(a.key, a.role); err != nil {
			t.Fatal(err)
		}
	}
	r.Signed.Roles["root"].Threshold = 2
	return r
}

func (k *diffTestKeys) targetsV1() *metadata.Metadata[metadata.TargetsType] {
	tg := metadata.Targets(diffExp1)
	tg.Signed.Targets["app/v1.tar.gz"] = &metadata.TargetFiles{Length: 1234, Hashes: metadata.Hashes{"sha256": {0x00, 0xaa, 0x11, 0xbb}}}
	tg.Signed.Targets["old.txt"] = &metadata.TargetFiles{Length: 5, Hashes: metadata.Hashes{"sha256": {0x01, 0x02}}}
	tg.Signed.Delegations = &metadata.Delegations{
		Keys: map[string]*metadata.Key{k.ids["release"]: k.release},
		Roles: []metadata.DelegatedRole{
			{Name: "releases", KeyIDs: []string{k.ids["release"]}, Threshold: 1, Paths: []string{"releases/*"}},
			{Name: "docs", KeyIDs: []string{k.ids["release"]}, Threshold: 1, Paths: []string{"docs/*"}},
		},
		UnrecognizedFields: map[string]any{"x-policy": float64(1)},
	}
	return tg
}

func formatted(changes []Change) string {
	var b bytes.Buffer
	FormatChanges(&b, changes)
	return b.String()
}

func TestDiffRoot(t *testing.T) {
	k := newDiffTestKeys(t)
	tests := []struct {
		name   string
		from   func() *metadata.Metadata[metadata.RootType]
		to     func() *metadata.Metadata[metadata.RootType]
		output string
	}{
		{
			name: "first root",
			from: func() *metadata.Metadata[metadata.RootType] { return nil },
			to:   func() *metadata.Metadata[metadata.RootType] { return k.rootV1(t) },
			output: `+ version: 1
+ spec_version: 1.0.31
+ expires: 2026-01-01T00:00:00Z
+ consistent_snapshot: true
+ keys: {online} ecdsa-sha2-nistp256 (online)
+ keys: {carol} ed25519 (@carol)
+ keys: {alice} ed25519 (alice)
+ keys: {bob} ecdsa-sha2-nistp256 (bob)
+ roles: root (threshold 2)
+ roles.root.keyids: {alice} (alice)
+ roles.root.keyids: {bob} (bob)
+ roles: timestamp (threshold 1)
+ roles.timestamp.keyids: {online} (online)
+ roles: snapshot (threshold 1)
+ roles.snapshot.keyids: {online} (online)
+ roles: targets (threshold 1)
+ roles.targets.keyids: {carol} (@carol)
`,
		},
		{
			name: "same root",
			from: func() *metadata.Metadata[metadata.RootType] { return k.rootV1(t) },
			to:   func() *metadata.Metadata[metadata.RootType] { return k.rootV1(t) },
			output: `no differences
`,
		},
		{
			name: "planned rotation",
			from: func() *metadata.Metadata[metadata.RootType] { return k.rootV1(t) },
			to: func() *metadata.Metadata[metadata.RootType] {
				r := k.rootV1(t)
				r.Signed.Version = 2
				r.Signed.Expires = diffExp2
				if err := r.Signed.RevokeKey(k.ids["bob"], "root"); err != nil {
					t.Fatal(err)
				}
				if err := r.Signed.AddKey(k.dave, "root"); err != nil {
					t.Fatal(err)
				}
				if err := r.Signed.AddKey(k.alice, "targets"); err != nil {
					t.Fatal(err)
				}
				r.Signed.Roles["targets"].Threshold = 2
				// Same key, new owner: go-tuf's Key.ID would now differ,
				// the keys map keeps the ID.
				carol := *k.carol
				carol.UnrecognizedFields = map[string]any{KeyOwnerField: "@carol-new"}
				r.Signed.Keys[k.ids["carol"]] = &carol
				r.Signed.UnrecognizedFields = map[string]any{"x-ceremony": map[string]any{"site": "vault <b>", "n": float64(2)}}
				return r
			},
			output: `~ version: 1 → 2
~ expires: 2026-01-01T00:00:00Z → 2027-01-01T00:00:00Z (365 days later)
- keys: {bob} ecdsa-sha2-nistp256 (bob)
+ keys: {dave} ed25519 (dave)
~ keys.{carol}.x-tuf-on-ci-keyowner: "@carol" → "@carol-new"
- roles.root.keyids: {bob} (bob)
+ roles.root.keyids: {dave} (dave)
~ roles.targets.threshold: 1 → 2
+ roles.targets.keyids: {alice} (alice)
+ x-ceremony: {"n":2,"site":"vault <b>"}
`,
		},
		{
			name: "odd changes",
			from: func() *metadata.Metadata[metadata.RootType] { return k.rootV1(t) },
			to: func() *metadata.Metadata[metadata.RootType] {
				r := k.rootV1(t)
				r.Signed.Version = 3
				r.Signed.SpecVersion = "1.0.32"
				r.Signed.Expires = diffExp1.Add(-36 * time.Hour)
				r.Signed.ConsistentSnapshot = false
				alice := diffTestKey("mallory", "ed25519", "ed25519-legacy")
				r.Signed.Keys[k.ids["alice"]] = alice
				r.Signed.Roles["root"].KeyIDs = []string{k.ids["bob"], k.ids["alice"]}
				delete(r.Signed.Roles, "timestamp")
				r.Signed.Roles["snapshot"].UnrecognizedFields = map[string]any{"x-note": "rotate monthly"}
				return r
			},
			output: `~ version: 1 → 3 (not the next version)
~ spec_version: 1.0.31 → 1.0.32
~ expires: 2026-01-01T00:00:00Z → 2025-12-30T12:00:00Z (1 day 12 hours earlier)
~ consistent_snapshot: true → false
~ keys.{alice}.scheme: ed25519 → ed25519-legacy
~ keys.{alice}.keyval.public: sha256:77555306307cbe22… → sha256:a39cb6e15489dd33… (same key ID, different public key)
~ roles.root.keyids: {alice}, {bob} → {bob}, {alice} (order only)
- roles: timestamp (threshold 1)
- roles.timestamp.keyids: {online} (online)
+ roles.snapshot.x-note: "rotate monthly"
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := formatted(DiffRoot(tt.from(), tt.to(), k.names))
			if want := k.expand(tt.output); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestDiffTargets(t *testing.T) {
	k := newDiffTestKeys(t)
	tests := []struct {
		name   string
		from   func() *metadata.Metadata[metadata.TargetsType]
		to     func() *metadata.Metadata[metadata.TargetsType]
		output string
	}{
		{
			name: "first targets",
			from: func() *metadata.Metadata[metadata.TargetsType] { return nil },
			to:   k.targetsV1,
			output: `+ version: 1
+ spec_version: 1.0.31
+ expires: 2026-01-01T00:00:00Z
+ targets: app/v1.tar.gz (1234 bytes, sha256:00aa11bb)
+ targets: old.txt (5 bytes, sha256:0102)
+ delegations: 1 key, 2 roles
+ delegations.keys: {release} ed25519
+ delegations.roles: releases (threshold 1)
+ delegations.roles.releases.keyids: {release}
+ delegations.roles.releases.paths: releases/*
+ delegations.roles: docs (threshold 1)
+ delegations.roles.docs.keyids: {release}
+ delegations.roles.docs.paths: docs/*
+ delegations.x-policy: 1
`,
		},
		{
			name: "release",
			from: k.targetsV1,
			to: func() *metadata.Metadata[metadata.TargetsType] {
				tg := k.targetsV1()
				tg.Signed.Version = 2
				custom := json.RawMessage(`{ "kind": "app" }`)
				app := tg.Signed.Targets["app/v1.tar.gz"]
				app.Length = 1240
				app.Hashes = metadata.Hashes{"sha256": {0x00, 0xaa, 0x11, 0xcc}, "sha512": {0xff, 0x00}}
				app.Custom = &custom
				app.UnrecognizedFields = map[string]any{"x-signed-by": "ci"}
				custom2 := json.RawMessage(`{"kind":"app","arch":["amd64"]}`)
				tg.Signed.Targets["app/v2.tar.gz"] = &metadata.TargetFiles{Length: 2048, Hashes: metadata.Hashes{"sha256": {0x02, 0x03}}, Custom: &custom2}
				delete(tg.Signed.Targets, "old.txt")
				dl := tg.Signed.Delegations
				dl.Keys[k.ids["dave"]] = k.dave
				releases := dl.Roles[0]
				releases.Threshold = 2
				releases.Terminating = true
				releases.KeyIDs = []string{k.ids["release"], k.ids["dave"]}
				releases.Paths = []string{"releases/v2/*"}
				nightly := metadata.DelegatedRole{Name: "nightly", KeyIDs: []string{k.ids["release"]}, Threshold: 1, PathHashPrefixes: []string{"00", "01"}}
				dl.Roles = []metadata.DelegatedRole{nightly, dl.Roles[1], releases}
				dl.UnrecognizedFields = map[string]any{"x-policy": float64(2)}
				return tg
			},
			output: `~ version: 1 → 2
~ targets.app/v1.tar.gz.length: 1234 → 1240
~ targets.app/v1.tar.gz.hashes.sha256: 00aa11bb → 00aa11cc
+ targets.app/v1.tar.gz.hashes.sha512: ff00
+ targets.app/v1.tar.gz.custom: {"kind":"app"}
+ targets.app/v1.tar.gz.x-signed-by: "ci"
+ targets: app/v2.tar.gz (2048 bytes, sha256:0203, custom {"arch":["amd64"],"kind":"app"})
- targets: old.txt (5 bytes, sha256:0102)
+ delegations.keys: {dave} ed25519 (dave)
+ delegations.roles: nightly (threshold 1)
+ delegations.roles.nightly.keyids: {release}
+ delegations.roles.nightly.path_hash_prefixes: 00
+ delegations.roles.nightly.path_hash_prefixes: 01
~ delegations.roles.releases.threshold: 1 → 2
~ delegations.roles.releases.terminating: false → true
+ delegations.roles.releases.keyids: {dave} (dave)
- delegations.roles.releases.paths: releases/*
+ delegations.roles.releases.paths: releases/v2/*
~ delegations.roles: releases, docs → docs, releases (search order)
~ delegations.x-policy: 1 → 2
`,
		},
		{
			name: "to succinct roles",
			from: k.targetsV1,
			to: func() *metadata.Metadata[metadata.TargetsType] {
				tg := k.targetsV1()
				tg.Signed.Delegations = &metadata.Delegations{
					Keys:          map[string]*metadata.Key{k.ids["release"]: k.release},
					SuccinctRoles: &metadata.SuccinctRoles{KeyIDs: []string{k.ids["release"]}, Threshold: 1, BitLength: 8, NamePrefix: "bin"},
				}
				return tg
			},
			output: `- delegations.roles: releases (threshold 1)
- delegations.roles.releases.keyids: {release}
- delegations.roles.releases.paths: releases/*
- delegations.roles: docs (threshold 1)
- delegations.roles.docs.keyids: {release}
- delegations.roles.docs.paths: docs/*
+ delegations.succinct_roles: bin-* (bit_length 8, threshold 1)
+ delegations.succinct_roles.keyids: {release}
- delegations.x-policy: 1
`,
		},
		{
			name: "delegations dropped",
			from: k.targetsV1,
			to: func() *metadata.Metadata[metadata.TargetsType] {
				tg := k.targetsV1()
				tg.Signed.Delegations = nil
				tg.Signed.UnrecognizedFields = map[string]any{"x-owner": "release team"}
				return tg
			},
			output: `- delegations: 1 key, 2 roles
- delegations.keys: {release} ed25519
- delegations.roles: releases (threshold 1)
- delegations.roles.releases.keyids: {release}
- delegations.roles.releases.paths: releases/*
- delegations.roles: docs (threshold 1)
- delegations.roles.docs.keyids: {release}
- delegations.roles.docs.paths: docs/*
- delegations.x-policy: 1
+ x-owner: "release team"
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := formatted(DiffTargets(tt.from(), tt.to(), k.names))
			if want := k.expand(tt.output); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			// DiffFiles over the same metadata as files (which decodes only
			// the targets whose bytes differ) says the same, both ways round.
			var fromJSON []byte
			if from := tt.from(); from != nil {
				var err error
				if fromJSON, err = from.ToBytes(true); err != nil {
					t.Fatal(err)
				}
			}
			toJSON, err := tt.to().ToBytes(false)
			if err != nil {
				t.Fatal(err)
			}
			pairs := [][2][]byte{{fromJSON, toJSON}}
			if fromJSON != nil {
				pairs = append(pairs, [2][]byte{toJSON, fromJSON})
			}
			for _, pair := range pairs {
				files, err := DiffFiles(pair[0], pair[1], k.names)
				if err != nil {
					t.Fatal(err)
				}
				old, err := parseTargetsOrNil(pair[0])
				if err != nil {
					t.Fatal(err)
				}
				parsed, err := ParseTargets(pair[1])
				if err != nil {
					t.Fatal(err)
				}
				if got, want := formatted(files), formatted(DiffTargets(old, parsed, k.names)); got != want {
					t.Errorf("DiffFiles:\n%s\nDiffTargets:\n%s", got, want)
				}
			}
		})
	}
}

// parseTargetsOrNil is ParseTargets, and nil for no file.
func parseTargetsOrNil(data []byte) (*metadata.Metadata[metadata.TargetsType], error) {
	if len(data) == 0 {
		return nil, nil
	}
	return ParseTargets(data)
}

// A target whose entry go-tuf refuses is refused by DiffFiles too, as the
// old file's or the new file's; the same bytes in both are not decoded
// again (the old file was checked when it was published).
func TestDiffFilesRefusesBadTarget(t *testing.T) {
	good := `{"signed":{"_type":"targets","spec_version":"1.0.31","version":1,"expires":"2030-01-01T00:00:00Z","targets":{"a":{"length":1,"hashes":{"sha256":"00"}}}},"signatures":[]}`
	bad := strings.Replace(good, `"length":1`, `"length":"one"`, 1)
	null := strings.Replace(good, `"targets":{`, `"targets":{"evil.txt":null,`, 1)
	for _, c := range []struct{ old, new, which string }{
		{good, bad, "new"},
		{bad, strings.Replace(good, `"a"`, `"b"`, 1), "old"},
		// A null target (go-tuf's clients crash on it) is refused, even
		// where both files hold it and it would not be a change.
		{good, null, "new"},
		{null, null, "old"},
	} {
		_, err := DiffFiles([]byte(c.old), []byte(c.new), nil)
		var input *DiffInputError
		if !errors.As(err, &input) || input.Which != c.which || !errors.Is(err, ErrInvalidMetadata) {
			t.Errorf("DiffFiles(%s, %s) = %v, want the %s file refused as invalid", c.old, c.new, err, c.which)
		}
	}
	if changes, err := DiffFiles([]byte(good), []byte(strings.Replace(good, `"version":1`, `"version":2`, 1)), nil); err != nil || len(changes) != 1 {
		t.Errorf("version bump: %v, %v", changes, err)
	}
}

// Metadata cannot draw on the review screen: a newline, a terminal
// escape or a bidi override in a path or a field shows quoted, on its
// own line.
func TestDiffFormatQuotesControlCharacters(t *testing.T) {
	tg := metadata.Targets(diffExp1)
	tg.Signed.Targets["evil\x1b[2K\n+ nothing else"] = &metadata.TargetFiles{Length: 1, Hashes: metadata.Hashes{"sha256": {0x00}}}
	tg.Signed.UnrecognizedFields = map[string]any{"x-\u202eowner": "ok"}
	got := formatted(DiffTargets(metadata.Targets(diffExp1), tg, nil))
	want := `+ targets: "evil\x1b[2K\n+ nothing else" (1 byte, sha256:00)
+ "x-\u202eowner": "ok"
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDiffFiles(t *testing.T) {
	k := newDiffTestKeys(t)
	v1 := k.rootV1(t)
	v2 := k.rootV1(t)
	v2.Signed.Version = 2
	v2.Signed.UnrecognizedFields = map[string]any{"x-ceremony": map[string]any{"site": "vault"}}
	v1JSON, err := v1.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	v2JSON, err := v2.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	// Through JSON, the same as on the parsed metadata.
	for _, c := range []struct {
		from, to []byte
		want     []Change
	}{
		{nil, v1JSON, DiffRoot(nil, v1, k.names)},
		{v1JSON, v2JSON, DiffRoot(v1, v2, k.names)},
		{v2JSON, v2JSON, nil},
	} {
		got, err := DiffFiles(c.from, c.to, k.names)
		if err != nil {
			t.Fatal(err)
		}
		if formatted(got) != formatted(c.want) {
			t.Errorf("DiffFiles:\n%s\nwant\n%s", formatted(got), formatted(c.want))
		}
	}
	tg, err := k.targetsV1().ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DiffFiles(nil, tg, nil)
	if err != nil || len(got) != 14 {
		t.Errorf("DiffFiles(targets) = %d changes, %v", len(got), err)
	}
}

// A tuf-on-ci key: its ID leaves the keyowner field out, as python-tuf
// computes it; go-tuf's Key.ID would include it. The ID of the file is
// shown, and the owner when names does not know the key.
func TestDiffFilesKeepsKeyIDs(t *testing.T) {
	const id = "1111111111111111111111111111111111111111111111111111111111111111"
	root := `{"signed": {"_type": "root", "spec_version": "1.0.31", "version": 1, "expires": "2026-01-01T00:00:00Z",
	  "consistent_snapshot": true,
	  "keys": {"` + id + `": {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": "PEM"}, "x-tuf-on-ci-keyowner": "@jku", "x-tuf-on-ci-online-uri": "gcpkms:projects/p/keys/k"}},
	  "roles": {"root": {"keyids": ["` + id + `"], "threshold": 1}}},
	 "signatures": []}`
	got, err := DiffFiles(nil, []byte(root), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `+ version: 1
+ spec_version: 1.0.31
+ expires: 2026-01-01T00:00:00Z
+ consistent_snapshot: true
+ keys: ` + id + ` ecdsa-sha2-nistp256 (@jku)
+ keys.` + id + `.x-tuf-on-ci-online-uri: "gcpkms:projects/p/keys/k"
+ roles: root (threshold 1)
+ roles.root.keyids: ` + id + ` (@jku)
`
	if formatted(got) != want {
		t.Errorf("got\n%s\nwant\n%s", formatted(got), want)
	}
	// names wins over the field, which is then listed.
	got, _ = DiffFiles(nil, []byte(root), func(string) string { return "jussi" })
	if f := formatted(got); !strings.Contains(f, "\n+ keys: "+id+" ecdsa-sha2-nistp256 (jussi)\n+ keys."+id+".x-tuf-on-ci-keyowner: \"@jku\"\n") {
		t.Errorf("names not used:\n%s", f)
	}
}

func TestDiffFilesErrors(t *testing.T) {
	root := `{"signed": {"_type": "root", "spec_version": "1.0.31", "version": 1, "expires": "2026-01-01T00:00:00Z", "keys": {}, "roles": {}}, "signatures": []}`
	targets := `{"signed": {"_type": "targets", "spec_version": "1.0.31", "version": 1, "expires": "2026-01-01T00:00:00Z", "targets": {}}, "signatures": []}`
	snapshot := `{"signed": {"_type": "snapshot", "spec_version": "1.0.31", "version": 1, "expires": "2026-01-01T00:00:00Z", "meta": {}}, "signatures": []}`
	tests := []struct {
		name     string
		from, to string
		is       error
		which    string
		message  string
	}{
		{"old not JSON", `{"signed":`, root, ErrInvalidMetadata, "old",
			"old file: invalid TUF metadata: unexpected end of JSON input"},
		{"new empty", root, ``, ErrInvalidMetadata, "new",
			"new file: invalid TUF metadata: unexpected end of JSON input"},
		{"no signed", root, `{"signatures": []}`, ErrInvalidMetadata, "new",
			`new file: invalid TUF metadata: no "signed" object`},
		{"no type", `{"signed": {"version": 1}}`, root, ErrInvalidMetadata, "old",
			"old file: invalid TUF metadata: no signed._type"},
		{"go-tuf rejects", root, strings.Replace(root, `"version": 1`, `"version": "one"`, 1), ErrInvalidMetadata, "new",
			"new file: invalid TUF metadata: json: cannot unmarshal string into Go struct field …"},
		{"root against targets", root, targets, ErrMetadataTypeMismatch, "",
			"cannot compare metadata of different types: the old file is root metadata, the new file targets metadata"},
		{"snapshot", snapshot, snapshot, ErrUnsupportedMetadataType, "",
			"only root and targets metadata can be compared, not snapshot metadata"},
		{"first snapshot", "", snapshot, ErrUnsupportedMetadataType, "",
			"only root and targets metadata can be compared, not snapshot metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DiffFiles([]byte(tt.from), []byte(tt.to), nil)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			var ie *DiffInputError
			if errors.As(err, &ie) != (tt.which != "") || (ie != nil && ie.Which != tt.which) {
				t.Errorf("error %#v, want one about the %q file", err, tt.which)
			}
			if msg, ok := strings.CutSuffix(tt.message, "…"); ok && strings.HasPrefix(err.Error(), msg) {
				return
			}
			if err.Error() != tt.message {
				t.Errorf("error\n  %v\nwant\n  %s", err, tt.message)
			}
		})
	}
}

func TestDiffDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		365 * 24 * time.Hour:            "365 days later",
		-24 * time.Hour:                 "1 day earlier",
		26*time.Hour + 90*time.Second:   "1 day 2 hours 1 minute 30 seconds later",
		time.Millisecond:                "less than a second later",
		-(12*time.Hour + 1*time.Minute): "12 hours 1 minute earlier",
	} {
		if got := diffDuration(d); got != want {
			t.Errorf("diffDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// goTUFWholeTargets is what go-tuf makes of a whole targets file: its
// parse, then its re-encoding, which must be the canonical form of the
// bytes for any signature to verify for a go-tuf client.
func goTUFWholeTargets(data []byte) error {
	md, err := ParseTargets(data)
	if err != nil {
		return err
	}
	env, err := ParseEnvelope(data)
	if err != nil {
		return err
	}
	want, err := env.Payload()
	if err != nil {
		return err
	}
	var got []byte
	if err := safeGoTUF(func() (err error) { got, err = cjson.EncodeCanonical(md.Signed); return err }); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("go-tuf writes %s, the bytes say %s", got, want)
	}
	return nil
}

// FuzzParseTargetsChecked: on any file, the checked parse accepts exactly
// when go-tuf's whole parse and re-encoding do.
func FuzzParseTargetsChecked(f *testing.F) {
	f.Add([]byte(`{"signed":{"_type":"targets","spec_version":"1.0.31","version":1,"expires":"2030-01-01T00:00:00Z","targets":{"a":{"length":1,"hashes":{"sha256":"00"}}}},"signatures":[]}`))
	f.Add([]byte(`{"signed":{"_type":"targets","spec_version":"1.0.31","version":1,"expires":"2030-01-01T00:00:00Z","targets":{"a":{"length":1,"hashes":{"sha256":"AB"},"custom":{"x":[1]}}},"x-y":{"b":null}},"signatures":[{"keyid":"ab","sig":"00"}]}`))
	files, _ := filepath.Glob("../testdata/hostile/*/*targets*.json")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil && len(data) < 1<<16 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := goTUFWholeTargets(data)
		_, checked := parseTargetsChecked(data)
		if (whole == nil) != (checked == nil) {
			t.Errorf("go-tuf: %v; the checked parse: %v", whole, checked)
		}
	})
}

// parseTargetsChecked accepts and refuses what go-tuf does with the whole
// file: its parse, then its re-encoding, which a go-tuf client verifies
// signatures over and must be the canonical form of the bytes. Every
// targets file of the test data and the hostile corpus, and targets go-tuf
// refuses (a null target, a bad length, a bad hash) or writes back
// otherwise (an upper-case hash, a fraction of a second), which verify
// must refuse as well.
func TestParseTargetsCheckedAsGoTUF(t *testing.T) {
	var files []string
	for _, pat := range []string{"../testdata/*/*/*targets*.json", "../testdata/*/*/*/*targets*.json", "testdata/*/*targets*.json"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("only %d targets files in the test data", len(files))
	}
	inputs := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[f] = data
	}
	good := `{"signed":{"_type":"targets","spec_version":"1.0.31","version":1,"expires":"2030-01-01T00:00:00Z","targets":{"a":{"length":1,"hashes":{"sha256":"00"}}}},"signatures":[]}`
	for name, edit := range map[string][2]string{
		"null target":  {`"targets":{`, `"targets":{"evil":null,`},
		"bad length":   {`"length":1`, `"length":"one"`},
		"bad hash":     {`"00"`, `"not hex"`},
		"no length":    {`"length":1,`, ``},
		"targets null": {`"targets":{"a":{"length":1,"hashes":{"sha256":"00"}}}`, `"targets":null`},
		"no targets":   {`,"targets":{"a":{"length":1,"hashes":{"sha256":"00"}}}`, ``},
		"custom":       {`"length":1`, `"length":1,"custom":{"x":[1]}`},
		"duplicate":    {`"targets":{`, `"targets":{"a":null,`},
		"not object":   {`"targets":{"a":{"length":1,"hashes":{"sha256":"00"}}}`, `"targets":[]`},
		"upper case":   {`"00"`, `"AB"`},
		"fraction":     {`"2030-01-01T00:00:00Z"`, `"2030-01-01T00:00:00.500Z"`},
		"big number":   {`"version":1,`, `"version":1,"x-big":12345678901234567890,`},
		"in a target":  {`"length":1`, `"length":1,"x-big":12345678901234567890`},
		"float":        {`"length":1`, `"length":1,"x":1.5`},
		"escapes":      {`"a":{`, `"\u0061\/b":{`},
		"unrecognized": {`"length":1`, `"length":1,"x-extra":{"z":[true,null,"\u00e9"],"a":-0}`},
	} {
		inputs[name] = []byte(strings.Replace(good, edit[0], edit[1], 1))
	}
	refused := 0
	for name, data := range inputs {
		whole := goTUFWholeTargets(data)
		if whole != nil {
			refused++
		}
		if _, parsed := ParseTargets(data); (parsed == nil) != (func() bool { _, err := parseTargetsLean(data); return err == nil }()) {
			t.Errorf("%s: go-tuf's parse: %v; the lean parse disagrees", name, parsed)
		}
		md, checked := parseTargetsChecked(data)
		if (whole == nil) != (checked == nil) {
			t.Errorf("%s: go-tuf's parse: %v; the checked parse: %v", name, whole, checked)
		}
		if checked == nil && len(md.Signed.Targets) != 0 {
			t.Errorf("%s: the checked parse kept the targets", name)
		}
	}
	if refused < 10 || refused == len(inputs) {
		t.Errorf("go-tuf refuses %d of %d inputs: not the mix this test means", refused, len(inputs))
	}
}
