// single-slot/adapter.js — BROKEN wrapper (see request.js): a single global
// pending-request slot loses concurrent expired requests.
var request = require('./request').request;

exports.call = function (req) {
  return request({ url: req.url, method: req.method, data: req.data, header: req.header }).then(function (res) {
    return { statusCode: res.statusCode, data: res.data, header: res.header };
  });
};
