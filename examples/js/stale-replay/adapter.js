// stale-replay/adapter.js — BROKEN wrapper (see request.js): replays with
// the token the request was first sent with.
import http from './request';

export async function call(req) {
  const res = await http.request({ url: req.url, method: req.method, data: req.data, header: req.header });
  return { statusCode: res.statusCode, data: res.data, header: res.header };
}
