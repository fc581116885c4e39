package piv

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// Yubico's attestation extensions (1.3.6.1.4.1.41482.3.x).
var (
	oidFirmware   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 3}
	oidSerial     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 7}
	oidPolicy     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 8}
	oidFormFactor = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 9}
)

// parseExtensions reads what a slot attestation certificate says, without
// verifying anything; fields it cannot read stay zero.
func parseExtensions(cert *x509.Certificate) piv.Attestation {
	var a piv.Attestation
	for _, e := range cert.Extensions {
		switch {
		case e.Id.Equal(oidFirmware) && len(e.Value) == 3:
			a.Version = piv.Version{Major: int(e.Value[0]), Minor: int(e.Value[1]), Patch: int(e.Value[2])}
		case e.Id.Equal(oidSerial):
			var n int64
			if _, err := asn1.Unmarshal(e.Value, &n); err == nil && n >= 0 && n <= 1<<32-1 {
				a.Serial = uint32(n)
			}
		case e.Id.Equal(oidPolicy) && len(e.Value) == 2:
			a.PINPolicy = pinPolicyFromByte(e.Value[0])
			a.TouchPolicy = touchPolicyFromByte(e.Value[1])
		case e.Id.Equal(oidFormFactor) && len(e.Value) == 1:
			a.Formfactor = piv.Formfactor(e.Value[0])
		}
	}
	if s, ok := strings.CutPrefix(cert.Subject.CommonName, "YubiKey PIV Attestation "); ok {
		if n, err := strconv.ParseUint(s, 16, 8); err == nil {
			a.Slot = piv.Slot{Key: uint32(n)}
		}
	}
	return a
}

func pinPolicyFromByte(b byte) piv.PINPolicy {
	if b >= 1 && b <= 5 {
		return piv.PINPolicy(b) // piv-go numbers them as the card does
	}
	return 0
}

func touchPolicyFromByte(b byte) piv.TouchPolicy {
	if b >= 1 && b <= 3 {
		return piv.TouchPolicy(b)
	}
	return 0
}

// PINPolicyName names a PIN policy as hsm.KeySpec and hsm.Attestation do.
func PINPolicyName(p piv.PINPolicy) string {
	switch p {
	case piv.PINPolicyNever:
		return "never"
	case piv.PINPolicyOnce:
		return "once"
	case piv.PINPolicyAlways:
		return "always"
	case piv.PINPolicyMatchOnce:
		return "match-once"
	case piv.PINPolicyMatchAlways:
		return "match-always"
	}
	return ""
}

// TouchPolicyName names a touch policy as hsm.KeySpec and hsm.Attestation do.
func TouchPolicyName(p piv.TouchPolicy) string {
	switch p {
	case piv.TouchPolicyNever:
		return "never"
	case piv.TouchPolicyAlways:
		return "always"
	case piv.TouchPolicyCached:
		return "cached"
	}
	return ""
}

func versionString(v piv.Version) string {
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

func attestationOf(a piv.Attestation, slotCert, intermediate *x509.Certificate) *hsm.Attestation {
	out := &hsm.Attestation{
		Serial:          strconv.FormatUint(uint64(a.Serial), 10),
		Firmware:        versionString(a.Version),
		PINPolicy:       PINPolicyName(a.PINPolicy),
		TouchPolicy:     TouchPolicyName(a.TouchPolicy),
		SlotCertificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: slotCert.Raw})),
		Intermediate:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: intermediate.Raw})),
	}
	if a.Formfactor != 0 {
		out.FormFactor = a.Formfactor.String()
	}
	if a.Slot.Key != 0 {
		out.Slot = slotHex(byte(a.Slot.Key))
	}
	return out
}

// Evidence reads the key's attestation from the card: the slot's
// attestation certificate and the card's own (slot f9). It is checked to
// attest key.Public, but not verified against any root: that is
// VerifyAttestation's job, with the roots the ceremony trusts. No PIN is
// needed.
func (t *Token) Evidence(ctx context.Context, key hsm.Key) (hsm.Evidence, error) {
	if err := ctx.Err(); err != nil {
		return hsm.Evidence{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.errClosed("ATTEST"); err != nil {
		return hsm.Evidence{}, err
	}
	slot, err := keySlot(key)
	if err != nil {
		return hsm.Evidence{}, err
	}
	slotCert, err := t.card.Attest(pivSlot(slot))
	if err != nil {
		if errors.Is(err, piv.ErrNotFound) {
			return hsm.Evidence{}, &hsm.DeviceError{Op: "ATTEST (slot " + slotHex(slot) + ")", Kind: hsm.ErrKeyNotFound,
				Err: fmt.Errorf("slot %s holds no key generated on the card (imported keys cannot be attested): %w", slotHex(slot), err), Token: t.info.String()}
		}
		return hsm.Evidence{}, t.fail("ATTEST (slot "+slotHex(slot)+")", err)
	}
	intermediate, err := t.card.AttestationCertificate()
	if err != nil {
		return hsm.Evidence{}, t.fail("GET DATA (attestation certificate, slot f9)", err)
	}
	if !samePublicKey(slotCert.PublicKey, key.Public) {
		return hsm.Evidence{}, &hsm.DeviceError{Op: "ATTEST (slot " + slotHex(slot) + ")", Kind: hsm.ErrKeyNotFound,
			Err: fmt.Errorf("the attestation of slot %s is for another key than the one expected", slotHex(slot)), Token: t.info.String()}
	}
	att := attestationOf(parseExtensions(slotCert), slotCert, intermediate)
	if att.Slot == "" {
		att.Slot = slotHex(slot)
	}
	return hsm.Evidence{Kind: "piv-attestation", Token: t.info, Attestation: att, ReadAt: time.Now().UTC()}, nil
}

// VerifyAttestation verifies a recorded attestation and returns what it
// proves: that the slot certificate is signed by the device's attestation
// certificate, which chains to roots (Yubico's PIV attestation roots, as
// piv-go ships them, when roots is nil), and that the attested public key
// is pub. The serial, firmware, form factor, slot and policies of the
// result are read from the verified certificate; a recorded value that
// differs from them is refused. Errors wrap ErrAttestation.
func VerifyAttestation(att *hsm.Attestation, pub crypto.PublicKey, roots *x509.CertPool) (*hsm.Attestation, error) {
	if att == nil {
		return nil, fmt.Errorf("%w: no attestation recorded", ErrAttestation)
	}
	what := "the attestation"
	if att.Slot != "" || att.Serial != "" {
		what = fmt.Sprintf("the attestation of slot %s of YubiKey serial %s", orUnknown(att.Slot), orUnknown(att.Serial))
	}
	slotCert, err := parsePEMCertificate(att.SlotCertificate)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: slot certificate: %v", ErrAttestation, what, err)
	}
	intermediate, err := parsePEMCertificate(att.Intermediate)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: attestation certificate (f9): %v", ErrAttestation, what, err)
	}
	v := piv.Verifier{Roots: roots}
	verified, err := v.Verify(intermediate, slotCert)
	if err != nil {
		whose := "Yubico's PIV attestation roots"
		if roots != nil {
			whose = "the given attestation roots"
		}
		return nil, withHints(fmt.Errorf("%w: %s does not chain to %s: %v", ErrAttestation, what, whose, err),
			"a virtual YubiKey's attestation verifies only with --attestation-roots naming its CA (virtual-yubikey ca --state FILE)")
	}
	got := attestationOf(*verified, slotCert, intermediate)
	if got.Slot == "" {
		got.Slot = att.Slot
	}
	what = fmt.Sprintf("the attestation of slot %s of YubiKey serial %s", orUnknown(got.Slot), got.Serial)
	if !samePublicKey(slotCert.PublicKey, pub) {
		return nil, fmt.Errorf("%w: %s attests another public key than the recorded key", ErrAttestation, what)
	}
	for _, f := range []struct{ name, recorded, attested string }{
		{"serial", att.Serial, got.Serial},
		{"slot", att.Slot, got.Slot},
		{"firmware", att.Firmware, got.Firmware},
		{"PIN policy", att.PINPolicy, got.PINPolicy},
		{"touch policy", att.TouchPolicy, got.TouchPolicy},
		{"form factor", att.FormFactor, got.FormFactor},
	} {
		if f.recorded != "" && f.recorded != f.attested {
			return nil, fmt.Errorf("%w: %s: recorded %s %q differs from the attested %q", ErrAttestation, what, f.name, f.recorded, f.attested)
		}
	}
	return got, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

func parsePEMCertificate(s string) (*x509.Certificate, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("more than one PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

// LoadRoots reads the PEM certificates of pemFile (--attestation-roots)
// into a pool.
func LoadRoots(pemFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(pemFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read attestation roots: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("attestation roots %s: certificate %d: %w", pemFile, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("attestation roots %s: no PEM certificate in the file", pemFile)
	}
	return pool, nil
}
