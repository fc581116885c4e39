package ceremony

import (
	"bytes"
	"cmp"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"go.yaml.in/yaml/v3"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// PlanMaxSize is the largest plan ParsePlan and LoadPlan accept. A plan is
// a short document meant to be printed; the cap bounds the work done on a
// file that is something else.
const PlanMaxSize = 1 << 20

// Plan is a ceremony plan, ceremony.yaml: for each top-level role, its
// threshold, the validity of its metadata and its keys.
//
//	name: example.org updates
//	roles:
//	  root:
//	    threshold: 2
//	    expires: 365d
//	    keys:
//	      - {custodian: alice, token: "pkcs11:token=alice?module-path=/usr/lib/softhsm/libsofthsm2.so"}
//	      - {custodian: bob, token: "yubikey:serial=12345678;slot-id=9c", algorithm: ecdsa-p384}
//	      - {key: 3f1a…}   # already in keys/<keyid>.json
//	  targets: …
//	  snapshot:
//	    threshold: 1
//	    expires: 7d
//	    keys:
//	      - {public_key: online-snapshot.pem, custodian: online}
//	  timestamp: …
//
// A Plan returned by ParsePlan or LoadPlan is valid: every role is present
// and every key is of exactly one kind (see PlanKey).
type Plan struct {
	// Name is free text naming the repository or the ceremony.
	Name  string    `yaml:"name,omitempty"`
	Roles PlanRoles `yaml:"roles"`
	// Dir is the directory that public_key paths are relative to: the
	// plan's directory, set by LoadPlan.
	Dir string `yaml:"-"`
}

// PlanRoles are the four top-level TUF roles.
type PlanRoles struct {
	Root      *RolePlan `yaml:"root,omitempty"`
	Targets   *RolePlan `yaml:"targets,omitempty"`
	Snapshot  *RolePlan `yaml:"snapshot,omitempty"`
	Timestamp *RolePlan `yaml:"timestamp,omitempty"`
}

// RolePlan is what a plan says about one role.
type RolePlan struct {
	// Threshold is the number of keys whose signatures the role needs, at
	// least 1 and at most len(Keys).
	Threshold int `yaml:"threshold"`
	// Expires is how long the role's metadata is valid after signing.
	Expires Duration  `yaml:"expires"`
	Keys    []PlanKey `yaml:"keys"`
}

// The kinds of PlanKey, as Kind returns them.
const (
	KeyKindToken     = "token"      // generate a key on a token
	KeyKindKey       = "key"        // a key already in keys/<keyid>.json
	KeyKindPublicKey = "public_key" // an online key, given as a PEM file
)

// PlanKey is one key of a role. Exactly one of Token, Key and PublicKey is
// set:
//
//   - Token: a key to generate on the token that URI addresses, for
//     Custodian (required), with Algorithm (default ecdsa-p256);
//   - Key: the ID of a key already recorded in the workspace's keys/, whose
//     record names its custodian;
//   - PublicKey: a PEM file (relative to Plan.Dir) holding the public half
//     of an online key whose private half lives elsewhere, e.g. in a cloud
//     KMS; Custodian optionally names its owner.
type PlanKey struct {
	Custodian string `yaml:"custodian,omitempty"`
	Token     string `yaml:"token,omitempty"`
	Algorithm string `yaml:"algorithm,omitempty"`
	Key       string `yaml:"key,omitempty"`        // existing key ID
	PublicKey string `yaml:"public_key,omitempty"` // PEM file

	// online is the key LoadPlan read from PublicKey, onlineID its ID.
	online   *metadata.Key
	onlineID string
}

// Kind says which kind of key k is: KeyKindToken, KeyKindKey or
// KeyKindPublicKey; "" when not exactly one of them is set.
func (k PlanKey) Kind() string {
	var kinds []string
	if k.Token != "" {
		kinds = append(kinds, KeyKindToken)
	}
	if k.Key != "" {
		kinds = append(kinds, KeyKindKey)
	}
	if k.PublicKey != "" {
		kinds = append(kinds, KeyKindPublicKey)
	}
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

// TokenAlgorithm is the algorithm of a key to generate on a token:
// Algorithm, or hsm.ECDSAP256 when the plan names none.
func (k PlanKey) TokenAlgorithm() hsm.Algorithm {
	if k.Algorithm == "" {
		return hsm.Algorithms[0]
	}
	return hsm.Algorithm(k.Algorithm)
}

// OnlineKey is the TUF key that LoadPlan read from the PublicKey file; nil
// for other kinds and for a plan from ParsePlan, which reads no files.
func (k PlanKey) OnlineKey() *metadata.Key { return k.online }

// planRoleNames are the plan's roles in the order they are written.
var planRoleNames = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// RoleNames lists the roles of a plan in order: root, targets, snapshot,
// timestamp.
func (p *Plan) RoleNames() []string { return slices.Clone(planRoleNames) }

// Role returns the plan of a role by name, nil for a role the plan does
// not have.
func (p *Plan) Role(name string) *RolePlan {
	if r := p.Roles.ref(name); r != nil {
		return *r
	}
	return nil
}

func (r *PlanRoles) ref(name string) **RolePlan {
	switch name {
	case metadata.ROOT:
		return &r.Root
	case metadata.TARGETS:
		return &r.Targets
	case metadata.SNAPSHOT:
		return &r.Snapshot
	case metadata.TIMESTAMP:
		return &r.Timestamp
	}
	return nil
}

// PlanError lists every problem found in a plan, in document order. Each
// problem names the field it is about ("roles.root.threshold: 4 exceeds
// the 3 keys listed"); problems the YAML decoder finds (syntax, unknown or
// duplicate fields, wrong types) start with their line ("line 7: …").
type PlanError struct {
	File     string // the plan's path; empty for ParsePlan
	Problems []string
}

// planErrorMaxShown caps the problems Error lists; Problems holds them all.
const planErrorMaxShown = 50

func (e *PlanError) Error() string {
	name := "plan"
	if e.File != "" {
		name += " " + e.File
	}
	switch len(e.Problems) {
	case 0:
		return name + " is invalid"
	case 1:
		return name + ": " + e.Problems[0]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s has %d problems:", name, len(e.Problems))
	for i, p := range e.Problems {
		if i == planErrorMaxShown {
			fmt.Fprintf(&b, "\n  … and %d more", len(e.Problems)-i)
			break
		}
		b.WriteString("\n  ")
		b.WriteString(p)
	}
	return b.String()
}

// ParsePlan decodes and validates a plan. Decoding is strict: an unknown
// or repeated field, a value of the wrong type, YAML anchors, aliases and
// tags, and a second YAML document are all errors. It reads no files (see
// LoadPlan). Errors are a *PlanError listing every problem at once.
func ParsePlan(data []byte) (*Plan, error) {
	plan, pp := parsePlan(data)
	if err := pp.err(""); err != nil {
		return nil, err
	}
	return plan, nil
}

// LoadPlan reads a plan file, parses it as ParsePlan does, sets Dir to the
// file's directory and reads every public_key file, so that problems with
// those files are listed with the plan's others. A file that cannot be
// read gives an error wrapping the file system's; anything else a
// *PlanError.
func LoadPlan(path string) (*Plan, error) {
	data, err := planReadFile(path, PlanMaxSize)
	if errors.Is(err, errPlanFileTooLarge) {
		return nil, &PlanError{File: path, Problems: []string{planTooLarge}}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read plan: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		dir = filepath.Dir(path)
	}
	return parsePlanAt(data, dir, path)
}

// ParsePlanAt parses a plan as LoadPlan does a file in dir: Dir is set to
// dir and every public_key file is read relative to it. A plan written
// elsewhere than in a file (built in the TUI) is checked with it before it
// is saved; errors are a *PlanError.
func ParsePlanAt(data []byte, dir string) (*Plan, error) {
	return parsePlanAt(data, dir, "")
}

func parsePlanAt(data []byte, dir, file string) (*Plan, error) {
	plan, pp := parsePlan(data)
	plan.Dir = dir
	pp.loadPublicKeys(plan)
	if err := pp.err(file); err != nil {
		return nil, err
	}
	return plan, nil
}

const planTooLarge = "larger than 1 MiB; a plan is a short document"

// planPos is where a problem is in the plan, for sorting.
type planPos struct{ line, col int }

type planProblem struct {
	planPos
	seq  int
	text string
}

// planPubRef is a public_key entry for LoadPlan to read.
type planPubRef struct {
	role  string
	index int
	at    planPos
}

type planParser struct {
	probs []planProblem
	pubs  []planPubRef
}

func (pp *planParser) add(at planPos, format string, args ...any) {
	pp.probs = append(pp.probs, planProblem{planPos: at, seq: len(pp.probs), text: fmt.Sprintf(format, args...)})
}

// addLine adds a problem found while decoding, prefixed with its line.
func (pp *planParser) addLine(n *yaml.Node, format string, args ...any) {
	pp.add(planAt(n), "line %d: "+format, append([]any{n.Line}, args...)...)
}

func (pp *planParser) err(file string) error {
	if len(pp.probs) == 0 {
		return nil
	}
	slices.SortStableFunc(pp.probs, func(a, b planProblem) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.col, b.col), cmp.Compare(a.seq, b.seq))
	})
	e := &PlanError{File: file}
	for _, p := range pp.probs {
		e.Problems = append(e.Problems, p.text)
	}
	return e
}

func planAt(n *yaml.Node) planPos { return planPos{n.Line, n.Column} }

// after is a position just after everything n holds, where problems about
// what n lacks are sorted.
func planAfter(n *yaml.Node) planPos {
	for len(n.Content) > 0 {
		n = n.Content[len(n.Content)-1]
	}
	return planPos{n.Line, n.Column + 1}
}

// parsePlan always returns a plan, filled as far as the input allows, and
// the problems found.
func parsePlan(data []byte) (*Plan, *planParser) {
	plan := &Plan{}
	pp := &planParser{}
	if len(data) > PlanMaxSize {
		pp.add(planPos{}, planTooLarge)
		return plan, pp
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		pp.add(planPos{}, "the plan is empty")
		return plan, pp
	case err != nil:
		pp.yamlError(err)
		return plan, pp
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		pp.yamlError(err)
	default:
		pp.addLine(&next, `a plan is a single YAML document; remove the second one, from "---"`)
	}
	if len(doc.Content) != 1 {
		pp.add(planPos{}, "the plan is empty")
		return plan, pp
	}
	pp.plan(doc.Content[0], plan)
	return plan, pp
}

// yamlError turns an error of the YAML parser into problems.
func (pp *planParser) yamlError(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			pp.add(planPos{}, "%s", e)
		}
		return
	}
	pp.add(planPos{}, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// planField is a field of a mapping: its key and value nodes.
type planField struct{ key, val *yaml.Node }

// plain checks what the plan forbids on any node: anchors, aliases and
// explicit tags, which make a printed plan harder to read than it needs to
// be.
func (pp *planParser) plain(n *yaml.Node, path string) bool {
	switch {
	case n.Kind == yaml.AliasNode:
		pp.addLine(n, "%s: aliases (*%s) are not allowed in a plan", path, n.Value)
	case n.Anchor != "":
		pp.addLine(n, "%s: anchors (&%s) are not allowed in a plan", path, n.Anchor)
	case n.Style&yaml.TaggedStyle != 0:
		pp.addLine(n, "%s: tags (%s) are not allowed in a plan", path, n.Tag)
	default:
		return true
	}
	return false
}

// mapping checks that n is a mapping of names in known, each at most
// once, and returns its fields. what names unknown fields ("field",
// "role"). ok is false when n is not a mapping.
func (pp *planParser) mapping(n *yaml.Node, path, what string, known []string) (fields map[string]planField, ok bool) {
	self := cmp.Or(path, "plan")
	if !pp.plain(n, self) {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		pp.addLine(n, "%s: must be a mapping (%s), got %s", self, strings.Join(known, ", "), planDescribe(n))
		return nil, false
	}
	fields = map[string]planField{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !pp.plain(k, self) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			pp.addLine(k, "%s: a field name must be a plain name, got %s", self, planDescribe(k))
			continue
		}
		fp := planFieldPath(path, k.Value)
		if prev, dup := fields[k.Value]; dup {
			pp.addLine(k, "%s: repeated (first at line %d)", fp, prev.key.Line)
			continue
		}
		if !slices.Contains(known, k.Value) {
			pp.addLine(k, "%s: unknown %s (known: %s)", fp, what, strings.Join(known, ", "))
			continue
		}
		fields[k.Value] = planField{k, v}
	}
	return fields, true
}

var planPlainName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// planFieldPath appends a field name to a path, quoting a name that is not a
// plain identifier.
func planFieldPath(path, name string) string {
	if !planPlainName.MatchString(name) {
		name = planQuote(name)
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

// quote quotes s for a message, shortened if long.
func planQuote(s string) string {
	const max = 72
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strconv.Quote(s)
}

// planDescribe says what a node holds, for "must be X, got Y" messages.
func planDescribe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!null":
		return "nothing"
	case "!!str":
		return planQuote(n.Value)
	}
	return n.Value // a number or a boolean, as written
}

func planIsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Style&yaml.TaggedStyle == 0
}

// str reads a text field: any scalar, taken as written; null is "".
func (pp *planParser) str(f planField, path string) (string, bool) {
	if !pp.plain(f.val, path) {
		return "", false
	}
	if f.val.Kind != yaml.ScalarNode {
		pp.addLine(f.val, "%s: must be text, got %s", path, planDescribe(f.val))
		return "", false
	}
	if planIsNull(f.val) {
		return "", true
	}
	return f.val.Value, true
}

var planTopFields = []string{"name", "roles"}

func (pp *planParser) plan(n *yaml.Node, plan *Plan) {
	if planIsNull(n) {
		pp.add(planPos{}, "the plan is empty")
		return
	}
	fields, ok := pp.mapping(n, "", "field", planTopFields)
	if !ok {
		return
	}
	if f, ok := fields["name"]; ok {
		plan.Name, _ = pp.str(f, "name")
	}
	f, ok := fields["roles"]
	if !ok || planIsNull(f.val) {
		pp.add(planAfter(n), "roles: missing")
		return
	}
	roles, ok := pp.mapping(f.val, "roles", "role", planRoleNames)
	if !ok {
		return
	}
	end := planAfter(f.val)
	for _, name := range planRoleNames {
		path := "roles." + name
		f, ok := roles[name]
		if !ok || planIsNull(f.val) {
			pp.add(end, "%s: missing", path)
			continue
		}
		*plan.Roles.ref(name) = pp.role(f.val, name)
	}
}

var planRoleFields = []string{"threshold", "expires", "keys"}

func (pp *planParser) role(n *yaml.Node, name string) *RolePlan {
	path := "roles." + name
	fields, ok := pp.mapping(n, path, "field", planRoleFields)
	if !ok {
		return nil
	}
	r := &RolePlan{}
	end := planAfter(n)

	thresholdOK := false
	if f, ok := fields["threshold"]; !ok || planIsNull(f.val) {
		pp.add(end, "%s.threshold: missing", path)
	} else if pp.plain(f.val, path+".threshold") {
		v := f.val
		t, err := strconv.Atoi(v.Value)
		number := v.Kind == yaml.ScalarNode && (v.ShortTag() == "!!int" || v.ShortTag() == "!!float")
		switch {
		case !number || errors.Is(err, strconv.ErrSyntax):
			pp.addLine(v, "%s.threshold: must be a whole number, got %s", path, planDescribe(v))
		case err != nil:
			pp.add(planAt(v), "%s.threshold: %s is too large", path, v.Value)
		case t < 1:
			pp.add(planAt(v), "%s.threshold: must be at least 1", path)
		default:
			r.Threshold, thresholdOK = t, true
		}
	}

	if f, ok := fields["expires"]; !ok || planIsNull(f.val) {
		pp.add(end, "%s.expires: missing", path)
	} else if pp.plain(f.val, path+".expires") {
		if f.val.Kind != yaml.ScalarNode {
			pp.addLine(f.val, "%s.expires: must be a duration such as 365d, got %s", path, planDescribe(f.val))
		} else if d, err := ParseDuration(f.val.Value); err != nil {
			pp.add(planAt(f.val), "%s.expires: %v", path, err)
		} else {
			r.Expires = d
		}
	}

	f, ok := fields["keys"]
	switch {
	case !ok || planIsNull(f.val):
		pp.add(end, "%s.keys: missing", path)
		return r
	case !pp.plain(f.val, path+".keys"):
		return r
	case f.val.Kind != yaml.SequenceNode:
		pp.addLine(f.val, "%s.keys: must be a list, got %s", path, planDescribe(f.val))
		return r
	case len(f.val.Content) == 0:
		pp.add(planAt(f.val), "%s.keys: no keys listed", path)
		return r
	}
	if thresholdOK && r.Threshold > len(f.val.Content) {
		thr := fields["threshold"].val
		pp.add(planAt(thr), "%s.threshold: %d exceeds the %s listed", path, r.Threshold, planPlural(len(f.val.Content), "key"))
	}
	seen := map[string]int{}
	for i, item := range f.val.Content {
		k := pp.key(item, name, i)
		r.Keys = append(r.Keys, k)
		id, what := k.identity()
		if id == "" {
			continue
		}
		if j, dup := seen[id]; dup {
			pp.add(planAt(item), "%s.%s: same %s as %s", planKeyPath(name, i), k.Kind(), what, planKeyPath(name, j))
			continue
		}
		seen[id] = i
	}
	return r
}

func planPlural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func planKeyPath(role string, i int) string { return fmt.Sprintf("roles.%s.keys[%d]", role, i) }

var planKeyFields = []string{"custodian", "token", "algorithm", "key", "public_key"}

var planKeyIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (pp *planParser) key(n *yaml.Node, role string, i int) PlanKey {
	path := planKeyPath(role, i)
	var k PlanKey
	if planIsNull(n) {
		pp.add(planAt(n), "%s: give exactly one of token, key or public_key", path)
		return k
	}
	fields, ok := pp.mapping(n, path, "field", planKeyFields)
	if !ok {
		return k
	}
	// text reads a text field; has is true when the field is there,
	// whatever its value. Only custodian may be empty.
	text := func(name string) (v string, f planField, has bool) {
		f, has = fields[name]
		if !has {
			return "", f, false
		}
		v, ok := pp.str(f, path+"."+name)
		if ok && v == "" && name != "custodian" {
			pp.add(planAt(f.val), "%s.%s: empty", path, name)
		}
		return v, f, true
	}
	custodian, custF, _ := text("custodian")
	token, tokenF, hasToken := text("token")
	algorithm, algF, _ := text("algorithm")
	keyID, keyF, hasKey := text("key")
	pub, pubF, hasPub := text("public_key")
	k = PlanKey{Custodian: custodian, Token: token, Algorithm: algorithm, Key: keyID, PublicKey: pub}

	kinds := 0
	for _, has := range []bool{hasToken, hasKey, hasPub} {
		if has {
			kinds++
		}
	}
	if kinds != 1 {
		pp.add(planAt(n), "%s: give exactly one of token, key or public_key", path)
	}
	if custodian != "" {
		if err := ValidateCustodian(custodian); err != nil {
			pp.add(planAt(custF.val), "%s.custodian: %v", path, err)
		}
	}
	if hasToken && token != "" {
		pp.checkToken(planAt(tokenF.val), path+".token", token)
	}
	if algorithm != "" {
		if _, err := hsm.ParseAlgorithm(algorithm); err != nil {
			pp.add(planAt(algF.val), "%s.algorithm: %v", path, err)
		}
	}
	if hasKey && keyID != "" && !planKeyIDPattern.MatchString(keyID) {
		if planKeyIDPattern.MatchString(strings.ToLower(keyID)) {
			pp.add(planAt(keyF.val), "%s.key: %s: write key IDs in lowercase", path, planQuote(keyID))
		} else {
			pp.add(planAt(keyF.val), "%s.key: %s is not a key ID (64 hex digits)", path, planQuote(keyID))
		}
	}
	if kinds != 1 {
		return k
	}
	switch {
	case hasToken:
		if custodian == "" {
			where := planAt(n)
			if custF.val != nil {
				where = planAt(custF.val)
			}
			pp.add(where, "%s.custodian: required with token", path)
		}
	case hasKey:
		if custF.key != nil {
			pp.add(planAt(custF.key), "%s.custodian: not allowed with key: the custodian is the one recorded in keys/<keyid>.json", path)
		}
	case hasPub:
		if pub != "" {
			pp.pubs = append(pp.pubs, planPubRef{role: role, index: i, at: planAt(pubF.val)})
		}
	}
	if !hasToken && algF.key != nil {
		pp.add(planAt(algF.key), "%s.algorithm: only allowed with token", path)
	}
	return k
}

// checkToken checks a token URI as far as a plan can without the backend:
// its scheme, and that it holds no PIN.
func (pp *planParser) checkToken(where planPos, path, uri string) {
	hasPIN := planURIHasAttr(uri, "pin-value")
	lower := strings.ToLower(uri)
	if !strings.HasPrefix(lower, "pkcs11:") && !strings.HasPrefix(lower, "yubikey:") {
		shown := planQuote(uri) + " is not"
		if hasPIN {
			shown = "not" // never echo a PIN, wherever it was written
		}
		pp.add(where, "%s: %s a token address: it must start with pkcs11: or yubikey:", path, shown)
	}
	if hasPIN {
		pp.add(where, "%s: pin-value must not be written in a plan; use pin-source=file:… or let the PIN be asked", path)
	}
}

// planURIHasAttr reports whether a token URI has an attribute named name, in
// its path or its query.
func planURIHasAttr(uri, name string) bool {
	path, query, _ := strings.Cut(uri, "?")
	attrs := strings.Split(path, ";")
	if query != "" {
		attrs = append(attrs, strings.Split(query, "&")...)
	}
	for _, a := range attrs {
		n, _, _ := strings.Cut(a, "=")
		if u, err := url.PathUnescape(n); err == nil {
			n = u
		}
		if strings.EqualFold(strings.TrimSpace(n), name) {
			return true
		}
	}
	return false
}

// planTokenIdentity is a token URI without what does not select the token or
// key (pin-value, pin-source), with its scheme in lowercase.
func planTokenIdentity(uri string) string {
	base, query, found := strings.Cut(hsm.RedactURI(uri), "?")
	if scheme, rest, ok := strings.Cut(base, ":"); ok {
		base = strings.ToLower(scheme) + ":" + rest
	}
	if !found {
		return base
	}
	var kept []string
	for _, a := range strings.Split(query, "&") {
		if n, _, _ := strings.Cut(a, "="); n != "pin-source" {
			kept = append(kept, a)
		}
	}
	if len(kept) == 0 {
		return base
	}
	return base + "?" + strings.Join(kept, "&")
}

// identity names what a key entry denotes, so that two entries for the
// same token, key or file compare equal; what says which ("token", "key",
// "file"). An entry that is not exactly one kind has none.
func (k PlanKey) identity() (id, what string) {
	switch k.Kind() {
	case KeyKindToken:
		return "token " + planTokenIdentity(k.Token), "token"
	case KeyKindKey:
		return "keyid " + k.Key, "key"
	case KeyKindPublicKey:
		if k.onlineID != "" {
			return "keyid " + k.onlineID, "key"
		}
		return "file " + filepath.Clean(k.PublicKey), "file"
	}
	return "", ""
}

// loadPublicKeys reads the public_key files of a parsed plan, relative to
// plan.Dir, and checks that no role lists one key twice through two files
// or a file and a key ID.
func (pp *planParser) loadPublicKeys(plan *Plan) {
	for _, ref := range pp.pubs {
		r := plan.Role(ref.role)
		if r == nil || ref.index >= len(r.Keys) {
			continue
		}
		k := &r.Keys[ref.index]
		path := planKeyPath(ref.role, ref.index) + ".public_key"
		file := k.PublicKey
		if !filepath.IsAbs(file) {
			file = filepath.Join(plan.Dir, file)
		}
		data, err := planReadFile(file, publicKeyFileMaxSize)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			pp.add(ref.at, "%s: %s does not exist", path, file)
			continue
		case errors.Is(err, errPlanFileTooLarge):
			pp.add(ref.at, "%s: %s is larger than %d KiB, too large for a public key", path, k.PublicKey, publicKeyFileMaxSize>>10)
			continue
		case err != nil:
			pp.add(ref.at, "%s: %v", path, err)
			continue
		}
		key, err := parsePublicKeyPEM(data)
		if err != nil {
			pp.add(ref.at, "%s: %v", path, err)
			continue
		}
		id, err := key.ID()
		if err != nil {
			pp.add(ref.at, "%s: %v", path, err)
			continue
		}
		before, _ := k.identity()
		k.online, k.onlineID = key, id
		for j := range ref.index {
			other := r.Keys[j]
			if oid, _ := other.identity(); oid == "keyid "+id {
				if fid, _ := other.fileIdentity(); fid != before {
					pp.add(ref.at, "%s: same key as %s", path, planKeyPath(ref.role, j))
				}
				break
			}
		}
	}
}

// fileIdentity is the identity a public_key entry had before its file was
// read, to tell a file listed twice (reported by ParsePlan) from two files
// holding one key.
func (k PlanKey) fileIdentity() (string, string) {
	k.onlineID = ""
	return k.identity()
}

// publicKeyFileMaxSize caps a public_key file: a PEM public key is a few
// hundred bytes, a large RSA one under 2 KiB.
const publicKeyFileMaxSize = 64 << 10

var errPlanFileTooLarge = errors.New("file too large")

// planReadFile reads a regular file of at most max bytes, failing with
// errPlanFileTooLarge for a larger one without reading it all.
func planReadFile(path string, max int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: %w", path, errPlanFileTooLarge)
	}
	return data, nil
}

// LoadPublicKey reads the public key of an online key from a PEM file
// holding one "PUBLIC KEY" block (SubjectPublicKeyInfo, as `openssl pkey
// -pubout` writes it, and cloud KMSs export) and returns it as a TUF key
// (see TUFKey). Supported keys: ECDSA P-256 and P-384, Ed25519, RSA of at
// least 2048 bits. Other PEM types, PKCS #1 "RSA PUBLIC KEY" among them,
// are refused with the openssl command that converts them; a file that
// holds a private key is refused outright.
func LoadPublicKey(path string) (*metadata.Key, error) {
	data, err := planReadFile(path, publicKeyFileMaxSize)
	if errors.Is(err, errPlanFileTooLarge) {
		return nil, fmt.Errorf("%s is larger than %d KiB, too large for a public key", path, publicKeyFileMaxSize>>10)
	}
	if err != nil {
		return nil, err
	}
	key, err := parsePublicKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

const publicKeySupported = "ECDSA P-256 or P-384, Ed25519, RSA of at least 2048 bits"

// publicKeyMinRSABits is the smallest RSA key accepted as an online key.
const publicKeyMinRSABits = 2048

// parsePublicKeyPEM is LoadPublicKey's parsing; its errors do not name
// the file.
func parsePublicKeyPEM(data []byte) (*metadata.Key, error) {
	var blocks []*pem.Block
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if strings.Contains(b.Type, "PRIVATE KEY") {
			return nil, fmt.Errorf("holds a private key (PEM %q); give only its public key, e.g. openssl pkey -in KEY -pubout -out KEY.pub", b.Type)
		}
		blocks = append(blocks, b)
	}
	switch {
	case len(blocks) == 0 && len(data) > 0 && data[0] == 0x30:
		return nil, errors.New(`not PEM (binary DER?); want a "PUBLIC KEY" PEM block: openssl pkey -pubin -inform DER -in FILE -out FILE.pem`)
	case len(blocks) == 0:
		return nil, errors.New(`no PEM block found; want a "PUBLIC KEY" PEM block (SubjectPublicKeyInfo)`)
	case len(blocks) > 1:
		return nil, fmt.Errorf(`holds %d PEM blocks; want exactly one "PUBLIC KEY"`, len(blocks))
	}
	b := blocks[0]
	switch b.Type {
	case "PUBLIC KEY":
	case "RSA PUBLIC KEY":
		return nil, errors.New(`PEM "RSA PUBLIC KEY" (PKCS #1) is not supported; want "PUBLIC KEY" (SubjectPublicKeyInfo): openssl rsa -RSAPublicKey_in -in FILE -pubout -out FILE.pub`)
	case "CERTIFICATE":
		return nil, errors.New(`holds a certificate; want its "PUBLIC KEY" (SubjectPublicKeyInfo): openssl x509 -in FILE -pubkey -noout -out FILE.pub`)
	default:
		return nil, fmt.Errorf(`PEM %s is not supported; want "PUBLIC KEY" (SubjectPublicKeyInfo)`, planQuote(b.Type))
	}
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "unknown public key algorithm") || strings.Contains(msg, "unsupported elliptic curve") {
			return nil, fmt.Errorf("unsupported key type (supported: %s)", publicKeySupported)
		}
		return nil, fmt.Errorf("not a valid SubjectPublicKeyInfo: %w", err)
	}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() && p.Curve != elliptic.P384() {
			return nil, fmt.Errorf("unsupported key type ECDSA %s (supported: %s)", p.Curve.Params().Name, publicKeySupported)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if bits := p.N.BitLen(); bits < publicKeyMinRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is too short (at least %d)", bits, publicKeyMinRSABits)
		}
	case *ecdh.PublicKey:
		return nil, fmt.Errorf("unsupported key type %s, a key agreement key (supported: %s)", publicKeyECDHName(p), publicKeySupported)
	default:
		return nil, fmt.Errorf("unsupported key type %s (supported: %s)", strings.TrimPrefix(fmt.Sprintf("%T", pub), "*"), publicKeySupported)
	}
	return TUFKey(pub)
}

func publicKeyECDHName(p *ecdh.PublicKey) string {
	if p.Curve() == ecdh.X25519() {
		return "X25519"
	}
	return fmt.Sprint(p.Curve())
}

// Warning is a lint finding: the plan is valid but unusual in a way that
// may hurt.
type Warning struct {
	Field   string // e.g. "roles.root.threshold"
	Message string
}

func (w Warning) String() string { return w.Field + ": " + w.Message }

// planExpiryRange is the range of validity common practice gives each role
// (python-tuf, tuf-on-ci and Sigstore's root signing sit inside it).
var planExpiryRange = map[string]struct{ min, max string }{
	metadata.ROOT:      {"90d", "1825d"},
	metadata.TARGETS:   {"7d", "730d"},
	metadata.SNAPSHOT:  {"1h", "365d"},
	metadata.TIMESTAMP: {"10m", "30d"},
}

func mustParseDuration(s string) Duration {
	d, err := ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Lint returns what is valid but probably unwise in a plan, role by role:
// a root threshold of 1; root or targets without a spare key above the
// threshold; a key (or token, or public key file) in root and in another
// role; an online key in root; expiries outside common practice.
// P384ClientWarning is said wherever an ecdsa-p384 key is chosen.
const P384ClientWarning = "ecdsa-p384 signatures are rejected by tuf-js before 6.0.2 (@tufjs/models before 5.0.2 checks them with SHA-256); prefer ecdsa-p256 unless every client is known to accept them"

func (p *Plan) Lint() []Warning {
	var ws []Warning
	warn := func(field, format string, args ...any) {
		ws = append(ws, Warning{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	root := p.Roles.Root
	for _, name := range planRoleNames {
		r := p.Role(name)
		if r == nil {
			continue
		}
		path := "roles." + name
		if name == metadata.ROOT && r.Threshold == 1 {
			warn(path+".threshold", "a threshold of 1 means a single stolen key can replace the root")
		}
		if rg := planExpiryRange[name]; r.Expires > 0 {
			switch {
			case r.Expires < mustParseDuration(rg.min):
				warn(path+".expires", "%s is shorter than usual for %s (%s to %s)", r.Expires, name, rg.min, rg.max)
			case r.Expires > mustParseDuration(rg.max):
				warn(path+".expires", "%s is longer than usual for %s (%s to %s)", r.Expires, name, rg.min, rg.max)
			}
		}
		if (name == metadata.ROOT || name == metadata.TARGETS) && r.Threshold > 0 && len(r.Keys) == r.Threshold {
			warn(path+".keys", "no spare key above the threshold of %d: losing one key locks the role", r.Threshold)
		}
		for i, k := range r.Keys {
			kp := planKeyPath(name, i)
			if k.Kind() == KeyKindToken && k.TokenAlgorithm() == hsm.ECDSAP384 {
				warn(kp+".algorithm", "%s", P384ClientWarning)
			}
			if name == metadata.ROOT {
				if k.Kind() == KeyKindPublicKey {
					warn(kp+".public_key", "online key in root: root keys belong offline, on tokens")
				}
				continue
			}
			id, what := k.identity()
			if root == nil || id == "" {
				continue
			}
			for j, rk := range root.Keys {
				if rid, _ := rk.identity(); rid == id {
					warn(kp+"."+k.Kind(), "same %s as %s: keep root keys for root alone", what, planKeyPath(metadata.ROOT, j))
					break
				}
			}
		}
	}
	return ws
}

// Marshal writes the plan as YAML that ParsePlan reads back: for a valid
// plan, ParsePlan(Marshal(p)) equals p (Dir aside). Each key is one line
// in flow style, as plans are written by hand. An incomplete plan is
// written as far as it goes, so that ParsePlan names what is missing or
// wrong, field by field: a nil role and a zero expiry are left out; a
// threshold and a key list are always written (0 and [] are reported as
// such). The TUI builds plans this way, so that a plan built there is
// checked by exactly the code that checks a plan file.
func (p *Plan) Marshal() ([]byte, error) {
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	field := func(m *yaml.Node, name string, v *yaml.Node) {
		m.Content = append(m.Content, str(name), v)
	}
	top := &yaml.Node{Kind: yaml.MappingNode}
	if p.Name != "" {
		field(top, "name", str(p.Name))
	}
	roles := &yaml.Node{Kind: yaml.MappingNode}
	for _, name := range planRoleNames {
		r := p.Role(name)
		if r == nil {
			continue
		}
		rm := &yaml.Node{Kind: yaml.MappingNode}
		field(rm, "threshold", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(r.Threshold)})
		if r.Expires != 0 {
			v, err := r.Expires.MarshalYAML()
			if err != nil {
				return nil, fmt.Errorf("roles.%s.expires: %w", name, err)
			}
			field(rm, "expires", str(v.(string)))
		}
		keys := &yaml.Node{Kind: yaml.SequenceNode}
		if len(r.Keys) == 0 {
			keys.Style = yaml.FlowStyle
		}
		for _, k := range r.Keys {
			km := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
			for _, f := range []struct{ name, v string }{
				{"custodian", k.Custodian}, {"token", k.Token}, {"algorithm", k.Algorithm},
				{"key", k.Key}, {"public_key", k.PublicKey},
			} {
				if f.v == "" {
					continue
				}
				v := str(f.v)
				if f.name == "token" || f.name == "public_key" {
					v.Style = yaml.DoubleQuotedStyle // as plans are written by hand
				}
				field(km, f.name, v)
			}
			keys.Content = append(keys.Content, km)
		}
		field(rm, "keys", keys)
		field(roles, name, rm)
	}
	field(top, "roles", roles)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(top); err != nil {
		return nil, fmt.Errorf("failed to write the plan: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("failed to write the plan: %w", err)
	}
	return b.Bytes(), nil
}

// ErrPlanExists is SavePlan refusing to replace a file it was not told to
// replace.
var ErrPlanExists = errors.New("a file of that name exists")

// SavePlan writes a plan's bytes to path atomically: a temporary file in
// the same directory, flushed, then renamed into place, and the directory
// flushed, so that a crash leaves either no file (or the old one) or the
// whole plan. An existing file is replaced only when replace is set;
// otherwise the error wraps ErrPlanExists and nothing is written.
func SavePlan(path string, data []byte, replace bool) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, data, 0o644)
	if err != nil {
		return fmt.Errorf("failed to save the plan: %w", err)
	}
	defer os.Remove(tmp) // gone after a rename or a link
	if replace {
		err = os.Rename(tmp, path)
	} else {
		// A hard link fails if path exists, with no window between the
		// check and the write.
		err = os.Link(tmp, path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// File systems without hard links (FAT): check, then rename.
			switch _, serr := os.Lstat(path); {
			case serr == nil:
				err = fs.ErrExist
			case errors.Is(serr, fs.ErrNotExist):
				err = os.Rename(tmp, path)
			default:
				err = serr
			}
		}
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("failed to save the plan: %s: %w", path, ErrPlanExists)
		}
	}
	if err != nil {
		return fmt.Errorf("failed to save the plan: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("failed to save the plan: %w", err)
	}
	return nil
}
