// fabricate/adapter.js — BROKEN (breaks `genuine-answers`): a wrapper that
// "never shows an error page": when the answer is a token problem it resolves
// with an invented empty success instead of refreshing and replaying, and
// when it has no token yet it does not even call the backend. The caller sees
// HTTP 200 and no data — the client-side form of a swallowed expiry.
//
// tokenstorm compares every answer a caller gets with the backend's answers
// to that request's attempts: these were never the backend's.

const BASE = tokenstorm.backendURL;

function send(options) {
  return new Promise((resolve, reject) => {
    wx.request({ ...options, success: resolve, fail: (e) => reject(new Error(e.errMsg)) });
  });
}

async function login() {
  const { code } = await wx.login();
  const res = await send({ url: `${BASE}/auth/login`, method: 'POST', data: { code } });
  if (res.statusCode === 200) wx.setStorageSync('token', res.data.access_token);
}

const empty = () => ({ statusCode: 200, data: { items: [] }, header: {} });

export async function call(req) {
  const token = wx.getStorageSync('token');
  if (!token) {
    login(); // in the background; this caller gets an empty page
    return empty();
  }
  const res = await send({ url: req.url, method: req.method, data: req.data, header: { ...req.header, Authorization: `Bearer ${token}` } });
  if (res.statusCode === 401) return empty();
  return { statusCode: res.statusCode, data: res.data, header: res.header };
}
