package hsm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
)

// VerifySignature checks a signature a token returned, as a TUF client
// would: ECDSA as ASN.1 DER over the digest, Ed25519 over the whole
// message, RSASSA-PSS with opts. Every backend runs it before a signature
// leaves the token's signer.
func VerifySignature(pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) error {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return errors.New("ecdsa signature does not verify")
		}
		return nil
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, digest, sig) {
			return errors.New("ed25519 signature does not verify")
		}
		return nil
	case *rsa.PublicKey:
		pss, _ := opts.(*rsa.PSSOptions)
		return rsa.VerifyPSS(pub, opts.HashFunc(), digest, sig, pss)
	}
	return fmt.Errorf("unsupported public key %T", pub)
}
