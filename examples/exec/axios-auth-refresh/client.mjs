#!/usr/bin/env node
// axios 1 + axios-auth-refresh 5 as a tokenstorm exec client (docs/exec-protocol.md, protocol 1,
// bearer style): one axios instance per simulated device, set up as the library's README shows.
// The refresh orchestration (who renews, who waits, what is replayed) is axios-auth-refresh's;
// this file supplies only what the README asks of an app: refreshAuthLogic (renew the pair, set
// the failed request's header) and a request interceptor that adds the token. Fetch it first:
//
//   npm install --prefix examples/exec/axios-auth-refresh
//   tokenstorm run --client exec:'node examples/exec/axios-auth-refresh/client.mjs'
//
// AAR_OPTIONS='{"deduplicateRefresh":false}' passes interceptor options (default: the library's).
// Verdict (see ../README.md): fails correct-replay (with the default deduplicateRefresh, a 401
// arriving while the refresh is in flight goes to the caller), single-refresh (a late 401 after
// the refresh starts another) and bounded-retry (a 401 not about the token is refreshed for).
import readline from 'node:readline';
import axios from 'axios';
import createAuthRefreshInterceptor from 'axios-auth-refresh';

const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
const options = JSON.parse(process.env.AAR_OPTIONS || '{}');
let backend, wechat, appid;
const devices = new Map();

function device(name) {
  let d = devices.get(name);
  if (d) return d;
  d = { access: '', refresh: '', api: axios.create({ baseURL: backend }) };
  createAuthRefreshInterceptor(d.api, async (failedRequest) => {
    let pair;
    if (d.refresh) {
      pair = await axios.post(backend + '/auth/refresh', { refresh_token: d.refresh }).then((r) => r.data, () => undefined);
    }
    if (!pair) { // wx.login on a phone: a one-time code from mock WeChat
      const { code } = (await axios.post(wechat + '/__mock/wx/login', { appid, user: name })).data;
      pair = (await axios.post(backend + '/auth/login', { code })).data;
    }
    d.access = pair.access_token;
    d.refresh = pair.refresh_token;
    failedRequest.response.config.headers['Authorization'] = 'Bearer ' + d.access;
  }, options);
  d.api.interceptors.request.use((req) => {
    if (d.access) req.headers['Authorization'] = 'Bearer ' + d.access;
    return req;
  });
  devices.set(name, d);
  return d;
}

function headers(h) {
  const o = {};
  for (const [k, v] of Object.entries(h?.toJSON ? h.toJSON() : h || {})) o[k] = Array.isArray(v) ? v.join(', ') : String(v);
  return o;
}

async function call(c) {
  const { api } = device(c.device);
  const raw = { responseType: 'text', transformResponse: [(x) => x] }; // the body as the backend sent it
  try {
    const res = await api.request({ method: c.method, url: c.path, headers: c.headers, data: c.body || undefined, ...raw });
    send({ id: c.id, status: res.status, headers: headers(res.headers), body: res.data ?? '' });
  } catch (err) {
    // The answer to this very call is what the caller got; the renewal's own failure is an error.
    if (err.response && err.config?.url === c.path) {
      send({ id: c.id, status: err.response.status, headers: headers(err.response.headers), body: err.response.data ?? '' });
    } else {
      send({ id: c.id, error: `${err.message || err}${err.config?.url ? ' (' + err.config.url + ')' : ''}` });
    }
  }
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const m = JSON.parse(line);
  if (m.type === 'hello') {
    ({ backend_url: backend, wechat_url: wechat, appid } = m);
    send({ type: 'hello', protocol: 1, name: `axios ${axios.VERSION} + axios-auth-refresh` });
  } else if (m.type === 'call') {
    call(m);
  }
}).on('close', () => process.exit(0));
