package ceremony

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// TokenOpener opens the token a URI addresses and returns the PIN the URI
// carries, if any. The CLI and the TUI provide it.
type TokenOpener func(ctx context.Context, uri string) (hsm.Token, hsm.PIN, error)

// InitOptions are the inputs of a new repository's first ceremony.
type InitOptions struct {
	Plan      *Plan
	PlanBytes []byte // copied to the workspace as ceremony.yaml
	Open      TokenOpener
	// Preflight opens every token of the plan before generating any key,
	// so that a missing token fails the command before anything is made.
	// Non-interactive runs need it; on a terminal tokens come one by one.
	Preflight bool
	ForcePIN  bool
}

// InitResult is what init staged.
type InitResult struct {
	Keys   map[string][]*KeyRecord // by role
	Staged []string                // staged files
}

// ErrAlreadyInitialized is init on a workspace that has a root.
var ErrAlreadyInitialized = errors.New("workspace already holds a root")

// Init runs a new repository's first ceremony: it generates the keys the
// plan asks for on their tokens, adopts the others, and stages version 1 of
// root and targets for signing.
func Init(ctx context.Context, ws *Workspace, p Prompter, opts InitOptions) (*InitResult, error) {
	if err := ws.checkUninitialized(); err != nil {
		return nil, err
	}
	plan := opts.Plan
	if opts.Preflight {
		if err := preflight(ctx, plan, opts.Open); err != nil {
			return nil, err
		}
	}
	res := &InitResult{Keys: map[string][]*KeyRecord{}}
	tx := ws.Begin()
	created := map[string]bool{}
	for _, role := range plan.RoleNames() {
		for i, pk := range plan.Role(role).Keys {
			field := fmt.Sprintf("roles.%s.keys[%d]", role, i)
			rec, data, err := resolveKey(ctx, ws, p, plan, pk, role, opts)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
			if data != nil && !created[rec.KeyID] && !ws.fileExists(KeyRecordPath(rec.KeyID)) {
				tx.Create(KeyRecordPath(rec.KeyID), data)
				created[rec.KeyID] = true
			}
			res.Keys[role] = append(res.Keys[role], rec)
		}
	}

	now := ws.now().UTC().Truncate(time.Second)
	root, err := buildRoot(plan, res.Keys, now)
	if err != nil {
		return nil, err
	}
	targets := metadata.Targets(now.Add(time.Duration(plan.Role(metadata.TARGETS).Expires)))
	targets.Signed.SpecVersion = SpecVersion
	for _, md := range []struct {
		role   string
		signed any
	}{{metadata.ROOT, root.Signed}, {metadata.TARGETS, targets.Signed}} {
		env, err := MarshalSigned(md.signed)
		if err != nil {
			return nil, err
		}
		data, err := env.Marshal()
		if err != nil {
			return nil, err
		}
		rel := path.Join(StagedDir, VersionedName(md.role, 1))
		tx.Create(rel, data)
		res.Staged = append(res.Staged, rel)
	}
	if !ws.fileExists(PlanFile) {
		tx.Create(PlanFile, opts.PlanBytes)
	}
	sum := sha256.Sum256(opts.PlanBytes)
	tx.Record("init", map[string]any{
		"plan_sha256": hex.EncodeToString(sum[:]),
		"roles":       roleSummary(root),
		"staged":      res.Staged,
	})
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("failed to stage version 1: %w", err)
	}
	return res, nil
}

// checkUninitialized refuses a workspace that already has a root.
func (w *Workspace) checkUninitialized() error {
	for _, dir := range []string{MetadataDir, StagedDir} {
		names, err := w.List(dir)
		if err != nil {
			return err
		}
		for _, n := range names {
			if role, _, ok := ParseVersionedName(n); ok && role == metadata.ROOT {
				return fmt.Errorf("%w: %s/%s", ErrAlreadyInitialized, dir, n)
			}
		}
	}
	return nil
}

// preflight opens and closes every token of the plan.
func preflight(ctx context.Context, plan *Plan, open TokenOpener) error {
	for _, role := range plan.RoleNames() {
		for i, pk := range plan.Role(role).Keys {
			if pk.Kind() != KeyKindToken {
				continue
			}
			tok, _, err := open(ctx, pk.Token)
			if err != nil {
				return fmt.Errorf("roles.%s.keys[%d] (token of %s): %w", role, i, pk.Custodian, err)
			}
			tok.Close()
		}
	}
	return nil
}

// resolveKey generates, reads or imports the key a plan entry names. It
// returns the record and, for a key not yet in keys/, its encoding.
func resolveKey(ctx context.Context, ws *Workspace, p Prompter, plan *Plan, pk PlanKey, role string, opts InitOptions) (*KeyRecord, []byte, error) {
	switch pk.Kind() {
	case KeyKindKey:
		rec, err := ws.ReadKeyRecord(pk.Key)
		return rec, nil, err
	case KeyKindPublicKey:
		key := pk.OnlineKey() // read and checked by LoadPlan
		if key == nil {
			file := pk.PublicKey
			if !filepath.IsAbs(file) {
				file = filepath.Join(plan.Dir, file)
			}
			var err error
			if key, err = LoadPublicKey(file); err != nil {
				return nil, nil, err
			}
		}
		id, err := KeyID(key)
		if err != nil {
			return nil, nil, err
		}
		custodian := pk.Custodian
		if custodian == "" {
			custodian = "online " + role
		}
		rec := &KeyRecord{KeyID: id, Key: key, Kind: KindOnline, Custodian: custodian, CreatedAt: ws.now()}
		data, err := rec.Marshal()
		return rec, data, err
	}
	if err := p.Notice(ctx, fmt.Sprintf("insert the token of %s for a %s key (%s)", pk.Custodian, role, hsm.RedactURI(pk.Token))); err != nil {
		return nil, nil, err
	}
	tok, pin, err := opts.Open(ctx, pk.Token)
	if err != nil {
		return nil, nil, err
	}
	defer tok.Close()
	rec, err := Keygen(ctx, ws, tok, p, KeygenOptions{
		Custodian: pk.Custodian,
		Algorithm: pk.TokenAlgorithm(),
		Unlock:    UnlockOptions{PIN: pin, Force: opts.ForcePIN},
	})
	return rec, nil, err
}

// buildRoot makes root version 1 from the plan and its keys.
func buildRoot(plan *Plan, keys map[string][]*KeyRecord, now time.Time) (*metadata.Metadata[metadata.RootType], error) {
	root := metadata.Root(now.Add(time.Duration(plan.Role(metadata.ROOT).Expires)))
	root.Signed.SpecVersion = SpecVersion
	root.Signed.ConsistentSnapshot = true
	root.Signed.Keys = map[string]*metadata.Key{}
	for _, role := range plan.RoleNames() {
		r := &metadata.Role{Threshold: plan.Role(role).Threshold, KeyIDs: []string{}}
		for _, rec := range keys[role] {
			key := *rec.Key
			key.UnrecognizedFields = map[string]any{KeyOwnerField: rec.Custodian}
			root.Signed.Keys[rec.KeyID] = &key
			r.KeyIDs = append(r.KeyIDs, rec.KeyID)
		}
		root.Signed.Roles[role] = r
	}
	return root, nil
}

// roleSummary records who holds each role, for the transcript.
func roleSummary(root *metadata.Metadata[metadata.RootType]) map[string]any {
	out := map[string]any{}
	for name, r := range root.Signed.Roles {
		out[name] = map[string]any{"threshold": r.Threshold, "keyids": r.KeyIDs}
	}
	return out
}
