package virtualpiv

import (
	"errors"
	"fmt"
)

// Status words the applet answers (ISO 7816-4 and Yubico's PIV extensions).
const (
	swOK                   = 0x9000
	swBytesRemaining       = 0x6100 // | number of bytes still available (00 = 256 or more)
	swVerifyFailed         = 0x63c0 // | retries left
	swWrongLength          = 0x6700
	swMemoryFailure        = 0x6581
	swLastCommandExpected  = 0x6883 // a chain was interrupted by another command
	swSecurityStatus       = 0x6982 // not authenticated, PIN not verified, or no touch
	swAuthBlocked          = 0x6983
	swConditionsNotMet     = 0x6985
	swIncorrectData        = 0x6a80
	swFunctionNotSupported = 0x6a81
	swFileNotFound         = 0x6a82
	swNotEnoughMemory      = 0x6a84
	swIncorrectP1P2        = 0x6a86
	swReferenceNotFound    = 0x6a88
	swWrongP1P2            = 0x6b00 // also "incorrect slot" for yubico-piv-tool
	swINSNotSupported      = 0x6d00
	swCLANotSupported      = 0x6e00
)

// command is a parsed command APDU.
type command struct {
	cla, ins, p1, p2 byte
	data             []byte
}

// chained reports whether the command is one link of a chain (CLA bit 0x10)
// that more commands will continue.
func (c command) chained() bool { return c.cla&0x10 != 0 }

var errAPDULength = errors.New("malformed command APDU")

// parseCommand decodes a command APDU in any of the four ISO 7816-4 cases,
// short or extended. The expected length (Le) is ignored: the card always
// answers with everything it has, in 256-byte pieces (see Card.respond).
func parseCommand(b []byte) (command, error) {
	if len(b) < 4 {
		return command{}, errAPDULength
	}
	c := command{cla: b[0], ins: b[1], p1: b[2], p2: b[3]}
	body := b[4:]
	switch {
	case len(body) <= 1: // case 1, or case 2 short (Le only)
		return c, nil
	case body[0] != 0: // short Lc
		n := int(body[0])
		if len(body) != 1+n && len(body) != 2+n {
			return command{}, errAPDULength
		}
		c.data = body[1 : 1+n]
		return c, nil
	case len(body) == 3: // case 2 extended (Le only)
		return c, nil
	default: // extended Lc
		n := int(body[1])<<8 | int(body[2])
		if n == 0 || (len(body) != 3+n && len(body) != 5+n) {
			return command{}, errAPDULength
		}
		c.data = body[3 : 3+n]
		return c, nil
	}
}

// withSW appends the status word to a response body.
func withSW(body []byte, sw uint16) []byte {
	out := make([]byte, 0, len(body)+2)
	out = append(out, body...)
	return append(out, byte(sw>>8), byte(sw))
}

// tlv is one BER-TLV element as PIV uses them: tags of one to three bytes,
// definite lengths up to 65535.
type tlv struct {
	tag   uint32
	value []byte
}

// encodeLength encodes a BER definite length.
func encodeLength(n int) []byte {
	switch {
	case n < 0x80:
		return []byte{byte(n)}
	case n <= 0xff:
		return []byte{0x81, byte(n)}
	default:
		return []byte{0x82, byte(n >> 8), byte(n)}
	}
}

// encodeTLV encodes tag (written on as many bytes as it needs) and value.
func encodeTLV(tag uint32, value []byte) []byte {
	var out []byte
	switch {
	case tag > 0xffff:
		out = []byte{byte(tag >> 16), byte(tag >> 8), byte(tag)}
	case tag > 0xff:
		out = []byte{byte(tag >> 8), byte(tag)}
	default:
		out = []byte{byte(tag)}
	}
	out = append(out, encodeLength(len(value))...)
	return append(out, value...)
}

// concat joins encoded elements.
func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// parseTLVs decodes a sequence of BER-TLV elements. It rejects trailing
// garbage, indefinite lengths and lengths that run past the data.
func parseTLVs(b []byte) ([]tlv, error) {
	var out []tlv
	for len(b) > 0 {
		tag := uint32(b[0])
		i := 1
		if b[0]&0x1f == 0x1f { // multi-byte tag
			for {
				if i >= len(b) || i > 3 {
					return nil, fmt.Errorf("truncated tag")
				}
				tag = tag<<8 | uint32(b[i])
				i++
				if b[i-1]&0x80 == 0 {
					break
				}
			}
		}
		if i >= len(b) {
			return nil, fmt.Errorf("missing length for tag %x", tag)
		}
		n := int(b[i])
		i++
		if n&0x80 != 0 {
			k := n & 0x7f
			if k == 0 || k > 2 || i+k > len(b) {
				return nil, fmt.Errorf("bad length for tag %x", tag)
			}
			n = 0
			for j := 0; j < k; j++ {
				n = n<<8 | int(b[i+j])
			}
			i += k
		}
		if i+n > len(b) {
			return nil, fmt.Errorf("value of tag %x runs past the data", tag)
		}
		out = append(out, tlv{tag: tag, value: b[i : i+n]})
		b = b[i+n:]
	}
	return out, nil
}

// findTLV returns the value of the first element with tag, and whether
// there was one.
func findTLV(items []tlv, tag uint32) ([]byte, bool) {
	for _, it := range items {
		if it.tag == tag {
			return it.value, true
		}
	}
	return nil, false
}

// parseSingleTLV decodes data that must be exactly one element with tag,
// returning its value.
func parseSingleTLV(data []byte, tag uint32) ([]byte, bool) {
	items, err := parseTLVs(data)
	if err != nil || len(items) != 1 || items[0].tag != tag {
		return nil, false
	}
	return items[0].value, true
}
