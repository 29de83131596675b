// verify-before-every-call — BROKEN (breaks `single-refresh`, and replay on a
// boundary race): asks the backend "is my token still valid?" before every
// request and refreshes when it is not. Every request costs two round trips;
// concurrent requests that see an expired token each start their own refresh;
// a token that expires between the check and the request reaches the caller
// as a 401, because a 401 on the request itself is never handled.
//
// ES module, async/await.

const BASE = tokenstorm.backendURL;

function send(options) {
  return new Promise((resolve, reject) => {
    wx.request({ ...options, success: resolve, fail: (e) => reject(new Error(e.errMsg)) });
  });
}

async function login() {
  const { code } = await wx.login(); // promise form: no callbacks given
  const res = await send({ url: `${BASE}/auth/login`, method: 'POST', data: { code } });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode}`);
  return save(res.data);
}

async function refresh() {
  const res = await send({
    url: `${BASE}/auth/refresh`,
    method: 'POST',
    data: { refresh_token: wx.getStorageSync('refresh_token') },
  });
  if (res.statusCode !== 200) throw new Error(`refresh failed: ${JSON.stringify(res.data)}`);
  return save(res.data);
}

function save(data) {
  wx.setStorageSync('token', data.access_token);
  wx.setStorageSync('refresh_token', data.refresh_token);
  return data.access_token;
}

async function tokenValid(token) {
  const res = await send({ url: `${BASE}/auth/verify`, header: { Authorization: `Bearer ${token}` } });
  return res.statusCode === 200;
}

export async function request(options) {
  let token = wx.getStorageSync('token');
  if (!token) {
    token = await login();
  } else if (!(await tokenValid(token))) {
    token = await refresh(); // BUG: one refresh per request that saw "invalid"
  }
  return send({ ...options, header: { ...options.header, Authorization: `Bearer ${token}` } });
}
