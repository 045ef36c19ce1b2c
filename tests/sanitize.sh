#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The unit and golden suites again, on an ASan/UBSan build of its own
# (.output-san/), and the fuzz harness's seeds once through it (clang,
# libFuzzer, ASan/UBSan): any sanitizer report fails the run. Last line:
# the sum.
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

# The fuzz harness (tests/fuzz/fuzz_pcap.c: every pass, the UI's included)
# over its seeds once, without mutating them: each seed is a case, and a
# sanitizer report or a leak on any fails this group.
seeds=.output/fuzz/seeds
fuzzlog=tests/out/sanitize-fuzz.log
if ! make -s .output/fuzz/fuzz-pcap >"$fuzzlog" 2>&1; then
    tail -n 20 "$fuzzlog"
    echo "fuzz seeds (asan/ubsan): 0 passed, 1 failed (the harness did not build)"
    f=$((f + 1)) rc=1
else
    rm -rf "$seeds"
    ./tests/fuzz/seed.sh "$seeds" >>"$fuzzlog" 2>&1
    n=$(find "$seeds" -type f | wc -l)
    if [ "$n" -eq 0 ]; then
        echo "fuzz seeds (asan/ubsan): 0 passed, 1 failed (no seeds made)"
        f=$((f + 1)) rc=1
    elif .output/fuzz/fuzz-pcap -runs=0 -max_len=65536 -timeout=30 \
        -artifact_prefix=tests/out/sanitize-fuzz- "$seeds" >>"$fuzzlog" 2>&1; then
        echo "fuzz seeds (asan/ubsan): $n passed, 0 failed"
        p=$((p + n))
    else
        grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$fuzzlog" | head -n 20
        echo "fuzz seeds (asan/ubsan): 0 passed, 1 failed (of $n seeds; log: $fuzzlog)"
        f=$((f + 1)) rc=1
    fi
fi
[ $rc -ne 0 ] && [ $f -eq 0 ] && f=1
echo "$p passed, $f failed, $k skipped"
[ $rc -eq 0 ] && [ $f -eq 0 ]
