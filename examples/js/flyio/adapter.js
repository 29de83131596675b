// flyio 0.6 (its wx.request engine) with token renewal written the way flyio's documentation
// shows it (README "在拦截器中执行异步任务", and the interceptor guide): the request interceptor
// adds the token (locking the instance while it logs in when there is none); on a 401 the
// response interceptor locks itself, renews, unlocks and replays the request with fly.request.
// Fetch the library first:
//
//   npm install --prefix examples/js/flyio
//   tokenstorm run --client js:examples/js/flyio/adapter.js
//
// Verdict (see README.md): fails single-refresh (the responses queued behind the lock each renew
// again once it is released), bounded-retry (the same when renewal fails: every queued request
// tries its own) and no-lost-requests (a 401 that is not about the token is renewed for and
// replayed forever; its caller never gets an answer).
import Fly from 'flyio/dist/npm/wx';

const fly = new Fly();
const tokenFly = new Fly();
fly.config.baseURL = tokenstorm.backendURL;
tokenFly.config.baseURL = tokenstorm.backendURL;

function save(d) {
  wx.setStorageSync('token', d.access_token);
  wx.setStorageSync('refresh_token', d.refresh_token);
}
function login() {
  return wx.login().then(({ code }) => tokenFly.post('/auth/login', { code })).then((r) => save(r.data));
}
function renew() {
  const rt = wx.getStorageSync('refresh_token');
  if (!rt) return login();
  return tokenFly.post('/auth/refresh', { refresh_token: rt }).then((r) => save(r.data), () => login());
}

fly.interceptors.request.use(function (request) {
  if (!wx.getStorageSync('token')) {
    fly.lock();
    return login().then(() => {
      request.headers.Authorization = 'Bearer ' + wx.getStorageSync('token');
      return request;
    }).finally(() => fly.unlock());
  }
  request.headers.Authorization = 'Bearer ' + wx.getStorageSync('token');
  return request;
});

fly.interceptors.response.use(
  (response) => response,
  function (err) {
    if (err.status === 401) {
      this.lock();
      return renew()
        .finally(() => this.unlock())
        .then(() => fly.request(err.request));
    }
  }
);

export async function call(req) {
  try {
    const res = await fly.request(req.path, req.body, { method: req.method, headers: Object.assign({}, req.header), parseJson: false });
    return { statusCode: res.engine && res.engine.status || 200, data: res.data, header: res.headers };
  } catch (err) {
    // An HTTP answer to this request is what the page got; the renewal's own failure reached it as an error.
    if (err.response && err.request && String(err.request.url).indexOf(req.path) >= 0) {
      return { statusCode: err.status, data: err.response.data, header: err.response.headers };
    }
    throw err;
  }
}
