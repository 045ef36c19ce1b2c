#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""TCP faults on real traffic, and htracr's reading of them against tshark's.

This suite sits at the far end of the pipeline, beside captures.py: ./htracr
is a black box that turns a pcap into the JSON model.  It builds a client and
a server namespace joined by a veth pair (tests/lib/netns.py), starts a real
nginx in the server namespace, and makes faults there with the kernel's own
tools, since this kernel has no netem: a tc BPF program on the server veth's
egress (tests/bpf/tc_drop.bpf.c, compiled here once per fault) throws away
chosen packets and counts them in a map the test reads back with bpftool, so
the test knows exactly what it removed; a tbf qdisc makes a bottleneck; small
Python clients make a zero window and a reset.  tcpdump records the client
side; htracr and tshark then read the same file.

Scenarios: drop-one (one response segment lost), synack (first SYN/ACK lost,
the client retries its SYN; the server's own SYN/ACK retries are off), random and random1 (about 5 % and 1 % of a 2 MB download lost), tbf
(2 Mbit/s-class bottleneck), zero-window (slow reader), rst (client resets in
the middle of a response).  Every scenario also compares htracr's
retransmission, duplicate-ACK and out-of-order counts with tshark's
tcp.analysis.* counts, since htracr follows Wireshark's definitions.

One named line per check; last line "N passed, N failed, N skipped"; exit 1
on any failure.  Needs root; without it everything is skipped.  Captures are
kept in /tmp/htracr-faults/ (NAME.pcap, NAME.json) so a failure can be read.

    tests/integration/faults.py              run every scenario
    tests/integration/faults.py NAME...      only the named ones
"""

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

import netns  # noqa: E402
import tcdrop  # noqa: E402

HTRACR = os.environ.get("HTRACR_BIN", os.path.join(REPO, "htracr"))
KEEP_DIR = "/tmp/htracr-faults"
PYTHON = "/usr/bin/python3"
TOOLS = ["clang", "tc", "bpftool", "tshark", "tcpdump", "curl", "taskset", netns.NGINX]

BIG = 2 * 1024 * 1024          # drop-one, random, rst
MID = 512 * 1024               # tbf, zero-window
SMALL = 4096                   # synack
TBF_RATE_BIT = 4 * 1000 * 1000
TBF_BURST = 16 * 1024

ATTEMPTS = 3                   # a scenario whose capture tcpdump dropped is run again

# one object per fault: name -> compiler defines
VARIANTS = {
    "count": [],
    "drop3": ["-DDROP_NTH_DATA=3"],
    "synack": ["-DDROP_SYNACK_ONCE"],
    "pct5": ["-DDROP_PERCENT=5"],
    "pct1": ["-DDROP_PERCENT=1"],
}
C_DROPPED, C_DATA_SEEN, C_SYNACK_SEEN, C_SHORT, C_LAST_SEQ = range(5)


# --------------------------------------------------------------------------
# results

class Results:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.pending = None     # during an attempt: [(ok, line)], not yet counted

    def _add(self, ok, line):
        if self.pending is not None:
            self.pending.append((ok, line))
            return
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(line, flush=True)

    def begin(self):
        """Hold results back until commit() (or discard() for a retry)."""
        self.pending = []

    def commit(self):
        held, self.pending = self.pending or [], None
        for ok, line in held:
            self._add(ok, line)

    def discard(self):
        self.pending = None

    def ok(self, name):
        self._add(True, "ok   " + name)

    def fail(self, name, why=""):
        self._add(False, "FAIL " + name + (": " + why if why else ""))

    def skip(self, name, why, count=1):
        self.skipped += count
        print("skip %s: %s" % (name, why), flush=True)

    def cond(self, cond, name, why=""):
        (self.ok if cond else lambda n: self.fail(n, why))(name)
        return bool(cond)

    def eq(self, scen, what, got, want, want_name="tshark"):
        """'ok   scen: what got == tshark want'."""
        line = "%s: %s %r == %s %r" % (scen, what, got, want_name, want)
        return self.cond(got == want, line, "differ")

    def summary(self):
        print("%d passed, %d failed, %d skipped" % (self.passed, self.failed, self.skipped),
              flush=True)


# --------------------------------------------------------------------------
# the BPF fault injector

def compile_variants(tmp):
    """Compile tc_drop.bpf.c once per variant; returns name -> object path."""
    return {name: tcdrop.compile_variant(tmp, name, defs) for name, defs in VARIANTS.items()}


# --------------------------------------------------------------------------
# capture and reading

def link_drops(pair):
    """[server veth tx drops, client veth rx drops]: packets lost on the
    veth itself (a full receive backlog), which no capture sees."""
    out = []
    for ns, dev, key in ((pair.server, pair.server_if, "tx"), (pair.client, pair.client_if,
                                                                 "rx")):
        st = json.loads(ns.run_checked(["ip", "-j", "-s", "link", "show", "dev", dev]))
        out.append(st[0]["stats64"][key]["dropped"])
    return out


def run_htracr(pcap, out):
    r = subprocess.run([HTRACR, "-q", "-r", pcap, "--json", out], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("htracr exit %d: %s" % (r.returncode, r.stderr.strip()[-500:]))
    with open(out) as f:
        return json.load(f)


TS_FIELDS = ["tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack",
             "tcp.flags.reset", "tcp.seq_raw", "tcp.analysis.retransmission",
             "tcp.analysis.duplicate_ack", "tcp.analysis.out_of_order",
             "tcp.analysis.zero_window", "tcp.analysis.initial_rtt"]


def tshark_streams(pcap):
    """Per client port: counts of tshark's analysis flags, per direction where
    it matters, and the initial RTT in seconds (a string, as tshark wrote it)."""
    cmd = ["tshark", "-n", "-r", pcap, "-Y", "tcp", "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=f"]
    for f in TS_FIELDS:
        cmd += ["-e", f]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("tshark: " + r.stderr.strip())
    streams = {}
    for line in r.stdout.splitlines():
        v = dict(zip(TS_FIELDS, line.split("\t")))
        s2c = v["tcp.srcport"] == "80"
        cport = int(v["tcp.dstport"] if s2c else v["tcp.srcport"])
        st = streams.setdefault(cport, {"retrans_c2s": 0, "retrans_s2c": 0, "dup_acks": 0,
                                        "out_of_order": 0, "zero_windows": 0, "resets": 0,
                                        "initial_rtt": None, "synack_seq": None})
        if v.get("tcp.analysis.retransmission"):
            st["retrans_s2c" if s2c else "retrans_c2s"] += 1
        for f, k in (("duplicate_ack", "dup_acks"), ("out_of_order", "out_of_order"),
                     ("zero_window", "zero_windows")):
            if v.get("tcp.analysis." + f):
                st[k] += 1
        if v.get("tcp.flags.reset") in ("1", "True"):
            st["resets"] += 1
        if v.get("tcp.analysis.initial_rtt"):
            st["initial_rtt"] = v["tcp.analysis.initial_rtt"]
        if s2c and v.get("tcp.flags.syn") in ("1", "True") and st["synack_seq"] is None:
            st["synack_seq"] = int(v["tcp.seq_raw"])
    return streams


def the_conn(scen, doc, res):
    """The one connection of a scenario (each makes exactly one)."""
    conns = [c for c in doc["connections"] if c["server_port"] == 80]
    if not res.cond(len(conns) == 1, "%s: htracr sees 1 connection" % scen,
                    "saw %d" % len(conns)):
        return None
    return conns[0]


def response(conn):
    rs = [m for m in conn["messages"] if m["kind"] == "response"]
    return rs[0] if len(rs) == 1 else None


def compare_counts(scen, conn, ts, res):
    """The counts every scenario compares with tshark."""
    t = ts.get(conn["client_port"])
    if t is None:
        res.fail("%s: tshark has the connection" % scen, "port %d" % conn["client_port"])
        return None
    s = conn["stats"]
    res.eq(scen, "retransmits_s2c", s["retransmits_s2c"], t["retrans_s2c"])
    res.eq(scen, "retransmits_c2s", s["retransmits_c2s"], t["retrans_c2s"])
    res.eq(scen, "dup_acks", s["dup_acks"], t["dup_acks"])
    res.eq(scen, "out_of_order", s["out_of_order"], t["out_of_order"])
    return t


def check_body(scen, conn, size, res, complete=True):
    r = response(conn)
    if not res.cond(r is not None, "%s: one response message" % scen):
        return None
    if complete:
        res.eq(scen, "response body_bytes", r["body_bytes"], size, "file size")
    res.eq(scen, "response complete", r["complete"], complete, "expected")
    return r


def check_wire_count(scen, ctx, conn, cnt, res):
    """Every data segment the server sent, less those the BPF program took,
    reached the client: htracr must list exactly that many."""
    seen = sum(1 for p in conn["packets"] if p["dir"] == "s2c" and p["len"] > 0)
    lost = sum(ctx.link_drops)
    res.eq(scen, "s2c data packets", seen, cnt[C_DATA_SEEN] - cnt[C_DROPPED] - lost,
           "bpf sent-dropped-veth drops")


def n_events(conn, typ, d):
    return sum(1 for e in conn["events"] if e["type"] == typ and e["dir"] == d)


# --------------------------------------------------------------------------
# traffic

def curl_get(ctx, path, max_time=30):
    """curl in the client namespace, pinned to CPU 0 like nginx (so the veth
    does not reorder on its own); returns (size_download, time_total)."""
    out = os.path.join(ctx.tmp, "curl.out")
    r = ctx.pair.client.run(["taskset", "-c", "0", "curl", "-s", "-S", "--max-time",
                             str(max_time), "-o", out, "-w",
                             "%{http_code} %{size_download} %{time_total}",
                             ctx.pair.url(path)], timeout=max_time + 10)
    if r.returncode != 0:
        raise RuntimeError("curl %s: exit %d: %s" % (path, r.returncode, r.stderr.strip()))
    code, size, total = r.stdout.split()
    if code != "200":
        raise RuntimeError("curl %s: status %s" % (path, code))
    return int(size), float(total)


SLOW_READER = r"""
import socket, sys, time
addr, path = sys.argv[1], sys.argv[2]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # before connect: sets the wscale
s.settimeout(20)
s.connect((addr, 80))
s.sendall(("GET %s HTTP/1.1\r\nHost: faults\r\nConnection: close\r\n\r\n" % path).encode())
time.sleep(1.5)
n = 0
while True:
    b = s.recv(65536)
    if not b:
        break
    n += len(b)
s.close()
print(n)
"""

RESETTER = r"""
import socket, struct, sys
addr, path, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.create_connection((addr, 80), timeout=20)
s.sendall(("GET %s HTTP/1.1\r\nHost: faults\r\n\r\n" % path).encode())
n = 0
while n < want:
    b = s.recv(min(65536, want - n))
    if not b:
        break
    n += len(b)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()                     # linger 0: RST instead of FIN
print(n)
"""


def py_client(ctx, script, args, timeout=30):
    r = ctx.pair.client.run(["taskset", "-c", "0", PYTHON, "-c", script] + args,
                            timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("client failed: " + r.stderr.strip()[-500:])
    return int(r.stdout.strip())


# --------------------------------------------------------------------------
# scenarios: each makes its traffic while tcpdump runs, then checks

def sc_drop_one(ctx, res):
    ctx.dropper.attach(ctx.objs["drop3"])
    pcap, doc, ts = ctx.capture("drop-one", lambda: curl_get(ctx, "/big.bin"))
    cnt = ctx.dropper.counters()
    sc = "drop-one"
    res.eq(sc, "bpf dropped", cnt[C_DROPPED], 1, "wanted")
    if ctx.last_result[0] != BIG:
        res.fail(sc + ": curl got the whole file", "got %d" % ctx.last_result[0])
    conn = the_conn(sc, doc, res)
    if conn is None:
        return
    res.cond(conn["stats"]["retransmits_s2c"] >= 1,
             "%s: retransmits_s2c %d >= 1" % (sc, conn["stats"]["retransmits_s2c"]))
    t = compare_counts(sc, conn, ts, res)
    if t is not None and t["synack_seq"] is not None:
        rel = (cnt[C_LAST_SEQ] - t["synack_seq"]) & 0xffffffff
        again = [p for p in conn["packets"] if p["dir"] == "s2c" and p["seq"] == rel
                 and p["len"] > 0]
        flagged = [p for p in again if "retransmission" in p.get("analysis", [])]
        res.cond(len(flagged) >= 1, "%s: the dropped segment (seq %d) is flagged "
                 "retransmission when sent again" % (sc, rel),
                 "copies seen: %r" % [p.get("analysis") for p in again])
    res.eq(sc, "retransmission events s2c", n_events(conn, "retransmission", "s2c"),
           conn["stats"]["retransmits_s2c"], "retransmits_s2c")
    check_wire_count(sc, ctx, conn, cnt, res)
    check_body(sc, conn, BIG, res)


def sc_synack(ctx, res):
    # The server must not send its SYN/ACK again on its own: its timer and
    # the client's SYN timer both fire after about 1 s, and when the server's
    # wins the client never retries. With no SYN/ACK retries it answers only
    # the retried SYN.
    srv = ctx.pair.server
    was = srv.run_checked(["sysctl", "-n", "net.ipv4.tcp_synack_retries"]).strip()
    srv.run_checked(["sysctl", "-q", "-w", "net.ipv4.tcp_synack_retries=0"])
    ctx.dropper.attach(ctx.objs["synack"])
    try:
        pcap, doc, ts = ctx.capture("synack", lambda: curl_get(ctx, "/small.bin"))
    finally:
        srv.run_checked(["sysctl", "-q", "-w", "net.ipv4.tcp_synack_retries=" + was])
    cnt = ctx.dropper.counters()
    sc = "synack"
    res.eq(sc, "bpf dropped", cnt[C_DROPPED], 1, "wanted")
    res.cond(cnt[C_SYNACK_SEEN] >= 2, "%s: server sent %d SYN/ACKs >= 2" %
             (sc, cnt[C_SYNACK_SEEN]))
    conn = the_conn(sc, doc, res)
    if conn is None:
        return
    syns = [p for p in conn["packets"] if p["dir"] == "c2s" and p["flags"] == "S"]
    if res.cond(len(syns) >= 2, "%s: client sent %d SYNs >= 2" % (sc, len(syns))):
        res.cond("syn_retry" in syns[1].get("analysis", []),
                 "%s: second SYN flagged syn_retry" % sc, "analysis %r" %
                 syns[1].get("analysis"))
        res.cond("syn_retry" not in syns[0].get("analysis", []),
                 "%s: first SYN not flagged syn_retry" % sc)
    synacks = sum(1 for p in conn["packets"] if p["dir"] == "s2c" and p["flags"] == "S.")
    res.eq(sc, "SYN/ACKs captured", synacks, cnt[C_SYNACK_SEEN] - cnt[C_DROPPED],
           "bpf sent-dropped")
    t = compare_counts(sc, conn, ts, res)
    if t is not None:
        hs = conn["handshake_rtt_us"]
        irtt = t["initial_rtt"]
        if irtt is None or hs is None:
            res.fail("%s: handshake_rtt_us %r vs tshark initial_rtt %r" % (sc, hs, irtt),
                     "one is missing")
        else:
            want = float(irtt) * 1e6
            res.cond(abs(hs - want) <= 1.0, "%s: handshake_rtt_us %d == tshark initial_rtt "
                     "%.3f us (within 1 us)" % (sc, hs, want), "differ")
    check_body(sc, conn, SMALL, res)


def sc_random(ctx, res, variant="pct5", sc="random"):
    """About 5 % (or 1 %) of the server's data segments dropped at random."""
    ctx.dropper.attach(ctx.objs[variant])
    pcap, doc, ts = ctx.capture(sc, lambda: curl_get(ctx, "/big.bin", 40))
    cnt = ctx.dropper.counters()
    res.cond(cnt[C_DROPPED] >= 1, "%s: bpf dropped %d of %d data segments" %
             (sc, cnt[C_DROPPED], cnt[C_DATA_SEEN]))
    if ctx.last_result[0] != BIG:
        res.fail(sc + ": curl got the whole file", "got %d" % ctx.last_result[0])
    conn = the_conn(sc, doc, res)
    if conn is None:
        return
    s = conn["stats"]
    # A dropped segment is sent again; the copy that fills the hole is a
    # retransmission, or out-of-order when it comes within an RTT of the
    # highest segment (Wireshark's rule, which htracr shares).  Which of the
    # two depends on timing, so the test asks for either.
    refill = [p for p in conn["packets"] if p["dir"] == "s2c" and
              set(p.get("analysis", [])) & {"retransmission", "fast_retransmission",
                                            "out_of_order"}]
    res.cond(len(refill) >= 1, "%s: %d s2c packets flagged retransmission or "
             "out-of-order >= 1" % (sc, len(refill)))
    compare_counts(sc, conn, ts, res)
    res.eq(sc, "retransmission events s2c", n_events(conn, "retransmission", "s2c"),
           s["retransmits_s2c"], "retransmits_s2c")
    check_wire_count(sc, ctx, conn, cnt, res)
    check_body(sc, conn, BIG, res)


def tbf_traffic(ctx):
    """The bulk download through the bottleneck, and 0.3 s into it a small
    one on a second connection, whose handshake and request wait in the
    queue the bulk one filled.  Returns (bulk size, bulk seconds)."""
    out = os.path.join(ctx.tmp, "bulk.out")
    bulk = ctx.pair.client.popen(["taskset", "-c", "0", "curl", "-s", "-S", "--max-time", "20",
                                  "-o", out, "-w", "%{http_code} %{size_download} "
                                  "%{time_total}", ctx.pair.url("/mid.bin")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.3)
    try:
        curl_get(ctx, "/small.bin", 10)
    finally:
        try:
            so, se = bulk.communicate(timeout=25)
        except subprocess.TimeoutExpired:
            netns.stop_process(bulk, signal.SIGKILL, 2.0)
            raise RuntimeError("bulk curl did not finish")
    if bulk.returncode != 0:
        raise RuntimeError("bulk curl: exit %d: %s" % (bulk.returncode, se.decode().strip()))
    code, size, total = so.decode().split()
    if code != "200":
        raise RuntimeError("bulk curl: status " + code)
    return int(size), float(total)


def sc_tbf(ctx, res):
    ctx.dropper.attach(ctx.objs["count"])
    # the same download without the bottleneck, for the time it normally takes
    _, base = curl_get(ctx, "/mid.bin")
    dev = ctx.pair.server_if
    ctx.pair.server.run_checked(["tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate",
                                 "%dbit" % TBF_RATE_BIT, "burst", str(TBF_BURST),
                                 "latency", "50ms"])
    tok = netns.add_cleanup("tbf", lambda: ctx.pair.server.run(
        ["tc", "qdisc", "del", "dev", dev, "root"]))
    try:
        pcap, doc, ts = ctx.capture("tbf", lambda: tbf_traffic(ctx))
    finally:
        ctx.pair.server.run(["tc", "qdisc", "del", "dev", dev, "root"])
        netns.cancel_cleanup(tok)
    sc = "tbf"
    size, took = ctx.last_result
    floor = (MID - TBF_BURST) * 8.0 / TBF_RATE_BIT
    res.cond(took >= 0.8 * floor and took > 3 * base,
             "%s: transfer took %.2f s (>= 0.8 x %.2f s at the rate, > 3 x %.3f s unshaped)"
             % (sc, took, floor, base))
    conns = sorted((c for c in doc["connections"] if c["server_port"] == 80),
                   key=lambda c: c["start_us"])
    if not res.cond(len(conns) == 2, "%s: htracr sees 2 connections" % sc,
                    "saw %d" % len(conns)):
        return
    conn, probe = conns
    r = check_body(sc, conn, MID, res)
    if r is not None:
        dur = (r["end_us"] - r["start_us"]) / 1e6
        res.cond(dur >= 0.8 * floor, "%s: htracr response lasts %.2f s >= 0.8 x %.2f s"
                 % (sc, dur, floor))
    ser = conn["series"]
    fl = [v for _, v in ser["flight_s2c"]]
    res.cond(fl and max(fl) > 0, "%s: series.flight_s2c has %d points, max %s" %
             (sc, len(fl), max(fl) if fl else None))
    res.cond(len(ser["rtt"]) > 0, "%s: series.rtt has %d samples" % (sc, len(ser["rtt"])))
    s = conn["stats"]
    res.cond(s["rtt_min_us"] is not None and s["rtt_max_us"] is not None and
             s["rtt_max_us"] > s["rtt_min_us"],
             "%s: rtt_max_us %r > rtt_min_us %r" % (sc, s["rtt_max_us"], s["rtt_min_us"]))
    compare_counts(sc, conn, ts, res)
    # the queue itself: seen from the client, only what the server sends
    # behind the bulk data waits in it, so the probe's handshake does
    hb, hp = conn["handshake_rtt_us"], probe["handshake_rtt_us"]
    res.cond(hb is not None and hp is not None and hp > 1000 and hp > 5 * hb,
             "%s: queued handshake_rtt_us %r > 1000 and > 5 x unqueued %r" % (sc, hp, hb))
    ps = probe["stats"]
    res.cond(ps["rtt_max_us"] is not None and ps["rtt_max_us"] >= hp * 0.5,
             "%s: queued connection's rtt_max_us %r >= half its handshake RTT"
             % (sc, ps["rtt_max_us"]))
    compare_counts(sc + "-probe", probe, ts, res)
    t = ts.get(probe["client_port"])
    if t is not None and t["initial_rtt"] is not None and hp is not None:
        want = float(t["initial_rtt"]) * 1e6
        res.cond(abs(hp - want) <= 1.0, "%s: queued handshake_rtt_us %d == tshark "
                 "initial_rtt %.3f us (within 1 us)" % (sc, hp, want), "differ")


def sc_zero_window(ctx, res):
    ctx.dropper.attach(ctx.objs["count"])
    pcap, doc, ts = ctx.capture("zero-window", lambda: (
        py_client(ctx, SLOW_READER, [ctx.pair.server_addr, "/mid.bin"]), 0))
    sc = "zero-window"
    got = ctx.last_result[0]
    conn = the_conn(sc, doc, res)
    if conn is None:
        return
    s = conn["stats"]
    res.cond(s["zero_windows"] >= 1, "%s: zero_windows %d >= 1" % (sc, s["zero_windows"]))
    t = compare_counts(sc, conn, ts, res)
    if t is not None:
        res.eq(sc, "zero_windows", s["zero_windows"], t["zero_windows"])
    states = [x["state"] for x in conn["states"]]
    res.cond("zero_window" in states, "%s: states include zero_window" % sc,
             "states %r" % sorted(set(states)))
    r = check_body(sc, conn, MID, res)
    if r is not None:
        res.eq(sc, "client read (headers + body)", got, r["header_bytes"] + MID, "htracr")


def sc_rst(ctx, res):
    ctx.dropper.attach(ctx.objs["count"])
    want = 200 * 1024
    pcap, doc, ts = ctx.capture("rst", lambda: (
        py_client(ctx, RESETTER, [ctx.pair.server_addr, "/big.bin", str(want)]), 0))
    sc = "rst"
    conn = the_conn(sc, doc, res)
    if conn is None:
        return
    s = conn["stats"]
    res.eq(sc, "close", conn["close"], "rst", "expected")
    res.cond(s["resets"] >= 1, "%s: resets %d >= 1" % (sc, s["resets"]))
    t = compare_counts(sc, conn, ts, res)
    if t is not None:
        res.eq(sc, "resets", s["resets"], t["resets"])
    states = [x["state"] for x in conn["states"]]
    res.cond("reset" in states, "%s: states include reset" % sc,
             "states %r" % sorted(set(states)))
    r = check_body(sc, conn, BIG, res, complete=False)
    if r is not None:
        res.cond(r["body_bytes"] < BIG, "%s: response body_bytes %d < %d" %
                 (sc, r["body_bytes"], BIG))


SCENARIOS = [
    ("drop-one", sc_drop_one),
    ("synack", sc_synack),
    ("random", sc_random),
    ("random1", lambda ctx, res: sc_random(ctx, res, "pct1", "random1")),
    ("tbf", sc_tbf),
    ("zero-window", sc_zero_window),
    ("rst", sc_rst),
]


# --------------------------------------------------------------------------
# driver

class Ctx:
    def __init__(self, pair, tmp, objs, dropper, res):
        self.pair = pair
        self.res = res
        self.tmp = tmp
        self.objs = objs
        self.dropper = dropper
        self.last_result = None
        self.tcpdump_drops = None
        self.capture_incomplete = False
        self.link_drops = None

    def capture(self, name, traffic):
        """Run traffic() while tcpdump records the client side; returns the
        pcap path, htracr's JSON model and tshark's per-connection counts."""
        pcap = os.path.join(KEEP_DIR, name + ".pcap")
        before = link_drops(self.pair)
        td = netns.Tcpdump(self.pair.client, self.pair.client_if, pcap, buffer_kib=65536)
        try:
            self.last_result = traffic()
        finally:
            self.tcpdump_drops = netns.tcpdump_kernel_drops(td.stop())
        self.link_drops = [a - b for a, b in zip(link_drops(self.pair), before)]
        doc = run_htracr(pcap, os.path.join(KEEP_DIR, name + ".json"))
        res = self.res
        if self.tcpdump_drops != 0:
            self.capture_incomplete = True
        res.cond(self.tcpdump_drops == 0, "%s: tcpdump dropped %r packets == 0" %
                 (name, self.tcpdump_drops), "the capture is not whole; counts below mean little")
        return pcap, doc, tshark_streams(pcap)


def write_site(root):
    for name, size in (("big.bin", BIG), ("mid.bin", MID), ("small.bin", SMALL)):
        with open(os.path.join(root, name), "wb") as f:
            f.write(bytes((i * 7 + 3) & 0xff for i in range(size)))


def main(argv):
    res = Results()
    want = argv[1:] or [n for n, _ in SCENARIOS]
    unknown = [n for n in want if n not in dict(SCENARIOS)]
    if unknown:
        print("unknown scenario(s): %s (have: %s)" % (" ".join(unknown),
              " ".join(n for n, _ in SCENARIOS)))
        return 2
    if not netns.is_root():
        res.skip("faults", "needs root (namespaces, tc, BPF)", len(want))
        res.summary()
        return 0
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        res.skip("faults", "missing tools: " + " ".join(missing), len(want))
        res.summary()
        return 0
    if not os.access(HTRACR, os.X_OK):
        subprocess.run(["make", "-C", REPO, "htracr"], stdout=subprocess.DEVNULL,
                       timeout=300)
    if not os.access(HTRACR, os.X_OK):
        res.fail("faults: build htracr", "no %s after make htracr" % HTRACR)
        res.summary()
        return 1
    os.makedirs(KEEP_DIR, exist_ok=True)
    started = time.monotonic()
    try:
        tmp = netns.make_tempdir("htr-faults-")
        objs = compile_variants(tmp)
        site = os.path.join(tmp, "site")
        os.makedirs(site)
        write_site(site)
        with netns.Pair("htr-flt") as pair:
            # one segment per packet: with TSO/GSO the egress hook sees 64 KB
            # packets, and one drop would take many segments at once
            pair.server.run_checked(["ip", "link", "set", "dev", pair.server_if,
                                     "gso_max_segs", "1"])
            pair.start_nginx("server { listen %s:80; root %s; }" % (pair.server_addr, site))
            # nginx, curl and the Python clients on one CPU: packets sent from
            # two CPUs can cross on the veth, which is reordering nobody asked for
            subprocess.run(["taskset", "-p", "-c", "0", str(pair.nginx.proc.pid)],
                           stdout=subprocess.DEVNULL, check=True)
            ctx = Ctx(pair, tmp, objs, tcdrop.Dropper(pair.server, pair.server_if), res)
            for name, fn in SCENARIOS:
                if name not in want:
                    continue
                # A capture that tcpdump itself could not keep whole (kernel
                # buffer drops on a busy machine) says nothing about htracr:
                # that attempt is run again, at most ATTEMPTS times.
                for attempt in range(1, ATTEMPTS + 1):
                    ctx.capture_incomplete = False
                    res.begin()
                    try:
                        fn(ctx, res)
                    except Exception as e:      # one broken scenario, not the run
                        res.fail("%s: scenario ran" % name, "%s: %s" % (type(e).__name__, e))
                    finally:
                        ctx.dropper.detach()
                    if ctx.capture_incomplete and attempt < ATTEMPTS:
                        res.discard()
                        print("retry %s: tcpdump dropped packets (attempt %d of %d)" %
                              (name, attempt, ATTEMPTS), flush=True)
                        continue
                    res.commit()
                    break
    except Exception as e:
        res.fail("faults: setup", "%s: %s" % (type(e).__name__, e))
    finally:
        netns.cleanup_all()
    print("(%.1f s; captures and htracr JSON in %s)" % (time.monotonic() - started, KEEP_DIR))
    res.summary()
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
