package refclient

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/tokenstorm/tokenstorm/harness/style"
)

// maxPeek bounds how much of an answer is buffered to classify it; signal
// bodies are tiny, anything longer is delivered untouched.
const maxPeek = 64 << 10

// Transport is one device's http.RoundTripper. Requests for the client's
// backend get the device's access token, and the transport refreshes and
// replays as the package documentation describes; requests for any other
// host pass through untouched (a redirect must not leak the token).
type Transport struct {
	c *Client
	s *session
}

var _ http.RoundTripper = (*Transport)(nil)

// Device is the device this transport acts for.
func (t *Transport) Device() string { return t.s.device }

// RoundTrip implements http.RoundTripper. It does not modify req. The request
// body is read once and kept, so a replay carries the same bytes.
//
// A transport error is returned, never retried: once the body may have been
// sent, only the caller can know whether repeating a POST is safe. An expiry
// signal, in contrast, means the backend did not execute the request, so even
// a POST is replayed.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.roundTripHTTP(req, waitMark{})
}

func (t *Transport) roundTripHTTP(req *http.Request, w waitMark) (*http.Response, error) {
	if !t.c.ours(req) {
		return t.c.base.RoundTrip(req)
	}
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	return t.roundTrip(req, body, false, w)
}

// roundTrip is RoundTrip once req's body has been read into body. owned says
// req belongs to the transport (Client.Do built it for this call, with a
// Header map of its own and no Body): its first attempt is then sent as it is
// instead of on a copy. Nothing writes to req after that first attempt.
func (t *Transport) roundTrip(req *http.Request, body []byte, owned bool, w waitMark) (*http.Response, error) {
	if t.c.styleErr != nil {
		return nil, t.c.styleErr
	}
	if t.c.ctx.Err() != nil {
		return nil, ErrClosed
	}
	ctx := req.Context()
	if t.c.spec.Token.SingleUse {
		release, err := t.s.takeTurn(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	st, err := t.s.token(ctx, w)
	if err != nil {
		return nil, err
	}

	b := &t.c.opts.Behaviour
	maxReplays := 1
	if b.RetryForever {
		maxReplays = math.MaxInt // the defect: bounded only by ctx
	}
	for replays := 0; ; replays++ {
		resp, err := t.send(req, body, st, owned && replays == 0, w)
		if err != nil {
			return nil, err
		}
		sig, err := t.c.classify(resp)
		if err != nil {
			return nil, err
		}
		if sig == SignalNone {
			t.s.rotate(st, t.c.nextToken(resp.Header))
		}
		if sig == SignalNone || replays >= maxReplays {
			return resp, nil // including a replay that was rejected again: no loop
		}
		if b.Fabricate {
			drain(resp)
			return emptySuccess(req), nil
		}

		// The backend rejected the token, so it did not execute the request:
		// get the next tokens (shared with every other request of this device
		// that met the same expiry) and replay.
		rejected, original := st, resp
		var mine uint64
		if b.SingleSlot {
			mine = t.s.claimSlot()
		}
		if st, err = t.s.renew(ctx, rejected, w); err != nil {
			return nil, err
		}
		if b.SingleSlot && !t.s.takeSlot(mine) {
			w.add(-1)    // waiting on nothing the servers owe
			<-ctx.Done() // the defect: the overwritten caller is never settled
			w.add(1)
			return nil, waitErr(ctx.Err())
		}
		switch {
		case b.NoReplay:
			return original, nil
		case b.StaleReplay:
			st = rejected
		case b.DropBody:
			body = nil
		case b.DoubleReplay:
			if extra, err := t.send(req, body, st, false, w); err == nil {
				drain(extra)
			}
		}
	}
}

// send sends one attempt of req with body and the token of st, on a copy of
// req so the caller's request is never modified; inPlace sends req itself
// (the transport's own request, see roundTrip).
func (t *Transport) send(req *http.Request, body []byte, st *tokenState, inPlace bool, w waitMark) (*http.Response, error) {
	r := req
	if !inPlace {
		r = new(http.Request)
		*r = *req
		r.Header = make(http.Header, len(req.Header)+1)
		for k, v := range req.Header {
			r.Header[k] = v // values are shared, never modified
		}
	}
	if st.credKey == "Cookie" && len(req.Header["Cookie"]) > 0 {
		// A session-cookie style: keep the caller's own cookies.
		h := http.Header{"Cookie": req.Header["Cookie"]}
		style.SetCookie(h, t.c.spec.Token.Cookie, st.Access)
		r.Header["Cookie"] = h["Cookie"]
	} else {
		r.Header[st.credKey] = st.credVals // Header.Set(credName, credValue), shared likewise
	}
	if len(body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
	} else {
		r.Body, r.GetBody, r.ContentLength = nil, nil, 0
	}
	return t.c.base.RoundTrip(r)
}

// waitMark is a call's client.Call.Waiting (zero when the transport is used
// as a plain http.RoundTripper). Client.Do counts it up for the whole call:
// the reference client only ever waits on the servers (an attempt, the
// device's renewal, a backoff bounded by the refresh budget), so the device
// driver can tell slow servers from a forgotten request. The mutants' defect
// waits (a caller never settled) take the count back while they last.
type waitMark struct{ n *atomic.Int32 }

func (w waitMark) add(d int32) {
	if w.n != nil {
		w.n.Add(d)
	}
}

// nextToken is the access token an answer handed over in the style's
// next_header, or "".
func (c *Client) nextToken(h http.Header) string {
	if c.spec.Token.NextHeader == "" {
		return ""
	}
	return strings.TrimSpace(h.Get(c.spec.Token.NextHeader))
}

// classify asks the style what resp says about the token, buffering the body
// only when the style needs it (then resp.Body is replaced by the buffer).
func (c *Client) classify(resp *http.Response) (Signal, error) {
	anyUnauthorized := c.opts.Behaviour.RetryForever && resp.StatusCode == http.StatusUnauthorized
	if !anyUnauthorized && !c.opts.Style.Peek(resp.StatusCode, resp.Header) {
		return SignalNone, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPeek+1))
	if err != nil {
		resp.Body.Close()
		return SignalNone, fmt.Errorf("tokenstorm/refclient: reading a %d answer: %w", resp.StatusCode, err)
	}
	if len(b) > maxPeek {
		// Too long to be a signal: deliver it whole.
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
		return SignalNone, nil
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if anyUnauthorized {
		return SignalExpired, nil // the retry-forever defect: every 401 is "the token"
	}
	return c.opts.Style.Classify(resp.StatusCode, resp.Header, b), nil
}

// readBody reads and closes req's body once (RoundTrip owns closing it).
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("tokenstorm/refclient: reading the request body: %w", err)
	}
	return b, nil
}

// drain discards an answer nobody will read, so its connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPeek))
	resp.Body.Close()
}

// emptySuccess is the answer the fabricate defect invents.
func emptySuccess(req *http.Request) *http.Response {
	const body = `{"items":[]}`
	return &http.Response{Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: req}
}
