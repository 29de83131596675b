// verify-first — CORRECT, the way many real wrappers are written: before a
// request it asks the backend's verify route whether the stored token is
// still good (one verify shared by every request in flight),
// and when verify answers expired it logs in again ONCE for all of them
// (single flight) before sending. A 401 on the request itself (the token
// expired between verify and the request) is handled too: one shared
// re-login, one replay. It never refreshes: verify + wx.login is its whole
// strategy, so its requests rarely meet an expiry at all.
//
// tokenstorm counts verify's expired answer as the start of the expiry
// episode, so the one login that follows is amplification 1.00.

const BASE = tokenstorm.backendURL;

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

let checking = null; // the verify in flight, shared
let loggingIn = null; // the login in flight, shared

function login() {
  if (!loggingIn) {
    loggingIn = (async () => {
      // WeChat busy (503) is retried twice, each time with a fresh code.
      for (let attempt = 1; ; attempt++) {
        const { code } = await wx.login();
        const res = await send({ url: `${BASE}/auth/login`, method: 'POST', data: { code } });
        if (res.statusCode === 200) {
          wx.setStorageSync('token', res.data.access_token);
          return res.data.access_token;
        }
        if (res.statusCode !== 503 || attempt >= 3) {
          throw new Error(`login failed: HTTP ${res.statusCode} ${JSON.stringify(res.data)}`);
        }
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    })().finally(() => {
      loggingIn = null;
    });
  }
  return loggingIn;
}

// validToken resolves with a token verify (or a fresh login) vouched for.
async function validToken() {
  const token = wx.getStorageSync('token');
  if (!token) return login();
  if (loggingIn) return loggingIn;
  if (!checking) {
    checking = send({ url: `${BASE}/auth/verify`, header: { Authorization: `Bearer ${token}` } })
      .then((res) => {
        if (res.statusCode === 200) return token;
        if (tokenProblem(res)) {
          // Replaced meanwhile? Use that one; else one shared login.
          const current = wx.getStorageSync('token');
          return current && current !== token ? current : login();
        }
        throw new Error(`verify failed: HTTP ${res.statusCode}`);
      })
      .finally(() => {
        checking = null;
      });
  }
  return checking;
}

export async function request({ url, method = 'GET', data, header = {} }) {
  const token = await validToken();
  const once = (t) => send({ url, method, data, header: { ...header, Authorization: `Bearer ${t}` } });
  const res = await once(token);
  if (!tokenProblem(res)) return res;
  // Expired between verify and the request. A token another request already
  // replaced is used as it is; otherwise one shared login.
  const current = wx.getStorageSync('token');
  const fresh = current && current !== token ? current : await login();
  return once(fresh);
}
