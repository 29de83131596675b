// Package refclient is tokenstorm's reference client: the yardstick every
// client under test is compared with (`--client ref`), and a Go library.
//
// Per device it keeps the device's tokens in memory and exposes an
// http.RoundTripper (Client.Transport) that
//
//   - logs in on first use: wx.login on mockwechat (POST /__mock/wx/login) for a
//     one-time code, then the style's login route (POST /auth/login {"code"} in
//     bearer) on the backend;
//   - attaches the access token as the style says (Authorization: Bearer …,
//     a raw custom header, or Basic base64(token:)) to requests for the
//     backend, and to nothing else;
//   - recognises the style's expired and invalid signals, whatever the status
//     (an HTTP 200 {"code":10006} in body-code, a 403 in status-403);
//   - in a rotating style, takes the next access token from the answer's
//     next_header and, with single-use tokens, sends one request at a time
//     per device so that each token is used once;
//   - refreshes proactively shortly before the token expires (by the device's
//     own clock and the expires_in the backend gave, so clock skew cancels out);
//   - on the backend's expiry signal refreshes ONCE per device however many
//     requests met the expiry (single flight), queues the others behind that
//     refresh, and replays each of them once with the new token and the same
//     method, URL and body bytes;
//   - replays a late 401 (one that carried an already-replaced token) with the
//     current token without refreshing again;
//   - falls back to wx.login + login when the refresh token is dead, or when
//     the style has no refresh route;
//   - retries a failed refresh a bounded number of times with backoff, then
//     settles every waiting request with a RefreshError — nothing hangs;
//   - hands a 401 that is not about the token back to the caller untouched.
//
// The dialect is client.Env.Style (harness/style: a built-in name or a YAML
// file, "" = bearer); Options.Style may replace the token placement and signal
// recognition (NewDialect, Bearer, or a custom Style).
//
// Behaviour holds the deliberate defects used by harness/mutant; its zero value
// is the reference behaviour described above.
package refclient
