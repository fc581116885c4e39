package ceremony

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// SpecVersion is the TUF specification version tuf-ceremony writes.
const SpecVersion = "1.0.31"

// KeyOwnerField is where tuf-on-ci repositories keep a key's custodian.
const KeyOwnerField = "x-tuf-on-ci-keyowner"

// MaxMetadataSize bounds a metadata file read from media.
const MaxMetadataSize = 64 << 20

// Envelope is a TUF metadata file kept as raw JSON: signatures are made
// over the canonical form of the signed bytes as they are, so fields this
// tool does not know survive signing unchanged.
type Envelope struct {
	Signed     json.RawMessage
	Signatures []metadata.Signature
	// extra holds top-level fields other than signed and signatures.
	extra map[string]json.RawMessage
}

// Header is what every metadata type has in common.
type Header struct {
	Type        string    `json:"_type"`
	Version     int64     `json:"version"`
	SpecVersion string    `json:"spec_version"`
	Expires     time.Time `json:"expires"`
}

// ParseEnvelope splits a metadata file into its signed part and its
// signatures. The envelope keeps slices of data (a large targets file is
// not copied): data must not change afterwards.
func ParseEnvelope(data []byte) (*Envelope, error) {
	if len(data) > MaxMetadataSize {
		return nil, fmt.Errorf("metadata of %d bytes exceeds the %d byte limit", len(data), MaxMetadataSize)
	}
	var top map[string]rawSpan
	// json.Unmarshal accepts exactly what the decoder below does, without
	// a second copy of the file; the decoder says what is wrong.
	if err := json.Unmarshal(data, &top); err != nil {
		var top map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&top); err != nil {
			return nil, fmt.Errorf("malformed JSON: %w", err)
		}
		if err := dec.Decode(new(json.RawMessage)); err != io.EOF {
			return nil, errors.New("malformed JSON: data after the metadata object")
		}
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	e := &Envelope{extra: map[string]json.RawMessage{}}
	for k, v := range top {
		switch k {
		case "signed":
			e.Signed = json.RawMessage(v)
		case "signatures":
			if err := json.Unmarshal(v, &e.Signatures); err != nil {
				return nil, fmt.Errorf("malformed signatures: %w", err)
			}
		default:
			e.extra[k] = json.RawMessage(v)
		}
	}
	if len(e.Signed) == 0 || e.Signed[0] != '{' {
		return nil, errors.New(`malformed metadata: no "signed" object`)
	}
	if e.Signatures == nil {
		return nil, errors.New(`malformed metadata: no "signatures" list`)
	}
	return e, nil
}

// rawSpan is a JSON value kept as the bytes of the input it was read
// from, not a copy: the envelope's signed part shares the file's memory.
type rawSpan []byte

func (r *rawSpan) UnmarshalJSON(b []byte) error {
	*r = b[:len(b):len(b)] // an append must not write into the file's bytes
	return nil
}

// checkSpecVersion accepts the TUF specification's major version 1 only.
func checkSpecVersion(v string) error {
	if major, _, _ := strings.Cut(v, "."); major != "1" {
		return fmt.Errorf("unsupported spec_version %q (major version 1 expected)", v)
	}
	return nil
}

// Marshal writes the envelope as indented JSON with a final newline. The
// signed bytes are re-indented, never re-encoded, so no value changes.
func (e *Envelope) Marshal() ([]byte, error) {
	sigs := e.Signatures
	if sigs == nil {
		sigs = []metadata.Signature{}
	}
	sigJSON, err := json.Marshal(sigs)
	if err != nil {
		return nil, err
	}
	// What json.MarshalIndent of the map {"signed", "signatures", extra…}
	// writes, byte for byte, but written field by field into one buffer:
	// MarshalIndent would hold three more copies of a large signed part.
	fields := map[string][]byte{"signatures": sigJSON, "signed": e.Signed}
	for k, v := range e.extra {
		fields[k] = v
	}
	keys := make([]string, 0, len(fields))
	size := 64
	for k, v := range fields {
		if !json.Valid(v) {
			return nil, fmt.Errorf("field %q is not valid JSON", k)
		}
		keys = append(keys, k)
		// A value already indented (a staged file read back) keeps its
		// size; a compact one grows by its indentation. Room for 25% on a
		// large indented file would be megabytes for nothing.
		slack := len(v) / 4
		if bytes.IndexByte(v, '\n') >= 0 {
			slack = len(v)/64 + 64
		}
		size += len(k) + len(v) + slack
	}
	sort.Strings(keys)
	out := make([]byte, 0, size)
	out = append(out, '{')
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, "\n  "...)
		name, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		out = append(out, name...)
		out = append(out, ": "...)
		out = appendIndented(out, fields[k])
	}
	return append(out, "\n}\n"...), nil
}

// appendIndented appends the valid JSON value src as json.MarshalIndent
// writes a json.RawMessage nested at depth 1 of an object with prefix ""
// and indent "  ": json.Indent of json.Compact with HTML escaping, byte for
// byte, in one pass and without json.Indent's scratch space (twice the
// input).
func appendIndented(dst, src []byte) []byte {
	const indent = "  "
	newline := func(dst []byte, depth int) []byte {
		dst = append(dst, '\n')
		for i := 0; i < depth; i++ {
			dst = append(dst, indent...)
		}
		return dst
	}
	depth := 1
	needIndent := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		if needIndent && c != '}' && c != ']' {
			needIndent = false
			depth++
			dst = newline(dst, depth)
		}
		switch c {
		case '"':
			dst = append(dst, '"')
			for i++; ; i++ {
				c := src[i]
				switch {
				case c == '\\':
					dst = append(dst, c, src[i+1])
					i++
					continue
				case c == '"':
					dst = append(dst, '"')
				case c == '<' || c == '>' || c == '&':
					dst = append(dst, `\u00`...)
					dst = append(dst, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xF])
					continue
				case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8:
					dst = append(dst, `\u202`...)
					dst = append(dst, "0123456789abcdef"[src[i+2]&0xF])
					i += 2
					continue
				default:
					dst = append(dst, c)
					continue
				}
				break
			}
		case '{', '[':
			needIndent = true // {} and [] stay on one line
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			dst = newline(dst, depth)
		case ':':
			dst = append(dst, c, ' ')
		case '}', ']':
			if needIndent {
				needIndent = false
			} else {
				depth--
				dst = newline(dst, depth)
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// Payload is the canonical JSON of the signed part: the bytes signed.
func (e *Envelope) Payload() ([]byte, error) {
	return canonicalJSON(e.Signed)
}

// Header decodes the common fields of the signed part.
func (e *Envelope) Header() (Header, error) {
	var h Header
	if err := json.Unmarshal(e.Signed, &h); err != nil {
		return h, fmt.Errorf("malformed signed part: %w", err)
	}
	return h, nil
}

// SignatureBy returns the signature of keyID, if any.
func (e *Envelope) SignatureBy(keyID string) ([]byte, bool) {
	for _, s := range e.Signatures {
		if s.KeyID == keyID {
			return s.Signature, true
		}
	}
	return nil, false
}

// SetSignature adds keyID's signature, replacing an earlier one by the
// same key: a key never signs twice.
func (e *Envelope) SetSignature(keyID string, sig []byte) {
	for i, s := range e.Signatures {
		if s.KeyID == keyID {
			e.Signatures[i].Signature = sig
			return
		}
	}
	e.Signatures = append(e.Signatures, metadata.Signature{KeyID: keyID, Signature: sig})
}

// MarshalSigned encodes a go-tuf signed struct into a new, unsigned
// envelope.
func MarshalSigned(signed any) (*Envelope, error) {
	raw, err := json.Marshal(signed)
	if err != nil {
		return nil, err
	}
	return &Envelope{Signed: raw, Signatures: []metadata.Signature{}, extra: map[string]json.RawMessage{}}, nil
}

// ParseRoot parses a root file with go-tuf.
func ParseRoot(data []byte) (*metadata.Metadata[metadata.RootType], error) {
	var md *metadata.Metadata[metadata.RootType]
	err := safeGoTUF(func() (err error) { md, err = metadata.Root().FromBytes(data); return err })
	if err != nil {
		return nil, fmt.Errorf("malformed root: %w", err)
	}
	return md, nil
}

// safeGoTUF runs a call into go-tuf and turns a panic into an error:
// go-tuf dereferences what hostile metadata can leave null (a target, a
// role), and a ceremony must refuse such a file, not crash on it.
func safeGoTUF(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("go-tuf cannot process it (%v)", r)
		}
	}()
	return f()
}

// ParseTargets parses a targets (or delegated targets) file with go-tuf.
func ParseTargets(data []byte) (*metadata.Metadata[metadata.TargetsType], error) {
	var md *metadata.Metadata[metadata.TargetsType]
	err := safeGoTUF(func() (err error) { md, err = metadata.Targets().FromBytes(data); return err })
	if err != nil {
		return nil, fmt.Errorf("malformed targets: %w", err)
	}
	return md, nil
}

// parseTargetsChecked checks a targets file as ParseTargets does, without
// keeping its targets: go-tuf parses the file with its targets left out,
// then each target on its own (go-tuf's parse of the whole decodes it all
// twice, once into a tree of interfaces: about 17 times a large file's
// size). Signed.Targets is empty.
//
// It also checks what ParseTargets does not: that go-tuf writes back what
// it parsed as the canonical form of the bytes, part by part. A go-tuf
// client verifies signatures over its own re-encoding of the file, so a
// value it writes otherwise (a hash in upper-case hex, say) fails every
// signature for it, though they verify over the bytes.
func parseTargetsChecked(data []byte) (*metadata.Metadata[metadata.TargetsType], error) {
	return parseTargetsApart(data, true)
}

// parseTargetsLean is parseTargetsChecked without the check of go-tuf's
// re-encoding: what go-tuf's parse accepts, for what needs a targets
// file's delegations and version only.
func parseTargetsLean(data []byte) (*metadata.Metadata[metadata.TargetsType], error) {
	return parseTargetsApart(data, false)
}

// parseTargetsApart parses data's targets one by one (over the cores),
// checking that go-tuf writes each back as its bytes say when reencoding
// is set, and the rest of the file as go-tuf does.
func parseTargetsApart(data []byte, reencoding bool) (*metadata.Metadata[metadata.TargetsType], error) {
	rest, targets, ok := splitTargets(data)
	if !ok {
		return ParseTargets(data) // go-tuf says what is wrong
	}
	md, err := ParseTargets(rest)
	if err != nil {
		return nil, err
	}
	if reencoding {
		env, err := ParseEnvelope(rest)
		if err != nil {
			return nil, fmt.Errorf("malformed targets: %w", err)
		}
		if err := reencodesAsWritten(env.Signed, md.Signed); err != nil {
			return nil, fmt.Errorf("its signed part (targets aside): %w", err)
		}
	}
	// The targets are checked in sorted order, so that the one named is
	// the first bad one whatever the map's order, cut in stretches over
	// the available cores.
	paths := slices.Sorted(maps.Keys(targets))
	parts := max(1, min(runtime.GOMAXPROCS(0), len(paths)/1024))
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, path := range paths[i*len(paths)/parts : (i+1)*len(paths)/parts] {
				if errs[i] = checkTarget(path, targets[path], reencoding); errs[i] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return md, nil
}

// checkTarget parses one target as go-tuf does and, with reencoding,
// checks that go-tuf writes it back as its bytes say.
func checkTarget(path string, raw []byte, reencoding bool) error {
	var t *metadata.TargetFiles
	err := safeGoTUF(func() error { return json.Unmarshal(raw, &t) })
	if err == nil && t == nil {
		err = errors.New("it is null")
	}
	if err != nil {
		return fmt.Errorf("malformed targets: target %s: %w", diffSafe(path), err)
	}
	if !reencoding {
		return nil
	}
	if err := reencodesAsWritten(raw, t); err != nil {
		return fmt.Errorf("target %s: %w", diffSafe(path), err)
	}
	return nil
}

// reencodesAsWritten fails unless go-tuf writes v, which it parsed from
// raw, back as raw's canonical form.
func reencodesAsWritten(raw []byte, v any) error {
	want, err := canonicalJSON(raw)
	if err != nil {
		return err
	}
	var enc []byte
	if err := safeGoTUF(func() (err error) { enc, err = json.Marshal(v); return err }); err != nil {
		return err
	}
	got, err := canonicalJSON(enc) // as cjson.EncodeCanonical(v), which go-tuf verifies over
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return errors.New("go-tuf writes it back otherwise than its bytes say (a go-tuf client checks signatures over what it writes, so none would verify)")
	}
	return nil
}

// splitTargets returns a targets file with "targets": {} in its signed
// part, and the targets apart (slices of data). An empty data gives an
// empty file and no targets.
func splitTargets(data []byte) (rest []byte, targets map[string]rawSpan, ok bool) {
	if len(data) == 0 {
		return nil, nil, true
	}
	var top, signed map[string]rawSpan
	if json.Unmarshal(data, &top) != nil || top["signed"] == nil || json.Unmarshal(top["signed"], &signed) != nil {
		return nil, nil, false
	}
	if raw, has := signed["targets"]; has && json.Unmarshal(raw, &targets) != nil {
		return nil, nil, false
	}
	restSigned := map[string]json.RawMessage{}
	for k, v := range signed {
		restSigned[k] = json.RawMessage(v)
	}
	if targets != nil {
		restSigned["targets"] = json.RawMessage("{}")
	}
	restTop := map[string]json.RawMessage{}
	for k, v := range top {
		restTop[k] = json.RawMessage(v)
	}
	var err error
	if restTop["signed"], err = json.Marshal(restSigned); err != nil {
		return nil, nil, false
	}
	if rest, err = json.Marshal(restTop); err != nil {
		return nil, nil, false
	}
	return rest, targets, true
}

// KeyID is the TUF key ID of key: the SHA-256 of the canonical JSON of its
// type, scheme and value. Fields such as x-tuf-on-ci-keyowner are left
// out, as python-tuf and tuf-on-ci do; go-tuf's Key.ID would include them.
func KeyID(key *metadata.Key) (string, error) {
	bare := &metadata.Key{Type: key.Type, Scheme: key.Scheme, Value: metadata.KeyVal{PublicKey: key.Value.PublicKey}}
	return bare.ID()
}

// KeyIDMatches reports whether id is the SHA-256 of key's canonical form,
// computed either without its extra fields (python-tuf, tuf-ceremony) or
// with them (go-tuf, tuf-on-ci), as real repositories do both.
func KeyIDMatches(key *metadata.Key, id string) bool {
	if bare, err := KeyID(key); err == nil && bare == id {
		return true
	}
	full, err := cjson.EncodeCanonical(key)
	return err == nil && sha256Hex(full) == id
}

// VerifySignature checks sig over payload with key, the way go-tuf's
// VerifyDelegate does (same verifiers, same hash per scheme).
func VerifySignature(key *metadata.Key, payload, sig []byte) error {
	pub, err := key.ToPublicKey()
	if err != nil {
		return fmt.Errorf("unusable public key: %w", err)
	}
	return verifySignature(key, pub, payload, sig)
}

// verifySignature is VerifySignature with key already decoded into pub.
func verifySignature(key *metadata.Key, pub crypto.PublicKey, payload, sig []byte) error {
	opts, err := SignatureOpts(key)
	if err != nil {
		return err
	}
	var v signature.Verifier
	if key.Type == metadata.KeyTypeRSASSA_PSS_SHA256 {
		rsaPub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return errors.New("rsa key type with a non-RSA public key")
		}
		v, err = signature.LoadRSAPSSVerifier(rsaPub, crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256})
	} else {
		v, err = signature.LoadVerifier(pub, opts.HashFunc())
	}
	if err != nil {
		return err
	}
	return v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload))
}

// Metadata file names: 3.root.json, 7.targets.json, 2.release.json.
var versionedName = regexp.MustCompile(`^([1-9][0-9]{0,18})\.(.+)\.json$`)

// VersionedName is the consistent-snapshot name of a role's version.
func VersionedName(role string, version int64) string {
	return strconv.FormatInt(version, 10) + "." + role + ".json"
}

// ParseVersionedName splits "3.root.json" into "root" and 3.
func ParseVersionedName(name string) (role string, version int64, ok bool) {
	m := versionedName.FindStringSubmatch(name)
	if m == nil {
		return "", 0, false
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return m[2], v, true
}

// ShortID abbreviates a key ID for people: the first 8 hex digits.
func ShortID(keyID string) string { return shortID(keyID) }

func shortID(keyID string) string {
	if len(keyID) > 8 {
		return keyID[:8]
	}
	return keyID
}
