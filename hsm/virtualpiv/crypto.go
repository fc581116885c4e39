package virtualpiv

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Algorithm identifiers (SP 800-78-4, and Yubico's for Ed25519).
const (
	algo3DES    = 0x03
	algoAES128  = 0x08
	algoAES192  = 0x0a
	algoAES256  = 0x0c
	algoRSA1024 = 0x06
	algoRSA2048 = 0x07
	algoRSA3072 = 0x05
	algoRSA4096 = 0x16
	algoECCP256 = 0x11
	algoECCP384 = 0x14
	algoEd25519 = 0xe0
)

// Key policies as GENERATE, IMPORT, GET METADATA and the attestation
// extension 1.3.6.1.4.1.41482.3.8 encode them.
const (
	pinDefault   = 0x00
	pinNever     = 0x01
	pinOnce      = 0x02
	pinAlways    = 0x03
	touchDefault = 0x00
	touchNever   = 0x01
	touchAlways  = 0x02
	touchCached  = 0x03

	originGenerated = 0x01
	originImported  = 0x02
)

// Form factors (extension 1.3.6.1.4.1.41482.3.9, management tag 04).
const (
	formFactorUSBAKeychain = 0x01
)

var managementKeyLengths = map[byte]int{
	algo3DES:   24,
	algoAES128: 16,
	algoAES192: 24,
	algoAES256: 32,
}

// managementCipher returns the block cipher of a management key.
func managementCipher(k ManagementKey) (cipher.Block, error) {
	if n, ok := managementKeyLengths[k.Algorithm]; !ok || n != len(k.Key) {
		return nil, fmt.Errorf("bad management key (algorithm %#x, %d bytes)", k.Algorithm, len(k.Key))
	}
	if k.Algorithm == algo3DES {
		return des.NewTripleDESCipher(k.Key)
	}
	return aes.NewCipher(k.Key)
}

// algorithmSupported reports whether firmware fw can hold keys of alg.
func algorithmSupported(alg byte, fw Firmware) bool {
	switch alg {
	case algoECCP256, algoRSA1024, algoRSA2048:
		return true
	case algoECCP384:
		return fw.AtLeast(4, 0, 0)
	case algoEd25519, algoRSA3072, algoRSA4096:
		return fw.AtLeast(5, 7, 0)
	}
	return false
}

func rsaBits(alg byte) int {
	switch alg {
	case algoRSA1024:
		return 1024
	case algoRSA2048:
		return 2048
	case algoRSA3072:
		return 3072
	case algoRSA4096:
		return 4096
	}
	return 0
}

// generateKey makes a private key of alg in software.
func generateKey(alg byte) (crypto.Signer, error) {
	switch alg {
	case algoECCP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case algoECCP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case algoEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	if bits := rsaBits(alg); bits != 0 {
		return rsa.GenerateKey(rand.Reader, bits)
	}
	return nil, fmt.Errorf("unsupported algorithm %#x", alg)
}

// algorithmOf names the PIV algorithm of a private key.
func algorithmOf(k crypto.Signer) (byte, error) {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return algoECCP256, nil
		case elliptic.P384():
			return algoECCP384, nil
		}
	case ed25519.PrivateKey:
		return algoEd25519, nil
	case *rsa.PrivateKey:
		switch k.N.BitLen() {
		case 1024:
			return algoRSA1024, nil
		case 2048:
			return algoRSA2048, nil
		case 3072:
			return algoRSA3072, nil
		case 4096:
			return algoRSA4096, nil
		}
	}
	return 0, fmt.Errorf("unsupported key %T", k)
}

// parseKey decodes the PKCS#8 key of a slot.
func parseKey(k *SlotKey) (crypto.Signer, error) {
	key, err := x509.ParsePKCS8PrivateKey(k.PKCS8)
	if err != nil {
		return nil, err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key %T", key)
	}
	return s, nil
}

// newSlotKey wraps a private key with its policies for the state.
func newSlotKey(key crypto.Signer, pinPolicy, touchPolicy, origin byte) (*SlotKey, error) {
	alg, err := algorithmOf(key)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &SlotKey{Algorithm: alg, PINPolicy: pinPolicy, TouchPolicy: touchPolicy, Origin: origin, PKCS8: der}, nil
}

// encodePublicKey encodes a public key the way GENERATE ASYMMETRIC (inside
// 7F49) and GET METADATA (tag 04) return it: 86 point for EC and Ed25519,
// 81 modulus 82 exponent for RSA.
func encodePublicKey(pub crypto.PublicKey) ([]byte, error) {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		ecdhPub, err := pub.ECDH()
		if err != nil {
			return nil, err
		}
		return encodeTLV(0x86, ecdhPub.Bytes()), nil
	case ed25519.PublicKey:
		return encodeTLV(0x86, pub), nil
	case *rsa.PublicKey:
		e := big.NewInt(int64(pub.E)).Bytes()
		return concat(encodeTLV(0x81, pub.N.Bytes()), encodeTLV(0x82, e)), nil
	}
	return nil, fmt.Errorf("unsupported public key %T", pub)
}

// errBadInput is returned by sign for input the algorithm cannot take.
var errBadInput = errors.New("bad input for the key's algorithm")

// sign performs the private-key operation GENERAL AUTHENTICATE asks for:
// ECDSA over the given hash (ASN.1 DER signature, as YubiKeys return it),
// Ed25519 over the message, or raw RSA (the host did the padding).
func sign(key crypto.Signer, input []byte) ([]byte, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(input) > size {
			return nil, errBadInput
		}
		return ecdsa.SignASN1(rand.Reader, k, input)
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input), nil
	case *rsa.PrivateKey:
		if len(input) != k.Size() {
			return nil, errBadInput
		}
		c := new(big.Int).SetBytes(input)
		if c.Cmp(k.N) >= 0 {
			return nil, errBadInput
		}
		m := new(big.Int).Exp(c, k.D, k.N)
		return m.FillBytes(make([]byte, k.Size())), nil
	}
	return nil, fmt.Errorf("unsupported key %T", key)
}

// importKey decodes the key material of IMPORT KEY (Yubico extension):
// 06 private scalar for EC, 07 seed for Ed25519, 01..05 (p, q, dP, dQ,
// qInv) for RSA with the public exponent 65537.
func importKey(alg byte, items []tlv) (crypto.Signer, error) {
	switch alg {
	case algoECCP256, algoECCP384:
		d, ok := findTLV(items, 0x06)
		if !ok {
			return nil, errBadInput
		}
		curve := elliptic.P256()
		if alg == algoECCP384 {
			curve = elliptic.P384()
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(d) > size {
			return nil, errBadInput
		}
		padded := make([]byte, size)
		copy(padded[size-len(d):], d)
		return ecdsa.ParseRawPrivateKey(curve, padded)
	case algoEd25519:
		seed, ok := findTLV(items, 0x07)
		if !ok || len(seed) != ed25519.SeedSize {
			return nil, errBadInput
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	bits := rsaBits(alg)
	if bits == 0 {
		return nil, errBadInput
	}
	p, ok1 := findTLV(items, 0x01)
	q, ok2 := findTLV(items, 0x02)
	if !ok1 || !ok2 {
		return nil, errBadInput
	}
	P, Q := new(big.Int).SetBytes(p), new(big.Int).SetBytes(q)
	one := big.NewInt(1)
	phi := new(big.Int).Mul(new(big.Int).Sub(P, one), new(big.Int).Sub(Q, one))
	e := big.NewInt(65537)
	d := new(big.Int).ModInverse(e, phi)
	if d == nil {
		return nil, errBadInput
	}
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).Mul(P, Q), E: 65537},
		D:         d,
		Primes:    []*big.Int{P, Q},
	}
	if k.N.BitLen() != bits {
		return nil, errBadInput
	}
	if err := k.Validate(); err != nil {
		return nil, errBadInput
	}
	k.Precompute()
	return k, nil
}

// Yubico's attestation extensions, as piv-go's Verify parses them.
var (
	oidFirmware   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 3}
	oidSerial     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 7}
	oidPolicy     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 8}
	oidFormFactor = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 9}
)

// Names that make a virtual key impossible to mistake for a real one.
const (
	caOrganization = "tuf-ceremony virtual-yubikey (software test device)"
	caCommonName   = "Virtual YubiKey CA, NOT Yubico"
	f9CommonName   = "Virtual YubiKey PIV Attestation, NOT Yubico"
	slotCommonName = "YubiKey PIV Attestation %02x" // piv-go reads the slot from this name
	validityYears  = 30
)

func randomSerialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// initAttestation creates this card's vendor CA and the attestation key in
// slot f9 with its certificate (object 5FFF01) signed by that CA.
func (s *State) initAttestation() error {
	now := time.Now().UTC().Truncate(time.Second)
	notBefore, notAfter := now.Add(-time.Hour), now.AddDate(validityYears, 0, 0)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caSerial, err := randomSerialNumber()
	if err != nil {
		return err
	}
	caTemplate := &x509.Certificate{
		SerialNumber: caSerial,
		Subject: pkix.Name{
			CommonName:   fmt.Sprintf("%s (serial %d)", caCommonName, s.Serial),
			Organization: []string{caOrganization},
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, caKey.Public(), caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	caPKCS8, err := x509.MarshalPKCS8PrivateKey(caKey)
	if err != nil {
		return err
	}

	f9Key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	f9Serial, err := randomSerialNumber()
	if err != nil {
		return err
	}
	f9Template := &x509.Certificate{
		SerialNumber: f9Serial,
		Subject: pkix.Name{
			CommonName:   f9CommonName,
			Organization: []string{caOrganization},
			SerialNumber: fmt.Sprint(s.Serial),
		},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		ExtraExtensions:       s.deviceExtensions(),
	}
	f9DER, err := x509.CreateCertificate(rand.Reader, f9Template, caCert, f9Key.Public(), caKey)
	if err != nil {
		return err
	}
	f9Slot, err := newSlotKey(f9Key, pinNever, touchNever, originImported)
	if err != nil {
		return err
	}
	s.CA = CA{Cert: caDER, Key: caPKCS8}
	s.Keys[slotHex(slotAttestation)] = f9Slot
	s.Objects[objectHex(objAttestationCert)] = certificateObject(f9DER)
	return nil
}

// deviceExtensions are the firmware, serial and form factor extensions.
func (s *State) deviceExtensions() []pkix.Extension {
	serial, _ := asn1.Marshal(int64(s.Serial))
	return []pkix.Extension{
		{Id: oidFirmware, Value: []byte{s.Firmware.Major, s.Firmware.Minor, s.Firmware.Patch}},
		{Id: oidSerial, Value: serial},
		{Id: oidFormFactor, Value: []byte{s.FormFactor}},
	}
}

// certificateObject is the content of a PIV certificate object:
// 70 certificate, 71 CertInfo (uncompressed), FE error detection code.
func certificateObject(der []byte) []byte {
	return concat(encodeTLV(0x70, der), encodeTLV(0x71, []byte{0}), encodeTLV(0xfe, nil))
}

// attestationIssuer returns the f9 certificate and key.
func (s *State) attestationIssuer() (*x509.Certificate, crypto.Signer, error) {
	obj, ok := s.Objects[objectHex(objAttestationCert)]
	if !ok {
		return nil, nil, errors.New("no attestation certificate in object 5fff01")
	}
	items, err := parseTLVs(obj)
	if err != nil {
		return nil, nil, err
	}
	der, ok := findTLV(items, 0x70)
	if !ok {
		return nil, nil, errors.New("attestation object holds no certificate")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	key, err := parseKey(s.Keys[slotHex(slotAttestation)])
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// attest issues the attestation certificate of the key in slot: subject
// "YubiKey PIV Attestation <slot>", signed by the f9 key, with Yubico's
// firmware, serial, policy and form-factor extensions.
func (s *State) attest(slot byte, k *SlotKey) ([]byte, error) {
	issuer, issuerKey, err := s.attestationIssuer()
	if err != nil {
		return nil, err
	}
	key, err := parseKey(k)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerialNumber()
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{CommonName: fmt.Sprintf(slotCommonName, slot)},
		NotBefore:       issuer.NotBefore,
		NotAfter:        issuer.NotAfter,
		ExtraExtensions: append(s.deviceExtensions(), pkix.Extension{Id: oidPolicy, Value: []byte{k.PINPolicy, k.TouchPolicy}}),
	}
	return x509.CreateCertificate(rand.Reader, template, issuer, key.Public(), issuerKey)
}

// CACertificate returns the vendor CA of the state.
func (s *State) CACertificate() (*x509.Certificate, error) {
	return x509.ParseCertificate(s.CA.Cert)
}
