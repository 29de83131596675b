// axios 0.27 + axios-miniprogram-adapter (wx.request) + axios-auth-refresh 3.3.6, set up as their
// READMEs show it in a mini-program's utils/request.js. The refresh orchestration (who renews,
// who waits, what is replayed) is axios-auth-refresh's; the app supplies only what its README
// asks for: refreshAuthLogic (renew the pair, set the failed request's header) and a request
// interceptor that adds the token. Fetch the libraries first:
//
//   npm install --prefix examples/js/axios-auth-refresh
//   tokenstorm run --client js:examples/js/axios-auth-refresh/adapter.js
//
// Verdict (see README.md): fails single-refresh (a late 401 — a request sent with the old token
// whose 401 arrives after the refresh — starts another refresh) and bounded-retry (every 401 is
// refreshed for and replayed, password_required included).
import axios from 'axios';
import mpAdapter from 'axios-miniprogram-adapter';
import createAuthRefreshInterceptor from 'axios-auth-refresh';

const api = axios.create({ baseURL: tokenstorm.backendURL, adapter: mpAdapter });
const auth = axios.create({ baseURL: tokenstorm.backendURL, adapter: mpAdapter });

async function refreshAuthLogic(failedRequest) {
  let pair;
  const rt = wx.getStorageSync('refresh_token');
  if (rt) {
    pair = await auth.post('/auth/refresh', { refresh_token: rt }).then((r) => r.data, () => undefined);
  }
  if (!pair) {
    const { code } = await wx.login();
    pair = (await auth.post('/auth/login', { code })).data;
  }
  wx.setStorageSync('token', pair.access_token);
  wx.setStorageSync('refresh_token', pair.refresh_token);
  failedRequest.response.config.headers['Authorization'] = 'Bearer ' + pair.access_token;
}
createAuthRefreshInterceptor(api, refreshAuthLogic);
api.interceptors.request.use((config) => {
  const t = wx.getStorageSync('token');
  if (t) config.headers['Authorization'] = 'Bearer ' + t;
  return config;
});

export async function call(req) {
  try {
    const res = await api.request({ url: req.path, method: req.method, data: req.body, headers: req.header });
    return { statusCode: res.status, data: res.data, header: res.headers };
  } catch (err) {
    // The answer to this very request is what the page got; the renewal's own failure is an error.
    if (err.response && err.config && err.config.url === req.path) {
      return { statusCode: err.response.status, data: err.response.data, header: err.response.headers };
    }
    throw err;
  }
}
