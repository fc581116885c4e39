package ceremony

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// Review is what a custodian sees and confirms before a signature: what
// changes against the previous version and a fingerprint of the exact
// bytes, short enough to read aloud (invariant 4).
type Review struct {
	File        string // "staged/2.root.json"
	Role        string
	Version     int64
	Signer      string // "alice (3f1a9c02)"
	Under       []string
	Fingerprint Fingerprint
	// Changes counts the changes against the previous version, which
	// EachChange produces, in order, each time it is called: a targets
	// file of 100,000 entries has as many, and a review does not hold
	// them (the command line prints them as they come).
	Changes int
	each    func(emit func(Change)) error
}

// EachChange hands every change of the review to emit, in order.
func (r Review) EachChange(emit func(Change)) error {
	if r.each == nil {
		return nil
	}
	return r.each(emit)
}

// ChangeList is every change of the review at once, for a screen that
// scrolls through them.
func (r Review) ChangeList() ([]Change, error) {
	changes := make([]Change, 0, r.Changes)
	err := r.EachChange(func(c Change) { changes = append(changes, c) })
	return changes, err
}

// Errors of sign that callers branch on.
var (
	ErrNothingStaged = errors.New("nothing is staged for signing")
	ErrWrongToken    = errors.New("wrong token")
	ErrAlreadySigned = errors.New("already signed")
)

// SignOptions select what to sign.
type SignOptions struct {
	Role   string // only proposals of this role; "" for all
	Unlock UnlockOptions
}

// SignedFile is one signature placed by Sign.
type SignedFile struct {
	File        string   `json:"file"`
	Role        string   `json:"role"`
	Version     int64    `json:"version"`
	KeyID       string   `json:"keyid"`
	Custodian   string   `json:"custodian,omitempty"`
	Under       []string `json:"under"`
	Fingerprint string   `json:"sha256"`
}

// signTask is one key of the token signing one proposal.
type signTask struct {
	prop  *Proposal
	keyID string
	key   hsm.Key
	tuf   *metadata.Key
}

// Sign signs every staged proposal that needs a signature from a key on
// tok. Before any PIN is asked, the token's keys are matched against the
// key IDs the proposals expect, and a wrong token is named (invariant 2);
// each proposal is shown and confirmed before it is signed (invariant 4);
// each signature is verified as a TUF client would before it is written
// (invariant 5). All signatures are written in one transaction.
func Sign(ctx context.Context, ws *Workspace, tok hsm.Token, p Prompter, opts SignOptions) ([]SignedFile, error) {
	props, err := ws.Proposals()
	if err != nil {
		return nil, err
	}
	if opts.Role != "" {
		var kept []*Proposal
		for _, pr := range props {
			if pr.Role == opts.Role {
				kept = append(kept, pr)
			}
		}
		props = kept
	}
	if len(props) == 0 {
		if opts.Role != "" {
			return nil, fmt.Errorf("%w: no staged %s metadata", ErrNothingStaged, opts.Role)
		}
		return nil, ErrNothingStaged
	}
	names, err := ws.names(props)
	if err != nil {
		return nil, err
	}

	if err := signable(props, names, ws.now()); err != nil {
		return nil, err
	}
	onToken, err := tokenKeyIDs(ctx, tok)
	if err != nil {
		return nil, err
	}
	tasks, err := planSignatures(ws, tok, props, onToken, names)
	if err != nil {
		return nil, err
	}

	for _, t := range tasks {
		review, err := ws.review(t, names)
		if err != nil {
			return nil, err
		}
		ok, err := p.Review(ctx, review)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrAborted
		}
	}
	if err := Unlock(ctx, tok, p, opts.Unlock); err != nil {
		return nil, err
	}

	var done []SignedFile
	changed := map[string]*Proposal{}
	tx := ws.Begin()
	for _, t := range tasks {
		who := Who(names, t.keyID)
		p.Progress(fmt.Sprintf("signing %s with the key of %s", t.prop.Name, who))
		signer, err := tok.Signer(ctx, t.key)
		if err != nil {
			return nil, err
		}
		sig, err := SignPayload(signer, t.tuf, t.prop.Payload)
		if err != nil {
			return nil, fmt.Errorf("failed to sign %s with the key of %s: %w", t.prop.Name, who, err)
		}
		if err := VerifySignature(t.tuf, t.prop.Payload, sig); err != nil {
			return nil, fmt.Errorf("%w: %s by %s: %v", hsm.ErrBadSignature, t.prop.Name, who, err)
		}
		t.prop.Env.SetSignature(t.keyID, sig)
		changed[t.prop.Path] = t.prop
		sum := sha256.Sum256(t.prop.Payload)
		sf := SignedFile{
			File: t.prop.Path, Role: t.prop.Role, Version: t.prop.Version, KeyID: t.keyID,
			Custodian: names[t.keyID], Under: requirementsListing(t.prop, t.keyID), Fingerprint: hex.EncodeToString(sum[:]),
		}
		done = append(done, sf)
		tx.Record("signed", sf)
	}
	for rel, pr := range changed {
		// Signed and checked: the canonical bytes can go before the new
		// file is made, or a large targets file would be in memory three
		// times over. A collection now lets the new file take their place
		// rather than fresh memory (sign's peak: BENCHMARKS.md, 2d).
		pr.Payload = nil
		if len(pr.Raw) > largeFile {
			runtime.GC()
		}
		data, err := pr.Env.Marshal()
		if err != nil {
			return nil, err
		}
		tx.Expect(rel, pr.Raw)
		tx.Replace(rel, data)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("failed to write the signatures: %w", err)
	}
	return done, nil
}

// largeFile is the size above which sign returns memory to the heap
// before writing a new version: a targets file of some 25,000 entries.
const largeFile = 8 << 20

// ErrTampered is a staged file changed after someone signed it.
var ErrTampered = errors.New("changed after it was signed")

// signable refuses to add signatures to a proposal that was changed after
// someone signed it, or that has already expired: nobody should sign
// either.
func signable(props []*Proposal, names map[string]string, now time.Time) error {
	for _, p := range props {
		for _, t := range p.Tally() {
			if len(t.Invalid) > 0 {
				return fmt.Errorf("%s was %w: the signature of %s no longer verifies; nobody should sign it (discard it with tuf-ceremony discard and propose again, or restore it from another copy)",
					p.Path, ErrTampered, WhoList(names, t.Invalid))
			}
		}
		if !p.Header.Expires.After(now) {
			return fmt.Errorf("%s expired at %s; propose a new version instead", p.Path, p.Header.Expires.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// tokenKeyIDs maps the TUF key IDs of the keys on a token to the keys.
func tokenKeyIDs(ctx context.Context, tok hsm.Token) (map[string]hsm.Key, error) {
	keys, err := tok.Keys(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]hsm.Key{}
	for _, k := range keys {
		tk, err := TUFKey(k.Public)
		if err != nil {
			continue
		}
		id, err := KeyID(tk)
		if err != nil {
			return nil, err
		}
		out[id] = k
	}
	return out, nil
}

// planSignatures pairs the token's keys with the proposals that need
// them, or explains why there is nothing for this token to sign.
func planSignatures(ws *Workspace, tok hsm.Token, props []*Proposal, onToken map[string]hsm.Key, names map[string]string) ([]signTask, error) {
	var tasks []signTask
	var already []string
	for _, pr := range props {
		ids := make([]string, 0, len(onToken))
		for id := range onToken {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			tufKey := pr.KeyFor(id)
			if tufKey == nil {
				continue
			}
			if !pr.NeedsKey(id) {
				already = append(already, fmt.Sprintf("%s by %s", pr.Name, Who(names, id)))
				continue
			}
			tasks = append(tasks, signTask{prop: pr, keyID: id, key: onToken[id], tuf: tufKey})
		}
	}
	if len(tasks) > 0 {
		return tasks, nil
	}
	if len(already) > 0 {
		return nil, fmt.Errorf("%w: %s; nothing else staged needs this token", ErrAlreadySigned, strings.Join(already, ", "))
	}
	return nil, &WrongTokenError{Token: tok.Info(), Holder: tokenHolder(ws, tok, onToken, names), Expected: expectedSigners(ws, props, names)}
}

// WrongTokenError names the token presented and the ones expected.
type WrongTokenError struct {
	Token    hsm.TokenInfo
	Holder   string   // whose token it is, when known
	Expected []string // "bob (serial 1a2b…)"
}

func (e *WrongTokenError) Error() string {
	holder := ""
	if e.Holder != "" {
		holder = ", the token of " + e.Holder + ","
	}
	return fmt.Sprintf("%v: %s%s holds no key that a staged file needs; expected the token of %s",
		ErrWrongToken, e.Token, holder, strings.Join(e.Expected, " or "))
}

func (e *WrongTokenError) Unwrap() error { return ErrWrongToken }

// tokenHolder names the custodian of a token, from its keys or serial.
func tokenHolder(ws *Workspace, tok hsm.Token, onToken map[string]hsm.Key, names map[string]string) string {
	for id := range onToken {
		if n := names[id]; n != "" {
			return n
		}
	}
	info := tok.Info()
	for id, n := range names {
		rec, err := ws.ReadKeyRecord(id)
		if err == nil && rec.Token != nil && rec.Token.Serial == info.Serial && rec.Token.Backend == info.Backend {
			return n
		}
	}
	return ""
}

// expectedSigners lists who can still sign, with their token serials.
func expectedSigners(ws *Workspace, props []*Proposal, names map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, pr := range props {
		for _, t := range pr.Tally() {
			for _, id := range append(append([]string{}, t.Unsigned...), t.Invalid...) {
				if seen[id] {
					continue
				}
				seen[id] = true
				s := Who(names, id)
				if rec, err := ws.ReadKeyRecord(id); err == nil && rec.Token != nil {
					s += " on " + rec.Token.String()
				}
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		return []string{"nobody: every threshold is met"}
	}
	return out
}

// requirementsListing names the thresholds a key's signature counts for.
func requirementsListing(pr *Proposal, keyID string) []string {
	var out []string
	for _, r := range pr.Requirements {
		if _, ok := r.Keys[keyID]; ok {
			out = append(out, r.Name)
		}
	}
	return out
}

// review builds what the custodian confirms before signing.
func (w *Workspace) review(t signTask, names map[string]string) (Review, error) {
	prev, err := w.previousVersion(t.prop)
	if err != nil {
		return Review{}, err
	}
	// The diff runs once here, so that a file it cannot read is refused
	// before anything is shown, and again for each reading of the review.
	each := func(emit func(Change)) error {
		if err := EachChange(prev, t.prop.Raw, func(id string) string { return names[id] }, emit); err != nil {
			return fmt.Errorf("%s: %w", t.prop.Path, err)
		}
		return nil
	}
	count := 0
	if err := each(func(Change) { count++ }); err != nil {
		return Review{}, err
	}
	return Review{
		File:        t.prop.Path,
		Role:        t.prop.Role,
		Version:     t.prop.Version,
		Signer:      Who(names, t.keyID),
		Under:       requirementsListing(t.prop, t.keyID),
		Fingerprint: FingerprintOf(t.prop.Payload),
		Changes:     count,
		each:        each,
	}, nil
}

// previousVersion is the published version a proposal follows, or nil.
func (w *Workspace) previousVersion(pr *Proposal) ([]byte, error) {
	if pr.Version <= 1 {
		return nil, nil
	}
	data, err := w.ReadFile(path.Join(MetadataDir, VersionedName(pr.Role, pr.Version-1)))
	if err != nil {
		return nil, fmt.Errorf("%s follows version %d, which is not published: %w", pr.Path, pr.Version-1, err)
	}
	return data, nil
}
