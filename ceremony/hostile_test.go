package ceremony

// Hostile metadata (issue 7, item 2; invariants 6 and 7): a corpus of
// repositories an attacker, a careless tool or a broken medium could hand
// to tuf-ceremony, in testdata/hostile/<case>/, each judged by Verify,
// Import, Publish and, where it applies, Merge, and by go-tuf v2's client.
// tuf-ceremony must reject every case, even where the client accepts it;
// where the two disagree the test says so in a table (t.Log and
// testdata/hostile/README.md).
//
// The committed files are what the test reads. To regenerate them (and the
// README) after changing a case:
//
//	go test ./ceremony -run TestHostileCorpus -update
//
// Keys are derived from fixed seeds and the randomness of ECDSA signatures
// is fixed while generating, so a regeneration changes only what a case
// change changes.

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/tuf-ceremony/tuf-ceremony/ceremony/tuftest"
)

func init() {
	// Other tests of the package may define -update too (golden files);
	// share it rather than panic on a redefinition.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "regenerate the corpora and golden files under testdata/")
	}
}

func hostileUpdating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

var (
	// hostileAt is the --at time every case is judged at.
	hostileAt = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// hostileExpires is the expiry of everything whose expiry is not the point.
	hostileExpires = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	// hostileExpired is in the past both at hostileAt and now, so go-tuf's
	// client, which judges at the current time, sees the same thing.
	hostileExpired = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
)

const (
	hostileCorpus    = "../testdata/hostile"
	hostileCaseFile  = "case.txt"
	hostileMergeOurs = "merge-ours.json" // our copy's proposal, when it is not the hostile file unsigned
	hostileHugeSize  = 70 << 20
	// hostileMemBound is what refusing a huge file may allocate.
	hostileMemBound = 8 << 20
)

// hostileKey is a test key derived from its name, so that key IDs stay the
// same across regenerations.
type hostileKey struct {
	name   string
	key    *metadata.Key
	id     string
	signer signature.Signer
	ec     *ecdsa.PrivateKey
}

func newHostileKey(t testing.TB, name string, useECDSA bool) *hostileKey {
	t.Helper()
	seed := sha256.Sum256([]byte("tuf-ceremony hostile corpus: " + name))
	k := &hostileKey{name: name}
	var pub crypto.PublicKey
	var err error
	if useECDSA {
		if k.ec, err = ecdsa.ParseRawPrivateKey(elliptic.P256(), seed[:]); err != nil {
			t.Fatal(err)
		}
		pub = &k.ec.PublicKey
		k.signer, err = signature.LoadECDSASigner(k.ec, crypto.SHA256)
	} else {
		priv := ed25519.NewKeyFromSeed(seed[:])
		pub = priv.Public()
		k.signer, err = signature.LoadED25519Signer(priv)
	}
	if err != nil {
		t.Fatal(err)
	}
	if k.key, err = metadata.KeyFromPublicKey(pub); err != nil {
		t.Fatal(err)
	}
	if k.id, err = k.key.ID(); err != nil {
		t.Fatal(err)
	}
	return k
}

// sign signs the canonical form of signed under the key's own ID.
func (k *hostileKey) sign(t testing.TB, signed []byte) metadata.Signature {
	return k.signAs(t, signed, k.id)
}

// signAs signs the canonical form of signed and files the signature under
// keyID, which need not be the key's.
func (k *hostileKey) signAs(t testing.TB, signed []byte, keyID string) metadata.Signature {
	t.Helper()
	payload, err := (&Envelope{Signed: signed}).Payload()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := k.signer.SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	return metadata.Signature{KeyID: keyID, Signature: sig}
}

// hostileKeys are every key of the corpus.
type hostileKeys struct {
	t                 testing.TB
	a, b, c           *hostileKey // root keys of every root v1: threshold 2
	d, e              *hostileKey // root keys a rotation brings in
	targets, targets2 *hostileKey
	online            *hostileKey // snapshot and timestamp (tuftest signs them)
	mallory, mallet   *hostileKey // keys no root knows
}

func newHostileKeys(t testing.TB) *hostileKeys {
	return &hostileKeys{
		t:        t,
		a:        newHostileKey(t, "root-a", false),
		b:        newHostileKey(t, "root-b", false),
		c:        newHostileKey(t, "root-c", true),
		d:        newHostileKey(t, "root-d", false),
		e:        newHostileKey(t, "root-e", true),
		targets:  newHostileKey(t, "targets", false),
		targets2: newHostileKey(t, "targets-2", true),
		online:   newHostileKey(t, "online", true),
		mallory:  newHostileKey(t, "mallory", false),
		mallet:   newHostileKey(t, "mallet", true),
	}
}

// root is the signed part of a root: root a, b, c (threshold 2), targets,
// snapshot and timestamp one key each, consistent snapshots, then edits.
func (k *hostileKeys) root(version int64, expires time.Time, edits ...func(r *metadata.RootType)) []byte {
	k.t.Helper()
	md := metadata.Root(expires)
	md.Signed.Version = version
	md.Signed.SpecVersion = SpecVersion
	add := func(x *hostileKey, role string) {
		if err := md.Signed.AddKey(x.key, role); err != nil {
			k.t.Fatal(err)
		}
	}
	add(k.a, metadata.ROOT)
	add(k.b, metadata.ROOT)
	add(k.c, metadata.ROOT)
	md.Signed.Roles[metadata.ROOT].Threshold = 2
	add(k.targets, metadata.TARGETS)
	add(k.online, metadata.SNAPSHOT)
	add(k.online, metadata.TIMESTAMP)
	for _, e := range edits {
		e(&md.Signed)
	}
	raw, err := json.Marshal(md.Signed)
	if err != nil {
		k.t.Fatal(err)
	}
	return raw
}

// targetsPart is the signed part of a targets with one target.
func (k *hostileKeys) targetsPart(version int64, expires time.Time) []byte {
	k.t.Helper()
	md := metadata.Targets(expires)
	md.Signed.Version = version
	md.Signed.SpecVersion = SpecVersion
	raw, err := json.Marshal(md.Signed)
	if err != nil {
		k.t.Fatal(err)
	}
	content := []byte("hello, TUF\n")
	sum := sha256.Sum256(content)
	return hostileEdit(k.t, raw, func(m map[string]any) {
		m["targets"] = map[string]any{"greetings/hello.txt": map[string]any{
			"length": len(content),
			"hashes": map[string]any{"sha256": hex.EncodeToString(sum[:])},
		}}
	})
}

// file is an envelope of signed with a signature by each key.
func (k *hostileKeys) file(signed []byte, by ...*hostileKey) []byte {
	k.t.Helper()
	var sigs []metadata.Signature
	for _, x := range by {
		sigs = append(sigs, x.sign(k.t, signed))
	}
	return hostileEnvelope(k.t, signed, sigs...)
}

// base is a sound repository: root v1 signed by a and b, targets v1 signed
// by the targets key.
func (k *hostileKeys) base() map[string][]byte {
	return map[string][]byte{
		"1.root.json":    k.file(k.root(1, hostileExpires), k.a, k.b),
		"1.targets.json": k.file(k.targetsPart(1, hostileExpires), k.targets),
	}
}

func hostileEnvelope(t testing.TB, signed []byte, sigs ...metadata.Signature) []byte {
	t.Helper()
	env := &Envelope{Signed: signed, Signatures: append([]metadata.Signature{}, sigs...), extra: map[string]json.RawMessage{}}
	data, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// hostileEdit changes a JSON object as a map; numbers keep their text.
func hostileEdit(t testing.TB, raw []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hostileSignedPart is the signed part of a metadata file.
func hostileSignedPart(t testing.TB, data []byte) []byte {
	t.Helper()
	env, err := ParseEnvelope(data)
	if err != nil {
		t.Fatal(err)
	}
	return env.Signed
}

func setRole(r *metadata.RootType, role string, threshold int, keys ...*metadata.Key) {
	r.Roles[role] = &metadata.Role{Threshold: threshold}
	for _, k := range keys {
		id, _ := k.ID()
		r.Roles[role].KeyIDs = append(r.Roles[role].KeyIDs, id)
		r.Keys[id] = k
	}
}

// hostileCase is one hostile repository and what each judge must say.
type hostileCase struct {
	name string
	// about is case.txt: what the case is and what a careful client must do.
	about string
	gen   func(k *hostileKeys) map[string][]byte
	// newest is the hostile file: publish stages it on top of the others
	// (published), merge finds it in another copy of the workspace.
	newest string
	// huge, when set, is the size of newest, written at test time (never
	// committed); refusing it must allocate at most hostileMemBound.
	huge int64
	// verify must appear in one of verify's problems (and in import's
	// refusal), verifyNote in one of its notes.
	verify, verifyNote string
	// publish must appear in publish's refusal.
	publish string
	// merge, when set, must appear in merge's refusal or in what it
	// skipped; no signature may be copied. Our copy holds merge-ours.json
	// when the case has one, else the hostile file without signatures.
	merge string
	// bug names a library bug this case exposes: where it is and the fix.
	bug string
}

func hostileCases() []hostileCase {
	return []hostileCase{
		{
			name: "rollback",
			about: `Root v2, then a 3.root.json that holds version 1 again: a fresh root v1,
validly signed by the root keys (which v1 and v2 share).
A careful client must check that root N+1 holds version N+1 and refuse the
rollback to version 1.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["2.root.json"] = k.file(k.root(2, hostileExpires), k.a, k.b)
				f["3.root.json"] = k.file(k.root(1, hostileExpires.AddDate(0, 6, 0)), k.a, k.b)
				return f
			},
			newest:  "3.root.json",
			verify:  "3.root.json holds version 1",
			publish: "staged/3.root.json: file name says version 3, content says 1",
		},
		{
			name: "replay-old-root",
			about: `Roots v1 to v3, then 4.root.json: the exact bytes of 2.root.json served
under a new name. Every signature on it is genuine.
A careful client must check the version inside the file, not the name, and
refuse the replay.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["2.root.json"] = k.file(k.root(2, hostileExpires.AddDate(0, 1, 0)), k.a, k.b)
				f["3.root.json"] = k.file(k.root(3, hostileExpires.AddDate(0, 2, 0)), k.a, k.b)
				f["4.root.json"] = bytes.Clone(f["2.root.json"])
				return f
			},
			newest:  "4.root.json",
			verify:  "4.root.json holds version 2",
			publish: "staged/4.root.json: file name says version 4, content says 2",
		},
		{
			name: "stale-root-json",
			about: `A sound chain v1 → v2 whose root.json, the file a new client is often
bootstrapped from, is the old 1.root.json.
A careful publisher must keep root.json equal to the newest N.root.json; a
verifier must refuse a repository whose root.json is older.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["2.root.json"] = k.file(k.root(2, hostileExpires), k.a, k.b)
				f["root.json"] = bytes.Clone(f["1.root.json"])
				return f
			},
			newest:  "root.json",
			verify:  "root.json is not the newest root, 2.root.json",
			publish: "staged/root.json: not a versioned metadata file name",
		},
		{
			name: "version-skip",
			about: `1.root.json, then 3.root.json: version 2 is missing. v3 is validly signed by
the root keys of v1.
A careful client must only ever step from root N to N+1; a verifier must
refuse the gap rather than stop quietly at v1.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["3.root.json"] = k.file(k.root(3, hostileExpires), k.a, k.b)
				return f
			},
			newest:  "3.root.json",
			verify:  "root v2 is missing: the chain jumps from v1 to v3",
			publish: "root v3 needs the published root v2",
		},
		{
			name: "freeze",
			about: `Root v2, correctly signed, expired on 2021-01-01 (judged at 2030-01-01).
A careful client must refuse an expired newest root (a freeze attack serves
stale metadata forever).`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["2.root.json"] = k.file(k.root(2, hostileExpired), k.a, k.b)
				return f
			},
			newest:  "2.root.json",
			verify:  "the newest root, v2, expired at 2021-01-01T00:00:00Z",
			publish: "root v2: expired at 2021-01-01T00:00:00Z",
		},
		{
			name: "old-threshold-unmet",
			about: `Root v2 replaces root keys b and c by d and e (threshold 2) and is signed
by a, d and e: its own threshold is met, root v1's (2 of a, b, c) is not.
A careful client must check root N+1 against the threshold of root N.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v2 := k.root(2, hostileExpires, func(r *metadata.RootType) {
					delete(r.Keys, k.b.id)
					delete(r.Keys, k.c.id)
					setRole(r, metadata.ROOT, 2, k.a.key, k.d.key, k.e.key)
				})
				f["2.root.json"] = k.file(v2, k.a, k.d, k.e)
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is not signed by the threshold of root v1: 1 of 2 valid signatures",
			publish: "root v2, previous root v1: 1 of 2 signatures",
		},
		{
			name: "new-threshold-unmet",
			about: `Root v2 asks for 3 of a, b and d and is signed by a and b: root v1's
threshold is met, its own is not.
A careful client must check root N+1 against its own threshold too.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v2 := k.root(2, hostileExpires, func(r *metadata.RootType) {
					delete(r.Keys, k.c.id)
					setRole(r, metadata.ROOT, 3, k.a.key, k.b.key, k.d.key)
				})
				f["2.root.json"] = k.file(v2, k.a, k.b)
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is not signed by its own threshold: 2 of 3 valid signatures",
			publish: "root v2: 2 of 3 signatures",
		},
		{
			name: "duplicate-signatures",
			about: `Root v2 carries key a's valid signature twice (same key ID) and no other:
threshold 2 is reached only if one key counts twice.
A careful client must count a key once (go-tuf refuses a file with two
signatures under one key ID outright).`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v2 := k.root(2, hostileExpires)
				sig := k.a.sign(k.t, v2)
				f["2.root.json"] = hostileEnvelope(k.t, v2, sig, sig)
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is not signed by the threshold of root v1: 1 of 2 valid signatures",
			publish: "multiple signatures found for key ID",
		},
		{
			name: "duplicate-signatures-extra",
			about: `Root v2 signed by a and b, with a's signature repeated: the threshold is
met, but the file has two signatures under one key ID, which go-tuf refuses.
verify must reject what the clients reject (invariant 7).`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v2 := k.root(2, hostileExpires)
				sig := k.a.sign(k.t, v2)
				f["2.root.json"] = hostileEnvelope(k.t, v2, sig, k.b.sign(k.t, v2), sig)
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is rejected by go-tuf v2's client logic: value error: multiple signatures found for key ID",
			publish: "multiple signatures found for key ID",
		},
		{
			name: "keyid-listed-twice",
			about: `Root v1 whose root role lists key a's ID twice, threshold 2, signed by a.
A careful client must count distinct keys, not entries of keyids.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v1 := k.root(1, hostileExpires, func(r *metadata.RootType) {
					delete(r.Keys, k.b.id)
					delete(r.Keys, k.c.id)
					r.Roles[metadata.ROOT] = &metadata.Role{KeyIDs: []string{k.a.id, k.a.id}, Threshold: 2}
				})
				f["1.root.json"] = k.file(v1, k.a)
				return f
			},
			newest:  "1.root.json",
			verify:  "1.root.json is not signed by its own threshold: 1 of 2 valid signatures",
			publish: "root v1: 1 of 2 signatures",
		},
		{
			name: "same-key-two-ids",
			about: `Root v1 lists key a twice under two key IDs (the second copy has an extra
field, so its canonical SHA-256 differs), root threshold 2, and a signs
under both IDs.
A careful client must count one public key once, whatever its key IDs.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				// A fresh Key: go-tuf caches a key's ID inside it.
				alias := metadata.Key{Type: k.a.key.Type, Scheme: k.a.key.Scheme, Value: metadata.KeyVal{PublicKey: k.a.key.Value.PublicKey},
					UnrecognizedFields: map[string]any{"x-hostile-alias": "a second key ID for root-a"}}
				aliasID, err := alias.ID()
				if err != nil {
					k.t.Fatal(err)
				}
				v1 := k.root(1, hostileExpires, func(r *metadata.RootType) {
					delete(r.Keys, k.b.id)
					delete(r.Keys, k.c.id)
					setRole(r, metadata.ROOT, 2, k.a.key, &alias)
				})
				f["1.root.json"] = hostileEnvelope(k.t, v1, k.a.sign(k.t, v1), k.a.signAs(k.t, v1, aliasID))
				return f
			},
			newest:     "1.root.json",
			verify:     "1.root.json is not signed by its own threshold: 1 of 2 valid signatures",
			verifyNote: "is the same public key as another key of the role; it counts once",
			publish:    "root v1: 1 of 2 signatures",
		},
		{
			name: "same-key-two-encodings",
			about: `Root v1's targets role lists one ECDSA key twice, as keytype "ecdsa" and as
"ecdsa-sha2-nistp256" (two key IDs), threshold 2; targets v1 is signed by
that key under both IDs.
A careful client must count one public key once, whatever its encoding.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				compat := metadata.Key{Type: metadata.KeyTypeECDSA_SHA2_P256_COMPAT, Scheme: k.targets2.key.Scheme, Value: metadata.KeyVal{PublicKey: k.targets2.key.Value.PublicKey}}
				compatID, err := compat.ID()
				if err != nil {
					k.t.Fatal(err)
				}
				v1 := k.root(1, hostileExpires, func(r *metadata.RootType) {
					delete(r.Keys, k.targets.id)
					setRole(r, metadata.TARGETS, 2, k.targets2.key, &compat)
				})
				f["1.root.json"] = k.file(v1, k.a, k.b)
				t1 := k.targetsPart(1, hostileExpires)
				f["1.targets.json"] = hostileEnvelope(k.t, t1, k.targets2.sign(k.t, t1), k.targets2.signAs(k.t, t1, compatID))
				return f
			},
			newest:     "1.targets.json",
			verify:     "1.targets.json is not signed by the targets threshold of root v1: 1 of 2 valid signatures",
			verifyNote: "is the same public key as another key of the role; it counts once",
			publish:    "targets v1: 1 of 2 signatures",
		},
		{
			name: "payload-edited",
			about: `Root v2 was signed by a and b, then edited: mallory's key was added to the
root role. The signatures no longer verify.
A careful client must verify signatures over the canonical form of the
signed part as it is; merge must not copy the signatures into the genuine
proposal (merge-ours.json, the root v2 they were made for) either, since
the two differ.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v2 := k.root(2, hostileExpires)
				sigs := []metadata.Signature{k.a.sign(k.t, v2), k.b.sign(k.t, v2)}
				edited := hostileEdit(k.t, v2, func(m map[string]any) {
					pub, _ := json.Marshal(k.mallory.key)
					var km map[string]any
					json.Unmarshal(pub, &km)
					m["keys"].(map[string]any)[k.mallory.id] = km
					role := m["roles"].(map[string]any)["root"].(map[string]any)
					role["keyids"] = append(role["keyids"].([]any), k.mallory.id)
				})
				f["2.root.json"] = hostileEnvelope(k.t, edited, sigs...)
				f[hostileMergeOurs] = hostileEnvelope(k.t, v2)
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is not signed by the threshold of root v1: 0 of 2 valid signatures",
			publish: "does not verify (was staged/2.root.json changed after it was signed?)",
			merge:   "the copies are not the same proposal: staged/2.root.json differs",
		},
		{
			name: "keys-edited",
			about: `Root v2 was signed by a and b, then the public key filed under key c's ID
was replaced by mallet's, who signed under c's ID.
A careful client must take keys from the trusted root, never from the file
being verified; none of the signatures counts for root v1. Merge must not
copy them into the genuine proposal (merge-ours.json).`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v2 := k.root(2, hostileExpires)
				sigs := []metadata.Signature{k.a.sign(k.t, v2), k.b.sign(k.t, v2)}
				edited := hostileEdit(k.t, v2, func(m map[string]any) {
					key := m["keys"].(map[string]any)[k.c.id].(map[string]any)
					key["keyval"] = map[string]any{"public": k.mallet.key.Value.PublicKey}
				})
				sigs = append(sigs, k.mallet.signAs(k.t, edited, k.c.id))
				f["2.root.json"] = hostileEnvelope(k.t, edited, sigs...)
				f[hostileMergeOurs] = hostileEnvelope(k.t, v2)
				return f
			},
			newest:     "2.root.json",
			verify:     "2.root.json is not signed by the threshold of root v1: 0 of 2 valid signatures",
			verifyNote: "the signature of key eafe5871 does not verify and does not count",
			publish:    "does not verify (was staged/2.root.json changed after it was signed?)",
			merge:      "the copies are not the same proposal: staged/2.root.json differs",
		},
		{
			name: "wrong-type-targets-as-root",
			about: `2.root.json is a targets file (version 2), signed by the root keys a and b.
A careful client must check _type before anything else.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["2.root.json"] = k.file(k.targetsPart(2, hostileExpires), k.a, k.b)
				return f
			},
			newest:  "2.root.json",
			verify:  `2.root.json is rejected: _type is "targets", not root`,
			publish: `staged/2.root.json: _type is "targets", not root`,
		},
		{
			name: "wrong-type-root-as-targets",
			about: `1.targets.json is a root file (version 1) signed by the targets key.
A careful client must check _type before anything else.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["1.targets.json"] = k.file(k.root(1, hostileExpires), k.targets)
				return f
			},
			newest:  "1.targets.json",
			verify:  "1.targets.json is rejected: malformed targets: value error: expected metadata type targets, got - root",
			publish: `staged/1.targets.json: _type is "root", not targets`,
		},
		{
			name: "spec-version-2-root",
			about: `Root v2, correctly signed, with spec_version "2.0.0".
A careful client must refuse metadata of a specification major version it
does not implement (TUF spec, "spec_version").`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["2.root.json"] = k.file(k.root(2, hostileExpires, func(r *metadata.RootType) { r.SpecVersion = "2.0.0" }), k.a, k.b)
				return f
			},
			newest:  "2.root.json",
			verify:  `2.root.json is rejected: unsupported spec_version "2.0.0"`,
			publish: `root v2: unsupported spec_version "2.0.0" (major version 1 expected)`,
		},
		{
			name: "spec-version-2-targets",
			about: `Targets v1, correctly signed, with spec_version "2.0.0".
A careful client must refuse metadata of a specification major version it
does not implement, targets as well as root.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				t1 := k.targetsPart(1, hostileExpires)
				t1 = hostileEdit(k.t, t1, func(m map[string]any) { m["spec_version"] = "2.0.0" })
				f["1.targets.json"] = k.file(t1, k.targets)
				return f
			},
			newest:  "1.targets.json",
			verify:  `1.targets.json is rejected: unsupported spec_version "2.0.0"`,
			publish: `targets v1: unsupported spec_version "2.0.0" (major version 1 expected)`,
			bug: "verify.go:327 verifyTargets (and verify.go:389 verifyDelegated) never check spec_version; only " +
				"ParseRawRoot (chain.go:70) and publish's headerProblems do. Fix: after the _type check in verifyTargets/verifyDelegated, refuse a " +
				"spec_version whose major is not 1, e.g. with a shared checkSpecVersion(h Header) used by ParseRawRoot, " +
				"headerProblems and verify",
		},
		{
			name: "unknown-signers",
			about: `Root v2 signed only by mallory and mallet, keys no root lists.
A careful client must ignore signatures by keys the delegating role does not
list; merge must not copy them into a proposal.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["2.root.json"] = k.file(k.root(2, hostileExpires), k.mallory, k.mallet)
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is not signed by the threshold of root v1: 0 of 2 valid signatures",
			publish: "root v2, previous root v1: 0 of 2 signatures",
			merge:   "which the proposal does not ask for",
		},
		{
			name: "targets-signed-by-root-keys",
			about: `Targets v1 signed by the root keys a and b instead of the targets key.
A careful client must verify each role against its own keys in root, not
against any key root lists; merge must not copy these signatures into a
targets proposal.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["1.targets.json"] = k.file(k.targetsPart(1, hostileExpires), k.a, k.b)
				return f
			},
			newest:  "1.targets.json",
			verify:  "1.targets.json is not signed by the targets threshold of root v1: 0 of 1 valid signatures",
			publish: "targets v1: 0 of 1 signatures",
			merge:   "which the proposal does not ask for",
		},
		{
			name: "targets-invalid-signatures",
			about: `Root v1 asks for 2 of targets and targets-2; targets v1 has two signatures
filed under exactly those key IDs, but one was made by mallory and the other
over another payload: the count meets the threshold, no signature verifies.
A careful client must count only signatures that verify; merge must not copy
them into a proposal.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v1 := k.root(1, hostileExpires, func(r *metadata.RootType) {
					setRole(r, metadata.TARGETS, 2, k.targets.key, k.targets2.key)
				})
				f["1.root.json"] = k.file(v1, k.a, k.b)
				t1 := k.targetsPart(1, hostileExpires)
				other := k.targetsPart(1, hostileExpires.AddDate(0, 0, 1))
				f["1.targets.json"] = hostileEnvelope(k.t, t1, k.mallory.signAs(k.t, t1, k.targets.id), k.targets2.sign(k.t, other))
				return f
			},
			newest:     "1.targets.json",
			verify:     "1.targets.json is not signed by the targets threshold of root v1: 0 of 2 valid signatures",
			verifyNote: "does not verify and does not count",
			publish:    "does not verify (was staged/1.targets.json changed after it was signed?)",
			merge:      "does not verify",
		},
		{
			name: "targets-hash-upper-case",
			about: `Targets v1 lists its target's SHA-256 in upper-case hex and is signed by the
targets key over the canonical form of its bytes. go-tuf decodes the hash and
writes it back in lower case before it checks a signature, so for a go-tuf
client no signature verifies; tuf-js checks the bytes as written and accepts.
verify must reject what a go-tuf client rejects, and publish too.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				t1 := hostileEdit(k.t, k.targetsPart(1, hostileExpires), func(m map[string]any) {
					target := m["targets"].(map[string]any)["greetings/hello.txt"].(map[string]any)
					hashes := target["hashes"].(map[string]any)
					hashes["sha256"] = strings.ToUpper(hashes["sha256"].(string))
				})
				f["1.targets.json"] = k.file(t1, k.targets)
				return f
			},
			newest:  "1.targets.json",
			verify:  "target greetings/hello.txt: go-tuf writes it back otherwise than its bytes say",
			publish: "a TUF client would reject it",
		},
		{
			name: "targets-expired",
			about: `Targets v1, correctly signed, expired on 2021-01-01 (judged at 2030-01-01).
A careful client must refuse expired targets.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["1.targets.json"] = k.file(k.targetsPart(1, hostileExpired), k.targets)
				return f
			},
			newest:  "1.targets.json",
			verify:  "targets v1 expired at 2021-01-01T00:00:00Z",
			publish: "targets v1: expired at 2021-01-01T00:00:00Z",
		},
		{
			name: "targets-rollback",
			about: `2.targets.json holds the exact bytes of 1.targets.json (version 1).
A careful client must check the version inside the file against the one
expected (snapshot's, or the name's) and refuse the rollback.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["2.targets.json"] = bytes.Clone(f["1.targets.json"])
				return f
			},
			newest:  "2.targets.json",
			verify:  "2.targets.json holds version 1",
			publish: "staged/2.targets.json: file name says version 2, content says 1",
		},
		{
			name: "threshold-zero-root",
			about: `Root v2, signed by a and b, sets its own root threshold to 0, so that any
later root would need no signature at all.
A careful client must refuse a threshold below 1.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["2.root.json"] = k.file(k.root(2, hostileExpires, func(r *metadata.RootType) { r.Roles[metadata.ROOT].Threshold = 0 }), k.a, k.b)
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is rejected: role root has no threshold of at least 1",
			publish: "insufficient threshold (0) configured for root || role root has no threshold of at least 1",
		},
		{
			name: "threshold-zero-timestamp",
			about: `Root v2, signed by a and b, sets the timestamp threshold to 0.
A careful client must refuse a threshold below 1 for every role (go-tuf's
client refuses such a timestamp, so the repository would freeze).`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["2.root.json"] = k.file(k.root(2, hostileExpires, func(r *metadata.RootType) { r.Roles[metadata.TIMESTAMP].Threshold = 0 }), k.a, k.b)
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is rejected: role timestamp has no threshold of at least 1",
			publish: "timestamp has no threshold of at least 1 || insufficient threshold (0) configured for timestamp",
			bug: "publish.go:59-66 Publish checks staged roots' thresholds only through Tally and go-tuf's UpdateRoot " +
				"(publish.go:155), which look at the root role alone. Fix: in Publish, run the checks of ParseRawRoot (every role's threshold >= 1, every " +
				"listed key defined) on each staged root, e.g. call ParseRawRoot(p.Raw) in headerProblems and report its error",
		},
		{
			name: "undefined-timestamp-key",
			about: `Root v2, signed by a and b, lists for timestamp a key ID that its keys do not
define (besides the real online key).
A careful client must refuse a role whose keys it cannot find (go-tuf's
client refuses every timestamp then, so the repository would freeze).`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				ghost := strings.Repeat("0f", 32)
				f["2.root.json"] = k.file(k.root(2, hostileExpires, func(r *metadata.RootType) {
					r.Roles[metadata.TIMESTAMP].KeyIDs = append(r.Roles[metadata.TIMESTAMP].KeyIDs, ghost)
				}), k.a, k.b)
				return f
			},
			newest:  "2.root.json",
			verify:  "lists key 0f0f0f0f for timestamp but does not define it",
			publish: "lists key 0f0f0f0f for timestamp but does not define it",
			bug: "chain.go:72 ParseRawRoot checks each role's threshold but not that its keyids are defined, and verify.go " +
				"asks CheckThreshold about root and targets only (summarizeRoles, verify.go:430, lists snapshot and " +
				"timestamp keys without checking them); publish.go:155 relies on go-tuf's UpdateRoot, which checks the " +
				"root role only. Fix: in " +
				"ParseRawRoot, refuse a role whose keyids name a key absent from keys (\"root vN lists key X for ROLE " +
				"but does not define it\"), and run ParseRawRoot on staged roots in Publish",
		},
		{
			name: "malformed-truncated",
			about: `2.root.json is a valid root v2 cut off in the middle.
A careful client must refuse it without crashing.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v2 := k.file(k.root(2, hostileExpires), k.a, k.b)
				f["2.root.json"] = v2[:len(v2)/2]
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is rejected: malformed JSON: unexpected EOF",
			publish: "staged/2.root.json: malformed JSON: unexpected EOF",
		},
		{
			name: "malformed-trailing-garbage",
			about: `2.root.json is a valid root v2 followed by text.
A careful client must refuse a file that is not exactly one JSON value.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["2.root.json"] = append(k.file(k.root(2, hostileExpires), k.a, k.b), "trailing garbage\n"...)
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is rejected: malformed JSON: data after the metadata object",
			publish: "staged/2.root.json: malformed JSON: data after the metadata object",
		},
		{
			name: "malformed-trailing-brace",
			about: `2.root.json is a valid root v2 followed by a closing brace "}".
A careful client must refuse a file that is not exactly one JSON value.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f["2.root.json"] = append(k.file(k.root(2, hostileExpires), k.a, k.b), "}\n"...)
				return f
			},
			newest: "2.root.json",
			// tuf-ceremony's own parser lets a trailing '}' through (see
			// malformed-trailing-brace-legacy-keys); go-tuf's catches it.
			verify: "2.root.json is rejected: malformed JSON: data after the metadata object || " +
				"2.root.json is rejected by go-tuf v2's client logic: invalid character '}' after top-level value",
			publish: "staged/2.root.json: malformed JSON: data after the metadata object || " +
				"staged/2.root.json: malformed root: invalid character '}' after top-level value",
		},
		{
			name: "malformed-trailing-brace-legacy-keys",
			about: `Root v2, signed by a and b, holds key c in go-tuf v0.x's hex encoding (which
go-tuf v2 cannot read) and is followed by a closing brace "}".
A careful client must refuse a file that is not exactly one JSON value,
whatever its keys (the bytes would be imported and served as they are).`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				point, err := k.c.ec.PublicKey.Bytes()
				if err != nil {
					k.t.Fatal(err)
				}
				legacy := &metadata.Key{Type: metadata.KeyTypeECDSA_SHA2_P256_COMPAT, Scheme: metadata.KeySchemeECDSA_SHA2_P256, Value: metadata.KeyVal{PublicKey: hex.EncodeToString(point)}}
				v2 := k.root(2, hostileExpires, func(r *metadata.RootType) {
					delete(r.Keys, k.c.id)
					setRole(r, metadata.ROOT, 2, k.a.key, k.b.key, legacy)
				})
				f["2.root.json"] = append(k.file(v2, k.a, k.b), "}\n"...)
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is rejected: malformed JSON: data after the metadata object",
			publish: "staged/2.root.json: malformed",
			bug: "metadata.go:57 ParseEnvelope tests for trailing data with dec.More(), which is false when the next " +
				"byte is '}' or ']', so `{...}}` parses; verify.go:240 verifyRoots then turns go-tuf's refusal into a " +
				"note because the root has legacy keys, so verify and import accept the root and import copies the " +
				"broken bytes. Fix: in ParseEnvelope, after dec.Decode require " +
				"`dec.Decode(new(json.RawMessage)) == io.EOF` (or bytes.TrimSpace(data[dec.InputOffset():]) empty)",
		},
		{
			name: "malformed-wrong-types",
			about: `Root v2 whose "version" is the string "2", signed by a and b over exactly that.
A careful client must refuse fields of the wrong JSON type.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v2 := hostileEdit(k.t, k.root(2, hostileExpires), func(m map[string]any) { m["version"] = "2" })
				f["2.root.json"] = k.file(v2, k.a, k.b)
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is rejected: malformed root: json: cannot unmarshal string into Go struct field",
			publish: "staged/2.root.json: malformed signed part: json: cannot unmarshal string into Go struct field",
		},
		{
			name: "malformed-null-key",
			about: `Root v2, signed by a and b, whose keys map one key ID (listed by no role) to
null instead of a key object.
A careful client must refuse fields of the wrong JSON type, and must not
crash on them.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v2 := hostileEdit(k.t, k.root(2, hostileExpires), func(m map[string]any) {
					m["keys"].(map[string]any)[strings.Repeat("ab", 32)] = nil
				})
				f["2.root.json"] = k.file(v2, k.a, k.b)
				return f
			},
			newest: "2.root.json",
			// Whatever the wording, the refusal must name the key.
			verify:  "abababab",
			publish: "abababab",
			bug: "chain.go:57-80 ParseRawRoot accepts a null key (RawRoot.Signed.Keys holds a nil *RawKey); verify.go:413 " +
				"summarizeRoles then dereferences it (k.Owner) and panics, as would RawKey.PublicKey (chain.go:86, via " +
				"CheckThreshold) and hasLegacyKeys (chain.go:232); Publish accepts the root (go-tuf does too). Fix: in ParseRawRoot, refuse a nil " +
				"key (\"key X is null\") and a key without keytype, scheme or public value",
		},
		{
			name: "malformed-null-target",
			about: `Targets v2, signed by the targets key, lists one target as null beside a
real one. go-tuf's parse dereferences it and panics.
A careful client must refuse fields of the wrong JSON type, must not crash
on them, and a ceremony must never show a review that leaves it out.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v2 := hostileEdit(k.t, k.targetsPart(2, hostileExpires), func(m map[string]any) {
					m["targets"].(map[string]any)["evil.txt"] = nil
				})
				f["2.targets.json"] = k.file(v2, k.targets)
				return f
			},
			newest:  "2.targets.json",
			verify:  "2.targets.json is rejected: malformed targets: target evil.txt: it is null",
			publish: "targets v2: a TUF client would reject it: malformed targets",
		},
		{
			name: "malformed-null-root-role",
			about: `Root v2, signed by a and b, sets its root role to null. go-tuf's
VerifyDelegate dereferences it and panics.
A careful client must refuse a root without a root role, and must not crash
on it.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				v2 := hostileEdit(k.t, k.root(2, hostileExpires), func(m map[string]any) {
					m["roles"].(map[string]any)["root"] = nil
				})
				f["2.root.json"] = k.file(v2, k.a, k.b)
				return f
			},
			newest:  "2.root.json",
			verify:  "2.root.json is rejected",
			publish: "root v2 has no root role",
		},
		{
			name: "huge",
			about: `2.root.json is 70 MiB (a long string inside an otherwise plausible root); it
is written at test time, never committed.
A careful client must refuse it by its size, fast and without reading it
into memory.`,
			gen: func(k *hostileKeys) map[string][]byte {
				f := k.base()
				f[hostileMergeOurs] = hostileEnvelope(k.t, k.root(2, hostileExpires))
				return f
			},
			newest:  "2.root.json",
			huge:    hostileHugeSize,
			verify:  fmt.Sprintf("2.root.json: %d bytes exceeds the %d byte limit", hostileHugeSize, MaxMetadataSize),
			publish: fmt.Sprintf("exceeds the %d byte limit", MaxMetadataSize),
			merge:   fmt.Sprintf("exceeds the %d byte limit", MaxMetadataSize),
			bug: "proposals.go:169 Proposals reads each staged file with w.ReadFile (workspace.go:228 readRegular: io.ReadAll, " +
				"no limit) and only then does ParseEnvelope refuse it by size, so publish, sign, status and merge " +
				"(for our own staged/) read a whole huge file into memory. Fix: in readRegular, for metadata/ and " +
				"staged/ files, f.Stat() the open file and refuse one larger than MaxMetadataSize before reading " +
				"(and read through io.LimitReader(f, MaxMetadataSize+1) for a file that grows meanwhile)",
		},
	}
}

// hostileResult is what each judge said of a case.
type hostileResult struct {
	name                     string
	verify, imp, pub, merge  string // "rejects", "ACCEPTS", "PANICS", "n/a"
	goTUF                    string // "rejects", "accepts"
	goTUFDetail, verifyFirst string
}

func (r hostileResult) agree() bool {
	return r.verify != "PANICS" && (r.verify == "rejects") == (r.goTUF == "rejects")
}

// hostileSays reports whether msg contains want or, when want lists
// alternatives separated by " || ", one of them.
func hostileSays(msg, want string) bool {
	for _, w := range strings.Split(want, " || ") {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}

func TestHostileCorpus(t *testing.T) {
	cases := hostileCases()
	if hostileUpdating() {
		t.Run("generate", func(t *testing.T) { writeHostileCorpus(t, cases) })
	}
	checkHostileCorpusComplete(t, cases)

	onlineKey := loadHostileOnlineKey(t)
	results := make([]hostileResult, len(cases))
	// Cases with a huge file run alone, so that what refusing it allocates
	// can be measured; the others run in parallel.
	for i, c := range cases {
		if c.huge > 0 {
			t.Run(c.name, func(t *testing.T) { results[i] = judgeHostileCase(t, c, onlineKey) })
		}
	}
	t.Run("parallel", func(t *testing.T) {
		for i, c := range cases {
			if c.huge == 0 {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					results[i] = judgeHostileCase(t, c, onlineKey)
				})
			}
		}
	})
	table := hostileTable(results)
	t.Logf("tuf-ceremony and go-tuf v2's client on the hostile corpus (disagreements marked):\n%s", table)
	readmePath := filepath.Join(hostileCorpus, "README.md")
	readme := hostileReadme(cases, table)
	complete := !slices.ContainsFunc(results, func(r hostileResult) bool { return r.name == "" })
	if hostileUpdating() && complete {
		if err := os.WriteFile(readmePath, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if have, err := os.ReadFile(readmePath); err != nil || string(have) != readme {
		t.Logf("%s is not up to date with this run (%v); run go test ./ceremony -run TestHostileCorpus -update", readmePath, err)
	}
}

// writeHostileCorpus regenerates testdata/hostile/<case>/ for every case.
func writeHostileCorpus(t *testing.T, cases []hostileCase) {
	cryptotest.SetGlobalRandom(t, 7) // ECDSA signatures come out the same every time, until t ends
	k := newHostileKeys(t)
	entries, err := os.ReadDir(hostileCorpus)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := os.RemoveAll(filepath.Join(hostileCorpus, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range cases {
		dir := filepath.Join(hostileCorpus, c.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		files := c.gen(k)
		if _, ok := files[c.newest]; !ok && c.huge == 0 {
			t.Fatalf("%s: the generator made no %s", c.name, c.newest)
		}
		files[hostileCaseFile] = []byte(c.name + "\n\n" + c.about + "\n")
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkHostileCorpusComplete fails when a case has no directory, or a
// directory no case.
func checkHostileCorpusComplete(t *testing.T, cases []hostileCase) {
	t.Helper()
	want := map[string]bool{}
	for _, c := range cases {
		want[c.name] = true
		if _, err := os.Stat(filepath.Join(hostileCorpus, c.name, hostileCaseFile)); err != nil {
			t.Errorf("case %s is not in the corpus (%v); run go test ./ceremony -run TestHostileCorpus -update", c.name, err)
		}
	}
	entries, _ := os.ReadDir(hostileCorpus)
	for _, e := range entries {
		if e.IsDir() && !want[e.Name()] {
			t.Errorf("%s/%s is no case of hostileCases; run -update", hostileCorpus, e.Name())
		}
	}
}

// loadHostileOnlineKey writes the online key where tuftest reads it.
func loadHostileOnlineKey(t *testing.T) *tuftest.OnlineKey {
	t.Helper()
	k := newHostileKey(t, "online", true)
	der, err := x509.MarshalPKCS8PrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "online.pem")
	if err := os.WriteFile(p+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := tuftest.LoadOnlineKey(p)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// hostileFiles reads a case's directory: file name → content.
func hostileFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = data
		}
	}
	return files
}

// hostileHugeFile writes a plausible root padded to size bytes.
func hostileHugeFile(t *testing.T, path string, size int64) {
	t.Helper()
	head := `{"signatures":[],"signed":{"_type":"root","spec_version":"1.0.31","version":2,"x-padding":"`
	tail := `"}}` + "\n"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(head)
	chunk := bytes.Repeat([]byte("A"), 1<<20)
	for left := size - int64(len(head)+len(tail)); left > 0; {
		n := min(left, int64(len(chunk)))
		w.Write(chunk[:n])
		left -= n
	}
	w.WriteString(tail)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// hostileTree is every file under dir, by SHA-256, to show that nothing
// changed.
func hostileTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			tree[rel+"/"] = ""
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		tree[rel] = sha256Hex(data)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return tree
}

// hostileTreeDiff names the files that differ between two trees.
func hostileTreeDiff(before, after map[string]string) string {
	var out []string
	for _, rel := range slices.Sorted(maps.Keys(after)) {
		if have, ok := before[rel]; !ok {
			out = append(out, "+"+rel)
		} else if have != after[rel] {
			out = append(out, "~"+rel)
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[rel]; !ok {
			out = append(out, "-"+rel)
		}
	}
	return strings.Join(out, " ")
}

// hostileCall runs f, turning a panic into an error that says where in
// the library it happened.
func hostileCall(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			var at []string
			for _, line := range strings.Split(string(debug.Stack()), "\n") {
				line = strings.TrimSpace(line)
				if strings.Contains(line, "/ceremony/") && !strings.Contains(line, "_test.go") && len(at) < 3 {
					frame, _, _ := strings.Cut(line[strings.LastIndex(line, "/")+1:], "(") // arguments are addresses
					at = append(at, frame)
				}
			}
			err = fmt.Errorf("PANIC: %v at %s", r, strings.Join(at, " < "))
		}
	}()
	return f()
}

// hostileMem runs f and returns how many bytes it allocated.
func hostileMem(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// hostileWorkspace creates a workspace through the library: published
// files in metadata/ (with root.json and targets.json as publish writes
// them), staged files in staged/.
func hostileWorkspace(t *testing.T, published, staged map[string][]byte) *Workspace {
	t.Helper()
	ws, err := OpenOrNewWorkspace(filepath.Join(t.TempDir(), "media"))
	if err != nil {
		t.Fatal(err)
	}
	ws.Now = func() time.Time { return hostileAt }
	tx := ws.Begin()
	newest := map[string]int64{}
	for name, data := range published {
		tx.Create("metadata/"+name, data)
		if role, v, ok := ParseVersionedName(name); ok && v > newest[role] {
			newest[role] = v
		}
	}
	for role, v := range newest {
		if _, ok := published[role+".json"]; !ok {
			tx.Replace("metadata/"+role+".json", published[VersionedName(role, v)])
		}
	}
	for name, data := range staged {
		tx.Create("staged/"+name, data)
	}
	tx.Record("hostile-fixture", nil)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return ws
}

func judgeHostileCase(t *testing.T, c hostileCase, onlineKey *tuftest.OnlineKey) hostileResult {
	res := hostileResult{name: c.name, merge: "n/a"}
	told := false
	fail := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		switch {
		case c.bug != "" && !told:
			msg = "LIBRARY BUG (" + c.bug + "):\n" + msg
			told = true
		case c.bug != "":
			msg = "LIBRARY BUG (as above): " + msg
		}
		t.Error(msg)
	}
	dir := filepath.Join(hostileCorpus, c.name)
	files := hostileFiles(t, dir)
	delete(files, hostileCaseFile)
	var hostile []byte
	if c.huge > 0 {
		// The huge file is written next to copies of the committed ones.
		tmp := t.TempDir()
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		hostileHugeFile(t, filepath.Join(tmp, c.newest), c.huge)
		dir = tmp
	} else {
		hostile = files[c.newest]
		if hostile == nil {
			t.Fatalf("%s has no %s", dir, c.newest)
		}
	}
	earlier := map[string][]byte{}
	for name, data := range files {
		if _, _, ok := ParseVersionedName(name); ok && name != c.newest {
			earlier[name] = data
		}
	}

	// verify
	var rep *VerifyReport
	var mem uint64
	start := time.Now()
	err := hostileCall(func() error {
		var err error
		mem = hostileMem(func() { rep, err = Verify(dir, VerifyOptions{At: hostileAt}) })
		return err
	})
	elapsed := time.Since(start)
	switch {
	case err != nil && strings.HasPrefix(err.Error(), "PANIC"):
		res.verify = "PANICS"
		fail("verify: %v", err)
	case err != nil:
		res.verify = "rejects"
		res.verifyFirst = err.Error()
		if !hostileSays(err.Error(), c.verify) {
			fail("verify error %q does not say %q", err, c.verify)
		}
	case rep.OK():
		res.verify = "ACCEPTS"
		fail("verify accepts a hostile repository; want a problem saying %q (notes %q)", c.verify, rep.Notes)
	default:
		res.verify = "rejects"
		res.verifyFirst = rep.Problems[0]
		if !slices.ContainsFunc(rep.Problems, func(p string) bool { return hostileSays(p, c.verify) }) {
			fail("verify problems %q: none says %q", rep.Problems, c.verify)
		}
		if c.verifyNote != "" && !slices.ContainsFunc(rep.Notes, func(p string) bool { return strings.Contains(p, c.verifyNote) }) {
			fail("verify notes %q: none says %q", rep.Notes, c.verifyNote)
		}
	}
	if c.huge > 0 {
		if mem > hostileMemBound {
			fail("verify allocated %d bytes to refuse a %d byte file (bound %d)", mem, c.huge, hostileMemBound)
		}
		if elapsed > 2*time.Second {
			fail("verify took %v to refuse a %d byte file", elapsed, c.huge)
		}
	}

	// import into a fresh workspace
	media := filepath.Join(t.TempDir(), "media")
	fresh, err := OpenOrNewWorkspace(media)
	if err != nil {
		t.Fatal(err)
	}
	fresh.Now = func() time.Time { return hostileAt }
	err = hostileCall(func() error {
		var err error
		mem = hostileMem(func() { _, err = Import(fresh, dir, ImportOptions{At: hostileAt}) })
		return err
	})
	res.imp = hostileVerdict(err)
	switch {
	case err == nil:
		fail("import accepts a hostile repository")
	case !errors.Is(err, ErrNotVerified) && !strings.HasPrefix(err.Error(), "PANIC"):
		fail("import: %v, want ErrNotVerified", err)
	case !hostileSays(err.Error(), c.verify):
		fail("import error %q does not say %q", err, c.verify)
	}
	if _, err := os.Stat(media); !errors.Is(err, fs.ErrNotExist) {
		fail("import wrote %s: %s", media, hostileTreeDiff(nil, hostileTree(t, media)))
	}
	if c.huge > 0 && mem > hostileMemBound {
		fail("import allocated %d bytes to refuse a %d byte file (bound %d)", mem, c.huge, hostileMemBound)
	}

	// publish: the earlier files published, the hostile one staged
	stagedData := hostile
	if c.huge > 0 {
		stagedData, err = os.ReadFile(filepath.Join(dir, c.newest))
		if err != nil {
			t.Fatal(err)
		}
	}
	ws := hostileWorkspace(t, earlier, map[string][]byte{c.newest: stagedData})
	stagedData = nil
	before := hostileTree(t, ws.Dir)
	err = hostileCall(func() error {
		var err error
		mem = hostileMem(func() { _, err = Publish(ws, hostileAt) })
		return err
	})
	res.pub = hostileVerdict(err)
	switch {
	case err == nil:
		fail("publish accepts a hostile proposal")
	case !hostileSays(err.Error(), c.publish):
		fail("publish error %q does not say %q", err, c.publish)
	}
	if after := hostileTree(t, ws.Dir); !maps.Equal(before, after) {
		fail("publish changed the workspace: %s", hostileTreeDiff(before, after))
	}
	if c.huge > 0 && mem > hostileMemBound {
		fail("publish allocated %d bytes to refuse a %d byte staged file (bound %d)", mem, c.huge, hostileMemBound)
	}

	// merge: the hostile file in another copy of the workspace
	if c.merge != "" {
		res.merge = judgeHostileMerge(t, c, dir, files, earlier, fail)
	}

	// go-tuf v2's client
	err = hostileCall(func() error {
		up, err := tuftest.Refresh(dir, t.TempDir(), onlineKey)
		if err == nil {
			res.goTUFDetail = fmt.Sprintf("trusting root v%d", up.GetTrustedMetadataSet().Root.Signed.Version)
		}
		return err
	})
	if err != nil {
		res.goTUF = "rejects"
		res.goTUFDetail = strings.TrimPrefix(err.Error(), "go-tuf client refresh: ")
	} else {
		res.goTUF = "accepts"
	}
	return res
}

func judgeHostileMerge(t *testing.T, c hostileCase, dir string, files, earlier map[string][]byte, fail func(string, ...any)) string {
	t.Helper()
	ours := files[hostileMergeOurs]
	if ours == nil {
		// Our copy holds the very same signed part, unsigned.
		ours = hostileEnvelope(t, hostileSignedPart(t, files[c.newest]))
	}
	ws := hostileWorkspace(t, earlier, map[string][]byte{c.newest: ours})
	other := filepath.Join(t.TempDir(), "other")
	for _, sub := range []string{MetadataDir, StagedDir} {
		if err := os.MkdirAll(filepath.Join(other, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range earlier {
		if err := os.WriteFile(filepath.Join(other, MetadataDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	theirs := filepath.Join(other, StagedDir, c.newest)
	if c.huge > 0 {
		if err := os.Link(filepath.Join(dir, c.newest), theirs); err != nil {
			hostileHugeFile(t, theirs, c.huge)
		}
	} else if err := os.WriteFile(theirs, files[c.newest], 0o644); err != nil {
		t.Fatal(err)
	}
	before := hostileTree(t, ws.Dir)
	var res *MergeResult
	var mem uint64
	err := hostileCall(func() error {
		var err error
		mem = hostileMem(func() { res, err = Merge(ws, []string{other}) })
		return err
	})
	verdict := "rejects" // refused, or copied no signature
	if strings.HasPrefix(fmt.Sprint(err), "PANIC") {
		verdict = "PANICS"
	}
	switch {
	case err != nil && !hostileSays(err.Error(), c.merge):
		fail("merge error %q does not say %q", err, c.merge)
	case err == nil && len(res.Merged) > 0:
		verdict = "ACCEPTS"
		fail("merge copied signatures from a hostile copy: %+v", res.Merged)
	case err == nil && !slices.ContainsFunc(res.Skipped, func(s string) bool { return hostileSays(s, c.merge) }):
		fail("merge skipped %q: none says %q", res.Skipped, c.merge)
	}
	if after := hostileTree(t, ws.Dir); !maps.Equal(before, after) {
		fail("merge changed the workspace: %s", hostileTreeDiff(before, after))
	}
	if c.huge > 0 && mem > hostileMemBound {
		fail("merge allocated %d bytes to refuse a %d byte file (bound %d)", mem, c.huge, hostileMemBound)
	}
	return verdict
}

func hostileVerdict(err error) string {
	switch {
	case err == nil:
		return "ACCEPTS"
	case strings.HasPrefix(err.Error(), "PANIC"):
		return "PANICS"
	}
	return "rejects"
}

// hostileTable is a Markdown table of the results: one row per case, and
// a last column that marks where verify and go-tuf's client disagree.
func hostileTable(results []hostileResult) string {
	var b strings.Builder
	b.WriteString("| case | verify | import | publish | merge | go-tuf v2 client | agree |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		if r.name == "" {
			continue // the case stopped early (t.Fatal)
		}
		agree := "yes"
		if !r.agree() {
			agree = "**NO**"
		}
		detail := r.goTUFDetail
		if len(detail) > 110 {
			detail = detail[:110] + "…"
		}
		detail = strings.ReplaceAll(detail, "|", `\|`)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s: %s | %s |\n", r.name, r.verify, r.imp, r.pub, r.merge, r.goTUF, detail, agree)
	}
	return b.String()
}

func hostileReadme(cases []hostileCase, table string) string {
	var b strings.Builder
	b.WriteString(`# Hostile metadata corpus

Each directory is one hostile repository (issue 7, item 2): metadata files
as a TUF client would be served them, and ` + "`case.txt`" + `, which says what the
case is and what a careful client must do. ceremony/hostile_test.go
(TestHostileCorpus) generates them with -update and judges every case with
tuf-ceremony's verify, import, publish (the case's newest file staged on top
of the others, published) and, where it applies, merge (the hostile file in
another copy of the workspace), and with go-tuf v2's client (ceremony/tuftest,
which adds snapshot and timestamp signed by the corpus' online key).

tuf-ceremony must reject every case, even where a client is more lenient.
The table below is written by the last -update run; "ACCEPTS" or "PANICS" in
a tuf-ceremony column is a bug, and "agree: NO" marks where verify and
go-tuf's client disagree.

    go test ./ceremony -run TestHostileCorpus -update   # regenerate files and this README
    go test -race ./ceremony -run TestHostileCorpus

Expiries are 2099-01-01 except where expiry is the point (2021-01-01); cases
are judged at 2030-01-01 (go-tuf's client at the current time). Keys are
derived from fixed seeds: root-a, root-b (ed25519) and root-c (ECDSA P-256)
hold root v1 (threshold 2); targets (ed25519) holds targets; online (ECDSA)
holds snapshot and timestamp; mallory and mallet are keys no root lists.

## Results

`)
	b.WriteString(table)
	b.WriteString("\n## Known library bugs the corpus exposes\n\n")
	for _, c := range cases {
		if c.bug != "" {
			fmt.Fprintf(&b, "- **%s**: %s.\n", c.name, c.bug)
		}
	}
	return b.String()
}
