#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The C sources in house style: each file of src/, include/htracr/ and bpf/
# as clang-format leaves it (.clang-format at the root; `make format` fixes).
set -u
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
    echo "clang-format not installed (scripts/install-deps.sh test installs it)"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
pass=0 fail=0
for f in src/*.c include/htracr/*.h bpf/*.c bpf/*.h; do
    if out=$(clang-format --dry-run --Werror "$f" 2>&1); then
        pass=$((pass + 1))
    else
        echo "FAIL $f is not as clang-format leaves it (make format):"
        head -n 6 <<<"$out"
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
