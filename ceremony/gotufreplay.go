package ceremony

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
)

// go-tuf's verdict on a root chain, replayed.
//
// verify checks a chain with its own walk and, as a second opinion, with
// go-tuf v2's client rules (invariant 7). go-tuf's trusted-metadata loop
// costs four times the own walk: its VerifyDelegate re-encodes the whole
// root (json.Marshal, then cjson) for every key ID of the role, and it runs
// twice per version. The replay below applies the same rules to the same
// things (go-tuf's parse of the file, cjson's bytes of what it parsed,
// go-tuf's key decoding, sigstore's verifiers, the same threshold count by
// distinct public key) but makes each of those once: the payload once per
// root (written from the parsed fields, gotufpayload.go), each distinct
// key once per chain, each signature check once (and once for both walks
// where the own walk checked it over the same bytes, chainwalk.go). Where
// it refuses, go-tuf's own loop is run on that step for go-tuf's own
// words.
//
// It is tested against trustedmetadata itself (gotufreplay_test.go: the
// hostile corpus, the Sigstore root history, generated chains, a
// differential fuzz target) and pinned to the go-tuf release whose
// VerifyDelegate and UpdateRoot it mirrors: a go-tuf upgrade fails
// TestGoTUFReplayPinned until the replay is checked against the new code.
const replayedGoTUF = "v2.4.2"

// goTUFRoot is a root as go-tuf reads it, with what VerifyDelegate derives
// from it made once.
type goTUFRoot struct {
	md     *metadata.Metadata[metadata.RootType]
	keys   map[string]*goTUFKey // by key ID, decoded on first use
	signed *goTUFSigned         // its own signatures
	// decoded, shared by the roots of a chain (nil: none), holds the keys
	// already decoded, by what their decoding depends on: keytype, scheme
	// and public value. A chain repeats most keys from root to root.
	decoded map[goTUFKeyValue]*goTUFKey
}

// goTUFKeyValue is what go-tuf's decoding of a key depends on.
type goTUFKeyValue struct{ keyType, scheme, public string }

// goTUFSigned is a file's signatures as VerifyDelegate checks them: over
// the payload go-tuf makes of the file, each check made once.
type goTUFSigned struct {
	sigs    []metadata.Signature
	payload func() ([]byte, error)
	bytes   []byte // the payload, once made
	err     error
	checked map[string]bool // by key ID and key
	// shared (nil: none) holds the signature checks another walk made over
	// the same payload bytes, by the key's check and the signature: a
	// check is a function of those, whichever walk makes it.
	shared map[string]bool
}

func newGoTUFRoot(md *metadata.Metadata[metadata.RootType], decoded map[goTUFKeyValue]*goTUFKey) *goTUFRoot {
	return &goTUFRoot{md: md, keys: map[string]*goTUFKey{}, decoded: decoded, signed: &goTUFSigned{
		sigs:    md.Signatures,
		payload: func() ([]byte, error) { return goTUFRootPayload(&md.Signed) },
		checked: map[string]bool{},
	}}
}

// signatureCheck names the check a signature gets from a key: the SHA-256
// of its PKIX encoding, the hash, PSS padding or not. Both walks name
// their checks so, and share a check only under the same name.
func signatureCheck(der []byte, hash crypto.Hash, pss bool) string {
	return fmt.Sprintf("%s %d %t", sha256Hex(der), hash, pss)
}

// sharedCheckKey is the key of a signature check in a memo shared by the
// walks: the check's name (no NUL in it) and the signature.
func sharedCheckKey(check string, sig []byte) string {
	return check + "\x00" + string(sig)
}

// goTUFKey is one of a root's keys decoded as VerifyDelegate decodes it.
type goTUFKey struct {
	verifier signature.Verifier
	// check names the check a signature gets from this key: its
	// fingerprint (the SHA-256 of its PKIX encoding, by which go-tuf counts
	// distinct signers) and what picks the hash and the padding.
	fingerprint, check string
	err                error
}

// loadGoTUFRoot parses data as go-tuf's trusted-metadata loop does before
// it checks any signature. decoded is the chain's memo of decoded keys
// (may be nil).
func loadGoTUFRoot(data []byte, decoded map[goTUFKeyValue]*goTUFKey) (*goTUFRoot, error) {
	var md *metadata.Metadata[metadata.RootType]
	if err := safeGoTUF(func() (err error) { md, err = metadata.Root().FromBytes(data); return err }); err != nil {
		return nil, err
	}
	if md.Signed.Type != metadata.ROOT {
		return nil, fmt.Errorf("expected %s, got %s", metadata.ROOT, md.Signed.Type)
	}
	return newGoTUFRoot(md, decoded), nil
}

// goTUFUpdate is UpdateRoot's rule: next is signed by the threshold of
// trusted's root role, is trusted's version + 1, and is signed by its own.
func goTUFUpdate(trusted, next *goTUFRoot) error {
	if err := trusted.delegates(next); err != nil {
		return err
	}
	if want := trusted.md.Signed.Version + 1; next.md.Signed.Version != want {
		return fmt.Errorf("bad version number, expected %d, got %d", want, next.md.Signed.Version)
	}
	return next.delegates(next)
}

// delegates is VerifyDelegate(root, signed).
func (r *goTUFRoot) delegates(signed *goTUFRoot) error {
	return r.delegatesRole(metadata.ROOT, signed.signed)
}

// delegatesRole is VerifyDelegate(role, signed): every key ID of r's role
// must name a key go-tuf can load, and the signatures over signed's payload
// that verify must come from at least threshold distinct public keys.
func (r *goTUFRoot) delegatesRole(name string, signed *goTUFSigned) error {
	return safeGoTUF(func() error {
		role, ok := r.md.Signed.Roles[name]
		if !ok || len(role.KeyIDs) == 0 {
			return fmt.Errorf("no delegation found for %s", name)
		}
		if role.Threshold < 1 {
			return fmt.Errorf("insufficient threshold (%d) configured for %s", role.Threshold, name)
		}
		signers := map[string]bool{}
		for _, id := range role.KeyIDs {
			key := r.key(id, name)
			if key.err != nil {
				return key.err
			}
			ok, err := signed.by(id, key)
			if err != nil {
				return err
			}
			if ok {
				signers[key.fingerprint] = true
			}
		}
		if len(signers) < role.Threshold {
			return fmt.Errorf("not enough signatures, got %d, want %d", len(signers), role.Threshold)
		}
		return nil
	})
}

// key decodes r's key id (listed for role) once.
func (r *goTUFRoot) key(id, role string) *goTUFKey {
	if k, ok := r.keys[id]; ok {
		return k
	}
	key, ok := r.md.Signed.Keys[id]
	if !ok {
		k := &goTUFKey{err: fmt.Errorf("key with ID %s not found in %s keyids", id, role)}
		r.keys[id] = k
		return k
	}
	var memo goTUFKeyValue
	if r.decoded != nil && key != nil {
		memo = goTUFKeyValue{key.Type, key.Scheme, key.Value.PublicKey}
		if k, ok := r.decoded[memo]; ok {
			r.keys[id] = k
			return k
		}
	}
	k := decodeGoTUFKey(key)
	r.keys[id] = k
	if r.decoded != nil && key != nil {
		r.decoded[memo] = k
	}
	return k
}

// decodeGoTUFKey decodes key as VerifyDelegate does: what it does depends
// on the keytype, the scheme and the public value only.
func decodeGoTUFKey(key *metadata.Key) *goTUFKey {
	k := &goTUFKey{}
	k.err = safeGoTUF(func() error {
		pub, err := key.ToPublicKey()
		if err != nil {
			return err
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return err
		}
		k.fingerprint = sha256Hex(der)
		// The hash: none for ed25519, SHA-384 for the P-384 scheme, SHA-256
		// otherwise; RSA keys of the PSS type get PSS padding.
		hash := crypto.Hash(0)
		if key.Type != metadata.KeyTypeEd25519 {
			hash = crypto.SHA256
			if key.Scheme == metadata.KeySchemeECDSA_SHA2_P384 {
				hash = crypto.SHA384
			}
		}
		pss := key.Type == metadata.KeyTypeRSASSA_PSS_SHA256
		k.check = signatureCheck(der, hash, pss)
		if !pss {
			k.verifier, err = signature.LoadVerifier(pub, hash)
			return err
		}
		rsaPub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return errors.New("failed to convert public key to RSA PSS key")
		}
		k.verifier, err = signature.LoadRSAPSSVerifier(rsaPub, hash, &rsa.PSSOptions{Hash: crypto.SHA256})
		return err
	})
	return k
}

// by reports whether s's signature under key ID id verifies with key over
// s's payload: the last signature listed under that ID (go-tuf's parse
// refuses a file with two), or none.
func (s *goTUFSigned) by(id string, key *goTUFKey) (bool, error) {
	if _, err := s.payloadBytes(); err != nil {
		return false, err
	}
	memo := id + "\x00" + key.check
	if ok, done := s.checked[memo]; done {
		return ok, nil
	}
	var sig []byte
	for _, g := range s.sigs {
		if g.KeyID == id {
			sig = g.Signature
		}
	}
	shared := sharedCheckKey(key.check, sig)
	ok, done := s.shared[shared]
	if !done {
		ok = key.verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(s.bytes)) == nil
		if s.shared != nil {
			s.shared[shared] = ok
		}
	}
	s.checked[memo] = ok
	return ok, nil
}

// payloadBytes is the payload, made once.
func (s *goTUFSigned) payloadBytes() ([]byte, error) {
	if s.bytes == nil && s.err == nil {
		s.bytes, s.err = s.payload()
	}
	return s.bytes, s.err
}

// goTUFStep runs go-tuf's own trusted-metadata loop on one step: trust
// prev (nil: data is the first root) and update to data. It gives go-tuf's
// own words for a refusal the replay found.
func goTUFStep(prev, data []byte) error {
	return safeGoTUF(func() error {
		if prev == nil {
			_, err := trustedmetadata.New(data)
			return err
		}
		tm, err := trustedmetadata.New(prev)
		if err != nil {
			return fmt.Errorf("go-tuf refuses the root before it: %w", err)
		}
		_, err = tm.UpdateRoot(data)
		return err
	})
}

// goTUFRefusal is the error reported for what the replay refused: go-tuf's
// own, from goTUF, which runs go-tuf itself on it, or, should go-tuf
// accept it, the replay's with that said (it stays refused: the replay is
// never looser than it means to be).
func goTUFRefusal(replayed error, goTUF func() error) error {
	if err := goTUF(); err != nil {
		return err
	}
	return fmt.Errorf("%w (the replay of go-tuf %s's rules refuses it, go-tuf itself accepts it: please report this)", replayed, replayedGoTUF)
}

// checkTargetsAsGoTUF is what a go-tuf client checks of a top-level
// targets file against the trusted root, VerifyDelegate(targets, file),
// without go-tuf's parse of the whole file (17 times a large file's size):
// parseTargetsChecked reads it as go-tuf does, target by target, and shows
// that go-tuf's re-encoding of it is the canonical form of its bytes,
// payload; the replayed rule then counts the signatures over payload. It
// returns the file as go-tuf parsed it, without its targets (nil when it
// cannot be read), and a refusal in go-tuf's own words. payload must be
// the canonical form of data's signed part (Envelope.Payload of data): it
// is taken, not made again, because a large file's is tens of megabytes.
func checkTargetsAsGoTUF(root *metadata.Metadata[metadata.RootType], data, payload []byte) (*metadata.Metadata[metadata.TargetsType], error) {
	md, err := parseTargetsChecked(data)
	if err != nil {
		return nil, err
	}
	return md, goTUFDelegatesTargets(root, md, data, payload, nil)
}

// goTUFDelegatesTargets is the rest of checkTargetsAsGoTUF, for a file
// already read by parseTargetsChecked into md: VerifyDelegate(targets)
// replayed over payload, with go-tuf's words for a refusal. shared (may be
// nil) holds the signature checks the own count made over the same
// payload.
func goTUFDelegatesTargets(root *metadata.Metadata[metadata.RootType], md *metadata.Metadata[metadata.TargetsType], data, payload []byte, shared map[string]bool) error {
	signed := &goTUFSigned{sigs: md.Signatures, payload: func() ([]byte, error) { return payload, nil }, checked: map[string]bool{}, shared: shared}
	if err := newGoTUFRoot(root, nil).delegatesRole(metadata.TARGETS, signed); err != nil {
		return goTUFRefusal(err, func() error {
			return safeGoTUF(func() error {
				full, err := ParseTargets(data)
				if err != nil {
					return err
				}
				return root.VerifyDelegate(metadata.TARGETS, full)
			})
		})
	}
	return nil
}
