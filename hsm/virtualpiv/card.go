package virtualpiv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"sync"
	"time"
)

// Instructions of the PIV applet (SP 800-73-4 and Yubico's extensions),
// the management applet and the OTP applet.
const (
	insVerify          = 0x20
	insChangeRef       = 0x24
	insResetRetry      = 0x2c
	insGenerate        = 0x47
	insAuthenticate    = 0x87
	insSelect          = 0xa4
	insGetResponse     = 0xc0
	insGetData         = 0xcb
	insPutData         = 0xdb
	insGetMetadata     = 0xf7
	insGetSerial       = 0xf8
	insAttest          = 0xf9
	insSetRetries      = 0xfa
	insReset           = 0xfb
	insGetVersion      = 0xfd
	insImportKey       = 0xfe
	insSetMgmKey       = 0xff
	insReadConfig      = 0x1d // management applet
	insOTPGetSerial    = 0x01 // OTP applet, with P1 0x10
	p1OTPSerial        = 0x10
	keyRefPIN          = 0x80
	keyRefPUK          = 0x81
	keyRefManagement   = 0x9b
	slotAttestation    = 0xf9
	objAttestationCert = 0x5fff01
	objPrinted         = 0x5fc109 // PIN-protected data, e.g. the management key
)

// Applications the card answers SELECT for.
var (
	aidPIV        = []byte{0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}
	aidManagement = []byte{0xa0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17}
	aidOTP        = []byte{0xa0, 0x00, 0x00, 0x05, 0x27, 0x20, 0x01, 0x01}
)

// atrYubiKey5 is the answer-to-reset of a YubiKey 5 (T=1), so that
// yubico-piv-tool recognizes the model.
var atrYubiKey5 = []byte{0x3b, 0xfd, 0x13, 0x00, 0x00, 0x81, 0x31, 0xfe, 0x15, 0x80, 0x73, 0xc0, 0x21, 0xc0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4b, 0x65, 0x79, 0x40}

const (
	maxObjectSize   = 3052 // largest data object a YubiKey 5 stores
	maxChainedData  = 4096
	responseChunk   = 256
	minPINLength    = 6
	paddedPINLength = 8
)

type application int

const (
	appNone application = iota
	appPIV
	appManagement
	appOTP
)

// Card is the virtual YubiKey: the PIV applet, plus the bits of the
// management and OTP applets that clients read the serial and form factor
// from. Process answers one command APDU; state that survives a power
// cycle lives in State and is saved after every change.
type Card struct {
	mu    sync.Mutex
	state *State
	save  func(*State) error
	touch *TouchSensor
	ctx   context.Context
	logf  func(format string, args ...any)
	now   func() time.Time

	// Volatile state, lost at power off and reset.
	app         application
	pinVerified bool   // the PIN was verified in this session
	pinFresh    bool   // ... by the command just before (PIN policy "always")
	mgmAuthed   bool   // the management key was authenticated
	witness     []byte // mutual authentication: the witness the host must decrypt
	challenge   []byte // external authentication: the challenge the host must encrypt
	chain       *command
	pending     []byte // rest of a long response, for GET RESPONSE
	lastTouch   time.Time
}

// CardOptions configure NewCard. Only State is required.
type CardOptions struct {
	State *State
	// Save persists the state after each change; nil keeps it in memory.
	Save func(*State) error
	// Touch is the touch sensor; nil touches automatically.
	Touch *TouchSensor
	// Context ends touch waits when it is done (on shutdown).
	Context context.Context
	// Logf, if set, receives one line per command (never PINs or keys).
	Logf func(format string, args ...any)
}

// NewCard returns a powered-off card.
func NewCard(o CardOptions) *Card {
	c := &Card{state: o.State, save: o.Save, touch: o.Touch, ctx: o.Context, logf: o.Logf, now: time.Now}
	if c.touch == nil {
		c.touch, _ = NewTouchSensor(TouchAuto, 0)
	}
	if c.ctx == nil {
		c.ctx = context.Background()
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	return c
}

// ATR returns the card's answer to reset.
func (c *Card) ATR() []byte { return atrYubiKey5 }

// PowerCycle resets everything volatile: selected application, PIN and
// management key authentication, chains and pending responses. It models
// power on, power off, reset and insertion.
func (c *Card) PowerCycle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.app = appNone
	c.clearSecurity()
	c.chain, c.pending = nil, nil
}

func (c *Card) clearSecurity() {
	c.pinVerified, c.pinFresh, c.mgmAuthed = false, false, false
	c.witness, c.challenge = nil, nil
}

// Process answers one command APDU with a response APDU (data and status
// word). It blocks while the card waits for a touch.
func (c *Card) Process(raw []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmd, err := parseCommand(raw)
	if err != nil {
		c.chain, c.pending = nil, nil
		return c.finish(command{}, nil, swWrongLength)
	}
	if cmd.cla&^0x10 != 0 {
		c.chain, c.pending = nil, nil
		return c.finish(cmd, nil, swCLANotSupported)
	}
	if cmd.ins == insGetResponse && c.chain == nil {
		return c.getResponse(cmd)
	}
	c.pending = nil
	if cmd.chained() {
		if c.chain != nil && !sameHeader(*c.chain, cmd) {
			c.chain = nil
			return c.finish(cmd, nil, swLastCommandExpected)
		}
		if c.chain == nil {
			c.chain = &command{ins: cmd.ins, p1: cmd.p1, p2: cmd.p2}
		}
		if len(c.chain.data)+len(cmd.data) > maxChainedData {
			c.chain = nil
			return c.finish(cmd, nil, swWrongLength)
		}
		c.chain.data = append(c.chain.data, cmd.data...)
		return withSW(nil, swOK)
	}
	if c.chain != nil {
		chain := c.chain
		c.chain = nil
		if !sameHeader(*chain, cmd) {
			return c.finish(cmd, nil, swLastCommandExpected)
		}
		cmd.data = append(chain.data, cmd.data...)
	}
	body, sw := c.dispatch(cmd)
	if cmd.ins != insVerify {
		c.pinFresh = false
	}
	return c.finish(cmd, body, sw)
}

func sameHeader(a, b command) bool { return a.ins == b.ins && a.p1 == b.p1 && a.p2 == b.p2 }

// finish logs the command and splits a long response: the first 256 bytes
// with 61xx, the rest for GET RESPONSE.
func (c *Card) finish(cmd command, body []byte, sw uint16) []byte {
	c.logf("%s p1=%02x p2=%02x lc=%d -> %d bytes sw=%04x", insName(cmd.ins), cmd.p1, cmd.p2, len(cmd.data), len(body), sw)
	if sw != swOK {
		return withSW(nil, sw)
	}
	if len(body) > responseChunk {
		c.pending = body[responseChunk:]
		return withSW(body[:responseChunk], swBytesRemaining|remainingByte(len(c.pending)))
	}
	return withSW(body, swOK)
}

func remainingByte(n int) uint16 {
	if n >= 256 {
		return 0
	}
	return uint16(n)
}

func (c *Card) getResponse(cmd command) []byte {
	if len(c.pending) == 0 {
		return c.finish(cmd, nil, swConditionsNotMet)
	}
	n := min(len(c.pending), responseChunk)
	chunk := c.pending[:n]
	c.pending = c.pending[n:]
	if len(c.pending) > 0 {
		return withSW(chunk, swBytesRemaining|remainingByte(len(c.pending)))
	}
	c.pending = nil
	return withSW(chunk, swOK)
}

func (c *Card) dispatch(cmd command) ([]byte, uint16) {
	if cmd.ins == insSelect {
		return c.selectApp(cmd)
	}
	switch c.app {
	case appPIV:
		return c.piv(cmd)
	case appManagement:
		return c.management(cmd)
	case appOTP:
		return c.otp(cmd)
	}
	return nil, swINSNotSupported
}

func (c *Card) selectApp(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0x04 {
		return nil, swIncorrectP1P2
	}
	aid := cmd.data
	// Selecting any application ends the PIV security status; this is how
	// yubico-piv-tool logs out.
	c.clearSecurity()
	switch {
	case len(aid) >= 5 && bytes.HasPrefix(aidPIV, aid):
		c.app = appPIV
		// Application property template: PIV AID and its allocation.
		return concat(encodeTLV(0x61, concat(
			encodeTLV(0x4f, aidPIV[5:]),
			encodeTLV(0x79, encodeTLV(0x4f, aidPIV[:5])),
		))), swOK
	case bytes.Equal(aid, aidManagement):
		c.app = appManagement
		return []byte("Virtual YubiKey (NOT Yubico) - FW version " + c.state.Firmware.String()), swOK
	case bytes.Equal(aid, aidOTP):
		c.app = appOTP
		fw := c.state.Firmware
		return []byte{fw.Major, fw.Minor, fw.Patch, 0, 0, 0}, swOK
	}
	c.app = appNone
	return nil, swFileNotFound
}

func (c *Card) management(cmd command) ([]byte, uint16) {
	if cmd.ins != insReadConfig {
		return nil, swINSNotSupported
	}
	const capPIV = 0x0010
	s := c.state
	fw := s.Firmware
	info := concat(
		encodeTLV(0x01, []byte{0, capPIV}), // USB capabilities supported
		encodeTLV(0x02, s.serialBytes()),   // serial
		encodeTLV(0x03, []byte{0, capPIV}), // USB capabilities enabled
		encodeTLV(0x04, []byte{s.FormFactor}),
		encodeTLV(0x05, []byte{fw.Major, fw.Minor, fw.Patch}),
		encodeTLV(0x0a, []byte{0}), // configuration not locked
	)
	return append([]byte{byte(len(info))}, info...), swOK
}

func (c *Card) otp(cmd command) ([]byte, uint16) {
	if cmd.ins == insOTPGetSerial && cmd.p1 == p1OTPSerial {
		return c.state.serialBytes(), swOK
	}
	return nil, swINSNotSupported
}

func (c *Card) piv(cmd command) ([]byte, uint16) {
	switch cmd.ins {
	case insVerify:
		return c.verify(cmd)
	case insChangeRef:
		return c.changeReference(cmd)
	case insResetRetry:
		return c.resetRetry(cmd)
	case insGenerate:
		return c.generate(cmd)
	case insAuthenticate:
		return c.authenticate(cmd)
	case insGetData:
		return c.getData(cmd)
	case insPutData:
		return c.putData(cmd)
	case insGetVersion:
		fw := c.state.Firmware
		return []byte{fw.Major, fw.Minor, fw.Patch}, swOK
	case insGetSerial:
		return c.state.serialBytes(), swOK
	case insGetMetadata:
		if !c.state.Firmware.AtLeast(5, 3, 0) {
			return nil, swINSNotSupported
		}
		return c.metadata(cmd)
	case insAttest:
		return c.attest(cmd)
	case insSetRetries:
		return c.setRetries(cmd)
	case insReset:
		return c.reset()
	case insImportKey:
		return c.importKey(cmd)
	case insSetMgmKey:
		return c.setManagementKey(cmd)
	}
	return nil, swINSNotSupported
}

// commit saves the state; a failure is the card's memory failing.
func (c *Card) commit() uint16 {
	if c.save == nil {
		return swOK
	}
	if err := c.save(c.state); err != nil {
		c.logf("error: %v", err)
		return swMemoryFailure
	}
	return swOK
}

func padPIN(pin string) []byte {
	b := bytes.Repeat([]byte{0xff}, paddedPINLength)
	copy(b, pin)
	return b
}

// unpadPIN decodes an FF-padded PIN or PUK of 6 to 8 bytes.
func unpadPIN(b []byte) (string, bool) {
	if len(b) != paddedPINLength {
		return "", false
	}
	n := bytes.IndexByte(b, 0xff)
	if n < 0 {
		n = len(b)
	}
	if n < minPINLength {
		return "", false
	}
	for _, x := range b[n:] {
		if x != 0xff {
			return "", false
		}
	}
	return string(b[:n]), true
}

func retriesSW(left int) uint16 { return swVerifyFailed | uint16(min(left, 15)) }

// reference is the PIN or the PUK with its retry counters.
type reference struct {
	value *string
	left  *int
	max   int
}

func (c *Card) reference(p2 byte) (reference, bool) {
	s := c.state
	switch p2 {
	case keyRefPIN:
		return reference{&s.PIN, &s.PINRetriesLeft, s.PINRetries}, true
	case keyRefPUK:
		return reference{&s.PUK, &s.PUKRetriesLeft, s.PUKRetries}, true
	}
	return reference{}, false
}

// check compares a padded value with the reference, counting a failure
// (and saving the counter) or restoring the counter on success. It returns
// the status word to answer on failure, or 0 on success.
func (c *Card) check(ref reference, padded []byte, isPIN bool) uint16 {
	if *ref.left == 0 {
		return swAuthBlocked
	}
	if subtle.ConstantTimeCompare(padded, padPIN(*ref.value)) != 1 {
		*ref.left--
		if isPIN {
			c.pinVerified, c.pinFresh = false, false
		}
		if sw := c.commit(); sw != swOK {
			return sw
		}
		return retriesSW(*ref.left)
	}
	if *ref.left != ref.max {
		*ref.left = ref.max
		if sw := c.commit(); sw != swOK {
			return sw
		}
	}
	return 0
}

func (c *Card) verify(cmd command) ([]byte, uint16) {
	if cmd.p1 == 0xff && cmd.p2 == keyRefPIN && len(cmd.data) == 0 { // log out (5.3+)
		c.pinVerified, c.pinFresh = false, false
		return nil, swOK
	}
	if cmd.p1 != 0 {
		return nil, swIncorrectP1P2
	}
	if cmd.p2 != keyRefPIN {
		return nil, swReferenceNotFound
	}
	s := c.state
	if len(cmd.data) == 0 { // status query
		switch {
		case s.PINRetriesLeft == 0:
			return nil, swAuthBlocked
		case c.pinVerified:
			return nil, swOK
		}
		return nil, retriesSW(s.PINRetriesLeft)
	}
	if len(cmd.data) != paddedPINLength {
		return nil, swIncorrectData
	}
	ref, _ := c.reference(keyRefPIN)
	if sw := c.check(ref, cmd.data, true); sw != 0 {
		return nil, sw
	}
	c.pinVerified, c.pinFresh = true, true
	return nil, swOK
}

func (c *Card) changeReference(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0 {
		return nil, swIncorrectP1P2
	}
	ref, ok := c.reference(cmd.p2)
	if !ok {
		return nil, swReferenceNotFound
	}
	if len(cmd.data) != 2*paddedPINLength {
		return nil, swIncorrectData
	}
	if sw := c.check(ref, cmd.data[:paddedPINLength], cmd.p2 == keyRefPIN); sw != 0 {
		return nil, sw
	}
	newValue, ok := unpadPIN(cmd.data[paddedPINLength:])
	if !ok {
		return nil, swIncorrectData
	}
	*ref.value = newValue
	return nil, c.commit()
}

func (c *Card) resetRetry(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0 {
		return nil, swIncorrectP1P2
	}
	if cmd.p2 != keyRefPIN {
		return nil, swReferenceNotFound
	}
	if len(cmd.data) != 2*paddedPINLength {
		return nil, swIncorrectData
	}
	puk, _ := c.reference(keyRefPUK)
	if sw := c.check(puk, cmd.data[:paddedPINLength], false); sw != 0 {
		return nil, sw
	}
	newPIN, ok := unpadPIN(cmd.data[paddedPINLength:])
	if !ok {
		return nil, swIncorrectData
	}
	c.state.PIN = newPIN
	c.state.PINRetriesLeft = c.state.PINRetries
	return nil, c.commit()
}

func (c *Card) setRetries(cmd command) ([]byte, uint16) {
	if !c.mgmAuthed || !c.pinVerified {
		return nil, swSecurityStatus
	}
	if cmd.p1 == 0 || cmd.p2 == 0 {
		return nil, swIncorrectP1P2
	}
	// As on a YubiKey, this also restores the default PIN and PUK.
	c.state.resetPINs(int(cmd.p1), int(cmd.p2))
	c.pinVerified = false
	return nil, c.commit()
}

func (c *Card) reset() ([]byte, uint16) {
	s := c.state
	if s.PINRetriesLeft != 0 || s.PUKRetriesLeft != 0 {
		return nil, swConditionsNotMet
	}
	s.factoryReset()
	c.clearSecurity()
	c.logf("reset: the PIV applet is back to factory settings")
	return nil, c.commit()
}

// validKeySlot reports whether slot can hold an asymmetric key.
func validKeySlot(slot byte) bool {
	switch {
	case slot == 0x9a, slot == 0x9c, slot == 0x9d, slot == 0x9e, slot == slotAttestation:
		return true
	case slot >= 0x82 && slot <= 0x95:
		return true
	}
	return false
}

// defaultPINPolicy is a YubiKey's PIN policy when GENERATE names none.
func defaultPINPolicy(slot byte) byte {
	switch slot {
	case 0x9c:
		return pinAlways
	case 0x9e:
		return pinNever
	}
	return pinOnce
}

// policies reads the AA (PIN) and AB (touch) policies of GENERATE and
// IMPORT, filling in the slot's defaults.
func policies(items []tlv, slot byte) (pin, touch byte, ok bool) {
	pin, touch = defaultPINPolicy(slot), touchNever
	if v, found := findTLV(items, 0xaa); found {
		if len(v) != 1 || v[0] > pinAlways {
			return 0, 0, false
		}
		if v[0] != pinDefault {
			pin = v[0]
		}
	}
	if v, found := findTLV(items, 0xab); found {
		if len(v) != 1 || v[0] > touchCached {
			return 0, 0, false
		}
		if v[0] != touchDefault {
			touch = v[0]
		}
	}
	return pin, touch, true
}

func (c *Card) generate(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0 {
		return nil, swIncorrectP1P2
	}
	if !c.mgmAuthed {
		return nil, swSecurityStatus
	}
	slot := cmd.p2
	if !validKeySlot(slot) || slot == slotAttestation {
		return nil, swWrongP1P2
	}
	template, ok := parseSingleTLV(cmd.data, 0xac)
	if !ok {
		return nil, swIncorrectData
	}
	items, err := parseTLVs(template)
	if err != nil {
		return nil, swIncorrectData
	}
	alg, ok := findTLV(items, 0x80)
	if !ok || len(alg) != 1 || !algorithmSupported(alg[0], c.state.Firmware) {
		return nil, swIncorrectData
	}
	pinPolicy, touchPolicy, ok := policies(items, slot)
	if !ok {
		return nil, swIncorrectData
	}
	key, err := generateKey(alg[0])
	if err != nil {
		return nil, swIncorrectData
	}
	sk, err := newSlotKey(key, pinPolicy, touchPolicy, originGenerated)
	if err != nil {
		return nil, swIncorrectData
	}
	pub, err := encodePublicKey(key.Public())
	if err != nil {
		return nil, swIncorrectData
	}
	c.state.Keys[slotHex(slot)] = sk
	if sw := c.commit(); sw != swOK {
		return nil, sw
	}
	return encodeTLV(0x7f49, pub), swOK
}

func (c *Card) importKey(cmd command) ([]byte, uint16) {
	if !c.mgmAuthed {
		return nil, swSecurityStatus
	}
	slot, alg := cmd.p2, cmd.p1
	if !validKeySlot(slot) {
		return nil, swWrongP1P2
	}
	if !algorithmSupported(alg, c.state.Firmware) {
		return nil, swIncorrectP1P2
	}
	items, err := parseTLVs(cmd.data)
	if err != nil {
		return nil, swIncorrectData
	}
	pinPolicy, touchPolicy, ok := policies(items, slot)
	if !ok {
		return nil, swIncorrectData
	}
	key, err := importKey(alg, items)
	if err != nil {
		return nil, swIncorrectData
	}
	sk, err := newSlotKey(key, pinPolicy, touchPolicy, originImported)
	if err != nil {
		return nil, swIncorrectData
	}
	c.state.Keys[slotHex(slot)] = sk
	return nil, c.commit()
}

func (c *Card) attest(cmd command) ([]byte, uint16) {
	slot := cmd.p1
	if cmd.p2 != 0 {
		return nil, swIncorrectP1P2
	}
	if !validKeySlot(slot) || slot == slotAttestation {
		return nil, swIncorrectP1P2
	}
	k := c.state.Keys[slotHex(slot)]
	if k == nil || k.Origin != originGenerated {
		// Nothing to attest: no key, or a key imported from outside.
		return nil, swIncorrectData
	}
	der, err := c.state.attest(slot, k)
	if err != nil {
		c.logf("error: attest: %v", err)
		return nil, swMemoryFailure
	}
	return der, swOK
}

func (c *Card) metadata(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0 {
		return nil, swIncorrectP1P2
	}
	s := c.state
	boolByte := func(b bool) []byte {
		if b {
			return []byte{1}
		}
		return []byte{0}
	}
	switch slot := cmd.p2; {
	case slot == keyRefPIN || slot == keyRefPUK:
		ref, _ := c.reference(slot)
		def := defaultPIN
		if slot == keyRefPUK {
			def = defaultPUK
		}
		return concat(
			encodeTLV(0x01, []byte{0xff}),
			encodeTLV(0x05, boolByte(*ref.value == def)),
			encodeTLV(0x06, []byte{byte(ref.max), byte(*ref.left)}),
		), swOK
	case slot == keyRefManagement:
		mk := s.ManagementKey
		touch := byte(touchNever)
		if mk.Touch {
			touch = touchAlways
		}
		return concat(
			encodeTLV(0x01, []byte{mk.Algorithm}),
			encodeTLV(0x02, []byte{pinNever, touch}),
			encodeTLV(0x05, boolByte(bytes.Equal(mk.Key, defaultManagementKey))),
		), swOK
	case validKeySlot(slot):
		k := s.Keys[slotHex(slot)]
		if k == nil {
			return nil, swReferenceNotFound
		}
		key, err := parseKey(k)
		if err != nil {
			return nil, swMemoryFailure
		}
		pub, err := encodePublicKey(key.Public())
		if err != nil {
			return nil, swMemoryFailure
		}
		return concat(
			encodeTLV(0x01, []byte{k.Algorithm}),
			encodeTLV(0x02, []byte{k.PINPolicy, k.TouchPolicy}),
			encodeTLV(0x03, []byte{k.Origin}),
			encodeTLV(0x04, pub),
		), swOK
	}
	return nil, swReferenceNotFound
}

// waitTouch asks for a touch unless a cached one still counts.
func (c *Card) waitTouch(policy byte, what string) bool {
	if policy == touchNever {
		return true
	}
	if policy == touchCached && !c.lastTouch.IsZero() && c.now().Sub(c.lastTouch) < touchCacheDuration {
		return true
	}
	if !c.touch.wait(c.ctx, what) {
		c.logf("no touch for %s: operation refused", what)
		return false
	}
	c.lastTouch = c.now()
	return true
}

func (c *Card) authenticate(cmd command) ([]byte, uint16) {
	template, ok := parseSingleTLV(cmd.data, 0x7c)
	if !ok {
		return nil, swIncorrectData
	}
	items, err := parseTLVs(template)
	if err != nil {
		return nil, swIncorrectData
	}
	if cmd.p2 == keyRefManagement {
		return c.authenticateManagement(cmd.p1, items)
	}
	slot := cmd.p2
	if !validKeySlot(slot) || slot == slotAttestation {
		return nil, swIncorrectP1P2
	}
	k := c.state.Keys[slotHex(slot)]
	if k == nil {
		return nil, swReferenceNotFound
	}
	if k.Algorithm != cmd.p1 {
		return nil, swIncorrectData
	}
	resp, hasResp := findTLV(items, 0x82)
	challenge, hasChallenge := findTLV(items, 0x81)
	peer, hasPeer := findTLV(items, 0x85)
	if !hasResp || len(resp) != 0 || hasChallenge == hasPeer {
		return nil, swIncorrectData
	}
	switch k.PINPolicy {
	case pinOnce:
		if !c.pinVerified {
			return nil, swSecurityStatus
		}
	case pinAlways:
		if !c.pinFresh {
			return nil, swSecurityStatus
		}
		c.pinFresh = false
	}
	if !c.waitTouch(k.TouchPolicy, fmt.Sprintf("slot %02x", slot)) {
		return nil, swSecurityStatus
	}
	key, err := parseKey(k)
	if err != nil {
		return nil, swMemoryFailure
	}
	var out []byte
	if hasChallenge {
		out, err = sign(key, challenge)
	} else {
		out, err = agree(key, peer)
	}
	if err != nil {
		return nil, swIncorrectData
	}
	return encodeTLV(0x7c, encodeTLV(0x82, out)), swOK
}

// agree performs ECDH with the peer's uncompressed point.
func agree(key any, peer []byte) ([]byte, error) {
	k, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errBadInput
	}
	priv, err := k.ECDH()
	if err != nil {
		return nil, err
	}
	pub, err := priv.Curve().NewPublicKey(peer)
	if err != nil {
		return nil, err
	}
	return priv.ECDH(pub)
}

func (c *Card) authenticateManagement(alg byte, items []tlv) ([]byte, uint16) {
	mk := c.state.ManagementKey
	if alg != mk.Algorithm {
		return nil, swIncorrectData
	}
	block, err := managementCipher(mk)
	if err != nil {
		return nil, swMemoryFailure
	}
	n := block.BlockSize()
	encrypt := func(b []byte) []byte {
		out := make([]byte, n)
		block.Encrypt(out, b)
		return out
	}
	random := func() []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	witness, hasWitness := findTLV(items, 0x80)
	challenge, hasChallenge := findTLV(items, 0x81)
	response, hasResponse := findTLV(items, 0x82)
	switch {
	case hasWitness && len(witness) == 0 && !hasChallenge:
		// Mutual authentication, step 1: an encrypted witness.
		c.mgmAuthed, c.challenge = false, nil
		c.witness = random()
		return encodeTLV(0x7c, encodeTLV(0x80, encrypt(c.witness))), swOK
	case hasWitness && hasChallenge:
		// Step 2: the host decrypted the witness and challenges the card.
		expected := c.witness
		c.witness = nil
		if expected == nil || len(witness) != n || len(challenge) != n {
			return nil, swIncorrectData
		}
		if subtle.ConstantTimeCompare(witness, expected) != 1 {
			return nil, swSecurityStatus
		}
		if mk.Touch && !c.waitTouch(touchAlways, "the management key") {
			return nil, swSecurityStatus
		}
		c.mgmAuthed = true
		return encodeTLV(0x7c, encodeTLV(0x82, encrypt(challenge))), swOK
	case hasChallenge && len(challenge) == 0:
		// External authentication, step 1: a plain challenge.
		c.mgmAuthed, c.witness = false, nil
		c.challenge = random()
		return encodeTLV(0x7c, encodeTLV(0x81, c.challenge)), swOK
	case hasResponse && len(response) == n && c.challenge != nil:
		// Step 2: the host encrypted the challenge.
		expected := encrypt(c.challenge)
		c.challenge = nil
		if subtle.ConstantTimeCompare(response, expected) != 1 {
			return nil, swSecurityStatus
		}
		if mk.Touch && !c.waitTouch(touchAlways, "the management key") {
			return nil, swSecurityStatus
		}
		c.mgmAuthed = true
		return nil, swOK
	}
	return nil, swIncorrectData
}

func (c *Card) setManagementKey(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0xff || (cmd.p2 != 0xff && cmd.p2 != 0xfe) {
		return nil, swIncorrectP1P2
	}
	if !c.mgmAuthed {
		return nil, swSecurityStatus
	}
	d := cmd.data
	if len(d) < 3 || d[1] != keyRefManagement || int(d[2]) != len(d)-3 {
		return nil, swIncorrectData
	}
	alg, key := d[0], d[3:]
	if n, ok := managementKeyLengths[alg]; !ok || n != len(key) {
		return nil, swIncorrectData
	}
	if alg != algo3DES && !c.state.Firmware.AtLeast(5, 4, 0) {
		return nil, swIncorrectData
	}
	c.state.ManagementKey = ManagementKey{Algorithm: alg, Key: append([]byte(nil), key...), Touch: cmd.p2 == 0xfe}
	return nil, c.commit()
}

// objectID decodes the tag list 5C of GET DATA and PUT DATA.
func objectID(items []tlv) (uint32, bool) {
	tag, ok := findTLV(items, 0x5c)
	if !ok || len(tag) == 0 || len(tag) > 3 {
		return 0, false
	}
	var id uint32
	for _, b := range tag {
		id = id<<8 | uint32(b)
	}
	return id, true
}

// writableObject reports whether PUT DATA may store id: the PIV objects
// 5FC101–5FC123 and Yubico's 5FFF00–5FFF15.
func writableObject(id uint32) bool {
	return (id >= 0x5fc101 && id <= 0x5fc123) || (id >= 0x5fff00 && id <= 0x5fff15)
}

// discoveryObject is the PIV discovery object (7E): the PIV AID and the
// PIN usage policy (PIV PIN only).
var discoveryObject = encodeTLV(0x7e, concat(encodeTLV(0x4f, aidPIV), encodeTLV(0x5f2f, []byte{0x40, 0x00})))

func (c *Card) getData(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0x3f || cmd.p2 != 0xff {
		return nil, swIncorrectP1P2
	}
	items, err := parseTLVs(cmd.data)
	if err != nil {
		return nil, swIncorrectData
	}
	id, ok := objectID(items)
	if !ok {
		return nil, swIncorrectData
	}
	if id == 0x7e {
		return discoveryObject, swOK
	}
	if id == objPrinted && !c.pinVerified {
		return nil, swSecurityStatus
	}
	v, ok := c.state.Objects[objectHex(id)]
	if !ok {
		return nil, swFileNotFound
	}
	return encodeTLV(0x53, v), swOK
}

func (c *Card) putData(cmd command) ([]byte, uint16) {
	if cmd.p1 != 0x3f || cmd.p2 != 0xff {
		return nil, swIncorrectP1P2
	}
	if !c.mgmAuthed {
		return nil, swSecurityStatus
	}
	items, err := parseTLVs(cmd.data)
	if err != nil || len(items) != 2 {
		return nil, swIncorrectData
	}
	id, ok := objectID(items)
	value, hasValue := findTLV(items, 0x53)
	if !ok || !hasValue || !writableObject(id) {
		return nil, swIncorrectData
	}
	if len(value) > maxObjectSize {
		return nil, swNotEnoughMemory
	}
	if len(value) == 0 {
		delete(c.state.Objects, objectHex(id))
	} else {
		c.state.Objects[objectHex(id)] = append([]byte(nil), value...)
	}
	return nil, c.commit()
}

// insName names an instruction for the log.
func insName(ins byte) string {
	names := map[byte]string{
		insVerify: "VERIFY", insChangeRef: "CHANGE REFERENCE", insResetRetry: "RESET RETRY COUNTER",
		insGenerate: "GENERATE", insAuthenticate: "GENERAL AUTHENTICATE", insSelect: "SELECT",
		insGetResponse: "GET RESPONSE", insGetData: "GET DATA", insPutData: "PUT DATA",
		insGetMetadata: "GET METADATA", insGetSerial: "GET SERIAL", insAttest: "ATTEST",
		insSetRetries: "SET RETRIES", insReset: "RESET", insGetVersion: "GET VERSION",
		insImportKey: "IMPORT KEY", insSetMgmKey: "SET MANAGEMENT KEY", insReadConfig: "READ CONFIG",
	}
	if n, ok := names[ins]; ok {
		return n
	}
	return fmt.Sprintf("INS %02x", ins)
}
