#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every test suite and sum their results. Each suite prints, as its last
# result line, "N passed, N failed[, N skipped]" and exits non-zero on failure.
# Usage: tests/run.sh [suite...]   (default: all suites in order)
set -u
cd "$(dirname "$0")/.."

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(format unit bpf golden api captures consistency tcp faults sanitize badinput pcaplive integration bodyskip replay e2e)

tp=0 tf=0 ts=0 rc=0
mkdir -p tests/out
for s in "${suites[@]}"; do
    case "$s" in
        unit)        cmd=(.output/unit-tests) ;;
        bpf)         cmd=(bash tests/bpf/run.sh) ;;
        golden)      cmd=(python3 tests/golden/run.py) ;;
        badinput)    cmd=(bash tests/badinput/run.sh) ;;
        captures)    cmd=(python3 tests/integration/captures.py) ;;
        integration) cmd=(python3 tests/integration/run.py) ;;
        sanitize)    cmd=(bash tests/sanitize.sh) ;;
        consistency) cmd=(python3 tests/golden/stream_consistency.py) ;;
        tcp)         cmd=(python3 tests/tcp/tshark_compare.py) ;;
        faults)      cmd=(python3 tests/integration/faults.py) ;;
        bodyskip)    cmd=(python3 tests/integration/bodyskip.py) ;;
        api)         cmd=(python3 tests/integration/api.py) ;;
        pcaplive)    cmd=(python3 tests/integration/pcap_live.py) ;;
        replay)      cmd=(python3 tests/integration/replay.py) ;;
        e2e)         cmd=(bash tests/e2e/run.sh) ;;
        format)      cmd=(bash tests/format.sh) ;;
        *) echo "unknown suite $s" >&2; exit 2 ;;
    esac
    if [ ! -e "${cmd[-1]}" ] && [ ! -e "${cmd[0]}" ]; then
        echo "== $s: not present"; continue
    fi
    echo "== $s"
    "${cmd[@]}" 2>&1 | tee "tests/out/$s.log"
    src=${PIPESTATUS[0]}
    line=$(grep -E '^([a-z]+: )?[0-9]+ passed, [0-9]+ failed' "tests/out/$s.log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "== $s: no result line (exit $src)"; tf=$((tf + 1)); rc=1; continue
    fi
    p=$(sed -E 's/^([a-z]+: )?([0-9]+) passed.*/\2/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    k=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    tp=$((tp + p)); tf=$((tf + f)); ts=$((ts + k))
    if [ "$src" -ne 0 ] && [ "$f" -eq 0 ]; then tf=$((tf + 1)); fi
    [ "$src" -ne 0 ] && rc=1
done
echo "total: $tp passed, $tf failed, $ts skipped"
exit $rc
