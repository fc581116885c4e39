package ceremony

import (
	"crypto/x509"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Requirement is one threshold a proposal must meet: the new root's root
// role, the previous root's root role, or the targets role of the root
// that delegates to a targets proposal.
type Requirement struct {
	Name      string // "root v2", "previous root v1"
	Role      string
	Threshold int
	KeyIDs    []string
	Keys      map[string]*metadata.Key
}

// Proposal is a staged metadata file waiting for signatures.
type Proposal struct {
	Path         string // "staged/1.root.json"
	Name         string // "1.root.json"
	Role         string
	Version      int64
	Header       Header
	Raw          []byte // the file as staged
	Env          *Envelope
	Payload      []byte
	Requirements []Requirement
}

// Tally is where a proposal stands against one requirement.
type Tally struct {
	Requirement
	Signed   []string // key IDs whose signature verifies
	Invalid  []string // key IDs whose signature does not verify
	Unsigned []string // key IDs that have not signed
}

// Met reports whether enough distinct keys have signed validly.
func (t Tally) Met() bool { return len(t.Signed) >= t.Threshold }

// Tally checks every signature of p against each requirement.
func (p *Proposal) Tally() []Tally {
	var out []Tally
	for _, req := range p.Requirements {
		t := Tally{Requirement: req}
		seen := map[string]bool{} // public keys already counted
		for _, id := range req.KeyIDs {
			sig, ok := p.Env.SignatureBy(id)
			switch {
			case !ok:
				t.Unsigned = append(t.Unsigned, id)
			case VerifySignature(req.Keys[id], p.Payload, sig) != nil:
				t.Invalid = append(t.Invalid, id)
			case seen[publicKeyDER(req.Keys[id])]:
				// One public key under two key IDs counts once.
				t.Unsigned = append(t.Unsigned, id)
			default:
				seen[publicKeyDER(req.Keys[id])] = true
				t.Signed = append(t.Signed, id)
			}
		}
		out = append(out, t)
	}
	return out
}

// Ready reports whether every requirement is met, no signature is
// invalid, and the proposal has not expired.
func (p *Proposal) Ready(now time.Time) bool {
	if !p.Header.Expires.After(now) {
		return false
	}
	for _, t := range p.Tally() {
		if !t.Met() || len(t.Invalid) > 0 {
			return false
		}
	}
	return true
}

// NeedsKey reports whether keyID is asked to sign p and has not yet.
func (p *Proposal) NeedsKey(keyID string) bool {
	for _, t := range p.Tally() {
		for _, id := range append(append([]string{}, t.Unsigned...), t.Invalid...) {
			if id == keyID {
				return true
			}
		}
	}
	return false
}

// KeyFor returns the key of keyID in any requirement of p.
func (p *Proposal) KeyFor(keyID string) *metadata.Key {
	for _, r := range p.Requirements {
		if k, ok := r.Keys[keyID]; ok {
			return k
		}
	}
	return nil
}

// PublishedRoots lists the versions in metadata/N.root.json, ascending.
func (w *Workspace) PublishedRoots() ([]int64, error) {
	return w.versions(MetadataDir, "root")
}

func (w *Workspace) versions(dir, role string) ([]int64, error) {
	names, err := w.List(dir)
	if err != nil {
		return nil, err
	}
	var vs []int64
	for _, n := range names {
		if r, v, ok := ParseVersionedName(n); ok && r == role {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	return vs, nil
}

// readRoot reads and parses a root file of the workspace.
func (w *Workspace) readRoot(rel string) (*metadata.Metadata[metadata.RootType], []byte, error) {
	data, err := w.ReadFile(rel)
	if err != nil {
		return nil, nil, err
	}
	md, err := ParseRoot(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", rel, err)
	}
	return md, data, nil
}

// LatestRoot is the newest published root, or nil when none is.
func (w *Workspace) LatestRoot() (*metadata.Metadata[metadata.RootType], error) {
	vs, err := w.PublishedRoots()
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	md, _, err := w.readRoot(path.Join(MetadataDir, VersionedName("root", vs[len(vs)-1])))
	return md, err
}

// Proposals reads every staged file with what it needs to be published.
// Roots come first; targets are judged against the newest root, staged or
// published.
func (w *Workspace) Proposals() ([]*Proposal, error) {
	names, err := w.List(StagedDir)
	if err != nil {
		return nil, err
	}
	var roots, others []*Proposal
	for _, n := range names {
		role, version, ok := ParseVersionedName(n)
		if !ok {
			return nil, fmt.Errorf("staged/%s: not a versioned metadata file name (N.ROLE.json)", n)
		}
		rel := path.Join(StagedDir, n)
		data, err := w.ReadFile(rel)
		if err != nil {
			return nil, err
		}
		env, err := ParseEnvelope(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		h, err := env.Header()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		if h.Version != version {
			return nil, fmt.Errorf("%s: file name says version %d, content says %d", rel, version, h.Version)
		}
		payload, err := env.Payload()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		p := &Proposal{Path: rel, Name: n, Role: role, Version: version, Header: h, Raw: data, Env: env, Payload: payload}
		if role == "root" {
			roots = append(roots, p)
		} else {
			others = append(others, p)
		}
	}
	sort.Slice(roots, func(i, j int) bool { return roots[i].Version < roots[j].Version })

	newest, err := w.LatestRoot()
	if err != nil {
		return nil, err
	}
	for _, p := range roots {
		if p.Header.Type != metadata.ROOT {
			return nil, fmt.Errorf("%s: _type is %q, not root", p.Path, p.Header.Type)
		}
		md, err := ParseRoot(p.Raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Path, err)
		}
		req, err := rootRequirement(fmt.Sprintf("root v%d", p.Version), md)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Path, err)
		}
		p.Requirements = append(p.Requirements, req)
		prev, err := w.previousRoot(p.Version)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Path, err)
		}
		if prev != nil {
			req, err := rootRequirement(fmt.Sprintf("previous root v%d", prev.Signed.Version), prev)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Path, err)
			}
			p.Requirements = append(p.Requirements, req)
		}
		newest = md
	}
	// targets first: delegated roles are judged against the newest targets.
	sort.SliceStable(others, func(i, j int) bool { return others[i].Role == metadata.TARGETS && others[j].Role != metadata.TARGETS })
	// The newest targets is parsed only when a delegated role is staged,
	// and without keeping its targets: only its delegations are wanted.
	newestTargets := sync.OnceValues(w.latestTargets)
	for _, p := range others {
		if p.Header.Type != metadata.TARGETS {
			return nil, fmt.Errorf("%s: _type is %q, not targets", p.Path, p.Header.Type)
		}
		var req Requirement
		switch {
		case p.Role == metadata.TARGETS && newest == nil:
			return nil, fmt.Errorf("%s: no root, published or staged, delegates to targets", p.Path)
		case p.Role == metadata.TARGETS:
			if req, err = delegation(newest, p.Role); err != nil {
				return nil, fmt.Errorf("%s: %w", p.Path, err)
			}
			staged := p
			newestTargets = sync.OnceValues(func() (*metadata.Metadata[metadata.TargetsType], error) {
				md, err := parseTargetsLean(staged.Raw)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", staged.Path, err)
				}
				return md, nil
			})
		case p.Role == metadata.SNAPSHOT || p.Role == metadata.TIMESTAMP:
			return nil, fmt.Errorf("%s: %s is an online role, not signed in a ceremony", p.Path, p.Role)
		default:
			targets, err := newestTargets()
			if err != nil {
				return nil, err
			}
			if req, err = targetsDelegation(targets, p.Role); err != nil {
				return nil, fmt.Errorf("%s: %w", p.Path, err)
			}
		}
		p.Requirements = append(p.Requirements, req)
	}
	return append(roots, others...), nil
}

// latestTargets is the newest published targets, its targets left out, or
// nil.
func (w *Workspace) latestTargets() (*metadata.Metadata[metadata.TargetsType], error) {
	vs, err := w.versions(MetadataDir, metadata.TARGETS)
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	rel := path.Join(MetadataDir, VersionedName(metadata.TARGETS, vs[len(vs)-1]))
	data, err := w.ReadFile(rel)
	if err != nil {
		return nil, err
	}
	md, err := parseTargetsLean(data) // its delegations are what is wanted
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return md, nil
}

// targetsDelegation is the requirement targets sets for a delegated role.
func targetsDelegation(targets *metadata.Metadata[metadata.TargetsType], role string) (Requirement, error) {
	if targets == nil || targets.Signed.Delegations == nil {
		return Requirement{}, fmt.Errorf("targets delegates to no %s role", role)
	}
	d := targets.Signed.Delegations
	for _, r := range d.Roles {
		if r.Name != role {
			continue
		}
		req := Requirement{Name: fmt.Sprintf("%s (targets v%d)", role, targets.Signed.Version), Role: role, Threshold: r.Threshold, Keys: map[string]*metadata.Key{}}
		for _, id := range r.KeyIDs {
			k, ok := d.Keys[id]
			if !ok {
				return Requirement{}, fmt.Errorf("targets v%d lists key %s for %s but does not define it", targets.Signed.Version, shortID(id), role)
			}
			req.KeyIDs = append(req.KeyIDs, id)
			req.Keys[id] = k
		}
		return req, nil
	}
	return Requirement{}, fmt.Errorf("targets v%d delegates to no %s role", targets.Signed.Version, role)
}

// previousRoot is the published root version-1, nil for version 1, and an
// error when it is missing.
func (w *Workspace) previousRoot(version int64) (*metadata.Metadata[metadata.RootType], error) {
	if version <= 1 {
		return nil, nil
	}
	rel := path.Join(MetadataDir, VersionedName("root", version-1))
	md, _, err := w.readRoot(rel)
	if err != nil {
		return nil, fmt.Errorf("root v%d needs the published root v%d: %w", version, version-1, err)
	}
	return md, nil
}

func rootRequirement(name string, md *metadata.Metadata[metadata.RootType]) (Requirement, error) {
	req, err := delegation(md, metadata.ROOT)
	req.Name = name
	return req, err
}

// delegation is the requirement a root sets for one of its roles.
func delegation(root *metadata.Metadata[metadata.RootType], role string) (Requirement, error) {
	r, ok := root.Signed.Roles[role]
	if !ok || r == nil {
		return Requirement{}, fmt.Errorf("root v%d has no %s role", root.Signed.Version, role)
	}
	req := Requirement{
		Name:      fmt.Sprintf("%s (root v%d)", role, root.Signed.Version),
		Role:      role,
		Threshold: r.Threshold,
		Keys:      map[string]*metadata.Key{},
	}
	for _, id := range r.KeyIDs {
		k, ok := root.Signed.Keys[id]
		if !ok {
			return Requirement{}, fmt.Errorf("root v%d lists key %s for %s but does not define it", root.Signed.Version, shortID(id), role)
		}
		req.KeyIDs = append(req.KeyIDs, id)
		req.Keys[id] = k
	}
	return req, nil
}

// Custodians maps key IDs to custodian names, from keys/*.json and from
// the x-tuf-on-ci-keyowner fields of the roots given.
func (w *Workspace) Custodians(roots ...*metadata.Metadata[metadata.RootType]) (map[string]string, error) {
	names := map[string]string{}
	for _, r := range roots {
		if r == nil {
			continue
		}
		for id, k := range r.Signed.Keys {
			if owner, ok := k.UnrecognizedFields[KeyOwnerField].(string); ok && owner != "" {
				names[id] = owner
			}
		}
	}
	files, err := w.List(KeysDir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		id, ok := strings.CutSuffix(f, ".json")
		if !ok {
			continue
		}
		rec, err := w.ReadKeyRecord(id)
		if err != nil {
			return nil, err
		}
		if rec.Custodian != "" {
			names[id] = rec.Custodian
		}
	}
	return names, nil
}

// names maps the key IDs of the published root and of the proposals'
// requirements to custodians: from keys/*.json first, then from the
// x-tuf-on-ci-keyowner fields.
func (w *Workspace) names(props []*Proposal) (map[string]string, error) {
	latest, err := w.LatestRoot()
	if err != nil {
		return nil, err
	}
	names, err := w.Custodians(latest)
	if err != nil {
		return nil, err
	}
	for _, p := range props {
		for _, r := range p.Requirements {
			for id, k := range r.Keys {
				if owner, ok := k.UnrecognizedFields[KeyOwnerField].(string); ok && names[id] == "" {
					names[id] = owner
				}
			}
		}
	}
	return names, nil
}

// Who names a key for people: "alice (3f1a9c02)".
func Who(names map[string]string, keyID string) string {
	if n := names[keyID]; n != "" {
		return n + " (" + shortID(keyID) + ")"
	}
	return shortID(keyID)
}

// WhoList names keys, comma-separated, or "nobody".
func WhoList(names map[string]string, keyIDs []string) string {
	if len(keyIDs) == 0 {
		return "nobody"
	}
	var s []string
	for _, id := range keyIDs {
		s = append(s, Who(names, id))
	}
	return strings.Join(s, ", ")
}

// publicKeyDER identifies a key by its decoded public key, whatever its
// encoding in the metadata.
func publicKeyDER(k *metadata.Key) string {
	pub, err := k.ToPublicKey()
	if err != nil {
		return "unreadable:" + k.Value.PublicKey
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "unreadable:" + k.Value.PublicKey
	}
	return string(der)
}
