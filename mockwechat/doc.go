// Package mockwechat is a faithful mock of WeChat's mini-program login APIs
// (SPEC §3): the device side (what wx.login does on a phone), the backend side
// (jscode2session, cgi-bin/token, stable_token, checksession) and a
// WireMock-style admin API for fault injection, statistics and reset.
//
// It copies WeChat's warts on purpose, because real backends and SDKs depend on
// them: errors are HTTP 200 with an errcode body, jscode2session answers
// Content-Type text/plain, a successful answer has no errcode key, codes are
// single-use and live five minutes, and every errmsg ends in a "rid".
//
// All time (code lifetime, quotas, token expiry, rids) comes from the injected
// clock, so a test can age a code by five minutes without waiting. Only fault
// latency and hangs use real time, because they exist to slow real clients.
//
// A *Server is an http.Handler; mount it on any listener or call ServeHTTP
// directly. docs/mockwechat.md documents every endpoint, errcode, the error
// precedence and the admin JSON.
package mockwechat
