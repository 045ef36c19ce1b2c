#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The C sources in house style: each file of src/, include/htracr/ and bpf/
# as clang-format leaves it (.clang-format at the root). `make format`, or
# `tests/format.sh --fix`, rewrites them so: the list of files is here only.
set -u
cd "$(dirname "$0")/.."
files=(src/*.c include/htracr/*.h bpf/*.c bpf/*.h)
if [ "${1:-}" = --fix ] && command -v clang-format >/dev/null; then
    exec clang-format -i "${files[@]}"
fi
if ! command -v clang-format >/dev/null; then
    if [ "${1:-}" = --fix ]; then
        echo "clang-format not installed (scripts/install-deps.sh test installs it)" >&2
        exit 1
    fi
    echo "clang-format not installed (scripts/install-deps.sh test installs it)"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
pass=0 fail=0
for f in "${files[@]}"; do
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
