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
test_pkgs=(python3 nginx curl wrk tshark tcpdump tcpreplay tcptrace iproute2 time
           libclang-rt-14-dev hyperfine)

want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
