package mockwechat

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// Content types. WeChat answers jscode2session as text/plain (a wart SDKs
// cope with) and its cgi-bin style APIs as "application/json; encoding=utf-8".
const (
	ctText = "text/plain"
	ctJSON = "application/json; encoding=utf-8"
	ctMock = "application/json" // the mock's own endpoints (device side, admin)
)

// call is one request to an API (or one Go-side Login): what was answered and
// who it was about. finish turns it into stats, metrics and a ledger event, so
// every path through a handler is recorded the same way.
type call struct {
	s     *Server
	w     http.ResponseWriter // nil for Go-side calls
	r     *http.Request       // nil for Go-side calls
	api   string
	ctype string // content type of WeChat-style answers
	start time.Time

	user    string
	openid  string
	code    string
	errcode int  // WeChat errcode answered (0 = success)
	wechat  bool // the answer was a WeChat-style body (errcode meaningful)
	status  int  // HTTP status answered; 0 = nothing (client gone, reset)
	outcome string
	noEvent bool // do not write the API's ledger event (failed wx.login)
}

func (s *Server) newCall(w http.ResponseWriter, r *http.Request, api, ctype string) *call {
	return &call{s: s, w: w, r: r, api: api, ctype: ctype, start: time.Now()}
}

// answerWechat writes a WeChat errcode answer (HTTP 200) or, for errcode 0 on
// the cgi-bin style APIs, {"errcode":0,"errmsg":"ok"}.
func (c *call) answerWechat(errcode int) {
	writeWechat(c.w, c.ctype, errcode, newRID(c.s.clock.Now()))
	c.wechat, c.errcode, c.status = true, errcode, http.StatusOK
	if c.outcome == "" {
		if errcode == 0 {
			c.outcome = ledger.OutcomeOK
		} else {
			c.outcome = ledger.OutcomeWechat
		}
	}
}

// answerOK writes a successful WeChat body.
func (c *call) answerOK(body []byte) {
	writeBody(c.w, http.StatusOK, c.ctype, body)
	c.wechat, c.errcode, c.status, c.outcome = true, 0, http.StatusOK, ledger.OutcomeOK
}

// answerMock writes one of the mock's own JSON answers (device side).
func (c *call) answerMock(status int, v any) {
	writeJSON(c.w, status, v)
	c.status = status
	if c.outcome == "" {
		if status == http.StatusOK {
			c.outcome = ledger.OutcomeOK
		} else {
			c.outcome = ledger.OutcomeInvalid
		}
	}
}

// answerMockError writes {"error": msg} with status.
func (c *call) answerMockError(status int, msg string) {
	c.answerMock(status, map[string]string{"error": msg})
}

// tooLarge answers a body over maxBody.
func (c *call) tooLarge() {
	writeJSONError(c.w, http.StatusRequestEntityTooLarge, "request body larger than 1 MiB")
	c.status, c.outcome = http.StatusRequestEntityTooLarge, ledger.OutcomeInvalid
}

// finish records the call. A call that answered nothing at all (a panic) is not
// recorded: the panic handler logs it.
func (c *call) finish() {
	if c.status == 0 && c.outcome == "" {
		return
	}
	s := c.s
	s.stats.record(c)
	s.metrics.observe(c)
	if c.noEvent || s.ledger == nil {
		return
	}
	e := ledger.Event{
		Source:  ledger.SourceWechat,
		Kind:    ledgerKind(c.api),
		Device:  c.user,
		Subject: c.openid,
		Code:    clip(c.code, 64),
		Errcode: c.errcode,
		Outcome: c.outcome,
		Status:  c.status,
	}
	if c.r != nil {
		e.Method = c.r.Method
		e.Route = clip(c.r.URL.Path, 200)
	}
	s.ledger.Append(e)
}

func ledgerKind(api string) string {
	switch api {
	case APIJSCode2Session:
		return ledger.KindJSCode2Sess
	case APIToken:
		return ledger.KindAccessToken
	case APIStableToken:
		return ledger.KindStableToken
	case APICheckSession:
		return ledger.KindCheckSession
	default:
		return ledger.KindWxLogin
	}
}

type wechatError struct {
	Errcode int    `json:"errcode"`
	Errmsg  string `json:"errmsg"`
}

func writeWechat(w http.ResponseWriter, ctype string, errcode int, rid string) {
	msg := "ok" // WeChat's success answers carry no rid
	if errcode != 0 {
		msg = errmsgWithRID(errcode, rid)
	}
	b, _ := json.Marshal(wechatError{errcode, msg})
	writeBody(w, http.StatusOK, ctype, b)
}

// Shared header values: assigning a prebuilt slice saves an allocation per
// answer. Header.Set/Add replace or append (a new array, cap == len), so the
// shared slices are never written to.
var ctValues = map[string][]string{
	ctText: {ctText},
	ctJSON: {ctJSON},
	ctMock: {ctMock},
}

// writeBody answers status with body. Content-Length is left to net/http,
// which sets it for bodies this small.
func writeBody(w http.ResponseWriter, status int, ctype string, body []byte) {
	if v, ok := ctValues[ctype]; ok {
		w.Header()["Content-Type"] = v
	} else {
		w.Header().Set("Content-Type", ctype)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own types get here; keep the answer well-formed anyway
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding answer"}`)
	}
	writeBody(w, status, ctMock, append(b, '\n'))
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// isTooLarge reports whether err came from the body cap.
func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}
