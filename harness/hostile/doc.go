// Package hostile holds the hostile-input suite of SPEC §12 (its tests are
// the package): every server endpoint and every file parser of tokenstorm is
// fed malformed, oversized and malicious input over loopback, each case is
// bounded in time, and after each batch the servers must still serve a
// normal login and request.
package hostile
