// no-replay — BROKEN (breaks `correct-replay`): refreshes once per expiry, but
// does not replay the request that met the expiry: it hands the 401 to the
// caller ("please try again"), so the data only appears on the next load.
//
// uni-app style: uni.request in its Promise form, an ES module.

const BASE = tokenstorm.backendURL;
let refreshing = null;

export class RequestError extends Error {
  constructor(res) {
    super(`HTTP ${res.statusCode}: ${JSON.stringify(res.data)}`);
    this.name = 'RequestError';
    this.statusCode = res.statusCode;
    this.data = res.data;
    this.header = res.header;
  }
}

async function login() {
  const { code } = await uni.login();
  const res = await uni.request({ url: `${BASE}/auth/login`, method: 'POST', data: { code } });
  if (res.statusCode !== 200) throw new Error('login failed');
  save(res.data);
}

async function refresh() {
  const res = await uni.request({
    url: `${BASE}/auth/refresh`,
    method: 'POST',
    data: { refresh_token: uni.getStorageSync('refresh_token') },
  });
  if (res.statusCode !== 200) throw new Error('refresh failed');
  save(res.data);
}

function save(data) {
  uni.setStorageSync('token', data.access_token);
  uni.setStorageSync('refresh_token', data.refresh_token);
}

function once(fn) {
  if (!refreshing) refreshing = fn().finally(() => { refreshing = null; });
  return refreshing;
}

export async function request(options) {
  if (!uni.getStorageSync('token')) await once(login);
  const res = await uni.request({
    ...options,
    header: { ...options.header, Authorization: `Bearer ${uni.getStorageSync('token')}` },
  });
  if (res.statusCode === 401) {
    await once(refresh); // so that the NEXT request works...
    uni.showToast({ title: '网络开小差了，请重试', icon: 'none' });
    throw new RequestError(res); // BUG: ...but this one is not replayed
  }
  return res;
}
