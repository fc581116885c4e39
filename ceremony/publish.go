package ceremony

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
)

// ErrNotPublishable is a publish refused because a rule a TUF client
// applies does not hold.
var ErrNotPublishable = errors.New("cannot publish")

// PublishError lists every reason a publish was refused.
type PublishError struct{ Problems []string }

func (e *PublishError) Error() string {
	if len(e.Problems) == 1 {
		return fmt.Sprintf("%v: %s", ErrNotPublishable, e.Problems[0])
	}
	return fmt.Sprintf("%v: %d problems:\n  %s", ErrNotPublishable, len(e.Problems), strings.Join(e.Problems, "\n  "))
}

func (e *PublishError) Unwrap() error { return ErrNotPublishable }

// PublishedFile is a file written to metadata/.
type PublishedFile struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

// Publish moves every staged proposal to metadata/ when, and only when,
// all of them pass the checks a TUF client makes (invariant 6): roots in
// sequence, each signed by the threshold of the previous root and of
// itself; targets signed by the threshold of the newest root's targets
// role; versions one above the published ones; types, spec versions and
// expiries sane as of now. Otherwise nothing is written and every problem
// is listed.
func Publish(ws *Workspace, now time.Time) ([]PublishedFile, error) {
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
	var problems []string
	for _, p := range props {
		problems = append(problems, p.signatureProblems(names)...)
		problems = append(problems, p.headerProblems(now)...)
	}
	if len(problems) == 0 {
		// Only once the signatures are in does go-tuf's own check say
		// anything new: versions, types, and how a client counts keys.
		problems = ws.chainProblems(props)
	}
	if len(problems) > 0 {
		return nil, &PublishError{Problems: problems}
	}

	tx := ws.Begin()
	var files []PublishedFile
	for _, p := range props {
		sum := sha256.Sum256(p.Raw)
		versioned := path.Join(MetadataDir, p.Name)
		tx.Create(versioned, p.Raw)
		tx.Replace(path.Join(MetadataDir, p.Role+".json"), p.Raw)
		tx.Expect(p.Path, p.Raw)
		tx.Remove(p.Path)
		files = append(files, PublishedFile{File: versioned, SHA256: hex.EncodeToString(sum[:])})
	}
	tx.Record("published", map[string]any{"files": files})
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("failed to publish: %w", err)
	}
	return files, nil
}

// signatureProblems says which thresholds are unmet, who can still sign,
// and which signatures do not verify.
func (p *Proposal) signatureProblems(names map[string]string) []string {
	var out []string
	label := fmt.Sprintf("%s v%d", p.Role, p.Version)
	for _, t := range p.Tally() {
		for _, id := range t.Invalid {
			out = append(out, fmt.Sprintf("%s: the signature of %s does not verify (was %s changed after it was signed?)", label, Who(names, id), p.Path))
		}
		if !t.Met() {
			prefix := label
			if strings.HasPrefix(t.Name, "previous") {
				prefix = label + ", " + t.Name
			}
			out = append(out, fmt.Sprintf("%s: %d of %d signatures; can still sign: %s",
				prefix, len(t.Signed), t.Threshold, WhoList(names, append(append([]string{}, t.Unsigned...), t.Invalid...))))
		}
	}
	return out
}

// headerProblems checks type, spec version and expiry.
func (p *Proposal) headerProblems(now time.Time) []string {
	var out []string
	label := fmt.Sprintf("%s v%d", p.Role, p.Version)
	if err := checkSpecVersion(p.Header.SpecVersion); err != nil {
		out = append(out, fmt.Sprintf("%s: %v", label, err))
	}
	if p.Role == metadata.ROOT {
		// Every role of the root, not only the root role the thresholds
		// are counted for, must be usable by a client.
		if _, err := ParseRawRoot(p.Raw); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", label, err))
		}
	}
	if !p.Header.Expires.After(now) {
		out = append(out, fmt.Sprintf("%s: expired at %s", label, p.Header.Expires.UTC().Format(time.RFC3339)))
	}
	return out
}

// chainProblems checks the proposals as a client would, with go-tuf's own
// trusted-metadata logic: root N+1 against root N, targets against the
// newest root, and versions one above the published ones.
func (w *Workspace) chainProblems(props []*Proposal) []string {
	var out []string
	roots, err := w.PublishedRoots()
	if err != nil {
		return []string{err.Error()}
	}
	var trusted *trustedmetadata.TrustedMetadata
	if len(roots) > 0 {
		data, err := w.ReadFile(path.Join(MetadataDir, VersionedName(metadata.ROOT, roots[len(roots)-1])))
		if err == nil {
			err = safeGoTUF(func() (err error) { trusted, err = trustedmetadata.New(data); return err })
		}
		if err != nil {
			return []string{fmt.Sprintf("published root v%d: %v", roots[len(roots)-1], err)}
		}
	}
	for _, p := range props {
		if p.Role != metadata.ROOT {
			continue
		}
		var err error
		if trusted == nil {
			if p.Version != 1 {
				out = append(out, fmt.Sprintf("root v%d: no root is published, so the first root must be version 1", p.Version))
				continue
			}
			err = safeGoTUF(func() (err error) { trusted, err = trustedmetadata.New(p.Raw); return err })
		} else {
			err = safeGoTUF(func() (err error) { _, err = trusted.UpdateRoot(p.Raw); return err })
		}
		if err != nil {
			out = append(out, fmt.Sprintf("root v%d: a TUF client would reject it: %v", p.Version, err))
			return out
		}
	}
	if problem := w.orphanedTargets(props, trusted); problem != "" {
		out = append(out, problem)
	}
	newestTargets, err := w.latestTargets()
	if err != nil {
		return append(out, err.Error())
	}
	for _, p := range props {
		if p.Role == metadata.ROOT {
			continue
		}
		published, err := w.versions(MetadataDir, p.Role)
		if err != nil {
			return append(out, err.Error())
		}
		want := int64(1)
		if len(published) > 0 {
			want = published[len(published)-1] + 1
		}
		if p.Version != want {
			out = append(out, fmt.Sprintf("%s v%d: the next version must be %d", p.Role, p.Version, want))
		}
		if trusted == nil {
			out = append(out, fmt.Sprintf("%s v%d: no root to verify it against", p.Role, p.Version))
			continue
		}
		var md *metadata.Metadata[metadata.TargetsType]
		if p.Role == metadata.TARGETS {
			// go-tuf's check, without its parse of the whole file.
			if md, err = checkTargetsAsGoTUF(trusted.Root, p.Raw, p.Payload); md != nil {
				newestTargets = md
			}
		} else if md, err = ParseTargets(p.Raw); err == nil {
			if newestTargets == nil {
				err = errors.New("no targets delegates to it")
			} else {
				err = safeGoTUF(func() error { return newestTargets.VerifyDelegate(p.Role, md) })
			}
		}
		if err != nil {
			out = append(out, fmt.Sprintf("%s v%d: a TUF client would reject it: %v", p.Role, p.Version, err))
		}
	}
	return append(out, w.orphanedDelegations(props, newestTargets)...)
}

// orphanedDelegations refuses a targets version under which a published
// delegated role that is not re-signed with it would stop verifying.
func (w *Workspace) orphanedDelegations(props []*Proposal, targets *metadata.Metadata[metadata.TargetsType]) []string {
	if targets == nil || targets.Signed.Delegations == nil {
		return nil
	}
	var out []string
	for _, r := range targets.Signed.Delegations.Roles {
		if slices.ContainsFunc(props, func(p *Proposal) bool { return p.Role == r.Name }) {
			continue
		}
		vs, err := w.versions(MetadataDir, r.Name)
		if err != nil || len(vs) == 0 {
			continue
		}
		data, err := w.ReadFile(path.Join(MetadataDir, VersionedName(r.Name, vs[len(vs)-1])))
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		md, err := ParseTargets(data)
		if err == nil {
			err = safeGoTUF(func() error { return targets.VerifyDelegate(r.Name, md) })
		}
		if err != nil {
			out = append(out, fmt.Sprintf("targets v%d changes the keys of %s: its published v%d would no longer verify (%v); stage %s v%d (propose targets --role %s) signed by its new keys and publish them together",
				targets.Signed.Version, r.Name, vs[len(vs)-1], err, r.Name, vs[len(vs)-1]+1, r.Name))
		}
	}
	return out
}

// orphanedTargets refuses a new root under which the published targets
// would no longer verify, unless a new targets version is published with
// it: clients would otherwise reject the repository.
func (w *Workspace) orphanedTargets(props []*Proposal, trusted *trustedmetadata.TrustedMetadata) string {
	newRoot := false
	for _, p := range props {
		switch p.Role {
		case metadata.TARGETS:
			return ""
		case metadata.ROOT:
			newRoot = true
		}
	}
	published, err := w.versions(MetadataDir, metadata.TARGETS)
	if !newRoot || trusted == nil || err != nil || len(published) == 0 {
		return ""
	}
	v := published[len(published)-1]
	data, err := w.ReadFile(path.Join(MetadataDir, VersionedName(metadata.TARGETS, v)))
	if err != nil {
		return err.Error()
	}
	env, err := ParseEnvelope(data)
	var payload []byte
	if err == nil {
		payload, err = env.Payload()
	}
	if err == nil {
		_, err = checkTargetsAsGoTUF(trusted.Root, data, payload)
	}
	if err != nil {
		return fmt.Sprintf("root v%d changes the targets keys: the published targets v%d would no longer verify (%v); stage targets v%d (tuf-ceremony propose targets), have the new targets keys sign it, and publish both together",
			trusted.Root.Signed.Version, v, err, v+1)
	}
	return ""
}
