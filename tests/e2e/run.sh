#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# htracr's browser tests: the web UI (the pipeline's last stage) driven in
# Debian's headless chromium by playwright-core, with node's own test runner.
# Runs every tests/e2e/*.test.mjs (or the files named), one line per test
# ("ok   name", "FAIL name: why", "skip name: why"; reporter.mjs), and a last
# line "N passed, N failed, N skipped"; exits non-zero on any failure. The
# spec reporter's full output (stack traces) goes to tests/out/e2e/spec.log,
# screenshots and captures to tests/out/e2e/.
#
# Needs /usr/bin/chromium and tests/e2e/node_modules (both installed by
# `sudo make test`, i.e. scripts/install-deps.sh test, which runs npm ci
# here); without them everything is skipped, saying why. The live and
# own-capture tests need root (network namespaces) and skip themselves
# otherwise.
#
#   tests/e2e/run.sh                     every file
#   tests/e2e/run.sh live.test.mjs       only that file
set -u
cd "$(dirname "$0")"
out=../out/e2e
mkdir -p "$out"

skip_all() {
    echo "skip e2e: $1"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
}
command -v node >/dev/null || skip_all "no node (sudo make test installs nodejs)"
[ -x /usr/bin/chromium ] || skip_all "no /usr/bin/chromium (sudo make test installs it)"
[ -f node_modules/playwright-core/package.json ] ||
    skip_all "no tests/e2e/node_modules/playwright-core (sudo make test, or: cd tests/e2e && npm ci)"
if [ ! -x ../../htracr ] && [ -z "${HTRACR_BIN:-}" ]; then
    echo "FAIL e2e: no ./htracr: build it first (make)"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi

files=("$@")
[ ${#files[@]} -eq 0 ] && files=(*.test.mjs)

start=$(date +%s)
log="$out/results.txt"
# the whole run is bounded; a test on its own too
timeout -k 10 600 node --test --test-concurrency=1 --test-timeout=120000 \
    --test-reporter=./reporter.mjs --test-reporter-destination=stdout \
    --test-reporter=spec --test-reporter-destination="$out/spec.log" \
    "${files[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
echo "(e2e: $(( $(date +%s) - start )) s; details in tests/out/e2e/spec.log)"

# the reporter writes the summary; when node was killed it could not
if ! tail -n 1 "$log" | grep -qE '^[0-9]+ passed, [0-9]+ failed'; then
    p=$(grep -c '^ok ' "$log")
    f=$(grep -c '^FAIL ' "$log")
    s=$(grep -cE '^(skip|todo) ' "$log")
    echo "FAIL e2e: the test run ended without a summary (exit $rc; 124 is the 600 s timeout)"
    echo "$p passed, $((f + 1)) failed, $s skipped"
    exit 1
fi
[ "$rc" -eq 0 ] || exit 1
exit 0
