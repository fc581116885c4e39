package ceremony

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// ErrNotVerified is an import refused because the source does not verify.
var ErrNotVerified = errors.New("the repository does not verify")

// ImportOptions modify Import.
type ImportOptions struct {
	// At judges expiries; zero is now.
	At time.Time
}

// ImportResult is what was adopted.
type ImportResult struct {
	Roots   []FileSummary `json:"roots"`
	Targets *FileSummary  `json:"targets,omitempty"`
	Keys    []string      `json:"keys"`
	Notes   []string      `json:"notes"`
}

// Import adopts an existing repository into a new workspace after
// verifying it as verify does: its roots, from 1.root.json, and its
// targets are copied byte for byte into metadata/, and the keys of its
// newest root are recorded in keys/ with their custodians
// (x-tuf-on-ci-keyowner). source is a directory of N.root.json (and
// targets), or a tuf-on-ci repository (metadata/root_history/).
func Import(ws *Workspace, source string, opts ImportOptions) (*ImportResult, error) {
	if err := ws.checkUninitialized(); err != nil {
		return nil, err
	}
	rep, err := Verify(source, VerifyOptions{At: opts.At})
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		return nil, &VerifyError{Report: rep}
	}
	rootDir, metaDir := sourceDirs(source)
	res := &ImportResult{Roots: rep.Roots, Targets: rep.Targets, Keys: []string{}, Notes: rep.Notes}
	tx := ws.Begin()
	var newest []byte
	for _, r := range rep.Roots {
		data, err := readLimited(filepath.Join(rootDir, r.File))
		if err != nil {
			return nil, err
		}
		if sha256Hex(data) != r.SHA256 {
			return nil, fmt.Errorf("%s changed while it was imported", r.File)
		}
		tx.Create(path.Join(MetadataDir, r.File), data)
		newest = data
	}
	tx.Replace(path.Join(MetadataDir, "root.json"), newest)
	if t := rep.Targets; t != nil {
		data, err := readLimited(filepath.Join(metaDir, t.File))
		if err != nil {
			return nil, err
		}
		if sha256Hex(data) != t.SHA256 {
			return nil, fmt.Errorf("%s changed while it was imported", t.File)
		}
		tx.Create(path.Join(MetadataDir, VersionedName(metadata.TARGETS, t.Version)), data)
		tx.Replace(path.Join(MetadataDir, "targets.json"), data)
	}

	root, err := ParseRawRoot(newest)
	if err != nil {
		return nil, err
	}
	var rawKeys struct {
		Keys map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(root.Env.Signed, &rawKeys); err != nil {
		return nil, err
	}
	anomalies := map[string]bool{}
	for _, id := range root.KeyIDAnomalies() {
		anomalies[id] = true
	}
	ids := make([]string, 0, len(root.Signed.Keys))
	for id := range root.Signed.Keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		// The key is kept exactly as written, extra fields included: its
		// ID may have been computed over all of them.
		key := &metadata.Key{}
		if err := json.Unmarshal(rawKeys.Keys[id], key); err != nil || !KeyIDMatches(key, id) || anomalies[id] {
			res.Notes = append(res.Notes, fmt.Sprintf("key %s is not recorded in keys/: its ID is not the SHA-256 of the key", shortID(id)))
			continue
		}
		owner, _ := key.UnrecognizedFields[KeyOwnerField].(string)
		rec := &KeyRecord{KeyID: id, Key: key, Kind: KindImported, Custodian: owner, CreatedAt: ws.now()}
		data, err := rec.Marshal()
		if err != nil {
			return nil, err
		}
		if !ws.fileExists(KeyRecordPath(id)) {
			tx.Create(KeyRecordPath(id), data)
		}
		res.Keys = append(res.Keys, id)
	}
	tx.Record("imported", map[string]any{"source": source, "roots": rep.Roots, "targets": rep.Targets, "notes": res.Notes})
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("failed to import: %w", err)
	}
	return res, nil
}

// KindImported is a key adopted from an imported repository.
const KindImported = "imported"

// VerifyError is a refusal because verify found problems.
type VerifyError struct{ Report *VerifyReport }

func (e *VerifyError) Error() string {
	msg := fmt.Sprintf("%v: %d problem(s)", ErrNotVerified, len(e.Report.Problems))
	for _, p := range e.Report.Problems {
		msg += "\n  " + p
	}
	return msg
}

func (e *VerifyError) Unwrap() error { return ErrNotVerified }

// sourceDirs finds the roots and the other metadata of a repository: a
// tuf-on-ci repository keeps its roots in metadata/root_history/.
func sourceDirs(dir string) (rootDir, metaDir string) {
	for _, cand := range []struct{ roots, meta string }{
		{filepath.Join(dir, "metadata", "root_history"), filepath.Join(dir, "metadata")},
		{filepath.Join(dir, "root_history"), dir},
		{filepath.Join(dir, MetadataDir), filepath.Join(dir, MetadataDir)},
	} {
		if st, err := os.Stat(cand.roots); err == nil && st.IsDir() {
			if ok, _ := filepath.Glob(filepath.Join(cand.roots, "*.root.json")); len(ok) > 0 {
				return cand.roots, cand.meta
			}
		}
	}
	return dir, dir
}
