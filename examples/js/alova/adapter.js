// alova 3 with @alova/adapter-uniapp (uni.request) and alova's own token refresh,
// createServerTokenAuthentication({ refreshTokenOnSuccess }), set up as alova's documentation
// shows it: the library holds the requests that meet the expiry (its waitingList) while one
// refresh runs and re-sends them. The app supplies only isExpired, the refresh handler and
// assignToken. Fetch the libraries first:
//
//   npm install --no-package-lock --prefix examples/js/alova
//   tokenstorm run --client js:examples/js/alova/adapter.js
//
// Verdict (see README.md): fails no-lost-requests (every caller's `finally` in alova's
// refreshTokenIfExpired clears the waiting list and the "refreshing" flag, so waiters queued
// behind a later refresh, or behind one that failed, are dropped and never settle) and
// single-refresh (a 401 arriving after the flag was cleared starts another refresh).
import { createAlova } from 'alova';
import { createServerTokenAuthentication } from 'alova/client';
import AdapterUniapp from '@alova/adapter-uniapp';

const uniAdapter = AdapterUniapp();
const tokenProblem = (r) => r.statusCode === 401 && r.data && (r.data.error === 'token_expired' || r.data.error === 'invalid_token');

// Login and refresh go through an instance of their own, outside the token authentication.
const auth = createAlova({ baseURL: tokenstorm.backendURL, ...uniAdapter, cacheFor: null, responded: (r) => r });

async function renew() {
  let pair;
  const rt = uni.getStorageSync('refresh_token');
  if (rt) {
    const r = await auth.Post('/auth/refresh', { refresh_token: rt }).send();
    if (r.statusCode === 200) pair = r.data;
  }
  if (!pair) {
    const { code } = await uni.login();
    const r = await auth.Post('/auth/login', { code }).send();
    if (r.statusCode !== 200) throw new Error('login failed: HTTP ' + r.statusCode);
    pair = r.data;
  }
  uni.setStorageSync('token', pair.access_token);
  uni.setStorageSync('refresh_token', pair.refresh_token);
}

const { onAuthRequired, onResponseRefreshToken } = createServerTokenAuthentication({
  assignToken: (method) => {
    const t = uni.getStorageSync('token');
    if (t) method.config.headers.Authorization = 'Bearer ' + t;
  },
  refreshTokenOnSuccess: { isExpired: tokenProblem, handler: renew },
});

const alova = createAlova({
  baseURL: tokenstorm.backendURL,
  ...uniAdapter,
  cacheFor: null, // every call reaches the backend
  shareRequest: false, // identical concurrent calls are separate requests, as the caller made them
  beforeRequest: onAuthRequired(),
  responded: onResponseRefreshToken((response) => response),
});

export async function call(req) {
  const res = await alova.Request({ url: req.path, method: req.method, data: req.body, headers: Object.assign({}, req.header) }).send();
  return { statusCode: res.statusCode, data: res.data, header: res.header };
}
