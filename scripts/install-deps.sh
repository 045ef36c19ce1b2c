#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what htracr needs on Debian 12, idempotently.
#   install-deps.sh build   - to build and run
#   install-deps.sh test    - to build and run every test and benchmark
# Packages already present are not touched; apt-get update runs only when
# something is missing.
set -euo pipefail

build_pkgs=(make gcc clang pkg-config libbpf-dev bpftool libelf-dev zlib1g-dev node-llhttp
            libcivetweb-dev libpcap-dev)
test_pkgs=(python3 nginx curl wrk tshark tcpdump tcpreplay tcptrace iproute2 libcap2-bin time
           libclang-rt-14-dev hyperfine chromium clang-format)

want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")
# The browser tests need node and npm; a machine may already have them from
# elsewhere (then Debian's are not wanted).
if [ "${1:-build}" = test ] && ! command -v npm >/dev/null; then
    want+=(nodejs npm)
fi

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages: ${missing[*]}; run as root (sudo make ...)" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer no without a prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The browser tests' driver (playwright-core) from the npm registry, exactly
# as the lockfile says; only when it is not there yet. It drives Debian's
# chromium: no browser is downloaded.
e2e="$(dirname "$0")/../tests/e2e"
if [ "${1:-build}" = test ] && [ -f "$e2e/package-lock.json" ] &&
   ! cmp -s "$e2e/package-lock.json" "$e2e/node_modules/.htracr-installed-lock" 2>/dev/null; then
    echo "install-deps: npm ci in tests/e2e" >&2
    (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error >/dev/null &&
        cp package-lock.json node_modules/.htracr-installed-lock)
fi
exit 0
