package conform

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strings"
)

// Step is one entry of the step library. The same table registers the godog
// step definitions, validates feature files before a run, and prints
// `tokenstorm steps` (and so docs/steps.md): one source of truth, so the
// documentation cannot drift from what the runner accepts.
type Step struct {
	Group   string // section of `tokenstorm steps`
	Syntax  string // the human form, placeholders in <angle brackets>
	Pattern string // anchored regular expression matched against the step text (keyword excluded)
	Help    string // one line: what the step does
	Example string // a complete Gherkin step with its keyword (and doc string or table)

	// fn is a method expression func(*world, context.Context, args...) error.
	// Its arguments after the context are the pattern's capture groups (all
	// strings, parsed by the step so that a bad number gets a clear message)
	// plus a *godog.DocString or *godog.Table when the step takes one.
	fn any
	// vet checks the step before anything runs (vet.go): its values and
	// what it does to the scenario's request names. nil: nothing to check.
	vet vetFn

	re      *regexp.Regexp
	handler any // fn adapted to what godog calls: func(context.Context, args...) error
}

// Groups, in the order `tokenstorm steps` prints them.
const (
	gSetup    = "Setup: devices, backend and WeChat configuration"
	gTime     = "Time"
	gExpiry   = "Expiry and revocation (reference backend admin API)"
	gFaults   = "WeChat faults"
	gClient   = "Requests through the client under test"
	gWechat   = "Direct calls to mock WeChat"
	gBackend  = "Direct calls to the backend (bearer routes, except the backend check)"
	gResponse = "Assertions on the last direct answer"
	gLedger   = "Assertions on requests, the ledger and the invariants"
)

var groupOrder = []string{gSetup, gTime, gExpiry, gFaults, gClient, gWechat, gBackend, gResponse, gLedger}

// method is the HTTP method alternation used by request steps.
const method = `(GET|POST|PUT|PATCH|DELETE|HEAD)`

// span matches a duration the way parseSpan reads it ("2 hours", "50 ms",
// "1 hour 59 minutes and 50 seconds", "an hour", "1h30m") and nothing else, so
// that a time step cannot swallow a sentence meant for another step.
const span = `((?:(?:\d+(?:\.\d+)?|an?|one) ?` + spanUnit + `)(?:(?:,? and |, | )?(?:(?:\d+(?:\.\d+)?|an?|one) ?` + spanUnit + `))*)`

const spanUnit = `(?:ms|milliseconds?|millis|secs?|seconds?|s|mins?|minutes?|m|hours?|h|days?|d)`

// token kinds a direct backend call can carry.
const tokenKinds = `(its access token|its previous access token|a tampered access token|an unsigned access token|no token)`

var library = []Step{
	// Setup
	{Group: gSetup, Syntax: "<n> devices", Pattern: `^(\d+) devices?$`, fn: (*world).givenDevices, vet: devicesN(0, false),
		Help:    "Declares devices d1..dN (each is also the WeChat user of that name); they log in on their first request.",
		Example: "Given 5 devices"},
	{Group: gSetup, Syntax: "<n> devices logged in", Pattern: `^(\d+) devices? logged in$`, fn: (*world).givenDevicesLoggedIn, vet: devicesN(0, true),
		Help:    "Declares devices d1..dN and logs each in through the client under test with one GET /api/profile (request warmup-d1, …) that must succeed. That warm-up is counted: 1 login, 1 wx.login and 1 jscode2session per device, in every count step that does not say \"since counting started\".",
		Example: "Given 5 devices logged in"},
	{Group: gSetup, Syntax: "a device named <name>", Pattern: `^a device named ([\w.-]+)$`, fn: (*world).givenNamedDevice, vet: deviceAt(0),
		Help:    "Declares one device with a name of your choice (it joins \"each device\").",
		Example: "Given a device named alice"},
	{Group: gSetup, Syntax: "the backend reuse policy is <policy>", Pattern: `^the backend reuse policy is (\S+)$`, fn: (*world).givenReuse,
		Help:    "Sets the reference backend's refresh-token reuse policy: strict, grace:<duration> or reuse:<n>. Before the first step that uses the stack.",
		Example: "Given the backend reuse policy is grace:30s"},
	{Group: gSetup, Syntax: "access tokens live <duration>", Pattern: `^access tokens live {span}$`, fn: (*world).givenAccessTTL, vet: spanAt(0),
		Help:    "Sets the access-token lifetime of the reference backend (default 2 hours).",
		Example: "Given access tokens live 10 minutes"},
	{Group: gSetup, Syntax: "refresh tokens live <duration>", Pattern: `^refresh tokens live {span}$`, fn: (*world).givenRefreshTTL, vet: spanAt(0),
		Help:    "Sets the refresh-token lifetime of the reference backend (default 720 hours).",
		Example: "Given refresh tokens live 1 hour"},
	{Group: gSetup, Syntax: "the WeChat minute quota is <n>", Pattern: `^the WeChat minute quota is (\d+)$`, fn: (*world).givenQuota,
		Help:    "Sets mock WeChat's jscode2session quota per user per minute (default 100, as WeChat).",
		Example: "Given the WeChat minute quota is 3"},
	{Group: gSetup, Syntax: "WeChat user <device> is blocked", Pattern: `^WeChat user (\S+) is blocked$`, fn: (*world).givenBlocked, vet: deviceAt(0),
		Help:    "Marks the device's WeChat user as high-risk: its codes are answered 40226.",
		Example: "Given WeChat user d2 is blocked"},
	{Group: gSetup, Syntax: "the device clocks run <duration> ahead|behind", Pattern: `^the device clocks run {span} (ahead|behind)$`, fn: (*world).givenSkew, vet: spanAt(0),
		Help:    "Skews the clock the client under test reads (clock skew on the phones). Before the first request. The checker judges a proactive refresh by the device's own clock, so a skewed client that refreshes early by its clock is not blamed for the skew (docs/conform.md#two-windows). Exec clients are told it as each call's clock_offset_ms from protocol 3 on; for an older one the scenario is skip (docs/exec-protocol.md#device-time).",
		Example: "Given the device clocks run 10 minutes ahead"},
	{Group: gSetup, Syntax: "requests time out after <duration>", Pattern: `^requests time out after {span}$`, fn: (*world).givenDeadline, vet: spanAt(0),
		Help:    "Sets the per-request deadline (default 5s): a request settled after it is late; one not settled although the client had every answer it needed is lost.",
		Example: "Given requests time out after 3 seconds"},

	// Time
	{Group: gTime, Syntax: "<duration> pass", Pattern: `^{span} pass(?:es)?$`, fn: (*world).timePasses, vet: spanAt(0),
		Help:    "Moves the shared clock (mock WeChat and the embedded backend) forward at once, no waiting: tokens and codes age.",
		Example: "When 2 hours pass"},
	{Group: gTime, Syntax: "I wait <duration>", Pattern: `^I wait {span}$`, fn: (*world).iWait, vet: spanAt(0),
		Help:    "Waits in real time (at most 30s), e.g. to order a fast request after a slow one.",
		Example: "When I wait 50ms"},
	{Group: gTime, Syntax: "the clock is <duration> before the access tokens expire", Pattern: `^the clock is {span} before the access tokens expire$`, fn: (*world).clockBeforeExpiry, vet: spanAt(0),
		Help:    "Moves the clock to just before the earliest current access token of the devices expires. Two windows meet here (docs/conform.md#two-windows): the reference client refreshes before sending when its token expires within 30s (never earlier than half-way through the token's life), and the checker counts a refresh without an expiry signal as justified once per token, within 5 minutes of expiry (never more than half the token's life). With 2-hour tokens 10 seconds is inside both: a correct client refreshes once, before the token expires.",
		Example: "When the clock is 10 seconds before the access tokens expire"},

	// Expiry and revocation
	{Group: gExpiry, Syntax: "the access tokens expire", Pattern: `^the access tokens expire$`, fn: (*world).expireAll,
		Help:    "Expires every access token issued so far (POST /__admin/expire {\"all\":true}): the storm trigger.",
		Example: "When the access tokens expire"},
	{Group: gExpiry, Syntax: "the access token of device <device> expires", Pattern: `^the access token of device (\S+) expires$`, fn: (*world).expireDevice, vet: knownDeviceAt(0),
		Help:    "Expires the access tokens of one device's user.",
		Example: "When the access token of device d1 expires"},
	{Group: gExpiry, Syntax: "every refresh token family is revoked", Pattern: `^every refresh token family is revoked$`, fn: (*world).revokeAll,
		Help:    "Revokes every refresh-token family (refresh tokens die; clients must fall back to wx.login).",
		Example: "When every refresh token family is revoked"},
	{Group: gExpiry, Syntax: "the refresh token family of device <device> is revoked", Pattern: `^the refresh token family of device (\S+) is revoked$`, fn: (*world).revokeDevice, vet: knownDeviceAt(0),
		Help:    "Revokes the refresh-token families of one device's user.",
		Example: "When the refresh token family of device d1 is revoked"},

	// WeChat faults
	{Group: gFaults, Syntax: "WeChat answers <api> with errcode <n>", Pattern: `^WeChat answers (\S+) with errcode (-?\d+)$`, fn: (*world).faultAlways,
		Help:    "Every call of the API (jscode2session, cgi-bin/token, checksession, stable_token) is answered with the errcode.",
		Example: "Given WeChat answers jscode2session with errcode -1"},
	{Group: gFaults, Syntax: "WeChat answers <api> with errcode <n> once|twice|<k> times", Pattern: `^WeChat answers (\S+) with errcode (-?\d+) (once|twice|\d+ times?)$`, fn: (*world).faultCount,
		Help:    "The next k calls of the API are answered with the errcode, then WeChat behaves again.",
		Example: "Given WeChat answers jscode2session with errcode 45011 twice"},
	{Group: gFaults, Syntax: "WeChat has these faults:", Pattern: `^WeChat has these faults:$`, fn: (*world).faultTable,
		Help:    "Adds fault rules, one per row; columns are the JSON fields of POST /__admin/faults (docs/mockwechat.md); users names devices, comma-separated.",
		Example: "Given WeChat has these faults:\n  | api            | errcode | count | users |\n  | jscode2session | -1      | 1     | d1    |\n  | jscode2session | 45011   | 1     | d1    |"},
	{Group: gFaults, Syntax: "WeChat is unreachable", Pattern: `^WeChat is unreachable$`, fn: (*world).wechatUnreachable,
		Help:    "Every jscode2session call has its connection reset (the backend cannot reach WeChat).",
		Example: "Given WeChat is unreachable"},
	{Group: gFaults, Syntax: "the WeChat faults are cleared", Pattern: `^the WeChat faults are cleared$`, fn: (*world).clearFaults,
		Help:    "Removes every fault rule (DELETE /__admin/faults).",
		Example: "When the WeChat faults are cleared"},

	// Client requests
	{Group: gClient, Syntax: "device <device> sends <METHOD> <path> [as request <rid>]", Pattern: `^device (\S+) sends ` + method + ` (\S+?)(?: as request (\S+))?$`, fn: (*world).send, vet: sendOne(0, 3),
		Help:    "One logical request through the client under test; waits until it settles. Requests are named r1, r2, … in order unless named with \"as request\" (a name used twice is a problem before the run); the warm-up requests of \"Given N devices logged in\" are warmup-d1, warmup-d2, … and take no r-number.",
		Example: "When device d1 sends GET /api/orders as request r9"},
	{Group: gClient, Syntax: "device <device> sends <METHOD> <path> [as request <rid>] with body:", Pattern: `^device (\S+) sends ` + method + ` (\S+?)(?: as request (\S+))? with body:$`, fn: (*world).sendBody, vet: sendOne(0, 3),
		Help:    "As above with the doc string as the request body (JSON unless a content type is given on the doc string).",
		Example: "When device d1 sends POST /api/orders as request order1 with body:\n  \"\"\"json\n  {\"item\":\"sku-1\",\"qty\":2}\n  \"\"\""},
	{Group: gClient, Syntax: "each device sends <k> concurrent <METHOD> <path>", Pattern: `^each device sends (\d+) concurrent ` + method + ` (\S+)$`, fn: (*world).sendEach, vet: sendK(0, true),
		Help:    "Every declared device sends k copies at once (k×devices requests in flight); waits until all settle.",
		Example: "When each device sends 8 concurrent GET /api/orders"},
	{Group: gClient, Syntax: "each device sends <k> concurrent <METHOD> <path> with body:", Pattern: `^each device sends (\d+) concurrent ` + method + ` (\S+) with body:$`, fn: (*world).sendEachBody, vet: sendK(0, true),
		Help:    "As above with the doc string as every request's body.",
		Example: "When each device sends 3 concurrent POST /api/orders with body:\n  \"\"\"\n  {\"item\":\"sku-2\"}\n  \"\"\""},
	{Group: gClient, Syntax: "device <device> sends <k> concurrent <METHOD> <path>", Pattern: `^device (\S+) sends (\d+) concurrent ` + method + ` (\S+)$`, fn: (*world).sendConcurrent, vet: vets(deviceAt(0), sendK(1, false)),
		Help:    "One device sends k copies at once.",
		Example: "When device d1 sends 4 concurrent GET /api/orders"},
	{Group: gClient, Syntax: "device <device> sends <METHOD> <path> [as request <rid>] in the background", Pattern: `^device (\S+) sends ` + method + ` (\S+?)(?: as request (\S+))? in the background$`, fn: (*world).sendBackground, vet: sendOne(0, 3),
		Help:    "Starts a request without waiting (e.g. ?delay_ms=400 for a late 401); assertions wait for it.",
		Example: "When device d1 sends GET /api/orders?delay_ms=400 as request slow in the background"},
	{Group: gClient, Syntax: "device <device> sends <k> concurrent <METHOD> <path> with body:", Pattern: `^device (\S+) sends (\d+) concurrent ` + method + ` (\S+) with body:$`, fn: (*world).sendConcurrentBody, vet: vets(deviceAt(0), sendK(1, false)),
		Help:    "One device sends k copies at once, each with the doc string as its body (k POSTs in flight at an expiry).",
		Example: "When device d1 sends 3 concurrent POST /api/cart with body:\n  \"\"\"\n  {\"sku\":\"A-1\",\"qty\":1}\n  \"\"\""},
	{Group: gClient, Syntax: "device <device> sends <METHOD> <path> [as request <rid>] in the background with body:", Pattern: `^device (\S+) sends ` + method + ` (\S+?)(?: as request (\S+))? in the background with body:$`, fn: (*world).sendBackgroundBody, vet: sendOne(0, 3),
		Help:    "Starts a request with the doc string as its body without waiting (a POST still in flight when the token expires); assertions wait for it.",
		Example: "When device d1 sends POST /api/orders?delay_ms=300 as request slowpost in the background with body:\n  \"\"\"json\n  {\"item\":\"sku-9\"}\n  \"\"\""},
	{Group: gClient, Syntax: "device <device> sends these requests concurrently:", Pattern: `^device (\S+) sends these requests concurrently:$`, fn: (*world).sendTable, vet: sendRows(""),
		Help:    "Sends every row at once; columns method, path, optional body and optional as (the request name).",
		Example: "When device d1 sends these requests concurrently:\n  | method | path        | body              | as    |\n  | GET    | /api/orders |                   | list  |\n  | POST   | /api/orders | {\"item\":\"sku-3\"} | order |"},
	{Group: gClient, Syntax: "the devices send these requests concurrently:", Pattern: `^the devices send these requests concurrently:$`, fn: (*world).sendDevicesTable, vet: sendRows("device"),
		Help:    "Sends every row at once, each from its own device; columns device, method, path, optional body and optional as (the request name).",
		Example: "When the devices send these requests concurrently:\n  | device | method | path        | body              | as     |\n  | d1     | GET    | /api/orders |                   | d1list |\n  | d2     | POST   | /api/orders | {\"item\":\"sku-5\"} | d2post |"},
	{Group: gClient, Syntax: "the background requests settle", Pattern: `^the background requests settle$`, fn: (*world).waitBackground,
		Help:    "Waits until every background request settled (or hit its deadline).",
		Example: "When the background requests settle"},

	// Direct WeChat calls
	{Group: gWechat, Syntax: "device <device> has a wx.login code", Pattern: `^device (\S+) (?:has a wx\.login code|calls wx\.login)$`, fn: (*world).wxLogin,
		Help:    "Calls POST /__mock/wx/login for the device (what wx.login() does on a phone) and keeps the code; also \"device d1 calls wx.login\".",
		Example: "Given device d1 has a wx.login code"},
	{Group: gWechat, Syntax: "I exchange the code of device <device> with jscode2session [again]", Pattern: `^I exchange the code of device (\S+) with jscode2session(?: again)?$`, fn: (*world).exchange,
		Help:    "GET /sns/jscode2session with the app's appid and secret and the device's last code.",
		Example: "When I exchange the code of device d1 with jscode2session"},
	{Group: gWechat, Syntax: "I exchange a fresh code of device <device> with jscode2session", Pattern: `^I exchange a fresh code of device (\S+) with jscode2session$`, fn: (*world).exchangeFresh,
		Help:    "wx.login, then jscode2session with the new code.",
		Example: "When I exchange a fresh code of device d1 with jscode2session"},
	{Group: gWechat, Syntax: "I call jscode2session for device <device> with <param> set to \"<value>\"", Pattern: `^I call jscode2session for device (\S+) with (\w+) set to "([^"]*)"$`, fn: (*world).exchangeWith,
		Help:    "jscode2session with one parameter (appid, secret, js_code, grant_type) replaced; an empty value leaves it out.",
		Example: "When I call jscode2session for device d1 with secret set to \"wrong\""},
	{Group: gWechat, Syntax: "I call jscode2session for device <device> with method <METHOD>", Pattern: `^I call jscode2session for device (\S+) with method (\w+)$`, fn: (*world).exchangeMethod,
		Help:    "jscode2session with another HTTP method.",
		Example: "When I call jscode2session for device d1 with method PUT"},
	{Group: gWechat, Syntax: "device <device> exchanges <n> fresh codes with jscode2session within one minute", Pattern: `^device (\S+) exchanges (\d+) fresh codes with jscode2session within one minute$`, fn: (*world).exchangeMany,
		Help:    "n × (wx.login + jscode2session) inside one calendar minute of the clock (it first moves to a minute's start if needed).",
		Example: "When device d1 exchanges 4 fresh codes with jscode2session within one minute"},
	{Group: gWechat, Syntax: "I request a WeChat access token [as <name>]", Pattern: `^I request a WeChat access token(?: as (\w+))?$`, fn: (*world).wxToken,
		Help:    "GET /cgi-bin/token with the app's credentials; the token is kept under the name (default \"default\").",
		Example: "When I request a WeChat access token as A"},
	{Group: gWechat, Syntax: "I request a WeChat access token with <param> set to \"<value>\"", Pattern: `^I request a WeChat access token with (\w+) set to "([^"]*)"$`, fn: (*world).wxTokenWith,
		Help:    "GET /cgi-bin/token with one parameter replaced (empty leaves it out).",
		Example: "When I request a WeChat access token with grant_type set to \"authorization_code\""},
	{Group: gWechat, Syntax: "I check the session of device <device> [with access token <name>]", Pattern: `^I check the session of device (\S+)(?: with access token (\w+))?$`, fn: (*world).checkSession,
		Help:    "GET /wxa/checksession signed with the session_key the device's last jscode2session returned (gets an access token first if none is named).",
		Example: "When I check the session of device d1 with access token A"},
	{Group: gWechat, Syntax: "I check the session of device <device> with a wrong signature", Pattern: `^I check the session of device (\S+) with a wrong signature$`, fn: (*world).checkSessionWrong,
		Help:    "checksession with a signature made with another key.",
		Example: "When I check the session of device d1 with a wrong signature"},
	{Group: gWechat, Syntax: "I send <METHOD> <path> to WeChat|the backend", Pattern: `^I send ` + method + ` (\S+) to (WeChat|the backend)$`, fn: (*world).sendRaw,
		Help:    "Any direct HTTP call. The path may use {appid}, {secret}, {code:d1}, {openid:d1}, {session_key:d1}, {access_token:d1}, {refresh_token:d1}, {wechat_token:A}.",
		Example: "When I send GET /sns/jscode2session?appid={appid}&secret={secret}&js_code={code:d1}&grant_type=authorization_code to WeChat"},
	{Group: gWechat, Syntax: "I send <METHOD> <path> to WeChat|the backend with body:", Pattern: `^I send ` + method + ` (\S+) to (WeChat|the backend) with body:$`, fn: (*world).sendRawBody,
		Help:    "As above with the doc string as the body (same placeholders).",
		Example: "When I send POST /auth/login to the backend with body:\n  \"\"\"\n  {\"code\":\"{code:d1}\"}\n  \"\"\""},

	// Direct backend calls
	{Group: gBackend, Syntax: "device <device> logs in to the backend", Pattern: `^device (\S+) logs in to the backend$`, fn: (*world).backendLogin,
		Help:    "wx.login for a fresh code, then POST /auth/login {\"code\"}; on success the device keeps the token pair.",
		Example: "When device d1 logs in to the backend"},
	{Group: gBackend, Syntax: "device <device> logs in to the backend with its last code", Pattern: `^device (\S+) logs in to the backend with its last code$`, fn: (*world).backendLoginLastCode,
		Help:    "POST /auth/login with the code the device already used (a second use of a wx.login code).",
		Example: "When device d1 logs in to the backend with its last code"},
	{Group: gBackend, Syntax: "device <device> logs in to the backend with code \"<code>\"", Pattern: `^device (\S+) logs in to the backend with code "([^"]*)"$`, fn: (*world).backendLoginCode,
		Help:    "POST /auth/login with a code of your choice.",
		Example: "When device d1 logs in to the backend with code \"not-a-real-code\""},
	{Group: gBackend, Syntax: "device <device> is logged in to the backend", Pattern: `^device (\S+) is logged in to the backend$`, fn: (*world).backendLoggedIn,
		Help:    "Logs in directly and requires HTTP 200.",
		Example: "Given device d1 is logged in to the backend"},
	{Group: gBackend, Syntax: "device <device> refreshes its tokens", Pattern: `^device (\S+) refreshes its tokens$`, fn: (*world).backendRefresh,
		Help:    "POST /auth/refresh with the device's current refresh token; on success the pair rotates (the old one becomes \"previous\").",
		Example: "When device d1 refreshes its tokens"},
	{Group: gBackend, Syntax: "device <device> refreshes with its previous refresh token", Pattern: `^device (\S+) refreshes with its previous refresh token$`, fn: (*world).backendRefreshPrevious,
		Help:    "Presents the already rotated refresh token again (reuse).",
		Example: "When device d1 refreshes with its previous refresh token"},
	{Group: gBackend, Syntax: "device <device> sends <n> parallel refreshes with its refresh token", Pattern: `^device (\S+) sends (\d+) parallel refreshes with its refresh token$`, fn: (*world).backendParallelRefresh,
		Help:    "n simultaneous POST /auth/refresh carrying the same refresh token (the race a refresh storm causes).",
		Example: "When device d1 sends 10 parallel refreshes with its refresh token"},
	{Group: gBackend, Syntax: "device <device> calls <METHOD> <path> with its access token|its previous access token|a tampered access token|an unsigned access token|no token", Pattern: `^device (\S+) calls ` + method + ` (\S+) with ` + tokenKinds + `$`, fn: (*world).backendCall,
		Help:    "A direct protected call; \"tampered\" breaks the signature, \"unsigned\" is the same claims with alg none.",
		Example: "When device d1 calls GET /api/orders with its access token"},
	{Group: gBackend, Syntax: "device <device> calls <METHOD> <path> with its access token and body:", Pattern: `^device (\S+) calls ` + method + ` (\S+) with its access token and body:$`, fn: (*world).backendCallBody,
		Help:    "A direct protected call with a JSON body.",
		Example: "When device d1 calls POST /api/orders with its access token and body:\n  \"\"\"\n  {\"item\":\"sku-4\"}\n  \"\"\""},
	{Group: gBackend, Syntax: "the backend answers bad and expired tokens with its expired or invalid signal", Pattern: `^the backend answers bad and expired tokens with its expired or invalid signal$`, fn: (*world).backendSignals,
		Help:    "Runs the backend check in the run's style (any style, and against --backend too): logs in, calls a resource with a valid, a tampered, a garbage, no and an expired token (expired through POST /__admin/expire, or by waiting out an access-token lifetime of at most 10s) and fails unless invariant expiry-signalled holds.",
		Example: "Then the backend answers bad and expired tokens with its expired or invalid signal"},
	{Group: gBackend, Syntax: "<n> of the parallel refreshes succeeded", Pattern: `^(?:exactly )?(\d+) of the parallel refreshes succeeded$`, fn: (*world).parallelSucceeded,
		Help:    "Counts HTTP 200 answers among the last parallel refreshes.",
		Example: "Then exactly 1 of the parallel refreshes succeeded"},
	{Group: gBackend, Syntax: "<n> of the parallel refreshes were answered <status>", Pattern: `^(\d+) of the parallel refreshes were answered (\d+)$`, fn: (*world).parallelAnswered,
		Help:    "Counts answers with that HTTP status among the last parallel refreshes.",
		Example: "Then 9 of the parallel refreshes were answered 401"},

	// Response assertions
	{Group: gResponse, Syntax: "the response status is <status>", Pattern: `^the response status is (\d+)$`, fn: (*world).respStatus,
		Help:    "HTTP status of the last direct answer.",
		Example: "Then the response status is 503"},
	{Group: gResponse, Syntax: "WeChat answers errcode <n>", Pattern: `^WeChat answers errcode (-?\d+)$`, fn: (*world).respErrcode,
		Help:    "The last answer is HTTP 200 with that errcode (WeChat's way); a non-zero errcode must come with an errmsg ending in a rid.",
		Example: "Then WeChat answers errcode 40163"},
	{Group: gResponse, Syntax: "the response is <content-type> and has no errcode", Pattern: `^the response is ([\w/+.-]+) and has no errcode$`, fn: (*world).respNoErrcode,
		Help:    "WeChat's success shape: that media type and no errcode key at all.",
		Example: "Then the response is text/plain and has no errcode"},
	{Group: gResponse, Syntax: "the response content type is <type>", Pattern: `^the response content type is ([\w/+.-]+)$`, fn: (*world).respContentType,
		Help:    "Media type of the last answer (parameters such as charset ignored).",
		Example: "Then the response content type is application/json"},
	{Group: gResponse, Syntax: "the response has fields <a>, <b>, …", Pattern: `^the response has fields? (.+)$`, fn: (*world).respHasFields,
		Help:    "The last answer is a JSON object with every listed member, non-empty.",
		Example: "Then the response has fields access_token, refresh_token, expires_in"},
	{Group: gResponse, Syntax: "the response has no field <name>", Pattern: `^the response has no field (\S+)$`, fn: (*world).respNoField,
		Help:    "The JSON object lacks the member.",
		Example: "Then the response has no field unionid"},
	{Group: gResponse, Syntax: "the response field <name> is <value>", Pattern: `^the response field (\S+) is (.+)$`, fn: (*world).respFieldIs,
		Help:    "A member equals a JSON value (7200, true, \"Bearer\") or a bare word; dotted names reach into objects.",
		Example: "Then the response field error is \"token_expired\""},
	{Group: gResponse, Syntax: "the response field <name> contains \"<text>\"", Pattern: `^the response field (\S+) contains "([^"]*)"$`, fn: (*world).respFieldContains,
		Help:    "A string member contains the text.",
		Example: "Then the response field errmsg contains \"code been used\""},
	{Group: gResponse, Syntax: "the response header <name> contains \"<text>\"", Pattern: `^the response header (\S+) contains "([^"]*)"$`, fn: (*world).respHeaderContains,
		Help:    "A response header contains the text.",
		Example: "Then the response header WWW-Authenticate contains \"invalid_token\""},
	{Group: gResponse, Syntax: "the response has header <name>", Pattern: `^the response has header (\S+)$`, fn: (*world).respHasHeader,
		Help:    "A response header is present and non-empty.",
		Example: "Then the response has header Retry-After"},
	{Group: gResponse, Syntax: "the openid is the stable openid of device <device>", Pattern: `^the openid is the stable openid of device (\S+)$`, fn: (*world).respOpenID,
		Help:    "The answer's openid is the one WeChat always gives that user in this app.",
		Example: "Then the openid is the stable openid of device d1"},
	{Group: gResponse, Syntax: "the last <n> answers have the same|different <field>", Pattern: `^the last (\d+) answers have (the same|different) (\S+)$`, fn: (*world).respCompare,
		Help:    "Compares a member across the last n direct answers that have it (e.g. two jscode2session answers).",
		Example: "Then the last 2 answers have different session_key"},

	// Ledger and invariants
	{Group: gLedger, Syntax: "every request settled", Pattern: `^every request settled$`, fn: (*world).everySettled,
		Help:    "Every request issued through the client got an answer or a clear error before its deadline (none lost).",
		Example: "Then every request settled"},
	{Group: gLedger, Syntax: "every request succeeded", Pattern: `^every request succeeded$`, fn: (*world).everySucceeded,
		Help:    "Every request's caller got a 2xx answer.",
		Example: "Then every request succeeded"},
	{Group: gLedger, Syntax: "every request failed with a clear error", Pattern: `^every request failed with a clear error$`, fn: (*world).everyFailed,
		Help:    "Every request since the last expiry, fault or revocation step settled with an error or an error status — none succeeded, none was lost.",
		Example: "Then every request failed with a clear error"},
	{Group: gLedger, Syntax: "request <rid> succeeded|failed", Pattern: `^request (\S+) (succeeded|failed)$`, fn: (*world).requestResult, vet: refAt(0),
		Help:    "How one request settled for its caller (failed = error or status >= 400, not lost).",
		Example: "Then request r1 succeeded"},
	{Group: gLedger, Syntax: "request <rid> settled within <duration>", Pattern: `^request (\S+) settled within {span}$`, fn: (*world).settledWithin, vet: vets(refAt(0), spanAt(1)),
		Help:    "The caller got its answer or error within the time (real time from issue to settle, refresh and replay included).",
		Example: "Then request r1 settled within 2 seconds"},
	{Group: gLedger, Syntax: "every request settled within <duration>", Pattern: `^every request settled within {span}$`, fn: (*world).everySettledWithin, vet: spanAt(0),
		Help:    "Every request through the client settled, each within the time (real time, refresh and replay included).",
		Example: "Then every request settled within 3 seconds"},
	{Group: gLedger, Syntax: "every request of device <device> succeeded|settled|failed with a clear error", Pattern: `^every request of device (\S+) (succeeded|settled|failed with a clear error)$`, fn: (*world).everyOfDevice, vet: knownDeviceAt(0),
		Help:    "Like the \"every request\" steps, for the requests one device sent: succeeded and settled include its warm-up request, failed looks only at requests since the last expiry, fault or revocation step.",
		Example: "Then every request of device d2 succeeded"},
	{Group: gLedger, Syntax: "request <rid> was answered <status>", Pattern: `^request (\S+) was answered (\d+)$`, fn: (*world).requestStatus, vet: refAt(0),
		Help:    "The caller got this HTTP status.",
		Example: "Then request r1 was answered 401"},
	{Group: gLedger, Syntax: "request <rid> got the backend's not-about-the-token answer", Pattern: `^request (\S+) got the backend's not-about-the-token answer$`, fn: (*world).requestNotToken, vet: refAt(0),
		Help:    "The caller got the style's not_token refusal (bearer: 401 password_required; status-403: 403 forbidden; body-code: 200 {\"code\":10010}) — the answer itself, or an error that carries it (names its value or status) — not a success, another signal or a bare error. The non-token-401 probe applies the same rule.",
		Example: "Then request reauth got the backend's not-about-the-token answer"},
	{Group: gLedger, Syntax: "request <rid> reached the backend [exactly|at most|at least] once|twice|<n> times", Pattern: `^request (\S+) reached the backend (?:(exactly|at most|at least) )?(once|twice|\d+ times?)$`, fn: (*world).requestAttempts, vet: refAt(0),
		Help:    "How many attempts of the logical request the backend saw (first send + replays + retries); without a comparator, exactly.",
		Example: "Then request r1 reached the backend once"},
	{Group: gLedger, Syntax: "request <rid> was replayed once with the same body", Pattern: `^request (\S+) was replayed once with the same body$`, fn: (*world).requestReplayed, vet: refAt(0),
		Help:    "The request met an expired token, then was re-sent exactly once with a new token and the same method, path and body bytes as the attempt that met the expiry, and succeeded.",
		Example: "Then request order1 was replayed once with the same body"},
	{Group: gLedger, Syntax: "if request <rid> met an expiry, it was replayed once with the same body", Pattern: `^if request (\S+) met an expiry, it was replayed once with the same body$`, fn: (*world).requestReplayedIfExpired, vet: refAt(0),
		Help:    "The same check as \"request <rid> was replayed once with the same body\", for a request that may not have met an expiry: a client that avoided it (verify-first, proactive refresh) passes. Features that check replay use this form.",
		Example: "Then if request q1 met an expiry, it was replayed once with the same body"},
	{Group: gLedger, Syntax: "request <rid> was executed [exactly|at most|at least] once|twice|<n> times", Pattern: `^request (\S+) was executed (?:(exactly|at most|at least) )?(once|twice|\d+ times?)$`, fn: (*world).requestEffects, vet: refAt(0),
		Help:    "How often the backend performed the request's side effect (POST/PUT/PATCH/DELETE); without a comparator, exactly.",
		Example: "Then request order1 was executed once"},
	{Group: gLedger, Syntax: "exactly|at most|at least <n> refresh(es)|login(s)|token call(s) for device <device> [since counting started]", Pattern: `^(exactly|at most|at least) (\d+) (refresh|refreshes|login|logins|token calls?) for device (\S+)( since counting started)?$`, fn: (*world).tokenCallsFor, vet: vets(knownDeviceAt(3), sinceAt(4)),
		Help:    "Counts the device's refresh (or login, or both) calls that reached the backend. In a style without a refresh route (body-code) a refresh is a login by a device that already held a token. " + countingNote,
		Example: "Then exactly 1 refresh for device d1"},
	{Group: gLedger, Syntax: "exactly|at most|at least <n> refresh(es)|login(s)|token call(s) per device [since counting started]", Pattern: `^(exactly|at most|at least) (\d+) (refresh|refreshes|login|logins|token calls?) (?:per|for each) device( since counting started)?$`, fn: (*world).tokenCallsEach, vet: sinceAt(3),
		Help:    "The same count, for every declared device. " + countingNote,
		Example: "Then at most 1 refresh per device"},
	{Group: gLedger, Syntax: "<api> answered [errcode] <errcode> [exactly|at most|at least] <n> times [since counting started]", Pattern: `^(jscode2session|cgi-bin/token|checksession|stable_token) answered (?:errcode )?(-?\d+) (?:(exactly|at most|at least) )?(\d+) times?( since counting started)?$`, fn: (*world).wechatAnswered, vet: sinceAt(4),
		Help:    "Counts mock WeChat answers with that errcode (0 = success); without a comparator, exactly. " + countingNote,
		Example: "Then jscode2session answered 40163 0 times"},
	{Group: gLedger, Syntax: "WeChat saw [exactly|at most|at least] <n> <api> calls [for device <device>] [since counting started]", Pattern: `^WeChat saw (?:(exactly|at most|at least) )?(\d+) (jscode2session|cgi-bin/token|checksession|stable_token|wx\.login) calls?(?: for device (\S+))?( since counting started)?$`, fn: (*world).wechatCalls, vet: vets(knownDeviceAt(3), sinceAt(4)),
		Help:    "Counts calls mock WeChat received for the API (wx.login, jscode2session, …), of every device's user or of one; without a comparator, exactly. " + countingNote,
		Example: "Then WeChat saw 5 jscode2session calls"},
	{Group: gLedger, Syntax: "counting starts", Pattern: `^counting starts$`, fn: (*world).countingStarts, vet: vetCountingStarts,
		Help:    "Waits for requests in flight, then marks this point: count steps ending in \"since counting started\" count only what happens after it (no arithmetic on the warm-up).",
		Example: "When counting starts"},
	{Group: gLedger, Syntax: "no request met an expired token", Pattern: `^no request met an expired token$`, fn: (*world).noExpiredAttempt,
		Help:    "The backend never answered a request of the client with the expiry signal (proactive refresh worked); a device's requests sent without a token before its first login (a wrapper that logs in when its first request is refused) do not count. Only a client that refreshes proactively passes, and only when the clock is inside its proactive window (30s before expiry for the reference client; docs/conform.md#two-windows).",
		Example: "Then no request met an expired token"},
	{Group: gLedger, Syntax: "invariant <name> holds", Pattern: `^invariant (\S+) holds$`, fn: (*world).invariantHolds, vet: invariantAt(0),
		Help:    "Judges the scenario's ledger with the invariant checker (SPEC §5 names; an unknown name is a problem before the run); on failure shows each violation with its ledger evidence. single-refresh accepts a refresh without an expiry signal only once per token and near its expiry (docs/conform.md#two-windows).",
		Example: "Then invariant single-refresh holds"},
	{Group: gLedger, Syntax: "invariant <name> is violated", Pattern: `^invariant (\S+) is violated$`, fn: (*world).invariantViolated, vet: invariantAt(0),
		Help:    "The checker finds at least one violation (to prove a check can fail).",
		Example: "Then invariant code-single-use is violated"},
	{Group: gLedger, Syntax: "all invariants hold", Pattern: `^all invariants hold$`, fn: (*world).allInvariantsHold,
		Help:    "Every invariant of SPEC §5 has no violation.",
		Example: "Then all invariants hold"},
	{Group: gLedger, Syntax: "the refresh amplification is at most <x>", Pattern: `^the refresh amplification is at most (\d+(?:\.\d+)?)$`, fn: (*world).amplificationAtMost,
		Help:    "(refresh + login calls) ÷ expiry episodes, as in summary.json.",
		Example: "Then the refresh amplification is at most 1"},
}

var (
	ctxType = reflect.TypeOf((*context.Context)(nil)).Elem()
	errType = reflect.TypeOf((*error)(nil)).Elem()
	// errNoWorld means a step ran outside a scenario set up by this package.
	errNoWorld = errors.New("tokenstorm: step run without a scenario world (the suite was not started by harness/conform)")
)

func init() {
	for i := range library {
		s := &library[i]
		s.re = regexp.MustCompile(strings.ReplaceAll(s.Pattern, "{span}", span))
		s.handler = adapt(s.fn)
	}
}

// adapt turns a method expression func(*world, ctx, args...) error into the
// func(ctx, args...) error godog calls, finding the scenario's world in ctx.
// Steps stay plain methods (easy to read and test) while godog still sees the
// argument types it converts to.
func adapt(fn any) any {
	mv := reflect.ValueOf(fn)
	mt := mv.Type()
	if mt.Kind() != reflect.Func || mt.NumIn() < 2 || mt.In(0) != reflect.TypeOf((*world)(nil)) || mt.In(1) != ctxType ||
		mt.NumOut() != 1 || mt.Out(0) != errType {
		panic("conform: step handler must be func(*world, context.Context, ...) error, got " + mt.String())
	}
	in := []reflect.Type{ctxType}
	for i := 2; i < mt.NumIn(); i++ {
		in = append(in, mt.In(i))
	}
	ft := reflect.FuncOf(in, []reflect.Type{errType}, false)
	return reflect.MakeFunc(ft, func(args []reflect.Value) []reflect.Value {
		ctx, _ := args[0].Interface().(context.Context)
		w := worldFrom(ctx)
		if w == nil {
			err := errNoWorld
			return []reflect.Value{reflect.ValueOf(&err).Elem()}
		}
		call := append([]reflect.Value{reflect.ValueOf(w)}, args...)
		return mv.Call(call)
	}).Interface()
}

// Steps returns the step library in documentation order.
func Steps() []Step {
	out := make([]Step, 0, len(library))
	for _, g := range groupOrder {
		for _, s := range library {
			if s.Group == g {
				out = append(out, s)
			}
		}
	}
	return out
}

// match returns the library entries whose pattern matches text.
func match(text string) []*Step {
	var out []*Step
	for i := range library {
		if library[i].re.MatchString(text) {
			out = append(out, &library[i])
		}
	}
	return out
}

// exampleText is the step text of an example: its first line without the keyword.
func exampleText(example string) string {
	line, _, _ := strings.Cut(example, "\n")
	line = strings.TrimSpace(line)
	for _, kw := range []string{"Given ", "When ", "Then ", "And ", "But ", "* "} {
		if strings.HasPrefix(line, kw) {
			return strings.TrimPrefix(line, kw)
		}
	}
	return line
}
