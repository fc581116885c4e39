package ceremony

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Change is one difference between two versions of TUF metadata, as a
// person reviews it before signing (invariant 4).
type Change struct {
	Kind  string `json:"kind"`  // ChangeAdded, ChangeRemoved or ChangeChanged
	Field string `json:"field"` // "roles.root.threshold", "keys", "targets", "expires"
	Old   string `json:"old,omitempty"`
	New   string `json:"new,omitempty"`
	Note  string `json:"note,omitempty"`
}

// The kinds of Change.
const (
	ChangeAdded   = "added"
	ChangeRemoved = "removed"
	ChangeChanged = "changed"
)

// Names gives a person's name for a key ID (the custodian), or "" if
// unknown.
type Names func(keyID string) string

// Errors of DiffFiles that callers branch on.
var (
	// ErrInvalidMetadata is a file that is not TUF metadata, or that go-tuf
	// cannot parse.
	ErrInvalidMetadata = errors.New("invalid TUF metadata")
	// ErrMetadataTypeMismatch is two files of different types.
	ErrMetadataTypeMismatch = errors.New("cannot compare metadata of different types")
	// ErrUnsupportedMetadataType is metadata other than root and targets.
	ErrUnsupportedMetadataType = errors.New("only root and targets metadata can be compared")
)

// DiffInputError is a problem with one of the two files DiffFiles
// compares; Which says which one.
type DiffInputError struct {
	Which string // "old" or "new"
	Err   error
}

func (e *DiffInputError) Error() string { return e.Which + " file: " + e.Err.Error() }
func (e *DiffInputError) Unwrap() error { return e.Err }

// MetadataType reads signed._type of a metadata file without parsing the
// rest: "root", "targets", "snapshot", "timestamp".
func MetadataType(data []byte) (string, error) {
	var env struct {
		Signed rawSpan `json:"signed"` // a slice of data: a targets file can be tens of megabytes
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidMetadata, err)
	}
	var signed map[string]rawSpan
	if err := json.Unmarshal(env.Signed, &signed); err != nil || signed == nil {
		return "", fmt.Errorf("%w: no \"signed\" object", ErrInvalidMetadata)
	}
	var typ string
	if err := json.Unmarshal(signed["_type"], &typ); err != nil || typ == "" {
		return "", fmt.Errorf("%w: no signed._type", ErrInvalidMetadata)
	}
	return typ, nil
}

// DiffFiles compares two metadata files of the same type, root or
// targets (delegated targets included). oldJSON may be empty: then new is
// a first version and everything in it is added.
func DiffFiles(oldJSON, newJSON []byte, names Names) ([]Change, error) {
	var changes []Change
	if err := EachChange(oldJSON, newJSON, names, func(c Change) { changes = append(changes, c) }); err != nil {
		return nil, err
	}
	return changes, nil
}

// EachChange is DiffFiles that hands each change to emit, in order, as it
// is found, rather than keeping them: a targets file of 100,000 entries
// has as many. On an error, emit may have seen some of the changes.
func EachChange(oldJSON, newJSON []byte, names Names, emit func(Change)) error {
	newType, err := MetadataType(newJSON)
	if err != nil {
		return &DiffInputError{Which: "new", Err: err}
	}
	oldType := newType
	if len(oldJSON) > 0 {
		if oldType, err = MetadataType(oldJSON); err != nil {
			return &DiffInputError{Which: "old", Err: err}
		}
	}
	if oldType != newType {
		return fmt.Errorf("%w: the old file is %s metadata, the new file %s metadata", ErrMetadataTypeMismatch, diffSafe(oldType), diffSafe(newType))
	}
	var changes []Change
	switch newType {
	case metadata.ROOT:
		from, to, err := diffParse[metadata.RootType](oldJSON, newJSON)
		if err != nil {
			return err
		}
		changes = DiffRoot(from, to, names)
	case metadata.TARGETS:
		if ok, err := diffTargetsFiles(oldJSON, newJSON, names, emit); ok {
			return err
		}
		from, to, err := diffParse[metadata.TargetsType](oldJSON, newJSON)
		if err != nil {
			return err
		}
		changes = DiffTargets(from, to, names)
	default:
		return fmt.Errorf("%w, not %s metadata", ErrUnsupportedMetadataType, diffSafe(newType))
	}
	for _, c := range changes {
		emit(c)
	}
	return nil
}

// diffParse parses both files with go-tuf; from stays nil when oldJSON is
// empty.
func diffParse[T metadata.Roles](oldJSON, newJSON []byte) (from, to *metadata.Metadata[T], err error) {
	if len(oldJSON) > 0 {
		if err = safeGoTUF(func() (err error) { from, err = new(metadata.Metadata[T]).FromBytes(oldJSON); return err }); err != nil {
			return nil, nil, &DiffInputError{Which: "old", Err: fmt.Errorf("%w: %w", ErrInvalidMetadata, err)}
		}
	}
	if err = safeGoTUF(func() (err error) { to, err = new(metadata.Metadata[T]).FromBytes(newJSON); return err }); err != nil {
		return nil, nil, &DiffInputError{Which: "new", Err: fmt.Errorf("%w: %w", ErrInvalidMetadata, err)}
	}
	return from, to, nil
}

// DiffRoot lists what changes from one root to the next, in a fixed
// order: version, spec_version, expires, consistent_snapshot, keys, roles,
// then unrecognized fields. from may be nil (the first root): everything
// in to is then added. Key IDs are those of the keys maps, never
// recomputed: go-tuf's Key.ID would count fields such as
// x-tuf-on-ci-keyowner that python-tuf leaves out.
func DiffRoot(from, to *metadata.Metadata[metadata.RootType], names Names) []Change {
	d := newDiffer(names)
	o := &metadata.RootType{}
	if from != nil {
		o = &from.Signed
	}
	n := &to.Signed
	d.header(from == nil, diffHeader{o.Version, o.SpecVersion, o.Expires}, diffHeader{n.Version, n.SpecVersion, n.Expires})
	if from == nil {
		d.add("consistent_snapshot", strconv.FormatBool(n.ConsistentSnapshot), "")
	} else if o.ConsistentSnapshot != n.ConsistentSnapshot {
		d.change("consistent_snapshot", strconv.FormatBool(o.ConsistentSnapshot), strconv.FormatBool(n.ConsistentSnapshot), "")
	}
	d.keys("keys", o.Keys, n.Keys)
	roleNames := diffRoleOrder(slices.Collect(maps.Keys(o.Roles)), slices.Collect(maps.Keys(n.Roles)))
	for _, name := range roleNames {
		or, nr := o.Roles[name], n.Roles[name]
		field := "roles." + name
		switch {
		case or == nil:
			d.add("roles", fmt.Sprintf("%s (threshold %d)", name, nr.Threshold), "")
			d.keyIDs(field+".keyids", nil, nr.KeyIDs, o.Keys, n.Keys)
			d.unrecognized(field, nil, nr.UnrecognizedFields)
		case nr == nil:
			d.remove("roles", fmt.Sprintf("%s (threshold %d)", name, or.Threshold), "")
			d.keyIDs(field+".keyids", or.KeyIDs, nil, o.Keys, n.Keys)
			d.unrecognized(field, or.UnrecognizedFields, nil)
		default:
			if or.Threshold != nr.Threshold {
				d.change(field+".threshold", strconv.Itoa(or.Threshold), strconv.Itoa(nr.Threshold), "")
			}
			d.keyIDs(field+".keyids", or.KeyIDs, nr.KeyIDs, o.Keys, n.Keys)
			d.unrecognized(field, or.UnrecognizedFields, nr.UnrecognizedFields)
		}
	}
	d.unrecognized("", o.UnrecognizedFields, n.UnrecognizedFields)
	return d.changes
}

// DiffTargets lists what changes from one targets metadata to the next,
// in a fixed order: version, spec_version, expires, targets (by path),
// delegations, then unrecognized fields. from may be nil (the first
// version): everything in to is then added.
func DiffTargets(from, to *metadata.Metadata[metadata.TargetsType], names Names) []Change {
	d, o, n := targetsDiffer(from, to, names, nil)
	for _, path := range diffUnion(o.Targets, n.Targets) {
		d.target(path, o.Targets[path], n.Targets[path])
	}
	d.delegations(o.Delegations, n.Delegations)
	d.unrecognized("", o.UnrecognizedFields, n.UnrecognizedFields)
	return d.changes
}

// targetsDiffer begins the diff of two targets with their headers, and
// returns their signed parts (an empty one for a nil from). emit, when
// not nil, gets the changes instead of the differ's list.
func targetsDiffer(from, to *metadata.Metadata[metadata.TargetsType], names Names, emit func(Change)) (d *differ, o, n *metadata.TargetsType) {
	d = newDiffer(names)
	d.emit = emit
	o = &metadata.TargetsType{}
	if from != nil {
		o = &from.Signed
	}
	n = &to.Signed
	d.header(from == nil, diffHeader{o.Version, o.SpecVersion, o.Expires}, diffHeader{n.Version, n.SpecVersion, n.Expires})
	return d, o, n
}

// target lists what changes in one target (nil: absent).
func (d *differ) target(path string, ot, nt *metadata.TargetFiles) {
	field := "targets." + path
	switch {
	case ot == nil && nt == nil:
	case ot == nil:
		d.add("targets", diffTargetDesc(path, nt), "")
	case nt == nil:
		d.remove("targets", diffTargetDesc(path, ot), "")
	default:
		if ot.Length != nt.Length {
			d.change(field+".length", strconv.FormatInt(ot.Length, 10), strconv.FormatInt(nt.Length, 10), "")
		}
		for _, alg := range diffUnion(ot.Hashes, nt.Hashes) {
			oh, inOld := ot.Hashes[alg]
			nh, inNew := nt.Hashes[alg]
			switch {
			case !inOld:
				d.add(field+".hashes."+alg, nh.String(), "")
			case !inNew:
				d.remove(field+".hashes."+alg, oh.String(), "")
			case !bytes.Equal(oh, nh):
				d.change(field+".hashes."+alg, oh.String(), nh.String(), "")
			}
		}
		d.value(field+".custom", diffCustom(ot.Custom), diffCustom(nt.Custom))
		d.unrecognized(field, ot.UnrecognizedFields, nt.UnrecognizedFields)
	}
}

// diffTargetsFiles is DiffTargets over two files without go-tuf's tree of
// every target, which costs about ten times a large file's size: go-tuf
// parses each file with its targets left out, and only the targets whose
// bytes differ are decoded (by go-tuf, one at a time). ok is false when a
// file cannot be split so; DiffFiles then lets go-tuf say what is wrong.
func diffTargetsFiles(oldJSON, newJSON []byte, names Names, emit func(Change)) (ok bool, err error) {
	oldRest, oldTargets, ok := splitTargets(oldJSON)
	if !ok {
		return false, nil
	}
	newRest, newTargets, ok := splitTargets(newJSON)
	if !ok {
		return false, nil
	}
	from, to, err := diffParse[metadata.TargetsType](oldRest, newRest)
	if err != nil {
		return true, err
	}
	d, o, n := targetsDiffer(from, to, names, emit)
	decode := func(which string, raw rawSpan) (*metadata.TargetFiles, error) {
		if raw == nil {
			return nil, nil
		}
		var t metadata.TargetFiles
		if err := json.Unmarshal(raw, &t); err != nil {
			return nil, &DiffInputError{Which: which, Err: fmt.Errorf("%w: %w", ErrInvalidMetadata, err)}
		}
		return &t, nil
	}
	// A null target is refused, wherever it is: go-tuf's clients crash on
	// it, and in both files it would not show as a change.
	for _, side := range []struct {
		which   string
		targets map[string]rawSpan
	}{{"old", oldTargets}, {"new", newTargets}} {
		for _, path := range slices.Sorted(maps.Keys(side.targets)) {
			if bytes.Equal(side.targets[path], []byte("null")) {
				return true, &DiffInputError{Which: side.which, Err: fmt.Errorf("%w: target %s is null", ErrInvalidMetadata, diffSafe(path))}
			}
		}
	}
	for _, path := range diffUnion(oldTargets, newTargets) {
		ro, rn := oldTargets[path], newTargets[path]
		if ro != nil && rn != nil && bytes.Equal(ro, rn) {
			continue // the same bytes: the same target
		}
		ot, err := decode("old", ro)
		if err != nil {
			return true, err
		}
		nt, err := decode("new", rn)
		if err != nil {
			return true, err
		}
		d.target(path, ot, nt)
	}
	d.delegations(o.Delegations, n.Delegations)
	d.unrecognized("", o.UnrecognizedFields, n.UnrecognizedFields)
	return true, nil
}

// FormatChanges writes one change per line:
//
//	~ roles.root.threshold: 2 → 3
//	+ keys: 3f1a…c2d9 ecdsa-sha2-nistp256 (alice)
//	- roles.root.keyids: 77be…0d41 (bob)
//
// or "no differences". Anything a person could be fooled by (a newline,
// a terminal escape, a right-to-left override) is shown quoted.
func FormatChanges(w io.Writer, changes []Change) {
	if len(changes) == 0 {
		fmt.Fprintln(w, "no differences")
		return
	}
	for _, c := range changes {
		fmt.Fprintln(w, c.String())
	}
}

// FormatReviewChanges writes a review's changes as FormatChanges does, each
// as it is produced (the review of a large targets file holds none), and
// "no differences" only when none came.
func FormatReviewChanges(w io.Writer, r Review) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	n := 0
	err := r.EachChange(func(c Change) {
		n++
		fmt.Fprintln(bw, c.String())
	})
	if err == nil && n == 0 {
		FormatChanges(bw, nil)
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// String is the change as FormatChanges writes it.
func (c Change) String() string {
	var s string
	switch c.Kind {
	case ChangeAdded:
		s = "+ " + diffSafe(c.Field) + ": " + diffSafe(c.New)
	case ChangeRemoved:
		s = "- " + diffSafe(c.Field) + ": " + diffSafe(c.Old)
	case ChangeChanged:
		s = "~ " + diffSafe(c.Field) + ": " + diffSafe(c.Old) + " → " + diffSafe(c.New)
	default:
		s = "? " + diffSafe(c.Field) + ": " + diffSafe(c.Old) + " → " + diffSafe(c.New)
	}
	if c.Note != "" {
		s += " (" + diffSafe(c.Note) + ")"
	}
	return s
}

// diffSafe quotes s when it holds anything but printable characters and
// plain spaces, so that metadata cannot draw on the review screen.
func diffSafe(s string) string {
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// differ collects changes in the order they are found.
type differ struct {
	names   Names
	changes []Change
	emit    func(Change) // when set, changes go here instead
}

func newDiffer(names Names) *differ {
	if names == nil {
		names = func(string) string { return "" }
	}
	return &differ{names: names}
}

func (d *differ) record(c Change) {
	if d.emit != nil {
		d.emit(c)
		return
	}
	d.changes = append(d.changes, c)
}

func (d *differ) add(field, v, note string) {
	d.record(Change{Kind: ChangeAdded, Field: field, New: v, Note: note})
}

func (d *differ) remove(field, v, note string) {
	d.record(Change{Kind: ChangeRemoved, Field: field, Old: v, Note: note})
}

func (d *differ) change(field, from, to, note string) {
	d.record(Change{Kind: ChangeChanged, Field: field, Old: from, New: to, Note: note})
}

// value records an optional value: "" means absent.
func (d *differ) value(field, from, to string) {
	switch {
	case from == to:
	case from == "":
		d.add(field, to, "")
	case to == "":
		d.remove(field, from, "")
	default:
		d.change(field, from, to, "")
	}
}

// diffHeader is what every role's metadata has.
type diffHeader struct {
	version int64
	spec    string
	expires time.Time
}

func (d *differ) header(first bool, o, n diffHeader) {
	if first {
		d.add("version", strconv.FormatInt(n.version, 10), "")
		d.add("spec_version", n.spec, "")
		d.add("expires", diffTime(n.expires), "")
		return
	}
	if o.version != n.version {
		note := ""
		if n.version != o.version+1 {
			note = "not the next version"
		}
		d.change("version", strconv.FormatInt(o.version, 10), strconv.FormatInt(n.version, 10), note)
	}
	if o.spec != n.spec {
		d.change("spec_version", o.spec, n.spec, "")
	}
	if !o.expires.Equal(n.expires) {
		d.change("expires", diffTime(o.expires), diffTime(n.expires), diffDuration(n.expires.Sub(o.expires)))
	}
}

// keys compares a keys map: removed keys, added keys, then keys whose
// content changed under the same ID, each by key ID.
func (d *differ) keys(field string, from, to map[string]*metadata.Key) {
	ids := diffUnion(from, to)
	for _, id := range ids {
		if _, ok := to[id]; !ok {
			d.remove(field, d.keyDesc(id, from[id]), "")
			d.keyExtras(field, id, from[id], false)
		}
	}
	for _, id := range ids {
		if _, ok := from[id]; !ok {
			d.add(field, d.keyDesc(id, to[id]), "")
			d.keyExtras(field, id, to[id], true)
		}
	}
	for _, id := range ids {
		ok, nk := from[id], to[id]
		if ok == nil || nk == nil {
			continue
		}
		prefix := field + "." + id
		if ok.Type != nk.Type {
			d.change(prefix+".keytype", ok.Type, nk.Type, "")
		}
		if ok.Scheme != nk.Scheme {
			d.change(prefix+".scheme", ok.Scheme, nk.Scheme, "")
		}
		if ok.Value.PublicKey != nk.Value.PublicKey {
			d.change(prefix+".keyval.public", diffDigest(ok.Value.PublicKey), diffDigest(nk.Value.PublicKey), "same key ID, different public key")
		}
		d.unrecognized(prefix+".keyval", ok.Value.UnrecognizedFields, nk.Value.UnrecognizedFields)
		d.unrecognized(prefix, ok.UnrecognizedFields, nk.UnrecognizedFields)
	}
}

// keyExtras lists the fields TUF does not define of a key added or
// removed, except a keyowner already shown as its name.
func (d *differ) keyExtras(field, id string, k *metadata.Key, added bool) {
	if k == nil {
		return
	}
	fields := maps.Clone(k.UnrecognizedFields)
	if owner, ok := fields[KeyOwnerField].(string); ok && owner == d.name(id, k) {
		delete(fields, KeyOwnerField)
	}
	prefix := field + "." + id
	if added {
		d.unrecognized(prefix+".keyval", nil, k.Value.UnrecognizedFields)
		d.unrecognized(prefix, nil, fields)
	} else {
		d.unrecognized(prefix+".keyval", k.Value.UnrecognizedFields, nil)
		d.unrecognized(prefix, fields, nil)
	}
}

// keyIDs compares the key IDs of a role: removed then added, each in the
// order the role lists them; a change of order alone is reported too.
func (d *differ) keyIDs(field string, from, to []string, fromKeys, toKeys map[string]*metadata.Key) {
	changed := false
	for _, id := range from {
		if !slices.Contains(to, id) {
			d.remove(field, d.keyRef(id, fromKeys, toKeys), "")
			changed = true
		}
	}
	for _, id := range to {
		if !slices.Contains(from, id) {
			d.add(field, d.keyRef(id, toKeys, fromKeys), "")
			changed = true
		}
	}
	if !changed && !slices.Equal(from, to) {
		d.change(field, strings.Join(from, ", "), strings.Join(to, ", "), "order only")
	}
}

// keyDesc describes a key of a keys map: ID, algorithm and holder.
func (d *differ) keyDesc(id string, k *metadata.Key) string {
	s := id
	if k != nil {
		alg := k.Scheme
		if !strings.HasPrefix(k.Scheme, k.Type) {
			alg = k.Type + "/" + k.Scheme
		}
		s += " " + alg
	}
	if name := d.name(id, k); name != "" {
		s += " (" + name + ")"
	}
	return s
}

// keyRef names a key a role lists, looked up in keys, then in other.
func (d *differ) keyRef(id string, keys, other map[string]*metadata.Key) string {
	k := keys[id]
	if k == nil {
		k = other[id]
	}
	if name := d.name(id, k); name != "" {
		return id + " (" + name + ")"
	}
	if k == nil {
		return id + " (not in keys)"
	}
	return id
}

// name is the custodian of a key: from names, or else the key's
// x-tuf-on-ci-keyowner field.
func (d *differ) name(id string, k *metadata.Key) string {
	if n := d.names(id); n != "" {
		return n
	}
	if k != nil {
		if owner, ok := k.UnrecognizedFields[KeyOwnerField].(string); ok {
			return owner
		}
	}
	return ""
}

// unrecognized compares fields go-tuf does not know, by name. prefix is
// the object they belong to, "" for the signed object itself.
func (d *differ) unrecognized(prefix string, from, to map[string]any) {
	for _, name := range diffUnion(from, to) {
		field := name
		if prefix != "" {
			field = prefix + "." + name
		}
		ov, inOld := from[name]
		nv, inNew := to[name]
		switch {
		case !inOld:
			d.add(field, diffJSON(nv), "")
		case !inNew:
			d.remove(field, diffJSON(ov), "")
		case diffJSON(ov) != diffJSON(nv):
			d.change(field, diffJSON(ov), diffJSON(nv), "")
		}
	}
}

// delegations compares the delegations of targets metadata.
func (d *differ) delegations(from, to *metadata.Delegations) {
	if from == nil && to == nil {
		return
	}
	switch {
	case from == nil:
		d.add("delegations", diffDelegationsDesc(to), "")
		from = &metadata.Delegations{}
	case to == nil:
		d.remove("delegations", diffDelegationsDesc(from), "")
		to = &metadata.Delegations{}
	}
	d.keys("delegations.keys", from.Keys, to.Keys)

	// Roles: removed ones in the old order, then the new list in its order.
	byName := func(roles []metadata.DelegatedRole) map[string]*metadata.DelegatedRole {
		m := map[string]*metadata.DelegatedRole{}
		for i := range roles {
			m[roles[i].Name] = &roles[i]
		}
		return m
	}
	oldRoles, newRoles := byName(from.Roles), byName(to.Roles)
	for _, r := range from.Roles {
		if newRoles[r.Name] == nil {
			d.remove("delegations.roles", diffDelegatedRoleDesc(&r), "")
			d.delegatedRole("delegations.roles."+r.Name, &r, &metadata.DelegatedRole{}, from.Keys, to.Keys)
		}
	}
	for _, r := range to.Roles {
		or := oldRoles[r.Name]
		if or == nil {
			d.add("delegations.roles", diffDelegatedRoleDesc(&r), "")
			or = &metadata.DelegatedRole{Threshold: r.Threshold, Terminating: r.Terminating}
		}
		d.delegatedRole("delegations.roles."+r.Name, or, &r, from.Keys, to.Keys)
	}
	// The order of delegated roles is the order a client searches them.
	var oldOrder, newOrder []string
	for _, r := range from.Roles {
		if newRoles[r.Name] != nil {
			oldOrder = append(oldOrder, r.Name)
		}
	}
	for _, r := range to.Roles {
		if oldRoles[r.Name] != nil {
			newOrder = append(newOrder, r.Name)
		}
	}
	if !slices.Equal(oldOrder, newOrder) {
		d.change("delegations.roles", strings.Join(oldOrder, ", "), strings.Join(newOrder, ", "), "search order")
	}

	d.succinctRoles(from.SuccinctRoles, to.SuccinctRoles, from.Keys, to.Keys)
	d.unrecognized("delegations", from.UnrecognizedFields, to.UnrecognizedFields)
}

// delegatedRole compares one delegated role. A role being added or
// removed is compared with an empty one, so that its key IDs, paths and
// fields are listed.
func (d *differ) delegatedRole(field string, from, to *metadata.DelegatedRole, fromKeys, toKeys map[string]*metadata.Key) {
	if from.Name != "" && to.Name != "" {
		if from.Threshold != to.Threshold {
			d.change(field+".threshold", strconv.Itoa(from.Threshold), strconv.Itoa(to.Threshold), "")
		}
		if from.Terminating != to.Terminating {
			d.change(field+".terminating", strconv.FormatBool(from.Terminating), strconv.FormatBool(to.Terminating), "")
		}
	}
	d.keyIDs(field+".keyids", from.KeyIDs, to.KeyIDs, fromKeys, toKeys)
	d.list(field+".paths", from.Paths, to.Paths)
	d.list(field+".path_hash_prefixes", from.PathHashPrefixes, to.PathHashPrefixes)
	d.unrecognized(field, from.UnrecognizedFields, to.UnrecognizedFields)
}

// succinctRoles compares succinct hash bin delegations.
func (d *differ) succinctRoles(from, to *metadata.SuccinctRoles, fromKeys, toKeys map[string]*metadata.Key) {
	const field = "delegations.succinct_roles"
	switch {
	case from == nil && to == nil:
		return
	case from == nil:
		d.add(field, diffSuccinctDesc(to), "")
		from = &metadata.SuccinctRoles{}
	case to == nil:
		d.remove(field, diffSuccinctDesc(from), "")
		to = &metadata.SuccinctRoles{}
	default:
		if from.Threshold != to.Threshold {
			d.change(field+".threshold", strconv.Itoa(from.Threshold), strconv.Itoa(to.Threshold), "")
		}
		if from.BitLength != to.BitLength {
			d.change(field+".bit_length", strconv.Itoa(from.BitLength), strconv.Itoa(to.BitLength), "")
		}
		if from.NamePrefix != to.NamePrefix {
			d.change(field+".name_prefix", from.NamePrefix, to.NamePrefix, "")
		}
	}
	d.keyIDs(field+".keyids", from.KeyIDs, to.KeyIDs, fromKeys, toKeys)
	d.unrecognized(field, from.UnrecognizedFields, to.UnrecognizedFields)
}

// list compares a list whose order does not matter (paths, prefixes).
func (d *differ) list(field string, from, to []string) {
	for _, s := range from {
		if !slices.Contains(to, s) {
			d.remove(field, s, "")
		}
	}
	for _, s := range to {
		if !slices.Contains(from, s) {
			d.add(field, s, "")
		}
	}
}

func diffDelegationsDesc(dl *metadata.Delegations) string {
	if dl.SuccinctRoles != nil {
		return diffCount(int64(len(dl.Keys)), "key") + ", succinct roles"
	}
	return diffCount(int64(len(dl.Keys)), "key") + ", " + diffCount(int64(len(dl.Roles)), "role")
}

func diffDelegatedRoleDesc(r *metadata.DelegatedRole) string {
	s := fmt.Sprintf("%s (threshold %d", r.Name, r.Threshold)
	if r.Terminating {
		s += ", terminating"
	}
	return s + ")"
}

func diffSuccinctDesc(s *metadata.SuccinctRoles) string {
	return fmt.Sprintf("%s-* (bit_length %d, threshold %d)", s.NamePrefix, s.BitLength, s.Threshold)
}

// diffTargetDesc describes a target file: "app.tgz (1234 bytes, sha256:…)".
func diffTargetDesc(path string, t *metadata.TargetFiles) string {
	parts := []string{diffCount(t.Length, "byte")}
	for _, alg := range diffUnion(t.Hashes, nil) {
		parts = append(parts, alg+":"+t.Hashes[alg].String())
	}
	if c := diffCustom(t.Custom); c != "" {
		parts = append(parts, "custom "+c)
	}
	if len(t.UnrecognizedFields) > 0 {
		parts = append(parts, diffJSON(t.UnrecognizedFields))
	}
	return diffSafe(path) + " (" + strings.Join(parts, ", ") + ")"
}

// diffCustom is a target's custom field as compact JSON, "" when absent.
func diffCustom(raw *json.RawMessage) string {
	if raw == nil || len(*raw) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(*raw, &v); err != nil {
		return string(*raw)
	}
	return diffJSON(v)
}

// diffJSON is v as compact JSON with sorted object keys, so that equal
// values compare equal whatever their original layout.
func diffJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%v", v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// diffDigest stands for a public key too long to show: the start of its
// SHA-256.
func diffDigest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:8]) + "…"
}

func diffTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// diffDuration says how far expires moved: "365 days later",
// "1 day 12 hours earlier".
func diffDuration(d time.Duration) string {
	dir := "later"
	if d < 0 {
		d, dir = -d, "earlier"
	}
	var parts []string
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if n := d / u.d; n > 0 {
			parts = append(parts, diffCount(int64(n), u.name))
			d -= n * u.d
		}
	}
	if len(parts) == 0 {
		return "less than a second " + dir
	}
	return strings.Join(parts, " ") + " " + dir
}

// diffCount is "1 key", "2 keys".
func diffCount(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}

// diffUnion is the sorted union of the keys of two maps.
func diffUnion[V any](a, b map[string]V) []string {
	set := map[string]bool{}
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// diffRoleOrder orders root role names: the top-level roles as the spec
// lists them, then any others by name.
func diffRoleOrder(a, b []string) []string {
	set := map[string]bool{}
	for _, n := range append(a, b...) {
		set[n] = true
	}
	var out []string
	for _, n := range metadata.TOP_LEVEL_ROLE_NAMES {
		if set[n] {
			out = append(out, n)
			delete(set, n)
		}
	}
	return append(out, slices.Sorted(maps.Keys(set))...)
}
