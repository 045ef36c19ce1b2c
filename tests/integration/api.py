#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The web server's API (src/server.c, docs/api.md) from the outside.

The server sits at the end of the pipeline, beside the exporters: it shows
the store to the page. This suite builds tests/integration/api_drv.c (a
small controller that loads a capture file through the pipeline and serves
it, standing in for main.c) against the objects `make` built, starts it on a
free loopback port, and talks to it as the page would, with nothing but the
Python standard library:

  - status and the model: counts equal `htracr -r FILE --json`, connection
    objects equal --json's but for the compact packets, whose analysis bit
    masks name the same flags; incremental fetching (`gen` + `since`)
    returns only changed connections, and a new generation after clear or
    upload returns everything again; a model growing as live capture grows
    it, fetched with tails=1, puts together to the whole model;
  - security: a foreign Host header, OPTIONS, a POST without the token, a
    websocket without the token: all 403; no CORS header ever; ".." paths
    refused; no directory listing; an upload past the limit: 413;
  - uploads: a pcap replaces the model; a file that is not one gets 400;
  - the decoded body of a gzip response equals the text that was
    compressed (a capture made here with tests/badinput/mkpcap.py);
  - packet detail: the payload of a request packet, or a 404 saying its
    bytes were not kept;
  - the websocket feed sends a frame after a change;
  - the embedded web/ files are served byte for byte (index.html with the
    token put in), and the page's token unlocks POSTs.

No root needed. Output: "ok   name" / "FAIL name: why" / "skip name: why",
then "N passed, N failed, N skipped"; exit status 1 on any failure.

Environment: HTRACR_OUT (build directory, default .output), HTRACR_BIN
(default ./htracr), HTRACR_SANITIZE (e.g. address,undefined when OUT is a
sanitizer build), API_DRV_WRAP (a command to run the driver under, e.g.
"valgrind --error-exitcode=9").
"""

import base64
import gzip
import http.client
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "badinput"))

import mkpcap  # noqa: E402

OUT = os.environ.get("HTRACR_OUT", os.path.join(REPO, ".output"))
HTRACR = os.environ.get("HTRACR_BIN", os.path.join(REPO, "htracr"))
CORPUS = "/work/shared/corpus"
MANY = os.path.join(CORPUS, "zeek", "methods", "methods.pcap")
GZIP_CORPUS = os.path.join(CORPUS, "zeek", "pipelined-requests", "pipelined-requests.pcap")
LOSSY = os.path.join(CORPUS, "zeek", "retransmit-fast009", "retransmit-fast009.pcap")
UPLOAD_LIMIT = 200000
PLACEHOLDER = b"__HTRACR_TOKEN__"
TOKEN_RE = re.compile(rb'<meta name="htracr-token" content="([0-9a-f]{32})">')


class Results:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def ok(self, name):
        self.passed += 1
        print("ok   " + name, flush=True)

    def fail(self, name, why):
        self.failed += 1
        print("FAIL %s: %s" % (name, why), flush=True)

    def skip(self, name, why):
        self.skipped += 1
        print("skip %s: %s" % (name, why), flush=True)

    def check(self, name, cond, why=""):
        if cond:
            self.ok(name)
        else:
            self.fail(name, why or "check failed")
        return cond

    def eq(self, name, expected, got):
        return self.check(name, expected == got, "expected %r got %r" % (expected, got))


# ------------------------------------------------------------------ build

def build_driver(tmp):
    objs = sorted(os.path.join(OUT, "src", f) for f in os.listdir(os.path.join(OUT, "src"))
                  if f.endswith(".o") and f != "main.o")
    objs += sorted(os.path.join(OUT, "llhttp", f) for f in os.listdir(os.path.join(OUT, "llhttp"))
                   if f.endswith(".o"))
    objs.append(os.path.join(OUT, "web_assets.o"))
    pkgs = ["libpcap", "zlib"]
    if os.path.exists(os.path.join(OUT, "src", "capture_bpf.o")):
        pkgs += ["libbpf", "libelf"]
    try:
        libs = subprocess.run(["pkg-config", "--libs"] + pkgs, check=True, capture_output=True,
                              text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        libs = ["-lpcap", "-lz"] + (["-lbpf", "-lelf"] if "libbpf" in pkgs else [])
    san = os.environ.get("HTRACR_SANITIZE")
    sanflags = ["-fsanitize=" + san, "-fno-omit-frame-pointer"] if san else []
    exe = os.path.join(tmp, "api_drv")
    cmd = (["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-g", "-O1", "-D_GNU_SOURCE",
            "-I" + os.path.join(REPO, "include")] + sanflags +
           ["-o", exe, os.path.join(HERE, "api_drv.c")] + objs + libs +
           ["-lcivetweb", "-lpthread"])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("building api_drv failed:\n" + r.stderr[-2000:])
    return exe


class Driver:
    """api_drv serving a capture on a free port."""

    def __init__(self, exe, capture, web_root="", live=False, env=None):
        wrap = shlex.split(os.environ.get("API_DRV_WRAP", ""))
        env = dict(os.environ, API_DRV_LIVE="1" if live else "0", **(env or {}))
        self.proc = subprocess.Popen(wrap + [exe, capture, "0", str(UPLOAD_LIMIT), web_root],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        m = re.match(r"http://([0-9.]+):(\d+)/$", line)
        if not m:
            self.stop()
            raise RuntimeError("api_drv did not start: %r %s" % (line, self.stderr))
        self.host, self.port = m.group(1), int(m.group(2))
        self.url = line
        self.stderr = ""

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.stderr = err.decode(errors="replace")
        return self.proc.returncode

    def req(self, method, path, body=None, headers=None, host=None):
        """(status, {lower-case header: value}, body bytes)."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", host if host is not None else "%s:%d" % (self.host, self.port))
        for k, v in (headers or {}).items():
            c.putheader(k, v)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, hdrs, data

    def get_json(self, path):
        st, _, body = self.req("GET", path)
        if st != 200:
            raise RuntimeError("GET %s: %d %s" % (path, st, body[:200]))
        return json.loads(body)


# ------------------------------------------------------------------ helpers

def htracr_json(pcap, tmp):
    """htracr's own --json of pcap, or None when the binary cannot give it."""
    out = os.path.join(tmp, "ref.json")
    try:
        r = subprocess.run([HTRACR, "-r", pcap, "--json", out], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0 or not os.path.exists(out):
        return None
    with open(out) as f:
        return json.load(f)


def error_text(body):
    try:
        return json.loads(body).get("error", "")
    except ValueError:
        return ""


def gzip_capture(path, text):
    """One GET answered with text, gzip'd, over Ethernet/IPv4."""
    z = gzip.compress(text)
    with open(path, "wb") as f:
        c = mkpcap.Conv(mkpcap.PcapWriter(f), cport=41000, sport=80)
        c.handshake()
        c.send(0, b"GET /text.txt HTTP/1.1\r\nHost: gzip.test\r\nAccept-Encoding: gzip\r\n\r\n")
        c.send(1, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                  b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(z) + z)
        c.close()
    return len(z)


def ws_open(drv, path):
    """A websocket handshake on a raw socket: (socket, status line, rest of the bytes)."""
    s = socket.create_connection((drv.host, drv.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (path, drv.host, drv.port, key)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    return s, head.split(b"\r\n")[0].decode(errors="replace"), rest


def ws_frame(s, buf, timeout):
    """Next text frame from the server: (text or None on timeout, leftover bytes)."""
    deadline = time.time() + timeout
    while True:
        if len(buf) >= 2:
            op, n = buf[0] & 0x0F, buf[1] & 0x7F
            hl = 2
            if n == 126 and len(buf) >= 4:
                n, hl = struct.unpack("!H", buf[2:4])[0], 4
            elif n == 127 and len(buf) >= 10:
                n, hl = struct.unpack("!Q", buf[2:10])[0], 10
            if n < 126 or hl > 2:
                if len(buf) >= hl + n:
                    payload, buf = buf[hl:hl + n], buf[hl + n:]
                    if op == 1:
                        return payload.decode(), buf
                    continue  # ping and the like
        left = deadline - time.time()
        if left <= 0:
            return None, buf
        s.settimeout(left)
        try:
            d = s.recv(4096)
        except socket.timeout:
            return None, buf
        if not d:
            return None, buf
        buf += d


def ws_close(s):
    mask = os.urandom(4)
    payload = struct.pack("!H", 1000)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    try:
        s.sendall(bytes([0x88, 0x80 | len(payload)]) + mask + masked)
    except OSError:
        pass
    s.close()


def raw_request(drv, data):
    """Send bytes, read until the server closes: the response bytes."""
    s = socket.create_connection((drv.host, drv.port), timeout=10)
    s.sendall(data)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError:
        pass
    s.close()
    return out


def model_counts(m):
    return len(m["connections"]), sum(len(c["messages"]) for c in m["connections"])


def compare_model(res, label, ref, m, skip=()):
    """The API model m against htracr's --json ref: the same top-level
    members, and connection objects equal but for the compact packets, whose
    fields and analysis masks must say what --json's packet objects say."""
    top = [k for k in ref if k not in ("version", "connections") + tuple(skip)]
    res.eq("%smodel's %s equal --json's" % (label, ", ".join(top)), {k: ref[k] for k in top},
           {k: m.get(k) for k in top})
    names = m["analysis_names"]
    bad = []
    for rc, mc in zip(ref["connections"], m["connections"]):
        a = {k: v for k, v in rc.items() if k != "packets"}
        b = {k: v for k, v in mc.items() if k != "packets"}
        # The API leaves out series.rtt, --json's merge of rtt_c2s and
        # rtt_s2c (docs/api.md); it must not have it.
        if "rtt" in b.get("series", {}):
            bad.append("connection %d: the API model carries series.rtt" % rc["id"])
        a["series"] = {k: v for k, v in rc["series"].items() if k != "rtt"}
        if a != b:
            bad.append("connection %d differs: %r" % (rc["id"], sorted(
                k for k in set(a) | set(b) if a.get(k) != b.get(k))))
            continue
        if len(rc["packets"]) != len(mc["packets"]):
            bad.append("connection %d: %d packets, --json has %d" % (
                rc["id"], len(mc["packets"]), len(rc["packets"])))
            continue
        for i, (rp, mp) in enumerate(zip(rc["packets"], mc["packets"])):
            got = dict(ts_us=mp[0], dir="c2s" if mp[1] == 0 else "s2c", flags=mp[2],
                       seq=mp[3], ack=mp[4], len=mp[5], win=mp[6], msg=mp[7],
                       analysis=[names[b] for b in range(len(names)) if mp[8] >> b & 1])
            want = dict(rp, analysis=rp.get("analysis", []))
            if len(mp) != 9 or got != want:
                bad.append("connection %d packet %d: %r vs %r" % (rc["id"], i, mp, rp))
                break
    if len(ref["connections"]) != len(m["connections"]):
        bad.append("%d connections, --json has %d" % (len(m["connections"]),
                                                      len(ref["connections"])))
    nflag = sum(1 for c in m["connections"] for p in c["packets"] if p[8])
    res.check("%sconnections equal --json's but for compact packets (%d connections, %d "
              "packets with analysis flags)" % (label, len(m["connections"]), nflag), not bad,
              "; ".join(bad[:3]))


# ------------------------------------------------------------------ checks

def check_model(res, drv, tmp):
    ref = htracr_json(MANY, tmp)
    st = drv.get_json("/api/status")
    res.check("status fields", all(k in st for k in ("version", "live", "capturing", "source",
                                                     "backend", "attach", "generation", "seq",
                                                     "stats", "memory")),
              "got keys %r" % sorted(st))
    res.eq("a file has no attach point", "", st.get("attach"))
    m = drv.get_json("/api/model")
    res.check("model without parameters is full", m["full"] is True, "full=%r" % m["full"])
    res.eq("model generation is the status's", st["generation"], m["generation"])
    res.eq("connection_ids lists every connection", [c["id"] for c in m["connections"]],
           m["connection_ids"])
    if ref is None:
        res.skip("model equals htracr --json", "%s -r FILE --json did not work" % HTRACR)
    else:
        res.eq("connections and messages equal htracr --json", model_counts(ref),
               model_counts(m))
        res.eq("status counts equal htracr --json",
               (ref["stats"]["connections"], ref["stats"]["requests"], ref["stats"]["responses"]),
               (st["stats"]["connections"], st["stats"]["requests"], st["stats"]["responses"]))
        compare_model(res, "", ref, m)

    g, s = m["generation"], m["seq"]
    d = drv.get_json("/api/model?gen=%d&since=%d" % (g, s))
    res.check("since the current seq: nothing changed",
              d["full"] is False and d["connections"] == [] and
              d["connection_ids"] == m["connection_ids"],
              "full=%r, %d connections" % (d["full"], len(d["connections"])))
    counts = []
    for since in (0, s // 4, s // 2, 3 * s // 4, s - 1):
        d = drv.get_json("/api/model?gen=%d&since=%d" % (g, since))
        counts.append(len(d["connections"]))
    res.check("since an earlier seq: only the connections changed after it",
              counts[0] == len(m["connections"]) and counts == sorted(counts, reverse=True) and
              any(0 < c < counts[0] for c in counts),
              "connections returned for rising since: %r" % counts)
    d = drv.get_json("/api/model?gen=%d&since=%d" % (g + 100, s))
    res.check("another generation: the whole model again",
              d["full"] is True and len(d["connections"]) == len(m["connections"]),
              "full=%r" % d["full"])
    st_, _, body = drv.req("GET", "/api/model?gen=x&since=1")
    res.eq("bad gen: 400", 400, st_)
    st_, _, body = drv.req("GET", "/api/model?gen=%d&since=%d&reply=-1" % (g, s))
    res.eq("bad reply: 400", 400, st_)
    check_rows(res, drv, m)
    return m


def check_rows(res, drv, m):
    """rows=1: each message a row of message_fields, which made an object
    again is the message object of the model without it."""
    st_, _, _ = drv.req("GET", "/api/model?rows=2")
    res.eq("rows other than 0 or 1: 400", 400, st_)
    st_, _, body = drv.req("GET", "/api/model?rows=1")
    r = json.loads(body)
    fields = r.get("message_fields")
    first = next((x for c in m["connections"] for x in c["messages"]), None)
    res.check("rows=1: message_fields names json.md's message members in order",
              first is not None and fields == list(first.keys()), "fields %r" % fields)
    if not fields:
        return
    raw = all(isinstance(x, list) for c in r["connections"] for x in c["messages"])
    refs = 0
    for c in r["connections"]:
        n = from_rows(c["messages"], fields, {})
        refs = None if n is None or refs is None else refs + n
    res.check("rows=1: every message a row, and every row's headers found", raw and
              refs is not None, "refs=%r" % refs)
    same = [c["id"] for c, e in zip(r["connections"], m["connections"]) if c != e]
    res.check("rows=1: made objects, the connections equal the model's without rows "
              "(%d connections)" % len(m["connections"]),
              len(r["connections"]) == len(m["connections"]) and not same,
              "differ: %r" % same[:5])
    res.eq("rows=1: headers 1 exactly where a message repeats those before it",
           repeats(m["connections"]), refs)
    whole = len(json.dumps(m, separators=(",", ":")))
    res.check("rows=1: the model is smaller (%d bytes, %d without rows)" % (len(body), whole),
              len(body) < whole)

    # rel=1: the times from each connection's start
    st_, _, _ = drv.req("GET", "/api/model?rows=1&rel=2")
    res.eq("rel other than 0 or 1: 400", 400, st_)
    st_, _, rbody = drv.req("GET", "/api/model?rows=1&rel=1")
    r = json.loads(rbody)
    small = [p[0] for c in r["connections"] for p in c["packets"]]
    res.check("rel=1: says so, and its packets' times are small (%d packets, the largest %d)"
              % (len(small), max(small or [0])),
              r.get("relative") is True and small and max(small) < 10 ** 10, "")
    for c in r["connections"]:
        absolute(c, fields)
        from_rows(c["messages"], fields, {})
    same = [c["id"] for c, e in zip(r["connections"], m["connections"]) if c != e]
    res.check("rel=1: given their times again, the connections equal the model's",
              len(r["connections"]) == len(m["connections"]) and not same, "differ: %r" % same[:5])
    res.check("rel=1: smaller again (%d bytes, %d without it)" % (len(rbody), len(body)),
              len(rbody) < len(body))


def keepalive_capture(path, conns=3, per_conn=240):
    """conns keep-alive connections, interleaved, each with per_conn
    transactions: some pipelined, some responses with a segment sent out of
    order (its message is found later: an older packet changes; duplicate
    ACKs count up on one event), some with a segment sent again. What a live
    model grows like."""
    with open(path, "wb") as f:
        w = mkpcap.PcapWriter(f)
        cs = [mkpcap.Conv(w, cport=42000 + k, sport=80, step_us=100) for k in range(conns)]
        t = [mkpcap.T0_US]

        def on(c, fn, *a):
            c.t = t[0]
            fn(*a)
            t[0] = c.t

        def segs(c, data, order, again=None):
            base = c.seq[1]
            parts = [data[i:i + 1400] for i in range(0, len(data), 1400)]
            for j, k in enumerate(order):
                c.seq[1] = base + 1400 * k
                on(c, c.pkt, 1, mkpcap.ACK | mkpcap.PSH, parts[k])
                if j == 1 and k != 1:  # a hole: the client ACKs up to it, again and again
                    c.seq[1] = base + 1400
                    for _ in range(4):
                        on(c, c.pkt, 0, mkpcap.ACK)
            if again is not None:
                c.seq[1] = base + 1400 * again
                on(c, c.pkt, 1, mkpcap.ACK | mkpcap.PSH, parts[again])
            c.seq[1] = base + len(data)
            on(c, c.pkt, 0, mkpcap.ACK)

        for c in cs:
            on(c, c.handshake)
        for i in range(per_conn):
            for k, c in enumerate(cs):
                body = (b"%d/%d " % (k, i)) * (100 + (i * 37 + k * 11) % 600)
                rsp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
                req = b"GET /k%d/i%d HTTP/1.1\r\nHost: tails.test\r\n\r\n" % (k, i)
                n = (len(rsp) + 1399) // 1400
                if i % 7 == 3:  # pipelined: two requests, then both answers
                    on(c, c.pkt, 0, mkpcap.ACK | mkpcap.PSH, req)
                    on(c, c.pkt, 0, mkpcap.ACK | mkpcap.PSH, req.replace(b" HTTP", b"b HTTP"))
                    on(c, c.send, 1, rsp)
                    on(c, c.send, 1, rsp)
                    continue
                on(c, c.send, 0, req)
                if i % 5 == 2 and n >= 3:
                    segs(c, rsp, [0, 2, 1] + list(range(3, n)))
                elif i % 11 == 4 and n >= 2:
                    segs(c, rsp, list(range(n)), again=n - 2)
                else:
                    on(c, c.send, 1, rsp)
        for c in cs:
            on(c, c.close)


ROW_BOOLS = {"pipelined", "headers_split", "interim", "upgrade", "complete", "body_truncated",
             "body_decode_error"}


def from_rows(msgs, fields, last):
    """Message rows (rows=1) made json.md's objects in place, as
    web/model.js does; last maps a kind to the message of that kind before
    the first row. Returns how many rows said their headers were the ones
    before, or None when one names headers last does not have."""
    refs = 0
    for k, r in enumerate(msgs):
        if isinstance(r, list):
            if len(r) != len(fields):
                return None
            m = {f: (v == 1 if f in ROW_BOOLS else v) for f, v in zip(fields, r)}
            m["kind"] = "request" if r[fields.index("kind")] == 0 else "response"
            if m["headers"] == 1:
                if m["kind"] not in last:
                    return None
                m["headers"] = last[m["kind"]]["headers"]
                refs += 1
            msgs[k] = m
        last[msgs[k]["kind"]] = msgs[k]
    return refs


def repeats(conns):
    """How many messages have the header lines of the message of their kind
    before them (of the 8 before, as export_api.c looks): those a whole
    model's rows name by 1."""
    n = 0
    for c in conns:
        ms = c["messages"]
        for i, m in enumerate(ms):
            prev = last_of_kind(ms, i).get(m["kind"])
            n += bool(m["headers"] and prev and prev["headers"] == m["headers"])
    return n


def last_of_kind(msgs, to):
    """The message of each kind last before position to (of the 8 before it,
    as far as the server looks back: export_api.c)."""
    last = {}
    for m in reversed(msgs[max(0, to - 8):to]):
        last.setdefault(m["kind"], m)
    return last


def absolute(c, fields):
    """A connection of a reply with "relative": true (rel=1) given
    json.md's times in place, as web/model.js does: its packets' times and
    its message rows' start_us count from its start_us, a row's end_us from
    the row's start."""
    base = c["start_us"]
    for p in c["packets"]:
        p[0] += base
    si, ei = fields.index("start_us"), fields.index("end_us")
    for m in c["messages"]:
        if isinstance(m, list):
            m[si] += base
            m[ei] += m[si]


def apply_tails(have, reply, counts=None):
    """Merge one /api/model?tails=1 reply into have (id -> connection), as
    web/model.js does, its message rows made objects when it has them
    (rows=1). False when a tail follows what have does not hold; counts
    (a dict) gets the rows that named the headers before them ("refs")."""
    if reply["full"]:
        have.clear()
    fields = reply.get("message_fields")
    for c in reply["connections"]:
        t = c.pop("tail", None)
        if reply.get("relative"):
            absolute(c, fields)
        if fields:
            old = have.get(c["id"])
            last = {}
            if t is not None and old is not None and len(old["messages"]) >= t["messages"]:
                last = last_of_kind(old["messages"], t["messages"])
            refs = from_rows(c["messages"], fields, last)
            if refs is None:
                return False
            if counts is not None:
                counts["refs"] = counts.get("refs", 0) + refs
        if t is not None:
            old = have.get(c["id"])
            if old is None:
                return False
            for k in ("states", "events", "packets", "messages"):
                if len(old[k]) < t[k]:
                    return False
                c[k] = old[k][:t[k]] + c[k]
            for k, v in c["series"].items():
                if len(old["series"][k]) < t["series"][k]:
                    return False
                c["series"][k] = old["series"][k][:t["series"][k]] + v
        have[c["id"]] = c
    ids = set(reply["connection_ids"])
    for k in list(have):
        if k not in ids:
            del have[k]
    return True


def check_tails(res, exe, tmp, rows=False):
    """A model growing as live capture grows it, fetched with tails=1 (with
    rows=1 and rel=1 too: the page's way): the connections put together from their
    tails equal the whole model at the end, and the tails were a fraction of
    it."""
    path = os.path.join(tmp, "keepalive.pcap")
    if not os.path.exists(path):
        keepalive_capture(path)
    drv = Driver(exe, path, env={"API_DRV_TRICKLE": "4"})
    q = "tails=1&rows=1&rel=1" if rows else "tails=1"
    tag = "tails with rows" if rows else "tails"
    try:
        st_, _, _ = drv.req("GET", "/api/model?tails=2")
        res.eq("tails other than 0 or 1: 400", 400, st_)
        have, ok, fed, polls, counts = {}, True, False, 0, {}
        tails = whole = tail_bytes = whole_bytes = 0
        r = drv.get_json("/api/model?" + q)
        ok = apply_tails(have, r, counts)
        while ok and polls < 100000:
            if not fed and select.select([drv.proc.stdout], [], [], 0.01)[0]:
                fed = drv.proc.stdout.readline().strip() == b"fed"
            # as the page asks: since the last reply's seq, naming the reply
            st_, _, body = drv.req("GET", "/api/model?gen=%d&since=%d&reply=%d&%s" %
                                   (r["generation"], r["seq"], r["reply"], q))
            r = json.loads(body)
            polls += 1
            sizes = [(c["id"], len(json.dumps(c))) for c in r["connections"] if "tail" in c]
            whole += len(r["connections"]) - len(sizes)
            ok = apply_tails(have, r, counts)
            for cid, n in sizes:
                tails += 1
                tail_bytes += n
                whole_bytes += len(json.dumps(have[cid]))
            if fed and not r["connections"]:
                break
        full = drv.get_json("/api/model")
        res.check("%s: every tail followed what the reader held (%d polls)" % (tag, polls), ok)
        res.check("%s: the model was fed while polled, and tails came (%d tails, %d whole)"
                  % (tag, tails, whole), fed and tails >= 20, "fed=%r" % fed)
        got = [have[k] for k in sorted(have)]
        exp = sorted(full["connections"], key=lambda c: c["id"])
        diff = [c["id"] for c, e in zip(got, exp) if c != e]
        res.check("%s: put together, the connections equal the whole model's (%d)"
                  % (tag, len(exp)),
                  len(got) == len(exp) and not diff and len(exp) == 3,
                  "%d vs %d connections; differ: %r" % (len(got), len(exp), diff))
        res.check("%s: a fraction of the connections they stand for (%d bytes for %d tails; "
                  "whole, %d bytes)" % (tag, tail_bytes, tails, whole_bytes),
                  tails and tail_bytes * 10 < whole_bytes)
        if rows:
            # each message that repeats the headers before it did so in
            # the last row it came in (a message may come more than once)
            want = repeats(exp)
            res.check("tails with rows: rows named the headers before them (%d times; %d "
                      "messages repeat them)" % (counts.get("refs", 0), want),
                      want > 100 and counts.get("refs", 0) >= want)
            return
        r = drv.get_json("/api/model?gen=%d&since=%d" % (full["generation"], 1))
        res.check("without tails=1, a changed connection comes whole",
                  r["connections"] and all("tail" not in c for c in r["connections"]))
    finally:
        drv.stop()


METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
METRIC_SAMPLE_RE = re.compile(r"^(%s)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|\\[\"\\n])*\",?)*)\})? "
                              r"(-?[0-9]+(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?|\+Inf)$" % METRIC_NAME)
METRIC_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
METHOD_LABELS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


def parse_metrics(text):
    """The Prometheus text format, read strictly: {(name, ((label, value),
    ...)): value} and {family: type}, or raises ValueError naming the line.
    Each family has its HELP and TYPE before its samples, once; counters end
    in _total; a histogram's buckets rise to +Inf, which equals _count."""
    samples, types, helped = {}, {}, set()
    for n, line in enumerate(text.split("\n"), 1):
        if line == "" and n == text.count("\n") + 1:
            break
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            if name in helped or not re.fullmatch(METRIC_NAME, name):
                raise ValueError("line %d: HELP again or a bad name: %r" % (n, line))
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if (len(parts) != 4 or parts[2] in types or parts[2] not in helped or
                    parts[3] not in ("counter", "gauge", "histogram")):
                raise ValueError("line %d: bad TYPE: %r" % (n, line))
            types[parts[2]] = parts[3]
            continue
        m = METRIC_SAMPLE_RE.match(line)
        if not m:
            raise ValueError("line %d: not a sample: %r" % (n, line))
        name, labels = m.group(1), tuple(METRIC_LABEL_RE.findall(m.group(2) or ""))
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        kind = types.get(name) or (types.get(family) == "histogram" and "histogram")
        if not kind:
            raise ValueError("line %d: %s has no TYPE before it" % (n, name))
        if kind == "counter" and not name.endswith("_total"):
            raise ValueError("line %d: counter %s does not end in _total" % (n, name))
        if (name, labels) in samples:
            raise ValueError("line %d: %s%r again" % (n, name, labels))
        samples[(name, labels)] = float(m.group(3))
    for fam, kind in types.items():
        if kind != "histogram":
            continue
        buckets = [(k[1], v) for k, v in samples.items() if k[0] == fam + "_bucket"]
        les = [dict(lb)["le"] for lb, _ in buckets]
        counts = [v for _, v in buckets]
        if not les or les[-1] != "+Inf" or counts != sorted(counts):
            raise ValueError("%s: buckets %r %r" % (fam, les, counts))
        if [float(x) for x in les[:-1]] != sorted(float(x) for x in les[:-1]):
            raise ValueError("%s: bounds out of order %r" % (fam, les))
        if counts[-1] != samples.get((fam + "_count", ())):
            raise ValueError("%s: +Inf %r is not _count" % (fam, counts[-1]))
    return samples, types


def metric_sum(samples, name):
    return sum(v for (n, _), v in samples.items() if n == name)


def metrics_expected(ref):
    """What /metrics must count for htracr's --json of a file, all of which
    has ended: every request and response (those that did not parse too),
    by method and by class; final responses' TTFB and stall; handshakes;
    retransmits; connections reset."""
    want = {"requests": {}, "responses": {}, "ttfb": 0, "stall": 0, "handshake": 0,
            "rexmit_c2s": 0, "rexmit_s2c": 0, "resets": 0}
    for c in ref["connections"]:
        st = c["stats"]
        want["rexmit_c2s"] += st["retransmits_c2s"]
        want["rexmit_s2c"] += st["retransmits_s2c"]
        want["resets"] += c["close"] == "rst"
        want["handshake"] += c["handshake_rtt_us"] is not None
        for m in c["messages"]:
            if m["kind"] == "request":
                k = m["method"] if m["method"] in METHOD_LABELS else "other"
                want["requests"][k] = want["requests"].get(k, 0) + 1
                continue
            s = m["status"] or 0
            k = "%dxx" % (s // 100) if 100 <= s <= 599 else "other"
            want["responses"][k] = want["responses"].get(k, 0) + 1
            if 100 <= s <= 199 and s != 101:
                continue
            want["ttfb"] += m["ttfb_us"] is not None
            want["stall"] += m["stall_us"] is not None
    return want


def metrics_got(samples):
    got = {"requests": {}, "responses": {}}
    for (n, lb), v in samples.items():
        if n == "htracr_http_requests_total" and v:
            got["requests"][dict(lb)["method"]] = int(v)
        if n == "htracr_http_responses_total" and v:
            got["responses"][dict(lb)["code"]] = int(v)
    got["ttfb"] = int(samples.get(("htracr_http_ttfb_seconds_count", ()), -1))
    got["stall"] = int(samples.get(("htracr_http_server_stall_seconds_count", ()), -1))
    got["handshake"] = int(samples.get(("htracr_tcp_handshake_rtt_seconds_count", ()), -1))
    got["rexmit_c2s"] = int(samples.get(("htracr_tcp_retransmits_total",
                                         (("direction", "c2s"),)), -1))
    got["rexmit_s2c"] = int(samples.get(("htracr_tcp_retransmits_total",
                                         (("direction", "s2c"),)), -1))
    got["resets"] = int(samples.get(("htracr_tcp_reset_connections_total", ()), -1))
    return got


def check_metrics(res, drv, token, tmp, capture):
    """/metrics in the Prometheus text format: what it counts equals the
    model of the file; a clear takes nothing back from a counter; HEAD, a
    POST and a foreign Host answered as for the API."""
    ref = htracr_json(capture, tmp)
    name = os.path.basename(capture)

    def lab(what):
        return "metrics of %s: %s" % (name, what)

    if ref is None:
        res.fail("metrics", "htracr -r %s --json failed" % capture)
        return None
    st, h, body = drv.req("GET", "/metrics")
    res.eq(lab("200"), 200, st)
    res.eq(lab("the exposition's media type"), "text/plain; version=0.0.4; charset=utf-8",
           h.get("content-type"))
    try:
        samples, types = parse_metrics(body.decode())
    except (ValueError, UnicodeDecodeError) as e:
        res.fail(lab("the text format"), str(e))
        return None
    res.ok(lab("the text format (%d samples, %d families)" % (len(samples), len(types))))
    want = metrics_expected(ref)
    res.eq(lab("counts equal the model's (%d requests)" % sum(want["requests"].values())),
           want, metrics_got(samples))
    res.eq(lab("packets and connections equal the model's"),
           (ref["stats"]["packets"], ref["stats"]["connections"]),
           (int(samples[("htracr_packets_total", ())]),
            int(samples[("htracr_connections_total", ())])))
    st, _, _ = drv.req("POST", "/api/clear", body=b"", headers={"X-Htracr-Token": token})
    res.eq(lab("clear"), 200, st)
    st, _, body = drv.req("GET", "/metrics")
    after, _ = parse_metrics(body.decode()) if st == 200 else ({}, {})
    changed = sorted("%s%r" % k for k, v in samples.items()
                     if types.get(k[0]) != "gauge" and after.get(k) != v)
    res.eq(lab("after a clear every counter and histogram the same"), [], changed)
    res.check(lab("after a clear the model's memory less"),
              after.get(("htracr_memory_bytes", ()), 1e18) <
              samples[("htracr_memory_bytes", ())], "")
    st, h, body = drv.req("HEAD", "/metrics")
    res.check(lab("HEAD, no body"), st == 200 and body == b"", "status %d" % st)
    st, _, _ = drv.req("POST", "/metrics", body=b"")
    res.eq(lab("POST is refused"), 405, st)
    st, _, _ = drv.req("GET", "/metrics", host="evil.example:%d" % drv.port)
    res.eq(lab("foreign Host: 403"), 403, st)
    return want


def page_token(drv):
    """The token in the page drv serves, or "" (then the clear fails)."""
    st, _, body = drv.req("GET", "/")
    m = TOKEN_RE.search(body) if st == 200 else None
    return m.group(1).decode() if m else ""


def check_security(res, drv, token):
    st, h, body = drv.req("GET", "/api/status", host="evil.example:%d" % drv.port)
    res.check("foreign Host: 403", st == 403 and error_text(body), "status %d" % st)
    st, _, _ = drv.req("GET", "/api/status", host="localhost:%d" % drv.port)
    res.eq("Host localhost with the port: allowed", 200, st)
    st, _, _ = drv.req("GET", "/api/status", host="127.0.0.1:%d" % (drv.port + 1 or 1))
    res.eq("Host with another port: 403", 403, st)
    st, h, _ = drv.req("OPTIONS", "/api/clear",
                       headers={"Origin": "http://evil.example",
                                "Access-Control-Request-Method": "POST"})
    res.check("OPTIONS preflight: 403, no CORS headers",
              st == 403 and not any(k.startswith("access-control") for k in h),
              "status %d headers %r" % (st, h))
    st, h, body = drv.req("POST", "/api/clear", body=b"",
                          headers={"Origin": "http://evil.example"})
    res.check("POST without the token: 403", st == 403 and "token" in error_text(body),
              "status %d %r" % (st, body[:100]))
    st, _, _ = drv.req("POST", "/api/clear", body=b"", headers={"X-Htracr-Token": "0" * 32})
    res.eq("POST with a wrong token: 403", 403, st)
    seen = []
    for path in ("/api/status", "/api/model", "/", "/nonexistent"):
        _, h, _ = drv.req("GET", path, headers={"Origin": "http://evil.example"})
        seen += [k for k in h if k.startswith("access-control")]
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nOrigin: http://evil.example\r\n"
                b"Content-Length: -5\r\n\r\n"):
        out = raw_request(drv, raw)
        head = out.partition(b"\r\n\r\n")[0].lower()
        seen += [raw[:8]] if b"access-control" in head or not out.startswith(b"HTTP/") else []
    res.eq("no CORS header on any response, civetweb's own errors too", [], seen)
    for path in ("/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/api/../../etc/passwd"):
        st, _, body = drv.req("GET", path)
        res.check("path %s refused: 403" % path, st == 403 and b"root:" not in body,
                  "status %d" % st)
    s, line, _ = ws_open(drv, "/api/feed")
    s.close()
    res.check("websocket without the token: 403", " 403 " in line, line)
    s, line, _ = ws_open(drv, "/api/feed?token=" + "0" * 32)
    s.close()
    res.check("websocket with a wrong token: 403", " 403 " in line, line)
    big = UPLOAD_LIMIT + 1
    out = raw_request(drv, ("POST /api/upload HTTP/1.1\r\nHost: %s:%d\r\nX-Htracr-Token: %s\r\n"
                            "Content-Length: %d\r\n\r\n" % (drv.host, drv.port, token, big)
                            ).encode() + b"\0" * 1000)
    res.check("upload past the limit: 413", out.startswith(b"HTTP/1.1 413 ") and b"limit" in out,
              repr(out[:120]))
    out = raw_request(drv, ("POST /api/upload HTTP/1.1\r\nHost: %s:%d\r\nX-Htracr-Token: %s\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n" % (drv.host, drv.port, token)
                            ).encode() +
                      b"".join(b"%x\r\n%s\r\n" % (60000, b"\0" * 60000) for _ in range(4)) +
                      b"0\r\n\r\n")
    res.check("chunked upload past the limit: 413", out.startswith(b"HTTP/1.1 413 "),
              repr(out[:120]))


def check_calls(res, drv, token, tmp):
    auth = {"X-Htracr-Token": token}
    st, _, body = drv.req("POST", "/api/start", body=b"", headers=auth)
    res.check("start on a file: 409 with a reason", st == 409 and "live" in error_text(body),
              "status %d %r" % (st, body[:120]))
    st, _, body = drv.req("POST", "/api/replay?msg=1", body=b"", headers=auth)
    res.check("replay without a controller callback: 501", st == 501 and error_text(body),
              "status %d" % st)
    st, _, body = drv.req("POST", "/api/settings", body=b'{"ports": [80, 8080]}', headers=auth)
    res.check("settings: ports changed", st == 200 and json.loads(body) == {"ports": [80, 8080]},
              "status %d %r" % (st, body[:120]))
    res.eq("settings read back", {"ports": [80, 8080]}, drv.get_json("/api/settings"))
    st, _, body = drv.req("POST", "/api/settings", body=b'{"ports": [80, 70000]}', headers=auth)
    res.check("settings with a bad port: 400", st == 400 and "70000" in error_text(body),
              "status %d %r" % (st, body[:120]))
    st, _, _ = drv.req("POST", "/api/settings", body=b'{"ports": [80]}', headers=auth)
    st, _, body = drv.req("GET", "/api/clear")
    res.eq("GET on a POST call: 405", 405, st)
    st, _, body = drv.req("POST", "/api/upload", body=b"this is not a capture file" * 10,
                          headers=auth)
    res.check("upload of a non-capture: 400 with the reason", st == 400 and error_text(body),
              "status %d %r" % (st, body[:120]))

    # downloads
    st, h, body = drv.req("GET", "/api/model.json")
    ok = st == 200 and "attachment" in h.get("content-disposition", "")
    res.check("model.json download", ok and "connections" in json.loads(body), "status %d" % st)
    st, h, body = drv.req("GET", "/api/export.har")
    res.check("export.har download", st == 200 and json.loads(body)["log"]["version"] == "1.2",
              "status %d" % st)
    st, h, body = drv.req("GET", "/api/export.jsonl")
    lines = [json.loads(x) for x in body.splitlines() if x.strip()] if st == 200 else []
    res.check("export.jsonl download", st == 200 and len(lines) > 0, "status %d" % st)
    st, h, body = drv.req("GET", "/api/capture.pcap")
    res.check("capture.pcap: a pcap, or 404 saying none was kept",
              (st == 200 and body[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1",
                                          b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d")) or
              (st == 404 and "kept" in error_text(body)), "status %d %r" % (st, body[:60]))


def check_upload_body_packet(res, drv, token, tmp):
    auth = {"X-Htracr-Token": token}
    text = b"".join(b"line %05d: htracr decodes gzip bodies for the page\n" % i
                    for i in range(600))
    pcap = os.path.join(tmp, "gzip.pcap")
    zlen = gzip_capture(pcap, text)
    before = drv.get_json("/api/status")
    with open(pcap, "rb") as f:
        data = f.read()
    st, _, body = drv.req("POST", "/api/upload", body=data, headers=auth)
    res.check("upload a pcap: 200 with the status", st == 200 and "generation" in json.loads(body),
              "status %d %r" % (st, body[:200]))
    m = drv.get_json("/api/model")
    res.check("upload: a new generation", m["generation"] != before["generation"],
              "generation %d, was %d" % (m["generation"], before["generation"]))
    res.eq("upload: the model is the file's", (1, 2), model_counts(m))
    # ?name=: the page's file name becomes the source; one with a '/' or a
    # control byte is dropped, not passed on
    for q, want in (("?name=trace%20one.pcap", "upload:trace one.pcap"),
                    ("?name=..%2Fetc%2Fpasswd", "upload:(no name)"),
                    ("?name=a%1Bb", "upload:(no name)")):
        st, _, body = drv.req("POST", "/api/upload" + q, body=data, headers=auth)
        src = json.loads(body).get("source") if st == 200 else None
        res.eq("upload%s: source %r" % (q, want), want, src)
    d = drv.get_json("/api/model?gen=%d&since=%d" % (before["generation"], before["seq"]))
    res.check("old generation after an upload: full", d["full"] is True, "full=%r" % d["full"])
    resp = [x for c in m["connections"] for x in c["messages"] if x["kind"] == "response"]
    if not resp:
        res.fail("gzip body decoded", "no response in the uploaded model")
        return
    r = resp[0]
    res.eq("gzip response on the wire", (zlen, "gzip"), (r["body_bytes"], r["content_encoding"]))
    st, h, body = drv.req("GET", "/api/body?msg=%d" % r["id"])
    res.check("body: the decoded text, with its own type",
              st == 200 and body == text and h.get("content-type", "").startswith("text/plain"),
              "status %d, %d bytes (want %d)" % (st, len(body), len(text)))
    res.check("body: sandboxed, not truncated",
              "sandbox" in h.get("content-security-policy", "") and
              "x-htracr-body-truncated" not in h, repr(h))
    req_id = [x for c in m["connections"] for x in c["messages"] if x["kind"] == "request"][0]["id"]
    st, _, body = drv.req("GET", "/api/body?msg=%d" % req_id)
    res.check("body of a request without one: 404", st == 404 and error_text(body),
              "status %d" % st)
    st, _, body = drv.req("GET", "/api/body?msg=999999")
    res.eq("body of an unknown message: 404", 404, st)

    conn = m["connections"][0]
    idx = next(i for i, p in enumerate(conn["packets"]) if p[1] == 0 and p[5] > 0)
    st, _, body = drv.req("GET", "/api/packet?conn=%d&idx=%d" % (conn["id"], idx))
    if st == 200:
        p = json.loads(body)
        res.check("packet: payload hex and text of the request",
                  p["payload_text"].startswith("GET /text.txt HTTP/1.1..Host") and
                  bytes.fromhex(p["payload_hex"]).startswith(b"GET /text.txt") and
                  p["payload_len"] == conn["packets"][idx][5] and p["len"] == p["payload_len"],
                  repr(body[:200]))
    else:
        res.check("packet: 404 saying the bytes were not kept",
                  st == 404 and "not kept" in error_text(body), "status %d %r" % (st, body[:200]))
    st, _, body = drv.req("GET", "/api/packet?conn=%d&idx=100000" % conn["id"])
    res.check("packet past the end: 404", st == 404 and error_text(body), "status %d" % st)
    st, _, body = drv.req("GET", "/api/packet?conn=424242&idx=0")
    res.check("packet of an unknown connection: 404",
              st == 404 and "connection" in error_text(body), "status %d" % st)
    st, _, _ = drv.req("GET", "/api/packet?conn=1")
    res.eq("packet without idx: 400", 400, st)

    # a corpus file with gzip'd responses replaces it again
    ref = htracr_json(GZIP_CORPUS, tmp)
    with open(GZIP_CORPUS, "rb") as f:
        st, _, _ = drv.req("POST", "/api/upload", body=f.read(), headers=auth)
    m2 = drv.get_json("/api/model")
    if ref is None:
        res.skip("second upload equals htracr --json", "htracr --json did not work")
    else:
        res.check("second upload: counts equal htracr --json",
                  st == 200 and model_counts(m2) == model_counts(ref),
                  "status %d, %r vs %r" % (st, model_counts(m2), model_counts(ref)))
    sizes = {}
    for x in (x for c in m2["connections"] for x in c["messages"]):
        if x["kind"] == "response" and x["content_encoding"] == "gzip":
            st, _, body = drv.req("GET", "/api/body?msg=%d" % x["id"])
            sizes[x["id"]] = (st, len(body), x["body_kept"])
    res.check("corpus gzip bodies decoded to their kept size",
              sizes and all(s == 200 and n == k and n > 0 for s, n, k in sizes.values()),
              repr(sizes))

    # a lossy one: the compact packets' analysis masks against --json's names
    ref = htracr_json(LOSSY, tmp)
    with open(LOSSY, "rb") as f:
        st, _, _ = drv.req("POST", "/api/upload", body=f.read(), headers=auth)
    if ref is None or st != 200:
        res.skip("lossy upload equals htracr --json", "status %d, --json %s" % (
            st, "missing" if ref is None else "ok"))
    else:
        # (an upload's source is "upload", not the file name)
        compare_model(res, "lossy upload: ", ref, drv.get_json("/api/model"), skip=("source",))


def check_feed(res, drv, token):
    auth = {"X-Htracr-Token": token}
    s, line, buf = ws_open(drv, "/api/feed?token=" + token)
    if " 101 " not in line:
        res.fail("websocket with the token: 101", line)
        s.close()
        return
    res.ok("websocket with the token: 101")
    first, buf = ws_frame(s, buf, 5)
    try:
        f0 = json.loads(first) if first else None
    except ValueError:
        f0 = None
    res.check("feed: a first frame with generation and seq",
              f0 is not None and "generation" in f0 and "seq" in f0, repr(first))
    st, _, _ = drv.req("POST", "/api/clear", body=b"", headers=auth)
    res.eq("clear: 200", 200, st)
    t0 = time.time()
    got = None
    while time.time() - t0 < 3:
        text, buf = ws_frame(s, buf, 3 - (time.time() - t0))
        if text is None:
            break
        fr = json.loads(text)
        if f0 and fr.get("generation") != f0.get("generation"):
            got = fr
            break
    res.check("feed: a frame with the new generation after clear", got is not None,
              "nothing in 3 s")
    if got:
        print("     (frame after %.0f ms: %s)" % ((time.time() - t0) * 1000, json.dumps(got)))
    ws_close(s)
    m = drv.get_json("/api/model")
    res.check("clear: an empty model", m["connections"] == [] and m["connection_ids"] == [] and
              m["generation"] == (got or {}).get("generation", m["generation"]),
              "%d connections" % len(m["connections"]))


def check_static_disk(res, drv, root):
    st, h, body = drv.req("GET", "/")
    m = TOKEN_RE.search(body)
    res.check("/ from --web-root: index.html with the token",
              st == 200 and m is not None and PLACEHOLDER not in body and
              h.get("content-type", "").startswith("text/html"), "status %d" % st)
    with open(os.path.join(root, "js", "app.js"), "rb") as f:
        want = f.read()
    st, h, body = drv.req("GET", "/js/app.js")
    res.check("--web-root file served as it is", st == 200 and body == want and
              h.get("content-type", "").startswith("text/javascript"), "status %d" % st)
    st, _, body = drv.req("GET", "/js/")
    res.check("no directory listing", st == 404 and b"app.js" not in body, "status %d" % st)
    st, _, body = drv.req("GET", "/escape/secret.txt")
    res.check("a symbolic link out of --web-root: 404",
              st == 404 and b"outside the web root" not in body,
              "status %d" % st)
    return m.group(1).decode() if m else None


def check_live_feed(res, drv, token):
    """A live run (the driver pretends): stats frames every second."""
    st = drv.get_json("/api/status")
    s, line, buf = ws_open(drv, "/api/feed?token=" + token)
    frames, t0 = [], time.time()
    while time.time() - t0 < 2.6:
        text, buf = ws_frame(s, buf, 2.6 - (time.time() - t0))
        if text is None:
            break
        frames.append(json.loads(text))
    ws_close(s)
    stats = [f for f in frames if "stats" in f]
    res.check("feed while live: stats frames every second, as the status's",
              " 101 " in line and 2 <= len(stats) <= 3 and
              all(f["stats"] == st["stats"] and f["generation"] == st["generation"]
                  for f in stats),
              "%s; %d frames, %d with stats" % (line, len(frames), len(stats)))


def check_listen_errors(res, pcap):
    """Where the UI cannot listen, htracr says why (civetweb says only
    "Failed to setup server ports", which was passed on as "is another
    program using the port?" for every cause)."""
    exe = os.path.join(REPO, "htracr")
    if not os.access(exe, os.X_OK):
        res.skip("listen errors", "no ./htracr")
        return
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    busy = holder.getsockname()[1]
    cases = [("a port another program listens on", ["--listen", "127.0.0.1:%d" % busy],
              "another program listens there")]
    if os.geteuid() == 0:
        # root gives root up before serving (to nobody here): port 80 is out of reach
        cases.append(("a port below 1024", ["--listen", "127.0.0.1:80"],
                      "ports below 1024 need root"))
    cases.append(("an address this host does not have", ["--listen", "192.0.2.1:8000"],
                  "192.0.2.1 is not an address of this host"))
    try:
        for what, args, want in cases:
            r = subprocess.run([exe, "-r", pcap] + args, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=20)
            err = r.stderr.strip()
            res.check("listen on %s: exit 1 and the reason (%s)" % (what, want),
                      r.returncode == 1 and want in err,
                      "exit %d; stderr: %s" % (r.returncode, err[-400:]))
    finally:
        holder.close()


def check_embedded(res, exe, pcap):
    web = os.path.join(REPO, "web")
    drv = Driver(exe, pcap, live=True)
    try:
        files = []
        for dirpath, dirnames, names in os.walk(web):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for n in names:
                rel = os.path.relpath(os.path.join(dirpath, n), web)
                if not n.startswith(".") and not n.endswith("~") and \
                        re.fullmatch(r"[A-Za-z0-9._/-]+", rel):
                    files.append(rel)
        st, h, body = drv.req("GET", "/")
        tok = None
        if "index.html" not in files:
            res.check("no web/index.html: / says how to get the UI",
                      st == 404 and "--web-root" in error_text(body), "status %d" % st)
        else:
            with open(os.path.join(web, "index.html"), "rb") as f:
                src = f.read()
            tok = TOKEN_RE.search(body)
            res.check("embedded index.html with the token put in",
                      st == 200 and tok is not None and
                      body == src.replace(PLACEHOLDER, tok.group(1)),
                      "status %d, meta tag %s (the page needs <meta name=\"htracr-token\" "
                      "content=\"__HTRACR_TOKEN__\">)" % (st, "found" if tok else "missing"))
        bad = []
        for rel in files:
            if rel == "index.html":
                continue
            with open(os.path.join(web, rel), "rb") as f:
                want = f.read()
            st, _, body = drv.req("GET", "/" + rel)
            if st != 200 or body != want:
                bad.append("%s: %d, %d bytes (file %d)" % (rel, st, len(body), len(want)))
        if tok:
            check_live_feed(res, drv, tok.group(1).decode())
        else:
            res.skip("feed: stats frames while live", "no token in the embedded page")
        if files:
            res.check("every web/ file embedded byte for byte (%d files; a file changed since "
                      "the build fails here: run make)" % len(files), not bad, "; ".join(bad[:4]))
        else:
            res.skip("web/ files embedded", "web/ is empty")
    finally:
        rc = drv.stop()
    res.eq("driver (embedded) exits 0 on SIGTERM", 0, rc)


def main():
    res = Results()
    if not all(os.path.exists(p) for p in (MANY, GZIP_CORPUS, LOSSY)):
        res.skip("api", "corpus captures missing under %s" % CORPUS)
        print("%d passed, %d failed, %d skipped" % (res.passed, res.failed, res.skipped))
        return 0
    tmp = tempfile.mkdtemp(prefix="htracr-api-")
    try:
        if not os.path.exists(os.path.join(OUT, "web_assets.o")):
            subprocess.run(["make", "-s", "-C", REPO], check=False)
        exe = build_driver(tmp)
        root = os.path.join(tmp, "web")
        os.makedirs(os.path.join(root, "js"))
        with open(os.path.join(root, "index.html"), "wb") as f:
            f.write(b'<!doctype html><html><head>'
                    b'<meta name="htracr-token" content="__HTRACR_TOKEN__">'
                    b'</head><body>test page</body></html>\n')
        with open(os.path.join(root, "js", "app.js"), "wb") as f:
            f.write(b"export const x = 1;\n" * 50)
        with open(os.path.join(tmp, "secret.txt"), "wb") as f:
            f.write(b"secret outside the web root\n")
        os.symlink(tmp, os.path.join(root, "escape"))

        drv = Driver(exe, MANY, root)
        try:
            token = check_static_disk(res, drv, root)
            check_model(res, drv, tmp)
            if token:
                check_security(res, drv, token)
                check_calls(res, drv, token, tmp)
                check_upload_body_packet(res, drv, token, tmp)
                check_feed(res, drv, token)
            else:
                res.skip("calls with the token", "no token in the page")
        finally:
            rc = drv.stop()
        res.check("driver exits 0 on SIGTERM", rc == 0,
                  "exit %s; stderr: %s" % (rc, drv.stderr[-1500:]))
        wants = []
        for cap in (MANY, LOSSY):
            drv = Driver(exe, cap, root)
            try:
                wants.append(check_metrics(res, drv, page_token(drv), tmp, cap))
            finally:
                drv.stop()
        wants = [w for w in wants if w]
        res.check("metrics: the files have retransmits, resets and methods besides GET to count",
                  sum(w["rexmit_c2s"] + w["rexmit_s2c"] for w in wants) > 0 and
                  sum(w["resets"] for w in wants) > 0 and
                  sum(len(w["requests"]) for w in wants) > 2, repr(wants))
        check_tails(res, exe, tmp)
        check_tails(res, exe, tmp, rows=True)
        check_embedded(res, exe, MANY)
        check_listen_errors(res, MANY)
    except RuntimeError as e:
        res.fail("api", str(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (res.passed, res.failed, res.skipped))
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
