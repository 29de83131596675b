// correct/adapter.js — the tokenstorm adapter for the wrapper in request.js.
// tokenstorm calls call(req) for every logical request of a simulated device;
// the adapter makes the request the way the app's pages would and resolves
// with the answer the page got.
import { http } from './request.js';

export async function call(req) {
  const res = await http.request({
    url: req.url, // absolute backend URL, carrying the request id (rid)
    method: req.method,
    data: req.data,
    header: req.header,
  });
  return { statusCode: res.statusCode, data: res.data, header: res.header };
}
