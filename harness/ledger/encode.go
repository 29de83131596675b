package ledger

import (
	"strconv"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/jsonw"
)

// appendJSON appends e as one JSON object and a newline. It writes what
// encoding/json would (same keys, same omissions) without reflection: the
// ledger encodes several events per request, so this is on every load run's
// hot path.
func appendJSON(b []byte, e *Event) []byte {
	return appendRest(appendHead(b, e.Seq, e.Time), e)
}

// appendHead is the start of an event's object: its sequence number and
// time, the two members only known under the ledger's lock.
func appendHead(b []byte, seq uint64, t time.Time) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"time":`...)
	return appendTime(b, t)
}

// appendRest is the rest of the object after appendHead, and the newline.
func appendRest(b []byte, e *Event) []byte {
	b = appendStr(b, `,"source":`, e.Source, false)
	b = appendStr(b, `,"kind":`, e.Kind, false)
	b = appendStr(b, `,"device":`, e.Device, true)
	b = appendStr(b, `,"subject":`, e.Subject, true)
	b = appendStr(b, `,"rid":`, e.RID, true)
	b = appendInt(b, `,"attempt":`, int64(e.Attempt))
	b = appendStr(b, `,"token":`, e.Token, true)
	b = appendStr(b, `,"family":`, e.Family, true)
	b = appendStr(b, `,"route":`, e.Route, true)
	b = appendStr(b, `,"method":`, e.Method, true)
	b = appendInt(b, `,"status":`, int64(e.Status))
	b = appendStr(b, `,"outcome":`, e.Outcome, true)
	b = appendInt(b, `,"errcode":`, int64(e.Errcode))
	b = appendStr(b, `,"code":`, e.Code, true)
	b = appendStr(b, `,"body_hash":`, e.BodyHash, true)
	b = appendStr(b, `,"detail":`, e.Detail, true)
	if !e.Expires.IsZero() {
		b = append(b, `,"expires":`...)
		b = appendTime(b, e.Expires)
	}
	b = appendInt(b, `,"latency_ns":`, e.LatencyNS)
	return append(b, '}', '\n')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendInt and appendStr take the member's key written out with its
// punctuation (`,"key":`): one append of a constant instead of four.
func appendInt(b []byte, key string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, key...)
	return strconv.AppendInt(b, v, 10)
}

func appendStr(b []byte, key, v string, omitEmpty bool) []byte {
	if omitEmpty && v == "" {
		return b
	}
	b = append(b, key...)
	return jsonw.AppendString(b, v)
}
