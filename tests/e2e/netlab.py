#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Real traffic for the browser tests (tests/e2e), made in network namespaces.

The e2e tests drive htracr's web UI, the last stage of the pipeline, and need
captures whose content they know independently of htracr: files a real nginx
served, requests curl made, packets a tc BPF program threw away.  This helper
makes them with tests/lib/netns.py (fresh namespaces, removed on exit) and is
called from node (lib.mjs) in one of two modes:

    netlab.py capture OUTDIR
        Client and server namespaces joined by a veth pair, nginx with gzip
        in the server one, tcpdump on the client's veth end.  Writes
        OUTDIR/site.pcap (a page with its CSS, JS and images over keep-alive
        and parallel connections, a gzip'd text file, a 404) and
        OUTDIR/lossy.pcap (a 1 MiB download through a 20 Mbit/s bottleneck
        with about 3 % of the server's segments dropped by
        tests/bpf/tc_drop.bpf.c), and the served files under OUTDIR/site/.
        Prints one JSON object saying what was made.

    netlab.py serve
        One server namespace with nginx on ports 80 and 8080, joined by a veth
        pair whose other end stays in the caller's (root) namespace with an
        address, so curl and chromium there reach nginx through that end and
        htracr can capture on it.  A tbf qdisc on the server's side makes the
        link 40 Mbit/s, so a page load takes visible time.  Prints one JSON
        line (interface, addresses, site directory), then waits until stdin
        closes or a signal comes, and removes everything.

Needs root.  Python 3 standard library only.
"""

import json
import os
import random
import select
import signal
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

import netns  # noqa: E402
import tcdrop  # noqa: E402

LOSSY_SIZE = 1024 * 1024
DROP_PERCENT = 3


# --------------------------------------------------------------------------
# the site

def png(width, height, seed):
    """A valid RGB PNG of coloured noise over a gradient (so it does not
    compress much and takes a few packets to send)."""
    rnd = random.Random(seed)
    rows = []
    for y in range(height):
        noise = rnd.randbytes(width)
        row = bytearray(1 + 3 * width)
        for x in range(width):
            n = noise[x] >> 2
            row[1 + 3 * x] = (x * 255 // width + n) & 0xff
            row[2 + 3 * x] = (y * 255 // height + n) & 0xff
            row[3 + 3 * x] = (seed * 40 + n) & 0xff
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 6)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def text_bytes():
    return "".join("line %04d: the quick brown fox jumps over the lazy dog; htracr e2e.\n" % i
                   for i in range(300)).encode()


def write_site(root):
    """Write the site under root; returns {url path: bytes}."""
    imgs = ["/img/photo%d.png" % i for i in range(1, 5)]
    html = ("<!doctype html>\n<html><head><meta charset=utf-8><title>htracr e2e page</title>\n"
            "<link rel=icon href=data:,>\n"
            "<link rel=stylesheet href=/css/site.css>\n"
            "<script src=/js/app.js defer></script></head>\n<body>\n<h1>A page to trace</h1>\n"
            + "<p>Some text that repeats, so that gzip has work to do.</p>\n" * 40
            + "".join("<img src=%s width=160 height=120 alt=photo>\n" % u for u in imgs)
            + "</body></html>\n").encode()
    files = {
        "/index.html": html,
        "/css/site.css": (b"body { font: 15px sans-serif; background: url(/img/bg.png); }\n"
                          + b"p { margin: 0 0 1em 0; color: #333; }\n" * 40),
        "/js/app.js": b"document.title += ' (loaded)';\n" + b"// padding for size\n" * 200,
        "/img/bg.png": png(64, 64, 9),
        "/text.txt": text_bytes(),
        "/big.bin": random.Random(5).randbytes(LOSSY_SIZE),
    }
    for i, u in enumerate(imgs):
        files[u] = png(200, 150, i + 1)
    for u, data in files.items():
        path = os.path.join(root, u.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return files


def nginx_body(addr, root, ports):
    listens = "".join("    listen %s:%d;\n" % (addr, p) for p in ports)
    return """
  types { image/png png; text/html html; text/plain txt; text/css css;
          application/javascript js; }
  server {
%s    server_name _;
    root %s;
    access_log off;
    etag off;
    gzip on;
    gzip_min_length 20;
    gzip_types text/plain text/css application/javascript;
  }
""" % (listens, root)


# --------------------------------------------------------------------------
# capture mode

def curl(ns, args, timeout=30):
    r = ns.run(["curl", "-s", "-S", "--max-time", "20"] + args, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("curl %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                     r.stderr.strip()))
    return r.stdout


def capture(outdir):
    os.makedirs(outdir, exist_ok=True)
    tmp = netns.make_tempdir("htr-e2e-")
    site = os.path.join(outdir, "site")
    files = write_site(site)
    obj = tcdrop.compile_variant(tmp, "lossy", ["-DDROP_PERCENT=%d" % DROP_PERCENT])
    made = {"site_pcap": os.path.join(outdir, "site.pcap"),
            "lossy_pcap": os.path.join(outdir, "lossy.pcap"), "site_dir": site}
    with netns.Pair("htr-e2c") as pair:
        pair.start_nginx(nginx_body(pair.server_addr, site, [80]), "/index.html")
        c, s = pair.client, pair.server
        base = pair.url("")
        for attempt in range(3):
            dump = netns.Tcpdump(c, pair.client_if, made["site_pcap"], buffer_kib=16384)
            # the page and its CSS and JS on one keep-alive connection, gzip'd
            curl(c, ["--compressed", "-o", "/dev/null", base + "/index.html",
                     "-o", "/dev/null", base + "/css/site.css",
                     "-o", "/dev/null", base + "/js/app.js"])
            # the images over parallel connections
            imgs = [u for u in files if u.startswith("/img/")]
            args = ["-Z", "--parallel-max", "3"]
            for u in imgs:
                args += ["-o", "/dev/null", base + u]
            curl(c, args)
            # the text file gzip'd on its own connection, then a 404
            curl(c, ["--compressed", "-o", os.path.join(tmp, "text.out"), base + "/text.txt"])
            curl(c, ["-o", "/dev/null", base + "/missing.html"])
            if (netns.tcpdump_kernel_drops(dump.stop()) or 0) == 0:
                break
        made["site_requests"] = 3 + len(imgs) + 2
        made["gzip_url"] = "/text.txt"
        made["gzip_file"] = os.path.join(site, "text.txt")
        with open(os.path.join(tmp, "text.out"), "rb") as f:
            if f.read() != files["/text.txt"]:
                raise RuntimeError("curl's decoded /text.txt differs from the file")

        # the lossy download: one segment per packet so a drop is one segment,
        # a bottleneck so the window and RTT charts have a shape, and drops
        s.run_checked(["ip", "link", "set", "dev", pair.server_if, "gso_max_segs", "1"])
        s.run_checked(["tc", "qdisc", "add", "dev", pair.server_if, "root", "tbf", "rate",
                       "20mbit", "burst", "16k", "limit", "96k"])
        dropper = tcdrop.Dropper(s, pair.server_if)
        dropper.attach(obj)
        dump = netns.Tcpdump(c, pair.client_if, made["lossy_pcap"], buffer_kib=16384)
        curl(c, ["-o", "/dev/null", base + "/big.bin"])
        made["lossy_tcpdump_drops"] = netns.tcpdump_kernel_drops(dump.stop()) or 0
        made["lossy_dropped"] = dropper.counters()[0]
        made["lossy_size"] = LOSSY_SIZE
    netns.cleanup_all()
    print(json.dumps(made), flush=True)


# --------------------------------------------------------------------------
# serve mode

def serve():
    pid = os.getpid()
    n = 1 + pid % 250
    host_addr, server_addr = "10.198.%d.1" % n, "10.198.%d.2" % n
    host_if, server_if = ("he%d" % pid)[:15], ("se%d" % pid)[:15]
    site = netns.make_tempdir("htr-e2e-site-")
    write_site(site)
    ns = netns.Netns("htr-e2e-s-%d" % pid)
    subprocess.run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", server_if,
                    "netns", ns.name], check=True)
    # deleting the namespace removes both ends; this covers a failure before
    netns.add_cleanup("veth " + host_if, lambda: subprocess.run(
        ["ip", "link", "del", host_if], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    # no IPv6 link-local address on this end: its arrival a second later is
    # a "network change" to chromium, which then fails requests in flight
    subprocess.run(["ip", "link", "set", host_if, "addrgenmode", "none"], check=True)
    subprocess.run(["ip", "addr", "add", host_addr + "/24", "dev", host_if], check=True)
    subprocess.run(["ip", "link", "set", host_if, "up"], check=True)
    ns.run_checked(["ip", "addr", "add", server_addr + "/24", "dev", server_if])
    ns.run_checked(["ip", "link", "set", server_if, "up"])
    ns.run_checked(["tc", "qdisc", "add", "dev", server_if, "root", "tbf", "rate", "40mbit",
                    "burst", "16k", "limit", "128k"])
    nginx = netns.Nginx(ns, nginx_body(server_addr, site, [80, 8080]),
                        "http://%s/index.html" % server_addr)
    del nginx
    print(json.dumps({"iface": host_if, "host_addr": host_addr, "server_addr": server_addr,
                      "netns": ns.name, "server_if": server_if, "site_dir": site}), flush=True)
    try:
        while sys.stdin.read(4096):
            pass
    finally:
        netns.cleanup_all()


def main(argv):
    if os.geteuid() != 0:
        print("netlab.py: needs root (network namespaces)", file=sys.stderr)
        return 77
    if len(argv) == 3 and argv[1] == "capture":
        capture(argv[2])
    elif len(argv) == 2 and argv[1] == "serve":
        serve()
    else:
        print("usage: netlab.py capture OUTDIR | netlab.py serve", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
