// no-replay/adapter.js — BROKEN wrapper (see request.js): the request that
// met the expiry is not replayed; its caller gets the 401 as an error.
import { request } from './request';

export async function call(req) {
  const res = await request({ url: req.url, method: req.method, data: req.data, header: req.header });
  return { statusCode: res.statusCode, data: res.data, header: res.header };
}
