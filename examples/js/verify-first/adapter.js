// verify-first/adapter.js — CORRECT wrapper (see request.js): verifies the
// token before requests and logs in once when verify says it expired.
import { request } from './request';

export async function call(req) {
  const res = await request({ url: req.url, method: req.method, data: req.data, header: req.header });
  return { statusCode: res.statusCode, data: res.data, header: res.header };
}
