package ceremony

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrMergeConflict is a staged file whose signed content differs between
// two copies of the workspace.
var ErrMergeConflict = errors.New("the copies are not the same proposal")

// MergeConflictError shows how two copies of a staged file differ.
type MergeConflictError struct {
	File    string
	Other   string
	Changes []Change
}

func (e *MergeConflictError) Error() string {
	var b strings.Builder
	FormatChanges(&b, e.Changes)
	return fmt.Sprintf("%v: %s differs in %s; its signatures cannot be combined:\n%s", ErrMergeConflict, e.File, e.Other, strings.TrimRight(b.String(), "\n"))
}

func (e *MergeConflictError) Unwrap() error { return ErrMergeConflict }

// Merged is a signature copied from another copy of the workspace.
type Merged struct {
	File      string `json:"file"`
	KeyID     string `json:"keyid"`
	Custodian string `json:"custodian,omitempty"`
	From      string `json:"from"`
}

// MergeResult is what merge did and what it left.
type MergeResult struct {
	Merged  []Merged `json:"merged"`
	Skipped []string `json:"skipped"`
}

// Merge copies into ws the signatures that other copies of the workspace
// (carried to remote custodians on other media) hold for the same staged
// files. The signed content must be identical, byte for byte in canonical
// form; otherwise nothing is merged and the difference is shown. Only
// signatures that verify, by keys the proposal asks for, are copied. The
// other media are only read.
func Merge(ws *Workspace, others []string) (*MergeResult, error) {
	props, err := ws.Proposals()
	if err != nil {
		return nil, err
	}
	if len(props) == 0 {
		return nil, ErrNothingStaged
	}
	names, err := ws.names(props)
	if err != nil {
		return nil, err
	}
	res := &MergeResult{Merged: []Merged{}, Skipped: []string{}}
	changed := map[string]*Proposal{}
	for _, other := range others {
		if abs, _ := filepath.Abs(other); abs == mustAbs(ws.Dir) {
			return nil, fmt.Errorf("%s is this workspace itself", other)
		}
		if err := sameRepository(ws, other, props); err != nil {
			return nil, err
		}
		for _, p := range props {
			data, err := readLimited(filepath.Join(other, StagedDir, p.Name))
			if errors.Is(err, os.ErrNotExist) {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s: not staged in %s", p.Name, other))
				continue
			}
			if err != nil {
				return nil, err
			}
			theirs, err := ParseEnvelope(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(other, StagedDir, p.Name), err)
			}
			payload, err := theirs.Payload()
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(payload, p.Payload) {
				changes, derr := DiffFiles(p.Raw, data, func(id string) string { return names[id] })
				if derr != nil {
					changes = []Change{{Kind: ChangeChanged, Field: "signed", Note: derr.Error()}}
				}
				return nil, &MergeConflictError{File: p.Path, Other: other, Changes: changes}
			}
			for _, s := range theirs.Signatures {
				key := p.KeyFor(s.KeyID)
				switch {
				case key == nil:
					res.Skipped = append(res.Skipped, fmt.Sprintf("%s: a signature by %s, which the proposal does not ask for", p.Name, shortID(s.KeyID)))
				case VerifySignature(key, p.Payload, s.Signature) != nil:
					res.Skipped = append(res.Skipped, fmt.Sprintf("%s: the signature of %s in %s does not verify", p.Name, Who(names, s.KeyID), other))
				case !p.NeedsKey(s.KeyID):
					// Already signed here.
				default:
					p.Env.SetSignature(s.KeyID, s.Signature)
					changed[p.Path] = p
					res.Merged = append(res.Merged, Merged{File: p.Path, KeyID: s.KeyID, Custodian: names[s.KeyID], From: other})
				}
			}
		}
	}
	if len(changed) == 0 {
		return res, nil
	}
	tx := ws.Begin()
	for rel, p := range changed {
		data, err := p.Env.Marshal()
		if err != nil {
			return nil, err
		}
		tx.Expect(rel, p.Raw)
		tx.Replace(rel, data)
	}
	for _, m := range res.Merged {
		tx.Record("merged", m)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("failed to write the merged signatures: %w", err)
	}
	return res, nil
}

func mustAbs(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return abs
}

// sameRepository refuses to merge from a copy of another repository (its
// first root differs) or one holding other versions of the same roles.
func sameRepository(ws *Workspace, other string, props []*Proposal) error {
	ours, err := ws.ReadFile(path.Join(MetadataDir, VersionedName("root", 1)))
	if err == nil {
		theirs, err := readLimited(filepath.Join(other, MetadataDir, VersionedName("root", 1)))
		if err != nil || !bytes.Equal(ours, theirs) {
			return fmt.Errorf("%w: %s is not a copy of the same repository (its metadata/1.root.json differs or is missing)", ErrMergeConflict, other)
		}
	}
	entries, err := os.ReadDir(filepath.Join(other, StagedDir))
	if err != nil {
		return nil
	}
	for _, e := range entries {
		role, v, ok := ParseVersionedName(e.Name())
		if !ok {
			continue
		}
		for _, p := range props {
			if p.Role == role && p.Version != v {
				return fmt.Errorf("%w: %s holds %s v%d, this workspace %s v%d", ErrMergeConflict, other, role, v, role, p.Version)
			}
		}
	}
	return nil
}
