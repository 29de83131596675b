// Package refclient is tokenstorm's reference client: the yardstick every
// client under test is compared with (`--client ref`), and a Go library.
//
// Per device it keeps the device's tokens in memory and exposes an
// http.RoundTripper (Client.Transport) that
//
//   - logs in on first use: wx.login on mockwechat (POST /__mock/wx/login) for a
//     one-time code, then POST /auth/login {"code"} on the backend;
//   - attaches the access token (Authorization: Bearer …) to requests for the
//     backend, and to nothing else;
//   - refreshes proactively shortly before the token expires (by the device's
//     own clock and the expires_in the backend gave, so clock skew cancels out);
//   - on the backend's expiry signal refreshes ONCE per device however many
//     requests met the expiry (single flight), queues the others behind that
//     refresh, and replays each of them once with the new token and the same
//     method, URL and body bytes;
//   - replays a late 401 (one that carried an already-replaced token) with the
//     current token without refreshing again;
//   - falls back to wx.login + /auth/login when the refresh token is dead;
//   - retries a failed refresh a bounded number of times with backoff, then
//     settles every waiting request with a RefreshError — nothing hangs;
//   - hands a 401 that is not about the token back to the caller untouched.
//
// Behaviour holds the deliberate defects used by harness/mutant; its zero value
// is the reference behaviour described above.
package refclient
