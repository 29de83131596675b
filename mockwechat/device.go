package mockwechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// maxUser bounds a user name: it ends up in maps, stats and the ledger.
const maxUser = 256

// Errors of Login.
var (
	ErrUnknownApp = errors.New("mockwechat: unknown appid")
	ErrBadUser    = errors.New("mockwechat: user must be 1-256 bytes of UTF-8")
)

type loginRequest struct {
	AppID string `json:"appid"`
	User  string `json:"user"`
}

type loginAnswer struct {
	Code      string `json:"code"`
	ExpiresIn int    `json:"expires_in"`
}

// Login is wx.login for user in appid ("" = the first configured app): it
// mints a single-use code and rotates the user's session_key. Fault rules for
// "wx.login" apply: latency delays the call, the other actions return a
// *FaultError.
func (s *Server) Login(appid, user string) (code string, err error) {
	return s.LoginContext(context.Background(), appid, user)
}

// LoginContext is Login with a context bounding fault latency and hangs.
func (s *Server) LoginContext(ctx context.Context, appid, user string) (string, error) {
	c := s.newCall(nil, nil, APIWxLogin, ctMock)
	defer c.finish()
	if appid == "" {
		appid = s.first
	}
	// Go-side calls get the HTTP status the endpoint would have answered, so
	// stats and metrics read the same whichever way devices log in.
	if err := validUser(user); err != nil {
		c.status, c.outcome, c.noEvent = http.StatusBadRequest, ledger.OutcomeInvalid, true
		return "", err
	}
	c.user = user
	if s.renewing != nil {
		defer s.renewing(user)()
	}
	if err := s.applyFaultGo(ctx, c); err != nil {
		return "", err
	}
	if _, ok := s.apps[appid]; !ok {
		c.status, c.outcome, c.noEvent = http.StatusBadRequest, ledger.OutcomeInvalid, true
		return "", fmt.Errorf("%w %q", ErrUnknownApp, clip(appid, 64))
	}
	code, openid := s.mint(appid, user)
	c.code, c.openid, c.status, c.outcome = code, openid, http.StatusOK, ledger.OutcomeOK
	return code, nil
}

func validUser(u string) error {
	if u == "" || len(u) > maxUser || !utf8.ValidString(u) {
		return ErrBadUser
	}
	return nil
}

// handleWxLogin is POST /__mock/wx/login {"appid","user"} → {"code","expires_in"}.
// It is the mock's own endpoint, so it answers like a JSON API (400/405/413
// with {"error"}), not like WeChat.
func (s *Server) handleWxLogin(w http.ResponseWriter, r *http.Request) {
	c := s.newCall(w, r, APIWxLogin, ctMock)
	defer c.finish()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		c.noEvent = true
		c.answerMockError(http.StatusMethodNotAllowed, "method "+clip(r.Method, 20)+" not allowed; use POST")
		return
	}
	var req loginRequest
	if status, msg := decodeStrict(r, &req); status != 0 {
		c.noEvent = true
		c.answerMockError(status, msg)
		return
	}
	if err := validUser(req.User); err != nil {
		c.noEvent = true
		c.answerMockError(http.StatusBadRequest, "user: required, 1-256 bytes of UTF-8")
		return
	}
	c.user = req.User
	if s.renewing != nil {
		defer s.renewing(req.User)() // fault latency included
	}
	if s.applyFault(c) {
		return
	}
	if req.AppID == "" {
		req.AppID = s.first
	}
	if _, ok := s.apps[req.AppID]; !ok {
		c.noEvent = true
		c.answerMockError(http.StatusBadRequest, "appid: unknown app "+clip(req.AppID, 64))
		return
	}
	code, openid := s.mint(req.AppID, req.User)
	c.code, c.openid = code, openid
	c.answerMock(http.StatusOK, loginAnswer{Code: code, ExpiresIn: int(s.codeTTL / time.Second)})
}

// decodeStrict decodes r's JSON body into v: exactly one object, no unknown
// fields. On failure it returns the status and a message naming the problem.
// It streams from the (capped) body instead of buffering it first.
func decodeStrict(r *http.Request, v any) (status int, msg string) {
	if r.Body == nil {
		return http.StatusBadRequest, "empty body; want a JSON object"
	}
	// Read first: encoding/json silently turns invalid UTF-8 into U+FFFD,
	// which would map different byte strings to one user (one openid).
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if isTooLarge(err) {
			return http.StatusRequestEntityTooLarge, "request body larger than 1 MiB"
		}
		return http.StatusBadRequest, "cannot read the body: " + err.Error()
	}
	if !utf8.Valid(body) {
		return http.StatusBadRequest, "body is not valid UTF-8"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		switch {
		case err == io.EOF:
			return http.StatusBadRequest, "empty body; want a JSON object"
		case isTooLarge(err):
			return http.StatusRequestEntityTooLarge, "request body larger than 1 MiB"
		}
		return http.StatusBadRequest, jsonProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if isTooLarge(err) {
			return http.StatusRequestEntityTooLarge, "request body larger than 1 MiB"
		}
		return http.StatusBadRequest, "unexpected data after the JSON object"
	}
	return 0, ""
}

// jsonProblem turns a decoding error into a message that names the field.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at offset %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("want a JSON object, got %s", typ.Value)
		}
		return fmt.Sprintf("%s: want %s, got %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: unexpected end of input"
	}
	// Unknown fields come as `json: unknown field "x"`, which already names it.
	return clip(err.Error(), 200)
}
