package backend

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// reqError is a refusal of a malformed request: never about the token, never a 500.
type reqError struct {
	status int
	code   string // "error" member
	desc   string // "error_description" member
	field  string // optional "field" member naming the bad input
}

func (e *reqError) Error() string { return e.code + ": " + e.desc }

func invalidRequest(format string, args ...any) *reqError {
	return &reqError{status: http.StatusBadRequest, code: "invalid_request", desc: fmt.Sprintf(format, args...)}
}

// readBody reads the whole body, refusing more than MaxBody bytes with 413.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *reqError) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &reqError{status: http.StatusRequestEntityTooLarge, code: "request_too_large",
				desc: fmt.Sprintf("request body exceeds %d bytes", MaxBody)}
		}
		return nil, invalidRequest("reading the request body: %v", err)
	}
	return b, nil
}

// decodeObject parses a JSON object body. Duplicate members are refused:
// encoding/json would silently keep the last one, and a client or proxy
// that sends {"code":"a","code":"b"} has a bug worth surfacing. Unknown
// members are allowed (real clients send extras such as appid).
func decodeObject(body []byte) (map[string]json.RawMessage, *reqError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalidRequest("the request body must be a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, invalidRequest("bad JSON: %v", err)
		}
		return nil, invalidRequest("the request body must be a JSON object")
	}
	// The body is valid JSON now; walk its top-level keys for duplicates.
	dec := json.NewDecoder(bytes.NewReader(body))
	_, _ = dec.Token() // '{'
	seen := make(map[string]struct{}, len(m))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalidRequest("bad JSON: %v", err)
		}
		k, _ := tok.(string)
		if _, dup := seen[k]; dup {
			return nil, &reqError{status: http.StatusBadRequest, code: "invalid_request",
				desc: fmt.Sprintf("duplicate member %q", k), field: k}
		}
		seen[k] = struct{}{}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, invalidRequest("bad JSON: %v", err)
		}
	}
	return m, nil
}

// queryParam finds key in a raw query without building a url.Values map (it
// runs on every protected request). A key given twice with different values
// is refused: which one the server honours would otherwise be a guess.
func queryParam(rawQuery, key string) (string, bool, *reqError) {
	var val string
	found := false
	for rawQuery != "" {
		var part string
		part, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(part, "=")
		if strings.ContainsAny(k, "%+") {
			uk, err := url.QueryUnescape(k)
			if err != nil {
				continue
			}
			k = uk
		}
		if k != key {
			continue
		}
		uv, err := url.QueryUnescape(v)
		if err != nil {
			return "", false, &reqError{status: http.StatusBadRequest, code: "invalid_request", desc: "bad escaping in query parameter " + key, field: key}
		}
		if found && uv != val {
			return "", false, &reqError{status: http.StatusBadRequest, code: "invalid_request", desc: "conflicting values for query parameter " + key, field: key}
		}
		val, found = uv, true
	}
	return val, found, nil
}

// maxRID bounds request ids: they are echoed in headers and the ledger.
const maxRID = 256

// RequestID is the logical request id a client sends with a protected call
// (query rid, else header X-Request-ID), as the reference backend reads it:
// a recording proxy in front of a backend under test (harness/tap) reads it
// the same way. It errs on an id that is too long, has control characters or
// is given twice with different values.
func RequestID(r *http.Request) (string, error) {
	rid, rerr := requestID(r)
	if rerr != nil {
		return rid, rerr
	}
	return rid, nil
}

// requestID is the logical request id: query rid, else header X-Request-ID.
func requestID(r *http.Request) (string, *reqError) {
	rid, ok, rerr := queryParam(r.URL.RawQuery, "rid")
	if rerr != nil {
		return "", rerr
	}
	if !ok {
		rid = r.Header.Get("X-Request-Id") // canonical: no copy of the key
	}
	if len(rid) > maxRID {
		return "", &reqError{status: http.StatusBadRequest, code: "invalid_request", desc: fmt.Sprintf("rid longer than %d bytes", maxRID), field: "rid"}
	}
	for i := 0; i < len(rid); i++ {
		if rid[i] < 0x20 || rid[i] == 0x7f {
			return "", &reqError{status: http.StatusBadRequest, code: "invalid_request", desc: "rid contains control characters", field: "rid"}
		}
	}
	return rid, nil
}
