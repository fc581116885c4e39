package ceremony

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// ErrAlreadyStaged is a proposal for a role that has one waiting.
var ErrAlreadyStaged = errors.New("a proposal is already staged")

// TargetsChange describes a new targets version.
type TargetsChange struct {
	// Add maps target paths to local files; length and SHA-256 and
	// SHA-512 are computed from the file.
	Add map[string]string
	// Remove lists target paths to drop.
	Remove []string
	// Expires is how long the new version is valid; zero takes the
	// plan's targets expiry.
	Expires Duration
}

// Proposed is a staged proposal and what it changes.
type Proposed struct {
	File    string   `json:"file"`
	Version int64    `json:"version"`
	Changes []Change `json:"changes"`
}

// ProposeTargets stages the next targets version from the newest published
// one, with targets added or removed and a new expiry. Signatures start
// empty.
func ProposeTargets(ws *Workspace, change TargetsChange) (*Proposed, error) {
	staged, err := ws.versions(StagedDir, metadata.TARGETS)
	if err != nil {
		return nil, err
	}
	if len(staged) > 0 {
		return nil, fmt.Errorf("%w: staged/%s; sign and publish it first", ErrAlreadyStaged, VersionedName(metadata.TARGETS, staged[0]))
	}
	published, err := ws.versions(MetadataDir, metadata.TARGETS)
	if err != nil {
		return nil, err
	}
	if len(published) == 0 {
		return nil, fmt.Errorf("no published targets to change: run init, sign and publish first")
	}
	prevRel := path.Join(MetadataDir, VersionedName(metadata.TARGETS, published[len(published)-1]))
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

	env, err := MarshalSigned(t)
	if err != nil {
		return nil, err
	}
	data, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	changes, err := DiffFiles(prevData, data, nil)
	if err != nil {
		return nil, err
	}
	rel := path.Join(StagedDir, VersionedName(metadata.TARGETS, t.Version))
	tx := ws.Begin()
	tx.Create(rel, data)
	tx.Record("proposed", map[string]any{"file": rel, "role": metadata.TARGETS, "version": t.Version, "changes": changes})
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return &Proposed{File: rel, Version: t.Version, Changes: changes}, nil
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
