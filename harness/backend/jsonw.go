package backend

import (
	"encoding/json"
	"strconv"

	"github.com/tokenstorm/tokenstorm/harness/jsonw"
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
	o.b = jsonw.AppendString(o.b, k)
	o.b = append(o.b, ':')
}

func (o *obj) str(k, v string) *obj {
	if k != "" {
		o.key(k)
		o.b = jsonw.AppendString(o.b, v)
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
