#!/usr/bin/env node
// A NAIVE tokenstorm exec client in Node.js: the wrapper most apps start with.
// It speaks protocol 1 of docs/exec-protocol.md correctly and works fine for
// one request at a time, but every request that meets an expired token starts
// its own refresh (no single flight). With N requests in flight when the token
// expires that is N refreshes — a refresh storm — so it FAILS the
// single-refresh invariant:
//
//   tokenstorm conform --client exec:'node examples/exec/naive/client.mjs'   # exits 1
//
// Compare examples/exec/node/client.mjs, which shares one renewal per device.
//
// It stays at protocol 1 on purpose: protocol 3 promises to read style format
// v2 and to keep each device's time by clock_offset_ms; this client reads
// neither style_spec nor the time, so the harness marks the device-clock
// checks skip for it instead of crediting it with them.

import readline from 'node:readline';

const PROTOCOL = 1;
let backend, wechat, appid;
const tokens = new Map(); // device -> {access, refresh}

const send = (msg) => process.stdout.write(JSON.stringify(msg) + '\n');

async function postJSON(url, payload) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

async function login(dev) {
  const w = await postJSON(`${wechat}/__mock/wx/login`, { appid, user: dev });
  const l = await postJSON(`${backend}/auth/login`, { code: w.json?.code });
  if (l.status !== 200) throw new Error(`login failed: HTTP ${l.status}`);
  tokens.set(dev, { access: l.json.access_token, refresh: l.json.refresh_token });
}

// The flaw: called once per failed request, whatever the others are doing.
async function refresh(dev) {
  const r = await postJSON(`${backend}/auth/refresh`, { refresh_token: tokens.get(dev).refresh });
  if (r.status !== 200) throw new Error(`refresh failed: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  tokens.set(dev, { access: r.json.access_token, refresh: r.json.refresh_token });
}

async function attempt(call, body) {
  const headers = { ...call.headers, Authorization: `Bearer ${tokens.get(call.device).access}` };
  delete headers['Content-Length'];
  const res = await fetch(backend + call.path, { method: call.method, headers, body: body || undefined });
  return { status: res.status, headers: Object.fromEntries(res.headers.entries()), body: await res.text() };
}

async function handle(call) {
  if (!tokens.has(call.device)) await login(call.device);
  const body = call.body_base64 !== undefined ? Buffer.from(call.body_base64, 'base64') : call.body;
  let res = await attempt(call, body);
  if (res.status === 401) {
    await refresh(call.device);
    res = await attempt(call, body);
  }
  return { id: call.id, status: res.status, headers: res.headers, body: res.body };
}

let greeted = false;
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  const msg = JSON.parse(line);
  if (!greeted) {
    ({ backend_url: backend, wechat_url: wechat, appid } = msg);
    greeted = true;
    send({ type: 'hello', protocol: PROTOCOL, name: 'node-naive' });
    return;
  }
  handle(msg).then(send, (err) => send({ id: msg.id, error: String(err.message ?? err) }));
});
rl.on('close', () => setTimeout(() => process.exit(0), 100));
