// stale-replay — BROKEN (breaks `correct-replay`): refreshes once per expiry
// like the correct wrapper, but builds the request config — Authorization
// header included — once, and replays that same config after the refresh.
// The replay carries the old token and fails again; the caller gets a 401.
//
// ES module with a class, the shape of many axios-like mini-program wrappers.

const BASE = tokenstorm.backendURL;

function send(config) {
  return new Promise((resolve, reject) => {
    wx.request({ ...config, success: resolve, fail: (e) => reject(new Error(e.errMsg)) });
  });
}

class Request {
  constructor() {
    this.refreshing = null; // single flight: the refresh in progress
  }

  async request(options) {
    if (!wx.getStorageSync('token')) await this.refreshOnce(true);
    const config = {
      ...options,
      header: { ...options.header, Authorization: `Bearer ${wx.getStorageSync('token')}` },
    };
    const res = await send(config);
    if (res.statusCode === 401) {
      await this.refreshOnce(false);
      return send(config); // BUG: config still carries the old token
    }
    return res;
  }

  refreshOnce(login) {
    if (!this.refreshing) {
      this.refreshing = (login ? this.login() : this.refresh()).finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async login() {
    const { code } = await wx.login();
    const res = await send({ url: `${BASE}/auth/login`, method: 'POST', data: { code } });
    if (res.statusCode !== 200) throw new Error('login failed');
    this.save(res.data);
  }

  async refresh() {
    const res = await send({
      url: `${BASE}/auth/refresh`,
      method: 'POST',
      data: { refresh_token: wx.getStorageSync('refresh_token') },
    });
    if (res.statusCode !== 200) throw new Error('refresh failed');
    this.save(res.data);
  }

  save(data) {
    wx.setStorageSync('token', data.access_token);
    wx.setStorageSync('refresh_token', data.refresh_token);
  }
}

export default new Request();
