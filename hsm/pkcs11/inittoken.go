package pkcs11

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// NewToken describes a token for InitTokens.
type NewToken struct {
	Label   string
	SOPIN   hsm.PIN
	UserPIN hsm.PIN
}

// InitTokens initializes tokens in the free slots of a module, as
// `softhsm2-util --init-token --free` does, but through PKCS#11 so that no
// PIN passes through a child process's argv. It is for rehearsals on
// SoftHSM; a real HSM's tokens are prepared with the vendor's tools. The
// module is initialized and finalized once per token, because SoftHSM
// shows a new token only after C_Initialize.
func InitTokens(modulePath string, tokens []NewToken) error {
	for _, t := range tokens {
		if err := initToken(modulePath, t); err != nil {
			return fmt.Errorf("failed to initialize token %q: %w", t.Label, err)
		}
	}
	return nil
}

func initToken(modulePath string, t NewToken) error {
	if t.Label == "" || len(t.Label) > 32 || t.SOPIN.Empty() || t.UserPIN.Empty() {
		return errors.New("a token needs a label of 1 to 32 bytes, an SO PIN and a user PIN")
	}
	if err := initTokenInFreeSlot(modulePath, t); err != nil {
		return err
	}
	// SoftHSM renumbers the slot: the token is found again by label, with
	// the module initialized again.
	m, err := loadModule(modulePath)
	if err != nil {
		return err
	}
	defer m.release()
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return deviceError("C_GetSlotList", err, modulePath)
	}
	for _, s := range slots {
		ti, err := m.ctx.GetTokenInfo(s)
		if err != nil || ti.Label != t.Label || ti.Flags&pkcs11.CKF_USER_PIN_INITIALIZED != 0 {
			continue
		}
		return setUserPIN(m, s, t)
	}
	return errors.New("the new token did not appear")
}

// initTokenInFreeSlot runs C_InitToken in the module's free slot. The
// module is loaded and released here, once: a module left initialized
// would keep SoftHSM on its first configuration for the rest of the
// process.
func initTokenInFreeSlot(modulePath string, t NewToken) error {
	m, err := loadModule(modulePath)
	if err != nil {
		return err
	}
	defer m.release()
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return deviceError("C_GetSlotList", err, modulePath)
	}
	free := -1
	for _, s := range slots {
		ti, err := m.ctx.GetTokenInfo(s)
		if err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			free = int(s)
			break
		}
	}
	if free < 0 {
		return errors.New("no free slot")
	}
	raw, ok := m.ctx.(interface {
		InitToken(slotID uint, pin string, label string) error
	})
	if !ok {
		return errors.New("the module wrapper cannot initialize tokens")
	}
	if err := raw.InitToken(uint(free), t.SOPIN.Reveal(), t.Label); err != nil {
		return deviceError("C_InitToken", err, modulePath)
	}
	return nil
}

func setUserPIN(m *module, slot uint, t NewToken) error {
	sess, err := m.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return deviceError("C_OpenSession", err, t.Label)
	}
	defer m.ctx.CloseSession(sess)
	if err := m.ctx.Login(sess, pkcs11.CKU_SO, t.SOPIN.Reveal()); err != nil {
		return deviceError("C_Login(CKU_SO)", err, t.Label)
	}
	defer m.ctx.Logout(sess)
	initPIN, ok := m.ctx.(interface {
		InitPIN(sh pkcs11.SessionHandle, pin string) error
	})
	if !ok {
		return errors.New("the module wrapper cannot set a user PIN")
	}
	if err := initPIN.InitPIN(sess, t.UserPIN.Reveal()); err != nil {
		return deviceError("C_InitPIN", err, t.Label)
	}
	return nil
}
