#!/usr/bin/env node
// A correct tokenstorm exec client in Node.js (>= 18), with no npm
// dependencies. It speaks protocol 3 of docs/exec-protocol.md on stdin/stdout
// (each call's clock_offset_ms is its device's clock) and talks to the backend
// in whatever style (SPEC §4) the harness announces in its hello's
// "style_spec", as long as the style's v1 members describe it (a protocol 1
// hello): bearer, body-code, rotating, status-403 or a --style FILE in format
// v1. A style that needs format v2 (a protocol 2 hello) is refused at start.
// It is the same client as examples/exec/go, in JavaScript.
//
//   tokenstorm conform --client exec:'node examples/exec/node/client.mjs' [--style body-code]
//
// What it does right, and what tokenstorm checks:
//   - per-device token storage (each simulated device is its own phone);
//   - login like a mini-program: wx.login() (here POST {WECHAT}/__mock/wx/login)
//     gives a one-time code, POST {BACKEND}{routes.login} exchanges it;
//   - the token goes in the style's header and scheme (Bearer, raw or basic);
//   - on an answer the style calls "expired" or "invalid" (status and body
//     member, e.g. 401 {"error":"token_expired"} or 200 {"code":10006}), ONE
//     renewal per device however many requests failed at once (single
//     flight): POST {routes.refresh}, or a fresh login when the style has no
//     refresh route or the refresh token is dead (invalid_grant);
//   - every failed request is replayed exactly once, with the new token and
//     the same method, path, headers and body bytes;
//   - a late failure for a request sent with an already replaced token does
//     not start another renewal: it is replayed with the current token;
//   - a refusal that is not about the token (not_token, e.g. 401
//     password_required or 403 forbidden) is passed to the caller as is; a
//     failed renewal is reported as an error, not retried, and remembered
//     for a second so that the requests queued behind it share its error;
//   - single-use tokens (rotating): one protected request in flight per
//     device, each with the token the previous answer handed over in
//     token.next_header;
//   - a token is renewed 30 s before it expires (at most half its life, as
//     the login or refresh answer's fields.expires_in says) by the DEVICE's
//     clock: ours plus the call's clock_offset_ms, so a phone whose clock
//     jumps ahead renews once, before sending, like a real phone's wrapper.
//     A failed early renewal is not the caller's problem: the old token is
//     sent and the backend decides.
//
// Debug output goes to stderr (set TOKENSTORM_DEBUG=1): stdout is the protocol.

import readline from 'node:readline';
import { isDeepStrictEqual } from 'node:util';

// PROTOCOL is the version we answer; READS is the only hello version we
// accept: we read style_spec's v1 members, which describe the style fully
// exactly when the hello says 1 (a v2 style is refused, never misread).
const PROTOCOL = 3;
const READS = 1;
const HTTP_TIMEOUT_MS = 30_000;
const COOL_DOWN_MS = 1_000; // how long a failed renewal is not retried
const PROACTIVE_MS = 30_000; // renew this long before expiry (at most half the token's life)
const debug = process.env.TOKENSTORM_DEBUG ? (...a) => console.error('[node-client]', ...a) : () => {};

let backend = process.env.TOKENSTORM_BACKEND_URL;
let wechat = process.env.TOKENSTORM_WECHAT_URL;
let appid = process.env.TOKENSTORM_APPID;
let style; // the backend's dialect, from the hello

function send(msg) {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

// ---- The style ------------------------------------------------------------

// BEARER is the default style, for a harness that sends no style_spec.
const BEARER = {
  name: 'bearer',
  routes: { login: '/auth/login', refresh: '/auth/refresh' },
  fields: { code: 'code', access_token: 'access_token', refresh_token: 'refresh_token' },
  token: { header: 'Authorization', scheme: 'Bearer' },
  signals: {
    success: { status: 200 },
    expired: { status: 401, field: 'error', value: 'token_expired' },
    invalid: { status: 401, field: 'error', value: 'invalid_token' },
    not_token: { status: 401, field: 'error', value: 'password_required' },
    invalid_grant: { status: 401, field: 'error', value: 'invalid_grant' },
  },
};

// parseStyle checks the members this client needs. Every style arrives in
// this shape, so there is no YAML parser and no code per style.
function parseStyle(spec) {
  const s = spec ?? BEARER;
  const sig = s.signals ?? {};
  if (!s.routes?.login || !s.fields?.code || !s.fields?.access_token || !s.token?.header) {
    throw new Error('style_spec lacks routes.login, fields.code, fields.access_token or token.header');
  }
  if (!sig.success?.status || !sig.expired?.status || !sig.invalid?.status) {
    throw new Error('style_spec lacks the success, expired or invalid signal');
  }
  return s;
}

// tokenHeader is the header value that carries token in the style's scheme.
function tokenHeader(token) {
  switch ((style.token.scheme ?? '').toLowerCase()) {
    case 'raw': return token;
    case 'basic': return 'Basic ' + Buffer.from(token + ':').toString('base64');
    default: return 'Bearer ' + token;
  }
}

function parseObject(text) {
  try {
    const v = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : null;
  } catch {
    return null; // not JSON: only status-only signals can match
  }
}

// classify names the signal an answer carries, or '' for none. Signals with a
// body member are tried first, so {status 200, code 10006} (expired) wins
// over a plain {status 200} success. Values compare as JSON values (10006 is
// 10006.0, JSON.parse makes both the same number).
function classify(status, text) {
  const members = parseObject(text);
  for (const [name, sig] of Object.entries(style.signals)) {
    if (sig.field && sig.status === status && members && isDeepStrictEqual(members[sig.field], sig.value)) {
      return name;
    }
  }
  for (const name of ['success', 'expired', 'invalid', 'not_token', 'invalid_grant']) {
    const sig = style.signals[name];
    if (sig && !sig.field && sig.status === status) return name;
  }
  return '';
}

// tokenProblem tells an answer about the token (expired or invalid: a new
// token fixes it, so renew and replay) from any other answer, including a
// refusal that is not about the token (not_token), which the caller gets as is.
function tokenProblem(res) {
  switch (classify(res.status, res.buf.toString('utf8'))) {
    case 'expired':
    case 'invalid':
      return true;
    case '': {
      // The body says nothing the style knows: the challenge may.
      const challenge = (res.headers.get('www-authenticate') ?? '').toLowerCase();
      return ['expired', 'invalid'].some((name) => {
        const sig = style.signals[name];
        return sig.www_authenticate && sig.status === res.status && challenge === sig.www_authenticate.toLowerCase();
      });
    }
    default:
      return false;
  }
}

// member is a string member of a JSON object, or null (absent, or the style
// has no such field: name '').
function member(json, name) {
  const v = name ? json?.[name] : undefined;
  return typeof v === 'string' && v !== '' ? v : null;
}

// lifetimeMs is how long a token lives by the answer's expires_in member
// (seconds, a JSON number or a numeric string), or 0 when the style has no
// such field or the answer does not say.
function lifetimeMs(json, name) {
  const v = name ? json?.[name] : undefined;
  const secs = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(secs) && secs > 0 ? secs * 1000 : 0;
}

// ---- HTTP -----------------------------------------------------------------

async function postJSON(url, payload) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const text = (await res.text()).trim();
  return { status: res.status, json: parseObject(text), text };
}

// ---- Devices --------------------------------------------------------------

// Device holds one phone's tokens and its renewal in progress, if any.
class Device {
  constructor(name) {
    this.name = name;
    this.access = null;
    this.refresh = null;
    // renewAt is when, by the device's own clock (ms since the epoch), access
    // is close enough to its expiry to be renewed before it is sent (0: the
    // backend did not say how long it lives).
    this.renewAt = 0;
    this.renewing = null; // Promise<string> while a renewal runs: the single flight
    // After a failed renewal, requests that need a new token get its error
    // until quietUntil instead of starting another one: with one request at
    // a time (single-use tokens) they could not join the failed flight, and
    // each would otherwise try again (bounded-retry).
    this.lastError = null;
    this.quietUntil = 0;
    this.turn = Promise.resolve(); // the queue of requests, for single-use tokens
  }

  // oneAtATime runs fn after every request queued before it has finished.
  async oneAtATime(fn) {
    const before = this.turn;
    let done;
    this.turn = new Promise((resolve) => { done = resolve; });
    await before;
    try {
      return await fn();
    } finally {
      done();
    }
  }

  // fresh is the token to send: the current one, or a renewed one when it
  // expires within the proactive window by the device's clock (now). A
  // failed early renewal is not the caller's problem while the old token may
  // still work: it is sent, and the backend decides.
  async fresh(now) {
    const cur = this.access;
    if (cur === null || !this.renewAt || now() < this.renewAt) return this.token(null, now);
    try {
      return await this.token(cur, now, true);
    } catch {
      return cur;
    }
  }

  // token returns a token other than stale, renewing only if nobody already
  // has: with stale === null any current token will do. Concurrent callers
  // with the same stale token share one renewal, and a caller whose stale
  // token was already replaced (a late failure) gets the new one at once.
  // now is the device's clock, by which the new token's renewal time is
  // kept. A proactive renewal (stale is only about to expire) that fails
  // keeps stale: the backend has not refused it.
  token(stale, now, proactive = false) {
    if (this.access !== null && this.access !== stale) return Promise.resolve(this.access);
    if (this.renewing) return this.renewing;
    if (Date.now() < this.quietUntil) return Promise.reject(this.lastError);
    // The handlers run after this.renewing is set, whatever renew() does.
    this.renewing = this.renew().then(
      ({ access, lifeMs }) => {
        this.access = access;
        // Renewed this long before it expires, by the device's clock.
        this.renewAt = lifeMs > 0 ? now() + lifeMs - Math.min(PROACTIVE_MS, lifeMs / 2) : 0;
        this.renewing = null;
        return access;
      },
      (err) => {
        // rejected by the backend: not worth sending again
        if (this.access === stale && !proactive) this.access = null;
        this.lastError = err;
        this.quietUntil = Date.now() + COOL_DOWN_MS;
        this.renewing = null;
        throw err;
      });
    return this.renewing;
  }

  // renew refreshes the tokens through the style's refresh route, or logs in
  // again when the style has none, there is no refresh token, or the backend
  // rejects it (invalid_grant), and resolves to the new access token and
  // how long it lives (lifeMs, 0: not said). A failure is thrown, never
  // retried: the caller gets a clear error instead of a loop.
  async renew() {
    const { routes, fields } = style;
    if (routes.refresh && fields.refresh_token && this.refresh) {
      debug(this.name, 'refresh');
      const r = await postJSON(backend + routes.refresh, { [fields.refresh_token]: this.refresh })
        .catch((err) => { throw new Error(`token refresh failed: ${err.message}`); });
      switch (classify(r.status, r.text)) {
        case 'success': {
          const access = member(r.json, fields.access_token);
          if (!access) throw new Error(`token refresh failed: no "${fields.access_token}" in HTTP ${r.status} ${r.text}`);
          this.refresh = member(r.json, fields.refresh_token);
          return { access, lifeMs: lifetimeMs(r.json, fields.expires_in) };
        }
        case 'invalid_grant':
          debug(this.name, 'refresh token rejected, logging in again:', r.text);
          this.refresh = null; // dead: log in again below
          break;
        default:
          throw new Error(`token refresh failed: HTTP ${r.status} ${r.text}`);
      }
    }
    debug(this.name, 'login');
    const w = await postJSON(`${wechat}/__mock/wx/login`, { appid, user: this.name })
      .catch((err) => ({ status: 0, text: String(err?.message ?? err), json: null }));
    const code = member(w.json, 'code');
    if (w.status !== 200 || !code) throw new Error(`wx.login failed: HTTP ${w.status} ${w.text}`);
    const l = await postJSON(backend + routes.login, { [fields.code]: code })
      .catch((err) => { throw new Error(`login failed: ${err.message}`); });
    const access = member(l.json, fields.access_token);
    if (classify(l.status, l.text) !== 'success' || !access) {
      throw new Error(`login failed: HTTP ${l.status} ${l.text}`);
    }
    this.refresh = member(l.json, fields.refresh_token);
    return { access, lifeMs: lifetimeMs(l.json, fields.expires_in) };
  }

  // rotate installs the next access token an answer handed over (a rotating
  // style's next_header) in place of used, unless a renewal replaced used
  // meanwhile.
  rotate(used, headers) {
    if (!style.token.next_header) return;
    const next = (headers.get(style.token.next_header) ?? '').trim();
    if (next && this.access === used) this.access = next;
  }
}

const devices = new Map();
function device(name) {
  let d = devices.get(name);
  if (!d) devices.set(name, (d = new Device(name)));
  return d;
}

// ---- Calls ----------------------------------------------------------------

// Headers the HTTP stack computes itself, and the token header, which is
// ours to set, are not copied from the call.
const OURS = new Set(['host', 'content-length', 'connection', 'transfer-encoding']);

// attempt sends the request once with token and takes over the next token if
// the answer hands one over.
async function attempt(dev, call, body, token) {
  const headers = {};
  for (const [k, v] of Object.entries(call.headers ?? {})) {
    const lower = k.toLowerCase();
    if (!OURS.has(lower) && lower !== style.token.header.toLowerCase()) headers[k] = v;
  }
  headers[style.token.header] = tokenHeader(token);
  const res = await fetch(backend + call.path, {
    method: call.method,
    headers,
    body: body === undefined || body.length === 0 ? undefined : body,
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const buf = Buffer.from(await res.arrayBuffer());
  dev.rotate(token, res.headers);
  return { status: res.status, headers: res.headers, buf };
}

// request makes the call for its device, renewing the token first if it
// expires soon by the device's clock (ours plus the call's clock_offset_ms),
// and replaying the call once if the backend says the token is expired or
// invalid.
async function request(dev, call, body) {
  const offset = Number.isFinite(call.clock_offset_ms) ? call.clock_offset_ms : 0; // absent: 0
  const now = () => Date.now() + offset; // the device's clock
  const token = await dev.fresh(now);
  const res = await attempt(dev, call, body, token);
  if (!tokenProblem(res)) return res;
  const renewed = await dev.token(token, now);
  return attempt(dev, call, body, renewed); // the one replay, same bytes
}

async function handle(call) {
  const dev = device(call.device);
  const body = call.body_base64 !== undefined ? Buffer.from(call.body_base64, 'base64') : call.body;
  const res = style.token.single_use
    ? await dev.oneAtATime(() => request(dev, call, body)) // one request in flight per device
    : await request(dev, call, body);
  const answer = { id: call.id, status: res.status, headers: Object.fromEntries(res.headers.entries()) };
  try {
    answer.body = new TextDecoder('utf-8', { fatal: true }).decode(res.buf);
  } catch {
    answer.body_base64 = res.buf.toString('base64');
  }
  return answer;
}

// ---- The protocol loop ----------------------------------------------------

const inflight = new Set();
let greeted = false;
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });

rl.on('line', (line) => {
  if (!line.trim()) return;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    console.error('node-client: unreadable line from the harness:', e.message);
    return;
  }
  if (!greeted) {
    if (msg.type !== 'hello' || msg.protocol !== READS) {
      console.error(`node-client: expected a protocol ${READS} hello (this client reads style format v1 only), got ${line}`);
      process.exit(2);
    }
    try {
      style = parseStyle(msg.style_spec);
    } catch (e) {
      console.error('node-client: unusable style_spec in the hello:', e.message);
      process.exit(2);
    }
    backend = msg.backend_url || backend;
    wechat = msg.wechat_url || wechat;
    appid = msg.appid || appid;
    greeted = true;
    // Our own version, whatever the hello's: 3 tells the harness that we
    // keep each device's time by the calls' clock_offset_ms.
    send({ type: 'hello', protocol: PROTOCOL, name: `node-example (${style.name} style)` });
    return;
  }
  if (msg.type !== 'call') return; // newer message types: ignore
  const p = handle(msg)
    .then(send, (err) => send({ id: msg.id, error: String(err?.message ?? err) }))
    .finally(() => inflight.delete(p));
  inflight.add(p);
});

// stdin closed: the harness is done. Finish what is in flight, then exit.
rl.on('close', async () => {
  await Promise.allSettled([...inflight]);
  process.exit(0);
});
