// app-launch-race/adapter.js — BROKEN (breaks `single-refresh`): the same
// wrapper as app-launch, but the launch code renews an expired stored token
// on its own (a direct refresh, outside the requests' single flight), so
// the first page's requests, which also find the token expired, start a
// second renewal while the launch one runs. Invisible until the app is
// really relaunched with an expired token (probe app-relaunch).
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
        if (res.statusCode !== 200) return;
        wx.setStorageSync('token', res.data.access_token);
        wx.setStorageSync('refresh_token', res.data.refresh_token);
        wx.setStorageSync('expires_at', Date.now() + res.data.expires_in * 1000);
      },
    });
  },
});

export async function call(req) {
  const res = await request({ url: req.url, method: req.method, data: req.data, header: req.header });
  return { statusCode: res.statusCode, data: res.data, header: res.header };
}
