#!/usr/bin/env node
// A correct tokenstorm exec client in Node.js (>= 18), with no npm
// dependencies. It speaks protocol 1 of docs/exec-protocol.md on stdin/stdout
// and talks to the backend in the "bearer" style (SPEC §4).
//
//   tokenstorm conform --client exec:'node examples/exec/node/client.mjs'
//
// What it does right, and what tokenstorm checks:
//   - per-device token storage (each simulated device is its own phone);
//   - login like a mini-program: wx.login() (here POST {WECHAT}/__mock/wx/login)
//     gives a one-time code, POST {BACKEND}/auth/login exchanges it;
//   - on 401 {"error":"token_expired"} (or invalid_token), ONE renewal per
//     device however many requests failed at once (single flight): POST
//     /auth/refresh, falling back to a fresh login when the refresh token is
//     dead (401 invalid_grant);
//   - every failed request is replayed exactly once, with the new token and
//     the same method, path, headers and body bytes;
//   - a late 401 for a request sent with an already replaced token does not
//     start another renewal: it is replayed with the current token;
//   - a 401 that is not about the token (e.g. password_required) is passed to
//     the caller as is; a failed renewal is reported as an error, not retried.
//
// Debug output goes to stderr (set TOKENSTORM_DEBUG=1): stdout is the protocol.

import readline from 'node:readline';

const PROTOCOL = 1;
const HTTP_TIMEOUT_MS = 30_000;
const debug = process.env.TOKENSTORM_DEBUG ? (...a) => console.error('[node-client]', ...a) : () => {};

let backend = process.env.TOKENSTORM_BACKEND_URL;
let wechat = process.env.TOKENSTORM_WECHAT_URL;
let appid = process.env.TOKENSTORM_APPID;

function send(msg) {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

async function postJSON(url, payload) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON: keep the text for the error */ }
  return { status: res.status, json, text };
}

// Device holds one phone's tokens. renew() is the single flight: concurrent
// callers that saw the same stale token share one renewal.
class Device {
  constructor(name) {
    this.name = name;
    this.access = null;
    this.refresh = null;
    this.renewing = null; // Promise<string> while a renewal runs
  }

  async token() {
    return this.access ?? this.renew(null);
  }

  // renew returns a token newer than stale, renewing only if nobody has.
  renew(stale) {
    if (this.access !== null && this.access !== stale) {
      return Promise.resolve(this.access); // already renewed since that request left
    }
    if (!this.renewing) {
      this.renewing = this.doRenew().finally(() => { this.renewing = null; });
    }
    return this.renewing;
  }

  async doRenew() {
    if (this.refresh) {
      debug(this.name, 'refresh');
      const r = await postJSON(`${backend}/auth/refresh`, { refresh_token: this.refresh });
      if (r.status === 200 && r.json?.access_token) return this.store(r.json);
      if (r.status !== 400 && r.status !== 401) {
        throw new Error(`token refresh failed: HTTP ${r.status} ${r.text}`);
      }
      debug(this.name, 'refresh token rejected, logging in again:', r.text);
    }
    debug(this.name, 'login');
    const w = await postJSON(`${wechat}/__mock/wx/login`, { appid, user: this.name });
    if (w.status !== 200 || !w.json?.code) throw new Error(`wx.login failed: HTTP ${w.status} ${w.text}`);
    const l = await postJSON(`${backend}/auth/login`, { code: w.json.code });
    if (l.status !== 200 || !l.json?.access_token) throw new Error(`login failed: HTTP ${l.status} ${l.text}`);
    return this.store(l.json);
  }

  store(pair) {
    this.access = pair.access_token;
    if (pair.refresh_token) this.refresh = pair.refresh_token;
    return this.access;
  }
}

const devices = new Map();
function device(name) {
  let d = devices.get(name);
  if (!d) devices.set(name, (d = new Device(name)));
  return d;
}

// Headers the HTTP stack computes itself must not be copied from the call.
const HOP_BY_HOP = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'authorization']);

async function attempt(call, body, token) {
  const headers = {};
  for (const [k, v] of Object.entries(call.headers ?? {})) {
    if (!HOP_BY_HOP.has(k.toLowerCase())) headers[k] = v;
  }
  headers.authorization = `Bearer ${token}`;
  const res = await fetch(backend + call.path, {
    method: call.method,
    headers,
    body: body === undefined || body.length === 0 ? undefined : body,
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const buf = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: Object.fromEntries(res.headers.entries()), buf };
}

// tokenProblem: a 401 about the token (expired, invalid), not any 401.
function tokenProblem(res) {
  if (res.status !== 401) return false;
  if ((res.headers['www-authenticate'] ?? '').includes('invalid_token')) return true;
  try {
    const err = JSON.parse(res.buf.toString('utf8')).error;
    return err === 'token_expired' || err === 'invalid_token';
  } catch {
    return false;
  }
}

async function handle(call) {
  const dev = device(call.device);
  const body = call.body_base64 !== undefined ? Buffer.from(call.body_base64, 'base64') : call.body;
  const token = await dev.token();
  let res = await attempt(call, body, token);
  if (tokenProblem(res)) {
    const fresh = await dev.renew(token);
    res = await attempt(call, body, fresh); // replay once, same bytes
  }
  const answer = { id: call.id, status: res.status, headers: res.headers };
  try {
    answer.body = new TextDecoder('utf-8', { fatal: true }).decode(res.buf);
  } catch {
    answer.body_base64 = res.buf.toString('base64');
  }
  return answer;
}

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
    if (msg.type !== 'hello' || msg.protocol !== PROTOCOL) {
      console.error(`node-client: expected a protocol ${PROTOCOL} hello, got ${line}`);
      process.exit(2);
    }
    backend = msg.backend_url || backend;
    wechat = msg.wechat_url || wechat;
    appid = msg.appid || appid;
    greeted = true;
    send({ type: 'hello', protocol: PROTOCOL, name: 'node-example' });
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
