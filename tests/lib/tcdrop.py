# SPDX-License-Identifier: MIT
"""The tests' packet dropper: tests/bpf/tc_drop.bpf.c on a veth's egress.

The kernel has no netem, so the tests that need lost packets (the TCP fault
scenarios in tests/integration/faults.py, the lossy download of the browser
tests in tests/e2e/netlab.py) compile that tc program with clang, one object
per fault (-D defines, listed at the top of the C file), attach it as a
clsact direct-action filter and read back what it dropped from its map with
bpftool, so a test knows exactly which losses it made.
"""
import json
import os
import re
import subprocess

import netns

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BPF_SRC = os.path.join(REPO, "tests", "bpf", "tc_drop.bpf.c")
COUNTERS = 5  # the map's slots; [0] is packets dropped (see the C file)


def compile_variant(tmp, name, defines):
    """tc_drop.bpf.c built with the -D defines into tmp; returns the object."""
    obj = os.path.join(tmp, "tc_drop_%s.o" % name)
    cmd = ["clang", "-O2", "-g", "-target", "bpf", "-Wall", "-Werror"]
    arch_inc = "/usr/include/%s-linux-gnu" % os.uname().machine
    if os.path.isdir(arch_inc):      # asm/types.h lives there on Debian
        cmd += ["-I", arch_inc]
    cmd += list(defines) + ["-c", BPF_SRC, "-o", obj]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("clang tc_drop %s: %s" % (name, r.stderr.strip()))
    return obj


class Dropper:
    """A clsact qdisc on dev (in namespace ns) and at most one dropper on its
    egress at a time; removed at exit whatever happens."""

    def __init__(self, ns, dev):
        self.ns = ns
        self.dev = dev
        self.ns.run_checked(["tc", "qdisc", "add", "dev", self.dev, "clsact"])
        self.token = netns.add_cleanup("clsact " + self.dev, self.remove)
        self.map_id = None

    def attach(self, obj):
        self.detach()
        self.ns.run_checked(["tc", "filter", "add", "dev", self.dev, "egress", "bpf",
                             "direct-action", "obj", obj, "sec", "tc"])
        out = self.ns.run_checked(["tc", "filter", "show", "dev", self.dev, "egress"])
        m = re.search(r"\bid (\d+)", out)
        if not m:
            raise RuntimeError("no BPF program id in: " + out)
        r = subprocess.run(["bpftool", "-j", "prog", "show", "id", m.group(1)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=10)
        maps = json.loads(r.stdout).get("map_ids", []) if r.returncode == 0 else []
        if len(maps) != 1:
            raise RuntimeError("program %s has maps %r" % (m.group(1), maps))
        self.map_id = maps[0]

    def counters(self):
        """The map's counters, [0] first."""
        r = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(self.map_id)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=10)
        if r.returncode != 0:
            raise RuntimeError("bpftool map dump: " + r.stderr.strip())
        vals = {}
        for e in json.loads(r.stdout):
            k, v = e.get("key"), e.get("value")
            if isinstance(k, list):     # no BTF: little-endian hex byte strings
                k = int.from_bytes(bytes(int(x, 16) for x in k), "little")
                v = int.from_bytes(bytes(int(x, 16) for x in v), "little")
            vals[int(k)] = int(v)
        return [vals.get(i, 0) for i in range(COUNTERS)]

    def detach(self):
        self.ns.run(["tc", "filter", "del", "dev", self.dev, "egress"])
        self.map_id = None

    def remove(self):
        if self.ns.name is not None:
            self.ns.run(["tc", "qdisc", "del", "dev", self.dev, "clsact"])
        netns.cancel_cleanup(self.token)
