#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make run`: start htracr with its defaults. Until live capture and the web
# UI land, this reads a demo capture of real nginx traffic (made once by the
# capture tests in network namespaces, as root) and prints its transactions.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=tests/out/demo.pcap
if [ ! -s "$demo" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "run: making the demo capture needs root (network namespaces): sudo make run" >&2
        exit 1
    fi
    ./scripts/install-deps.sh test
    mkdir -p tests/out
    python3 tests/integration/captures.py --demo "$demo"
fi
echo "htracr -r $demo" >&2
exec ./htracr -r "$demo" "$@"
