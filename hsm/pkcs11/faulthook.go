package pkcs11

import (
	"github.com/miekg/pkcs11"
)

// FaultHooks intercept the PKCS#11 calls of every module loaded while they
// are installed (see SetFaultHooks). They exist for tests: to make a token
// fail at any call, to count or order calls, and to make a token report
// PIN flags (CKF_USER_PIN_FINAL_TRY, …) that a software token never does.
// Production code never installs them.
//
// Operation names are those of the PKCS#11 functions: "C_Initialize",
// "C_GetSlotList", "C_GetTokenInfo", "C_OpenSession", "C_Login",
// "C_FindObjectsInit", "C_GenerateKeyPair", "C_SignInit", "C_Sign", …
// (every function of the module interface this package uses).
//
// Hooks run on the goroutine that makes the call and must be safe for
// concurrent use if the code under test calls from several goroutines.
type FaultHooks struct {
	// Before is called before each call. A non-nil error is returned to
	// the caller in place of the module's result, and the module is not
	// called, with one exception: an injected C_Sign failure still runs
	// the real C_Sign and drops its result, because a failed C_Sign ends
	// the token's signing operation and a session left with an active
	// operation would not behave like a real token's. Return a
	// pkcs11.Error (e.g. pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)) for the
	// module's own error codes.
	Before func(op string) error
	// After is called after each call with the error the caller gets
	// (nil, the module's error, or the one Before injected).
	After func(op string, err error)
	// TokenFlags, when set, rewrites the flags of every CK_TOKEN_INFO that
	// C_GetTokenInfo returns (pkcs11.CKF_* bits), e.g. to OR in
	// CKF_USER_PIN_FINAL_TRY.
	TokenFlags func(flags uint) uint
}

// SetFaultHooks makes every PKCS#11 module loaded from now on (by any
// Backend) go through h, until restore is called; modules loaded before
// are not affected, so install the hooks before opening tokens. Hooks
// installed earlier and not yet restored stay in effect beneath the new
// ones. For tests only: it changes process-wide state and must not be
// called while another goroutine may be loading a module (tests that use
// it must not run in parallel with others that open tokens).
func SetFaultHooks(h FaultHooks) (restore func()) {
	prev := wrapCtx
	wrapCtx = func(path string, c ctx) ctx {
		if prev != nil {
			c = prev(path, c)
		}
		return &hookCtx{ctx: c, h: h}
	}
	return func() { wrapCtx = prev }
}

// SetFaultHook is SetFaultHooks with only a Before hook: hook sees the
// name of each PKCS#11 call of modules loaded from now on, and a non-nil
// error it returns is what the call returns. For tests only.
func SetFaultHook(hook func(op string) error) (restore func()) {
	return SetFaultHooks(FaultHooks{Before: hook})
}

// hookCtx is a ctx that runs FaultHooks around another ctx.
type hookCtx struct {
	ctx ctx
	h   FaultHooks
}

var _ ctx = (*hookCtx)(nil)

func (c *hookCtx) before(op string) error {
	if c.h.Before == nil {
		return nil
	}
	return c.h.Before(op)
}

func (c *hookCtx) after(op string, err error) error {
	if c.h.After != nil {
		c.h.After(op, err)
	}
	return err
}

func (c *hookCtx) Initialize(opts ...pkcs11.InitializeOption) error {
	const op = "C_Initialize"
	if err := c.before(op); err != nil {
		return c.after(op, err)
	}
	return c.after(op, c.ctx.Initialize(opts...))
}

func (c *hookCtx) Finalize() error {
	const op = "C_Finalize"
	if err := c.before(op); err != nil {
		return c.after(op, err)
	}
	return c.after(op, c.ctx.Finalize())
}

// Destroy unloads the library; it is not a PKCS#11 call and cannot fail,
// so no hook sees it.
func (c *hookCtx) Destroy() { c.ctx.Destroy() }

func (c *hookCtx) GetInfo() (pkcs11.Info, error) {
	const op = "C_GetInfo"
	if err := c.before(op); err != nil {
		return pkcs11.Info{}, c.after(op, err)
	}
	info, err := c.ctx.GetInfo()
	return info, c.after(op, err)
}

func (c *hookCtx) GetSlotList(tokenPresent bool) ([]uint, error) {
	const op = "C_GetSlotList"
	if err := c.before(op); err != nil {
		return nil, c.after(op, err)
	}
	slots, err := c.ctx.GetSlotList(tokenPresent)
	return slots, c.after(op, err)
}

func (c *hookCtx) GetTokenInfo(slotID uint) (pkcs11.TokenInfo, error) {
	const op = "C_GetTokenInfo"
	if err := c.before(op); err != nil {
		return pkcs11.TokenInfo{}, c.after(op, err)
	}
	ti, err := c.ctx.GetTokenInfo(slotID)
	if err == nil && c.h.TokenFlags != nil {
		ti.Flags = c.h.TokenFlags(ti.Flags)
	}
	return ti, c.after(op, err)
}

func (c *hookCtx) GetMechanismList(slotID uint) ([]*pkcs11.Mechanism, error) {
	const op = "C_GetMechanismList"
	if err := c.before(op); err != nil {
		return nil, c.after(op, err)
	}
	ms, err := c.ctx.GetMechanismList(slotID)
	return ms, c.after(op, err)
}

func (c *hookCtx) OpenSession(slotID uint, flags uint) (pkcs11.SessionHandle, error) {
	const op = "C_OpenSession"
	if err := c.before(op); err != nil {
		return 0, c.after(op, err)
	}
	sh, err := c.ctx.OpenSession(slotID, flags)
	return sh, c.after(op, err)
}

func (c *hookCtx) CloseSession(sh pkcs11.SessionHandle) error {
	const op = "C_CloseSession"
	if err := c.before(op); err != nil {
		return c.after(op, err)
	}
	return c.after(op, c.ctx.CloseSession(sh))
}

func (c *hookCtx) Login(sh pkcs11.SessionHandle, userType uint, pin string) error {
	const op = "C_Login"
	if err := c.before(op); err != nil {
		return c.after(op, err)
	}
	return c.after(op, c.ctx.Login(sh, userType, pin))
}

func (c *hookCtx) Logout(sh pkcs11.SessionHandle) error {
	const op = "C_Logout"
	if err := c.before(op); err != nil {
		return c.after(op, err)
	}
	return c.after(op, c.ctx.Logout(sh))
}

func (c *hookCtx) FindObjectsInit(sh pkcs11.SessionHandle, temp []*pkcs11.Attribute) error {
	const op = "C_FindObjectsInit"
	if err := c.before(op); err != nil {
		return c.after(op, err)
	}
	return c.after(op, c.ctx.FindObjectsInit(sh, temp))
}

func (c *hookCtx) FindObjects(sh pkcs11.SessionHandle, max int) ([]pkcs11.ObjectHandle, bool, error) {
	const op = "C_FindObjects"
	if err := c.before(op); err != nil {
		return nil, false, c.after(op, err)
	}
	hs, more, err := c.ctx.FindObjects(sh, max)
	return hs, more, c.after(op, err)
}

func (c *hookCtx) FindObjectsFinal(sh pkcs11.SessionHandle) error {
	const op = "C_FindObjectsFinal"
	if err := c.before(op); err != nil {
		return c.after(op, err)
	}
	return c.after(op, c.ctx.FindObjectsFinal(sh))
}

func (c *hookCtx) GetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error) {
	const op = "C_GetAttributeValue"
	if err := c.before(op); err != nil {
		return nil, c.after(op, err)
	}
	attrs, err := c.ctx.GetAttributeValue(sh, o, a)
	return attrs, c.after(op, err)
}

func (c *hookCtx) GenerateKeyPair(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, public, private []*pkcs11.Attribute) (pkcs11.ObjectHandle, pkcs11.ObjectHandle, error) {
	const op = "C_GenerateKeyPair"
	if err := c.before(op); err != nil {
		return 0, 0, c.after(op, err)
	}
	pub, priv, err := c.ctx.GenerateKeyPair(sh, m, public, private)
	return pub, priv, c.after(op, err)
}

func (c *hookCtx) GenerateRandom(sh pkcs11.SessionHandle, length int) ([]byte, error) {
	const op = "C_GenerateRandom"
	if err := c.before(op); err != nil {
		return nil, c.after(op, err)
	}
	b, err := c.ctx.GenerateRandom(sh, length)
	return b, c.after(op, err)
}

func (c *hookCtx) DestroyObject(sh pkcs11.SessionHandle, oh pkcs11.ObjectHandle) error {
	const op = "C_DestroyObject"
	if err := c.before(op); err != nil {
		return c.after(op, err)
	}
	return c.after(op, c.ctx.DestroyObject(sh, oh))
}

func (c *hookCtx) SignInit(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, o pkcs11.ObjectHandle) error {
	const op = "C_SignInit"
	if err := c.before(op); err != nil {
		return c.after(op, err)
	}
	return c.after(op, c.ctx.SignInit(sh, m, o))
}

// Sign runs the real C_Sign even when Before injects a failure, so that
// the token's signing operation ends as it would on a real failure.
func (c *hookCtx) Sign(sh pkcs11.SessionHandle, message []byte) ([]byte, error) {
	const op = "C_Sign"
	injected := c.before(op)
	sig, err := c.ctx.Sign(sh, message)
	if injected != nil {
		return nil, c.after(op, injected)
	}
	return sig, c.after(op, err)
}
