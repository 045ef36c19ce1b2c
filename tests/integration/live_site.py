# SPDX-License-Identifier: MIT
"""The traffic side of the live-capture integration suite (tests/integration/run.py).

Live htracr is the first stage of the pipeline fed by a real socket; to test
it end to end the suite needs traffic whose every HTTP transaction it knows
independently of htracr.  This module makes that traffic: the files a real
nginx serves in the server namespace (tests/lib/netns.py), the nginx config
(static files, gzip, an SSI page nginx must send chunked, a POST location that
reads the whole body, keep-alive without a request limit so wrk keeps its
connections), and the clients: curl, whose -w output says per URL what the
client itself saw (status, body size, new connections, local port), and wrk,
whose summary says how many responses it completed.

Python 3 standard library only.
"""

import os
import re

SMALL = b"hello htracr\n"
BIG_SIZE = 200 * 1024          # several GSO super-segments on the veth
POST_SIZE = 6000

# curl -w: one line per URL, fields split by '|' (header values may be empty)
CURL_W = ("%{http_code}|%{size_download}|%{num_connects}|%{local_port}|"
          "%header{transfer-encoding}|%header{content-encoding}\\n")


def big_bytes():
    return bytes((i * 7 + (i >> 8) * 3 + 1) & 0xff for i in range(BIG_SIZE))


def text_bytes():
    return "".join("line %05d: the quick brown fox jumps over the lazy dog, once more.\n" % i
                   for i in range(500)).encode()


def write_site(root):
    """Write the site under root; returns {relative path: bytes}."""
    files = {
        "static/small.txt": SMALL,
        "static/big.bin": big_bytes(),
        "static/text.txt": text_bytes(),
        "static/style.css": b"p { margin: 0 0 1em 0; color: #333; }\n" * 30,
        "index.html": b"<!doctype html><title>htracr live</title>\n" + b"<p>live</p>\n" * 50,
        # SSI output has no length up front: nginx sends it chunked
        "ssi/page.shtml": (b"<p>first</p>\n" * 30
                           + b"<!--# include virtual=\"/static/small.txt\" -->\n"
                           + b"<p>second</p>\n" * 30
                           + b"<!--# include virtual=\"/static/style.css\" -->\n"
                           + b"<p>end</p>\n"),
        "post.bin": bytes((i * 11 + 5) & 0xff for i in range(POST_SIZE)),
    }
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return files


def nginx_http_body(addr, root):
    """The text inside nginx's http { } for the site at root on addr:80.
    POST /post goes through proxy_pass so nginx reads the whole request body;
    the upstream is on the server namespace's loopback, which the capture on
    the client veth never sees."""
    return """
  keepalive_requests 1000000;
  server {
    listen %(addr)s:80;
    server_name _;
    root %(root)s;
    access_log off;
    gzip on;
    gzip_min_length 20;
    gzip_types text/plain text/css;
    location /ssi/ { ssi on; ssi_types *; }
    location = /post {
      client_max_body_size 1m;
      proxy_pass http://127.0.0.1:8081/;
    }
  }
  server {
    listen 127.0.0.1:8081;
    access_log off;
    location / { return 200 "ok\\n"; }
  }
""" % {"addr": addr, "root": root}


class CurlRow:
    """What curl saw for one URL."""
    __slots__ = ("status", "size", "connects", "port", "te", "ce")

    def __init__(self, line):
        f = line.split("|")
        if len(f) != 6:
            raise ValueError("bad curl -w line %r" % line)
        self.status, self.size = int(f[0]), int(f[1])
        self.connects, self.port = int(f[2]), int(f[3])
        self.te, self.ce = f[4].strip().lower(), f[5].strip().lower()


def curl(ns, urls, args=(), timeout=20):
    """One curl invocation in namespace ns over several URLs (bodies to
    /dev/null unless args say otherwise); returns one CurlRow per URL.
    Raises RuntimeError when curl fails or does not report every URL."""
    argv = ["curl", "-s", "-S", "--max-time", "10"] + list(args) + ["-w", CURL_W]
    for u in urls:
        argv += ["-o", "/dev/null", u]
    r = ns.run(argv, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("curl %s: exit %d: %s" % (" ".join(argv[1:]), r.returncode,
                                                    r.stderr.strip()))
    rows = [CurlRow(x) for x in r.stdout.splitlines() if x.strip()]
    if len(rows) != len(urls):
        raise RuntimeError("curl reported %d results for %d urls: %r" % (len(rows), len(urls),
                                                                        r.stdout))
    return rows


class WrkResult:
    __slots__ = ("requests", "socket_errors", "non2xx", "text")


def wrk(ns, url, threads=1, conns=4, seconds=2):
    """Run wrk in namespace ns; returns a WrkResult (requests = wrk's
    "N requests in" figure, i.e. the responses it completed)."""
    argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, url]
    r = ns.run(argv, timeout=seconds + 20)
    if r.returncode != 0:
        raise RuntimeError("wrk: exit %d: %s %s" % (r.returncode, r.stdout, r.stderr))
    m = re.search(r"^\s*(\d+) requests in ", r.stdout, re.M)
    if not m:
        raise RuntimeError("no 'N requests in' in wrk's output: %r" % r.stdout)
    res = WrkResult()
    res.requests = int(m.group(1))
    m = re.search(r"Socket errors: (.*)$", r.stdout, re.M)
    res.socket_errors = m.group(1).strip() if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    res.non2xx = int(m.group(1)) if m else 0
    res.text = r.stdout
    return res
