# SPDX-License-Identifier: MIT
"""Running ./htracr live for the integration suite (tests/integration/run.py).

The suite treats htracr as a black box at both ends of the pipeline: a live
capture source in, the JSON model, JSONL, HAR and the -w pcap out.  This
module starts `htracr --no-ui` inside a network namespace (tests/lib/netns.py)
with its stderr in a file, waits for its "capturing on" line, reads what the
kernel says about the running process (/proc/PID/status: uids, gids, groups,
capabilities), stops it with SIGINT (or waits for -c / -G to end it), parses
the --stats-interval lines, and flattens the JSON model into transactions per
TCP connection so they can be compared with what the clients saw.

Python 3 standard library only.
"""

import json
import os
import re
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
HTRACR = os.environ.get("HTRACR_BIN", os.path.join(REPO, "htracr"))

# the --stats-interval line (src/main.c print_stats)
STATS_RE = re.compile(r"^htracr: (\d+) packets, (\d+) bytes, (\d+) ring drops, (\d+) socket drops",
                      re.M)
READY = "capturing on "
UI_READY = " in a browser"  # "...: open http://ADDR:PORT/ in a browser"


def clean_env(sudo_ids=None):
    """The environment htracr runs with: SUDO_* removed (so the privilege
    drop target is known to the test whoever runs it), or set to
    sudo_ids = (uid, gid)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUDO_")}
    if sudo_ids:
        env["SUDO_UID"], env["SUDO_GID"] = str(sudo_ids[0]), str(sudo_ids[1])
    return env


def backend_args(backend):
    """htracr's options for one of the suite's backends: bpf (the eBPF
    filter where --attach auto puts it: on a veth, its tc hooks), bpf-socket
    (the eBPF filter on a packet socket), pcap."""
    if backend == "bpf-socket":
        return ["--backend", "bpf", "--attach", "socket"]
    return ["--backend", backend]


class LiveRun:
    """One `htracr --no-ui` live capture inside namespace ns.

    Outputs go to workdir/<name>.{json,stderr} (no --json when json is
    false); extra is appended to the
    command line (-w, --jsonl, -c ...), env added to its environment.  The
    process is killed at the suite's
    cleanup if still running."""

    def __init__(self, ns, iface, backend, workdir, name, extra=(), sudo_ids=None, json=True,
                 ui_port=None, env=None, nice=None):
        self.name = name
        self.json_path = os.path.join(workdir, name + ".json") if json else None
        self.err_path = os.path.join(workdir, name + ".stderr")
        # ui_port: serve the UI on 127.0.0.1:ui_port (in ns) instead of --no-ui
        ui = ["--listen", "127.0.0.1:%d" % ui_port] if ui_port else ["--no-ui"]
        self.ready = UI_READY if ui_port else READY
        # nice: started under `nice -n NICE` (which execs htracr: same pid)
        self.argv = ([] if nice is None else ["nice", "-n", str(nice)]) + [HTRACR] + ui + \
            ["-i", iface, "-p", "80"] + backend_args(backend)
        if json:
            self.argv += ["--json", self.json_path]
        self.argv += list(extra)
        if ui_port:
            self.argv.append(str(ui_port))
        self.errf = open(self.err_path, "w+")
        self.proc = ns.popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=self.errf, env=dict(clean_env(sudo_ids), **(env or {})))
        self.pid = self.proc.pid
        self.rc = None
        self.ready_at = None

    def command(self):
        return "ip netns exec NS " + " ".join(self.argv)

    def stderr(self):
        if not self.errf.closed:
            self.errf.flush()
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def stderr_tail(self, n=600):
        s = self.stderr().strip()
        return s[-n:] if s else "(stderr empty)"

    def wait_ready(self, timeout=10.0):
        """Wait for the "capturing on" line.  Raises RuntimeError (with the
        exit status and stderr) when htracr exits or stays silent."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.ready in self.stderr():
                self.ready_at = time.monotonic()
                return
            if self.proc.poll() is not None:
                self.rc = self.proc.returncode
                raise RuntimeError("htracr exited %d before capturing: %s" %
                                   (self.rc, self.stderr_tail()))
            time.sleep(0.02)
        raise RuntimeError("no '%s' line within %.0f s: %s" % (self.ready.strip(), timeout,
                                                               self.stderr_tail()))

    def proc_status(self):
        """{key: value} from /proc/PID/status of the running htracr."""
        out = {}
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
        return out

    def thread_nices(self):
        """{thread id: nice value} of the running htracr's threads."""
        out = {}
        for tid in os.listdir("/proc/%d/task" % self.pid):
            with open("/proc/%d/task/%s/stat" % (self.pid, tid)) as f:
                # after "(comm)", which may hold spaces: field 19 is the nice value
                out[int(tid)] = int(f.read().rpartition(")")[2].split()[16])
        return out

    def stop(self, sig=signal.SIGINT, timeout=20.0):
        """Signal htracr and wait for it; returns its exit status (None when
        it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.rc = None
                self.errf.close()
                return None
        self.rc = self.proc.returncode
        self.errf.close()
        return self.rc

    def wait_exit(self, timeout):
        """Wait for htracr to end by itself (-c, -G); returns its exit status,
        or None when it was still running after timeout (it is then stopped
        with SIGINT, so its outputs can still be read)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return None
        self.rc = self.proc.returncode
        self.errf.close()
        return self.rc

    def stats_lines(self):
        """The --stats-interval lines: [(packets, bytes, ring drops, socket drops)]."""
        return [tuple(int(x) for x in m.groups()) for m in STATS_RE.finditer(self.stderr())]

    def model(self):
        with open(self.json_path) as f:
            return json.load(f)


def read_back(pcap, timeout=60):
    """`htracr -r pcap --json -`: returns the model; raises on failure."""
    r = subprocess.run([HTRACR, "-r", pcap, "--json", "-"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("htracr -r %s --json - exited %d: %s" % (pcap, r.returncode,
                                                                    r.stderr.strip()[-600:]))
    return json.loads(r.stdout)


def transactions(model):
    """{client_port: [transaction, ...]} with the requests of each connection
    in id order; a transaction is a dict: method, url, status (None when no
    final response), req_body, resp_body, encoding, complete (the response
    was parsed to its end)."""
    out = {}
    for c in model.get("connections", []):
        msgs = sorted(c.get("messages", []), key=lambda m: m.get("id", 0))
        by_id = {m.get("id"): m for m in msgs}
        txs = []
        for m in msgs:
            if m.get("kind") != "request":
                continue
            r = by_id.get(m.get("response")) if m.get("response") is not None else None
            txs.append({"method": m.get("method"), "url": m.get("url"),
                        "status": r.get("status") if r else None,
                        "req_body": m.get("body_bytes"),
                        "resp_body": r.get("body_bytes") if r else None,
                        "encoding": r.get("content_encoding") if r else None,
                        "complete": bool(r and r.get("complete"))})
        key = c.get("client_port")
        if key in out:   # a reused port: keep both, second under a marked key
            key = (key, c.get("id"))
        out[key] = txs
    return out


def client_sent_rst(conn):
    """Whether the client sent a RST on this connection (from the model's
    packets: dir c2s with R in flags)."""
    return any(p.get("dir") == "c2s" and "R" in (p.get("flags") or "")
               for p in conn.get("packets", []))
