#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copy the screenshots the browser tests made (tests/out/e2e/, written by
# tests/e2e/run.sh as root) into docs/img/, where the README shows them:
#   page-load.png     a real page load by chromium, captured live
#   lossy-charts.png  a connection with losses, its charts expanded
# Run it after the tests, when the UI changed enough to want new pictures.
set -eu
cd "$(dirname "$0")/../.."
src=tests/out/e2e
shots=(page-load.png lossy-charts.png)
missing=()
for f in "${shots[@]}"; do [ -s "$src/$f" ] || missing+=("$f"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "screenshots.sh: missing in $src: ${missing[*]}; run the e2e tests first (as root): tests/e2e/run.sh" >&2
    exit 1
fi
mkdir -p docs/img
for f in "${shots[@]}"; do
    cp "$src/$f" "docs/img/$f"
    echo "docs/img/$f"
done
