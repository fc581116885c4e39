package virtualpiv

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"
)

const testSerial = 12345678

// harness drives a Card in-process, the way a host would.
type harness struct {
	t     testing.TB
	card  *Card
	state *State
	saves int
	mgm   ManagementKey // the management key the host believes in
}

// stateCache keeps one fresh state per firmware: making the CA and the
// attestation key for every test would be wasteful.
var stateCache = map[Firmware][]byte{}

func freshState(t testing.TB, fw Firmware) *State {
	t.Helper()
	if _, ok := stateCache[fw]; !ok {
		s, err := NewState(testSerial, fw, formFactorUSBAKeychain)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "s.json")
		if err := (Store{Path: path}).Save(s); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		stateCache[fw] = b
	}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, stateCache[fw], 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Store{Path: path}.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newHarness(t testing.TB, fw string, touch *TouchSensor) *harness {
	t.Helper()
	f, err := ParseFirmware(fw)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, state: freshState(t, f)}
	h.mgm = h.state.ManagementKey
	h.card = NewCard(CardOptions{State: h.state, Touch: touch, Save: func(*State) error { h.saves++; return nil }})
	h.card.PowerCycle()
	h.ok(0xa4, 0x04, 0x00, aidPIV[:5])
	return h
}

// raw sends one APDU and splits the response.
func (h *harness) raw(apdu []byte) ([]byte, uint16) {
	h.t.Helper()
	resp := h.card.Process(apdu)
	if len(resp) < 2 {
		h.t.Fatalf("response %x too short", resp)
	}
	n := len(resp) - 2
	return resp[:n], uint16(resp[n])<<8 | uint16(resp[n+1])
}

// send transmits a command like piv-go does: chained in 255-byte pieces,
// then GET RESPONSE while the card answers 61xx.
func (h *harness) send(ins, p1, p2 byte, data []byte) ([]byte, uint16) {
	h.t.Helper()
	for len(data) > 255 {
		apdu := append([]byte{0x10, ins, p1, p2, 0xff}, data[:255]...)
		data = data[255:]
		if _, sw := h.raw(apdu); sw != swOK {
			return nil, sw
		}
	}
	apdu := append([]byte{0x00, ins, p1, p2, byte(len(data))}, data...)
	out, sw := h.raw(apdu)
	for sw>>8 == 0x61 {
		var more []byte
		more, sw = h.raw([]byte{0x00, insGetResponse, 0, 0, 0})
		out = append(out, more...)
	}
	return out, sw
}

func (h *harness) ok(ins, p1, p2 byte, data []byte) []byte {
	h.t.Helper()
	out, sw := h.send(ins, p1, p2, data)
	if sw != swOK {
		h.t.Fatalf("INS %02x P1 %02x P2 %02x: sw %04x, want 9000", ins, p1, p2, sw)
	}
	return out
}

func (h *harness) expectSW(want uint16, ins, p1, p2 byte, data []byte) {
	h.t.Helper()
	if _, sw := h.send(ins, p1, p2, data); sw != want {
		h.t.Fatalf("INS %02x P1 %02x P2 %02x: sw %04x, want %04x", ins, p1, p2, sw, want)
	}
}

func (h *harness) verifyPIN(pin string) uint16 {
	h.t.Helper()
	_, sw := h.send(insVerify, 0, keyRefPIN, padPIN(pin))
	return sw
}

// authenticate runs mutual authentication with the management key the
// host believes in.
func (h *harness) authenticate() uint16 {
	h.t.Helper()
	block := testCipher(h.t, h.mgm)
	n := block.BlockSize()
	out, sw := h.send(insAuthenticate, h.mgm.Algorithm, keyRefManagement, []byte{0x7c, 0x02, 0x80, 0x00})
	if sw != swOK {
		return sw
	}
	if len(out) != 4+n || out[0] != 0x7c || out[2] != 0x80 {
		h.t.Fatalf("witness %x", out)
	}
	witness := make([]byte, n)
	block.Decrypt(witness, out[4:])
	challenge := make([]byte, n)
	rand.Read(challenge)
	req := append([]byte{0x7c, byte(2*n + 4), 0x80, byte(n)}, witness...)
	req = append(req, 0x81, byte(n))
	req = append(req, challenge...)
	out, sw = h.send(insAuthenticate, h.mgm.Algorithm, keyRefManagement, req)
	if sw != swOK {
		return sw
	}
	want := make([]byte, n)
	block.Encrypt(want, challenge)
	if !bytes.Equal(out, append([]byte{0x7c, byte(n + 2), 0x82, byte(n)}, want...)) {
		h.t.Fatalf("card's response %x, want %x", out, want)
	}
	return swOK
}

func (h *harness) mustAuthenticate() {
	h.t.Helper()
	if sw := h.authenticate(); sw != swOK {
		h.t.Fatalf("management key authentication: sw %04x", sw)
	}
}

func testCipher(t testing.TB, k ManagementKey) cipher.Block {
	t.Helper()
	var b cipher.Block
	var err error
	if k.Algorithm == algo3DES {
		b, err = des.NewTripleDESCipher(k.Key)
	} else {
		b, err = aes.NewCipher(k.Key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func generateTemplate(alg, pin, touch byte) []byte {
	inner := []byte{0x80, 0x01, alg}
	if pin != 0 {
		inner = append(inner, 0xaa, 0x01, pin)
	}
	if touch != 0 {
		inner = append(inner, 0xab, 0x01, touch)
	}
	return append([]byte{0xac, byte(len(inner))}, inner...)
}

// generate makes a key and decodes the public key the card returns.
func (h *harness) generate(slot, alg, pin, touch byte) crypto.PublicKey {
	h.t.Helper()
	out := h.ok(insGenerate, 0, slot, generateTemplate(alg, pin, touch))
	obj, ok := parseSingleTLV(out, 0x7f49)
	if !ok {
		h.t.Fatalf("GENERATE answered %x", out)
	}
	pub, err := decodePublicKeyForTest(alg, obj)
	if err != nil {
		h.t.Fatal(err)
	}
	return pub
}

func decodePublicKeyForTest(alg byte, obj []byte) (crypto.PublicKey, error) {
	items, err := parseTLVs(obj)
	if err != nil {
		return nil, err
	}
	switch alg {
	case algoECCP256, algoECCP384:
		point, _ := findTLV(items, 0x86)
		curve := elliptic.P256()
		if alg == algoECCP384 {
			curve = elliptic.P384()
		}
		return ecdsa.ParseUncompressedPublicKey(curve, point)
	case algoEd25519:
		point, _ := findTLV(items, 0x86)
		return ed25519.PublicKey(point), nil
	}
	n, _ := findTLV(items, 0x81)
	e, _ := findTLV(items, 0x82)
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
}

func signRequest(input []byte) []byte {
	return encodeTLV(0x7c, concat([]byte{0x82, 0x00}, encodeTLV(0x81, input)))
}

// sign asks the card to sign and returns the signature, or the status word.
func (h *harness) sign(slot, alg byte, input []byte) ([]byte, uint16) {
	h.t.Helper()
	out, sw := h.send(insAuthenticate, alg, slot, signRequest(input))
	if sw != swOK {
		return nil, sw
	}
	inner, ok := parseSingleTLV(out, 0x7c)
	if !ok {
		h.t.Fatalf("signature response %x", out)
	}
	sig, ok := parseSingleTLV(inner, 0x82)
	if !ok {
		h.t.Fatalf("signature response %x", out)
	}
	return sig, swOK
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name string
		apdu []byte
		data []byte
		err  bool
	}{
		{"case 1", []byte{0, 0xfd, 0, 0}, nil, false},
		{"case 2 short", []byte{0, 0xfd, 0, 0, 0}, nil, false},
		{"case 3 short", []byte{0, 0x20, 0, 0x80, 2, 0xaa, 0xbb}, []byte{0xaa, 0xbb}, false},
		{"case 4 short", []byte{0, 0x20, 0, 0x80, 2, 0xaa, 0xbb, 0}, []byte{0xaa, 0xbb}, false},
		{"case 2 extended", []byte{0, 0xfd, 0, 0, 0, 0, 0}, nil, false},
		{"case 3 extended", []byte{0, 0xdb, 0x3f, 0xff, 0, 0, 2, 1, 2}, []byte{1, 2}, false},
		{"case 4 extended", []byte{0, 0xdb, 0x3f, 0xff, 0, 0, 2, 1, 2, 0, 0}, []byte{1, 2}, false},
		{"too short", []byte{0, 0xfd, 0}, nil, true},
		{"Lc too long", []byte{0, 0x20, 0, 0x80, 3, 1}, nil, true},
		{"Lc too short", []byte{0, 0x20, 0, 0x80, 1, 1, 2, 3}, nil, true},
		{"extended truncated", []byte{0, 0xdb, 0x3f, 0xff, 0, 0, 5, 1}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseCommand(tt.apdu)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err == nil && !bytes.Equal(c.data, tt.data) {
				t.Fatalf("data %x, want %x", c.data, tt.data)
			}
		})
	}
	h := newHarness(t, "5.7.1", nil)
	if _, sw := h.raw([]byte{0, 0x20, 0, 0x80, 3, 1}); sw != swWrongLength {
		t.Fatalf("malformed APDU: sw %04x, want 6700", sw)
	}
}

func TestTLV(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 3000} {
		v := bytes.Repeat([]byte{7}, n)
		enc := encodeTLV(0x5fc10a, v)
		items, err := parseTLVs(enc)
		if err != nil || len(items) != 1 || items[0].tag != 0x5fc10a || !bytes.Equal(items[0].value, v) {
			t.Fatalf("length %d: %v %v", n, items, err)
		}
	}
	for _, bad := range [][]byte{{0x53}, {0x53, 0x81}, {0x53, 0x05, 1}, {0x5f}, {0x53, 0x80}, {0x53, 0x84, 0, 0, 0, 1}} {
		if _, err := parseTLVs(bad); err == nil {
			t.Errorf("parseTLVs(%x) accepted bad input", bad)
		}
	}
}

func TestClassInstructionAndSelect(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	if _, sw := h.raw([]byte{0x80, insGetVersion, 0, 0, 0}); sw != swCLANotSupported {
		t.Errorf("CLA 80: sw %04x, want 6e00", sw)
	}
	h.expectSW(swINSNotSupported, 0x42, 0, 0, nil)
	h.expectSW(swFileNotFound, insSelect, 0x04, 0, []byte{0xa0, 0, 0, 0, 0x99})
	// Nothing selected after a failed SELECT: no PIV command works.
	h.expectSW(swINSNotSupported, insGetVersion, 0, 0, nil)
	h.expectSW(swIncorrectP1P2, insSelect, 0x00, 0, aidPIV[:5])

	apt := h.ok(insSelect, 0x04, 0, aidPIV)
	if !bytes.Contains(apt, aidPIV[:5]) || apt[0] != 0x61 {
		t.Errorf("PIV application property template %x", apt)
	}
	if v := h.ok(insGetVersion, 0, 0, nil); !bytes.Equal(v, []byte{5, 7, 1}) {
		t.Errorf("version %x", v)
	}
	if s := h.ok(insGetSerial, 0, 0, nil); binary.BigEndian.Uint32(s) != testSerial {
		t.Errorf("serial %x", s)
	}

	// The management applet, as piv-go's FormFactor reads it.
	h.ok(insSelect, 0x04, 0, aidManagement)
	info := h.ok(insReadConfig, 0, 0, nil)
	if int(info[0]) != len(info)-1 {
		t.Fatalf("READ CONFIG length byte %d for %d bytes", info[0], len(info)-1)
	}
	items, err := parseTLVs(info[1:])
	if err != nil {
		t.Fatal(err)
	}
	if ff, _ := findTLV(items, 0x04); !bytes.Equal(ff, []byte{formFactorUSBAKeychain}) {
		t.Errorf("form factor %x", ff)
	}
	if s, _ := findTLV(items, 0x02); binary.BigEndian.Uint32(s) != testSerial {
		t.Errorf("serial %x", s)
	}
	h.expectSW(swINSNotSupported, insGetVersion, 0, 0, nil)

	// The OTP applet, as older clients read the serial.
	h.ok(insSelect, 0x04, 0, aidOTP)
	if s := h.ok(insOTPGetSerial, p1OTPSerial, 0, nil); binary.BigEndian.Uint32(s) != testSerial {
		t.Errorf("OTP serial %x", s)
	}
}

func TestVerifyPIN(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	h.expectSW(swVerifyFailed|3, insVerify, 0, keyRefPIN, nil)
	h.expectSW(swIncorrectData, insVerify, 0, keyRefPIN, []byte("123456"))
	h.expectSW(swReferenceNotFound, insVerify, 0, keyRefPUK, padPIN("12345678"))
	h.expectSW(swIncorrectP1P2, insVerify, 1, keyRefPIN, padPIN("123456"))

	if sw := h.verifyPIN(defaultPIN); sw != swOK {
		t.Fatalf("right PIN: %04x", sw)
	}
	h.expectSW(swOK, insVerify, 0, keyRefPIN, nil) // verified
	h.expectSW(swOK, insVerify, 0xff, keyRefPIN, nil)
	h.expectSW(swVerifyFailed|3, insVerify, 0, keyRefPIN, nil) // logged out

	saves := h.saves
	for left := 2; left >= 0; left-- {
		if sw := h.verifyPIN("000000"); sw != swVerifyFailed|uint16(left) {
			t.Fatalf("wrong PIN: sw %04x, want 63c%x", sw, left)
		}
		if h.state.PINRetriesLeft != left {
			t.Fatalf("retries left %d, want %d", h.state.PINRetriesLeft, left)
		}
	}
	if h.saves != saves+3 {
		t.Errorf("%d saves for 3 failed tries, want 3", h.saves-saves)
	}
	h.expectSW(swAuthBlocked, insVerify, 0, keyRefPIN, nil)
	if sw := h.verifyPIN(defaultPIN); sw != swAuthBlocked {
		t.Fatalf("blocked PIN, right value: sw %04x, want 6983", sw)
	}
}

func TestWrongPINThenRightResetsCounter(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	h.verifyPIN("999999")
	if sw := h.verifyPIN(defaultPIN); sw != swOK || h.state.PINRetriesLeft != 3 {
		t.Fatalf("sw %04x, retries %d", sw, h.state.PINRetriesLeft)
	}
	// A failed try ends the verified state.
	h.verifyPIN("999999")
	h.expectSW(swVerifyFailed|2, insVerify, 0, keyRefPIN, nil)
}

func TestChangeReference(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	change := func(ref byte, old, new string) uint16 {
		_, sw := h.send(insChangeRef, 0, ref, append(padPIN(old), padPIN(new)...))
		return sw
	}
	if sw := change(keyRefPIN, "000000", "654321"); sw != swVerifyFailed|2 {
		t.Fatalf("wrong old PIN: %04x", sw)
	}
	if sw := change(keyRefPIN, defaultPIN, "1234"); sw != swIncorrectData {
		t.Fatalf("new PIN too short: %04x", sw)
	}
	if h.state.PINRetriesLeft != 3 {
		t.Fatalf("the right old PIN did not restore the counter: %d", h.state.PINRetriesLeft)
	}
	if sw := change(keyRefPIN, defaultPIN, "654321"); sw != swOK {
		t.Fatalf("change PIN: %04x", sw)
	}
	if sw := h.verifyPIN("654321"); sw != swOK {
		t.Fatalf("new PIN: %04x", sw)
	}
	if sw := change(keyRefPUK, "00000000", "87654321"); sw != swVerifyFailed|2 {
		t.Fatalf("wrong old PUK: %04x", sw)
	}
	if sw := change(keyRefPUK, defaultPUK, "87654321"); sw != swOK || h.state.PUK != "87654321" || h.state.PUKRetriesLeft != 3 {
		t.Fatalf("change PUK: %04x, %q, %d", sw, h.state.PUK, h.state.PUKRetriesLeft)
	}
	h.expectSW(swIncorrectData, insChangeRef, 0, keyRefPIN, padPIN(defaultPIN))
	h.expectSW(swReferenceNotFound, insChangeRef, 0, 0x9b, make([]byte, 16))
	// Padding must be FF only after the value.
	bad := append(padPIN("654321"), []byte{'1', '2', '3', '4', '5', '6', 0xff, '7'}...)
	h.expectSW(swIncorrectData, insChangeRef, 0, keyRefPIN, bad)
}

func TestUnblockWithPUK(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	for range 3 {
		h.verifyPIN("000000")
	}
	if sw := h.verifyPIN(defaultPIN); sw != swAuthBlocked {
		t.Fatalf("PIN not blocked: %04x", sw)
	}
	unblock := func(puk, pin string) uint16 {
		_, sw := h.send(insResetRetry, 0, keyRefPIN, append(padPIN(puk), padPIN(pin)...))
		return sw
	}
	if sw := unblock("00000000", "111111"); sw != swVerifyFailed|2 {
		t.Fatalf("wrong PUK: %04x", sw)
	}
	if sw := unblock(defaultPUK, "111111"); sw != swOK {
		t.Fatalf("unblock: %04x", sw)
	}
	if h.state.PINRetriesLeft != 3 || h.state.PUKRetriesLeft != 3 {
		t.Fatalf("counters %d/%d after unblock", h.state.PINRetriesLeft, h.state.PUKRetriesLeft)
	}
	if sw := h.verifyPIN("111111"); sw != swOK {
		t.Fatalf("new PIN after unblock: %04x", sw)
	}
	for range 3 {
		unblock("00000000", "222222")
	}
	if sw := unblock(defaultPUK, "222222"); sw != swAuthBlocked {
		t.Fatalf("blocked PUK: %04x", sw)
	}
	h.expectSW(swReferenceNotFound, insResetRetry, 0, keyRefPUK, make([]byte, 16))
}

func TestManagementKeyAuthentication(t *testing.T) {
	tests := []struct {
		fw      string
		alg     byte
		keySize int
	}{
		{"5.4.3", algo3DES, 24},
		{"5.7.1", algoAES128, 16},
		{"5.7.1", algoAES192, 24},
		{"5.7.1", algoAES256, 32},
	}
	for _, tt := range tests {
		t.Run(tt.fw+"/"+insNameAlg(tt.alg), func(t *testing.T) {
			h := newHarness(t, tt.fw, nil)
			h.mustAuthenticate() // the factory key
			key := make([]byte, tt.keySize)
			rand.Read(key)
			h.ok(insSetMgmKey, 0xff, 0xff, append([]byte{tt.alg, keyRefManagement, byte(len(key))}, key...))
			h.card.PowerCycle()
			h.ok(insSelect, 4, 0, aidPIV)
			if sw := h.authenticate(); sw != swIncorrectData && sw != swSecurityStatus {
				t.Fatalf("old key accepted: %04x", sw)
			}
			h.mgm = ManagementKey{Algorithm: tt.alg, Key: key}
			h.mustAuthenticate()

			// A wrong key gets 6982 at step 2.
			wrong := append([]byte(nil), key...)
			wrong[0] ^= 2 // not the parity bit, which DES ignores
			h.mgm.Key = wrong
			if sw := h.authenticate(); sw != swSecurityStatus {
				t.Fatalf("wrong key: %04x, want 6982", sw)
			}
			h.expectSW(swSecurityStatus, insGenerate, 0, 0x9a, generateTemplate(algoECCP256, 0, 0))
		})
	}
}

func insNameAlg(alg byte) string {
	return map[byte]string{algo3DES: "3des", algoAES128: "aes128", algoAES192: "aes192", algoAES256: "aes256"}[alg]
}

func TestManagementKeyProtocolErrors(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	// The factory key of 5.7 is AES-192: asking for 3DES is refused.
	h.expectSW(swIncorrectData, insAuthenticate, algo3DES, keyRefManagement, []byte{0x7c, 0x02, 0x80, 0x00})
	// Step 2 without step 1.
	req := concat([]byte{0x7c, 36}, encodeTLV(0x80, make([]byte, 16)), encodeTLV(0x81, make([]byte, 16)))
	h.expectSW(swIncorrectData, insAuthenticate, algoAES192, keyRefManagement, req)
	h.expectSW(swIncorrectData, insAuthenticate, algoAES192, keyRefManagement, []byte{0x7d, 0x00})
	h.expectSW(swIncorrectData, insAuthenticate, algoAES192, keyRefManagement, []byte{0x7c, 0x05, 0x80})

	// External authentication (yubico-piv-tool's getchallenge/verifyresponse).
	out := h.ok(insAuthenticate, algoAES192, keyRefManagement, []byte{0x7c, 0x02, 0x81, 0x00})
	challenge := out[4:]
	block := testCipher(t, h.mgm)
	resp := make([]byte, 16)
	block.Encrypt(resp, challenge)
	h.ok(insAuthenticate, algoAES192, keyRefManagement, concat([]byte{0x7c, 18}, encodeTLV(0x82, resp)))
	h.ok(insGenerate, 0, 0x9a, generateTemplate(algoECCP256, 0, 0))
}

func TestSetManagementKeyErrors(t *testing.T) {
	h := newHarness(t, "5.3.0", nil)
	key := make([]byte, 16)
	h.expectSW(swSecurityStatus, insSetMgmKey, 0xff, 0xff, append([]byte{algo3DES, 0x9b, 24}, make([]byte, 24)...))
	h.mustAuthenticate()
	h.expectSW(swIncorrectData, insSetMgmKey, 0xff, 0xff, append([]byte{algoAES128, 0x9b, 16}, key...)) // AES needs 5.4
	h.expectSW(swIncorrectData, insSetMgmKey, 0xff, 0xff, append([]byte{algo3DES, 0x9b, 16}, key...))
	h.expectSW(swIncorrectData, insSetMgmKey, 0xff, 0xff, append([]byte{algo3DES, 0x9a, 24}, make([]byte, 24)...))
	h.expectSW(swIncorrectP1P2, insSetMgmKey, 0x00, 0xff, append([]byte{algo3DES, 0x9b, 24}, make([]byte, 24)...))
}

func TestManagementKeyTouch(t *testing.T) {
	touch, _ := NewTouchSensor(TouchWait, 50*time.Millisecond)
	h := newHarness(t, "5.7.1", touch)
	h.mustAuthenticate()
	key := make([]byte, 24)
	rand.Read(key)
	h.ok(insSetMgmKey, 0xff, 0xfe, append([]byte{algoAES192, 0x9b, 24}, key...))
	h.mgm = ManagementKey{Algorithm: algoAES192, Key: key}
	if sw := h.authenticate(); sw != swSecurityStatus {
		t.Fatalf("no touch: %04x, want 6982", sw)
	}
	touch.OnWait = func(string) { go touch.Touch() }
	touch.Timeout = 5 * time.Second
	h.mustAuthenticate()
	meta := h.ok(insGetMetadata, 0, keyRefManagement, nil)
	items, _ := parseTLVs(meta)
	if p, _ := findTLV(items, 0x02); !bytes.Equal(p, []byte{pinNever, touchAlways}) {
		t.Errorf("management key policy %x", p)
	}
}

func TestSecurityStatusRequired(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	h.expectSW(swSecurityStatus, insGenerate, 0, 0x9c, generateTemplate(algoECCP256, 0, 0))
	h.expectSW(swSecurityStatus, insPutData, 0x3f, 0xff, concat(encodeTLV(0x5c, []byte{0x5f, 0xc1, 0x02}), encodeTLV(0x53, []byte{1})))
	h.expectSW(swSecurityStatus, insImportKey, algoECCP256, 0x9a, encodeTLV(0x06, make([]byte, 32)))
	h.expectSW(swSecurityStatus, insSetRetries, 5, 5, nil)
	h.mustAuthenticate()
	h.expectSW(swSecurityStatus, insSetRetries, 5, 5, nil) // and the PIN
	h.ok(insGenerate, 0, 0x9c, generateTemplate(algoECCP256, 0, 0))
	// Power off ends the management key authentication.
	h.card.PowerCycle()
	h.ok(insSelect, 4, 0, aidPIV)
	h.expectSW(swSecurityStatus, insGenerate, 0, 0x9c, generateTemplate(algoECCP256, 0, 0))
}

func TestGenerateAndSign(t *testing.T) {
	digest := sha256.Sum256([]byte("root.json"))
	tests := []struct {
		name string
		fw   string
		alg  byte
		in   []byte
	}{
		{"P-256", "5.7.1", algoECCP256, digest[:]},
		{"P-384", "5.7.1", algoECCP384, bytes.Repeat([]byte{3}, 48)},
		{"Ed25519", "5.7.1", algoEd25519, bytes.Repeat([]byte("message "), 100)}, // chained
		{"P-256 on 5.2", "5.2.7", algoECCP256, digest[:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.fw, nil)
			h.mustAuthenticate()
			pub := h.generate(0x9a, tt.alg, pinNever, touchNever)
			sig, sw := h.sign(0x9a, tt.alg, tt.in)
			if sw != swOK {
				t.Fatalf("sign: %04x", sw)
			}
			switch pub := pub.(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, tt.in, sig) {
					t.Fatal("ECDSA signature does not verify")
				}
			case ed25519.PublicKey:
				if !ed25519.Verify(pub, tt.in, sig) {
					t.Fatal("Ed25519 signature does not verify")
				}
			}
			// A key of another algorithm is not in that slot.
			other := byte(algoECCP384)
			if tt.alg == algoECCP384 {
				other = algoECCP256
			}
			h.expectSW(swIncorrectData, insAuthenticate, other, 0x9a, signRequest(tt.in))
		})
	}
}

func TestGenerateRSA(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA key generation is slow")
	}
	h := newHarness(t, "5.7.1", nil)
	h.mustAuthenticate()
	pub := h.generate(0x9d, algoRSA2048, pinNever, touchNever).(*rsa.PublicKey)
	digest := sha256.Sum256([]byte("targets.json"))
	// The host pads (PKCS#1 v1.5 here); the card does the raw operation.
	prefix := []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	t2 := append(prefix, digest[:]...)
	em := append([]byte{0, 1}, bytes.Repeat([]byte{0xff}, 256-3-len(t2))...)
	em = append(append(em, 0), t2...)
	sig, sw := h.sign(0x9d, algoRSA2048, em)
	if sw != swOK {
		t.Fatalf("sign: %04x", sw)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatal(err)
	}
	h.expectSW(swIncorrectData, insAuthenticate, algoRSA2048, 0x9d, signRequest(digest[:]))
}

func TestGenerateErrors(t *testing.T) {
	h := newHarness(t, "5.4.3", nil)
	h.mustAuthenticate()
	h.expectSW(swIncorrectData, insGenerate, 0, 0x9a, generateTemplate(algoEd25519, 0, 0)) // needs 5.7
	h.expectSW(swIncorrectData, insGenerate, 0, 0x9a, generateTemplate(0x42, 0, 0))
	h.expectSW(swIncorrectData, insGenerate, 0, 0x9a, generateTemplate(algoECCP256, 0x07, 0))
	h.expectSW(swIncorrectData, insGenerate, 0, 0x9a, generateTemplate(algoECCP256, 0, 0x09))
	h.expectSW(swIncorrectData, insGenerate, 0, 0x9a, []byte{0xac, 0x00})
	h.expectSW(swIncorrectData, insGenerate, 0, 0x9a, []byte{0x30, 0x03, 0x80, 0x01, 0x11})
	h.expectSW(swWrongP1P2, insGenerate, 0, 0x9b, generateTemplate(algoECCP256, 0, 0))
	h.expectSW(swWrongP1P2, insGenerate, 0, slotAttestation, generateTemplate(algoECCP256, 0, 0))
	h.expectSW(swIncorrectP1P2, insGenerate, 1, 0x9a, generateTemplate(algoECCP256, 0, 0))
	// Signing with an empty slot, or a slot that is not a key slot.
	h.expectSW(swReferenceNotFound, insAuthenticate, algoECCP256, 0x9e, signRequest(make([]byte, 32)))
	h.expectSW(swIncorrectP1P2, insAuthenticate, algoECCP256, 0x42, signRequest(make([]byte, 32)))
	h.ok(insGenerate, 0, 0x9e, generateTemplate(algoECCP256, 0, 0))
	h.expectSW(swIncorrectData, insAuthenticate, algoECCP256, 0x9e, signRequest(make([]byte, 33)))
	h.expectSW(swIncorrectData, insAuthenticate, algoECCP256, 0x9e, encodeTLV(0x7c, encodeTLV(0x81, make([]byte, 32))))
}

func TestPINPolicies(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	h.mustAuthenticate()
	h.generate(0x9a, algoECCP256, pinOnce, touchNever)
	h.generate(0x9c, algoECCP256, pinDefault, touchNever) // 9c: always
	h.generate(0x9e, algoECCP256, pinDefault, touchNever) // 9e: never
	d := make([]byte, 32)

	if _, sw := h.sign(0x9e, algoECCP256, d); sw != swOK {
		t.Fatalf("PIN never: %04x", sw)
	}
	if _, sw := h.sign(0x9a, algoECCP256, d); sw != swSecurityStatus {
		t.Fatalf("PIN once, not verified: %04x", sw)
	}
	if _, sw := h.sign(0x9c, algoECCP256, d); sw != swSecurityStatus {
		t.Fatalf("PIN always, not verified: %04x", sw)
	}
	h.verifyPIN(defaultPIN)
	for range 2 {
		if _, sw := h.sign(0x9a, algoECCP256, d); sw != swOK {
			t.Fatalf("PIN once, verified: %04x", sw)
		}
	}
	// PIN always: the verification counts for the next command only.
	if _, sw := h.sign(0x9c, algoECCP256, d); sw != swSecurityStatus {
		t.Fatalf("PIN always, verified earlier: %04x", sw)
	}
	h.verifyPIN(defaultPIN)
	h.expectSW(swOK, insVerify, 0, keyRefPIN, nil) // a status query does not count
	if _, sw := h.sign(0x9c, algoECCP256, d); sw != swOK {
		t.Fatalf("PIN always, verified just before: %04x", sw)
	}
	if _, sw := h.sign(0x9c, algoECCP256, d); sw != swSecurityStatus {
		t.Fatalf("PIN always, second signature: %04x", sw)
	}
	h.verifyPIN(defaultPIN)
	h.ok(insGetVersion, 0, 0, nil)
	if _, sw := h.sign(0x9c, algoECCP256, d); sw != swSecurityStatus {
		t.Fatalf("PIN always, a command in between: %04x", sw)
	}
	// Selecting an application logs out.
	h.ok(insSelect, 4, 0, aidPIV)
	if _, sw := h.sign(0x9a, algoECCP256, d); sw != swSecurityStatus {
		t.Fatalf("PIN once after SELECT: %04x", sw)
	}
}

func TestTouchPolicies(t *testing.T) {
	touch, _ := NewTouchSensor(TouchWait, 100*time.Millisecond)
	var waits int
	autoTouch := false
	touch.OnWait = func(string) {
		waits++
		if autoTouch {
			go touch.Touch()
		}
	}
	h := newHarness(t, "5.7.1", touch)
	now := time.Unix(1_700_000_000, 0)
	h.card.now = func() time.Time { return now }
	h.mustAuthenticate()
	h.generate(0x9a, algoECCP256, pinNever, touchAlways)
	h.generate(0x9d, algoECCP256, pinNever, touchCached)
	d := make([]byte, 32)

	start := time.Now()
	if _, sw := h.sign(0x9a, algoECCP256, d); sw != swSecurityStatus {
		t.Fatalf("no touch: %04x, want 6982", sw)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Fatalf("gave up before the timeout")
	}
	touch.Timeout = 5 * time.Second
	touch.Touch() // a touch before the request does not count
	autoTouch = true
	waits = 0
	if _, sw := h.sign(0x9a, algoECCP256, d); sw != swOK || waits != 1 {
		t.Fatalf("touched: %04x after %d waits", sw, waits)
	}
	if _, sw := h.sign(0x9a, algoECCP256, d); sw != swOK || waits != 2 {
		t.Fatalf("touch always asks every time: %04x after %d waits", sw, waits)
	}
	// Cached: one touch counts for 15 seconds.
	for range 2 {
		if _, sw := h.sign(0x9d, algoECCP256, d); sw != swOK {
			t.Fatalf("cached: %04x", sw)
		}
	}
	if waits != 2 {
		t.Fatalf("cached touch asked again within 15s (%d waits)", waits)
	}
	now = now.Add(16 * time.Second)
	h.sign(0x9d, algoECCP256, d)
	if waits != 3 {
		t.Fatalf("cached touch not asked after 16s (%d waits)", waits)
	}
}

func TestMetadata(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	meta := func(slot byte) []tlv {
		t.Helper()
		items, err := parseTLVs(h.ok(insGetMetadata, 0, slot, nil))
		if err != nil {
			t.Fatal(err)
		}
		return items
	}
	pin := meta(keyRefPIN)
	if v, _ := findTLV(pin, 0x05); !bytes.Equal(v, []byte{1}) {
		t.Errorf("PIN default flag %x", v)
	}
	h.verifyPIN("000000")
	if v, _ := findTLV(meta(keyRefPIN), 0x06); !bytes.Equal(v, []byte{3, 2}) {
		t.Errorf("PIN retries %x, want 0302", v)
	}
	if v, _ := findTLV(meta(keyRefPUK), 0x06); !bytes.Equal(v, []byte{3, 3}) {
		t.Errorf("PUK retries %x", v)
	}
	mgm := meta(keyRefManagement)
	// piv-go reads the algorithm at offset 2 of this answer.
	raw := h.ok(insGetMetadata, 0, keyRefManagement, nil)
	if raw[2] != algoAES192 {
		t.Errorf("management key algorithm %x", raw[2])
	}
	if v, _ := findTLV(mgm, 0x05); !bytes.Equal(v, []byte{1}) {
		t.Errorf("management key default flag %x", v)
	}
	h.expectSW(swReferenceNotFound, insGetMetadata, 0, 0x9c, nil)
	h.expectSW(swIncorrectP1P2, insGetMetadata, 1, 0x9c, nil)

	h.mustAuthenticate()
	pub := h.generate(0x9c, algoEd25519, pinOnce, touchCached)
	k := meta(0x9c)
	want := map[uint32][]byte{1: {algoEd25519}, 2: {pinOnce, touchCached}, 3: {originGenerated}, 4: encodeTLV(0x86, pub.(ed25519.PublicKey))}
	for tag, v := range want {
		if got, _ := findTLV(k, tag); !bytes.Equal(got, v) {
			t.Errorf("slot 9c metadata tag %02x: %x, want %x", tag, got, v)
		}
	}
	if v, _ := findTLV(meta(slotAttestation), 0x03); !bytes.Equal(v, []byte{originImported}) {
		t.Errorf("f9 origin %x", v)
	}

	old := newHarness(t, "5.2.7", nil)
	old.expectSW(swINSNotSupported, insGetMetadata, 0, keyRefManagement, nil)
}

func TestAttest(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	h.expectSW(swIncorrectData, insAttest, 0x9c, 0, nil) // empty slot
	h.mustAuthenticate()
	pub := h.generate(0x9c, algoECCP256, pinAlways, touchCached)
	der := h.ok(insAttest, 0x9c, 0, nil)
	if der[0] != 0x30 {
		t.Fatalf("attestation is not a bare certificate: %x", der[:4])
	}
	slotCert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	obj, ok := parseSingleTLV(h.ok(insGetData, 0x3f, 0xff, []byte{0x5c, 0x03, 0x5f, 0xff, 0x01}), 0x53)
	if !ok {
		t.Fatal("no f9 certificate object")
	}
	items, _ := parseTLVs(obj)
	f9DER, _ := findTLV(items, 0x70)
	f9, err := x509.ParseCertificate(f9DER)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := h.state.CACertificate()
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	a, err := (&piv.Verifier{Roots: roots}).Verify(f9, slotCert)
	if err != nil {
		t.Fatal(err)
	}
	if a.Serial != testSerial || a.Version != (piv.Version{Major: 5, Minor: 7, Patch: 1}) ||
		a.PINPolicy != piv.PINPolicyAlways || a.TouchPolicy != piv.TouchPolicyCached ||
		a.Slot != piv.SlotSignature || a.Formfactor != piv.FormfactorUSBAKeychain {
		t.Errorf("attestation %+v", a)
	}
	if !pub.(*ecdsa.PublicKey).Equal(slotCert.PublicKey) {
		t.Error("attested key is not the generated key")
	}
	if _, err := piv.Verify(f9, slotCert); err == nil {
		t.Error("the virtual attestation verified against Yubico's roots")
	}
	h.expectSW(swIncorrectP1P2, insAttest, slotAttestation, 0, nil)
	h.expectSW(swIncorrectP1P2, insAttest, 0x9c, 1, nil)

	// Imported keys are not attested.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	h.ok(insImportKey, algoECCP256, 0x9a, encodeTLV(0x06, mustBytes(k)))
	h.expectSW(swIncorrectData, insAttest, 0x9a, 0, nil)
}

func TestImportKey(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	h.mustAuthenticate()
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	h.ok(insImportKey, algoECCP384, 0x9a, concat(encodeTLV(0x06, mustBytes(ec)), []byte{0xaa, 1, pinNever, 0xab, 1, touchNever}))
	d := bytes.Repeat([]byte{9}, 48)
	sig, sw := h.sign(0x9a, algoECCP384, d)
	if sw != swOK || !ecdsa.VerifyASN1(&ec.PublicKey, d, sig) {
		t.Fatalf("imported P-384 key: %04x", sw)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	h.ok(insImportKey, algoEd25519, 0x9d, concat(encodeTLV(0x07, edKey.Seed()), []byte{0xaa, 1, pinNever}))
	sig, sw = h.sign(0x9d, algoEd25519, []byte("m"))
	if sw != swOK || !ed25519.Verify(edKey.Public().(ed25519.PublicKey), []byte("m"), sig) {
		t.Fatalf("imported Ed25519 key: %04x", sw)
	}
	h.expectSW(swIncorrectData, insImportKey, algoECCP256, 0x9a, encodeTLV(0x06, make([]byte, 40)))
	h.expectSW(swIncorrectP1P2, insImportKey, 0x42, 0x9a, encodeTLV(0x06, make([]byte, 32)))
	h.expectSW(swWrongP1P2, insImportKey, algoECCP256, 0x9b, encodeTLV(0x06, make([]byte, 32)))
}

func TestECDH(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	h.mustAuthenticate()
	pub := h.generate(0x9d, algoECCP256, pinNever, touchNever).(*ecdsa.PublicKey)
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	out := h.ok(insAuthenticate, algoECCP256, 0x9d, encodeTLV(0x7c, concat([]byte{0x82, 0}, encodeTLV(0x85, peer.PublicKey().Bytes()))))
	inner, _ := parseSingleTLV(out, 0x7c)
	secret, _ := parseSingleTLV(inner, 0x82)
	cardPub, _ := pub.ECDH()
	want, _ := peer.ECDH(cardPub)
	if !bytes.Equal(secret, want) {
		t.Fatal("ECDH secrets differ")
	}
}

func TestGetAndPutData(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	chuid := []byte{0x5c, 0x03, 0x5f, 0xc1, 0x02}
	h.expectSW(swFileNotFound, insGetData, 0x3f, 0xff, chuid)
	h.expectSW(swIncorrectP1P2, insGetData, 0x3f, 0x00, chuid)
	h.expectSW(swIncorrectData, insGetData, 0x3f, 0xff, []byte{0x5d, 0x01, 0x7e})
	h.expectSW(swIncorrectData, insGetData, 0x3f, 0xff, []byte{0x5c, 0x04, 1, 2, 3, 4})
	if d := h.ok(insGetData, 0x3f, 0xff, []byte{0x5c, 0x01, 0x7e}); d[0] != 0x7e || !bytes.Contains(d, aidPIV) {
		t.Errorf("discovery object %x", d)
	}

	h.mustAuthenticate()
	big := bytes.Repeat([]byte{0xab}, 2000) // chained in, GET RESPONSE out
	h.ok(insPutData, 0x3f, 0xff, concat(encodeTLV(0x5c, []byte{0x5f, 0xc1, 0x0a}), encodeTLV(0x53, big)))
	got, ok := parseSingleTLV(h.ok(insGetData, 0x3f, 0xff, []byte{0x5c, 0x03, 0x5f, 0xc1, 0x0a}), 0x53)
	if !ok || !bytes.Equal(got, big) {
		t.Fatalf("object read back differs (%d bytes)", len(got))
	}
	// Too big for a YubiKey, and outside the PIV objects.
	h.expectSW(swNotEnoughMemory, insPutData, 0x3f, 0xff, concat(encodeTLV(0x5c, []byte{0x5f, 0xc1, 0x0a}), encodeTLV(0x53, make([]byte, maxObjectSize+1))))
	h.expectSW(swIncorrectData, insPutData, 0x3f, 0xff, concat(encodeTLV(0x5c, []byte{0x5f, 0xc2, 0x01}), encodeTLV(0x53, []byte{1})))
	h.expectSW(swIncorrectData, insPutData, 0x3f, 0xff, encodeTLV(0x5c, []byte{0x5f, 0xc1, 0x0a}))
	// An empty value deletes.
	h.ok(insPutData, 0x3f, 0xff, concat(encodeTLV(0x5c, []byte{0x5f, 0xc1, 0x0a}), encodeTLV(0x53, nil)))
	h.expectSW(swFileNotFound, insGetData, 0x3f, 0xff, []byte{0x5c, 0x03, 0x5f, 0xc1, 0x0a})

	// The printed object (PIN-protected management key) needs the PIN.
	printed := []byte{0x5c, 0x03, 0x5f, 0xc1, 0x09}
	h.ok(insPutData, 0x3f, 0xff, concat(printed, encodeTLV(0x53, []byte{0x88, 0x1a, 0x89, 0x18})))
	h.expectSW(swSecurityStatus, insGetData, 0x3f, 0xff, printed)
	h.verifyPIN(defaultPIN)
	h.ok(insGetData, 0x3f, 0xff, printed)
}

func TestChainingAndGetResponse(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	h.mustAuthenticate()
	obj := []byte{0x5c, 0x03, 0x5f, 0xc1, 0x05}
	value := bytes.Repeat([]byte{1}, 600)
	h.ok(insPutData, 0x3f, 0xff, concat(obj, encodeTLV(0x53, value)))

	// GET RESPONSE by hand: 61 00 means 256 or more to come, 61 xx the rest.
	first, sw := h.raw([]byte{0, insGetData, 0x3f, 0xff, 5, 0x5c, 0x03, 0x5f, 0xc1, 0x05})
	if sw != 0x6100 || len(first) != 256 {
		t.Fatalf("first piece: %d bytes, sw %04x", len(first), sw)
	}
	second, sw := h.raw([]byte{0, insGetResponse, 0, 0, 0})
	if sw != 0x6100|uint16(604-512) || len(second) != 256 {
		t.Fatalf("second piece: %d bytes, sw %04x", len(second), sw)
	}
	third, sw := h.raw([]byte{0, insGetResponse, 0, 0, 0})
	if sw != swOK || len(third) != 604-512 {
		t.Fatalf("third piece: %d bytes, sw %04x", len(third), sw)
	}
	if got := concat(first, second, third); !bytes.Equal(got, encodeTLV(0x53, value)) {
		t.Fatal("pieces differ from the object")
	}
	if _, sw := h.raw([]byte{0, insGetResponse, 0, 0, 0}); sw != swConditionsNotMet {
		t.Fatalf("GET RESPONSE with nothing pending: %04x", sw)
	}
	// Another command drops what was pending.
	h.raw([]byte{0, insGetData, 0x3f, 0xff, 5, 0x5c, 0x03, 0x5f, 0xc1, 0x05})
	h.ok(insGetVersion, 0, 0, nil)
	if _, sw := h.raw([]byte{0, insGetResponse, 0, 0, 0}); sw != swConditionsNotMet {
		t.Fatalf("GET RESPONSE after another command: %04x", sw)
	}

	// A chain interrupted by another command is refused.
	put := concat(obj, encodeTLV(0x53, value))
	if _, sw := h.raw(append([]byte{0x10, insPutData, 0x3f, 0xff, 255}, put[:255]...)); sw != swOK {
		t.Fatalf("first link: %04x", sw)
	}
	if _, sw := h.raw([]byte{0, insGetVersion, 0, 0, 0}); sw != swLastCommandExpected {
		t.Fatalf("interrupted chain: %04x, want 6883", sw)
	}
	h.ok(insGetVersion, 0, 0, nil) // and forgotten
	if _, sw := h.raw(append([]byte{0x10, insPutData, 0x3f, 0xff, 255}, put[:255]...)); sw != swOK {
		t.Fatalf("first link: %04x", sw)
	}
	if _, sw := h.raw(append([]byte{0x10, insGenerate, 0, 0x9a, 3}, 1, 2, 3)); sw != swLastCommandExpected {
		t.Fatalf("chain continued by another instruction: %04x", sw)
	}
	// Chains have a limit.
	for i := 0; ; i++ {
		_, sw := h.raw(append([]byte{0x10, insPutData, 0x3f, 0xff, 255}, make([]byte, 255)...))
		if sw == swWrongLength {
			break
		}
		if sw != swOK || i > maxChainedData/255 {
			t.Fatalf("link %d: %04x", i, sw)
		}
	}
}

func TestSetRetries(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	h.mustAuthenticate()
	h.card.state.PIN = "777777"
	h.verifyPIN("777777")
	h.expectSW(swIncorrectP1P2, insSetRetries, 0, 5, nil)
	h.ok(insSetRetries, 5, 4, nil)
	s := h.state
	if s.PINRetries != 5 || s.PINRetriesLeft != 5 || s.PUKRetries != 4 || s.PUKRetriesLeft != 4 || s.PIN != defaultPIN {
		t.Fatalf("after SET RETRIES: %+v", s)
	}
	h.expectSW(swVerifyFailed|5, insVerify, 0, keyRefPIN, nil)
	h.verifyPIN("000000")
	h.expectSW(swVerifyFailed|4, insVerify, 0, keyRefPIN, nil)
}

func TestReset(t *testing.T) {
	h := newHarness(t, "5.7.1", nil)
	h.mustAuthenticate()
	h.generate(0x9c, algoECCP256, 0, 0)
	h.ok(insPutData, 0x3f, 0xff, concat(encodeTLV(0x5c, []byte{0x5f, 0xc1, 0x02}), encodeTLV(0x53, []byte{1, 2})))
	key := make([]byte, 32)
	h.ok(insSetMgmKey, 0xff, 0xff, append([]byte{algoAES256, 0x9b, 32}, key...))
	h.expectSW(swConditionsNotMet, insReset, 0, 0, nil)
	for range 3 {
		h.verifyPIN("000000")
	}
	h.expectSW(swConditionsNotMet, insReset, 0, 0, nil) // the PUK is not blocked
	for range 3 {
		h.send(insChangeRef, 0, keyRefPUK, make([]byte, 16))
	}
	f9 := h.state.Keys["f9"]
	h.ok(insReset, 0, 0, nil)
	s := h.state
	if len(s.Keys) != 1 || s.Keys["f9"] != f9 || len(s.Objects) != 1 || s.Objects["5fff01"] == nil {
		t.Fatalf("after reset: keys %v objects %v", s.Keys, s.Objects)
	}
	if s.PIN != defaultPIN || s.PINRetriesLeft != 3 || s.PUKRetriesLeft != 3 || s.ManagementKey.Algorithm != algoAES192 || !bytes.Equal(s.ManagementKey.Key, defaultManagementKey) {
		t.Fatalf("after reset: %+v", s)
	}
	h.mgm = s.ManagementKey
	h.mustAuthenticate()
}

func TestFirmware(t *testing.T) {
	for _, bad := range []string{"5.7", "5.x.1", "4.3.5", "256.0.0", ""} {
		if _, err := ParseFirmware(bad); err == nil {
			t.Errorf("ParseFirmware(%q) accepted", bad)
		}
	}
	f, err := ParseFirmware("5.4.3")
	if err != nil || f != (Firmware{5, 4, 3}) || !f.AtLeast(5, 4, 0) || f.AtLeast(5, 7, 0) {
		t.Fatalf("%v %v", f, err)
	}
	if defaultManagementKeyFor(f).Algorithm != algo3DES || defaultManagementKeyFor(Firmware{5, 7, 0}).Algorithm != algoAES192 {
		t.Error("default management key algorithm")
	}
}

// mustBytes is the private scalar of an ECDSA key, as IMPORT KEY takes it.
func mustBytes(k *ecdsa.PrivateKey) []byte {
	b, err := k.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}
