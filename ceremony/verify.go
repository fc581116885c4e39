package ceremony

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// VerifyOptions modify Verify.
type VerifyOptions struct {
	// RootSHA256 pins the trusted root by the SHA-256 of its file; the
	// chain is walked from that version. Empty trusts 1.root.json.
	RootSHA256 string
	// At is the time expiries are judged at.
	At time.Time
	// AttestationRoots verify YubiKey attestations; nil means Yubico's.
	AttestationRoots *x509.CertPool
}

// VerifyReport is what verify found. Problems is empty when all holds.
type VerifyReport struct {
	Dir         string        `json:"dir"`
	Kind        string        `json:"kind"` // "workspace" or "directory"
	At          time.Time     `json:"at"`
	TrustedFrom int64         `json:"trusted_from"`
	Roots       []FileSummary `json:"roots"`
	Targets     *FileSummary  `json:"targets,omitempty"`
	Delegated   []FileSummary `json:"delegated,omitempty"`
	Roles       []RoleSummary `json:"roles"`
	Sums        string        `json:"sha256sums"` // "ok", "absent" or the problem
	Transcript  string        `json:"transcript"` // "N entries, chain intact, last …", "absent" or the problem
	Problems    []string      `json:"problems"`
	// Notes are facts worth knowing that are not problems: key ID
	// anomalies, roots that go-tuf v2 cannot read.
	Notes []string `json:"notes"`
}

// FileSummary is one verified metadata file.
type FileSummary struct {
	File    string    `json:"file"`
	Version int64     `json:"version"`
	SHA256  string    `json:"sha256"`
	Expires time.Time `json:"expires"`
}

// RoleSummary is one role of the newest root.
type RoleSummary struct {
	Role      string       `json:"role"`
	Threshold int          `json:"threshold"`
	Keys      []KeySummary `json:"keys"`
	Version   int64        `json:"version,omitempty"` // of the role's own metadata, when verified
	Expires   *time.Time   `json:"expires,omitempty"`
	DaysLeft  *int         `json:"days_left,omitempty"`
}

// KeySummary is a key of a role with what is known of its custodian and
// its origin.
type KeySummary struct {
	KeyID     string `json:"keyid"`
	Custodian string `json:"custodian,omitempty"`
	Scheme    string `json:"scheme"`
	Evidence  string `json:"evidence"`
}

// OK reports whether verify found no problem.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

func (r *VerifyReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Verify checks a published repository the way a TUF client would, from
// the first (or pinned) root through every version, then targets against
// the newest root, expiries as of opts.At, and, in a workspace, SHA256SUMS
// and the transcript's hash chain. dir is a workspace or a plain directory
// of N.root.json files. It reads only.
func Verify(dir string, opts VerifyOptions) (*VerifyReport, error) {
	if opts.At.IsZero() {
		opts.At = time.Now()
	}
	rep := &VerifyReport{Dir: dir, Kind: "directory", At: opts.At.UTC(), Sums: "absent", Transcript: "absent", Problems: []string{}, Notes: []string{}}
	rootDir, metaDir := dir, dir
	var ws *Workspace
	if st, err := os.Stat(filepath.Join(dir, TranscriptFile)); err == nil && st.Mode().IsRegular() {
		// Read only: an interrupted change is reported, not completed.
		w := &Workspace{Dir: filepath.Clean(dir)}
		if w.fileExists(journalFile) {
			rep.problem("an interrupted change is pending; run tuf-ceremony status --media %s to complete it, then verify again", dir)
		}
		ws, rep.Kind = w, "workspace"
		rootDir, metaDir = filepath.Join(dir, MetadataDir), filepath.Join(dir, MetadataDir)
	} else {
		rootDir, metaDir = sourceDirs(dir)
		if rootDir != metaDir {
			rep.Kind = "tuf-on-ci repository"
		}
	}

	rootFiles, err := readMetadataDir(rootDir)
	if err != nil {
		return nil, err
	}
	metaFiles, err := readMetadataDir(metaDir)
	if err != nil {
		return nil, err
	}
	trusted, goTUFRoot := rep.verifyRoots(rootDir, rootFiles, opts)
	if trusted != nil {
		rep.checkCurrentRoot(metaDir, metaFiles)
		rep.verifyTargets(metaDir, metaFiles, trusted, goTUFRoot, opts.At)
		rep.summarizeRoles(trusted, ws, opts)
	}
	if ws != nil {
		rep.Sums = "ok"
		if err := ws.VerifySums(); err != nil {
			rep.Sums = err.Error()
			rep.problem("%s", err)
		}
		rep.Transcript = transcriptSummary(ws, rep)
	}
	return rep, nil
}

// readMetadataDir lists the regular files of the metadata directory.
func readMetadataDir(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", dir, err)
	}
	files := map[string]bool{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			files[e.Name()] = true
		}
	}
	return files, nil
}

// fileSHA256 is the SHA-256 of a file, read piece by piece: a targets
// file can be tens of megabytes.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func readLimited(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxMetadataSize {
		return nil, fmt.Errorf("%s: %d bytes exceeds the %d byte limit", path, st.Size(), MaxMetadataSize)
	}
	return os.ReadFile(path)
}

// verifyRoots walks the root chain with tuf-ceremony's own checks, which
// read every key encoding seen in real repositories, and with go-tuf's
// client rules, replayed (chainwalk.go). It returns the newest trusted
// root and, when go-tuf's rules accepted the whole chain, that root as
// go-tuf read it.
func (rep *VerifyReport) verifyRoots(dir string, files map[string]bool, opts VerifyOptions) (*RawRoot, *metadata.Metadata[metadata.RootType]) {
	var versions []int64
	for name := range files {
		if role, v, ok := ParseVersionedName(name); ok && role == metadata.ROOT {
			versions = append(versions, v)
		}
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
	if len(versions) == 0 {
		rep.problem("no N.root.json in %s", dir)
		return nil, nil
	}
	start := 0
	if opts.RootSHA256 != "" {
		start = -1
		for i, v := range versions {
			data, err := readLimited(filepath.Join(dir, VersionedName(metadata.ROOT, v)))
			if err == nil && sha256Hex(data) == strings.ToLower(opts.RootSHA256) {
				start = i
			}
		}
		if start < 0 {
			rep.problem("no root file has the pinned SHA-256 %s", opts.RootSHA256)
			return nil, nil
		}
	} else if versions[0] != 1 {
		rep.problem("the chain starts at root v%d: 1.root.json is missing (or pin a root with --root-sha256)", versions[0])
		return nil, nil
	}
	trusted, complete, goTUF := rep.walkRoots(dir, versions[start:])
	if !complete {
		return trusted, nil
	}
	newest := trusted.Signed
	if !newest.Expires.After(opts.At) {
		rep.problem("the newest root, v%d, expired at %s", newest.Version, newest.Expires.UTC().Format(time.RFC3339))
	}
	return trusted, goTUF
}

// checkCurrentRoot checks that root.json, where present, is the newest
// verified root.
func (rep *VerifyReport) checkCurrentRoot(dir string, files map[string]bool) {
	if !files["root.json"] || len(rep.Roots) == 0 {
		return
	}
	newest := rep.Roots[len(rep.Roots)-1]
	data, err := readLimited(filepath.Join(dir, "root.json"))
	if err != nil || sha256Hex(data) != newest.SHA256 {
		rep.problem("root.json is not the newest root, %s", newest.File)
	}
}

// thresholdHolds checks that next is signed by the root threshold of
// delegator, and records the problem when not.
func (rep *VerifyReport) thresholdHolds(name, what string, delegator, next *RawRoot, verified map[string]bool) bool {
	res, err := delegator.checkThreshold(metadata.ROOT, next.Payload, next.Env.Signatures, verified)
	if err != nil {
		rep.problem("%s: %v", name, err)
		return false
	}
	rep.signatureNotes(name, res)
	if !res.Met() {
		rep.problem("%s is not signed by %s: %d of %d valid signatures", name, what, len(res.Valid), res.Threshold)
		return false
	}
	return true
}

// signatureNotes records signatures that do not count. Clients ignore
// them as long as the threshold is met, so they are notes, not problems.
func (rep *VerifyReport) signatureNotes(name string, res ThresholdResult) {
	for _, id := range res.Duplicate {
		rep.note("%s: key %s is the same public key as another key of the role; it counts once", name, shortID(id))
	}
	for _, id := range res.Invalid {
		rep.note("%s: the signature of key %s does not verify and does not count", name, shortID(id))
	}
}

func (rep *VerifyReport) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	for _, have := range rep.Notes {
		if have == n {
			return
		}
	}
	rep.Notes = append(rep.Notes, n)
}

// verifyTargets checks the newest targets against the newest root, by the
// own count and, where go-tuf's rules accepted the root chain, by go-tuf's
// VerifyDelegate, replayed (goTUFRoot: the newest root as go-tuf read it).
func (rep *VerifyReport) verifyTargets(dir string, files map[string]bool, trusted *RawRoot, goTUFRoot *metadata.Metadata[metadata.RootType], at time.Time) {
	var newest int64
	for name := range files {
		if role, v, ok := ParseVersionedName(name); ok && role == metadata.TARGETS && v > newest {
			newest = v
		}
	}
	name := VersionedName(metadata.TARGETS, newest)
	if newest == 0 {
		if !files["targets.json"] {
			return
		}
		name = "targets.json"
	}
	data, err := readLimited(filepath.Join(dir, name))
	if err != nil {
		rep.problem("%s: %v", name, err)
		return
	}
	md, err := parseTargetsChecked(data)
	if err == nil && md.Signed.Type != metadata.TARGETS {
		err = fmt.Errorf("_type is %q", md.Signed.Type)
	}
	if err == nil {
		err = checkSpecVersion(md.Signed.SpecVersion)
	}
	var env *Envelope
	var payload []byte
	if err == nil {
		if env, err = ParseEnvelope(data); err == nil {
			payload, err = env.Payload()
		}
	}
	if err != nil {
		rep.problem("%s is rejected: %v", name, err)
		return
	}
	checks := map[string]bool{} // signatures over payload, checked once for both counts
	res, err := trusted.checkThreshold(metadata.TARGETS, payload, env.Signatures, checks)
	if err != nil {
		rep.problem("%s: %v", name, err)
		return
	}
	rep.signatureNotes(name, res)
	if !res.Met() {
		rep.problem("%s is not signed by the targets threshold of root v%d: %d of %d valid signatures", name, trusted.Signed.Version, len(res.Valid), res.Threshold)
		return
	}
	// parseTargetsChecked showed go-tuf's payload of the file is payload.
	if goTUFRoot != nil {
		if err := goTUFDelegatesTargets(goTUFRoot, md, data, payload, checks); err != nil {
			rep.problem("%s is rejected by go-tuf v2's client logic: %v", name, err)
			return
		}
	}
	if newest != 0 && md.Signed.Version != newest {
		rep.problem("%s holds version %d", name, md.Signed.Version)
	}
	if !md.Signed.Expires.After(at) {
		rep.problem("targets v%d expired at %s", md.Signed.Version, md.Signed.Expires.UTC().Format(time.RFC3339))
	}
	if newest != 0 && files["targets.json"] {
		cur, err := fileSHA256(filepath.Join(dir, "targets.json"))
		if err != nil || cur != sha256Hex(data) {
			rep.problem("targets.json is not the newest targets, %s", name)
		}
	}
	rep.Targets = &FileSummary{File: name, Version: md.Signed.Version, SHA256: sha256Hex(data), Expires: md.Signed.Expires}
	rep.verifyDelegated(dir, files, md, at)
}

// verifyDelegated checks the newest metadata of each role targets
// delegates to.
func (rep *VerifyReport) verifyDelegated(dir string, files map[string]bool, targets *metadata.Metadata[metadata.TargetsType], at time.Time) {
	if targets.Signed.Delegations == nil {
		return
	}
	for _, r := range targets.Signed.Delegations.Roles {
		var newest int64
		for name := range files {
			if role, v, ok := ParseVersionedName(name); ok && role == r.Name && v > newest {
				newest = v
			}
		}
		if newest == 0 {
			rep.problem("targets delegates to %s, but there is no %s metadata", r.Name, r.Name)
			continue
		}
		name := VersionedName(r.Name, newest)
		data, err := readLimited(filepath.Join(dir, name))
		var md *metadata.Metadata[metadata.TargetsType]
		if err == nil {
			md, err = ParseTargets(data)
		}
		if err == nil && md.Signed.Version != newest {
			err = fmt.Errorf("it holds version %d", md.Signed.Version)
		}
		if err == nil && md.Signed.Type != metadata.TARGETS {
			err = fmt.Errorf("_type is %q", md.Signed.Type)
		}
		if err == nil {
			err = checkSpecVersion(md.Signed.SpecVersion)
		}
		if err == nil {
			err = safeGoTUF(func() error { return targets.VerifyDelegate(r.Name, md) })
		}
		if err != nil {
			rep.problem("%s is rejected: %v", name, err)
			continue
		}
		if !md.Signed.Expires.After(at) {
			rep.problem("%s v%d expired at %s", r.Name, md.Signed.Version, md.Signed.Expires.UTC().Format(time.RFC3339))
		}
		rep.Delegated = append(rep.Delegated, FileSummary{File: name, Version: md.Signed.Version, SHA256: sha256Hex(data), Expires: md.Signed.Expires})
	}
}

// summarizeRoles describes the newest root's roles and keys.
func (rep *VerifyReport) summarizeRoles(root *RawRoot, ws *Workspace, opts VerifyOptions) {
	at := opts.At
	names := map[string]string{}
	for id, k := range root.Signed.Keys {
		if k.Owner != "" {
			names[id] = k.Owner
		}
	}
	if ws != nil {
		if recs, err := ws.Custodians(); err == nil {
			for id, n := range recs {
				names[id] = n
			}
		}
	}
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		r, ok := root.Signed.Roles[role]
		if !ok {
			rep.problem("root v%d has no %s role", root.Signed.Version, role)
			continue
		}
		rs := RoleSummary{Role: role, Threshold: r.Threshold}
		for _, id := range r.KeyIDs {
			ks := KeySummary{KeyID: id, Custodian: names[id], Evidence: "no record"}
			if k, ok := root.Signed.Keys[id]; ok {
				ks.Scheme = k.Scheme
			}
			if ws != nil {
				var err error
				if ks.Evidence, err = keyEvidence(ws, id, opts.AttestationRoots); err != nil {
					rep.problem("the %s key %s of %s: %v", role, shortID(id), names[id], err)
				}
			}
			rs.Keys = append(rs.Keys, ks)
		}
		switch role {
		case metadata.ROOT:
			expires := root.Signed.Expires
			rs.Version, rs.Expires = root.Signed.Version, &expires
		case metadata.TARGETS:
			if rep.Targets != nil {
				rs.Version, rs.Expires = rep.Targets.Version, &rep.Targets.Expires
			}
		}
		if rs.Expires != nil {
			days := int(rs.Expires.Sub(at).Hours() / 24)
			rs.DaysLeft = &days
		}
		rep.Roles = append(rep.Roles, rs)
	}
}

// keyEvidence re-checks and summarizes keys/<keyid>.json for the verify
// table: whether the key is attested hardware, and under which policies.
// An error is evidence that does not hold.
func keyEvidence(ws *Workspace, keyID string, roots *x509.CertPool) (string, error) {
	rec, err := ws.ReadKeyRecord(keyID)
	if errors.Is(err, fs.ErrNotExist) {
		return "no record", nil
	}
	if err != nil {
		return "bad record", err
	}
	switch {
	case rec.Kind == KindOnline:
		return "online key (private half outside the ceremony)", nil
	case rec.Kind == KindImported:
		return "imported: no evidence recorded", nil
	case rec.Evidence == nil:
		return "no evidence", nil
	}
	pub, err := rec.Key.ToPublicKey()
	if err != nil {
		return "bad record", err
	}
	ev := *rec.Evidence
	if err := checkEvidence(&ev, pub, roots); err != nil {
		return "evidence does not hold", err
	}
	if a := ev.Attestation; a != nil {
		return fmt.Sprintf("attested YubiKey, serial %s, firmware %s, slot %s, PIN policy %s, touch policy %s", a.Serial, a.Firmware, a.Slot, a.PINPolicy, a.TouchPolicy), nil
	}
	return fmt.Sprintf("generated on %s, never extractable (PKCS#11 attributes)", rec.Token), nil
}

// transcriptSummary checks the transcript's chain.
func transcriptSummary(ws *Workspace, rep *VerifyReport) string {
	entries, err := ws.Transcript()
	if errors.Is(err, fs.ErrNotExist) {
		return "absent"
	}
	if err != nil {
		rep.problem("transcript: %v", err)
		return err.Error()
	}
	last, err := ws.ReadFile(TranscriptFile)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSuffix(string(last), "\n"), "\n")
	return fmt.Sprintf("%d entries, hash chain intact, last entry SHA-256 %s", len(entries), sha256Hex([]byte(lines[len(lines)-1])))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
