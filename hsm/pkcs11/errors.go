package pkcs11

import (
	"errors"

	"github.com/miekg/pkcs11"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// classify maps a PKCS#11 return value to the hsm error kind callers
// branch on, or nil when there is none.
func classify(err error) error {
	var rv pkcs11.Error
	if !errors.As(err, &rv) {
		return nil
	}
	switch rv {
	case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE:
		return hsm.ErrPINIncorrect
	case pkcs11.CKR_PIN_LOCKED:
		return hsm.ErrPINLocked
	case pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_TOKEN_NOT_RECOGNIZED,
		pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_SLOT_ID_INVALID:
		return hsm.ErrTokenRemoved
	case pkcs11.CKR_USER_NOT_LOGGED_IN:
		return hsm.ErrNotLoggedIn
	case pkcs11.CKR_KEY_HANDLE_INVALID, pkcs11.CKR_OBJECT_HANDLE_INVALID:
		return hsm.ErrKeyNotFound
	case pkcs11.CKR_MECHANISM_INVALID, pkcs11.CKR_MECHANISM_PARAM_INVALID, pkcs11.CKR_FUNCTION_NOT_SUPPORTED,
		pkcs11.CKR_DOMAIN_PARAMS_INVALID, pkcs11.CKR_CURVE_NOT_SUPPORTED, pkcs11.CKR_KEY_SIZE_RANGE,
		pkcs11.CKR_TEMPLATE_INCONSISTENT, pkcs11.CKR_KEY_TYPE_INCONSISTENT:
		return hsm.ErrUnsupported
	}
	return nil
}

// deviceError keeps the module's error and adds its kind.
func deviceError(op string, err error, token string) error {
	if err == nil {
		return nil
	}
	return &hsm.DeviceError{Op: op, Kind: classify(err), Err: err, Token: token}
}
