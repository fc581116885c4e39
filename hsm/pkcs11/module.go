// Package pkcs11 is the PKCS#11 backend of hsm, on github.com/miekg/pkcs11.
// It drives SoftHSM2, YubiHSM 2, ykcs11, OpenSC and cloud HSMs through
// their module, addressed by RFC 7512 URIs.
//
// Keys are generated on the token as CKA_TOKEN, CKA_PRIVATE,
// CKA_SENSITIVE and not CKA_EXTRACTABLE, and the token's own account of
// the key (CKA_LOCAL, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE) is read
// back as evidence. The module is reached only through the small ctx
// interface below, so tests can inject a failure at any call.
package pkcs11

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/miekg/pkcs11"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// ctx mirrors the calls tuf-ceremony makes into a PKCS#11 module.
type ctx interface {
	Initialize(opts ...pkcs11.InitializeOption) error
	Finalize() error
	Destroy()
	GetInfo() (pkcs11.Info, error)
	GetSlotList(tokenPresent bool) ([]uint, error)
	GetTokenInfo(slotID uint) (pkcs11.TokenInfo, error)
	GetMechanismList(slotID uint) ([]*pkcs11.Mechanism, error)
	OpenSession(slotID uint, flags uint) (pkcs11.SessionHandle, error)
	CloseSession(sh pkcs11.SessionHandle) error
	Login(sh pkcs11.SessionHandle, userType uint, pin string) error
	Logout(sh pkcs11.SessionHandle) error
	FindObjectsInit(sh pkcs11.SessionHandle, temp []*pkcs11.Attribute) error
	FindObjects(sh pkcs11.SessionHandle, max int) ([]pkcs11.ObjectHandle, bool, error)
	FindObjectsFinal(sh pkcs11.SessionHandle) error
	GetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error)
	GenerateKeyPair(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, public, private []*pkcs11.Attribute) (pkcs11.ObjectHandle, pkcs11.ObjectHandle, error)
	GenerateRandom(sh pkcs11.SessionHandle, length int) ([]byte, error)
	DestroyObject(sh pkcs11.SessionHandle, oh pkcs11.ObjectHandle) error
	SignInit(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, o pkcs11.ObjectHandle) error
	Sign(sh pkcs11.SessionHandle, message []byte) ([]byte, error)
}

// Wrap lets tests intercept every module call; nil in production.
var wrapCtx func(path string, c ctx) ctx

// module is one loaded and initialized PKCS#11 library.
type module struct {
	path string
	ctx  ctx
	refs int
}

// WellKnownModules are tried, in order, when no module is named.
var WellKnownModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/libykcs11.so",
	"/usr/lib/aarch64-linux-gnu/libykcs11.so",
	"/usr/lib/x86_64-linux-gnu/pkcs11/yubihsm_pkcs11.so",
	"/usr/lib/aarch64-linux-gnu/pkcs11/yubihsm_pkcs11.so",
}

// moduleDirs are searched for an RFC 7512 module-name.
var moduleDirs = []string{
	"/usr/lib/softhsm",
	"/usr/lib/x86_64-linux-gnu/softhsm",
	"/usr/lib/aarch64-linux-gnu/softhsm",
	"/usr/lib/x86_64-linux-gnu/pkcs11",
	"/usr/lib/aarch64-linux-gnu/pkcs11",
	"/usr/lib/x86_64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu",
	"/usr/lib/pkcs11",
	"/usr/lib",
	"/usr/local/lib",
}

// DefaultModules returns the well-known modules present on this machine,
// each library once even where distributions link it under two names.
func DefaultModules() []string {
	var found []string
	seen := map[string]bool{}
	for _, p := range WellKnownModules {
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] {
			continue
		}
		if st, err := os.Stat(real); err == nil && st.Mode().IsRegular() {
			seen[real] = true
			found = append(found, p)
		}
	}
	return found
}

// ResolveModuleName finds the library an RFC 7512 module-name designates:
// "softhsm2" is libsofthsm2.so in one of the usual directories.
func ResolveModuleName(name string) (string, error) {
	if name == "" || filepath.Base(name) != name {
		return "", fmt.Errorf("%w: module-name %q must be a bare name such as softhsm2", hsm.ErrModule, name)
	}
	candidates := []string{"lib" + name + ".so", name + ".so", name}
	for _, dir := range moduleDirs {
		for _, c := range candidates {
			p := filepath.Join(dir, c)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%w: no library for module-name %q in %v", hsm.ErrModule, name, moduleDirs)
}

// loadModule opens and initializes the PKCS#11 library at path.
func loadModule(path string) (*module, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%w %s: module path must be absolute", hsm.ErrModule, path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", hsm.ErrModule, path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w %s: not a regular file", hsm.ErrModule, path)
	}
	raw := pkcs11.New(path)
	if raw == nil {
		// miekg/pkcs11 returns nil both when dlopen fails and when the
		// library has no C_GetFunctionList: either way it is not a usable
		// PKCS#11 module.
		return nil, fmt.Errorf("%w %s: not a PKCS#11 library (dlopen or C_GetFunctionList failed)", hsm.ErrModule, path)
	}
	var c ctx = raw
	if wrapCtx != nil {
		c = wrapCtx(path, c)
	}
	if err := c.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		c.Destroy()
		return nil, &hsm.DeviceError{Op: "C_Initialize", Kind: hsm.ErrModule, Err: err, Token: path}
	}
	return &module{path: path, ctx: c, refs: 1}, nil
}

func (m *module) release() {
	m.refs--
	if m.refs > 0 {
		return
	}
	_ = m.ctx.Finalize()
	m.ctx.Destroy()
}
