#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Regenerate golden expectations on purpose; review the result with git diff.

Two modes:

  update.py [case...]
      Rewrite the "connections" of each golden file (all by default, or those
      whose name contains one of the arguments) from htracr's current output.
      Everything else in the file is kept: the case, pcap, notes, zeek_uids and
      the "differences" notes; each message keeps the set of facts it asserts
      (a body_bytes left out as unknown stays out; headers stay where they
      were asserted). Afterwards the reference check runs again and prints the
      differences that are now unlisted or stale, so the notes can be fixed.

  update.py --draft <source>/<case> <pcap> [--force]
      Write a first draft of a golden file from the references only (tshark's
      field dumps, Zeek's http.log), never from htracr. Roles (client/server)
      come from the first SYN as tshark decodes it (tshark must be installed).
      A draft is a starting point: read the capture, fix what the references
      get wrong, and write each remaining disagreement into "differences".
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def write_case(path, golden):
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
        f.write('\n')
    os.replace(path + '.tmp', path)


def keep_shape(new, old, keys):
    """new message restricted to the facts old asserted (the default set when
    there is no old message)."""
    if old is None:
        return {k: new.get(k) for k in keys}
    return run.project(new, old)


def update_from_htracr(filters):
    corpus = run.corpus_dir()
    binary = os.path.join(run.ROOT, 'htracr')
    if not os.access(binary, os.X_OK):
        print('update: %s not built (run `make htracr`)' % binary)
        return 1
    rc = 0
    for name, golden in run.load_cases(filters):
        case_dir = os.path.join(corpus, golden['case'])
        doc, err = run.run_htracr(binary, os.path.join(case_dir, golden['pcap']))
        if err:
            print('update: %s: %s' % (name, err))
            rc = 1
            continue
        old = {run.conn_key(c['client'], c['server']): c for c in golden['connections']}
        conns = []
        for c in run.normalize_htracr(doc):
            oc = old.get(run.conn_key(c['client'], c['server']), {})
            nc = {'client': c['client'], 'server': c['server']}
            for kind, keys in (('requests', run.REQ_KEYS), ('responses', run.RSP_KEYS)):
                if oc and kind not in oc:
                    continue  # the file asserts nothing of this kind here: it stays so
                ol = oc.get(kind, [])
                nc[kind] = [keep_shape(m, ol[i] if i < len(ol) else None, keys)
                            for i, m in enumerate(c[kind])]
            conns.append(nc)
        golden['connections'] = conns
        write_case(os.path.join(run.CASES_DIR, name + '.json'), golden)
        fails, _, _ = run.check_references(case_dir, golden)
        print('updated %s%s' % (name, '' if not fails else ': review differences:'))
        for f in fails:
            print('    ' + f)
    return rc


def tshark_roles(pcap):
    """{pair_key: client endpoint} from the first SYN (no ACK) of each stream."""
    out = subprocess.run(['tshark', '-r', pcap, '-Y', 'tcp.flags.syn==1 && tcp.flags.ack==0',
                          '-T', 'fields', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'tcp.srcport',
                          '-e', 'ip.dst', '-e', 'ipv6.dst', '-e', 'tcp.dstport'],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    roles = {}
    for line in out.stdout.decode().splitlines():
        f = line.split('\t')
        if len(f) < 6:
            continue
        c = run.endpoint(f[0] or f[1], f[2])
        s = run.endpoint(f[3] or f[4], f[5])
        roles.setdefault(run.pair_key(c, s), c)
    return roles


def draft(case, pcap, force):
    corpus = run.corpus_dir()
    case_dir = os.path.join(corpus, case)
    name = case.replace('/', '-')
    path = os.path.join(run.CASES_DIR, name + '.json')
    if os.path.exists(path) and not force:
        print('draft: %s exists (use --force)' % path)
        return 1
    golden = {'case': case, 'pcap': pcap, 'notes': 'DRAFT from tshark/zeek references',
              'connections': [], 'differences': []}
    if os.path.exists(path):
        with open(path, encoding='utf-8') as f:
            old = json.load(f)
        if 'zeek_uids' in old:
            golden['zeek_uids'] = old['zeek_uids']
    roles = tshark_roles(os.path.join(case_dir, pcap))
    tv = run.tshark_view(case_dir, pcap) or {}
    zv = run.zeek_view(case_dir, golden)
    zview = zv[0] if zv else {}
    for k in list(tv) + [k for k in zview if k not in tv]:
        t = tv.get(k, {'requests': [], 'responses': []})
        z = zview.get(k)
        src = t if (t['requests'] or t['responses'] or not z) else z
        client = roles.get(k) or (z or {}).get('client')
        if client is None:     # no SYN seen: the higher port is the client's
            client = max(k, key=lambda e: run.split_endpoint(e)[1])
        server = k[1] if k[0] == client else k[0]
        reqs = [{'method': r['method'], 'url': r['url'], 'host': r['host'],
                 'complete': True, 'error': False} for r in src['requests']]
        rsps = []
        for r in src['responses']:
            connect = any(q['method'] == 'CONNECT' for q in reqs)
            m = {'status': r['status'], 'interim': r['interim'],
                 'upgrade': r['status'] == 101 or (connect and 200 <= r['status'] < 300),
                 'body_bytes': r['length'], 'complete': True, 'error': False}
            if m['body_bytes'] is None:
                del m['body_bytes']     # the reference does not say
            rsps.append(m)
        golden['connections'].append({'client': client, 'server': server,
                                      'requests': reqs, 'responses': rsps})
    write_case(path, golden)
    found, _ = run.reference_disagreements(case_dir, golden)
    print('drafted %s: %d connections, %d disagreements with references'
          % (name, len(golden['connections']), len(found)))
    for d in found:
        print('    ' + run.canon(d))
    return 0


def main(argv):
    if argv and argv[0] == '--draft':
        args = [a for a in argv[1:] if a != '--force']
        if len(args) != 2:
            print(__doc__)
            return 2
        return draft(args[0], args[1], '--force' in argv)
    return update_from_htracr([a for a in argv if not a.startswith('-')])


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
