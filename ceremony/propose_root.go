package ceremony

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// ErrNothingToChange is a proposal that changes nothing.
var ErrNothingToChange = errors.New("the proposal changes nothing")

// ErrUnusableProposal is a proposed root that clients could not use.
var ErrUnusableProposal = errors.New("the proposed root would lock clients out")

// RoleKey names a key to add to a role: a key ID recorded in keys/, or a
// PEM public key file (an online key).
type RoleKey struct {
	Role    string
	KeyID   string
	PEMFile string
}

// RootChange describes the next root version. With no change but the
// expiry it is a renewal.
type RootChange struct {
	Add    []RoleKey
	Revoke []string // key IDs, removed from every role
	// Compromised marks the revoked keys as compromised: an emergency
	// rotation, whose analysis warns accordingly.
	Compromised bool
	Thresholds  map[string]int
	// Expires is the new root's validity; zero takes the plan's.
	Expires Duration
}

// ProposeRoot stages root N+1 from the newest published root N. It edits
// the signed JSON in place, so every field it does not change, including
// fields it does not know (x-tuf-on-ci-*, keyid_hash_algorithms, …), is
// kept byte for byte and old and new versions stay valid for every client.
func ProposeRoot(ws *Workspace, change RootChange) (*Proposed, error) {
	staged, err := ws.versions(StagedDir, metadata.ROOT)
	if err != nil {
		return nil, err
	}
	if len(staged) > 0 {
		return nil, fmt.Errorf("%w: staged/%s; sign and publish it first", ErrAlreadyStaged, VersionedName(metadata.ROOT, staged[0]))
	}
	published, err := ws.PublishedRoots()
	if err != nil {
		return nil, err
	}
	if len(published) == 0 {
		return nil, fmt.Errorf("no published root to change: run init, sign and publish first")
	}
	if len(change.Add) == 0 && len(change.Revoke) == 0 && len(change.Thresholds) == 0 && change.Expires == 0 {
		return nil, ErrNothingToChange
	}
	prevRel := path.Join(MetadataDir, VersionedName(metadata.ROOT, published[len(published)-1]))
	prevData, err := ws.ReadFile(prevRel)
	if err != nil {
		return nil, err
	}
	prev, err := ParseEnvelope(prevData)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prevRel, err)
	}
	expires := change.Expires
	if expires == 0 {
		if expires, err = ws.planExpiry(metadata.ROOT); err != nil {
			return nil, err
		}
	}

	ed, err := newRootEditor(prev.Signed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prevRel, err)
	}
	tx := ws.Begin()
	for _, id := range change.Revoke {
		if err := ed.revoke(id); err != nil {
			return nil, err
		}
	}
	for _, a := range change.Add {
		rec, data, err := ws.keyToAdd(a)
		if err != nil {
			return nil, err
		}
		if data != nil {
			tx.Create(KeyRecordPath(rec.KeyID), data)
		}
		if err := ws.checkDistinctToken(a.Role, ed.keyIDs(a.Role), rec); err != nil {
			return nil, err
		}
		if err := ed.add(a.Role, rec); err != nil {
			return nil, err
		}
	}
	for role, n := range change.Thresholds {
		if err := ed.setThreshold(role, n); err != nil {
			return nil, err
		}
	}
	if err := ed.check(); err != nil {
		return nil, err
	}
	version := ed.version + 1
	ed.set("version", version)
	ed.set("expires", ws.now().UTC().Truncate(time.Second).Add(time.Duration(expires)).Format(time.RFC3339))
	signed, err := ed.marshal()
	if err != nil {
		return nil, err
	}
	env := &Envelope{Signed: signed, Signatures: []metadata.Signature{}, extra: prev.extra}
	data, err := env.Marshal()
	if err != nil {
		return nil, err
	}
	if _, err := ParseRoot(data); err != nil {
		return nil, fmt.Errorf("the proposed root does not parse: %w", err)
	}
	names, _ := ws.Custodians()
	changes, err := DiffFiles(prevData, data, func(id string) string { return names[id] })
	if err != nil {
		return nil, err
	}
	rel := path.Join(StagedDir, VersionedName(metadata.ROOT, version))
	tx.Create(rel, data)
	tx.Record("proposed", map[string]any{
		"file": rel, "role": metadata.ROOT, "version": version, "changes": changes,
		"revoked": change.Revoke, "compromised": change.Compromised,
	})
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return &Proposed{File: rel, Version: version, Changes: changes}, nil
}

// keyToAdd finds the record of a key to add, creating one (returned as
// data) for a new online key.
func (w *Workspace) keyToAdd(a RoleKey) (*KeyRecord, []byte, error) {
	if a.KeyID != "" {
		rec, err := w.ReadKeyRecord(a.KeyID)
		if err != nil {
			return nil, nil, fmt.Errorf("--add-key %s=%s: no such key in %s (generate it with keygen first): %w", a.Role, a.KeyID, KeysDir, err)
		}
		return rec, nil, nil
	}
	file := a.PEMFile
	key, err := LoadPublicKey(file)
	if err != nil {
		return nil, nil, fmt.Errorf("--add-key %s=%s: %w", a.Role, file, err)
	}
	id, err := KeyID(key)
	if err != nil {
		return nil, nil, err
	}
	if rec, err := w.ReadKeyRecord(id); err == nil {
		return rec, nil, nil
	}
	rec := &KeyRecord{KeyID: id, Key: key, Kind: KindOnline, Custodian: "online " + a.Role + " (" + filepath.Base(file) + ")", CreatedAt: w.now()}
	data, err := rec.Marshal()
	return rec, data, err
}

// rootEditor changes a root's signed JSON while keeping every untouched
// value as raw bytes.
type rootEditor struct {
	top     map[string]json.RawMessage
	keys    map[string]json.RawMessage
	roles   map[string]map[string]json.RawMessage
	version int64
}

func newRootEditor(signed json.RawMessage) (*rootEditor, error) {
	ed := &rootEditor{roles: map[string]map[string]json.RawMessage{}}
	if err := json.Unmarshal(signed, &ed.top); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(ed.top["keys"], &ed.keys); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if err := json.Unmarshal(ed.top["version"], &ed.version); err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	var roles map[string]json.RawMessage
	if err := json.Unmarshal(ed.top["roles"], &roles); err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	for name, raw := range roles {
		var r map[string]json.RawMessage
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("roles.%s: %w", name, err)
		}
		ed.roles[name] = r
	}
	return ed, nil
}

func (ed *rootEditor) set(field string, v any) {
	b, _ := json.Marshal(v)
	ed.top[field] = b
}

func (ed *rootEditor) keyIDs(role string) []string {
	var ids []string
	json.Unmarshal(ed.roles[role]["keyids"], &ids)
	return ids
}

func (ed *rootEditor) threshold(role string) int {
	var n int
	json.Unmarshal(ed.roles[role]["threshold"], &n)
	return n
}

func (ed *rootEditor) setKeyIDs(role string, ids []string) {
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(ids)
	ed.roles[role]["keyids"] = b
}

func (ed *rootEditor) revoke(id string) error {
	listed := false
	for role := range ed.roles {
		listed = listed || slices.Contains(ed.keyIDs(role), id)
	}
	if !listed {
		return fmt.Errorf("--revoke-key %s: no role of the root lists this key", shortID(id))
	}
	for role := range ed.roles {
		ed.setKeyIDs(role, slices.DeleteFunc(ed.keyIDs(role), func(k string) bool { return k == id }))
	}
	delete(ed.keys, id)
	return nil
}

func (ed *rootEditor) add(role string, rec *KeyRecord) error {
	if _, ok := ed.roles[role]; !ok {
		return fmt.Errorf("--add-key %s=…: the root has no role %q", role, role)
	}
	ids := ed.keyIDs(role)
	if slices.Contains(ids, rec.KeyID) {
		return fmt.Errorf("--add-key %s=%s: the key is already in %s", role, shortID(rec.KeyID), role)
	}
	ed.setKeyIDs(role, append(ids, rec.KeyID))
	if _, ok := ed.keys[rec.KeyID]; !ok {
		key := *rec.Key
		key.UnrecognizedFields = map[string]any{}
		for k, v := range rec.Key.UnrecognizedFields {
			key.UnrecognizedFields[k] = v
		}
		if rec.Custodian != "" {
			key.UnrecognizedFields[KeyOwnerField] = rec.Custodian
		}
		b, err := json.Marshal(&key)
		if err != nil {
			return err
		}
		ed.keys[rec.KeyID] = b
	}
	return nil
}

func (ed *rootEditor) setThreshold(role string, n int) error {
	if _, ok := ed.roles[role]; !ok {
		return fmt.Errorf("--threshold %s=%d: the root has no role %q", role, n, role)
	}
	b, _ := json.Marshal(n)
	ed.roles[role]["threshold"] = b
	return nil
}

// check refuses a root a client could not use: every top-level role needs
// keys and a threshold it can reach.
func (ed *rootEditor) check() error {
	var problems []string
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if _, ok := ed.roles[role]; !ok {
			problems = append(problems, fmt.Sprintf("roles.%s: missing", role))
			continue
		}
		ids, t := ed.keyIDs(role), ed.threshold(role)
		switch {
		case len(ids) == 0:
			problems = append(problems, fmt.Sprintf("roles.%s: no key left", role))
		case t < 1:
			problems = append(problems, fmt.Sprintf("roles.%s.threshold: must be at least 1", role))
		case t > len(ids):
			problems = append(problems, fmt.Sprintf("roles.%s.threshold: %d exceeds the %d keys listed", role, t, len(ids)))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%w: %s", ErrUnusableProposal, strings.Join(problems, "; "))
	}
	return nil
}

func (ed *rootEditor) marshal() (json.RawMessage, error) {
	roles := map[string]json.RawMessage{}
	for name, r := range ed.roles {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		roles[name] = b
	}
	var err error
	if ed.top["roles"], err = json.Marshal(roles); err != nil {
		return nil, err
	}
	if ed.top["keys"], err = json.Marshal(ed.keys); err != nil {
		return nil, err
	}
	return json.Marshal(ed.top)
}

// checkDistinctToken refuses a key on a token that already holds another
// key of the role: one token would count twice toward its threshold.
func (w *Workspace) checkDistinctToken(role string, ids []string, rec *KeyRecord) error {
	if rec.Token == nil {
		return nil
	}
	for _, id := range ids {
		other, err := w.ReadKeyRecord(id)
		if err != nil || other.Token == nil {
			continue
		}
		if other.Token.Backend == rec.Token.Backend && other.Token.Serial == rec.Token.Serial {
			return fmt.Errorf("--add-key %s=%s: it is on %s, which already holds the %s key of %s: one token would count twice toward the threshold", role, shortID(rec.KeyID), rec.Token, role, other.Custodian)
		}
	}
	return nil
}
