// single-slot — BROKEN (lost requests, breaks `no-lost-requests`): the wrapper
// keeps ONE global slot for "the request to replay after the refresh".
// Concurrent expired requests overwrite each other; only the last one is
// replayed and the promises of the others never settle: blank pages.
//
// CommonJS, module-level state, as found in many utils/request.js files.

var BASE = tokenstorm.backendURL;
var isRefreshing = false;
var pendingRequest = null; // BUG: one slot for any number of waiting requests

function post(path, data) {
  return new Promise(function (resolve, reject) {
    wx.request({
      url: BASE + path, method: 'POST', data: data,
      success: resolve,
      fail: function (e) { reject(new Error(e.errMsg)); },
    });
  });
}

function login() {
  return new Promise(function (resolve, reject) {
    wx.login({ success: function (r) { resolve(r.code); }, fail: reject });
  }).then(function (code) {
    return post('/auth/login', { code: code });
  }).then(function (res) {
    if (res.statusCode !== 200) throw new Error('login failed');
    save(res.data);
  });
}

function refreshToken() {
  return post('/auth/refresh', { refresh_token: wx.getStorageSync('refresh_token') }).then(function (res) {
    if (res.statusCode !== 200) throw new Error('refresh failed');
    save(res.data);
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
        if (res.statusCode !== 401) return resolve(res);
        pendingRequest = { options: options, resolve: resolve, reject: reject }; // overwrites!
        if (isRefreshing) return;
        isRefreshing = true;
        refreshToken().then(function () {
          isRefreshing = false;
          var p = pendingRequest;
          pendingRequest = null;
          request(p.options).then(p.resolve, p.reject);
        }, function (err) {
          isRefreshing = false;
          var p = pendingRequest;
          pendingRequest = null;
          p.reject(err);
        });
      },
      fail: function (e) { reject(new Error(e.errMsg)); },
    });
  });
}

module.exports = { request: request };
