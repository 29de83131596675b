// refresh-per-request — BROKEN (refresh storm, breaks `single-refresh`): every
// request that meets an expired token starts its own refresh. K requests in
// flight → K refreshes with the same refresh token; with rotation and reuse
// detection all but the first fail and the whole token family is revoked.
//
// CommonJS and callbacks, as in many older mini-programs.

var BASE = tokenstorm.backendURL;

function login() {
  return new Promise(function (resolve, reject) {
    wx.login({
      success: function (r) {
        wx.request({
          url: BASE + '/auth/login',
          method: 'POST',
          data: { code: r.code },
          success: function (res) {
            if (res.statusCode !== 200) return reject(new Error('login failed: ' + res.statusCode));
            save(res.data);
            resolve();
          },
          fail: function (e) { reject(new Error(e.errMsg)); },
        });
      },
      fail: function (e) { reject(new Error(e.errMsg)); },
    });
  });
}

function refreshToken() {
  return new Promise(function (resolve, reject) {
    wx.request({
      url: BASE + '/auth/refresh',
      method: 'POST',
      data: { refresh_token: wx.getStorageSync('refresh_token') },
      success: function (res) {
        if (res.statusCode !== 200) return reject(new Error('refresh failed: ' + JSON.stringify(res.data)));
        save(res.data);
        resolve();
      },
      fail: function (e) { reject(new Error(e.errMsg)); },
    });
  });
}

function save(data) {
  wx.setStorageSync('token', data.access_token);
  wx.setStorageSync('refresh_token', data.refresh_token);
}

function request(options) {
  if (!wx.getStorageSync('token')) {
    return login().then(function () { return request(options); });
  }
  return new Promise(function (resolve, reject) {
    wx.request({
      url: options.url,
      method: options.method,
      data: options.data,
      header: Object.assign({}, options.header, { Authorization: 'Bearer ' + wx.getStorageSync('token') }),
      success: function (res) {
        if (res.statusCode === 401 && !options._retried) {
          // BUG: no single flight — each expired request refreshes on its own.
          refreshToken().then(function () {
            options._retried = true;
            request(options).then(resolve, reject);
          }, reject);
          return;
        }
        resolve(res);
      },
      fail: function (e) { reject(new Error(e.errMsg)); },
    });
  });
}

module.exports = { request: request };
