package ceremony

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// RawRoot is a root file read without go-tuf, so that roots go-tuf v2
// cannot parse still verify: go-tuf v0.x wrote ECDSA keys as hex
// (keytype ecdsa-sha2-nistp256), and re-encoding a parsed root would
// change the signed bytes of roots whose expiry has fractional seconds.
type RawRoot struct {
	Env     *Envelope
	Payload []byte
	Signed  rawRootSigned
}

type rawRootSigned struct {
	Type               string              `json:"_type"`
	Version            int64               `json:"version"`
	SpecVersion        string              `json:"spec_version"`
	Expires            time.Time           `json:"expires"`
	ConsistentSnapshot bool                `json:"consistent_snapshot"`
	Keys               map[string]*RawKey  `json:"keys"`
	Roles              map[string]*rawRole `json:"roles"`
}

type rawRole struct {
	KeyIDs    []string `json:"keyids"`
	Threshold int      `json:"threshold"`
}

// RawKey is a TUF key as written, in any of the encodings seen in real
// repositories.
type RawKey struct {
	KeyType string `json:"keytype"`
	Scheme  string `json:"scheme"`
	KeyVal  struct {
		Public string `json:"public"`
	} `json:"keyval"`
	Owner string `json:"x-tuf-on-ci-keyowner"`

	raw    []byte     // the key as written
	parsed *parsedKey // decoded on first use
}

// UnmarshalJSON reads the key and keeps it as written, for
// keyIDAnomalies.
func (k *RawKey) UnmarshalJSON(data []byte) error {
	type fields RawKey
	if err := json.Unmarshal(data, (*fields)(k)); err != nil {
		return err
	}
	k.raw = bytes.Clone(data)
	return nil
}

// parsedKey is a RawKey decoded once: a root's keys are used for its own
// threshold and again for the next version's.
type parsedKey struct {
	pub crypto.PublicKey
	der []byte
	tuf *metadata.Key
	// check names the verification a signature by this key gets, in the
	// form of goTUFKey.check (the SHA-256 of the key's PKIX encoding, the
	// hash, PSS padding or not), so that a walk of go-tuf's rules over the
	// same payload takes the result instead of verifying it again.
	check string
	err   error
}

func (k *RawKey) parse() *parsedKey {
	if k.parsed == nil {
		p := &parsedKey{}
		p.pub, p.err = k.PublicKey()
		if p.err == nil {
			p.tuf, p.err = TUFKey(p.pub)
		}
		if p.err == nil {
			p.der, p.err = x509.MarshalPKIXPublicKey(p.pub)
		}
		if p.err == nil {
			p.check, p.err = verificationCheck(p.tuf, p.der)
		}
		k.parsed = p
	}
	return k.parsed
}

// rawKeyValue is what a RawKey's decoding depends on.
type rawKeyValue struct{ keyType, public string }

// shareParsedKeys gives d's keys the decodings already made of the same
// keys (keytype and public value: all a decoding depends on) in other
// roots of a chain, and adds its own to memo: a chain repeats most keys
// from root to root.
func (d *RawRoot) shareParsedKeys(memo map[rawKeyValue]*parsedKey) {
	for _, k := range d.Signed.Keys {
		m := rawKeyValue{k.KeyType, k.KeyVal.Public}
		if p, ok := memo[m]; ok {
			k.parsed = p
		} else {
			memo[m] = k.parse()
		}
	}
}

// verificationCheck is the check string (goTUFKey.check) of what
// verifySignature does with key: the hash of its scheme, and PSS padding
// (always with SHA-256) for RSA.
func verificationCheck(key *metadata.Key, der []byte) (string, error) {
	opts, err := SignatureOpts(key)
	if err != nil {
		return "", err
	}
	hash, pss := opts.HashFunc(), key.Type == metadata.KeyTypeRSASSA_PSS_SHA256
	if pss {
		hash = crypto.SHA256
	}
	return signatureCheck(der, hash, pss), nil
}

// ParseRawRoot reads a root file.
func ParseRawRoot(data []byte) (*RawRoot, error) {
	env, err := ParseEnvelope(data)
	if err != nil {
		return nil, err
	}
	r := &RawRoot{Env: env}
	if err := json.Unmarshal(env.Signed, &r.Signed); err != nil {
		return nil, fmt.Errorf("malformed root: %w", err)
	}
	if r.Signed.Type != metadata.ROOT {
		return nil, fmt.Errorf("_type is %q, not root", r.Signed.Type)
	}
	if err := checkSpecVersion(r.Signed.SpecVersion); err != nil {
		return nil, err
	}
	for id, k := range r.Signed.Keys {
		if k == nil {
			return nil, fmt.Errorf("key %s is null", shortID(id))
		}
	}
	for _, name := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if _, ok := r.Signed.Roles[name]; !ok {
			return nil, fmt.Errorf("root v%d has no %s role", r.Signed.Version, name)
		}
	}
	for name, role := range r.Signed.Roles {
		if role == nil || role.Threshold < 1 {
			return nil, fmt.Errorf("role %s has no threshold of at least 1", name)
		}
		for _, id := range role.KeyIDs {
			if _, ok := r.Signed.Keys[id]; !ok {
				return nil, fmt.Errorf("root v%d lists key %s for %s but does not define it", r.Signed.Version, shortID(id), name)
			}
		}
	}
	if r.Payload, err = env.Payload(); err != nil {
		return nil, err
	}
	return r, nil
}

// PublicKey decodes the key: PEM SubjectPublicKeyInfo, or hex for Ed25519
// and for the ECDSA keys of go-tuf v0.x (an uncompressed P-256 point).
func (k *RawKey) PublicKey() (crypto.PublicKey, error) {
	v := k.KeyVal.Public
	if block, _ := pem.Decode([]byte(v)); block != nil {
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		return pub, nil
	}
	raw, err := hex.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("public key is neither PEM nor hex")
	}
	switch k.KeyType {
	case metadata.KeyTypeEd25519:
		if len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("ed25519 key of %d bytes", len(raw))
		}
		return ed25519.PublicKey(raw), nil
	case metadata.KeyTypeECDSA_SHA2_P256_COMPAT, metadata.KeyTypeECDSA_SHA2_P256:
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	}
	return nil, fmt.Errorf("hex public key of type %q", k.KeyType)
}

// tufKey turns a raw key into a go-tuf key for SignatureOpts.
func (k *RawKey) verify(payload, sig []byte) error {
	p := k.parse()
	if p.err != nil {
		return p.err
	}
	if k.Scheme != p.tuf.Scheme {
		return fmt.Errorf("scheme %q does not fit a %s key", k.Scheme, p.tuf.Scheme)
	}
	return verifySignature(p.tuf, p.pub, payload, sig)
}

// ThresholdResult is how a role's threshold fared over a payload.
type ThresholdResult struct {
	Threshold int
	Valid     []string // key IDs whose signature verifies, one per distinct public key
	Invalid   []string // key IDs with a signature that does not verify
	Missing   []string // key IDs without a signature
	Duplicate []string // key IDs whose public key already counted under another ID
}

// Met reports whether enough distinct keys signed.
func (r ThresholdResult) Met() bool { return len(r.Valid) >= r.Threshold }

// CheckThreshold counts the valid signatures over payload by the keys of
// role in delegator. A public key listed under two key IDs counts once,
// and a key ID that signs twice counts once.
func (d *RawRoot) CheckThreshold(role string, payload []byte, sigs []metadata.Signature) (ThresholdResult, error) {
	return d.checkThreshold(role, payload, sigs, nil)
}

// checkThreshold is CheckThreshold with a memo of the signatures already
// verified over this payload (the key's check and the signature → valid),
// so that a root's signatures are verified once for the previous root's
// threshold, its own, and go-tuf's rules over the same payload. memo may
// be nil.
func (d *RawRoot) checkThreshold(role string, payload []byte, sigs []metadata.Signature, memo map[string]bool) (ThresholdResult, error) {
	r, ok := d.Signed.Roles[role]
	if !ok {
		return ThresholdResult{}, fmt.Errorf("root v%d has no %s role", d.Signed.Version, role)
	}
	res := ThresholdResult{Threshold: r.Threshold}
	seenID := map[string]bool{}
	seenKey := map[string]bool{}
	for _, id := range r.KeyIDs {
		if seenID[id] {
			continue
		}
		seenID[id] = true
		key, ok := d.Signed.Keys[id]
		if !ok {
			return res, fmt.Errorf("root v%d lists key %s for %s but does not define it", d.Signed.Version, shortID(id), role)
		}
		var sig []byte
		found := false
		for _, s := range sigs {
			if s.KeyID == id {
				sig, found = s.Signature, true
				break
			}
		}
		if !found {
			res.Missing = append(res.Missing, id)
			continue
		}
		p := key.parse()
		valid, known := false, false
		memoKey := ""
		if memo != nil && p.err == nil && key.Scheme == p.tuf.Scheme { // else verify refuses it unchecked
			memoKey = sharedCheckKey(p.check, sig)
			valid, known = memo[memoKey]
		}
		if !known {
			valid = key.verify(payload, sig) == nil
			if memoKey != "" {
				memo[memoKey] = valid
			}
		}
		if !valid {
			res.Invalid = append(res.Invalid, id)
			continue
		}
		der := p.der
		if seenKey[string(der)] {
			res.Duplicate = append(res.Duplicate, id)
			continue
		}
		seenKey[string(der)] = true
		res.Valid = append(res.Valid, id)
	}
	return res, nil
}

// KeyIDAnomalies lists the keys whose ID is not the SHA-256 of their
// canonical form, as computed by python-tuf (without extra fields) or by
// go-tuf (with them). Real repositories have such keys; clients look keys
// up by ID and never recompute it, so they are reported, not rejected.
func (d *RawRoot) KeyIDAnomalies() []string { return d.keyIDAnomalies(nil) }

// keyIDAnomalies is KeyIDAnomalies with a memo (key ID and key as written →
// anomalous) for a chain whose roots repeat the same keys. memo may be nil.
func (d *RawRoot) keyIDAnomalies(memo map[string]bool) []string {
	var out []string
	for id, key := range d.Signed.Keys {
		k := key.raw
		memoKey := id + "\x00" + string(k)
		if anomalous, ok := memo[memoKey]; ok {
			if anomalous {
				out = append(out, id)
			}
			continue
		}
		var full map[string]any
		if json.Unmarshal(k, &full) != nil {
			continue
		}
		bare := map[string]any{"keytype": full["keytype"], "scheme": full["scheme"], "keyval": full["keyval"]}
		anomalous := canonicalSHA256(full) != id && canonicalSHA256(bare) != id
		if memo != nil {
			memo[memoKey] = anomalous
		}
		if anomalous {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func canonicalSHA256(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	c, err := (&Envelope{Signed: b}).Payload()
	if err != nil {
		return ""
	}
	return sha256Hex(c)
}

// hasLegacyKeys reports whether the root holds ECDSA keys in go-tuf v0.x's
// hex encoding, which go-tuf v2 cannot read.
func (d *RawRoot) hasLegacyKeys() bool {
	for _, k := range d.Signed.Keys {
		if k.KeyType != metadata.KeyTypeEd25519 && !strings.HasPrefix(strings.TrimSpace(k.KeyVal.Public), "-----BEGIN") {
			return true
		}
	}
	return false
}
