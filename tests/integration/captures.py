#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Captures of real traffic that the test makes itself, and htracr's reading of them.

This suite sits at the far end of the pipeline: it treats ./htracr as a black
box that turns a pcap into JSON, JSONL and HAR.  It builds two fresh network
namespaces joined by a veth pair (tests/lib/netns.py), starts a real nginx in
the server namespace, and while tcpdump records the client side it makes
HTTP exchanges whose every transaction it knows: keep-alive, pipelining,
chunked, gzip, POST with 100-continue, HEAD, 304, Connection: close, 301/404.
Each scenario is saved as tests/out/captures/<name>.pcap with a JSON sidecar
of the expected transactions.

Two layers of checks, each one named result line:
  1. the capture is what we claim: tshark reads the same requests, statuses
     and body sizes from the pcap (this proves the scenario, not htracr);
  2. htracr reads the same thing: connections, method/url/status in order,
     pipelined flags, 1xx interims, body_bytes, content_encoding, JSONL lines,
     HAR entries, and its request/response counts against tshark's.

Needs root (namespaces, tcpdump).  Without root, or without ./htracr, the
affected tests are reported as skipped.  Last line: "N passed, N failed, N
skipped"; exit status 1 on any failure.

    tests/integration/captures.py              run the suite
    tests/integration/captures.py --demo F     write a page-load capture to F and exit
    tests/integration/captures.py NAME...      only the named scenarios (keepalive, gzip, ...)
"""

import json
import re
import os
import select
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

import netns  # noqa: E402

OUT_DIR = os.path.join(REPO, "tests", "out", "captures")
HTRACR = os.environ.get("HTRACR_BIN", os.path.join(REPO, "htracr"))
PYTHON = "/usr/bin/python3"


# --------------------------------------------------------------------------
# results

class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []

    def ok(self, name):
        self.passed += 1
        print("ok   " + name, flush=True)

    def fail(self, name, why):
        self.failed += 1
        self.failures.append(name)
        print("FAIL %s: %s" % (name, why), flush=True)

    def skip(self, name, why, count=1):
        self.skipped += count
        print("skip %s: %s" % (name, why), flush=True)

    def check(self, name, expected, got):
        """One named comparison; expected and got must be equal."""
        if expected == got:
            self.ok(name)
            return True
        self.fail(name, "expected %r got %r" % (expected, got))
        return False

    def summary(self):
        print("%d passed, %d failed, %d skipped" % (self.passed, self.failed, self.skipped),
              flush=True)


# --------------------------------------------------------------------------
# the site nginx serves

BIG_SIZE = 50 * 1024
SMALL = b"hello htracr\n"


def big_bytes():
    return bytes((i * 7 + 3) & 0xff for i in range(BIG_SIZE))


def text_bytes():
    lines = ["line %05d: the quick brown fox jumps over the lazy dog, again and again.\n" % i
             for i in range(400)]
    return "".join(lines).encode()


def write_site(root):
    files = {
        "static/small.txt": SMALL,
        "static/big.bin": big_bytes(),
        "static/text.txt": text_bytes(),
        "static/style.css": b"body { font: 14px sans-serif; }\n" * 40,
        "static/app.js": b"console.log('htracr demo');\n" * 60,
        "img/logo.png": bytes((i * 13 + 5) & 0xff for i in range(6000)),
        "index.html": (b"<!doctype html>\n<html><head><title>htracr demo</title>\n"
                       b"<link rel=stylesheet href=/static/style.css>\n"
                       b"<script src=/static/app.js></script></head>\n<body>\n"
                       + b"<p>Some text that repeats so gzip has work to do.</p>\n" * 60
                       + b"<img src=/img/logo.png></body></html>\n"),
        # SSI output has no known length up front, so nginx sends it chunked
        "ssi/page.shtml": (b"<p>first part</p>\n" * 20
                           + b"<!--# include virtual=\"/static/small.txt\" -->\n"
                           + b"<p>middle part</p>\n" * 20
                           + b"<!--# include virtual=\"/static/style.css\" -->\n"
                           + b"<p>last part</p>\n"),
        "post.bin": bytes((i * 11) & 0xff for i in range(6000)),
    }
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return files


def nginx_http_body(addr, root):
    return """
  server {
    listen %(addr)s:80;
    server_name _;
    root %(root)s;
    etag on;
    gzip on;
    gzip_min_length 20;
    gzip_types text/plain text/css application/javascript;
    location = / { return 301 /index.html; }
    location = /old { return 301 /static/small.txt; }
    location /ssi/ { ssi on; ssi_types *; }
    # proxy_pass makes nginx read the whole request body (and answer an
    # Expect: 100-continue) before the response
    location = /post {
      client_max_body_size 1m;
      proxy_pass http://127.0.0.1:8081/;
    }
  }
  server {
    listen 127.0.0.1:8081;
    location / { return 200 "ok\\n"; }
  }
""" % {"addr": addr, "root": root}


# --------------------------------------------------------------------------
# the scenarios: each makes its traffic and returns what it made

def curl(ctx, args, timeout=20):
    """Run curl in the client namespace; returns stdout.  -w lines are how the
    test learns what curl itself saw (status, body size, connects)."""
    r = ctx.pair.client.run(["curl", "-s", "-S", "--max-time", "10"] + args, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("curl %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
    return r.stdout


W = "%{http_code} %{size_download} %{num_connects}\\n"


def curl_many(ctx, paths, extra=(), method_args=()):
    """One curl invocation over several URLs; returns [(status, size, connects)]."""
    args = list(method_args) + list(extra) + ["-w", W]
    for p in paths:
        args += ["-o", "/dev/null", ctx.pair.url(p)]
    out = curl(ctx, args)
    rows = []
    for line in out.strip().splitlines():
        code, size, conns = line.split()
        rows.append((int(code), int(size), int(conns)))
    if len(rows) != len(paths):
        raise RuntimeError("curl reported %d results for %d urls" % (len(rows), len(paths)))
    return rows


def tx(ctx, method, url, status, resp_body=None, req_body=0, conn=0, interim=(),
       pipelined=False, encoding=None, host=None):
    return {"method": method, "url": url, "status": status, "host": host or ctx.host,
            "resp_body_bytes": resp_body, "req_body_bytes": req_body, "conn": conn,
            "interim": list(interim), "pipelined": pipelined, "content_encoding": encoding}


def sc_keepalive(ctx):
    paths = ["/static/small.txt", "/static/big.bin", "/static/style.css"]
    rows = curl_many(ctx, paths)
    if sum(r[2] for r in rows) != 1:
        raise RuntimeError("curl did not reuse the connection: %r" % rows)
    return 1, [tx(ctx, "GET", p, r[0], r[1]) for p, r in zip(paths, rows)]


PIPELINE_CLIENT = r"""
import json, socket, sys
addr, host, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
req = b""
for i, p in enumerate(paths):
    close = "Connection: close\r\n" if i == len(paths) - 1 else ""
    req += ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: htracr-pipeline\r\n%s\r\n"
            % (p, host, close)).encode()
s = socket.create_connection((addr, 80), timeout=10)
s.sendall(req)        # all requests in one send(): one segment
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
s.close()
out, i = [], 0
while i < len(data):
    e = data.index(b"\r\n\r\n", i)
    head = data[i:e].decode("latin-1").split("\r\n")
    cl = 0
    for h in head[1:]:
        k, v = h.split(":", 1)
        if k.strip().lower() == "content-length":
            cl = int(v)
    out.append([int(head[0].split()[1]), cl])
    i = e + 4 + cl
print(json.dumps(out))
"""


def sc_pipeline(ctx):
    host = "pipeline.htracr.test"
    paths = ["/static/small.txt", "/static/big.bin", "/missing"]
    r = ctx.pair.client.run([PYTHON, "-c", PIPELINE_CLIENT, ctx.pair.server_addr, host] + paths)
    if r.returncode != 0:
        raise RuntimeError("pipeline client failed: " + r.stderr)
    got = json.loads(r.stdout)
    if [g[0] for g in got] != [200, 200, 404]:
        raise RuntimeError("pipeline client saw %r" % got)
    return 1, [tx(ctx, "GET", p, g[0], g[1], pipelined=(i > 0), host=host)
               for i, (p, g) in enumerate(zip(paths, got))]


def sc_chunked(ctx):
    hdr = os.path.join(ctx.tmp, "chunked.hdr")
    body = os.path.join(ctx.tmp, "chunked.body")
    curl(ctx, ["-D", hdr, "-o", body, ctx.pair.url("/ssi/page.shtml")])
    with open(hdr, "rb") as f:
        h = f.read().lower()
    if b"transfer-encoding: chunked" not in h or b"content-length" in h:
        raise RuntimeError("nginx did not chunk /ssi/page.shtml: %r" % h)
    size = os.path.getsize(body)
    return 1, [tx(ctx, "GET", "/ssi/page.shtml", 200, size)]


def sc_gzip(ctx):
    hdr = os.path.join(ctx.tmp, "gzip.hdr")
    body = os.path.join(ctx.tmp, "gzip.body")
    curl(ctx, ["--compressed", "-D", hdr, "-o", body, ctx.pair.url("/static/text.txt")])
    with open(hdr, "rb") as f:
        h = f.read().lower()
    with open(body, "rb") as f:
        decoded = f.read()
    if b"content-encoding: gzip" not in h:
        raise RuntimeError("no gzip from nginx: %r" % h)
    if decoded != ctx.files["static/text.txt"]:
        raise RuntimeError("decoded gzip body differs from the file")
    # the compressed length was measured before the capture (ctx.gzip_len)
    t = tx(ctx, "GET", "/static/text.txt", 200, ctx.gzip_len, encoding="gzip")
    t["decoded_bytes"] = len(decoded)
    return 1, [t]


def sc_post100(ctx):
    hdr = os.path.join(ctx.tmp, "post.hdr")
    out = curl(ctx, ["-D", hdr, "-H", "Expect: 100-continue", "--data-binary",
                     "@" + os.path.join(ctx.root, "post.bin"), ctx.pair.url("/post")])
    with open(hdr, "rb") as f:
        h = f.read()
    if not h.startswith(b"HTTP/1.1 100 Continue") or out != "ok\n":
        raise RuntimeError("no 100 Continue / ok: %r %r" % (h, out))
    return 1, [tx(ctx, "POST", "/post", 200, 3, req_body=len(ctx.files["post.bin"]),
                  interim=[100])]


def sc_head(ctx):
    rows = curl_many(ctx, ["/static/big.bin"], method_args=["-I"])
    return 1, [tx(ctx, "HEAD", "/static/big.bin", rows[0][0], 0)]


def sc_notmod(ctx):
    hdr = os.path.join(ctx.tmp, "etag.hdr")
    curl(ctx, ["-D", hdr, "-o", "/dev/null", ctx.pair.url("/static/small.txt")])
    etag = None
    with open(hdr) as f:
        for line in f:
            if line.lower().startswith("etag:"):
                etag = line.split(":", 1)[1].strip()
    if not etag:
        raise RuntimeError("no ETag from nginx")
    rows = curl_many(ctx, ["/static/small.txt"], extra=["-H", "If-None-Match: " + etag])
    if rows[0][0] != 304:
        raise RuntimeError("conditional GET gave %d" % rows[0][0])
    return 2, [tx(ctx, "GET", "/static/small.txt", 200, len(SMALL), conn=0),
               tx(ctx, "GET", "/static/small.txt", 304, 0, conn=1)]


def sc_close(ctx):
    paths = ["/static/small.txt", "/static/style.css"]
    rows = curl_many(ctx, paths, extra=["-H", "Connection: close"])
    if sum(r[2] for r in rows) != 2:
        raise RuntimeError("curl did not open 2 connections: %r" % rows)
    return 2, [tx(ctx, "GET", p, r[0], r[1], conn=i) for i, (p, r) in enumerate(zip(paths, rows))]


def sc_redirect404(ctx):
    paths = ["/old", "/missing"]
    rows = curl_many(ctx, paths)
    if [r[0] for r in rows] != [301, 404]:
        raise RuntimeError("expected 301 and 404, curl saw %r" % rows)
    return 1, [tx(ctx, "GET", p, r[0], r[1]) for p, r in zip(paths, rows)]


SCENARIOS = [
    ("keepalive", sc_keepalive),
    ("pipeline", sc_pipeline),
    ("chunked", sc_chunked),
    ("gzip", sc_gzip),
    ("post100", sc_post100),
    ("head", sc_head),
    ("notmodified", sc_notmod),
    ("close", sc_close),
    ("redirect404", sc_redirect404),
]


# --------------------------------------------------------------------------
# tshark: what the capture really holds

def tshark_fields(pcap, dfilter, fields):
    cmd = ["tshark", "-n", "-r", pcap, "-Y", dfilter, "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        cmd += ["-e", f]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("tshark: " + r.stderr.strip())
    rows = []
    for line in r.stdout.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(fields) - len(cols))
        rows.append([c.split("|") if c else [] for c in cols])
    return rows


def tshark_view(pcap):
    """Requests and responses in capture order, one entry per HTTP message
    (a frame may carry several).  Body sizes: Content-Length, or the sum of
    the chunk sizes of a chunked body (unknown when a frame carries several
    responses and some are chunked)."""
    reqs = []
    for frame, stream, method, uri, host in tshark_fields(
            pcap, "http.request", ["frame.number", "tcp.stream", "http.request.method",
                                   "http.request.uri", "http.host"]):
        for i in range(len(method)):
            reqs.append({"frame": int(frame[0]), "stream": int(stream[0]),
                         "method": method[i], "url": uri[i],
                         "host": host[i] if i < len(host) else None})
    resps = []
    for stream, code, clen, chunks, enc in tshark_fields(
            pcap, "http.response", ["tcp.stream", "http.response.code", "http.content_length",
                                    "http.chunk_size", "http.content_encoding"]):
        for i in range(len(code)):
            size = None
            if len(code) == 1:
                if chunks:
                    size = sum(int(c) for c in chunks)
                elif clen:
                    size = int(clen[0])
            elif not chunks and len(clen) == len(code):
                # several responses completed by one frame (a body's last
                # segment carrying the next response whole, as nginx may
                # send pipelined answers): one Content-Length each, in order
                size = int(clen[i])
            resps.append({"stream": int(stream[0]), "status": int(code[i]), "body": size,
                          "encoding": enc[0] if len(code) == 1 and enc else None})
    streams = tshark_fields(pcap, "tcp.flags.syn == 1 && tcp.flags.ack == 0", ["tcp.stream"])
    nconn = len({s[0][0] for s in streams})
    return reqs, resps, nconn


def epoch_us(text):
    """'1795697228.131580000' -> integer microseconds, without float rounding."""
    sec, _, frac = text.partition(".")
    return int(sec) * 1000000 + int((frac + "000000")[:6])


def tshark_tcp_view(pcap, server_port=80):
    """Per connection (keyed by client port), what tshark measures at the TCP
    level: packets and payload bytes per direction, initial RTT, RST/FIN, the
    ACK RTTs of data segments, and the time of each request's first segment."""
    fields = ["frame.number", "frame.time_epoch", "tcp.srcport", "tcp.dstport", "tcp.len",
              "tcp.flags.syn", "tcp.flags.fin", "tcp.flags.reset", "tcp.analysis.initial_rtt",
              "tcp.analysis.ack_rtt", "tcp.analysis.acks_frame", "http.request.method"]
    cmd = ["tshark", "-n", "-r", pcap, "-o", "http.desegment_body:FALSE", "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in fields:
        cmd += ["-e", f]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("tshark: " + r.stderr.strip())
    frames, conns = {}, {}
    rows = []
    for line in r.stdout.splitlines():
        c = line.split("\t")
        c += [""] * (len(fields) - len(c))
        # first occurrence of each field, except the request methods: one per request
        c = [v.split("|")[0] for v in c[:-1]] + [c[-1].split("|") if c[-1] else []]
        rows.append(c)
        frames[int(c[0])] = c
    for c in rows:
        sport, dport = int(c[2]), int(c[3])
        c2s = dport == server_port
        cport = sport if c2s else dport
        k = conns.setdefault(cport, {"packets": [0, 0], "bytes": [0, 0], "initial_rtt_us": None,
                                     "fin": False, "rst": False, "data_ack_rtt_us": [],
                                     "request_us": []})
        d = 0 if c2s else 1
        k["packets"][d] += 1
        k["bytes"][d] += int(c[4] or 0)
        k["fin"] = k["fin"] or c[6] in ("1", "True")
        k["rst"] = k["rst"] or c[7] in ("1", "True")
        if c[8] and k["initial_rtt_us"] is None:
            k["initial_rtt_us"] = round(float(c[8]) * 1e6)
        if c[9] and c[10]:
            acked = frames.get(int(c[10]))
            if acked and int(acked[4] or 0) > 0 and acked[5] not in ("1", "True") \
                    and acked[6] not in ("1", "True"):
                k["data_ack_rtt_us"].append(round(float(c[9]) * 1e6))
        if c2s:
            # pipelined requests share a frame: one time per request
            k["request_us"] += [epoch_us(c[1])] * len(c[11])
    return conns


def verify_capture(res, name, pcap, exp):
    """The capture holds what the scenario claims (tshark as the reader)."""
    txs = exp["transactions"]
    try:
        reqs, resps, nconn = tshark_view(pcap)
    except Exception as e:
        res.fail("%s: capture readable by tshark" % name, str(e))
        return None
    res.check("%s: capture: tshark sees %d connection(s)" % (name, exp["connections"]),
              exp["connections"], nconn)
    res.check("%s: capture: tshark requests" % name,
              [(t["method"], t["url"], t["host"]) for t in txs],
              [(r["method"], r["url"], r["host"]) for r in reqs])
    # a 1xx has no body; the Content-Length of a HEAD or 304 response describes a
    # body that is not sent: compare the status only for those
    want, nobody = [], []
    for t in txs:
        want += [(s, None) for s in t["interim"]] + [(t["status"], t["resp_body_bytes"])]
        nobody += [True] * len(t["interim"])
        nobody.append(t["method"] == "HEAD" or t["status"] in (204, 304))
    got = [(r["status"], r["body"]) for r in resps]
    got_cmp = got
    if len(got) == len(want):
        got_cmp = [(gs, wb if skip or wb is None else gb)
                   for (ws, wb), (gs, gb), skip in zip(want, got, nobody)]
    res.check("%s: capture: tshark responses (status, body size)" % name, want, got_cmp)
    if any(t["pipelined"] for t in txs):
        frames = [r["frame"] for r in reqs]
        res.check("%s: capture: pipelined requests share one segment" % name,
                  [frames[0]] * len(frames), frames)
    return reqs, resps, nconn


# --------------------------------------------------------------------------
# htracr: what it reads from the same capture

def run_htracr(pcap, flag, out):
    r = subprocess.run([HTRACR, "-r", pcap, flag, out], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("exit %d: %s" % (r.returncode, r.stderr.strip()[-500:]))
    with open(out) as f:
        text = f.read()
    return text


def htracr_transactions(model):
    """Flatten the JSON model into transactions: connections by start time,
    requests in id order, each with its final response and the 1xx before it."""
    conns = sorted(model.get("connections", []), key=lambda c: (c.get("start_us", 0),
                                                                 c.get("id", 0)))
    out = []
    for ci, c in enumerate(conns):
        msgs = sorted(c.get("messages", []), key=lambda m: m.get("id", 0))
        by_id = {m.get("id"): m for m in msgs}
        for m in msgs:
            if m.get("kind") != "request":
                continue
            resp = by_id.get(m.get("response")) if m.get("response") else None
            interims = [r for r in msgs if r.get("kind") == "response"
                        and r.get("request") == m.get("id")
                        and isinstance(r.get("status"), int) and 100 <= r["status"] < 200]
            out.append({"conn": ci, "req": m, "resp": resp, "interims": interims})
    return conns, out


def check_tcp(res, name, pcap, conns):
    """TCP facts of each connection against tshark's reading (keyed by client port)."""
    try:
        t = tshark_tcp_view(pcap)
    except Exception as e:
        res.fail("%s: tcp: tshark view" % name, str(e))
        return
    ports = sorted(t)
    by_port = {c.get("client_port"): c for c in conns}
    hs = [by_port.get(p, {}) for p in ports]
    st = [h.get("stats", {}) for h in hs]
    res.check("%s: tcp: packets per direction equal tshark's" % name,
              [tuple(t[p]["packets"]) for p in ports],
              [(x.get("packets_c2s"), x.get("packets_s2c")) for x in st])
    res.check("%s: tcp: payload bytes per direction equal tshark's" % name,
              [tuple(t[p]["bytes"]) for p in ports],
              [(x.get("bytes_c2s"), x.get("bytes_s2c")) for x in st])
    res.check("%s: tcp: handshake_rtt_us equals tshark's initial RTT" % name,
              [t[p]["initial_rtt_us"] for p in ports], [h.get("handshake_rtt_us") for h in hs])
    res.check("%s: tcp: close kind" % name,
              ["rst" if t[p]["rst"] else "fin" if t[p]["fin"] else "open" for p in ports],
              [h.get("close") for h in hs])
    # Every data segment tshark timed (first ACK covering it, no retransmits on a
    # veth) is one of htracr's RTT samples, so htracr's min/max must bracket them.
    want, got = [], []
    for p, x in zip(ports, st):
        samples = t[p]["data_ack_rtt_us"]
        if not samples:
            continue
        want.append((p, True, True, True))
        lo, hi = x.get("rtt_min_us"), x.get("rtt_max_us")
        got.append((p, lo is not None and hi is not None,
                    lo is not None and lo <= min(samples),
                    hi is not None and hi >= max(samples)))
    res.check("%s: tcp: rtt_min/max bracket tshark's data-segment ACK RTTs "
              "(port, present, min<=, max>=)" % name, want, got)
    res.check("%s: request start_us is its first segment's time" % name,
              [t[p]["request_us"] for p in ports],
              [[m.get("start_us") for m in sorted(h.get("messages", []),
                                                   key=lambda m: m.get("id", 0))
                if m.get("kind") == "request"] for h in hs])


def check_htracr(res, name, pcap, exp, tsh):
    txs = exp["transactions"]
    base = os.path.join(OUT_DIR, name)
    try:
        model = json.loads(run_htracr(pcap, "--json", base + ".htracr.json"))
    except Exception as e:
        res.fail("%s: htracr --json" % name, str(e))
        return
    res.ok("%s: htracr --json runs and is valid JSON" % name)

    conns, got = htracr_transactions(model)
    res.check("%s: %d connection(s)" % (name, exp["connections"]), exp["connections"],
              len(conns))
    res.check("%s: stats.connections" % name, exp["connections"],
              model.get("stats", {}).get("connections"))
    res.check("%s: %d transactions (method, url, status) in order" % (name, len(txs)),
              [(t["method"], t["url"], t["status"]) for t in txs],
              [(g["req"].get("method"), g["req"].get("url"),
                g["resp"].get("status") if g["resp"] else None) for g in got])
    res.check("%s: transactions per connection" % name, [t["conn"] for t in txs],
              [g["conn"] for g in got])
    res.check("%s: pipelined flags" % name, [t["pipelined"] for t in txs],
              [bool(g["req"].get("pipelined")) for g in got])
    res.check("%s: interim 1xx responses" % name, [t["interim"] for t in txs],
              [[i.get("status") for i in g["interims"]] for g in got])
    if any(t["interim"] for t in txs):
        flags = [bool(i.get("interim")) for g in got for i in g["interims"]]
        res.check("%s: 1xx marked interim" % name, [True] * sum(len(t["interim"]) for t in txs),
                  flags)
    res.check("%s: response body_bytes" % name, [t["resp_body_bytes"] for t in txs],
              [g["resp"].get("body_bytes") if g["resp"] else None for g in got])
    if any(t["req_body_bytes"] for t in txs):
        res.check("%s: request body_bytes" % name, [t["req_body_bytes"] for t in txs],
                  [g["req"].get("body_bytes") for g in got])
    if any(t["content_encoding"] for t in txs):
        res.check("%s: content_encoding" % name, [t["content_encoding"] for t in txs],
                  [g["resp"].get("content_encoding") if g["resp"] else None for g in got])

    # against tshark's reading of the same file
    if tsh is not None:
        reqs, resps, _ = tsh
        nreq = sum(1 for c in conns for m in c.get("messages", []) if m.get("kind") == "request")
        nresp = sum(1 for c in conns for m in c.get("messages", [])
                    if m.get("kind") == "response")
        res.check("%s: request count equals tshark's" % name, len(reqs), nreq)
        res.check("%s: response count (incl. 1xx) equals tshark's" % name, len(resps), nresp)
        stats = model.get("stats", {})
        res.check("%s: stats.requests/responses equal tshark's" % name,
                  (len(reqs), len(resps)), (stats.get("requests"), stats.get("responses")))

    check_tcp(res, name, pcap, conns)

    try:
        text = run_htracr(pcap, "--jsonl", base + ".htracr.jsonl")
        lines = [json.loads(x) for x in text.splitlines() if x.strip()]
    except Exception as e:
        res.fail("%s: htracr --jsonl" % name, str(e))
    else:
        res.check("%s: JSONL has one line per transaction" % name, len(txs), len(lines))
        res.check("%s: JSONL method, url, status, host" % name,
                  [(t["method"], t["url"], t["status"], t["host"]) for t in txs],
                  [(x.get("method"), x.get("url"), x.get("status"), x.get("host"))
                   for x in lines])
        res.check("%s: JSONL lines carry request and response objects" % name,
                  [(True, True)] * len(lines),
                  [(isinstance(x.get("request"), dict), isinstance(x.get("response"), dict))
                   for x in lines])

    try:
        har = json.loads(run_htracr(pcap, "--har", base + ".htracr.har"))
        log = har["log"]
        entries = log["entries"]
    except Exception as e:
        res.fail("%s: htracr --har" % name, "%s: %s" % (type(e).__name__, e))
    else:
        res.check("%s: HAR log.version" % name, "1.2", log.get("version"))
        res.check("%s: HAR entries" % name, len(txs), len(entries))
        want = sorted((t["method"], "http://%s%s" % (t["host"], t["url"]), t["status"])
                      for t in txs)
        gotv = sorted((e.get("request", {}).get("method"), e.get("request", {}).get("url"),
                       e.get("response", {}).get("status")) for e in entries)
        res.check("%s: HAR entries method, url, status" % name, want, gotv)
        # HAR 1.2: bodySize is the body as received (compressed, 0 for 304/HEAD);
        # content.size is the decoded length
        key = lambda e: (e[0], e[1], e[2])  # noqa: E731
        want = sorted(((t["method"], "http://%s%s" % (t["host"], t["url"]), t["status"],
                        t["resp_body_bytes"]) for t in txs), key=key)
        gotv = sorted(((e.get("request", {}).get("method"), e.get("request", {}).get("url"),
                        e.get("response", {}).get("status"),
                        e.get("response", {}).get("bodySize")) for e in entries), key=key)
        res.check("%s: HAR response.bodySize" % name, [w[3] for w in want],
                  [g[3] for g in gotv])
        for t in txs:
            if t["content_encoding"] and t.get("decoded_bytes") is not None:
                sizes = [e.get("response", {}).get("content", {}).get("size") for e in entries
                         if e.get("request", {}).get("url", "").endswith(t["url"])]
                res.check("%s: HAR content.size of %s is the decoded length" % (name, t["url"]),
                          [t["decoded_bytes"]], sizes)


# --------------------------------------------------------------------------
# driving it

class Ctx:
    pass


def setup(tag):
    ctx = Ctx()
    ctx.pair = netns.Pair(tag)
    ctx.pair.__enter__()
    netns.add_cleanup("pair", ctx.pair.teardown)
    ctx.tmp = netns.make_tempdir("htr-cap-")
    ctx.root = os.path.join(ctx.tmp, "www")
    ctx.files = write_site(ctx.root)
    ctx.pair.start_nginx(nginx_http_body(ctx.pair.server_addr, ctx.root),
                         wait_path="/static/small.txt")
    ctx.host = ctx.pair.server_addr
    # the gzip body's length on the wire, measured outside any capture
    gz = os.path.join(ctx.tmp, "text.gz")
    curl(ctx, ["-H", "Accept-Encoding: gzip", "-o", gz, ctx.pair.url("/static/text.txt")])
    ctx.gzip_len = os.path.getsize(gz)
    if ctx.gzip_len >= len(ctx.files["static/text.txt"]):
        raise RuntimeError("nginx did not compress text.txt")
    return ctx


def capture(ctx, path, fn, attempts=3):
    """Record fn's traffic into path. A capture that tcpdump could not keep
    whole (kernel buffer drops on a busy machine) is made again."""
    for attempt in range(1, attempts + 1):
        td = netns.Tcpdump(ctx.pair.client, ctx.pair.client_if, path)
        try:
            result = fn(ctx)
        finally:
            err = td.stop()
        if re.search(r"(^|\n)0 packets dropped by kernel", err):
            return result
        if attempt == attempts:
            raise RuntimeError("tcpdump dropped packets %d times: %s" % (attempts, err.strip()))
        print("retry %s: tcpdump dropped packets" % os.path.basename(path), flush=True)


def make_captures(res, ctx, only=None):
    made = []
    for name, fn in SCENARIOS:
        if only and name not in only:
            continue
        pcap = os.path.join(OUT_DIR, name + ".pcap")
        try:
            nconn, txs = capture(ctx, pcap, fn)
        except Exception as e:
            res.fail("%s: make capture" % name, str(e))
            continue
        exp = {"name": name, "server": ctx.pair.server_addr, "port": 80,
               "connections": nconn, "transactions": txs}
        with open(os.path.join(OUT_DIR, name + ".json"), "w") as f:
            json.dump(exp, f, indent=1)
        res.ok("%s: capture made (%d connection(s), %d transaction(s))"
               % (name, nconn, len(txs)))
        made.append((name, pcap, exp))
    return made


def htracr_usable():
    if not os.access(HTRACR, os.X_OK):
        return "no ./htracr (run make)"
    r = subprocess.run([HTRACR, "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=10)
    if r.returncode != 0:
        return "./htracr --version exits %d" % r.returncode
    return None


# Per scenario: how many htracr checks check_htracr() would run, for skip lines.
def n_htracr_checks(exp):
    txs = exp["transactions"]
    n = 8 + 3 + 6 + 3 + 4  # json core + against tshark + tcp + jsonl + har
    n += 1 if any(t["interim"] for t in txs) else 0
    n += 1 if any(t["req_body_bytes"] for t in txs) else 0
    n += 1 if any(t["content_encoding"] for t in txs) else 0
    n += sum(1 for t in txs if t["content_encoding"] and t.get("decoded_bytes") is not None)
    return n


DEMO_CLIENT = r"""
import http.client, sys, threading, time
addr, host = sys.argv[1], sys.argv[2]
ua = "Mozilla/5.0 (X11; Linux x86_64) htracr-demo"
def get(conn, path, referer=None):
    h = {"Host": host, "User-Agent": ua, "Accept-Encoding": "gzip", "Accept": "*/*"}
    if referer:
        h["Referer"] = "http://%s/index.html" % host
    conn.request("GET", path, headers=h)
    r = conn.getresponse()
    r.read()
    return r.status
c1 = http.client.HTTPConnection(addr, 80, timeout=10)
assert get(c1, "/") == 301
assert get(c1, "/index.html") == 200
time.sleep(0.03)      # the browser parses the page before asking for assets
c2 = http.client.HTTPConnection(addr, 80, timeout=10)
def second():
    for p in ("/img/logo.png", "/static/big.bin", "/static/text.txt"):
        get(c2, p, True)
t = threading.Thread(target=second)
t.start()
for p in ("/static/style.css", "/static/app.js", "/favicon.ico"):
    get(c1, p, True)
t.join()
c1.close()
c2.close()
"""


def demo(out):
    ctx = setup("htr-demo")
    tmp = os.path.join(ctx.tmp, "demo.pcap")

    def page_load(c):
        r = c.pair.client.run([PYTHON, "-c", DEMO_CLIENT, c.pair.server_addr, c.host])
        if r.returncode != 0:
            raise RuntimeError("demo client failed: " + r.stderr)

    capture(ctx, tmp, page_load)
    shutil.copyfile(tmp, out)
    print("wrote %s" % out)


def main(argv):
    if "--demo" in argv:
        i = argv.index("--demo")
        if i + 1 >= len(argv):
            print("usage: captures.py --demo OUT.pcap", file=sys.stderr)
            return 2
        if not netns.is_root():
            print("captures.py --demo: needs root (network namespaces, tcpdump)",
                  file=sys.stderr)
            return 1
        try:
            demo(os.path.abspath(argv[i + 1]))
        finally:
            netns.cleanup_all()
        return 0

    only = [a for a in argv if not a.startswith("-")]
    res = Results()
    if not netns.is_root():
        print("skip captures: needs root (network namespaces, tcpdump)")
        for name, _ in SCENARIOS:
            if not only or name in only:
                res.skip("%s: capture and htracr checks" % name, "not root")
        res.summary()
        return 0
    for tool in ("nginx", "tcpdump", "tshark", "curl"):
        path = netns.NGINX if tool == "nginx" else shutil.which(tool)
        if not path or not os.access(path, os.X_OK):
            print("FAIL setup: %s not installed (scripts/install-deps.sh)" % tool)
            res.failed += 1
            res.summary()
            return 1

    os.makedirs(OUT_DIR, exist_ok=True)
    start = time.monotonic()
    try:
        try:
            ctx = setup("htr")
        except Exception as e:
            res.fail("setup: namespaces + nginx", str(e))
            res.summary()
            return 1
        res.ok("setup: namespaces %s/%s, nginx on %s:80" % (
            ctx.pair.client.name, ctx.pair.server.name, ctx.pair.server_addr))
        made = make_captures(res, ctx, only)
    finally:
        netns.cleanup_all()

    tsh = {}
    for name, pcap, exp in made:
        tsh[name] = verify_capture(res, name, pcap, exp)

    why = htracr_usable()
    for name, pcap, exp in made:
        if why:
            res.skip("%s: %d htracr checks" % (name, n_htracr_checks(exp)), why,
                     n_htracr_checks(exp))
            continue
        check_htracr(res, name, pcap, exp, tsh[name])

    print("# %.1f s; captures and htracr outputs in %s" % (time.monotonic() - start,
                                                           os.path.relpath(OUT_DIR)))
    res.summary()
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
