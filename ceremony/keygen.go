package ceremony

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/piv"
	"github.com/tuf-ceremony/tuf-ceremony/hsm/pkcs11"
)

// KeygenOptions describe one key to generate for a custodian.
type KeygenOptions struct {
	Custodian string
	Algorithm hsm.Algorithm
	// Label names the key on the token; empty picks "tuf-<custodian>-<id>".
	Label string
	// AlwaysAuthenticate asks the token for the PIN at every signature.
	AlwaysAuthenticate bool
	// Purpose records the role the key is generated for.
	Purpose string
	// AttestationRoots verify a YubiKey's attestation; nil means Yubico's.
	AttestationRoots *x509.CertPool
	Unlock           UnlockOptions
}

// custodianPattern leaves the length to ValidateCustodian: a bounded
// repetition ({0,63}) of these Unicode classes compiles to a program 64
// times as large, 4-5 ms and 2.5 MB at every start of the binary.
var custodianPattern = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} ._@+-]*$`)

// ValidateCustodian accepts names a person would write on a key: letters,
// digits, spaces and . _ @ + -, at most 64 characters.
func ValidateCustodian(name string) error {
	if name == "" {
		return errors.New("custodian name is empty")
	}
	if !custodianPattern.MatchString(name) || utf8.RuneCountInString(name) > 64 || strings.TrimSpace(name) != name {
		return fmt.Errorf("custodian name %q: use letters, digits, spaces and . _ @ + - (at most 64, no leading or trailing space)", name)
	}
	return nil
}

// labelPrefix turns a custodian name into a token label prefix.
func labelPrefix(custodian string) string {
	var b strings.Builder
	b.WriteString("tuf-")
	for _, r := range strings.ToLower(custodian) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	return b.String()
}

// Keygen generates a key pair on tok for a custodian, records its public
// key and the token's evidence in keys/<keyid>.json and appends the event
// to the transcript, creating the workspace if needed. Either all of that
// happens or none: a key whose record cannot be written is deleted from the
// token again.
func Keygen(ctx context.Context, ws *Workspace, tok hsm.Token, p Prompter, opts KeygenOptions) (*KeyRecord, error) {
	if err := ValidateCustodian(opts.Custodian); err != nil {
		return nil, err
	}
	if opts.Algorithm == "" {
		opts.Algorithm = hsm.ECDSAP256
	}
	if _, err := hsm.ParseAlgorithm(string(opts.Algorithm)); err != nil {
		return nil, err
	}
	info := tok.Info()
	p.Progress(fmt.Sprintf("generating a key (%s) for %s on %s", opts.Algorithm, opts.Custodian, info))
	if opts.Algorithm == hsm.ECDSAP384 {
		p.Progress("warning: " + P384ClientWarning)
	}
	if err := Unlock(ctx, tok, p, opts.Unlock); err != nil {
		return nil, err
	}
	key, err := tok.GenerateKey(ctx, hsm.KeySpec{
		Algorithm:          opts.Algorithm,
		Label:              opts.Label,
		Prefix:             labelPrefix(opts.Custodian),
		AlwaysAuthenticate: opts.AlwaysAuthenticate,
	})
	if err != nil {
		return nil, err
	}
	for _, w := range key.Warnings {
		p.Progress("warning: " + w)
	}
	rec, err := recordKey(ctx, ws, tok, key, opts)
	if errors.Is(err, ErrCommitPending) {
		// The record is past its point of no return and will be
		// completed: the key must stay on the token.
		return nil, err
	}
	if err != nil {
		if derr := tok.DeleteKey(ctx, key); derr != nil {
			return nil, fmt.Errorf("%w (and the new key %q could not be removed from the token: %v)", err, key.Label, derr)
		}
		return nil, err
	}
	p.Progress(fmt.Sprintf("key %s of %s recorded in %s", rec.KeyID, opts.Custodian, KeyRecordPath(rec.KeyID)))
	return rec, nil
}

// recordKey writes the record and the transcript entry of a new key.
func recordKey(ctx context.Context, ws *Workspace, tok hsm.Token, key hsm.Key, opts KeygenOptions) (*KeyRecord, error) {
	ev, err := tok.Evidence(ctx, key)
	if err != nil {
		return nil, err
	}
	if err := checkEvidence(&ev, key.Public, opts.AttestationRoots); err != nil {
		return nil, err
	}
	tufKey, err := TUFKey(key.Public)
	if err != nil {
		return nil, err
	}
	keyID, err := KeyID(tufKey)
	if err != nil {
		return nil, err
	}
	info := tok.Info()
	rec := &KeyRecord{
		Kind:      KindToken,
		KeyID:     keyID,
		Key:       tufKey,
		Custodian: opts.Custodian,
		Purpose:   opts.Purpose,
		Algorithm: key.Algorithm,
		Token:     &info,
		Object:    &KeyObject{Label: key.Label, ID: key.ID, URI: hsm.RedactURI(key.URI)},
		Evidence:  &ev,
		CreatedAt: ws.now(),
	}
	data, err := rec.Marshal()
	if err != nil {
		return nil, err
	}
	tx := ws.Begin()
	tx.Create(KeyRecordPath(rec.KeyID), data)
	tx.Record("key-generated", map[string]any{
		"keyid":     rec.KeyID,
		"custodian": rec.Custodian,
		"algorithm": rec.Algorithm,
		"scheme":    rec.Key.Scheme,
		"token":     rec.Token,
		"object":    rec.Object,
		"evidence":  evidenceSummary(ev),
	})
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("failed to record key %s: %w", rec.KeyID, err)
	}
	return rec, nil
}

// checkEvidence verifies what the token says about a new key (invariant 1):
// PKCS#11 attributes showing a key born on the token that never left it,
// or a PIV attestation that chains to the vendor's roots and attests this
// very public key.
func checkEvidence(ev *hsm.Evidence, pub crypto.PublicKey, roots *x509.CertPool) error {
	switch ev.Kind {
	case "pkcs11-attributes":
		return pkcs11.CheckNonExtractable(*ev)
	case "piv-attestation":
		att, err := piv.VerifyAttestation(ev.Attestation, pub, roots)
		if err != nil {
			return err
		}
		ev.Attestation = att
		return nil
	}
	return fmt.Errorf("%w: unknown evidence kind %q", hsm.ErrNotNonExportable, ev.Kind)
}

// evidenceSummary is what the transcript keeps of the evidence.
func evidenceSummary(ev hsm.Evidence) any {
	if a := ev.Attestation; a != nil {
		return map[string]string{"kind": ev.Kind, "serial": a.Serial, "firmware": a.Firmware, "slot": a.Slot, "pin_policy": a.PINPolicy, "touch_policy": a.TouchPolicy}
	}
	return ev.Attributes
}
