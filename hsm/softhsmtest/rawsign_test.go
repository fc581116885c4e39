package softhsmtest

import (
	"strings"
	"testing"
)

// RawSign's errors are the module's return codes: a wrong PIN is refused
// by C_Login and appears in no error.
func TestRawSignWrongPINNotInError(t *testing.T) {
	store := New(t, "alice")
	const wrong = "wrong-735194"
	_, err := RawSign(store.Module, "alice", wrong, []byte{1}, make([]byte, 32))
	if err == nil {
		t.Fatal("a wrong PIN signed")
	}
	if !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") {
		t.Errorf("error %q is not the module's refusal of the PIN", err)
	}
	if strings.Contains(err.Error(), "735194") {
		t.Errorf("the PIN is in the error: %q", err)
	}
}
