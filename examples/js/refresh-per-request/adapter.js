// refresh-per-request/adapter.js — BROKEN wrapper (see request.js): a refresh
// per expired request instead of one per expiry.
const { request } = require('./request');

module.exports.call = function call(req) {
  return request({ url: req.url, method: req.method, data: req.data, header: req.header }).then(function (res) {
    return { statusCode: res.statusCode, data: res.data, header: res.header };
  });
};
