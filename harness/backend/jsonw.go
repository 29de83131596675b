package backend

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// obj builds a flat JSON object with members in the order written. Answers
// are assembled from style-defined member names, so a struct with json tags
// cannot describe them; a map would lose the order and cost allocations on
// the hot path.
type obj struct {
	b []byte
}

func newObj() *obj {
	o := &obj{b: make([]byte, 0, 256)}
	o.b = append(o.b, '{')
	return o
}

func (o *obj) key(k string) {
	if len(o.b) > 1 {
		o.b = append(o.b, ',')
	}
	o.b = appendString(o.b, k)
	o.b = append(o.b, ':')
}

func (o *obj) str(k, v string) *obj {
	if k != "" {
		o.key(k)
		o.b = appendString(o.b, v)
	}
	return o
}

// opt writes a string member only when v is not empty.
func (o *obj) opt(k, v string) *obj {
	if v != "" {
		o.str(k, v)
	}
	return o
}

func (o *obj) num(k string, v int64) *obj {
	if k != "" {
		o.key(k)
		o.b = strconv.AppendInt(o.b, v, 10)
	}
	return o
}

func (o *obj) boolean(k string, v bool) *obj {
	if k != "" {
		o.key(k)
		o.b = strconv.AppendBool(o.b, v)
	}
	return o
}

// raw writes an already encoded JSON value.
func (o *obj) raw(k string, v []byte) *obj {
	if k != "" && len(v) > 0 {
		o.key(k)
		o.b = append(o.b, v...)
	}
	return o
}

// any encodes v with encoding/json (cold paths only).
func (o *obj) any(k string, v any) *obj {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("null")
	}
	return o.raw(k, b)
}

func (o *obj) bytes() []byte {
	return append(o.b, '}', '\n')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, replacing invalid UTF-8 with
// U+FFFD as encoding/json does (paths and codes come from the client).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' { // valid JSON, but not valid JavaScript source
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
