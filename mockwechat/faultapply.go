package mockwechat

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// describe is the Detail of a ledger fault event: "f3 errcode=-1 latency=200ms".
func (f *Fault) describe(latency time.Duration) string {
	var b strings.Builder
	b.WriteString(f.ID)
	switch {
	case f.Errcode != 0:
		b.WriteString(" errcode=" + strconv.Itoa(f.Errcode))
	case f.Status != 0:
		b.WriteString(" status=" + strconv.Itoa(f.Status))
	case f.Reset:
		b.WriteString(" reset")
	case f.Hang:
		b.WriteString(" hang")
	}
	if latency > 0 {
		b.WriteString(" latency=" + latency.String())
	}
	return b.String()
}

// recordFaults writes one ledger "fault" event per fired rule and counts them.
func (s *Server) recordFaults(c *call, d decision) {
	s.stats.fault(c.api, len(d.fired))
	s.metrics.fault(c.api, len(d.fired))
	if s.ledger == nil {
		return
	}
	for _, detail := range d.fired {
		s.ledger.Append(ledger.Event{
			Source:  ledger.SourceWechat,
			Kind:    ledger.KindFault,
			Route:   c.api,
			Device:  c.user,
			Subject: c.openid,
			Code:    clip(c.code, 64),
			Outcome: ledger.OutcomeFault,
			Detail:  detail,
		})
	}
}

// sleep waits d of real time. It returns false if ctx ended first; Close cuts
// it short too (the request then goes on), so shutting a test server down
// never waits for injected latency.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closed:
		return true
	case <-ctx.Done():
		return false
	}
}

// applyFault runs the fault rules for an HTTP call. It returns true when a
// fault answered (or the client left during injected latency): the handler
// must then stop.
func (s *Server) applyFault(c *call) bool {
	d := s.faults.decide(c.api, c.user)
	if d.none() {
		return false
	}
	s.recordFaults(c, d)
	// From here on, if the fault answers, no code is minted: wx.login events
	// mean "a code was minted", and the fault event already says what happened.
	ctx := c.r.Context()
	if d.latency > 0 && !s.sleep(ctx, d.latency) {
		c.outcome, c.noEvent = ledger.OutcomeFault, c.api == APIWxLogin // client gone; nothing to answer
		return true
	}
	f := d.action
	if f == nil {
		return false
	}
	c.outcome, c.noEvent = ledger.OutcomeFault, c.api == APIWxLogin
	switch {
	case f.Errcode != 0 && c.api == APIWxLogin:
		// The device side is not a WeChat API: a failed wx.login is a non-200.
		c.answerMock(http.StatusServiceUnavailable, map[string]any{
			"error": "wx.login:fail " + Errmsg(f.Errcode), "errcode": f.Errcode})
	case f.Errcode != 0:
		c.answerWechat(f.Errcode)
	case f.Status != 0:
		s.answerStatus(c, f.Status)
	case f.Reset:
		s.resetConn(c)
	case f.Hang:
		s.hang(c, f.HangFor)
	}
	return true
}

// answerStatus answers an HTTP status like the gateway in front of WeChat
// would: plain text. The device endpoint keeps its JSON shape.
func (s *Server) answerStatus(c *call, status int) {
	if c.api == APIWxLogin {
		c.answerMockError(status, "fault: "+strconv.Itoa(status)+" "+http.StatusText(status))
		return
	}
	writeBody(c.w, status, "text/plain; charset=utf-8", []byte(strconv.Itoa(status)+" "+http.StatusText(status)+"\n"))
	c.status = status
}

// resetConn closes the connection with SO_LINGER 0, so the kernel sends a RST
// and the client sees "connection reset by peer" instead of a clean EOF. A
// writer that cannot be hijacked (HTTP/2, in-process recorder) gets a 502.
func (s *Server) resetConn(c *call) {
	conn, _, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		writeBody(c.w, http.StatusBadGateway, "text/plain; charset=utf-8", []byte("mockwechat: reset fault on a connection that cannot be hijacked\n"))
		c.status = http.StatusBadGateway
		return
	}
	setLingerZero(conn)
	_ = conn.Close()
}

func setLingerZero(conn net.Conn) {
	if nc, ok := conn.(interface{ NetConn() net.Conn }); ok { // TLS
		conn = nc.NetConn()
	}
	if l, ok := conn.(interface{ SetLinger(int) error }); ok {
		_ = l.SetLinger(0)
	}
}

// hang holds the request until the client leaves (nothing to answer), the
// server is closed (the connection is dropped), or the cap (504, as a gateway
// timing out would answer). Never forever.
func (s *Server) hang(c *call, capDur time.Duration) {
	if capDur <= 0 {
		capDur = defaultHangFor
	}
	t := time.NewTimer(capDur)
	defer t.Stop()
	select {
	case <-c.r.Context().Done():
	case <-s.closed:
		if conn, _, err := http.NewResponseController(c.w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
		writeBody(c.w, http.StatusServiceUnavailable, "text/plain; charset=utf-8", []byte("mockwechat: server closed\n"))
		c.status = http.StatusServiceUnavailable
	case <-t.C:
		writeBody(c.w, http.StatusGatewayTimeout, "text/plain; charset=utf-8", []byte("504 Gateway Timeout\n"))
		c.status = http.StatusGatewayTimeout
	}
}

// applyFaultGo runs the wx.login rules for the Go-side Login.
func (s *Server) applyFaultGo(ctx context.Context, c *call) error {
	d := s.faults.decide(c.api, c.user)
	if d.none() {
		return nil
	}
	s.recordFaults(c, d)
	if d.latency > 0 && !s.sleep(ctx, d.latency) {
		c.outcome, c.noEvent = ledger.OutcomeFault, true
		return ctx.Err()
	}
	f := d.action
	if f == nil {
		return nil
	}
	c.outcome, c.noEvent = ledger.OutcomeFault, true
	fe := &FaultError{Rule: f.ID, Errcode: f.Errcode, Status: f.Status}
	switch {
	case f.Errcode != 0:
		fe.Action, c.errcode, c.status = "errcode", f.Errcode, http.StatusServiceUnavailable
	case f.Status != 0:
		fe.Action, c.status = "status", f.Status
	case f.Reset:
		fe.Action = "reset"
	case f.Hang:
		fe.Action = "hang"
		capDur := f.HangFor
		if capDur <= 0 {
			capDur = defaultHangFor
		}
		t := time.NewTimer(capDur)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return ErrClosed
		case <-t.C:
		}
	}
	return fe
}
