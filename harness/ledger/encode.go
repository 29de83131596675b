package ledger

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends e as one JSON object and a newline. It writes what
// encoding/json would (same keys, same omissions) without reflection: the
// ledger encodes several events per request under its lock, so this is on
// every load run's hot path.
func appendJSON(b []byte, e *Event) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"time":`...)
	b = appendTime(b, e.Time)
	b = appendStr(b, "source", e.Source, false)
	b = appendStr(b, "kind", e.Kind, false)
	b = appendStr(b, "device", e.Device, true)
	b = appendStr(b, "subject", e.Subject, true)
	b = appendStr(b, "rid", e.RID, true)
	b = appendInt(b, "attempt", int64(e.Attempt))
	b = appendStr(b, "token", e.Token, true)
	b = appendStr(b, "family", e.Family, true)
	b = appendStr(b, "route", e.Route, true)
	b = appendStr(b, "method", e.Method, true)
	b = appendInt(b, "status", int64(e.Status))
	b = appendStr(b, "outcome", e.Outcome, true)
	b = appendInt(b, "errcode", int64(e.Errcode))
	b = appendStr(b, "code", e.Code, true)
	b = appendStr(b, "body_hash", e.BodyHash, true)
	b = appendStr(b, "detail", e.Detail, true)
	if !e.Expires.IsZero() {
		b = append(b, `,"expires":`...)
		b = appendTime(b, e.Expires)
	}
	b = appendInt(b, "latency_ns", e.LatencyNS)
	return append(b, '}', '\n')
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendInt(b []byte, key string, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func appendStr(b []byte, key, v string, omitEmpty bool) []byte {
	if omitEmpty && v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendQuoted(b, v)
}

const hexDigits = "0123456789abcdef"

// appendQuoted quotes s as encoding/json does (including its HTML-safe
// escapes and replacement of invalid UTF-8), so both encoders agree byte for byte.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
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
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
