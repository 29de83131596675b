package execclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/pending"
	tsstack "github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/harness/tap"
)

// An exec client's HTTP is out of the harness's sight, but not out of its
// servers': a correct exec client whose request the backend holds past the
// limit is given up on while the servers still owe it the answer, so
// no-lost-requests does not blame it, whether the backend is the embedded
// one (delay_ms holds its answer) or a backend under test behind the tap.
// Without the register (Driver.Pending) the same request is lost.
func TestExecClientsLateRequestsAreOwedByTheServers(t *testing.T) {
	held := make(chan struct{})
	t.Cleanup(func() { close(held) })
	// A backend under test that holds /api/held answers until the test ends.
	bt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/held") {
			select {
			case <-held:
			case <-r.Context().Done():
			}
		}
		_, _ = w.Write([]byte(`{"rid":"` + r.URL.Query().Get("rid") + `"}`))
	}))
	t.Cleanup(bt.Close)

	for _, tc := range []struct{ name, backend, path string }{
		{"embedded backend", "", "/api/orders?delay_ms=3000"},
		{"backend under test", bt.URL, "/api/held"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, withRegister := range []bool{true, false} {
				l := ledger.New(ledger.Options{Memory: true})
				st, err := tsstack.Start(context.Background(), tsstack.Options{BackendURL: tc.backend, Ledger: l})
				require.NoError(t, err)
				env := st.Env()
				if tc.backend != "" {
					tp, err := tap.Start(context.Background(), tap.Config{Target: tc.backend, Style: style.MustLoad("bearer"),
						Ledger: l, Pending: st.Pending, DeviceOfCode: st.Wechat.UserOfCode})
					require.NoError(t, err)
					defer tp.Close()
					env.BackendURL = tp.URL
				}
				c, err := New(context.Background(), helperCmd(t, "http"), env, Options{CloseGrace: time.Second})
				require.NoError(t, err)
				var reg *pending.Register
				if withRegister {
					reg = st.Pending
				}
				d := &device.Driver{Client: c, Ledger: l, Deadline: 300 * time.Millisecond, LostAfter: 900 * time.Millisecond,
					Busy: st.Busy, Pending: reg}
				// Warm: the process is up and its connection dialled.
				require.False(t, d.Do(context.Background(), "d1", device.Request{Path: "/api/orders"}).Lost)
				o := d.Do(context.Background(), "d1", device.Request{Path: tc.path})
				require.True(t, o.Lost, "the backend held the answer past the limit")
				settle := lastSettle(t, l)
				assert.Equal(t, withRegister, ledger.HasNote(settle.Detail, ledger.NoteServersOwed), "register %v: %s", withRegister, settle.Detail)

				_ = c.Close()
				_ = st.Close()
				s := summary.New("exec", "test")
				require.NoError(t, check.Check(l, check.Options{ExternalBackend: tc.backend != "", BackendInLedger: tc.backend == ""}, s))
				want := summary.Fail
				if withRegister {
					want = summary.Pass
				}
				assert.Equal(t, want, s.Invariants["no-lost-requests"].Verdict, "register %v: %+v", withRegister, s.Invariants["no-lost-requests"])
				calls, devs := st.Pending.Len()
				assert.Zero(t, calls+devs, "entries of ended calls left behind")
			}
		})
	}
}

func lastSettle(t *testing.T, l *ledger.Ledger) ledger.Event {
	t.Helper()
	evs := l.Events()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Kind == ledger.KindSettle {
			return evs[i]
		}
	}
	t.Fatal("no settle event")
	return ledger.Event{}
}
