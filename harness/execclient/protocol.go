package execclient

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// ProtocolVersion is the version of the JSON Lines protocol this harness
// speaks. A client answers the hello with the version it speaks, from
// MinProtocolVersion to ProtocolVersion; an incompatible change bumps it so
// that an old client fails loudly at start-up instead of misreading calls.
//
// Version 2: the style_spec carries style format v2 (requests, answers,
// token.cookie, members/any_of/same_as signals). The hello says protocol 1
// when the style's v1 members describe it fully (style.NeedsV2 is ""), so
// a client written for version 1 keeps working with every style it can
// speak, and protocol 2 otherwise; a client answers 1 or 2, and 1 only for
// such a style.
//
// Version 3: each call carries clock_offset_ms, how far the device's clock
// is from real time (a phone whose clock is wrong, a conform scenario's
// simulated time). A client that answers 3 keeps each device's time by it;
// one that answers less keeps its own time, and checks that move device
// clocks are skip for it (client.OwnTimer). The hello still says 1 or 2, the
// least the style needs, so older clients keep working.
const ProtocolVersion = 3

// styleV2Protocol is the first version that reads style format v2.
const styleV2Protocol = 2

// clockProtocol is the first version whose calls carry clock_offset_ms.
const clockProtocol = 3

// MinProtocolVersion is the oldest version a client may answer with.
const MinProtocolVersion = 1

// Message types on the wire.
const (
	typeHello  = "hello"
	typeCall   = "call"
	typeAnswer = "answer" // optional on answers: a line with an id and no type is an answer
	typeLog    = "log"
)

// helloOut is the first line the harness writes.
type helloOut struct {
	Type       string `json:"type"`
	Protocol   int    `json:"protocol"`
	BackendURL string `json:"backend_url"`
	WechatURL  string `json:"wechat_url"`
	AppID      string `json:"appid"`
	Style      string `json:"style,omitempty"`
	// StyleSpec is the resolved backend style (routes, fields, token
	// placement, signals) as JSON, so a client needs no YAML parser. Always
	// sent, bearer included.
	StyleSpec *style.Style `json:"style_spec"`
}

// callOut is one call. Headers are flattened to one string per name (values
// joined with ", " as RFC 9110 allows for request headers) because that is
// what fetch(), requests and most HTTP libraries take directly. Exactly one of
// Body and BodyBase64 is set: Body when the bytes are valid UTF-8 (always the
// case for the harness's JSON requests), BodyBase64 otherwise, so that a
// binary body survives the trip unchanged.
type callOut struct {
	Type       string            `json:"type"`
	ID         string            `json:"id"`
	Device     string            `json:"device"`
	Method     string            `json:"method"`
	Path       string            `json:"path"`
	Headers    map[string]string `json:"headers"`
	Body       *string           `json:"body,omitempty"`
	BodyBase64 string            `json:"body_base64,omitempty"`
	// ClockOffsetMS: the device's clock minus real time (protocol 3; absent
	// when 0, and for older clients).
	ClockOffsetMS int64 `json:"clock_offset_ms,omitempty"`
}

// inMsg is any line the client writes: a hello, an answer or a log note.
// Fields are loosely typed where clients in other languages differ (ids,
// header values, errors) so that a near miss is reported precisely rather
// than as "bad JSON".
type inMsg struct {
	Type       string                     `json:"type"`
	ID         json.RawMessage            `json:"id"`
	Protocol   int                        `json:"protocol"`
	Name       string                     `json:"name"`
	Status     int                        `json:"status"`
	Headers    map[string]json.RawMessage `json:"headers"`
	Body       *string                    `json:"body"`
	BodyBase64 *string                    `json:"body_base64"`
	Error      json.RawMessage            `json:"error"`
	Device     string                     `json:"device"`
	Message    string                     `json:"message"`
}

// encodeLine marshals v as one line without HTML escaping, so that a body
// containing <, > or & stays readable when someone dumps the stream.
func encodeLine(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode appends the newline
		return nil, err
	}
	return buf.Bytes(), nil
}

// encodeHello writes the hello, with the backend style resolved from
// env.Style ("" is bearer): an unknown style or a broken style file is an
// error, since the client could not speak to the backend anyway.
func encodeHello(env client.Env) ([]byte, *style.Style, error) {
	spec, err := style.Load(env.Style)
	if err != nil {
		return nil, nil, fmt.Errorf("backend style: %w", err)
	}
	b, err := encodeLine(helloOut{Type: typeHello, Protocol: helloProtocol(spec),
		BackendURL: env.BackendURL, WechatURL: env.WechatURL, AppID: env.AppID, Style: env.Style,
		StyleSpec: spec})
	return b, spec, err
}

// helloProtocol is the version the hello announces for spec.
func helloProtocol(spec *style.Style) int {
	if spec.NeedsV2() == "" {
		return MinProtocolVersion
	}
	return styleV2Protocol
}

// encodeCall encodes a call; offset is the device's clock offset (0 for a
// client before protocol 3).
func encodeCall(id string, c client.Call, offset time.Duration) ([]byte, error) {
	m := callOut{Type: typeCall, ID: id, Device: c.Device, Method: c.Method, Path: c.Path,
		Headers: make(map[string]string, len(c.Header)), ClockOffsetMS: offset.Milliseconds()}
	if m.Method == "" {
		m.Method = http.MethodGet
	}
	for k, vs := range c.Header {
		m.Headers[k] = strings.Join(vs, ", ")
	}
	if utf8.Valid(c.Body) {
		s := string(c.Body)
		m.Body = &s
	} else {
		m.BodyBase64 = base64.StdEncoding.EncodeToString(c.Body)
	}
	return encodeLine(m)
}

// decodeID returns the id of an answer, or why it has none usable.
func decodeID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", fmt.Errorf("answer without an \"id\"")
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil {
		return "", fmt.Errorf("\"id\" must be a string, got %s", truncate(raw, 40))
	}
	return id, nil
}

// decodeAnswer turns an answer line into the Result of its call. A non-nil
// error means the answer is malformed; the caller records it and settles the
// call with it.
func decodeAnswer(m *inMsg, typeErr error) (client.Result, error) {
	if typeErr != nil {
		return client.Result{}, describeTypeError(typeErr)
	}
	if len(m.Error) > 0 && string(m.Error) != "null" {
		var msg string
		if json.Unmarshal(m.Error, &msg) != nil {
			msg = string(m.Error) // an object or number: show it as written
		}
		if msg == "" {
			msg = "(empty error message)"
		}
		return client.Result{Err: &AnswerError{Message: msg}}, nil
	}
	if m.Status < 100 || m.Status > 599 {
		return client.Result{}, fmt.Errorf("\"status\" %d is not an HTTP status and there is no \"error\"", m.Status)
	}
	if m.Body != nil && m.BodyBase64 != nil {
		return client.Result{}, fmt.Errorf("both \"body\" and \"body_base64\" are set")
	}
	res := client.Result{Status: m.Status, Header: http.Header{}}
	for k, raw := range m.Headers {
		vs, err := headerValues(raw)
		if err != nil {
			return client.Result{}, fmt.Errorf("header %q: %v", k, err)
		}
		for _, v := range vs {
			res.Header.Add(k, v)
		}
	}
	switch {
	case m.BodyBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*m.BodyBase64)
		if err != nil {
			return client.Result{}, fmt.Errorf("\"body_base64\" is not standard base64: %v", err)
		}
		res.Body = b
	case m.Body != nil:
		res.Body = []byte(*m.Body)
	}
	return res, nil
}

// describeTypeError words a JSON type mismatch in the client's terms (JSON
// field and JSON types), not in the harness's Go struct names.
func describeTypeError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	want := "a different type"
	t := te.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		want = "a number"
	case reflect.String:
		want = "a string"
	case reflect.Map, reflect.Struct:
		want = "an object"
	}
	return fmt.Errorf("%q must be %s, got a JSON %s", te.Field, want, te.Value)
}

// headerValues accepts "v" or ["v1","v2"]: what fetch's Headers and Go's
// http.Header serialise to, respectively.
func headerValues(raw json.RawMessage) ([]string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, nil
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil {
		return ss, nil
	}
	return nil, fmt.Errorf("value must be a string or an array of strings, got %s", truncate(raw, 40))
}

// truncate quotes at most n bytes of b for an error message.
func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	// Cut on a rune boundary so the message stays valid UTF-8.
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + "…"
}
