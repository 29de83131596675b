// Package admingate guards the admin APIs (/__admin/…) of tokenstorm's
// servers (SPEC §12): with a token set, an admin request must carry
// "Authorization: Bearer <token>"; and a server may bind a non-loopback
// address only with a token, because the admin APIs reset state, inject
// faults and show the ledger to whoever can reach the port.
package admingate

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Prefix is the path prefix of every admin endpoint, on both servers.
const Prefix = "/__admin"

// IsAdmin reports whether path is an admin endpoint.
func IsAdmin(path string) bool {
	return path == Prefix || strings.HasPrefix(path, Prefix+"/")
}

// Wrap returns h guarded by token; with token "" it returns h unchanged.
// Everything outside /__admin passes: the device side (/__mock/wx/login),
// WeChat's APIs, the backend's routes and /metrics stay open.
func Wrap(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	// Compare digests so the comparison is constant-time whatever the lengths.
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsAdmin(r.URL.Path) && !authorized(r, want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tokenstorm-admin"`)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"unauthorized","error_description":"admin endpoints need Authorization: Bearer <admin token> (--admin-token)"}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func authorized(r *http.Request, want [32]byte) bool {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return false
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// CheckBind refuses a listener on a non-loopback address without a token.
// An unspecified address (0.0.0.0, [::]) counts as non-loopback: it is
// reachable from every interface.
func CheckBind(addr net.Addr, token string) error {
	if token != "" {
		return nil
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to serve on non-loopback address %s without an admin token: anyone who can reach it could reset state, inject faults and read the ledger; pass --admin-token TOKEN (or bind 127.0.0.1)", addr)
}

// Header sets the admin Authorization header on req when token is not "":
// for the harness's own admin calls to a guarded server.
func Header(req *http.Request, token string) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
}
