package ceremony

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
)

// canonicalJSON returns the canonical JSON (OLPC, as TUF signs it) of the
// JSON value src: byte for byte what securesystemslib's
// cjson.EncodeCanonical(json.RawMessage(src)) returns, and the same errors,
// but without decoding src into a tree of maps and interfaces first. It
// walks src once per nesting level and writes the output directly, so a
// targets file of 100,000 entries needs about its own size in memory
// instead of ten times it.
//
// What cjson does, and this does too: strings are decoded as encoding/json
// decodes them (escapes resolved, invalid UTF-8 and lone surrogates become
// U+FFFD) and written with only \ and " escaped; object keys are sorted
// bytewise and a key given twice keeps its last value; numbers must be
// integers that fit an int64 and are written as given.
func canonicalJSON(src []byte) ([]byte, error) {
	if !json.Valid(src) || nestingDepth(src) > maxCanonicalDepth {
		// Invalid input: let cjson say why, in its words. Deeply nested
		// input too: each level here rescans what it holds (real metadata
		// nests a handful of levels; a hostile file could nest thousands).
		return cjson.EncodeCanonical(json.RawMessage(src))
	}
	c := canonicalizer{src: src, out: make([]byte, 0, len(src))}
	c.value()
	if c.err != nil {
		return nil, c.err
	}
	return c.out, nil
}

// maxCanonicalDepth is the deepest nesting canonicalJSON writes itself.
const maxCanonicalDepth = 32

// nestingDepth is the deepest nesting of objects and arrays in valid JSON.
func nestingDepth(src []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// canonicalizer writes the canonical form of valid JSON.
type canonicalizer struct {
	src []byte
	pos int
	out []byte
	err error
	// members[d] is reused for every object at depth d.
	members [][]member
	depth   int
}

// member is an object member: its key (the bytes between the quotes, or
// the decoded key when those hold an escape or invalid UTF-8) and where
// its value starts.
type member struct {
	key     []byte
	decoded bool
	value   int
}

func (c *canonicalizer) space() {
	for c.pos < len(c.src) {
		switch c.src[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

// value writes the value at c.pos and moves past it.
func (c *canonicalizer) value() {
	c.space()
	switch c.src[c.pos] {
	case '{':
		c.object()
	case '[':
		c.array()
	case '"':
		end := c.stringEnd(c.pos)
		c.out = appendCanonicalString(c.out, c.src[c.pos+1:end-1])
		c.pos = end
	case 't':
		c.out = append(c.out, "true"...)
		c.pos += len("true")
	case 'f':
		c.out = append(c.out, "false"...)
		c.pos += len("false")
	case 'n':
		c.out = append(c.out, "null"...)
		c.pos += len("null")
	default:
		start := c.pos
		for c.pos < len(c.src) && strings.IndexByte("-+.0123456789eE", c.src[c.pos]) >= 0 {
			c.pos++
		}
		lit := string(c.src[start:c.pos])
		if _, err := strconv.ParseInt(lit, 10, 64); err != nil && c.err == nil {
			//lint:ignore ST1005 cjson's own words, so that both fail alike
			c.err = fmt.Errorf("Can't canonicalize floating point number '%s'", lit)
		}
		c.out = append(c.out, lit...)
	}
}

func (c *canonicalizer) array() {
	c.pos++ // [
	c.out = append(c.out, '[')
	c.space()
	if c.src[c.pos] == ']' {
		c.pos++
		c.out = append(c.out, ']')
		return
	}
	for {
		c.value()
		c.space()
		if c.src[c.pos] == ']' {
			c.pos++
			c.out = append(c.out, ']')
			return
		}
		c.pos++ // ,
		c.out = append(c.out, ',')
	}
}

// object collects the members, sorts them by key and writes each value in
// turn; a key given twice keeps its last value, as decoding into a map does.
func (c *canonicalizer) object() {
	c.pos++ // {
	if c.depth == len(c.members) {
		c.members = append(c.members, nil)
	}
	members := c.members[c.depth][:0]
	for {
		c.space()
		if c.src[c.pos] == '}' {
			c.pos++
			break
		}
		if c.src[c.pos] == ',' {
			c.pos++
			c.space()
		}
		end := c.stringEnd(c.pos)
		m := member{key: c.src[c.pos+1 : end-1]}
		if !plainString(m.key) {
			m.key, m.decoded = appendDecodedString(nil, m.key, false), true
		}
		c.pos = end
		c.space()
		c.pos++ // :
		c.space()
		m.value = c.pos
		members = append(members, m)
		c.skip()
	}
	end := c.pos
	c.members[c.depth] = members // keep the grown buffer
	slices.SortStableFunc(members, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	c.out = append(c.out, '{')
	c.depth++
	first := true
	for i, m := range members {
		if i+1 < len(members) && bytes.Equal(members[i+1].key, m.key) {
			continue // the later one wins
		}
		if !first {
			c.out = append(c.out, ',')
		}
		first = false
		if m.decoded {
			c.out = append(c.out, '"')
			c.out = appendEscapedString(c.out, m.key)
			c.out = append(c.out, '"')
		} else {
			c.out = appendCanonicalString(c.out, m.key)
		}
		c.out = append(c.out, ':')
		c.pos = m.value
		c.value()
	}
	c.depth--
	c.out = append(c.out, '}')
	c.pos = end
}

// plainString reports whether the inside of a JSON string literal decodes
// to itself: no escape, valid UTF-8.
func plainString(s []byte) bool {
	return bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s)
}

// appendEscapedString writes an already decoded string with \ and "
// escaped.
func appendEscapedString[S ~string | ~[]byte](dst []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return dst
}

// skip moves past the value at c.pos (which starts there) without
// writing it.
func (c *canonicalizer) skip() {
	depth := 0
	for {
		switch c.src[c.pos] {
		case '"':
			c.pos = c.stringEnd(c.pos)
		case '{', '[':
			depth++
			c.pos++
		case '}', ']':
			depth--
			c.pos++
		default:
			if depth == 0 { // a number or a literal
				for c.pos < len(c.src) && strings.IndexByte(",}] \t\n\r", c.src[c.pos]) < 0 {
					c.pos++
				}
				return
			}
			c.pos++ // inside a container
			continue
		}
		if depth == 0 {
			return
		}
	}
}

// stringEnd is the index after the closing quote of the string at start:
// the first quote after it that an odd run of backslashes does not escape.
func (c *canonicalizer) stringEnd(start int) int {
	i := start + 1
	for {
		q := i + bytes.IndexByte(c.src[i:], '"')
		backslashes := 0
		for p := q - 1; p > start && c.src[p] == '\\'; p-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
}

// appendCanonicalString writes a decoded-and-re-escaped string literal:
// the inside s of a valid JSON string literal, decoded as encoding/json
// does, with \ and " escaped, in quotes.
func appendCanonicalString(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst = appendDecodedString(dst, s, true)
	return append(dst, '"')
}

// appendDecodedString decodes s (the inside of a valid JSON string
// literal) like encoding/json's unquote, escaping \ and " when escape.
func appendDecodedString(dst, s []byte, escape bool) []byte {
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			r++
			var ch byte
			switch s[r] {
			case '"', '\\', '/':
				ch = s[r]
			case 'b':
				ch = '\b'
			case 'f':
				ch = '\f'
			case 'n':
				ch = '\n'
			case 'r':
				ch = '\r'
			case 't':
				ch = '\t'
			case 'u':
				rr := hex4(s[r+1:])
				r += 5
				if utf16.IsSurrogate(rr) {
					if r+6 <= len(s) && s[r] == '\\' && s[r+1] == 'u' {
						if dec := utf16.DecodeRune(rr, hex4(s[r+2:])); dec != unicode.ReplacementChar {
							r += 6
							dst = utf8.AppendRune(dst, dec)
							continue
						}
					}
					rr = unicode.ReplacementChar
				}
				dst = appendEscaped(dst, rr, escape)
				continue
			}
			r++
			dst = appendEscaped(dst, rune(ch), escape)
		case c < utf8.RuneSelf && c != '"':
			// A run of ASCII without escapes (most of a PEM key) at once.
			j := r + 1
			for j < len(s) && s[j] < utf8.RuneSelf && s[j] != '\\' && s[j] != '"' {
				j++
			}
			dst = append(dst, s[r:j]...)
			r = j
		case c < utf8.RuneSelf:
			dst = appendEscaped(dst, rune(c), escape)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
}

func appendEscaped(dst []byte, r rune, escape bool) []byte {
	if escape && (r == '\\' || r == '"') {
		dst = append(dst, '\\')
	}
	return utf8.AppendRune(dst, r)
}

// hex4 reads the four hex digits of a \u escape (valid JSON).
func hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r*16 + rune(c)
	}
	return r
}
