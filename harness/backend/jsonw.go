package backend

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"

	"github.com/tokenstorm/tokenstorm/harness/jsonw"
)

// obj builds a JSON object with members in the order written. Answers
// are assembled from style-defined member names, so a struct with json tags
// cannot describe them; a map would lose the order and cost allocations on
// the hot path. A dotted name ("data.token") writes into a nested object,
// which is placed after the flat members.
type obj struct {
	b    []byte
	subs []*subObj
}

type subObj struct {
	name string
	o    *obj
}

// at returns the object that holds member k, and its name there.
func (o *obj) at(k string) (*obj, string) {
	head, rest, nested := strings.Cut(k, ".")
	if !nested {
		return o, k
	}
	for _, s := range o.subs {
		if s.name == head {
			return s.o.at(rest)
		}
	}
	s := &subObj{name: head, o: &obj{b: append(make([]byte, 0, 64), '{')}}
	o.subs = append(o.subs, s)
	return s.o.at(rest)
}

// objs are answers' builders for reuse: every protected call writes one.
var objs = sync.Pool{New: func() any { return &obj{b: make([]byte, 0, 256)} }}

func newObj() *obj {
	o := objs.Get().(*obj)
	o.b = append(o.b[:0], '{')
	return o
}

// release gives o back for reuse once its bytes have been written; o must
// not be used after. Outsized buffers are left to the collector.
func (o *obj) release() {
	if cap(o.b) > 4<<10 {
		return
	}
	o.b, o.subs = o.b[:0], nil
	objs.Put(o)
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
		t, k := o.at(k)
		t.key(k)
		t.b = jsonw.AppendString(t.b, v)
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
		t, k := o.at(k)
		t.key(k)
		t.b = strconv.AppendInt(t.b, v, 10)
	}
	return o
}

func (o *obj) boolean(k string, v bool) *obj {
	if k != "" {
		t, k := o.at(k)
		t.key(k)
		t.b = strconv.AppendBool(t.b, v)
	}
	return o
}

// raw writes an already encoded JSON value.
func (o *obj) raw(k string, v []byte) *obj {
	if k != "" && len(v) > 0 {
		t, k := o.at(k)
		t.key(k)
		t.b = append(t.b, v...)
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
	return append(o.close(), '\n')
}

func (o *obj) close() []byte {
	for _, s := range o.subs {
		o.key(s.name)
		o.b = append(o.b, s.o.close()...)
	}
	o.subs = nil
	return append(o.b, '}')
}
