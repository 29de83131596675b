// verify-before-every-call/adapter.js — BROKEN wrapper (see request.js):
// checks the token before every call instead of handling the 401.
import { request } from './request';

export async function call(req) {
  const res = await request({ url: req.url, method: req.method, data: req.data, header: req.header });
  return { statusCode: res.statusCode, data: res.data, header: res.header };
}
