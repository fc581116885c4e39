package pkcs11

import (
	"sync"

	"github.com/miekg/pkcs11"
)

// faultCtx wraps a real module and lets a test fail, or tamper with, any
// call. hook sees the call's name before it runs; a non-nil return is
// returned instead of calling the module.
type faultCtx struct {
	ctx
	mu    sync.Mutex
	calls []string
	hook  func(op string) error
	// tamperSig alters what C_Sign returned (a token returning garbage).
	tamperSig func([]byte) []byte
	// tokenFlags are OR-ed into C_GetTokenInfo's flags.
	tokenFlags uint
	// dropMechanism is removed from C_GetMechanismList.
	dropMechanism uint
}

func (f *faultCtx) before(op string) error {
	f.mu.Lock()
	f.calls = append(f.calls, op)
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		return hook(op)
	}
	return nil
}

func (f *faultCtx) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// installFaults makes every module loaded by the test go through f.
func installFaults(f *faultCtx) func() {
	wrapCtx = func(_ string, c ctx) ctx { f.ctx = c; return f }
	return func() { wrapCtx = nil }
}

func (f *faultCtx) GetSlotList(p bool) ([]uint, error) {
	if err := f.before("C_GetSlotList"); err != nil {
		return nil, err
	}
	return f.ctx.GetSlotList(p)
}

func (f *faultCtx) GetTokenInfo(slot uint) (pkcs11.TokenInfo, error) {
	if err := f.before("C_GetTokenInfo"); err != nil {
		return pkcs11.TokenInfo{}, err
	}
	ti, err := f.ctx.GetTokenInfo(slot)
	ti.Flags |= f.tokenFlags
	return ti, err
}

func (f *faultCtx) GetMechanismList(slot uint) ([]*pkcs11.Mechanism, error) {
	if err := f.before("C_GetMechanismList"); err != nil {
		return nil, err
	}
	ms, err := f.ctx.GetMechanismList(slot)
	var kept []*pkcs11.Mechanism
	for _, m := range ms {
		if f.dropMechanism == 0 || m.Mechanism != f.dropMechanism {
			kept = append(kept, m)
		}
	}
	return kept, err
}

func (f *faultCtx) OpenSession(slot, flags uint) (pkcs11.SessionHandle, error) {
	if err := f.before("C_OpenSession"); err != nil {
		return 0, err
	}
	return f.ctx.OpenSession(slot, flags)
}

func (f *faultCtx) Login(sh pkcs11.SessionHandle, userType uint, pin string) error {
	if err := f.before("C_Login"); err != nil {
		return err
	}
	return f.ctx.Login(sh, userType, pin)
}

func (f *faultCtx) FindObjectsInit(sh pkcs11.SessionHandle, temp []*pkcs11.Attribute) error {
	if err := f.before("C_FindObjectsInit"); err != nil {
		return err
	}
	return f.ctx.FindObjectsInit(sh, temp)
}

func (f *faultCtx) FindObjects(sh pkcs11.SessionHandle, max int) ([]pkcs11.ObjectHandle, bool, error) {
	if err := f.before("C_FindObjects"); err != nil {
		return nil, false, err
	}
	return f.ctx.FindObjects(sh, max)
}

func (f *faultCtx) GetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error) {
	if err := f.before("C_GetAttributeValue"); err != nil {
		return nil, err
	}
	return f.ctx.GetAttributeValue(sh, o, a)
}

func (f *faultCtx) GenerateKeyPair(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, pub, priv []*pkcs11.Attribute) (pkcs11.ObjectHandle, pkcs11.ObjectHandle, error) {
	if err := f.before("C_GenerateKeyPair"); err != nil {
		return 0, 0, err
	}
	return f.ctx.GenerateKeyPair(sh, m, pub, priv)
}

func (f *faultCtx) GenerateRandom(sh pkcs11.SessionHandle, n int) ([]byte, error) {
	if err := f.before("C_GenerateRandom"); err != nil {
		return nil, err
	}
	return f.ctx.GenerateRandom(sh, n)
}

func (f *faultCtx) SignInit(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, o pkcs11.ObjectHandle) error {
	if err := f.before("C_SignInit"); err != nil {
		return err
	}
	return f.ctx.SignInit(sh, m, o)
}

// Sign always runs the real C_Sign first, so that an injected failure
// ends the module's signing operation as a real failure would.
func (f *faultCtx) Sign(sh pkcs11.SessionHandle, msg []byte) ([]byte, error) {
	sig, err := f.ctx.Sign(sh, msg)
	if ferr := f.before("C_Sign"); ferr != nil {
		return nil, ferr
	}
	if err == nil && f.tamperSig != nil {
		sig = f.tamperSig(sig)
	}
	return sig, err
}
