package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Sources: who wrote an event.
const (
	SourceWechat  = "wechat"
	SourceBackend = "backend"
	SourceClient  = "client"
	SourceHarness = "harness"
)

// Kinds. The invariant checker reads these; keep the names stable.
const (
	// mockwechat
	KindWxLogin       = "wx.login"       // a device minted a code (Device, Code)
	KindJSCode2Sess   = "jscode2session" // a code exchange (Code, Device, Subject=openid, Errcode, Outcome)
	KindCheckSession  = "checksession"   // Subject, Errcode
	KindAccessToken   = "cgi-bin/token"  // Errcode
	KindStableToken   = "stable_token"   // Errcode
	KindFault         = "fault"          // a fault rule fired (Route, Detail)
	KindBackendLogin  = "login"          // POST login (Code, Subject, Token=new access jti, Family, Outcome, Status, Errcode)
	KindRefresh       = "refresh"        // POST refresh (Token=presented refresh id, Family, Outcome, Status, Detail=new access jti)
	KindAPI           = "api"            // a protected call (RID, Token=access jti, Method, Route, BodyHash, Outcome, Status)
	KindEffect        = "effect"         // a non-idempotent side effect executed (RID, Method, Route, BodyHash, Token)
	KindVerify        = "verify"         // verify route (Token, Subject, Outcome)
	KindUndelivered   = "undelivered"    // backend: the client had gone before a successful login/refresh was answered (Token = the new access jti it never got)
	KindExpire        = "admin.expire"   // access tokens expired by admin (Device/Subject or Detail="all")
	KindRevoke        = "admin.revoke"   // a family revoked (Family, Subject, Detail=reason)
	KindIssue         = "issue"          // client side: the caller issued a logical request (RID, Device, Method, Route, BodyHash)
	KindSettle        = "settle"         // client side: the logical request settled (RID, Device, Status, Outcome, Detail)
	KindUI            = "ui"             // client side: a UI action (toast, reLaunch to login page, ...) (Device, Detail)
	KindClientLog     = "log"            // client side: console output or protocol notes (Device, Detail)
	KindEpisodeMarker = "marker"         // harness: a named moment (storm event, probe phase) (Detail)
	KindDeviceClock   = "device.clock"   // harness: a device's clock moved (Device, Detail = its offset from the stack's clock, e.g. "1h30m0s")
)

// Outcomes used across kinds.
const (
	OutcomeOK       = "ok"
	OutcomeExpired  = "expired"  // access/refresh token expired
	OutcomeInvalid  = "invalid"  // bad signature, unknown, malformed
	OutcomeRevoked  = "revoked"  // token family revoked
	OutcomeReused   = "reused"   // refresh token presented again after rotation
	OutcomeUnknown  = "unknown"  // refused, and the recorder cannot tell why (the tap no longer remembers the token)
	OutcomeMissing  = "missing"  // no token at all
	OutcomeError    = "error"    // upstream/other failure
	OutcomeWechat   = "wechat"   // WeChat answered an errcode (Errcode set)
	OutcomeLost     = "lost"     // settle: no answer before the deadline
	OutcomeRejected = "rejected" // settle: the client surfaced an error to the caller
	OutcomeFault    = "fault"    // an injected fault answered
	// OutcomeProtocol marks a client log event that is a protocol error of
	// the client under test (garbage on an exec client's stdout, a second
	// answer, ...); Route then holds its kind (ProtocolGarbage, ...).
	OutcomeProtocol = "protocol_error"
	// OutcomeStopped marks a client log event that says the client stopped
	// one device's runtime at a limit (a JS runtime past its time or memory
	// limit, harness/jsclient); Detail says which. The device's later calls
	// fail at once; the run goes on.
	OutcomeStopped = "stopped"
)

// Event is one line of the ledger. Tokens are recorded by id (JWT jti or refresh
// token id), never by their secret value.
type Event struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Source   string    `json:"source"`
	Kind     string    `json:"kind"`
	Device   string    `json:"device,omitempty"`  // simulated device / WeChat user
	Subject  string    `json:"subject,omitempty"` // openid the backend knows the user by
	RID      string    `json:"rid,omitempty"`     // logical request id
	Attempt  int       `json:"attempt,omitempty"` // client side attempt number, when known
	Token    string    `json:"token,omitempty"`   // token id carried / presented
	Family   string    `json:"family,omitempty"`  // refresh token family
	Route    string    `json:"route,omitempty"`
	Method   string    `json:"method,omitempty"`
	Status   int       `json:"status,omitempty"` // HTTP status answered
	Outcome  string    `json:"outcome,omitempty"`
	Errcode  int       `json:"errcode,omitempty"` // WeChat errcode
	Code     string    `json:"code,omitempty"`    // wx.login code
	BodyHash string    `json:"body_hash,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	// Expires is when a token issued by this event (login/refresh) expires.
	Expires time.Time `json:"expires,omitzero"`
	// LatencyNS is, on settle events, how long the caller waited (real time,
	// whatever clock stamps the events).
	LatencyNS int64 `json:"latency_ns,omitempty"`
}

// Kinds of protocol errors (the Route of an OutcomeProtocol event, and the
// keys of summary.json's protocol_errors).
const (
	ProtocolGarbage   = "garbage_lines"     // a stdout line that is not a JSON object
	ProtocolOversized = "oversized_lines"   // a line over the size limit
	ProtocolDuplicate = "duplicate_answers" // a second answer for one call
	ProtocolUnknownID = "unknown_ids"       // an answer for an id never sent
	ProtocolMalformed = "malformed_answers" // an answer that cannot be read
	ProtocolOther     = "other"             // unknown message type, second hello, ...
)

// ProtocolKinds lists the kinds in report order.
var ProtocolKinds = []string{ProtocolGarbage, ProtocolOversized, ProtocolDuplicate, ProtocolUnknownID, ProtocolMalformed, ProtocolOther}

// HashBody returns the short hash the ledger uses to compare request bodies
// (a replay must carry the same bytes). An empty body hashes to "".
func HashBody(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
