// app-launch-race/adapter.js — BROKEN (breaks `single-refresh`): the same
// request module as app-launch, but the app's launch code was written
// separately: it renews an expired stored token on its own (a direct
// refresh, outside the requests' single flight) and keeps the result under
// its own storage key. The first page's requests still find the old token
// expired and renew again with the same refresh token: two renewals in one
// expiry episode, whichever reaches the backend first. Invisible until the
// app is really relaunched with an expired token (probe app-relaunch).
import { request } from '../app-launch/request';

const BASE = tokenstorm.backendURL;

App({
  onLaunch() {
    if (Date.now() < Number(wx.getStorageSync('expires_at') || 0)) return;
    wx.request({
      url: `${BASE}/auth/refresh`,
      method: 'POST',
      data: { refresh_token: wx.getStorageSync('refresh_token') },
      success(res) {
        if (res.statusCode === 200) wx.setStorageSync('session', res.data); // not where request.js looks
      },
    });
  },
});

export async function call(req) {
  const res = await request({ url: req.url, method: req.method, data: req.data, header: req.header });
  return { statusCode: res.statusCode, data: res.data, header: res.header };
}
