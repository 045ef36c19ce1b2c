#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""JSONL written while streaming (--jsonl alone: each keep-alive transaction
is written and freed as soon as it is complete) must say exactly what the
same run says when the whole model is kept (--jsonl with --json). Checked on
every capture of the shared corpus and on the captures the integration tests
made, line for line after sorting (the two modes write connections in a
different order). Last line: "N passed, N failed, N skipped"."""
import glob
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get('HTRACR_BIN') or os.path.join(ROOT, 'htracr')


def lines(args):
    out = subprocess.run([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=120)
    if out.returncode != 0:
        raise RuntimeError('htracr %s exited %d: %s' % (' '.join(args), out.returncode,
                                                        out.stderr.decode(errors='replace')))
    return out


def main():
    corpus = os.environ.get('HTRACR_CORPUS') or os.path.join(os.path.dirname(ROOT), 'shared',
                                                              'corpus')
    pcaps = sorted(glob.glob(os.path.join(corpus, '*', '*', '*.pcap')))
    pcaps += sorted(glob.glob(os.path.join(ROOT, 'tests', 'out', 'captures', '*.pcap')))
    passed = failed = skipped = 0
    if not os.access(BIN, os.X_OK):
        print('SKIP: %s not built' % BIN)
        print('0 passed, 0 failed, 1 skipped')
        return 0
    if not pcaps:
        print('SKIP: no captures (shared corpus absent at %s, and no tests/out/captures)' % corpus)
        print('0 passed, 0 failed, 1 skipped')
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        s_path, r_path = os.path.join(tmp, 's.jsonl'), os.path.join(tmp, 'r.jsonl')
        for pcap in pcaps:
            name = os.path.relpath(pcap, os.path.dirname(os.path.dirname(pcap)))
            try:
                # Same body limit in both, so the body fields agree too.
                lines(['-r', pcap, '--body-limit', '1M', '--jsonl', s_path])
                lines(['-r', pcap, '--body-limit', '1M', '--jsonl', r_path, '--json',
                       os.devnull])
                s = sorted(open(s_path).read().splitlines())
                r = sorted(open(r_path).read().splitlines())
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                print('FAIL %s: %s' % (name, e))
                failed += 1
                continue
            if s == r:
                print('ok   %s: %d lines agree' % (name, len(s)))
                passed += 1
                continue
            failed += 1
            print('FAIL %s: streamed %d lines, kept %d' % (name, len(s), len(r)))
            for a, b in zip(s, r):
                if a != b:
                    da, db = json.loads(a), json.loads(b)
                    keys = sorted(k for k in set(da) | set(db) if da.get(k) != db.get(k))
                    print('    first differing line differs in: %s' % ', '.join(keys))
                    break
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
