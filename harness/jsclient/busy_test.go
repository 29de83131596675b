package jsclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// A wrapper stuck in a busy loop never yields, so nothing can settle: the
// lost request's evidence says so, instead of a plain "lost". A wrapper that
// merely never settles its promise gets no such sentence.
func TestBusyLoopIsNamedInTheLostEvidence(t *testing.T) {
	for name, tc := range map[string]struct {
		src  string
		want bool
	}{
		"busy loop":       {`export function call(req) { if (req.url.includes('spin')) { for (;;) {} } return { statusCode: 200 }; }`, true},
		"pending promise": {`export function call(req) { return new Promise(() => {}); }`, false},
	} {
		t.Run(name, func(t *testing.T) {
			s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": tc.src}), jsclient.Options{})
			drv := &device.Driver{Client: s.client, Ledger: s.ledger, Deadline: 300 * time.Millisecond, Busy: func() bool { return false }}
			o := drv.Do(context.Background(), "d1", device.Request{Path: "/api/spin"})
			require.True(t, o.Lost)
			var detail string
			for _, e := range s.ledger.Events() {
				if e.Kind == ledger.KindSettle {
					detail = e.Detail
				}
			}
			if tc.want {
				assert.Contains(t, detail, "busy loop")
			} else {
				assert.NotContains(t, detail, "busy loop")
				assert.Contains(t, detail, "had answered every call")
			}
		})
	}
}
