package ceremony

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// goTUFRootPayload is cjson.EncodeCanonical(signed): the bytes go-tuf's
// VerifyDelegate checks a root's signatures over. cjson gets there through
// json.Marshal of go-tuf's types (maps of interfaces), a decoded tree and
// its encoding, a third of the replay's time on a long chain; this writes
// the same bytes from the parsed fields. A root with anything that path
// could write differently goes through cjson itself: a number among the
// fields go-tuf does not know (decoded as float64), a null key or role, a
// missing key or role map, a string that is not valid UTF-8, an expiry
// json.Marshal refuses. TestGoTUFRootPayload and FuzzGoTUFRootPayload hold
// it to cjson.
func goTUFRootPayload(signed *metadata.RootType) ([]byte, error) {
	if !plainGoTUFRoot(signed) {
		return cjson.EncodeCanonical(*signed)
	}
	expires, err := signed.Expires.MarshalJSON() // a quoted RFC 3339 time: nothing to escape
	if err != nil {
		return cjson.EncodeCanonical(*signed)
	}
	root := openCJSONObject(make([]byte, 0, 512*(len(signed.Keys)+1)), signed.UnrecognizedFields)
	root.member("_type")
	root.b = appendCJSONString(root.b, signed.Type)
	root.member("consistent_snapshot")
	root.b = strconv.AppendBool(root.b, signed.ConsistentSnapshot)
	root.member("expires")
	root.b = append(root.b, expires...)
	root.member("keys")
	root.b = appendSortedObject(root.b, signed.Keys, appendGoTUFKey)
	root.member("roles")
	root.b = appendSortedObject(root.b, signed.Roles, appendGoTUFRole)
	root.member("spec_version")
	root.b = appendCJSONString(root.b, signed.SpecVersion)
	root.member("version")
	root.b = strconv.AppendInt(root.b, signed.Version, 10)
	return root.close(), nil
}

func appendGoTUFKey(b []byte, k *metadata.Key) []byte {
	key := openCJSONObject(b, k.UnrecognizedFields)
	key.member("keytype")
	key.b = appendCJSONString(key.b, k.Type)
	key.member("keyval")
	val := openCJSONObject(key.b, k.Value.UnrecognizedFields)
	val.member("public")
	val.b = appendCJSONString(val.b, k.Value.PublicKey)
	key.b = val.close()
	key.member("scheme")
	key.b = appendCJSONString(key.b, k.Scheme)
	return key.close()
}

func appendGoTUFRole(b []byte, r *metadata.Role) []byte {
	role := openCJSONObject(b, r.UnrecognizedFields)
	role.member("keyids")
	if r.KeyIDs == nil {
		role.b = append(role.b, "null"...)
	} else {
		role.b = append(role.b, '[')
		for i, id := range r.KeyIDs {
			if i > 0 {
				role.b = append(role.b, ',')
			}
			role.b = appendCJSONString(role.b, id)
		}
		role.b = append(role.b, ']')
	}
	role.member("threshold")
	role.b = strconv.AppendInt(role.b, int64(r.Threshold), 10)
	return role.close()
}

// appendSortedObject writes m as an object, its members in cjson's order,
// each value written by value.
func appendSortedObject[V any](b []byte, m map[string]V, value func([]byte, V) []byte) []byte {
	b = append(b, '{')
	for i, name := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = value(append(appendCJSONString(b, name), ':'), m[name])
	}
	return append(b, '}')
}

// plainGoTUFRoot reports whether goTUFRootPayload can write signed
// itself: no null key or role, every string valid UTF-8 (which json.Marshal
// and its decoding give back unchanged), and no number among the fields
// go-tuf does not know.
func plainGoTUFRoot(signed *metadata.RootType) bool {
	if !plainJSON(signed.UnrecognizedFields) || signed.Keys == nil || signed.Roles == nil ||
		!utf8.ValidString(signed.Type) || !utf8.ValidString(signed.SpecVersion) {
		return false
	}
	for id, k := range signed.Keys {
		if k == nil || !plainJSON(k.UnrecognizedFields) || !plainJSON(k.Value.UnrecognizedFields) ||
			!utf8.ValidString(id) || !utf8.ValidString(k.Type) || !utf8.ValidString(k.Scheme) || !utf8.ValidString(k.Value.PublicKey) {
			return false
		}
	}
	for name, r := range signed.Roles {
		if r == nil || !plainJSON(r.UnrecognizedFields) || !utf8.ValidString(name) {
			return false
		}
		for _, id := range r.KeyIDs {
			if !utf8.ValidString(id) {
				return false
			}
		}
	}
	return true
}

// plainJSON reports whether v, decoded JSON, holds only objects, arrays,
// valid UTF-8 strings, booleans and nulls: what appendCJSONValue writes.
func plainJSON(v any) bool {
	switch v := v.(type) {
	case nil, bool:
		return true
	case string:
		return utf8.ValidString(v)
	case []any:
		for _, e := range v {
			if !plainJSON(e) {
				return false
			}
		}
		return true
	case map[string]any:
		for k, e := range v {
			if !utf8.ValidString(k) || !plainJSON(e) {
				return false
			}
		}
		return true
	}
	return false
}

// appendCJSONValue writes v, for which plainJSON holds, as cjson does.
func appendCJSONValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case string:
		return appendCJSONString(b, v)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCJSONValue(b, e)
		}
		return append(b, ']')
	case map[string]any:
		o := openCJSONObject(b, v)
		return o.close()
	}
	panic(fmt.Sprintf("appendCJSONValue: %T", v)) // plainJSON was not asked
}

// cjsonObject writes an object whose known members are written in cjson's
// (bytewise) order by the caller and whose other members, extra, are
// written among them where that order puts them.
type cjsonObject struct {
	b     []byte
	extra map[string]any
	names []string // extra's names not yet written, in order
	n     int      // members written
}

func openCJSONObject(b []byte, extra map[string]any) *cjsonObject {
	return &cjsonObject{b: append(b, '{'), extra: extra, names: slices.Sorted(maps.Keys(extra))}
}

// member starts the known member name (after any extra member before it).
func (o *cjsonObject) member(name string) {
	for len(o.names) > 0 && o.names[0] < name {
		o.extraMember()
	}
	o.start(name)
}

func (o *cjsonObject) start(name string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(appendCJSONString(o.b, name), ':')
}

func (o *cjsonObject) extraMember() {
	name := o.names[0]
	o.names = o.names[1:]
	o.start(name)
	o.b = appendCJSONValue(o.b, o.extra[name])
}

// close writes the extra members left and ends the object.
func (o *cjsonObject) close() []byte {
	for len(o.names) > 0 {
		o.extraMember()
	}
	return append(o.b, '}')
}

// appendCJSONString writes s as cjson does: quoted, with only \ and "
// escaped.
func appendCJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	return append(appendEscapedString(b, s), '"')
}
