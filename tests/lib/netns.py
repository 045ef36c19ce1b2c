# SPDX-License-Identifier: MIT
"""Throw-away network namespaces, veth pairs and nginx instances for tests.

The integration tests need real traffic that nothing else on the host can
disturb and that reaches nothing outside the test: two fresh network
namespaces (a client and a server) joined by one veth pair on a private
10.199.x.0/24 subnet, and a real nginx in the server namespace.  Everything
made here is registered with one cleanup list that runs on normal exit, on
exceptions, at interpreter exit and on SIGINT/SIGTERM/SIGHUP, so a test that
dies half-way does not leave namespaces, processes or temp dirs behind.

Python 3 standard library only.  Root is needed (see is_root()).

    with netns.Pair("htr-demo") as p:        # htr-demo-c-<pid>, htr-demo-s-<pid>
        p.start_nginx("server { listen %s:80; root /srv; }" % p.server_addr)
        p.client.run(["curl", "-s", p.url("/")])
        p.client.popen(["tcpdump", "-i", p.client_if, ...])   # killed at cleanup
"""

import atexit
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time

NGINX = "/usr/sbin/nginx"
IP = "ip"

_cleanups = []          # LIFO list of (label, callable)
_handlers_installed = False


def is_root():
    return os.geteuid() == 0


def _run_cleanups():
    while _cleanups:
        _label, fn = _cleanups.pop()
        try:
            fn()
        except Exception:   # cleanup is best effort; keep going
            pass


def _on_signal(signum, _frame):
    _run_cleanups()
    # 128 + signal number, like a shell reports a death by signal
    raise SystemExit(128 + signum)


def _install_handlers():
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_run_cleanups)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)


def add_cleanup(label, fn):
    """Register fn to run (once, in reverse order) when the test ends.
    Returns a token for cancel_cleanup()."""
    _install_handlers()
    entry = (label, fn)
    _cleanups.append(entry)
    return entry


def cancel_cleanup(token):
    try:
        _cleanups.remove(token)
    except ValueError:
        pass


def cleanup_all():
    """Run every pending cleanup now (also done automatically at exit)."""
    _run_cleanups()


def make_tempdir(prefix="htr-"):
    d = tempfile.mkdtemp(prefix=prefix)
    add_cleanup("rm " + d, lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def _check(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(cmd), r.returncode,
                                                       r.stderr.strip()))
    return r.stdout


def stop_process(proc, sig=signal.SIGTERM, timeout=5.0):
    """Send sig to a Popen, wait, escalate to SIGKILL. Safe to call twice."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(sig)
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
    except ProcessLookupError:
        return proc.wait()


def smaps_kib(pid, key):
    """A field of /proc/PID/smaps_rollup in KiB (None when absent).
    Private_Dirty is a process's own memory (heap, stacks): not the eBPF
    ring's pages, which are the kernel's and which Rss counts twice."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


class Netns:
    """One network namespace; deleted by delete() or at cleanup."""

    def __init__(self, name):
        if len(name) > 200:
            raise ValueError("namespace name too long: " + name)
        self.name = name
        _check([IP, "netns", "add", name])
        self._token = add_cleanup("netns " + name, self.delete)
        self.procs = []
        self.run_checked([IP, "link", "set", "lo", "up"])

    def cmd(self, argv):
        return [IP, "netns", "exec", self.name] + list(argv)

    def run(self, argv, timeout=30, **kw):
        """subprocess.run inside the namespace (text mode, output captured
        unless the caller says otherwise)."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        return subprocess.run(self.cmd(argv), timeout=timeout, **kw)

    def run_checked(self, argv, timeout=30):
        r = self.run(argv, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("in %s: %s failed (exit %d): %s" % (
                self.name, " ".join(argv), r.returncode, (r.stderr or "").strip()))
        return r.stdout

    def popen(self, argv, **kw):
        """Start a long-running process in the namespace.  `ip netns exec`
        execs the command, so the Popen pid is the process itself.  It is
        killed at cleanup if still running."""
        p = subprocess.Popen(self.cmd(argv), **kw)
        self.procs.append(p)
        add_cleanup("kill %d" % p.pid, lambda: stop_process(p, signal.SIGKILL, 2.0))
        return p

    def delete(self):
        for p in self.procs:
            stop_process(p, signal.SIGKILL, 2.0)
        self.procs = []
        if self.name is None:
            return
        subprocess.run([IP, "netns", "del", self.name],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.name = None
        cancel_cleanup(self._token)


class Nginx:
    """A real nginx serving `root` inside a namespace with a generated config.

    http_body is the text inside `http { }` after the common settings; it
    normally holds one `server { listen ADDR:PORT; ... }` block.  All writable
    paths (pid, logs, temp dirs) are in a private directory."""

    def __init__(self, ns, http_body, wait_url, workdir=None):
        self.ns = ns
        self.dir = workdir or make_tempdir("htr-nginx-")
        self.conf = os.path.join(self.dir, "nginx.conf")
        d = self.dir
        with open(self.conf, "w") as f:
            f.write(
                "daemon off;\n"
                "master_process off;\n"
                "worker_processes 1;\n"
                "pid %s/nginx.pid;\n"
                "error_log %s/error.log warn;\n"
                "events { worker_connections 128; }\n"
                "http {\n"
                "  default_type application/octet-stream;\n"
                "  types { text/html html; text/plain txt; text/css css;\n"
                "          application/javascript js; image/png png; }\n"
                "  access_log %s/access.log;\n"
                "  client_body_temp_path %s/body;\n"
                "  proxy_temp_path %s/proxy;\n"
                "  fastcgi_temp_path %s/fastcgi;\n"
                "  uwsgi_temp_path %s/uwsgi;\n"
                "  scgi_temp_path %s/scgi;\n"
                "  sendfile on;\n"
                "  keepalive_timeout 30s;\n"
                "%s\n"
                "}\n" % (d, d, d, d, d, d, d, d, http_body))
        self.stderr = open(os.path.join(self.dir, "stderr.log"), "w+")
        self.proc = ns.popen([NGINX, "-e", os.path.join(d, "error.log"), "-p", d,
                              "-c", self.conf],
                             stdout=subprocess.DEVNULL, stderr=self.stderr)
        add_cleanup("nginx stop", self.stop)
        self._wait(wait_url)

    def _wait(self, url, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited (%d): %s" % (self.proc.returncode,
                                                              self.log_tail()))
            r = self.ns.run(["curl", "-s", "-o", "/dev/null", "-m", "1", url], timeout=5)
            if r.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("nginx not answering on %s: %s" % (url, self.log_tail()))

    def log_tail(self):
        out = []
        for name in ("stderr.log", "error.log"):
            try:
                with open(os.path.join(self.dir, name)) as f:
                    out.append(f.read()[-2000:])
            except OSError:
                pass
        return " | ".join(s.strip() for s in out if s.strip())

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, signal.SIGQUIT, 5.0)
            self.proc = None
        if not self.stderr.closed:
            self.stderr.close()


class Tcpdump:
    """tcpdump recording one namespace's interface into path (full packets,
    written as they come: --immediate-mode, or packets wait in the kernel
    ring until a block fills and SIGINT ends tcpdump before they are
    written). Returns once tcpdump says it is listening."""

    def __init__(self, ns, ifname, path, buffer_kib=None, filt="tcp port 80"):
        self.path = path
        argv = ["tcpdump", "-i", ifname, "-w", path, "-U", "--immediate-mode", "-s", "0"]
        if buffer_kib:
            argv += ["-B", str(buffer_kib)]
        self.proc = ns.popen(argv + ["-n", "-Z", "root", filt],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.err = b""
        end = time.monotonic() + 10
        while b"listening on" not in self.err:
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError("tcpdump did not start: " + self.err.decode(errors="replace"))
            r, _, _ = select.select([self.proc.stderr], [], [], left)
            if r:
                self.err += os.read(self.proc.stderr.fileno(), 4096)

    def stop(self):
        """Stop it (after the last ACKs and FINs had time to come); returns
        what tcpdump wrote on stderr."""
        time.sleep(0.3)
        stop_process(self.proc, signal.SIGINT, 5.0)
        self.err += self.proc.stderr.read() or b""
        self.proc.stderr.close()
        return self.err.decode(errors="replace")


def tcpdump_kernel_drops(stderr_text):
    """The "N packets dropped by kernel" count in tcpdump's closing words,
    or None when it did not say."""
    m = re.search(r"(\d+) packets? dropped by kernel", stderr_text)
    return int(m.group(1)) if m else None


class Pair:
    """Client and server namespaces joined by a veth pair.

    Names carry the pid so concurrent runs do not collide; the subnet is
    10.199.<n>.0/24 with n derived from the pid.  client_addr ends in .1,
    server_addr in .2.  Interface names: vc<pid> / vs<pid> (<= 15
    chars)."""

    def __init__(self, prefix="htr", subnet=None):
        pid = os.getpid()
        self.n = subnet if subnet is not None else 1 + pid % 250
        self.client_addr = "10.199.%d.1" % self.n
        self.server_addr = "10.199.%d.2" % self.n
        self.client_if = ("vc%d" % pid)[:15]
        self.server_if = ("vs%d" % pid)[:15]
        self.client = None
        self.server = None
        self.nginx = None
        self._prefix = prefix
        self._pid = pid

    def __enter__(self):
        try:
            self.setup()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc):
        self.teardown()
        return False

    def setup(self):
        self.client = Netns("%s-c-%d" % (self._prefix, self._pid))
        self.server = Netns("%s-s-%d" % (self._prefix, self._pid))
        _check([IP, "link", "add", self.client_if, "netns", self.client.name, "type", "veth",
                "peer", "name", self.server_if, "netns", self.server.name])
        for ns, ifname, addr in ((self.client, self.client_if, self.client_addr),
                                 (self.server, self.server_if, self.server_addr)):
            ns.run_checked([IP, "addr", "add", addr + "/24", "dev", ifname])
            ns.run_checked([IP, "link", "set", ifname, "up"])

    def start_nginx(self, http_body, wait_path="/", port=80):
        self.nginx = Nginx(self.server, http_body,
                           "http://%s:%d%s" % (self.server_addr, port, wait_path))
        return self.nginx

    def url(self, path, port=80):
        if port == 80:
            return "http://%s%s" % (self.server_addr, path)
        return "http://%s:%d%s" % (self.server_addr, port, path)

    def teardown(self):
        if self.nginx is not None:
            self.nginx.stop()
            self.nginx = None
        # deleting a namespace deletes the veth end inside it (and its peer)
        for ns in (self.client, self.server):
            if ns is not None:
                ns.delete()
