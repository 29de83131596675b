#!/usr/bin/env python3
# Minimal tokenstorm exec client (docs/exec-protocol.md, protocol 3) in Python 3
# with only the standard library, bearer style: per-device tokens, one renewal
# per device at a time (single flight), one replay, renewal shortly before
# expiry by the device's own clock (clock_offset_ms). Bodies are assumed UTF-8.
#   tokenstorm conform --client exec:'python3 examples/exec/python/client.py'
import json, sys, threading, time, urllib.request, urllib.error

out_lock, devices = threading.Lock(), {}

def send(msg):
    with out_lock:  # one whole line at a time: answers come from many threads
        sys.stdout.write(json.dumps(msg) + "\n"); sys.stdout.flush()

def http(method, url, body=None, headers={}):
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r: return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e: return e.code, e.headers, e.read()

def post(url, obj):
    status, _, body = http("POST", url, json.dumps(obj).encode(), {"Content-Type": "application/json"})
    return status, json.loads(body)

def renew(dev, stale, offset):  # holding the device's lock makes concurrent renewals one
    with dev["lock"]:
        if dev.get("access") and dev["access"] != stale: return dev["access"]  # done by another
        failed = dev.get("failed")  # waiters of a renewal that just failed share its error: no retry storm
        if failed and failed[0] == stale and time.monotonic() - failed[1] < 1.0: raise failed[2]
        status, pair = post(B + "/auth/refresh", {"refresh_token": dev["refresh"]}) if dev.get("refresh") else (401, None)
        if status in (400, 401):  # no refresh token, or a dead one: log in again
            _, wx = post(W + "/__mock/wx/login", {"appid": APPID, "user": dev["name"]})
            status, pair = post(B + "/auth/login", {"code": wx["code"]})
        if status != 200:
            dev["failed"] = (stale, time.monotonic(), RuntimeError(f"token renewal failed: HTTP {status} {pair}"))
            raise dev["failed"][2]
        dev["access"], dev["refresh"], life = pair["access_token"], pair["refresh_token"], pair.get("expires_in", 0)
        # by the device's clock (ours + its offset), renew 30 s before expiry (at most half its life)
        dev["renew_at"] = time.time() + offset + life - min(30, life / 2) if life else None
        return dev["access"]

def handle(c):
    try:
        dev = devices.setdefault(c["device"], {"name": c["device"], "lock": threading.Lock()})
        body = c.get("body", "").encode() or None
        attempt = lambda tok: http(c["method"], B + c["path"], body, {**c["headers"], "Authorization": "Bearer " + tok})
        offset = c.get("clock_offset_ms", 0) / 1000  # this phone's clock minus ours
        token = dev.get("access") or renew(dev, None, offset)
        if dev.get("renew_at") and time.time() + offset >= dev["renew_at"]:
            try: token = renew(dev, token, offset)  # expiring by the device's clock
            except Exception: pass  # the old token may still work: the backend decides
        status, headers, resp = attempt(token)
        if status == 401 and "invalid_token" in headers.get("WWW-Authenticate", ""):
            status, headers, resp = attempt(renew(dev, token, offset))  # the one replay
        send({"id": c["id"], "status": status, "headers": dict(headers), "body": resp.decode()})
    except Exception as e:
        send({"id": c["id"], "error": str(e)})

hello = json.loads(sys.stdin.readline())
B, W, APPID = hello["backend_url"], hello["wechat_url"], hello["appid"]
send({"type": "hello", "protocol": 3, "name": "python-minimal"})  # 3: we honour clock_offset_ms
for line in sys.stdin:  # calls run concurrently; answers go out as they finish
    call = json.loads(line)
    if call.get("type") == "call": threading.Thread(target=handle, args=(call,)).start()
