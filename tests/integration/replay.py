#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Making a captured request again (POST /api/replay), live.

Two fresh network namespaces with nginx on the server side; htracr runs in
the client namespace, capturing on the client's veth and serving its API on
that namespace's loopback. curl makes one request with a header of its own;
then the test asks htracr to make it again and checks that the new exchange
crossed the wire and is in the model: a second request on a new connection
with the same method, URL and headers (plus Connection: close), and its
response. Also: without the token, the call is refused and nothing is sent;
a response's id is refused. Root only.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import netns  # noqa: E402

HTRACR = os.path.join(ROOT, "htracr")
API_PORT = 8397
passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what + (" (%s)" % detail if detail else ""))
    return ok


def api(p, method, path, token=None):
    """curl inside the client namespace: (status, body)."""
    argv = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", method]
    if token:
        argv += ["-H", "X-Htracr-Token: " + token]
    r = p.client.run(argv + ["http://127.0.0.1:%d%s" % (API_PORT, path)])
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


def requests(p):
    st, body = api(p, "GET", "/api/model")
    d = json.loads(body)
    return [m for c in d["connections"] for m in c["messages"] if m["kind"] == "request"], d


def main():
    if not netns.is_root():
        print("skip replay: needs root (namespaces, live capture)")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    with netns.Pair("htr-rep") as p:
        p.start_nginx("server { listen %s:80; location / { return 200 'hello\\n'; } }" %
                      p.server_addr)
        p.client.run(["ip", "link", "set", "lo", "up"])
        h = p.client.popen([HTRACR, "-i", p.client_if, "-p", "80", str(API_PORT)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 10
            while time.time() < deadline:
                st, _ = api(p, "GET", "/api/status")
                if st == 200:
                    break
                time.sleep(0.1)
            r = p.client.run(["curl", "-s", "-H", "X-Replay-Test: 42", p.url("/thing?x=1")])
            check(r.stdout == "hello\n", "curl got the response", r.stdout)
            time.sleep(0.5)
            reqs, _ = requests(p)
            if not check(len(reqs) == 1, "one request captured", len(reqs)):
                return 1
            first = reqs[0]
            st, page = api(p, "GET", "/")
            m = re.search(r'name="htracr-token" content="([0-9a-f]+)"', page)
            token = m.group(1) if m else ""
            check(bool(token), "the page carries the token")
            st, body = api(p, "POST", "/api/replay?msg=%d" % first["id"])
            check(st == 403, "replay without the token: 403", st)
            st, body = api(p, "POST", "/api/replay?msg=%d" % first["response"], token)
            check(st == 400, "replay of a response: 400", "%d %s" % (st, body))
            time.sleep(0.5)
            reqs, _ = requests(p)
            check(len(reqs) == 1, "nothing was sent by the refused calls", len(reqs))
            st, body = api(p, "POST", "/api/replay?msg=%d" % first["id"], token)
            check(st == 200, "replay with the token: 200", "%d %s" % (st, body))
            deadline = time.time() + 5
            while time.time() < deadline:
                reqs, doc = requests(p)
                if len(reqs) >= 2 and reqs[1].get("response"):
                    break
                time.sleep(0.2)
            if check(len(reqs) == 2, "the new request was captured", len(reqs)):
                again = reqs[1]
                check(again["method"] == "GET" and again["url"] == "/thing?x=1",
                      "same method and URL", "%s %s" % (again["method"], again["url"]))
                hdr = {k.lower(): v for k, v in again["headers"]}
                check(hdr.get("x-replay-test") == "42", "the captured header went again",
                      again["headers"])
                check(hdr.get("connection") == "close", "Connection: close", again["headers"])
                conns = {c["id"]: c for c in doc["connections"]}
                owner = [c for c in doc["connections"]
                         if any(mm["id"] == again["id"] for mm in c["messages"])]
                check(len(owner) == 1 and len(conns) == 2, "on a connection of its own",
                      "%d connections" % len(conns))
                resp = [mm for c in owner for mm in c["messages"] if mm["kind"] == "response"]
                check(len(resp) == 1 and resp[0]["status"] == 200 and resp[0]["body_bytes"] == 6,
                      "its response: 200, 6 bytes", resp)
        finally:
            h.send_signal(signal.SIGINT)
            try:
                h.wait(timeout=10)
            except subprocess.TimeoutExpired:
                h.kill()
    print("%d passed, %d failed, 0 skipped" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
