package piv

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/tuf-ceremony/tuf-ceremony/hsm"
)

// card is the part of *piv.YubiKey this package calls, so that tests can
// inject faults between the token and the card.
type card interface {
	Close() error
	Serial() (uint32, error)
	Version() piv.Version
	FormFactor() (piv.Formfactor, error)
	Retries() (int, error)
	VerifyPIN(pin string) error
	SetPIN(oldPIN, newPIN string) error
	SetPUK(oldPUK, newPUK string) error
	SetManagementKey(oldKey, newKey []byte) error
	Metadata(pin string) (*piv.Metadata, error)
	SetMetadata(key []byte, m *piv.Metadata) error
	KeyInfo(slot piv.Slot) (piv.KeyInfo, error)
	Certificate(slot piv.Slot) (*x509.Certificate, error)
	Attest(slot piv.Slot) (*x509.Certificate, error)
	AttestationCertificate() (*x509.Certificate, error)
	GenerateKey(key []byte, slot piv.Slot, opts piv.Key) (crypto.PublicKey, error)
	PrivateKey(slot piv.Slot, public crypto.PublicKey, auth piv.KeyAuth) (crypto.PrivateKey, error)
	Reset() error
}

var _ card = (*piv.YubiKey)(nil)

// pcsc lists the readers pcscd knows and opens the card in one.
type pcsc interface {
	Cards() ([]string, error)
	Open(reader string) (card, error)
}

// pivGo is the real pcsc, through piv-go.
type pivGo struct{}

func (pivGo) Cards() ([]string, error) { return piv.Cards() }

func (pivGo) Open(reader string) (card, error) {
	yk, err := piv.Open(reader)
	if err != nil {
		return nil, err
	}
	return yk, nil
}

// Errors of this package that callers may branch on, besides the hsm kinds.
var (
	// ErrNoPCSCD means the PC/SC daemon, through which every smart card
	// is reached, is not running.
	ErrNoPCSCD error = unavailable("the PC/SC daemon (pcscd) is not running")
	// ErrCardBusy means another program holds the card exclusively.
	ErrCardBusy = errors.New("the YubiKey is in use by another program")
	// ErrManagementKey means the card's management key is unknown to
	// tuf-ceremony: neither stored PIN-protected on the card nor the
	// factory default.
	ErrManagementKey = errors.New("the YubiKey's management key is unknown")
	// ErrAttestation is an attestation that does not verify or does not
	// belong to the key it is recorded for.
	ErrAttestation = errors.New("attestation rejected")
)

// hinted adds "hint:" lines to an error for the CLI (which finds them with
// errors.As on interface{ Hints() []string }).
type hinted struct {
	err   error
	hints []string
}

func (e *hinted) Error() string   { return e.err.Error() }
func (e *hinted) Unwrap() error   { return e.err }
func (e *hinted) Hints() []string { return e.hints }

func withHints(err error, hints ...string) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hints: hints}
}

// Hints for the conditions the CLI's generic hints do not cover well.
const (
	hintPCSCD     = "start it with: sudo systemctl start pcscd.socket (Debian: apt-get install pcscd); for virtual YubiKeys: scripts/virtual-yubikeys.sh start"
	hintBusy      = "close the other program (ykman, gpg's scdaemon: gpgconf --kill scdaemon, another tuf-ceremony) and run the command again"
	hintRemoved   = "reinsert the YubiKey and run the command again; nothing was written"
	hintNoTouch   = "run the command again and touch the YubiKey's gold contact when it blinks (it waits about 15 seconds)"
	hintUnblock   = "unblock the PIN with the PUK: ykman piv access unblock-pin; if the PUK is blocked too, only a reset (tuf-ceremony token reset) makes the YubiKey usable again, and a reset destroys every key on it"
	hintSetup     = "set the YubiKey up first: tuf-ceremony token setup --token yubikey:serial=N (it stores a random management key PIN-protected on the card)"
	hintOtherSlot = "choose an empty slot with ;slot-id=… in the token URI (9a, 9c, 9d, 9e, 82 to 95; tuf-ceremony tokens shows which slots hold keys)"
)

// pcsc return codes, as piv-go words them (pcsc_errors.go), that mean the
// card or its reader went away.
var removedMessages = []string{
	"the smart card has been removed",
	"no Smart Card is currently in the device",
	"the specified reader is not currently available",
	"the specified reader name is not recognized",
	"the supplied handle was invalid",
	"the smart card has been reset",
	"power has been removed from the smart card",
	"the smart card is not responding to a reset",
	"an internal communications error has been detected",
	"a communications error with the smart card has been detected",
	"the reader or smart card is not ready to accept commands",
	"the Smart card resource manager has shut down",
	"the action was cancelled by the system",
	// No status word at all: the card stopped answering in the middle of
	// a command (seen when a card leaves vpcd while it waits for a touch).
	"scard response too short: 0",
}

const (
	msgNoService = "the Smart card resource manager is not running"
	msgSharing   = "the smart card cannot be accessed because of other connections outstanding"
	msgNoCard    = "no Smart Card is currently in the device"
)

// statusError is piv-go's unexported APDU error.
type statusError interface{ Status() uint16 }

// Status words of the PIV applet.
const (
	swSecurityStatus   = 0x6982
	swAuthBlocked      = 0x6983
	swIncorrectData    = 0x6a80
	swFuncNotSupported = 0x6a81
	swWrongP1P2        = 0x6a86
	swINSNotSupported  = 0x6d00
)

// status returns the status word inside err, or 0.
func status(err error) uint16 {
	var s statusError
	if errors.As(err, &s) {
		return s.Status()
	}
	return 0
}

// classify maps what piv-go returned to the hsm error kind callers branch
// on, or nil when there is none.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var auth piv.AuthErr
	if errors.As(err, &auth) {
		if auth.Retries == 0 {
			return hsm.ErrPINLocked
		}
		return hsm.ErrPINIncorrect
	}
	msg := err.Error()
	if strings.Contains(msg, msgNoService) {
		return ErrNoPCSCD
	}
	if strings.Contains(msg, msgSharing) {
		return ErrCardBusy
	}
	for _, m := range removedMessages {
		if strings.Contains(msg, m) {
			return hsm.ErrTokenRemoved
		}
	}
	if errors.Is(err, piv.ErrNotFound) {
		return hsm.ErrKeyNotFound
	}
	switch status(err) {
	case swSecurityStatus:
		return hsm.ErrNotLoggedIn
	case swFuncNotSupported, swINSNotSupported:
		return hsm.ErrUnsupported
	}
	return nil
}

// deviceError keeps piv-go's error, adds its kind and, for the kinds the
// CLI's generic hints do not cover, a hint.
func deviceError(op string, err error, token string) error {
	if err == nil {
		return nil
	}
	kind := classify(err)
	de := &hsm.DeviceError{Op: op, Kind: kind, Err: err, Token: token}
	switch kind {
	case ErrNoPCSCD:
		return withHints(de, hintPCSCD)
	case ErrCardBusy:
		return withHints(de, hintBusy)
	case hsm.ErrTokenRemoved:
		return withHints(de, hintRemoved)
	case hsm.ErrPINLocked:
		return withHints(de, hintUnblock)
	}
	return de
}

// isManagementKeyRejected reports whether piv-go failed because the card
// refused the management key it was given (no key was changed then).
func isManagementKeyRejected(err error) bool {
	if err == nil || classify(err) == hsm.ErrTokenRemoved {
		return false
	}
	msg := err.Error()
	if !strings.Contains(msg, "authenticating with") {
		return false
	}
	return status(err) == swSecurityStatus || status(err) == swIncorrectData ||
		strings.Contains(msg, "challenge failed") || strings.Contains(msg, "invalid management key length")
}

// pcscError explains a failure to reach pcscd at all.
func pcscError(op string, err error) error {
	kind := classify(err)
	if kind == ErrNoPCSCD {
		return withHints(fmt.Errorf("%w: %s: %v", ErrNoPCSCD, op, err), hintPCSCD)
	}
	return fmt.Errorf("failed to list smart-card readers: %s: %w", op, err)
}

// unavailable is an error that means no card of this backend can be
// reached at all (hsm.ErrNoReaderService), as opposed to a card failing.
type unavailable string

func (e unavailable) Error() string        { return string(e) }
func (e unavailable) Is(target error) bool { return target == hsm.ErrNoReaderService }
