package ceremony

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// ErrAlreadyStaged is a proposal for a role that has one waiting.
var ErrAlreadyStaged = errors.New("a proposal is already staged")

// TargetsChange describes a new version of targets or of a role that
// targets delegates to.
type TargetsChange struct {
	// Role is "targets" (the default) or a delegated role's name.
	Role string
	// Delegate adds (or replaces) a delegation of targets.
	Delegate *Delegation
	// RemoveDelegation drops the delegation of this name.
	RemoveDelegation string
	// Add maps target paths to local files; length and SHA-256 and
	// SHA-512 are computed from the file.
	Add map[string]string
	// Remove lists target paths to drop.
	Remove []string
	// Expires is how long the new version is valid; zero takes the
	// plan's targets expiry.
	Expires Duration
}

// Delegation is a role that targets delegates to.
type Delegation struct {
	Name      string
	KeyIDs    []string // recorded in keys/
	Threshold int
	Paths     []string // glob patterns of the targets it may sign
}

// Proposed is a staged proposal and what it changes.
type Proposed struct {
	File    string   `json:"file"`
	Version int64    `json:"version"`
	Changes []Change `json:"changes"`
	// Also lists other files staged with it (a new delegated role's v1).
	Also []string `json:"also,omitempty"`
}

var delegatedName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkDelegatedName refuses names that are not safe file names or that
// a top-level role uses.
func checkDelegatedName(name string) error {
	switch name {
	case metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP:
		return fmt.Errorf("delegated role %q: the name of a top-level role", name)
	}
	if !delegatedName.MatchString(name) {
		return fmt.Errorf("delegated role %q: use letters, digits, . _ - (at most 64)", name)
	}
	return nil
}

// ProposeTargets stages the next targets version from the newest published
// one, with targets added or removed and a new expiry. Signatures start
// empty.
func ProposeTargets(ws *Workspace, change TargetsChange) (*Proposed, error) {
	role := change.Role
	if role == "" {
		role = metadata.TARGETS
	}
	if role != metadata.TARGETS {
		if err := checkDelegatedName(role); err != nil {
			return nil, err
		}
		if change.Delegate != nil || change.RemoveDelegation != "" {
			return nil, errors.New("delegations are changed in targets, not in a delegated role (leave out --role)")
		}
	}
	if len(change.Add) == 0 && len(change.Remove) == 0 && change.Expires == 0 && change.Delegate == nil && change.RemoveDelegation == "" {
		return nil, ErrNothingToChange
	}
	staged, err := ws.versions(StagedDir, role)
	if err != nil {
		return nil, err
	}
	if len(staged) > 0 {
		return nil, fmt.Errorf("%w: staged/%s; sign and publish it first", ErrAlreadyStaged, VersionedName(role, staged[0]))
	}
	published, err := ws.versions(MetadataDir, role)
	if err != nil {
		return nil, err
	}
	if len(published) == 0 {
		if role != metadata.TARGETS {
			return nil, fmt.Errorf("no published %s metadata: delegate to it first (propose targets --delegate %s …)", role, role)
		}
		return nil, fmt.Errorf("no published targets to change: run init, sign and publish first")
	}
	prevRel := path.Join(MetadataDir, VersionedName(role, published[len(published)-1]))
	prevData, err := ws.ReadFile(prevRel)
	if err != nil {
		return nil, err
	}
	md, err := ParseTargets(prevData)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prevRel, err)
	}
	expires := change.Expires
	if expires == 0 {
		if expires, err = ws.planExpiry(metadata.TARGETS); err != nil {
			return nil, err
		}
	}
	tx := ws.Begin()
	var also []string
	t := md.Signed
	t.Version++
	t.Expires = ws.now().UTC().Truncate(time.Second).Add(time.Duration(expires))
	if t.Targets == nil {
		t.Targets = map[string]*metadata.TargetFiles{}
	}
	for _, p := range change.Remove {
		if _, ok := t.Targets[p]; !ok {
			return nil, fmt.Errorf("--remove-target %s: no such target in %s", p, prevRel)
		}
		delete(t.Targets, p)
	}
	paths := make([]string, 0, len(change.Add))
	for p := range change.Add {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := checkTargetPath(p); err != nil {
			return nil, err
		}
		file := change.Add[p]
		st, err := os.Stat(file)
		if err != nil {
			return nil, fmt.Errorf("--add-target %s: %w", file, err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("--add-target %s: not a regular file", file)
		}
		tf, err := metadata.TargetFile().FromFile(file, "sha256", "sha512")
		if err != nil {
			return nil, fmt.Errorf("--add-target %s: %w", file, err)
		}
		tf.Path = p
		t.Targets[p] = tf
	}

	if change.RemoveDelegation != "" {
		if err := removeDelegation(&t, change.RemoveDelegation); err != nil {
			return nil, err
		}
	}
	if d := change.Delegate; d != nil {
		if err := ws.addDelegation(&t, d); err != nil {
			return nil, err
		}
		if !ws.fileExists(path.Join(MetadataDir, VersionedName(d.Name, 1))) {
			// The new role starts with an empty version 1, signed by its
			// own keys once the delegation is published.
			first := metadata.Targets(t.Expires)
			first.Signed.SpecVersion = SpecVersion
			env, err := MarshalSigned(first.Signed)
			if err != nil {
				return nil, err
			}
			data, err := env.Marshal()
			if err != nil {
				return nil, err
			}
			rel := path.Join(StagedDir, VersionedName(d.Name, 1))
			tx.Create(rel, data)
			also = append(also, rel)
		}
	}

	env, err := MarshalSigned(t)
	if err != nil {
		return nil, err
	}
	data, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	names, _ := ws.Custodians()
	changes, err := DiffFiles(prevData, data, func(id string) string { return names[id] })
	if err != nil {
		return nil, err
	}
	rel := path.Join(StagedDir, VersionedName(role, t.Version))
	tx.Create(rel, data)
	tx.Record("proposed", map[string]any{"file": rel, "role": role, "version": t.Version, "changes": changes, "also": also})
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return &Proposed{File: rel, Version: t.Version, Changes: changes, Also: also}, nil
}

// addDelegation adds or replaces a delegated role in targets.
func (w *Workspace) addDelegation(t *metadata.TargetsType, d *Delegation) error {
	if err := checkDelegatedName(d.Name); err != nil {
		return err
	}
	if len(d.KeyIDs) == 0 || d.Threshold < 1 || d.Threshold > len(d.KeyIDs) {
		return fmt.Errorf("delegation %s: the threshold %d must be between 1 and its %d keys", d.Name, d.Threshold, len(d.KeyIDs))
	}
	if len(d.Paths) == 0 {
		return fmt.Errorf("delegation %s: give the path patterns it may sign (e.g. --delegate-path 'apps/*')", d.Name)
	}
	if t.Delegations == nil {
		t.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	}
	if t.Delegations.Keys == nil {
		t.Delegations.Keys = map[string]*metadata.Key{}
	}
	var serials []string
	for _, id := range d.KeyIDs {
		rec, err := w.ReadKeyRecord(id)
		if err != nil {
			return fmt.Errorf("delegation %s: key %s: %w", d.Name, shortID(id), err)
		}
		if rec.Token != nil {
			s := rec.Token.Backend + ":" + rec.Token.Serial
			if slices.Contains(serials, s) {
				return fmt.Errorf("delegation %s: two of its keys are on %s: one token would count twice", d.Name, rec.Token)
			}
			serials = append(serials, s)
		}
		key := *rec.Key
		key.UnrecognizedFields = map[string]any{KeyOwnerField: rec.Custodian}
		t.Delegations.Keys[id] = &key
	}
	role := metadata.DelegatedRole{Name: d.Name, KeyIDs: d.KeyIDs, Threshold: d.Threshold, Paths: d.Paths}
	for i, r := range t.Delegations.Roles {
		if r.Name == d.Name {
			t.Delegations.Roles[i] = role
			pruneDelegationKeys(t)
			return nil
		}
	}
	t.Delegations.Roles = append(t.Delegations.Roles, role)
	return nil
}

// removeDelegation drops a delegated role and the keys only it used.
func removeDelegation(t *metadata.TargetsType, name string) error {
	if t.Delegations == nil {
		return fmt.Errorf("--remove-delegation %s: targets delegates to nothing", name)
	}
	for i, r := range t.Delegations.Roles {
		if r.Name == name {
			t.Delegations.Roles = slices.Delete(t.Delegations.Roles, i, i+1)
			pruneDelegationKeys(t)
			if len(t.Delegations.Roles) == 0 && t.Delegations.SuccinctRoles == nil {
				t.Delegations = nil
			}
			return nil
		}
	}
	return fmt.Errorf("--remove-delegation %s: no such delegated role", name)
}

func pruneDelegationKeys(t *metadata.TargetsType) {
	for id := range t.Delegations.Keys {
		used := false
		for _, r := range t.Delegations.Roles {
			used = used || slices.Contains(r.KeyIDs, id)
		}
		if !used {
			delete(t.Delegations.Keys, id)
		}
	}
}

// checkTargetPath refuses target paths a client could resolve outside
// its targets directory.
func checkTargetPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return fmt.Errorf("target path %q: use a relative path with / separators", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("target path %q: empty, . and .. parts are not allowed", p)
		}
	}
	return nil
}

// planExpiry is a role's expiry from the workspace's plan.
func (w *Workspace) planExpiry(role string) (Duration, error) {
	data, err := w.ReadFile(PlanFile)
	if err != nil {
		return 0, fmt.Errorf("no expiry given and no plan to take it from (%w); pass --expires", err)
	}
	plan, err := ParsePlan(data)
	if err != nil {
		return 0, err
	}
	if r := plan.Role(role); r != nil {
		return r.Expires, nil
	}
	return 0, fmt.Errorf("the plan has no %s role; pass --expires", role)
}

// TargetPathOf names a target for a local file: ARG is FILE (named by its
// base name) or TARGET_PATH=FILE.
func TargetPathOf(arg string) (targetPath, file string) {
	if p, f, ok := strings.Cut(arg, "="); ok {
		return p, f
	}
	return filepath.Base(arg), arg
}

// Discard removes staged proposals, for instance one changed after it was
// signed or one nobody will sign. It is recorded in the transcript with
// the SHA-256 of what was discarded.
func Discard(ws *Workspace, names []string) ([]string, error) {
	tx := ws.Begin()
	var removed []string
	for _, n := range names {
		n = path.Base(n)
		if _, _, ok := ParseVersionedName(n); !ok {
			return nil, fmt.Errorf("%s: not a staged metadata file name (N.ROLE.json)", n)
		}
		rel := path.Join(StagedDir, n)
		data, err := ws.ReadFile(rel)
		if err != nil {
			return nil, fmt.Errorf("nothing to discard: %w", err)
		}
		tx.AllowTampered(rel)
		tx.Expect(rel, data)
		tx.Remove(rel)
		tx.Record("discarded", map[string]string{"file": rel, "sha256": sha256Hex(data)})
		removed = append(removed, rel)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return removed, nil
}
