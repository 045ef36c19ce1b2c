#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# seed.sh DIR - fill DIR (the libFuzzer corpus, under .output/) with seeds for
# tests/fuzz/fuzz_pcap.c: every capture of the shared corpus cut to at most
# 64 KiB (the fuzzer's -max_len), plus hand-made captures from
# tests/badinput/mkpcap.py (HTTP over Ethernet/IPv4, raw IPv6, pcapng,
# big-endian nanosecond pcap, gzip'd pcap, a keep-alive/chunked/gzip mix).
# The shared corpus is read in place and skipped quietly when absent; nothing
# is written anywhere but DIR.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 CORPUS_DIR" >&2
    exit 2
fi
out=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
shared=${HTRACR_CORPUS:-$root/../shared/corpus}
max=65536

case "$(realpath -m "$out")/" in
    "$root"/.output/*) ;;
    "$root"/*) echo "seed.sh: refusing to write seeds into the repo tree: $out" >&2; exit 2 ;;
esac
mkdir -p "$out"

# mkpcap.py prints one line per file written
n=$(python3 "$root/tests/badinput/mkpcap.py" seeds "$out" | wc -l)

# Cut a capture to the first N packets, halving N until it fits in $max.
cut_capture() {
    local src=$1 dst=$2 count=256
    while [ "$count" -ge 1 ]; do
        if tcpdump -Z root -r "$src" -c "$count" -w "$dst" 2>/dev/null &&
            [ "$(stat -c %s "$dst")" -le "$max" ]; then
            return 0
        fi
        count=$((count / 2))
    done
    rm -f "$dst"
    return 1
}

if [ -d "$shared" ] && command -v tcpdump >/dev/null; then
    while IFS= read -r -d '' f; do
        # name the seed after its case directory: zeek/get/get.pcap -> zeek-get.pcap
        rel=${f#"$shared"/}
        name=$(dirname "$rel" | tr '/' '-').pcap
        if [ "$(stat -c %s "$f")" -le "$max" ]; then
            install -m 0644 "$f" "$out/$name"
        else
            cut_capture "$f" "$out/$name" || continue
        fi
        n=$((n + 1))
    done < <(find "$shared" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) \
        -print0 | sort -z)
fi
echo "seed.sh: $n seeds written to $out"
