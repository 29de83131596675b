// app-launch — CORRECT: the token pair and its expiry time live in wx
// storage; App({onLaunch}) checks the stored token when the app (re)starts
// and renews it if it has expired, through the SAME single flight the
// requests use, so a page's first requests join that renewal instead of
// starting their own. A 401 on a request is still handled: one shared
// renewal, one replay.

const BASE = tokenstorm.backendURL;
const MARGIN_MS = 60 * 1000; // renew a minute before expiry

function send(options) {
  return new Promise((resolve, reject) => {
    wx.request({ ...options, success: resolve, fail: (e) => reject(new Error(e.errMsg)) });
  });
}

function tokenProblem(res) {
  if (res.statusCode !== 401) return false;
  const code = res.data && res.data.error;
  return code === 'token_expired' || code === 'invalid_token';
}

function save(data) {
  wx.setStorageSync('token', data.access_token);
  wx.setStorageSync('refresh_token', data.refresh_token);
  wx.setStorageSync('expires_at', Date.now() + data.expires_in * 1000);
  return data.access_token;
}

async function login() {
  const { code } = await wx.login();
  const res = await send({ url: `${BASE}/auth/login`, method: 'POST', data: { code } });
  if (res.statusCode !== 200) throw new Error(`login failed: HTTP ${res.statusCode}`);
  return save(res.data);
}

async function refresh() {
  const rt = wx.getStorageSync('refresh_token');
  if (!rt) return login();
  const res = await send({ url: `${BASE}/auth/refresh`, method: 'POST', data: { refresh_token: rt } });
  if (res.statusCode === 200) return save(res.data);
  if (res.statusCode === 401) return login(); // dead refresh token
  throw new Error(`refresh failed: HTTP ${res.statusCode}`);
}

let renewing = null; // the one renewal in flight, shared by launch and requests

export function renew() {
  if (!renewing) renewing = refresh().finally(() => { renewing = null; });
  return renewing;
}

// validToken is the stored token when it is still good, else one shared renewal.
export function validToken() {
  if (renewing) return renewing;
  const token = wx.getStorageSync('token');
  if (!token) {
    renewing = login().finally(() => { renewing = null; });
    return renewing;
  }
  if (Date.now() >= Number(wx.getStorageSync('expires_at') || 0) - MARGIN_MS) return renew();
  return Promise.resolve(token);
}

export async function request({ url, method = 'GET', data, header = {} }) {
  const token = await validToken();
  const once = (t) => send({ url, method, data, header: { ...header, Authorization: `Bearer ${t}` } });
  const res = await once(token);
  if (!tokenProblem(res)) return res;
  const current = wx.getStorageSync('token');
  return once(current && current !== token ? current : await renew());
}
