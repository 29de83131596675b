package refclient_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
)

// benchServer answers a tiny 200 to anything under /api/ and hands out a
// token that never expires, so the benchmarks measure the hot path only:
// look up the device's token, copy the request, attach the header, look at
// the status.
func benchServer(b *testing.B) (*httptest.Server, *http.Transport) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /__mock/wx/login", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"code":"c","expires_in":300}`)
	})
	mux.HandleFunc("POST /auth/login", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"access_token":"tok","refresh_token":"ref","token_type":"Bearer","expires_in":86400}`)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	return srv, tr
}

func runGets(b *testing.B, hc *http.Client, url string) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := hc.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

// BenchmarkRefClientHotPath: the reference transport, token valid.
func BenchmarkRefClientHotPath(b *testing.B) {
	srv, tr := benchServer(b)
	rc := refclient.New(client.Env{BackendURL: srv.URL, WechatURL: srv.URL, AppID: "wx", HTTP: &http.Client{Transport: tr}}, refclient.Options{})
	b.Cleanup(func() { _ = rc.Close() })
	hc := &http.Client{Transport: rc.Transport("d1")}
	runGets(b, hc, srv.URL+"/api/orders")
}

// BenchmarkPlainTransport: the same requests on the same server and
// transport, without the reference client.
func BenchmarkPlainTransport(b *testing.B) {
	srv, tr := benchServer(b)
	hc := &http.Client{Transport: tr}
	runGets(b, hc, srv.URL+"/api/orders")
}

// stubBase answers every request in memory, so the next two benchmarks
// isolate what the reference transport itself costs per request.
type stubBase struct{}

func (stubBase) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}, nil
}

func BenchmarkRefTransportNoNetwork(b *testing.B) {
	rc := refclient.New(client.Env{BackendURL: "http://backend.test"}, refclient.Options{Base: stubBase{}})
	b.Cleanup(func() { _ = rc.Close() })
	rc.Seed("d1", refclient.Tokens{Access: "tok", Refresh: "ref"})
	rt := rc.Transport("d1")
	req, _ := http.NewRequest("GET", "http://backend.test/api/orders", nil)
	req.Header.Set("X-Request-ID", "r1")
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err)
		}
	}
}

func BenchmarkStubTransportNoNetwork(b *testing.B) {
	var rt http.RoundTripper = stubBase{}
	req, _ := http.NewRequest("GET", "http://backend.test/api/orders", nil)
	req.Header.Set("X-Request-ID", "r1")
	b.ReportAllocs()
	for b.Loop() {
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err)
		}
	}
}
