package softhsmtest

import (
	"fmt"

	"github.com/miekg/pkcs11"
)

// RawSign is what any program signing on a PKCS#11 token has to do, and
// nothing more: load the module, find the token by label, open a session,
// log in, find the private key by CKA_ID, sign the digest (CKM_ECDSA), and
// undo it all. Benchmarks time the tool against it. The PIN goes to
// C_Login only; errors are the module's return codes, never the PIN.
func RawSign(module, label, pin string, keyID, digest []byte) ([]byte, error) {
	p := pkcs11.New(module)
	if p == nil {
		return nil, fmt.Errorf("cannot load %s", module)
	}
	defer p.Destroy()
	if err := p.Initialize(); err != nil {
		return nil, err
	}
	defer p.Finalize()
	slots, err := p.GetSlotList(true)
	if err != nil {
		return nil, err
	}
	slot, found := uint(0), false
	for _, s := range slots {
		ti, err := p.GetTokenInfo(s)
		if err != nil {
			return nil, err
		}
		if ti.Label == label {
			slot, found = s, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("no token %s", label)
	}
	sess, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, err
	}
	defer p.CloseSession(sess)
	if err := p.Login(sess, pkcs11.CKU_USER, pin); err != nil {
		return nil, err
	}
	defer p.Logout(sess)
	if err := p.FindObjectsInit(sess, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, keyID),
	}); err != nil {
		return nil, err
	}
	hs, _, err := p.FindObjects(sess, 1)
	if ferr := p.FindObjectsFinal(sess); err == nil {
		err = ferr
	}
	if err != nil {
		return nil, err
	}
	if len(hs) != 1 {
		return nil, fmt.Errorf("token %s: no private key", label)
	}
	if err := p.SignInit(sess, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, hs[0]); err != nil {
		return nil, err
	}
	return p.Sign(sess, digest)
}
