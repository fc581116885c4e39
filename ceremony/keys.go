package ceremony

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// TUFKey is the TUF representation of a public key, as python-tuf,
// tuf-on-ci and Sigstore write it: ECDSA and RSA as PEM
// SubjectPublicKeyInfo, Ed25519 as hex. Unlike go-tuf's KeyFromPublicKey
// it names the P-384 scheme correctly.
func TUFKey(pub crypto.PublicKey) (*metadata.Key, error) {
	key := &metadata.Key{}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		key.Type = metadata.KeyTypeECDSA_SHA2_P256 // "ecdsa", whatever the curve
		switch p.Curve {
		case elliptic.P256():
			key.Scheme = metadata.KeySchemeECDSA_SHA2_P256
		case elliptic.P384():
			key.Scheme = metadata.KeySchemeECDSA_SHA2_P384
		default:
			return nil, fmt.Errorf("unsupported ECDSA curve %s", p.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("ed25519 public key of %d bytes", len(p))
		}
		key.Type = metadata.KeyTypeEd25519
		key.Scheme = metadata.KeySchemeEd25519
		key.Value.PublicKey = hex.EncodeToString(p)
		return key, nil
	case *rsa.PublicKey:
		key.Type = metadata.KeyTypeRSASSA_PSS_SHA256
		key.Scheme = metadata.KeySchemeRSASSA_PSS_SHA256
	default:
		return nil, fmt.Errorf("unsupported public key type %T", pub)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("failed to encode public key: %w", err)
	}
	key.Value.PublicKey = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return key, nil
}

// SignatureOpts says how a TUF key's scheme signs: the hash computed on
// the host (none for Ed25519) and, for RSA, the PSS parameters.
func SignatureOpts(key *metadata.Key) (crypto.SignerOpts, error) {
	switch key.Scheme {
	case metadata.KeySchemeECDSA_SHA2_P256:
		return crypto.SHA256, nil
	case metadata.KeySchemeECDSA_SHA2_P384:
		return crypto.SHA384, nil
	case metadata.KeySchemeEd25519:
		return crypto.Hash(0), nil
	case metadata.KeySchemeRSASSA_PSS_SHA256:
		return &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}, nil
	}
	return nil, fmt.Errorf("unsupported key scheme %q", key.Scheme)
}

// SignPayload signs payload (canonical JSON) as key's scheme requires and
// returns the signer's error unchanged: a wrong PIN or a missed touch must
// reach the custodian as itself, which go-tuf's Metadata.Sign would hide.
func SignPayload(s crypto.Signer, key *metadata.Key, payload []byte) ([]byte, error) {
	opts, err := SignatureOpts(key)
	if err != nil {
		return nil, err
	}
	digest := payload
	switch opts.HashFunc() {
	case crypto.SHA256:
		d := sha256.Sum256(payload)
		digest = d[:]
	case crypto.SHA384:
		d := sha512.Sum384(payload)
		digest = d[:]
	case 0:
	default:
		return nil, fmt.Errorf("unsupported hash %v", opts.HashFunc())
	}
	return s.Sign(nil, digest, opts)
}

// KeyRecord is keys/<keyid>.json: a public key and how it came to be.
type KeyRecord struct {
	KeyID string        `json:"keyid"`
	Key   *metadata.Key `json:"key"`
	// Kind is KindToken for a key generated on a token in a ceremony, or
	// KindOnline for a public key whose private half lives elsewhere.
	Kind      string `json:"kind"`
	Custodian string `json:"custodian"`
	// Purpose is the role init generated the key for, if any.
	Purpose   string         `json:"purpose,omitempty"`
	Algorithm hsm.Algorithm  `json:"algorithm,omitempty"`
	Token     *hsm.TokenInfo `json:"token,omitempty"`
	Object    *KeyObject     `json:"object,omitempty"`
	Evidence  *hsm.Evidence  `json:"evidence,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
}

// Kinds of key records.
const (
	KindToken  = "token"
	KindOnline = "online"
)

// KeyObject locates the private key on its token.
type KeyObject struct {
	Label string `json:"label"`
	ID    string `json:"id"`
	URI   string `json:"uri"`
}

// KeyRecordPath is where the record of keyID lives in a workspace.
func KeyRecordPath(keyID string) string { return KeysDir + "/" + keyID + ".json" }

// Marshal encodes the record as indented JSON with a final newline.
func (r *KeyRecord) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ReadKeyRecord reads and checks keys/<keyid>.json: the key ID must be
// the ID of the key it holds.
func (w *Workspace) ReadKeyRecord(keyID string) (*KeyRecord, error) {
	data, err := w.ReadFile(KeyRecordPath(keyID))
	if err != nil {
		return nil, err
	}
	var r KeyRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", KeyRecordPath(keyID), err)
	}
	if r.Key == nil {
		return nil, fmt.Errorf("%s: no key", KeyRecordPath(keyID))
	}
	if !KeyIDMatches(r.Key, keyID) || r.KeyID != keyID {
		return nil, errors.New(KeyRecordPath(keyID) + ": key ID does not match the key it holds")
	}
	return &r, nil
}
