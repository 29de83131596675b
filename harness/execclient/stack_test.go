package execclient

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// stack is what the example clients run against: mockwechat and the
// reference backend (bearer style, strict reuse) on real loopback ports,
// sharing one ledger, as in `tokenstorm serve`.
type stack struct {
	BackendURL, WechatURL, AppID string
	Ledger                       *ledger.Ledger
	Backend                      *backend.Server
}

func newStack(t *testing.T) *stack {
	t.Helper()
	l := ledger.New(ledger.Options{Memory: true})
	clk := clock.Real()
	wx := mockwechat.New(mockwechat.Config{Clock: clk, Ledger: l})
	wxSrv := httptest.NewServer(wx)
	t.Cleanup(wxSrv.Close)
	b, err := backend.New(backend.Config{WechatURL: wxSrv.URL, AppID: mockwechat.DefaultAppID,
		Secret: mockwechat.DefaultSecret, Clock: clk, Ledger: l})
	require.NoError(t, err)
	bSrv := httptest.NewServer(b)
	t.Cleanup(func() {
		bSrv.Close()
		_ = b.Close()
	})
	return &stack{BackendURL: bSrv.URL, WechatURL: wxSrv.URL, AppID: mockwechat.DefaultAppID, Ledger: l, Backend: b}
}
