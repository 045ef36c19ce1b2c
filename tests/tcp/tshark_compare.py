#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Per-packet TCP analysis flags and RTT facts: htracr against tshark.

For each capture (the shared corpus, and the captures the integration tests
made), tshark's tcp.analysis.* flags for every frame are compared with the
flags htracr puts on the same packet (packets are matched by connection and
order), and each connection's handshake RTT with tcp.analysis.initial_rtt.
RTT samples are compared with tcp.analysis.ack_rtt: all of them (the merged
`rtt` series), and per direction of the timed segment (`rtt_c2s`,
`rtt_s2c`).
Differences the project has decided on are listed in KNOWN with the reason;
anything else fails. Last line: "N passed, N failed, N skipped"."""
import glob
import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get('HTRACR_BIN') or os.path.join(ROOT, 'htracr')
FLAGS = ['retransmission', 'fast_retransmission', 'spurious_retransmission', 'out_of_order',
         'lost_segment', 'ack_lost_segment', 'duplicate_ack', 'zero_window',
         'zero_window_probe', 'window_update', 'window_full', 'keep_alive']

# (capture file name, frame or 'handshake', flag): why htracr and tshark
# differ there. Each was read in the capture; none is a tolerance.
KNOWN = {
    ('ipv6-http-atomic-frag.pcap', 7, 'ack_lost_segment'):
        'timestamps go backwards: the client request (frame 8) is filed after the server ACKs it '
        '(frames 6, 7). tshark counts the ACKed bytes as sent after frame 6; htracr flags the '
        'second ACK past them too',
    ('ipv6-http-atomic-frag.pcap', 8, 'retransmission'):
        'same: for htracr the late request is new data (and HTTP gets it: the golden test expects '
        'the GET); tshark calls it a spurious retransmission of bytes it assumed sent',
    ('ipv6-http-atomic-frag.pcap', 8, 'spurious_retransmission'): 'same as frame 8 above',
    ('variant-01-chunk_2pow64_overflow.pcap', 'handshake', 'initial_rtt'):
        'the handshake ACK (frame 3) is timestamped 27 us before the SYN/ACK (frame 2), at the '
        'SYN\'s time: htracr reports ACK - SYN = 0 us, tshark 27 us',
    ('variant-01-chunk_2pow64_overflow.pcap', 'rtt', 'ack_rtt'):
        'the same clock: ACKs stamped before the segments they ACK give tshark negative or zero '
        'times; htracr takes no sample from a time that does not go forward',
    ('ipv6-http-atomic-frag.pcap', 'rtt', 'ack_rtt'):
        'the late-filed request (frames 6-8): tshark treats the ACKed bytes as sent and does not '
        'time them; htracr times the request from its own segment',
}


def tshark_frames(pcap):
    fields = ['frame.number', 'tcp.analysis.ack_rtt', 'ip.src', 'ipv6.src', 'tcp.srcport',
              'ip.dst', 'ipv6.dst', 'tcp.dstport', 'tcp.analysis.initial_rtt']
    fields += ['tcp.analysis.' + f for f in FLAGS]
    fields += ['tcp.seq_raw', 'tcp.len', 'tcp.analysis.acks_frame', 'tcp.flags.syn',
               'tcp.flags.fin', 'tcp.analysis.duplicate_ack_num', 'tcp.flags.reset']
    cmd = ['tshark', '-n', '-r', pcap, '-Y', 'tcp', '-T', 'fields', '-E', 'separator=\t',
           '-E', 'occurrence=f']
    for f in fields:
        cmd += ['-e', f]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
    frames = defaultdict(list)
    for line in out.stdout.decode(errors='replace').splitlines():
        v = line.split('\t')
        src = v[2] or v[3]
        dst = v[5] or v[6]
        if not v[4] or not v[7]:
            continue
        key = frozenset([(src, int(v[4])), (dst, int(v[7]))])
        flags = {f for i, f in enumerate(FLAGS) if v[9 + i]}
        x = 9 + len(FLAGS)
        if v[x + 6] == '1':
            flags.add('reset')
        seq = int(v[x]) if v[x] else 0
        occupy = int(v[x + 1] or 0) + (v[x + 3] == '1') + (v[x + 4] == '1')
        frames[key].append({'frame': int(v[0]), 'src': (src, int(v[4])), 'flags': flags,
                            'seq': seq, 'end': (seq + occupy) & 0xffffffff,
                            'acks': int(v[x + 2]) if v[x + 2] else None,
                            'dupnum': int(v[x + 5]) if v[x + 5] else None,
                            'initial_rtt': v[8],
                            'ack_rtt': round(float(v[1]) * 1e6) if v[1] else None})
    return frames


def htracr_conns(pcap):
    out = subprocess.run([BIN, '-r', pcap, '--json', '-'], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, timeout=120)
    doc = json.loads(out.stdout)
    conns = defaultdict(list)
    hs = {}
    rtts = defaultdict(list)
    tsx = {}
    # per connection: the server's endpoint, and the samples per direction
    # of the segment they time
    server = {}
    rtt_dir = defaultdict(lambda: {'c2s': [], 's2c': []})
    for c in doc['connections']:
        cl = (c['client_addr'], c['client_port'])
        sv = (c['server_addr'], c['server_port'])
        key = frozenset([cl, sv])
        dupnum = {e['packet']: e['count'] for e in c['events'] if e['type'] == 'duplicate_ack'}
        for i, p in enumerate(c['packets']):
            conns[key].append({'src': cl if p['dir'] == 'c2s' else sv,
                               'flags': set(p.get('analysis', [])) & set(FLAGS + ['reset']),
                               'dupnum': dupnum.get(i)})
        hs.setdefault(key, []).append(c['handshake_rtt_us'])
        rtts[key] += [v for _, v in c['series']['rtt']]
        server[key] = sv
        for d in ('c2s', 's2c'):
            rtt_dir[key][d] += [v for _, v in c['series']['rtt_' + d]]
        tsx[key] = tsx.get(key, 0) + c['stats'].get('rtt_ts_samples', 0)
    return conns, hs, rtts, tsx, server, rtt_dir


def median(v):
    v = sorted(v)
    n = len(v)
    return (v[n // 2] + v[(n - 1) // 2]) / 2


def rtt_per_direction(key, tp, sent_twice, server, h_dir, n_ts):
    """The samples of each direction against tshark's. tshark puts ack_rtt
    on the ACK; the segment it times went the other way, so an ack_rtt on a
    frame from the server is a c2s sample (the client's data, ACKed by the
    server). Returns the problems found.

    Count: the merged check's rule (within 5 % of tshark's count) per
    direction. Below 20 samples 5 % is less than one, so the count must
    match exactly, and nearly every direction of every connection in the
    corpus and the captures has fewer (7 of 208 have more). That is as it
    should be: the two tools time the same (segment, ACK) pairs, so a
    difference there is a sample filed in the wrong direction or lost, not
    noise; and a sample filed in the wrong direction shows as one too many
    in one direction and one too few in the other, which the merged check
    cannot see. The samples a timestamp echo allowed
    (n_ts, htracr's own: tshark's of those segments were left out as sent
    twice) are counted per connection, not per direction, so each direction
    may have up to n_ts more than tshark.
    Median: 1 % + 1 us as in the merged check. Near the client the s2c
    samples are tens of us, where 1 % is nothing: the bound is then the
    1 us that the two tools' rounding to us may differ by."""
    problems = []
    t_dir = {'c2s': [], 's2c': []}
    t_all = {'c2s': [], 's2c': []}
    for x in tp:
        if x['ack_rtt'] is None:
            continue
        d = 'c2s' if x['src'] == server else 's2c'
        t_all[d].append(x['ack_rtt'])
        if not sent_twice(x['acks']):
            t_dir[d].append(x['ack_rtt'])
    for d in ('c2s', 's2c'):
        h_s, t_s = h_dir[d], t_dir[d]
        slack = 0.05 * max(len(t_s), 1)
        if not (len(t_s) - slack <= len(h_s) <= len(t_s) + n_ts + slack):
            problems.append('%s: %d RTT samples %s (+%d by timestamp echo, either direction), '
                            'tshark %d' % (sorted(key), len(h_s), d, n_ts, len(t_s)))
            continue
        # As in the merged check, but per direction: where htracr has more
        # samples than tshark's Karn-filtered set, they are timestamp-echo
        # samples, and the median is taken against all of tshark's. (A SYN
        # sent twice whose SYN/ACK echoes the second gives no sample to
        # htracr, but a 1 s one to tshark: all of tshark's c2s samples would
        # be wrong for a direction that holds no echo sample.)
        t_m = t_all[d] if n_ts and len(h_s) > len(t_s) else t_s
        if t_m and h_s and abs(median(h_s) - median(t_m)) > 0.01 * median(t_m) + 1:
            problems.append('%s: RTT median %s %.0f us, tshark %.0f us' % (
                sorted(key), d, median(h_s), median(t_m)))
    return problems


def main():
    corpus = os.environ.get('HTRACR_CORPUS') or os.path.join(os.path.dirname(ROOT), 'shared',
                                                              'corpus')
    pcaps = sorted(glob.glob(os.path.join(corpus, '*', '*', '*.pcap')))
    pcaps += sorted(glob.glob(os.path.join(ROOT, 'tests', 'out', 'captures', '*.pcap')))
    verbose = '-v' in sys.argv
    passed = failed = skipped = 0
    if not shutil.which('tshark'):
        print('SKIP: tshark is not installed (scripts/install-deps.sh test installs it)')
        print('0 passed, 0 failed, 1 skipped')
        return 0
    if not pcaps or not os.access(BIN, os.X_OK):
        print('SKIP: no captures or no htracr binary')
        print('0 passed, 0 failed, 1 skipped')
        return 0
    for pcap in pcaps:
        name = os.path.basename(pcap)
        ts = tshark_frames(pcap)
        hc, hs, hr, hx, hsrv, hrd = htracr_conns(pcap)
        problems = []
        for key, hp in hc.items():
            tp = ts.get(key)
            if tp is None:
                problems.append('connection %s not in tshark' % sorted(key))
                continue
            if len(tp) != len(hp):
                problems.append('%s: %d packets, tshark %d' % (sorted(key), len(hp), len(tp)))
                continue
            for a, b in zip(hp, tp):
                if a['dupnum'] != b['dupnum'] and (name, b['frame'], 'duplicate_ack') not in KNOWN:
                    problems.append('frame %d: duplicate ACK number htracr=%s tshark=%s' % (
                        b['frame'], a['dupnum'], b['dupnum']))
                for f in FLAGS + ['reset']:
                    if (f in a['flags']) != (f in b['flags']) and \
                            (name, b['frame'], f) not in KNOWN:
                        problems.append('frame %d: %s htracr=%s tshark=%s' % (
                            b['frame'], f, f in a['flags'], f in b['flags']))
            # RTT samples: count within 5 %, median within 1 % (issue 3).
            # Karn's rule: tshark also times segments that were sent twice;
            # htracr does not, so those samples are left out of tshark's.
            byframe = {x['frame']: x for x in tp}

            def sent_twice(fr):
                seg = byframe.get(fr)
                if seg is None or seg['seq'] == seg['end']:
                    return False
                if seg['flags'] & {'retransmission', 'spurious_retransmission',
                                   'fast_retransmission'}:
                    return True  # a copy whose first was not even captured
                return any(y['src'] == seg['src'] and y['frame'] != fr and
                           y['seq'] != y['end'] and
                           ((y['seq'] - seg['end']) & 0xffffffff) >= 0x80000000 and
                           ((seg['seq'] - y['end']) & 0xffffffff) >= 0x80000000
                           for y in tp)
            t_s = [x['ack_rtt'] for x in tp if x['ack_rtt'] is not None and
                   not sent_twice(x['acks'])]
            h_s = hr.get(key, [])
            rtt_checked = (t_s or h_s) and (name, 'rtt', 'ack_rtt') not in KNOWN
            if rtt_checked:
                # Samples a timestamp echo allowed on a segment sent twice are
                # htracr's own (tshark's of those were left out above).
                n_h = len(h_s) - hx.get(key, 0)
                if abs(n_h - len(t_s)) > 0.05 * max(len(t_s), 1):
                    problems.append('%s: %d RTT samples (+%d by timestamp echo), tshark %d' % (
                        sorted(key), n_h, hx.get(key, 0), len(t_s)))
                else:
                    # With timestamp-echo samples in htracr's series, the
                    # median is taken against all of tshark's samples.
                    t_m = t_s if not hx.get(key) else [
                        x['ack_rtt'] for x in tp if x['ack_rtt'] is not None]
                    if t_m and h_s and abs(median(h_s) - median(t_m)) > 0.01 * median(t_m) + 1:
                        problems.append('%s: RTT median %.0f us, tshark %.0f us' % (
                            sorted(key), median(h_s), median(t_m)))
            if rtt_checked:
                problems += rtt_per_direction(key, tp, sent_twice, hsrv[key], hrd[key],
                                              hx.get(key, 0))
            t_rtt = [x['initial_rtt'] for x in tp if x['initial_rtt']]
            h_rtt = [r for r in hs.get(key, []) if r is not None]
            if t_rtt and h_rtt:
                t_us = round(float(t_rtt[0]) * 1e6)
                if abs(t_us - h_rtt[0]) > 1 and (name, 'handshake', 'initial_rtt') not in KNOWN:
                    problems.append('%s: handshake rtt %d us, tshark %d us' % (
                        sorted(key), h_rtt[0], t_us))
            elif t_rtt and (name, 'handshake', 'initial_rtt') not in KNOWN:
                problems.append('%s: no handshake rtt, tshark %.0f us' % (
                    sorted(key), float(t_rtt[0]) * 1e6))
        if problems:
            failed += 1
            print('FAIL %s: %d differences' % (name, len(problems)))
            for p in problems[:(1000 if verbose else 8)]:
                print('    ' + p)
        else:
            passed += 1
            print('ok   %s' % name)
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
