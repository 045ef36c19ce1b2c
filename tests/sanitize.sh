#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The unit and golden suites again, on an ASan/UBSan build of its own
# (.output-san/): any sanitizer report fails the run. Last line: the sum.
set -u
cd "$(dirname "$0")/.."
if ! make -s test-sanitize >tests/out/sanitize-build.log 2>&1; then
    tail -n 20 tests/out/sanitize-build.log
    echo "sanitizer build failed"
    echo "0 passed, 1 failed"
    exit 1
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
p=0 f=0 k=0 rc=0
add() { # parse "N passed, N failed[, N skipped]" from the last result line of $1
    local line
    line=$(grep -E '^([a-z]+: )?[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    [ -n "$line" ] || { f=$((f + 1)); return; }
    p=$((p + $(sed -E 's/^([a-z]+: )?([0-9]+) passed.*/\2/' <<<"$line")))
    f=$((f + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
    k=$((k + $(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+' || echo 0)))
}
.output-san/unit-tests >tests/out/sanitize-unit.log 2>&1 || rc=1
grep -E '^(FAIL|  )|ERROR|runtime error' tests/out/sanitize-unit.log | head -n 40
add tests/out/sanitize-unit.log
echo "unit (asan/ubsan): $(tail -n 1 tests/out/sanitize-unit.log)"
HTRACR_BIN=.output-san/htracr python3 tests/golden/run.py >tests/out/sanitize-golden.log 2>&1 || rc=1
grep -E '^FAIL|ERROR|runtime error' -A3 tests/out/sanitize-golden.log | head -n 40
add tests/out/sanitize-golden.log
echo "golden (asan/ubsan): $(tail -n 1 tests/out/sanitize-golden.log)"
[ $rc -ne 0 ] && [ $f -eq 0 ] && f=1
echo "$p passed, $f failed, $k skipped"
[ $rc -eq 0 ] && [ $f -eq 0 ]
