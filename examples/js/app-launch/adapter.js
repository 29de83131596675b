// app-launch/adapter.js — CORRECT (see request.js): the app's launch code
// checks the stored token through the requests' single flight.
import { request, validToken } from './request';

App({
  onLaunch() {
    // Renew a stored token that expired while the app was closed.
    validToken().catch((e) => console.warn('launch: ' + e.message));
  },
});

export async function call(req) {
  const res = await request({ url: req.url, method: req.method, data: req.data, header: req.header });
  return { statusCode: res.statusCode, data: res.data, header: res.header };
}
