package ceremony

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// A root chain is checked twice: by tuf-ceremony's own walk, which reads
// every key encoding seen in real repositories and reports per-root
// detail, and by go-tuf v2's client rules, replayed (gotufreplay.go), so
// that verify refuses what a go-tuf client refuses (invariant 7).
//
// Both walks check one step, a root against the one before it, from the
// same read of the file; a step needs only those two roots, so the chain
// is cut into segments that share their end roots, walked over the cores,
// and their findings are read in order: every step is checked exactly as
// one walk would, and the first refusal of each walk is the one one walk
// would meet. Where both walks verify a signature over the same payload
// bytes with the same key, hash and padding, the check is made once.

// chainSegment is what both walks made of versions[first..last]. The root
// at first is where a segment after the first starts: the segment before
// checks it.
type chainSegment struct {
	first    int           // its first index in versions
	own      *VerifyReport // the own walk's findings: Roots accepted, Notes, at most one problem
	legacy   []bool        // by accepted root: it holds go-tuf v0.x hex keys
	trusted  *RawRoot      // the newest root the own walk trusts here
	goTUF    *goTUFRoot    // the newest root go-tuf's rules trust here (nil: none)
	complete bool          // the own walk accepted every step
	// goTUFFailed is the index (in versions) of the first step go-tuf's
	// rules refuse, -1 for none; goTUFErr says why, in go-tuf's words.
	goTUFFailed int
	goTUFErr    error
	// firstSHA256 and lastSHA256 are the SHA-256 of the segment's end
	// files as read: segments that share a root must have read the same.
	firstSHA256, lastSHA256 string
}

// minChainSegment is the shortest stretch of a chain walked on its own
// core: shorter chains are not worth another goroutine.
const minChainSegment = 64

// walkChain checks the chain of versions in dir with both walks, in
// segments over the cores.
func walkChain(dir string, versions []int64) []*chainSegment {
	n := min(runtime.GOMAXPROCS(0), len(versions)/minChainSegment)
	n = max(n, 1)
	segments := make([]*chainSegment, n)
	var wg sync.WaitGroup
	for s := range n {
		first := s * (len(versions) - 1) / n
		last := (s + 1) * (len(versions) - 1) / n
		wg.Add(1)
		go func() {
			defer wg.Done()
			segments[s] = walkChainSegment(dir, versions, first, last)
		}()
	}
	wg.Wait()
	return segments
}

// walkChainSegment walks versions[first..last] (inclusive) with both
// walks. The own walk stops at its first refusal, go-tuf's rules at
// theirs.
func walkChainSegment(dir string, versions []int64, first, last int) *chainSegment {
	seg := &chainSegment{first: first, own: &VerifyReport{}, goTUFFailed: -1}
	anomalies := map[string]bool{}           // the own walk's memo of keyIDAnomalies
	keys := map[rawKeyValue]*parsedKey{}     // the own walk's decoded keys
	decoded := map[goTUFKeyValue]*goTUFKey{} // go-tuf's decoded keys
	var goTUFTrusted *goTUFRoot              // nil: not started, or refused
	var goTUFTrustedData []byte
	goTUFOn := true
	for i := first; i <= last; i++ {
		v := versions[i]
		name := VersionedName(metadata.ROOT, v)
		start := i == first && first > 0 // checked by the segment before
		data, err := readLimited(filepath.Join(dir, name))
		if err != nil {
			if !start {
				seg.own.problem("%s: %v", name, err)
			}
			return seg
		}
		sum := sha256Hex(data)
		if i == first {
			seg.firstSHA256 = sum
		}
		seg.lastSHA256 = sum

		// The own walk.
		next, err := ParseRawRoot(data)
		if err != nil || next.Signed.Version != v {
			if start {
				return seg
			}
			if err != nil {
				seg.own.problem("%s is rejected: %v", name, err)
			} else {
				seg.own.problem("%s holds version %d", name, next.Signed.Version)
			}
			if goTUFOn { // for go-tuf's words on it (tests)
				seg.goTUFStep(i, goTUFTrusted, goTUFTrustedData, data, decoded, nil)
			}
			return seg
		}
		next.shareParsedKeys(keys)
		if start {
			seg.trusted = next
			goTUFTrusted, err = loadGoTUFRoot(data, decoded)
			goTUFOn, goTUFTrustedData = err == nil, data
			continue
		}
		checks := map[string]bool{} // signatures over next.Payload, checked once
		ok := seg.ownStep(name, v, next, checks, anomalies)
		if ok {
			seg.trusted = next
			seg.own.Roots = append(seg.own.Roots, FileSummary{File: name, Version: v, SHA256: sum, Expires: next.Signed.Expires})
			seg.legacy = append(seg.legacy, next.hasLegacyKeys())
		}

		// go-tuf's rules, on the same bytes.
		if goTUFOn {
			goTUFNext := seg.goTUFStep(i, goTUFTrusted, goTUFTrustedData, data, decoded, func(payload []byte) map[string]bool {
				if bytes.Equal(payload, next.Payload) {
					return checks
				}
				return nil
			})
			goTUFOn, goTUFTrusted, goTUFTrustedData = goTUFNext != nil, goTUFNext, data
		}
		if !ok {
			return seg
		}
	}
	seg.complete, seg.goTUF = true, goTUFTrusted
	return seg
}

// ownStep is the own walk's check of root v, next, against the root
// before it (seg.trusted; nil: next is the first trusted root): the next
// version, signed by the threshold of the one before and by its own.
func (seg *chainSegment) ownStep(name string, v int64, next *RawRoot, checks, anomalies map[string]bool) bool {
	rep, trusted := seg.own, seg.trusted
	if trusted == nil {
		rep.TrustedFrom = v
	} else {
		if v != trusted.Signed.Version+1 {
			rep.problem("root v%d is missing: the chain jumps from v%d to v%d", trusted.Signed.Version+1, trusted.Signed.Version, v)
			return false
		}
		if !rep.thresholdHolds(name, fmt.Sprintf("the threshold of root v%d", trusted.Signed.Version), trusted, next, checks) {
			return false
		}
	}
	if !rep.thresholdHolds(name, "its own threshold", next, next, checks) {
		return false
	}
	for _, id := range next.keyIDAnomalies(anomalies) {
		rep.note("%s: key ID %s is not the SHA-256 of its key (clients look keys up by ID, so this is reported, not rejected)", name, shortID(id))
	}
	return true
}

// goTUFStep checks data, versions[i], by go-tuf's rules after trusted
// (nil: data is the first root, which must sign itself) and returns it as
// go-tuf read it, or nil, with the refusal recorded. shared, when not nil,
// gives the signature checks the own walk made over go-tuf's payload of
// data, if it made them over the same bytes.
func (seg *chainSegment) goTUFStep(i int, trusted *goTUFRoot, trustedData, data []byte, decoded map[goTUFKeyValue]*goTUFKey, shared func(payload []byte) map[string]bool) *goTUFRoot {
	next, err := loadGoTUFRoot(data, decoded)
	if err == nil && shared != nil {
		if payload, perr := next.signed.payloadBytes(); perr == nil {
			next.signed.shared = shared(payload)
		}
	}
	if err == nil && trusted == nil {
		err = next.delegates(next) // trustedmetadata.New: the first root signs itself
	} else if err == nil {
		err = goTUFUpdate(trusted, next)
	}
	if err != nil {
		seg.goTUFFailed, seg.goTUFErr = i, goTUFRefusal(err, func() error { return goTUFStep(trustedData, data) })
		return nil
	}
	return next
}

// walkRoots checks the chain of versions in dir with both walks and
// reports what one walk of each would: the own walk's findings up to its
// first refusal, then go-tuf's first refusal among the roots the own walk
// accepted (a note, not a problem, where that root holds go-tuf v0.x hex
// keys, which go-tuf v2 cannot read). It returns the newest root the own
// walk trusts, whether it accepted the whole chain, and, when go-tuf's
// rules accepted it too, the newest root as go-tuf read it.
func (rep *VerifyReport) walkRoots(dir string, versions []int64) (trusted *RawRoot, complete bool, goTUF *metadata.Metadata[metadata.RootType]) {
	return rep.readSegments(walkChain(dir, versions), versions)
}

// readSegments reads the segments' findings in order into rep.
func (rep *VerifyReport) readSegments(segments []*chainSegment, versions []int64) (trusted *RawRoot, complete bool, goTUF *metadata.Metadata[metadata.RootType]) {
	var legacy []bool
	goTUFFailed, goTUFErr := -1, error(nil)
	accepted := len(rep.Roots)
	complete = true
	for s, seg := range segments {
		if s > 0 && seg.firstSHA256 != segments[s-1].lastSHA256 {
			// Both segments read it: it changed in between.
			rep.problem("%s changed while it was being verified: verify again", VersionedName(metadata.ROOT, versions[seg.first]))
			return trusted, false, nil
		}
		if s == 0 {
			rep.TrustedFrom = seg.own.TrustedFrom
		}
		for _, n := range seg.own.Notes {
			rep.note("%s", n)
		}
		rep.Problems = append(rep.Problems, seg.own.Problems...)
		rep.Roots = append(rep.Roots, seg.own.Roots...)
		legacy = append(legacy, seg.legacy...)
		if goTUFFailed < 0 && seg.goTUFFailed >= 0 {
			goTUFFailed, goTUFErr = seg.goTUFFailed, seg.goTUFErr
		}
		trusted = seg.trusted
		if !seg.complete {
			complete = false
			break
		}
	}
	if goTUFFailed >= 0 && goTUFFailed < len(legacy) {
		name := rep.Roots[accepted+goTUFFailed].File
		if legacy[goTUFFailed] {
			rep.note("%s: go-tuf v2 cannot verify it (%v): it holds go-tuf v0.x hex keys; a go-tuf v2 client must start from a later trusted root", name, goTUFErr)
		} else {
			rep.problem("%s is rejected by go-tuf v2's client logic: %v", name, goTUFErr)
		}
	}
	if last := segments[len(segments)-1]; complete && goTUFFailed < 0 && last.goTUF != nil {
		goTUF = last.goTUF.md
	}
	return trusted, complete, goTUF
}
