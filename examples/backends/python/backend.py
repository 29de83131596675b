#!/usr/bin/env python3
"""A token backend in plain Python 3 (standard library only), shaped like real
mini-program backends: WeChat login through jscode2session, rotating refresh
tokens (a reused one revokes the family), a business code in every answer and
the tokens nested under "data". tokenstorm tests it through style.yaml next to
this file (docs/ci.md):

    WECHAT_BASE_URL=http://127.0.0.1:9400 ACCESS_TOKEN_TTL=3 python3 backend.py --port 8080 &
    tokenstorm run --backend http://127.0.0.1:8080 --style examples/backends/python/style.yaml
"""
import argparse
import json
import os
import secrets
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WECHAT = os.environ.get("WECHAT_BASE_URL", "http://127.0.0.1:9400")
APPID = os.environ.get("WECHAT_APPID", "wx7e57570c3e5a1b2c")
SECRET = os.environ.get("WECHAT_SECRET", "tokenstorm-secret-0123456789abcdef")
ACCESS_TTL = float(os.environ.get("ACCESS_TOKEN_TTL", "7200"))
REFRESH_TTL = float(os.environ.get("REFRESH_TOKEN_TTL", str(30 * 86400)))

lock = threading.Lock()
access = {}     # token -> (openid, family, expires)
refresh = {}    # token -> (openid, family, expires, used)
revoked = set()  # families
effects = [0]


def issue(openid, family):
    now = time.time()
    a, r = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    access[a] = (openid, family, now + ACCESS_TTL)
    refresh[r] = (openid, family, now + REFRESH_TTL, False)
    return {"code": 0, "data": {"token": a, "refresh_token": r, "expires_in": int(ACCESS_TTL)}}


def jscode2session(code):
    q = urllib.parse.urlencode({"appid": APPID, "secret": SECRET, "js_code": code, "grant_type": "authorization_code"})
    try:
        with urllib.request.urlopen(WECHAT + "/sns/jscode2session?" + q, timeout=5) as r:
            return json.loads(r.read().decode() or "{}")
    except (OSError, ValueError):
        return {"errcode": -1}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: tokenstorm makes thousands of calls
        pass

    def answer(self, status, body, headers=()):
        b = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(b)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 1 << 20:
            return None
        try:
            v = json.loads(self.rfile.read(n) or b"{}")
            return v if isinstance(v, dict) else None
        except ValueError:
            return None

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/api/login":
            return self.login()
        if path == "/api/refresh":
            return self.renew()
        return self.resource()

    def do_GET(self):
        return self.resource()

    # Every method a client may send to a resource (an unhandled one would
    # leave its body unread on a kept-alive connection).
    do_PUT = do_PATCH = do_DELETE = do_GET

    def login(self):
        b = self.body()
        code = b.get("code") if b else None
        if not isinstance(code, str) or not code:
            return self.answer(400, {"code": 40000, "msg": "missing code"})
        wx = jscode2session(code)
        if "openid" not in wx:
            e = wx.get("errcode", -1)
            if e in (-1, 45011):
                return self.answer(503, {"code": 50300, "msg": "wechat busy", "wechat_errcode": e}, [("Retry-After", "1")])
            if e in (40013, 40125):
                return self.answer(502, {"code": 50200, "msg": "wechat refused our app", "wechat_errcode": e})
            return self.answer(400, {"code": 40001, "msg": "bad code", "wechat_errcode": e})
        with lock:
            return self.answer(200, issue(wx["openid"], secrets.token_hex(8)))

    def renew(self):
        b = self.body()
        rt = b.get("refresh_token") if b else None
        with lock:
            rec = refresh.get(rt) if isinstance(rt, str) else None
            if rec is None:
                return self.answer(401, {"code": 40103, "msg": "refresh token refused"})
            openid, family, expires, used = rec
            if used:  # reuse of a rotated token: revoke the whole family (RFC 9700 §4.14.2)
                revoked.add(family)
            if used or family in revoked or time.time() >= expires:
                return self.answer(401, {"code": 40103, "msg": "refresh token refused"})
            refresh[rt] = (openid, family, expires, True)
            return self.answer(200, issue(openid, family))

    def resource(self):
        path = urllib.parse.urlsplit(self.path).path
        n = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(n) if n else b""  # always: the connection is kept alive
        if not path.startswith("/api/v1/"):
            return self.answer(404, {"code": 40400, "msg": "no route"})
        tok = self.headers.get("X-Access-Token", "")
        with lock:
            rec = access.get(tok)
            if rec is None or rec[1] in revoked:
                return self.answer(401, {"code": 40102, "msg": "invalid token"})
            if time.time() >= rec[2]:
                return self.answer(401, {"code": 40101, "msg": "token expired"})
            if path.endswith("/reauth"):
                return self.answer(403, {"code": 40300, "msg": "second factor required"})
            if self.command == "GET":
                return self.answer(200, {"code": 0, "data": {"path": path, "items": [1, 2, 3]}})
            effects[0] += 1
            return self.answer(200, {"code": 0, "data": {"effect": effects[0], "bytes": len(payload)}})


class Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: a storm's burst of new
    # connections would wait out SYN retransmits (1 s, 3 s, 7 s ...) and
    # show up as late or lost requests that are the listen queue's, not
    # the backend's.
    request_queue_size = 1024
    daemon_threads = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    a = p.parse_args()
    srv = Server((a.host, a.port), Handler)
    print(f"python-backend: listening on http://{a.host}:{srv.server_port} (WeChat {WECHAT}, access ttl {ACCESS_TTL:g}s)", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
