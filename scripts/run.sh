#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make run`: start htracr with its defaults: live capture on every
# interface, port 80, the UI on http://localhost:8000/ (root: sudo make run).
# `make run DEMO=1` serves a demo capture instead: a page load of real nginx
# traffic, made once by the capture tests in network namespaces (as root).
# Extra arguments: make run ARGS="-i eth0 -p 80,8080".
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${DEMO:-0}" != 0 ]; then
    demo=tests/out/demo.pcap
    if [ ! -s "$demo" ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "run: making the demo capture needs root (network namespaces): sudo make run DEMO=1" >&2
            exit 1
        fi
        ./scripts/install-deps.sh test
        mkdir -p tests/out
        python3 tests/integration/captures.py --demo "$demo"
    fi
    echo "htracr -r $demo 8000" >&2
    exec ./htracr -r "$demo" "$@" 8000
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "run: live capture needs root: sudo make run (or make run DEMO=1 for a capture file)" >&2
    exit 1
fi
echo "htracr $* 8000" >&2
exec ./htracr "$@" 8000
