#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/badinput/run.sh - htracr against hostile capture files.
#
# Stands outside the whole pipeline: each case is a file handed to
# `htracr -r FILE --json OUT --har OUT` (the retained model) and to
# `htracr -r FILE --jsonl OUT` (streamed), made in a temporary directory by
# tests/badinput/mkpcap.py (truncated captures, lying length fields, pcapng
# blocks with broken lengths, compression bombs, absurd HTTP, ten thousand
# connections without a handshake, random bytes) or by this script (empty
# file, directory, missing path), and bad option values (exit 2, one error
# line saying what to give). Every case runs under `timeout` with the
# normal binary and, when one exists, a sanitizer build; none may crash, hang,
# or trip a sanitizer. Then, by the kind of file:
#   bad        exit non-zero, exactly one "htracr: error:" line, naming the file
#   valid      exit 0, the outputs are valid JSON (and an optional check on
#              the model holds)
#   truncated  the outputs for what was read are written and valid, and stderr
#              has a line about the truncation (the exit status is reported)
#   damaged    a capture broken part-way (a lying record or block header): exit
#              0 with valid outputs and a warning or error line naming the
#              file, or the "bad" rules
# Crashing and hanging inputs are kept under /tmp/htracr-crashes/.
#
# Usage: tests/badinput/run.sh [NAME-SUBSTRING]
#   HTRACR=path      binary to test (default ./htracr)
#   HTRACR_SAN=path  sanitizer build (default .output-san/htracr from make test-sanitize, if present)
#   HTRACR_CORPUS=d  shared capture corpus (default ../shared/corpus)
# Prints "ok   name" or "FAIL name: reason" per case, then "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 2

bin=${HTRACR:-./htracr}
san=${HTRACR_SAN:-.output-san/htracr}
corpus=${HTRACR_CORPUS:-../shared/corpus}
only=${1:-}
crashdir=/tmp/htracr-crashes
tmo=20

if [ ! -x "$bin" ]; then
    echo "FAIL setup: $bin not built (make htracr)"
    echo "0 passed, 1 failed"
    exit 1
fi
bins=("$bin")
[ -x "$san" ] && bins+=("$san")

tmp=$(mktemp -d /tmp/htracr-badinput.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
in=$tmp/in
mkdir -p "$in"

real=$corpus/zeek/get/get.pcap
[ -f "$real" ] || real=
if ! python3 tests/badinput/mkpcap.py hostile "$in" ${real:+"$real"}; then
    echo "FAIL setup: mkpcap.py failed"
    echo "0 passed, 1 failed"
    exit 1
fi
: >"$in/empty.pcap"
mkdir "$in/a-directory"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=87}
sanitizer_re='ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:'
sanitizer_re+='|SUMMARY: UndefinedBehavior'

pass=0
fail=0
declare -A seconds

# keep NAME FILE ERRFILE: save a crashing input and its report for the lead;
# prints where.
keep() {
    mkdir -p "$crashdir"
    if [ -f "$2" ]; then
        cp "$2" "$crashdir/$1.$(basename "$2")"
    fi
    cp "$3" "$crashdir/$1.stderr.txt"
    echo "kept in $crashdir/$1.*"
}

# check_outputs MODE [PY-EXPR]: the outputs of the last run are valid.
# MODE model: out.json is valid JSON and the expression (given the model as
# `d`) holds; out.har is valid JSON with a log.entries list.
# MODE jsonl: every line of out.jsonl is a JSON object.
check_outputs() {
    python3 - "$tmp" "$1" "${2:-True}" <<'EOF'
import json, os, sys
tmp, mode, expr = sys.argv[1:]
def load(name):
    try:
        with open(os.path.join(tmp, name), "rb") as f:
            return json.load(f)
    except Exception as e:  # noqa: BLE001 - any failure is the answer
        sys.exit("%s: invalid JSON: %s" % (name, e))
if mode == "jsonl":
    with open(os.path.join(tmp, "out.jsonl"), "rb") as f:
        for i, line in enumerate(f, 1):
            try:
                if not isinstance(json.loads(line), dict):
                    raise ValueError("not an object")
            except Exception as e:  # noqa: BLE001
                sys.exit("out.jsonl line %d: %s" % (i, e))
    sys.exit(0)
har = load("out.har")
if not isinstance(har.get("log", {}).get("entries"), list):
    sys.exit("out.har: no log.entries list")
d = load("out.json")
try:
    ok = eval("(" + expr + ")", {"d": d, "len": len, "sum": sum, "any": any, "all": all})
except Exception as e:  # noqa: BLE001
    sys.exit("check %r raised %s: %s" % (expr, type(e).__name__, e))
if not ok:
    sys.exit("check failed: %s" % " ".join(expr.split()))
EOF
}

# run_one BIN MODE KIND NAME FILE CHECK MAXRSS_KB MAXMS ARGS...: one binary, one
# output mode (model: --json and --har, retained; jsonl: --jsonl alone,
# streamed) on one case. Prints a reason and returns 1 on failure; sets last_rc.
run_one() {
    local b=$1 mode=$2 kind=$3 name=$4 file=$5 check=$6 maxrss=$7 maxms=$8 ms
    shift 8
    local err=$tmp/err.txt rssf=$tmp/rss.txt out rc rss nerr msg t0 t1
    local outargs=(--json "$tmp/out.json" --har "$tmp/out.har")
    out=$tmp/out.json
    if [ "$mode" = jsonl ]; then
        outargs=(--jsonl "$tmp/out.jsonl")
        out=$tmp/out.jsonl
    fi
    rm -f "$tmp"/out.* "$err" "$rssf"
    t0=$(date +%s%N)
    timeout -k 5 "$tmo" /usr/bin/time -f '%M' -o "$rssf" \
        "$b" -r "$file" "${outargs[@]}" "$@" </dev/null >/dev/null 2>"$err"
    rc=$?
    t1=$(date +%s%N)
    last_rc=$rc
    ms=$(((t1 - t0) / 1000000))
    [ "$b" = "$bin" ] && seconds[$name]=$((${seconds[$name]:-0} + ms))
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "hang: no exit after ${tmo}s ($b, $mode); $(keep "$name" "$file" "$err")"
        return 1
    fi
    if grep -Eq "$sanitizer_re" "$err"; then
        echo "sanitizer report ($b, $mode): $(grep -Em1 "$sanitizer_re" "$err");" \
            "$(keep "$name" "$file" "$err")"
        return 1
    fi
    if [ $rc -gt 128 ]; then
        echo "killed by signal $((rc - 128)) ($b, $mode); $(keep "$name" "$file" "$err")"
        return 1
    fi
    rss=$(tail -n 1 "$rssf" 2>/dev/null)
    if [ -n "$maxrss" ] && [ "$b" = "$bin" ] && [ "${rss:-0}" -gt "$maxrss" ]; then
        echo "max RSS ${rss} KiB > ${maxrss} KiB ($mode)"
        return 1
    fi
    if [ -n "$maxms" ] && [ "$b" = "$bin" ] && [ "$ms" -gt "$maxms" ]; then
        echo "took ${ms} ms > ${maxms} ms ($mode)"
        return 1
    fi
    nerr=$(grep -c '^htracr: error:' "$err")
    if [ "$kind" = damaged ]; then
        if [ $rc -ne 0 ]; then
            kind=bad
        elif ! grep -E '^htracr: (warning|error):' "$err" | grep -qF "$(basename "$file")"; then
            echo "exit 0 and no warning naming the file ($mode):" \
                "$(head -c 300 "$err" | tr '\n' '|')"
            return 1
        else
            kind=valid
        fi
    fi
    case $kind in
    bad)
        if [ $rc -eq 0 ]; then
            echo "exit 0 on a bad file ($mode)"
            return 1
        fi
        if [ "$nerr" -ne 1 ]; then
            echo "want one 'htracr: error:' line, got $nerr ($mode):" \
                "$(head -c 300 "$err" | tr '\n' '|')"
            return 1
        fi
        if ! grep '^htracr: error:' "$err" | grep -qF "$(basename "$file")"; then
            echo "error line does not name the file: $(grep '^htracr: error:' "$err")"
            return 1
        fi
        return 0
        ;;
    valid)
        if [ $rc -ne 0 ]; then
            echo "exit $rc on a valid file ($mode): $(head -c 300 "$err" | tr '\n' '|')"
            return 1
        fi
        ;;
    truncated)
        if ! grep -Eiq 'truncat|unexpected end|premature|incomplete|short read' "$err"; then
            echo "nothing on stderr about the truncation (exit $rc, $mode)"
            return 1
        fi
        ;;
    esac
    if [ ! -f "$out" ] || { [ "$mode" = model ] && [ ! -s "$out" ]; }; then
        echo "no $(basename "$out") written (exit $rc): $(head -c 300 "$err" | tr '\n' '|')"
        return 1
    fi
    if ! msg=$(check_outputs "$mode" "$check" 2>&1); then
        echo "$msg"
        return 1
    fi
    return 0
}

# case KIND NAME FILE [--check PY-EXPR] [--maxrss KiB] [--maxms MS] [-- HTRACR-ARGS...]
# (the memory and time bounds apply to the normal binary only)
case_() {
    local kind=$1 name=$2 file=$3 check="" maxrss="" maxms="" b mode note=""
    shift 3
    while [ $# -gt 0 ]; do
        case $1 in
        --check) check=$2; shift 2 ;;
        --maxrss) maxrss=$2; shift 2 ;;
        --maxms) maxms=$2; shift 2 ;;
        --) shift; break ;;
        *) break ;;
        esac
    done
    [ -n "$only" ] && [[ $name != *"$only"* ]] && return 0
    for b in "${bins[@]}"; do
        for mode in model jsonl; do
            # not in $(...): run_one sets last_rc and the timings in this shell
            if ! run_one "$b" "$mode" "$kind" "$name" "$file" "$check" "$maxrss" "$maxms" "$@" \
                >"$tmp/reason"; then
                echo "FAIL $name: $(cat "$tmp/reason")"
                fail=$((fail + 1))
                return
            fi
            [ "$b" = "$bin" ] && [ $mode = model ] && [ "$kind" != valid ] &&
                note=" (exit $last_rc)"
        done
    done
    echo "ok   $name$note"
    pass=$((pass + 1))
}

# --- files that are not captures at all
case_ bad empty "$in/empty.pcap"
case_ bad directory "$in/a-directory"
case_ bad nonexistent "$in/does-not-exist.pcap"
case_ bad random-bytes "$in/random.bin"
case_ bad cut-global-header "$in/cut-global-header.pcap"
case_ bad gzip-bomb-file "$in/bomb.gz" --maxrss 200000
case_ bad gzip-garbage "$in/not-gzip.gz"

# --- captures cut short: what was read is kept, the cut is reported
case_ truncated cut-first-record-header "$in/cut-first-record-header.pcap"
case_ truncated cut-record-header "$in/cut-record-header.pcap" \
    --check 'd["stats"]["packets"] == 1'
case_ truncated cut-record-data "$in/cut-record-data.pcap" \
    --check 'd["stats"]["packets"] == 1'
case_ truncated cut-late-record-data "$in/cut-late-record-data.pcap" \
    --check 'd["stats"]["packets"] >= 2'
case_ truncated cut-gzip "$in/cut-gzip.pcap.gz"
case_ valid cut-at-record-boundary "$in/cut-at-record-boundary.pcap" \
    --check 'd["stats"]["packets"] == 1'

# --- record headers and pcapng blocks that lie
# libpcap accepts caplen > snaplen up to its own per-link-type maximum
case_ valid caplen-gt-snaplen "$in/caplen-gt-snaplen.pcap" --check 'd["stats"]["requests"] == 1'
case_ damaged caplen-ffffffff "$in/caplen-ffffffff.pcap"
case_ valid wirelen-lt-caplen "$in/wirelen-lt-caplen.pcap" \
    --check 'd["stats"]["requests"] == 1'
case_ damaged random-after-header "$in/random-after-header.pcap"
case_ damaged pcapng-len-huge "$in/pcapng-len-huge.pcapng"
case_ damaged pcapng-len-small "$in/pcapng-len-small.pcapng"
case_ damaged pcapng-len-unaligned "$in/pcapng-len-unaligned.pcapng"
case_ damaged pcapng-trailer "$in/pcapng-trailer.pcapng"
case_ damaged pcapng-caplen-past-block "$in/pcapng-caplen-past-block.pcapng"

# --- well-formed files with hostile contents
# the exchange after the junk must come through whole
case_ valid ip-tcp-lengths "$in/ip-tcp-lengths.pcap" \
    --check 'd["stats"]["requests"] == 1 and d["stats"]["responses"] == 1 and
             all(m["complete"] for c in d["connections"] for m in c["messages"])'
case_ valid unknown-linktype "$in/unknown-linktype.pcap" --check 'd["stats"]["requests"] == 0'
case_ valid random-records "$in/random-records.pcap"
case_ valid empty-records-gz "$in/empty-records.pcap.gz" --maxrss 200000
# headers past the bound are counted, not kept
case_ valid http-100k-headers "$in/http-100k-headers.pcap" --maxrss 400000 \
    --check 'd["stats"]["requests"] == 1 and [(len(m["headers"]) < 100001,
             len(m["headers"]) + m["headers_dropped"]) for m in d["connections"][0]["messages"]
             if m["kind"] == "request"] == [(True, 100001)]'
case_ valid http-1mb-header-line "$in/http-1mb-header-line.pcap" --maxrss 400000 \
    --check 'd["stats"]["responses"] == 1 and all(len(v) < (1 << 20)
             for m in d["connections"][0]["messages"] for n, v in m["headers"])'
case_ valid http-1mb-url "$in/http-1mb-url.pcap" --maxrss 400000
case_ valid terminal-escapes "$in/terminal-escapes.pcap" \
    --check 'd["stats"]["requests"] == 2 and d["stats"]["responses"] == 2'
case_ valid http-chunk-2pow64 "$in/http-chunk-2pow64.pcap" \
    --check 'len(d["connections"]) == 4'
case_ valid http-bad-encoding "$in/http-bad-encoding.pcap" \
    --check 'd["stats"]["responses"] == 4'
case_ valid http-gzip-bomb-body "$in/http-gzip-bomb-body.pcap" --maxrss 150000 \
    --check '[(m["body_kept"] <= 65536, m["body_truncated"]) for m in
             d["connections"][0]["messages"] if m["kind"] == "response"] == [(True, True)]' \
    -- --body-limit 65536
case_ valid no-handshake-10k "$in/no-handshake-10k.pcap" --maxrss 600000 \
    --check 'd["stats"]["requests"] == 10000'
# 3 MB of requests: seconds, not tens of seconds, in every output
case_ valid http-100k-pipelined "$in/http-100k-pipelined.pcap" --maxrss 600000 --maxms 5000 \
    --check 'd["stats"]["requests"] == 100000'
# the out-of-order buffer is bounded, and the hole that is never filled is
# counted as missing bytes
case_ valid tcp-ooo-flood "$in/tcp-ooo-flood.pcap" --maxrss 200000 \
    --check 'd["stats"]["requests"] == 1 and
             d["connections"][0]["stats"]["gap_bytes_s2c"] == 1400'
# every SYN with a new ISN on port 80 is a new connection, never "ignored"
case_ valid syn-storm "$in/syn-storm.pcap" --maxrss 600000 \
    --check 'd["stats"]["connections"] == 10000 and d["stats"]["ignored_packets"] == 0'
# the flow table counts against --max-memory too and keeps to a quarter of it
# by finishing the flows idle longest: 7.9 MiB in all at 4 MiB, 23.5 MiB when
# the flows were outside the budget
case_ valid syn-flood-100k "$in/syn-flood-100k.pcap" --maxrss 12000 \
    --check 'd["stats"]["connections"] == 100000 and d["stats"]["flows_evicted"] > 50000 and
             d["stats"]["alloc_failures"] == 0' \
    -- --max-memory 4M
# a server goes when its last connection does: 100,000 servers met once each
# keep the model going (it stopped at the 7,767th, its budget full of servers
# without connections: 92,240 allocations failed, 22.9 MiB; now 9.2 MiB)
case_ valid syn-servers-100k "$in/syn-servers-100k.pcap" --maxrss 14000 \
    --check 'd["stats"]["connections"] == 100000 and d["stats"]["alloc_failures"] == 0 and
             0 < len(d["servers"]) == len(d["connections"]) and
             all(s["connections"] for s in d["servers"])' \
    -- --max-memory 4M
# memory stays near --max-memory with thousands of connections open: 16 MiB
# of model and the open connections' parser state (charged to the budget),
# and the binary: 22 MB in all (29 MB while that state was outside the
# budget; 74 MB when every direction also kept its body buffer, up to
# 64 KiB, between messages)
case_ valid open-3k-bodies "$in/open-3k-bodies.pcap" --maxrss 27000 \
    --check 'd["stats"]["connections"] == 3000 and d["stats"]["responses"] == 3000' \
    -- --max-memory 16M
# timestamps whose nanoseconds do not fit in 64 bits (found by the fuzzer)
case_ valid pcapng-ts-huge "$in/pcapng-ts-huge.pcapng" --check 'd["stats"]["requests"] == 1'
case_ valid time-travel "$in/time-travel.pcap" \
    --check 'd["stats"]["requests"] == 1 and d["stats"]["responses"] == 1'

# tally STATUS LABEL DETAIL: one ok (STATUS 0) or FAIL line, counted.
tally() {
    if [ "$1" -eq 0 ]; then
        echo "ok   $2"
        pass=$((pass + 1))
    else
        echo "FAIL $2: $3"
        fail=$((fail + 1))
    fi
}

# Bad option values: exit 2 and one error line that says what to give.
opt_case() { # name expected-text args...
    local name=$1 want=$2 out rc
    shift 2
    out=$("$bin" "$@" 2>&1 >/dev/null)
    rc=$?
    [ "$rc" -eq 2 ] && [[ "$out" == *"$want"* ]] && [ "$(grep -c 'htracr: error:' <<<"$out")" -eq 1 ]
    tally $? "option $name" "exit $rc, stderr: ${out:0:300}"
}
if [ -z "$only" ] || [[ "option" == *"$only"* ]]; then
    opt_case attach "bad --attach 'nowhere': give tc, socket or auto" --attach nowhere -r /dev/null
    opt_case backend "bad --backend 'nope': give bpf, pcap or auto" --backend nope -r /dev/null
    opt_case attach-tc-all "--attach tc needs one interface (-i IFACE)" --attach tc --no-ui
    opt_case iface-twice "interface given twice ('lo' and 'eth0')" -i lo -i eth0 --no-ui
    opt_case same-file "--json and --har name the same file '$tmp/o'" -r /dev/null \
        --json "$tmp/o" --har "$tmp/o"
    opt_case write-over-read "-w and -r name the same file '$tmp/r.pcap'" -r "$tmp/r.pcap" \
        -w "$tmp/r.pcap"
    opt_case port-list "bad -p '80,': give ports 1-65535 separated by commas" -p 80, -r /dev/null
    opt_case listen-empty-port "bad --listen '127.0.0.1:'" --listen 127.0.0.1: -r /dev/null
    opt_case rotate-size "bad -C '10X': give a file size of 1K or more" -C 10X -w "$tmp/c.pcap" \
        -r /dev/null
    opt_case rotate-no-write "-C and -W rotate the files of -w FILE" -C 10 -r /dev/null
    opt_case rotate-stdout "-C and -W rotate the files of -w FILE" -C 10 -w - -r /dev/null
    opt_case ring-no-size "-W 5 counts the files -C makes" -W 5 -w "$tmp/c.pcap" -r /dev/null
    opt_case ring-count "bad -W '0': give a number of files" -W 0 -C 1 -w "$tmp/c.pcap" -r /dev/null
fi

# Which outputs keep bodies: the UI, --json and --har; the summary, --jsonl
# and -w keep none unless --body-limit is given (nothing shows them; -w
# writes every packet whole all the same: with it there is no body skip).
body_case() { # name expected-text args...
    local name=$1 want=$2 out
    shift 2
    out=$("$bin" -v "$@" 2>&1 >/dev/null | grep 'bodies: ')
    [[ "$out" == *"$want"* ]]
    tally $? "bodies $name" "want '$want', got '${out:0:200}'"
}
if [ -z "$only" ] || [[ "bodies" == *"$only"* ]]; then
    f=$in/open-3k-bodies.pcap
    body_case summary "none kept (no output shows them" -r "$f"
    body_case write "none kept (no output shows them" -r "$f" -w "$tmp/bodies.pcap"
    body_case jsonl "none kept (no output shows them" -r "$f" --jsonl /dev/null
    body_case jsonl-write "none kept (no output shows them" -r "$f" --jsonl /dev/null -w "$tmp/bodies.pcap"
    body_case json "up to 1048576 bytes" -r "$f" --json /dev/null
    body_case har "up to 1048576 bytes" -r "$f" --har /dev/null --jsonl /dev/null
    body_case given "up to 4096 bytes" -r "$f" --body-limit 4K
    body_case given-0 "none kept (--body-limit 0)" -r "$f" --json /dev/null --body-limit 0
fi

# The summary (-r alone) goes to a terminal: the wire's ESC sequences, bell
# and C1 bytes in a reason phrase and a URL come out as \xHH text, and
# nothing but printable ASCII and newlines reaches stdout.
if [ -z "$only" ] || [[ "terminal-escapes" == *"$only"* ]]; then
    f=$in/terminal-escapes.pcap
    txt=$(timeout 20 "$bin" -r "$f" 2>/dev/null)
    rc=$?
    why=""
    [ $rc -eq 0 ] || why="exit $rc"
    if LC_ALL=C grep -q '[^[:print:]]' <<<"$txt"; then
        why="$why; a byte outside printable ASCII in the summary:"
        why="$why $(od -An -c <<<"$txt" | tr -s ' \n' ' ')"
    fi
    for want in 'GET /caf\xc3\xa9/\x9b2J\\x  -> 200 O\x1b]0;pwned\x07K\x1b[2J\x1b[31m  0 B' \
        'GET /index.html  -> 200 OK'; do
        grep -qF -- "$want" <<<"$txt" || why="$why; no line with '$want' in: ${txt:0:400}"
    done
    [ -z "$why" ]
    tally $? "summary terminal-escapes" "${why#; }"
fi

# A full disk (/dev/full: every write fails with ENOSPC) under each output:
# exit 1 and one error line with the reason, never a silent truncated file
# (--json and --har said nothing before: their writer's own write(2) left
# no mark on the stream).
if [ -z "$only" ] || [[ "disk-full" == *"$only"* ]]; then
    why=""
    # a small output (stdio's writes) and a large one (the writer's own)
    for f in $in/terminal-escapes.pcap $in/no-handshake-10k.pcap; do
    for out in --json --har --jsonl -w ''; do
        if [ -n "$out" ]; then
            timeout 20 "$bin" -r "$f" "$out" /dev/full 2>"$tmp/err.txt" >/dev/null
        else
            timeout 20 "$bin" -r "$f" 2>"$tmp/err.txt" >/dev/full
        fi
        rc=$?
        n=$(grep -c 'htracr: error: .*No space left on device' "$tmp/err.txt")
        [ $rc -eq 1 ] && [ "$n" -eq 1 ] && [ "$(wc -l <"$tmp/err.txt")" -eq 1 ] ||
            why="$why; ${f##*/} ${out:-summary}: exit $rc, stderr: $(head -c 300 "$tmp/err.txt")"
    done
    done
    [ -z "$why" ]
    tally $? "disk-full" "${why#; }"
fi

# The summary under a budget too small for the file: the connections the
# budget evicts are printed as they go, so it lists every one (sorted, the
# same lines as with room for all), and the eviction is warned about.
if [ -z "$only" ] || [[ "summary-budget" == *"$only"* ]]; then
    f=$in/no-handshake-10k.pcap
    timeout 60 "$bin" -r "$f" --max-memory 1M 2>"$tmp/err.txt" | sort >"$tmp/small.txt"
    timeout 60 "$bin" -r "$f" 2>/dev/null | sort >"$tmp/all.txt"
    why=""
    grep -q 'memory budget .* reached' "$tmp/err.txt" || why="no eviction at 1M (the check needs one)"
    n=$(grep -c '^connection ' "$tmp/all.txt")
    [ "$n" -ge 10000 ] || why="$why; $n connections in the full summary, want 10000"
    cmp -s "$tmp/small.txt" "$tmp/all.txt" ||
        why="$why; at 1M: $(grep -c '^connection ' "$tmp/small.txt") connection lines, $n with room"
    [ -z "$why" ]
    tally $? "summary-budget" "${why#; }"
fi

slow=$(for k in "${!seconds[@]}"; do echo "${seconds[$k]} $k"; done | sort -rn | head -n 3 |
    awk '{printf "%s %d ms, ", $2, $1}')
echo "slowest: ${slow%, }"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
