// correct/request.js — a mini-program request wrapper done right: one refresh
// per expiry however many requests are in flight (single flight with a
// subscriber queue), each failed request replayed once with the new token,
// a dead refresh token falls back to wx.login, and a failed refresh rejects
// every waiter instead of leaving it pending.
//
// Written the way real apps write it (utils/request.js in a mini-program):
// an ES module with a class, async/await, the token pair in wx storage.

const ACCESS_KEY = 'access_token';
const REFRESH_KEY = 'refresh_token';
const LOGIN_PAGE = '/pages/login/login';

// wx.request as a promise. wx calls success for every HTTP answer (401
// included) and fail only when there is no answer.
function send(options) {
  return new Promise((resolve, reject) => {
    wx.request({
      ...options,
      success: resolve,
      fail: (err) => reject(new Error(err.errMsg)),
    });
  });
}

function wxLogin() {
  return new Promise((resolve, reject) => {
    wx.login({
      success: (res) => resolve(res.code),
      fail: (err) => reject(new Error(err.errMsg)),
    });
  });
}

// The access token is expired (or otherwise unusable): refresh. A 401 that
// says anything else (e.g. "password_required") is the caller's business.
function tokenProblem(res) {
  if (res.statusCode !== 401) return false;
  const code = res.data && res.data.error;
  return code === 'token_expired' || code === 'invalid_token';
}

export class AuthError extends Error {
  constructor(message) {
    super(message);
    this.name = 'AuthError';
  }
}

export class Http {
  constructor(baseURL) {
    this.baseURL = baseURL;
    this.refreshing = false; // a refresh (or login) is in flight
    this.subscribers = []; // requests waiting for it: {resolve, reject}
  }

  get token() {
    return wx.getStorageSync(ACCESS_KEY);
  }

  // request resolves with the wx.request success object of the final answer.
  async request({ url, method = 'GET', data, header = {} }) {
    if (!this.token) await this.waitForToken();
    const sentWith = this.token;
    const res = await this.once({ url, method, data, header }, sentWith);
    if (!tokenProblem(res)) return res;
    // A late 401: the request left with an old token and a refresh has
    // already replaced it. Do not refresh again; just replay.
    if (this.token && this.token !== sentWith) {
      return this.once({ url, method, data, header }, this.token);
    }
    const fresh = await this.waitForToken(true);
    // Replay exactly once; a second token problem goes to the caller.
    return this.once({ url, method, data, header }, fresh);
  }

  once({ url, method, data, header }, token) {
    return send({
      url: url.startsWith('http') ? url : this.baseURL + url,
      method,
      data,
      header: { ...header, Authorization: `Bearer ${token}` },
    });
  }

  // waitForToken joins the refresh in flight or starts one. Every waiter gets
  // the same new token, or the same error.
  waitForToken(expired = false) {
    return new Promise((resolve, reject) => {
      this.subscribers.push({ resolve, reject });
      if (this.refreshing) return;
      this.refreshing = true;
      const job = expired && wx.getStorageSync(REFRESH_KEY) ? this.refresh() : this.login();
      job.then(
        (token) => this.flush(null, token),
        (err) => this.flush(err),
      );
    });
  }

  flush(err, token) {
    const waiting = this.subscribers;
    this.subscribers = [];
    this.refreshing = false;
    waiting.forEach(({ resolve, reject }) => (err ? reject(err) : resolve(token)));
  }

  async refresh() {
    const res = await send({
      url: `${this.baseURL}/auth/refresh`,
      method: 'POST',
      data: { refresh_token: wx.getStorageSync(REFRESH_KEY) },
    });
    if (res.statusCode === 200) return this.save(res.data);
    if (res.statusCode === 401) {
      // The refresh token is dead (expired, revoked): log in again.
      wx.removeStorageSync(REFRESH_KEY);
      return this.login();
    }
    throw new AuthError(`refresh failed: HTTP ${res.statusCode}`);
  }

  async login() {
    const code = await wxLogin();
    const res = await send({ url: `${this.baseURL}/auth/login`, method: 'POST', data: { code } });
    if (res.statusCode !== 200) {
      wx.showToast({ title: '登录失败', icon: 'none' });
      wx.reLaunch({ url: LOGIN_PAGE });
      throw new AuthError(`login failed: HTTP ${res.statusCode} ${JSON.stringify(res.data)}`);
    }
    return this.save(res.data);
  }

  save(data) {
    wx.setStorageSync(ACCESS_KEY, data.access_token);
    wx.setStorageSync(REFRESH_KEY, data.refresh_token);
    getApp().globalData.loggedIn = true;
    return data.access_token;
  }
}

export const http = new Http(tokenstorm.backendURL);
