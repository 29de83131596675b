package tap_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/tap"
)

// BenchmarkProtectedCall compares a protected call (3 GETs : 1 POST, the
// default storm's mix) sent straight to a backend with the same call through
// the tap, recording to a spilling ledger as in a storm:
//
//	go test -run XXX -bench ProtectedCall -benchmem ./harness/tap/
func BenchmarkProtectedCall(b *testing.B) {
	backend := httptest.NewServer(newFake())
	defer backend.Close()
	led := ledger.New(ledger.Options{})
	defer led.Close()
	tp, err := tap.Start(context.Background(), tap.Config{Target: backend.URL, Style: style.MustLoad("bearer"), Ledger: led})
	require.NoError(b, err)
	defer tp.Close()
	for _, c := range []struct{ name, url string }{{"direct", backend.URL}, {"tap", tp.URL}} {
		b.Run(c.name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 256}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					method, body := http.MethodGet, ""
					if i%4 == 0 {
						method, body = http.MethodPost, `{"item":"tea","qty":1}`
					}
					req, _ := http.NewRequest(method, c.url+"/api/orders?rid=r", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer good")
					resp, err := hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
