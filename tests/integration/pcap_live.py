#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The libpcap live source and the pcap writer, on real traffic.

This suite tests the first stage of the pipeline on its own: the libpcap
backend (src/capture_pcap.c) and the -w writer (src/capture_dump.c), through
a small driver (tests/integration/pcap_live_drv.c, built here against the
library objects the way the unit tests are) that prints every record and
takes commands on stdin: change the ports, switch capture off and on, read
the counters.  A client and a server namespace joined by a veth pair
(tests/lib/netns.py) carry the traffic: a real nginx listening on ports 80
and 8080 of the server address and on 127.0.0.1:80 inside the server
namespace, curl as the client, a few UDP datagrams for the DNS port.

Checks:
  ports       on the client veth with -p 80 --dns: records for TCP port 80
              and UDP 53 only (not 8080, not UDP 54), Ethernet link type,
              wall-clock ns timestamps of the moment
  set_ports   switching to 8080, then to 80+8080, changes what comes
  enabled     capture off: no record at all; on again: records
  stats       records and bytes match what was printed; no drops; the kernel
              filter's count equals the records (nothing filtered in userland)
  dump        the -w file written during the run reads back (capture_open_file)
              to the same records: count, timestamps, lengths, bytes (hash)
  disabled    opened with capture off: nothing until it is switched on
  any-lo      on "any" (SLL2): each loopback packet once, both directions,
              one SYN per connection, and the duplicate dropped in the kernel
              (the filter's count equals the records)
  lo          the same on "lo" itself, and nothing of the veth
  drops       a 1 MiB ring left unread during a 8 MB download: drops are
              counted, and records + drops = packets that passed the filter
  errors      an unknown interface names it and `ip link`; without root the
              error says permission denied and names sudo and setcap

One line per check ("ok   ..." / "FAIL ..." / "skip ..."); last line
"N passed, N failed, N skipped"; exit 1 on any failure.  Needs root; without
it everything is skipped.

    tests/integration/pcap_live.py            run every check
    tests/integration/pcap_live.py NAME...    only the named groups

PCAP_LIVE_MAKE passes make variables for the library objects, e.g.
PCAP_LIVE_MAKE="SANITIZE=address,undefined OUT=/tmp/san" for an ASan/UBSan run.
"""

import os
import select
import shutil
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))

import netns  # noqa: E402

DRV_SRC = os.path.join(HERE, "pcap_live_drv.c")
TOOLS = ["curl", "cc", "ar", "make", "setpriv", netns.NGINX]
BIG = 8 * 1024 * 1024
DRAIN_MS = 400
GROUPS = ["ports", "set_ports", "enabled", "stats", "dump", "disabled", "any-lo", "lo", "drops",
          "errors"]


class Results:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def check(self, ok, name, detail=""):
        if ok:
            self.passed += 1
            print("ok   %s" % name)
        else:
            self.failed += 1
            print("FAIL %s%s" % (name, (": " + detail) if detail else ""))
        sys.stdout.flush()
        return ok

    def skip(self, name, why):
        self.skipped += 1
        print("skip %s: %s" % (name, why))
        sys.stdout.flush()


# --------------------------------------------------------------------------
# building the driver

# The objects the driver uses directly; they must build.  The rest of the
# library goes into an archive, so the linker takes only what these need
# (capture_bpf.o with BPF=1), and a file someone is half-way through editing
# elsewhere in src/ does not stop this test.
NEEDED = ["capture.o", "capture_pcap.o", "capture_dump.o", "capture_file.o", "decode.o",
          "log.o"]


def build_driver(outdir):
    """Compile pcap_live_drv.c against the library objects make builds for
    the unit tests (the same object list and libraries).  Returns the
    binary's path; raises on failure."""
    make = ["make", "-s", "--no-print-directory"] + os.environ.get("PCAP_LIVE_MAKE", "").split()
    probe = ("htr-pcap-live-print: ; @echo '$(LIB_OBJS) $(LLHTTP_OBJS) $(EXTRA_OBJS)'; "
             "echo '$(LDFLAGS) $(LDLIBS)'; echo '$(LLHTTP_INC)'")
    r = subprocess.run(make + ["--eval", probe, "htr-pcap-live-print"], cwd=REPO,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = r.stdout.strip().split("\n")
    if r.returncode != 0 or len(lines) < 3:
        raise RuntimeError("make cannot list the objects: " + r.stderr.strip())
    objs, libs, llhttp_inc = lines[0].split(), lines[1].split(), lines[2].strip()
    needed = [o for o in objs if os.path.basename(o) in NEEDED]
    if len(needed) != len(NEEDED):
        raise RuntimeError("make does not list %s" % NEEDED)
    r = subprocess.run(make + needed, cwd=REPO,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError("building the capture objects failed: " + r.stdout[-2000:])
    rest = [o for o in objs if o not in needed]
    subprocess.run(make + ["-k"] + rest, cwd=REPO,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    archive = os.path.join(outdir, "libhtr-rest.a")
    have = [os.path.join(REPO, o) for o in rest if os.path.exists(os.path.join(REPO, o))]
    subprocess.run(["ar", "rcs", archive] + have, check=True)
    out = os.path.join(outdir, "pcap_live_drv")
    cmd = (["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2", "-g", "-D_GNU_SOURCE",
            "-I" + os.path.join(REPO, "include"), "-I" + llhttp_inc, "-o", out, DRV_SRC]
           + [os.path.join(REPO, o) for o in needed] + [archive] + libs)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError("cc failed: " + r.stdout[-2000:])
    return out


# --------------------------------------------------------------------------
# talking to the driver

class Rec:
    __slots__ = ("ts", "link", "caplen", "wirelen", "kind", "src", "sport", "dst", "dport",
                 "flags", "hash")

    def __init__(self, f):
        self.ts, self.link, self.caplen, self.wirelen = int(f[1]), int(f[2]), int(f[3]), int(f[4])
        self.kind, self.src, self.sport = f[5], f[6], int(f[7])
        self.dst, self.dport = f[8], int(f[9])
        self.flags, self.hash = int(f[10], 16), f[11]

    def key(self):
        return (self.ts, self.link, self.caplen, self.wirelen, self.hash)

    def ports(self):
        return (self.sport, self.dport)


class Driver:
    def __init__(self, binary, ns, iface, args, workdir, name):
        self.errlog = open(os.path.join(workdir, name + ".stderr"), "w+")
        argv = [binary, "open", iface] + list(args)
        self.proc = ns.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=self.errlog)
        self.buf = b""
        self.records = []       # every record printed, in order
        first = self.line(10.0)
        if first is None or not first.startswith("ready "):
            self.stop()
            raise RuntimeError("driver did not start: %r %s" % (first, self.stderr()))
        parts = first.split()
        self.linktype = int(parts[1])
        self.desc = parts[2]

    def stderr(self):
        self.errlog.flush()
        self.errlog.seek(0)
        return self.errlog.read()[-1000:]

    def line(self, timeout):
        end = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            rd, _, _ = select.select([fd], [], [], left)
            if not rd:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln.decode()

    def send(self, cmd):
        self.proc.stdin.write((cmd + "\n").encode())
        self.proc.stdin.flush()

    def command(self, cmd, timeout=15.0):
        """Send cmd; return (reply line, records printed before it)."""
        self.send(cmd)
        recs = []
        while True:
            ln = self.line(timeout)
            if ln is None:
                raise RuntimeError("no answer to %r: %s" % (cmd, self.stderr()))
            if ln.startswith("rec "):
                recs.append(Rec(ln.split()))
                continue
            self.records.extend(recs)
            return ln, recs

    def drain(self, ms=DRAIN_MS):
        reply, recs = self.command("drain %d" % ms)
        if not reply.startswith("ok drain"):
            raise RuntimeError("drain: " + reply)
        return recs

    def stats(self):
        reply, _ = self.command("stats")
        if not reply.startswith("stats "):
            raise RuntimeError("stats: " + reply)
        return {k: int(v) for k, v in (kv.split("=") for kv in reply.split()[1:])}

    def quit(self):
        """Close the dump and the capture; the driver must then exit 0 (a
        sanitizer report would make it fail)."""
        reply, _ = self.command("quit")
        rc = self.proc.wait(timeout=10)
        if rc != 0:
            raise RuntimeError("driver exited %d after %r: %s" % (rc, reply, self.stderr()))
        return reply

    def stop(self):
        netns.stop_process(self.proc)
        self.errlog.close()


def read_dump(binary, path):
    r = subprocess.run([binary, "read", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    recs, count, link = [], None, None
    for ln in r.stdout.splitlines():
        f = ln.split()
        if f and f[0] == "rec":
            recs.append(Rec(f))
        elif f and f[0] == "count":
            count, link = int(f[1]), int(f[3])
    return r.returncode, recs, count, link, r.stdout[-500:] + r.stderr[-500:]


# --------------------------------------------------------------------------
# traffic

def curl(ns, url, out="/dev/null"):
    r = ns.run(["curl", "-s", "-o", out, "-m", "20", "-w", "%{http_code}", url], timeout=30)
    if r.returncode != 0 or r.stdout.strip() != "200":
        raise RuntimeError("curl %s failed (%d, %r): %s" % (url, r.returncode, r.stdout,
                                                            r.stderr.strip()))


def udp_send(ns, addr, ports):
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
            "for p in sys.argv[2:]: s.sendto(b'htracr-test', (sys.argv[1], int(p)))\n")
    ns.run_checked(["python3", "-c", code, addr] + [str(p) for p in ports])


def tcp_only_ports(recs, allowed):
    """The TCP records whose ports are not in allowed (either end)."""
    return [r for r in recs if r.kind == "tcp" and not (set(r.ports()) & set(allowed))]


def syns(recs, dport):
    return [r for r in recs if r.kind == "tcp" and r.dport == dport and (r.flags & 0x12) == 0x02]


# --------------------------------------------------------------------------
# the checks

def run_veth(res, want, binary, pair, workdir):
    """ports, set_ports, enabled, stats, dump: one driver on the client veth."""
    p = pair
    dump_path = os.path.join(workdir, "veth.pcap")
    drv = Driver(binary, p.client, p.client_if, ["-p", "80", "--dns", "-w", dump_path], workdir,
                 "veth")
    try:
        url80, url8080 = p.url("/index.html"), p.url("/index.html", port=8080)
        # --- ports
        t0 = time.time_ns()
        curl(p.client, url80)
        curl(p.client, url8080)
        udp_send(p.client, p.server_addr, [53, 54])
        t1 = time.time_ns()
        recs = drv.drain()
        if "ports" in want:
            res.check(drv.linktype == 1 and drv.desc == "pcap:" + p.client_if,
                      "ports: Ethernet link type on %s" % p.client_if,
                      "linktype %d desc %s" % (drv.linktype, drv.desc))
            res.check(len(syns(recs, 80)) == 1, "ports: the port-80 connection is captured",
                      "%d records, %d SYNs to 80" % (len(recs), len(syns(recs, 80))))
            bad = tcp_only_ports(recs, [80])
            res.check(not bad, "ports: nothing of port 8080",
                      "%d records on other ports, e.g. %s" % (len(bad), bad[:1] and bad[0].ports()))
            udp = [r for r in recs if r.kind == "udp"]
            res.check(len(udp) == 1 and udp[0].dport == 53, "ports: UDP 53 with --dns, not 54",
                      "udp records: %s" % [r.dport for r in udp])
            res.check(all(r.kind in ("tcp", "udp") for r in recs), "ports: no other traffic",
                      "kinds %s" % sorted(set(r.kind for r in recs)))
            in_time = [r for r in recs if t0 - 10**9 <= r.ts <= t1 + 10**9]
            res.check(recs and len(in_time) == len(recs),
                      "ports: wall-clock timestamps of the moment",
                      "%d of %d records in [%d, %d]" % (len(in_time), len(recs), t0, t1))
            subus = [r for r in recs if r.ts % 1000 != 0]
            res.check(len(subus) > 0, "ports: nanosecond timestamps",
                      "every timestamp is a whole microsecond")

        # --- set_ports
        reply, _ = drv.command("ports 8080")
        curl(p.client, url80)
        curl(p.client, url8080)
        recs = drv.drain()
        if "set_ports" in want:
            res.check(reply == "ok ports 0", "set_ports: accepted", reply)
            res.check(len(syns(recs, 8080)) == 1 and not tcp_only_ports(recs, [8080]),
                      "set_ports: 8080 only after switching to it",
                      "SYNs to 8080: %d, others: %d" % (len(syns(recs, 8080)),
                                                        len(tcp_only_ports(recs, [8080]))))
        drv.command("ports 80,8080")
        curl(p.client, url80)
        curl(p.client, url8080)
        recs = drv.drain()
        if "set_ports" in want:
            res.check(len(syns(recs, 80)) == 1 and len(syns(recs, 8080)) == 1,
                      "set_ports: both with 80,8080",
                      "SYNs to 80: %d, to 8080: %d" % (len(syns(recs, 80)),
                                                       len(syns(recs, 8080))))

        # --- enabled
        reply_off, _ = drv.command("enable 0")
        curl(p.client, url80)
        curl(p.client, url8080)
        udp_send(p.client, p.server_addr, [53])
        off = drv.drain()
        reply_on, _ = drv.command("enable 1")
        curl(p.client, url80)
        on = drv.drain()
        if "enabled" in want:
            res.check(reply_off == "ok enable 0" and reply_on == "ok enable 0",
                      "enabled: switching accepted", "%s / %s" % (reply_off, reply_on))
            res.check(len(off) == 0, "enabled: off gives no records", "%d records" % len(off))
            res.check(len(syns(on, 80)) == 1, "enabled: on again gives records (ports kept)",
                      "%d records" % len(on))

        # --- stats
        st = drv.stats()
        if "stats" in want:
            n = len(drv.records)
            nbytes = sum(r.caplen for r in drv.records)
            res.check(st["records"] == n and st["bytes"] == nbytes,
                      "stats: records and bytes match what was delivered",
                      "stats %s, printed %d records %d bytes" % (st, n, nbytes))
            res.check(st["dropped"] == 0 and st["socket_drops"] == 0, "stats: no drops", str(st))
            res.check(st["filtered"] == n, "stats: the kernel filter passed exactly the records",
                      "filtered %d, records %d" % (st["filtered"], n))

        # --- dump
        reply = drv.quit()
        if "dump" in want:
            res.check(reply == "ok quit 0", "dump: closed cleanly", reply)
            mode = stat.S_IMODE(os.stat(dump_path).st_mode)
            res.check(mode == 0o600, "dump: mode 0600", oct(mode))
            rc, back, count, link, tail = read_dump(binary, dump_path)
            res.check(rc == 0 and count == len(drv.records) and link == 1,
                      "dump: reads back to the same number of records",
                      "rc %d, %s records (link %s), wrote %d: %s" % (rc, count, link,
                                                                      len(drv.records), tail))
            same = [a.key() == b.key() for a, b in zip(back, drv.records)]
            res.check(len(same) == len(drv.records) and all(same),
                      "dump: same timestamps, lengths and bytes",
                      "%d of %d differ" % (same.count(False), len(drv.records)))
    finally:
        drv.stop()


def run_disabled(res, binary, pair, workdir):
    p = pair
    drv = Driver(binary, p.client, p.client_if, ["-p", "80", "--disabled"], workdir, "disabled")
    try:
        curl(p.client, p.url("/index.html"))
        before = drv.drain()
        reply, _ = drv.command("enable 1")
        curl(p.client, p.url("/index.html"))
        after = drv.drain()
        st = drv.stats()
        res.check(len(before) == 0, "disabled: nothing before it is switched on",
                  "%d records" % len(before))
        res.check(reply == "ok enable 0" and len(syns(after, 80)) == 1,
                  "disabled: records once switched on", "%s, %d records" % (reply, len(after)))
        res.check(st["filtered"] == len(after), "disabled: nothing passed the filter while off",
                  "filtered %d, records %d" % (st["filtered"], len(after)))
        drv.quit()
    finally:
        drv.stop()


def run_loopback(res, binary, pair, workdir, iface):
    """Traffic to 127.0.0.1 inside the server namespace, captured on iface
    (any, or lo), plus one veth request from the client (any only)."""
    p = pair
    name = "any-lo" if iface == "any" else "lo"
    drv = Driver(binary, p.server, iface, ["-p", "80"], workdir, name)
    try:
        for _ in range(3):
            curl(p.server, "http://127.0.0.1/index.html")
        curl(p.server, "http://127.0.0.1/big.bin")
        curl(p.client, p.url("/index.html"))
        recs = drv.drain()
        st = drv.stats()
        # lo is captured through any, restricted to lo's ifindex: SLL2 too
        res.check(drv.linktype == 276 and drv.desc == "pcap:" + iface,
                  "%s: link type SLL2, described as pcap:%s" % (name, iface),
                  "linktype %d, %s" % (drv.linktype, drv.desc))
        lo = [r for r in recs if r.src == "127.0.0.1"]
        hashes = [r.hash for r in lo]
        dups = len(hashes) - len(set(hashes))
        res.check(len(lo) > 20 and dups == 0, "%s: each loopback packet once" % name,
                  "%d loopback records, %d duplicates" % (len(lo), dups))
        res.check(len(syns(lo, 80)) == 4, "%s: one SYN per connection" % name,
                  "%d SYNs for 4 connections" % len(syns(lo, 80)))
        to_srv = [r for r in lo if r.dport == 80]
        from_srv = [r for r in lo if r.sport == 80]
        big = sum(r.caplen for r in from_srv)
        res.check(len(to_srv) > 0 and len(from_srv) > 0 and big > 1000000,
                  "%s: both directions, whole download" % name,
                  "%d to the server, %d from it, %d bytes" % (len(to_srv), len(from_srv), big))
        cut = [r for r in recs if r.caplen < r.wirelen]
        res.check(not cut, "%s: no packet cut by the snaplen" % name,
                  "%d cut, largest wire length %d" % (len(cut), max(r.wirelen for r in recs)))
        veth = [r for r in recs if r.src == p.client_addr or r.dst == p.client_addr]
        if iface == "lo":
            res.check(not veth, "lo: nothing of the veth", "%d veth records" % len(veth))
        else:
            vh = [r.hash for r in veth]
            res.check(len(syns(veth, 80)) == 1 and len(vh) == len(set(vh)),
                      "any-lo: the veth request once too",
                      "%d SYNs, %d records, %d duplicates" % (len(syns(veth, 80)), len(veth),
                                                             len(vh) - len(set(vh))))
        res.check(st["filtered"] == len(recs),
                  "%s: the loopback copy is dropped in the kernel" % name,
                  "filtered %d, records %d" % (st["filtered"], len(recs)))
        drv.quit()
    finally:
        drv.stop()


def run_drops(res, binary, pair, workdir):
    p = pair
    drv = Driver(binary, p.client, p.client_if, ["-p", "80", "--buffer", str(1 << 20)], workdir,
                 "drops")
    try:
        for _ in range(2):
            curl(p.client, p.url("/big.bin"))  # nothing is read meanwhile
        recs = drv.drain(800)
        st = drv.stats()
        total = st["records"] + st["dropped"]
        res.check(st["dropped"] > 0, "drops: a full ring counts drops", str(st))
        res.check(st["records"] == len(recs) and total == st["filtered"],
                  "drops: records + drops = packets that passed the filter",
                  "records %d + dropped %d = %d, filtered %d" % (st["records"], st["dropped"],
                                                                 total, st["filtered"]))
        res.check(st["socket_drops"] == st["dropped"], "drops: counted as socket drops", str(st))
        drv.quit()
    finally:
        drv.stop()


def run_errors(res, binary, pair, workdir):
    r = pair.client.run([binary, "open", "htrnosuch0", "-p", "80"], timeout=20)
    out = r.stdout.strip()
    res.check(r.returncode != 0 and "htrnosuch0" in out and "ip link" in out,
              "errors: an unknown interface is named, with `ip link`",
              "exit %d: %s" % (r.returncode, out))
    if os.stat(binary).st_mode & 0o001 == 0:
        res.skip("errors: permission", "driver not executable by others")
        return
    r = pair.client.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                         "--inh-caps=-all", binary, "open", "any", "-p", "80"], timeout=20)
    out = r.stdout.strip()
    res.check(r.returncode != 0 and "cannot capture on any: permission denied" in out
              and "sudo" in out and "setcap cap_net_raw,cap_net_admin+ep" in out,
              "errors: without privileges, permission denied with sudo and setcap",
              "exit %d: %s %s" % (r.returncode, out, r.stderr.strip()))


# --------------------------------------------------------------------------

def main(argv):
    res = Results()
    want = set(argv[1:]) or set(GROUPS)
    unknown = want - set(GROUPS)
    if unknown:
        print("unknown group(s): %s (known: %s)" % (" ".join(sorted(unknown)), " ".join(GROUPS)))
        return 2
    if not netns.is_root():
        for g in GROUPS:
            if g in want:
                res.skip(g, "needs root (network namespaces, packet sockets)")
        print("%d passed, %d failed, %d skipped" % (res.passed, res.failed, res.skipped))
        return 0
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        for g in GROUPS:
            if g in want:
                res.skip(g, "missing tools: " + " ".join(missing))
        print("%d passed, %d failed, %d skipped" % (res.passed, res.failed, res.skipped))
        return 0

    workdir = netns.make_tempdir("htr-pcap-live-")
    os.chmod(workdir, 0o755)    # the unprivileged run must reach the driver
    try:
        binary = build_driver(workdir)
    except Exception as e:  # noqa: BLE001
        res.check(False, "build the driver", str(e))
        print("%d passed, %d failed, %d skipped" % (res.passed, res.failed, res.skipped))
        return 1
    os.chmod(binary, 0o755)
    root = os.path.join(workdir, "www")
    os.mkdir(root)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<html><body>" + "htracr " * 200 + "</body></html>\n")
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(os.urandom(BIG))
    os.chmod(root, 0o755)

    with netns.Pair("htr-pl") as p:
        p.start_nginx("server { listen %s:80; listen %s:8080; listen 127.0.0.1:80; root %s; }"
                      % (p.server_addr, p.server_addr, root))
        groups = [
            ({"ports", "set_ports", "enabled", "stats", "dump"},
             lambda: run_veth(res, want, binary, p, workdir)),
            ({"disabled"}, lambda: run_disabled(res, binary, p, workdir)),
            ({"any-lo"}, lambda: run_loopback(res, binary, p, workdir, "any")),
            ({"lo"}, lambda: run_loopback(res, binary, p, workdir, "lo")),
            ({"drops"}, lambda: run_drops(res, binary, p, workdir)),
            ({"errors"}, lambda: run_errors(res, binary, p, workdir)),
        ]
        for names, fn in groups:
            if not names & want:
                continue
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                res.check(False, "/".join(sorted(names & want)), "aborted: %s" % e)

    print("%d passed, %d failed, %d skipped" % (res.passed, res.failed, res.skipped))
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
