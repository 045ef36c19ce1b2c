#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden tests: htracr's HTTP transactions on the shared capture corpus.

Where this sits: after `make htracr`, before the integration tests. Every file
tests/golden/cases/<source>-<case>.json names one capture of the shared corpus
(../shared/corpus beside the repository) and holds the transactions htracr is
expected to report for it, connection by connection, plus a "differences" list:
each place where an upstream reference (Zeek's logs, suricata-verify's checks,
tshark's field dumps) says something else, with the reason htracr is right.

Two checks per case:
  golden      run `htracr -r <pcap> --json <tmp>` and compare its connections,
              requests (method, url, Host) and responses (status, interim,
              upgrade, body_bytes, complete, error) with the golden file.
  references  re-derive what each reference says from the corpus files and
              compare it with the golden file; every disagreement must be
              listed in "differences" and every listed difference must still
              occur, so a disagreement can never appear or vanish silently.

Usage: python3 tests/golden/run.py [-v] [case-name-substring...]
Last line: "N passed, N failed, N skipped"; exit status 1 on any failure.
Python 3 standard library only. update.py imports this file.
"""

import datetime
import difflib
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CASES_DIR = os.path.join(HERE, 'cases')
HTRACR_TIMEOUT = 120


def corpus_dir():
    """The shared corpus: $HTRACR_CORPUS, else ../shared/corpus from the repo root."""
    d = os.environ.get('HTRACR_CORPUS')
    if not d:
        d = os.path.join(os.path.dirname(ROOT), 'shared', 'corpus')
    return os.path.normpath(d)


# ---------------------------------------------------------------- addresses

def endpoint(addr, port):
    """'1.2.3.4:80' or '[2001:db8::1]:80', with the address in canonical form."""
    try:
        ip = ipaddress.ip_address(str(addr).strip('[]'))
    except ValueError:
        return '%s:%s' % (addr, port)
    if ip.version == 6:
        return '[%s]:%d' % (ip.compressed, int(port))
    return '%s:%d' % (ip, int(port))


def split_endpoint(ep):
    """Inverse of endpoint(): (address string, port int)."""
    host, _, port = ep.rpartition(':')
    return host.strip('[]'), int(port)


def conn_key(client, server):
    return '%s-%s' % (client, server)


def pair_key(a, b):
    """Connection identity that ignores roles (for references without them)."""
    return tuple(sorted((a, b)))


def strip_port(host):
    """Host header value without its port, as Zeek and Suricata log it."""
    if host is None:
        return None
    if host.startswith('['):
        end = host.find(']')
        return host[:end + 1] if end >= 0 else host
    if host.count(':') == 1:
        return host.split(':', 1)[0]
    return host


# ---------------------------------------------------------------- htracr side

def header_value(headers, name):
    for h in headers or []:
        if len(h) >= 2 and str(h[0]).lower() == name:
            return h[1]
    return None


def normalize_htracr(doc):
    """htracr's --json document -> golden-shaped list of connections."""
    out = []
    for c in doc.get('connections') or []:
        conn = {
            'client': endpoint(c.get('client_addr'), c.get('client_port')),
            'server': endpoint(c.get('server_addr'), c.get('server_port')),
            'requests': [],
            'responses': [],
        }
        for m in c.get('messages') or []:
            common = {'complete': bool(m.get('complete')), 'error': m.get('error') is not None}
            if m.get('kind') == 'request':
                r = {'method': m.get('method'), 'url': m.get('url'),
                     'host': header_value(m.get('headers'), 'host')}
                r.update(common)
                r['headers'] = m.get('headers') or []
                conn['requests'].append(r)
            else:
                r = {'status': m.get('status'), 'interim': bool(m.get('interim')),
                     'upgrade': bool(m.get('upgrade')), 'body_bytes': m.get('body_bytes')}
                r.update(common)
                r['headers'] = m.get('headers') or []
                conn['responses'].append(r)
        out.append(conn)
    return out


def run_htracr(binary, pcap, flag='--json'):
    """Run htracr on pcap; (document, None) or (None, error text)."""
    fd, tmp = tempfile.mkstemp(prefix='htracr-golden-', suffix='.json')
    os.close(fd)
    try:
        try:
            p = subprocess.run([binary, '-r', pcap, flag, tmp], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=HTRACR_TIMEOUT)
        except subprocess.TimeoutExpired:
            return None, 'htracr timed out after %ds' % HTRACR_TIMEOUT
        if p.returncode != 0:
            err = p.stderr.decode('utf-8', 'replace').strip().splitlines()[-3:]
            return None, 'htracr exited %d: %s' % (p.returncode, ' | '.join(err))
        try:
            with open(tmp, encoding='utf-8') as f:
                return json.load(f), None
        except (OSError, ValueError) as e:
            return None, 'htracr wrote no valid JSON: %s' % e
    finally:
        os.unlink(tmp)


def check_har(doc, model):
    """HAR invariants on every capture: entries in startedDateTime order
    (the HAR says they are), one that counts the handshake starting at the
    first SYN, time = the sum of the timings that apply,
    absolute URLs with a host, and a response the JSON calls incomplete
    never passed off as whole (a content.comment says so)."""
    fails = []
    ents = doc['log']['entries']
    started = [e['startedDateTime'] for e in ents]
    for i in range(1, len(started)):
        if started[i] < started[i - 1]:
            fails.append('entry %d starts %s, before entry %d (%s)'
                         % (i, started[i], i - 1, started[i - 1]))
            break
    # an entry that counts the handshake starts at the connection's first
    # SYN (a SYN sent again is part of the wait)
    first_syn = {}
    for c in model['connections']:
        ts = [p['ts_us'] for p in c['packets'] if p['dir'] == 'c2s' and p['flags'] == 'S']
        if ts:
            first_syn[str(c['id'])] = min(ts)
    for i, e in enumerate(ents):
        syn = first_syn.get(e['connection'])
        if e['timings']['connect'] >= 0 and syn is not None:
            want = datetime.datetime.fromtimestamp(syn // 1000 / 1000, datetime.timezone.utc)
            want = want.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (syn // 1000 % 1000)
            if e['startedDateTime'] != want:
                fails.append('entry %d: starts %s, its connection\'s first SYN %s'
                             % (i, e['startedDateTime'], want))
    # a connection's entries are its requests in time order
    reqs, seen = {}, {}
    for c in model['connections']:
        by_id = {m['id']: m for m in c['messages']}
        rs = sorted((m for m in c['messages'] if m['kind'] == 'request'),
                    key=lambda m: (m['start_us'], m['id']))
        reqs[str(c['id'])] = [by_id.get(m['response']) if m['response'] is not None else None
                              for m in rs]
    for i, e in enumerate(ents):
        t = e['timings']
        total = sum(v for k, v in t.items() if k in ('blocked', 'dns', 'connect', 'send', 'wait',
                                                     'receive') and v > 0)
        if abs(total - e['time']) > 0.002:
            fails.append('entry %d: time %r, its timings add up to %r' % (i, e['time'], total))
        url = e['request']['url']
        if not re.match(r'^https?://[^/?#]+', url):
            fails.append('entry %d: url %r is not absolute' % (i, url))
        # a URL is printable ASCII: other bytes of the target percent-encoded
        odd = [q for q in [url] + [x for p in e['request']['queryString']
                                   for x in (p['name'], p['value'])]
               if not re.match(r'^[\x21-\x7e]*$', q)]
        if odd:
            fails.append('entry %d: url or query %r holds bytes a URL cannot' % (i, odd[0]))
        k = seen.get(e['connection'], 0)
        seen[e['connection']] = k + 1
        rs = reqs.get(e['connection'], [])
        resp = rs[k] if k < len(rs) else None
        if resp is not None and not resp['complete'] and 'comment' not in e['response']['content']:
            fails.append('entry %d: response %d is incomplete, its content has no comment'
                         % (i, resp['id']))
    return fails[:10]


# ---------------------------------------------------------------- golden check

REQ_KEYS = ('method', 'url', 'host', 'complete', 'error')
RSP_KEYS = ('status', 'interim', 'upgrade', 'body_bytes', 'complete', 'error')


def project(msg, want):
    """msg reduced to the facts the golden message asserts: exactly its keys."""
    r = {}
    for k in want:
        if k == 'headers':
            r[k] = [list(h) for h in msg.get('headers') or []]
        else:
            r[k] = msg.get(k)
    return r


def check_golden(golden, actual):
    """List of failure strings: htracr's normalized output vs the golden file.
    A golden message asserts exactly the keys it has (null included); a key
    left out (say body_bytes where the capture does not show the body) is not
    checked."""
    fails = []
    want = {conn_key(c['client'], c['server']): c for c in golden['connections']}
    got = {conn_key(c['client'], c['server']): c for c in actual}
    for k in want:
        if k not in got:
            fails.append('connection %s missing from htracr output' % k)
    for k in got:
        if k not in want:
            fails.append('unexpected connection %s (%d requests, %d responses)'
                         % (k, len(got[k]['requests']), len(got[k]['responses'])))
    for k, w in want.items():
        g = got.get(k)
        if g is None:
            continue
        for kind in ('requests', 'responses'):
            if kind not in w:
                continue        # not asserted for this connection (see its notes)
            wl, gl = w[kind], g[kind]
            if len(wl) != len(gl):
                fails.append('%s: %d %s expected, htracr has %d: %s'
                             % (k, len(wl), kind, len(gl), json.dumps(
                                 [project(m, {'method': 1, 'url': 1, 'status': 1})
                                  for m in gl])[:300]))
            for i, (wm, gm) in enumerate(zip(wl, gl)):
                gp = project(gm, wm)
                if wm != gp:
                    fails.append('%s %s[%d]: %s' % (k, kind, i, '; '.join(
                        '%s expected %s, htracr %s' % (x, json.dumps(wm[x]), json.dumps(gp[x]))
                        for x in sorted(wm) if wm[x] != gp[x])))
    return fails


# ---------------------------------------------------------------- reference parsers

def read_lines(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        return f.read().splitlines()


def parse_zeek_log(path):
    """Zeek TSV log (or a zeek-cut -m file) -> list of dicts keyed by field name."""
    fields, rows = None, []
    for line in read_lines(path):
        if line.startswith('###') or not line.strip():
            continue
        if line.startswith('#'):
            if line.startswith('#fields\t'):
                fields = line.split('\t')[1:]
            continue
        cols = line.split('\t')
        if fields is None:          # zeek-cut -m: first line names the fields
            fields = cols
            continue
        rows.append(dict(zip(fields, cols)))
    return rows


def zeek_value(v):
    if v is None or v == '-':
        return None
    if v == '(empty)':
        return ''
    return v


def parse_tshark_tsv(path):
    """tshark -T fields dump -> list of column lists (comment lines dropped)."""
    rows = []
    for line in read_lines(path):
        if line.startswith('#') or not line.strip():
            continue
        rows.append(line.split('\t'))
    return rows


def parse_tshark_conv(path):
    """tshark -z conv,tcp -> list of endpoint pairs, in tcp.stream order.

    tshark numbers streams by first packet; the table is sorted by bytes, so
    re-sort on its 'Relative Start' column."""
    convs = []
    for line in read_lines(path):
        if '<->' not in line:
            continue
        left, right = line.split('<->', 1)
        a = left.strip()
        parts = right.split()
        b = parts[0]
        start = float(parts[-2])
        convs.append((start, len(convs), a, b))
    convs.sort()
    out = []
    for _, _, a, b in convs:
        out.append(pair_key(endpoint(*split_endpoint(a)), endpoint(*split_endpoint(b))))
    return out


def yaml_scalar(s):
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in '"\'':
        return s[1:-1]
    if s in ('true', 'True'):
        return True
    if s in ('false', 'False'):
        return False
    try:
        return int(s)
    except ValueError:
        return s


def parse_yaml(path):
    """The block-style YAML subset suricata-verify's test.yaml files use:
    mappings, '- ' sequences, scalars (plain, quoted, int, bool), # comments."""
    lines = []
    for raw in read_lines(path):
        s = raw.split(' #')[0].rstrip() if ' #' in raw else raw.rstrip()
        if not s.strip() or s.lstrip().startswith('#'):
            continue
        lines.append((len(s) - len(s.lstrip()), s.strip()))
    pos = 0

    def block(indent):
        nonlocal pos
        if pos >= len(lines):
            return None
        if lines[pos][1].startswith('- '):
            seq = []
            ind = lines[pos][0]
            while pos < len(lines) and lines[pos][0] == ind and lines[pos][1].startswith('- '):
                # turn "- item" into an item one level deeper
                rest = lines[pos][1][2:]
                lines[pos] = (ind + 2, rest)
                if ':' in rest and not rest.startswith('"'):
                    seq.append(block(ind + 2))
                else:
                    pos += 1
                    seq.append(yaml_scalar(rest))
            return seq
        m = {}
        ind = lines[pos][0]
        while pos < len(lines) and lines[pos][0] == ind and not lines[pos][1].startswith('- '):
            key, _, val = lines[pos][1].partition(':')
            pos += 1
            if val.strip():
                m[key.strip()] = yaml_scalar(val)
            elif pos < len(lines) and (lines[pos][0] > ind or lines[pos][1].startswith('- ')):
                m[key.strip()] = block(lines[pos][0])
            else:
                m[key.strip()] = None
        return m

    return block(0) or {}


# ---------------------------------------------------------------- reference views
#
# A view is {pair_key: {'client': ep or None, 'requests': [...], 'responses': [...]}}
# plus a description of what the reference can say. Requests are
# {'method', 'url', 'host'}; responses {'status', 'interim', 'length'} where
# length is None when the reference does not state it.

def tshark_view(case_dir, pcap):
    stem = os.path.splitext(os.path.basename(pcap))[0]
    base = os.path.join(case_dir, 'tshark.%s.' % stem)
    if not os.path.exists(base + 'requests.tsv'):
        return None
    streams = parse_tshark_conv(base + 'conv_tcp.txt')
    view = {k: {'requests': [], 'responses': []} for k in streams}
    rows = []
    for r in parse_tshark_tsv(base + 'requests.tsv'):
        r += [''] * (5 - len(r))
        methods = r[2].split(',')
        uris = r[3].split(',') if len(methods) > 1 else [r[3]]
        hosts = r[4].split(',') if len(methods) > 1 else [r[4]]
        if len(methods) > 1 and (len(uris) != len(methods) or len(hosts) != len(methods)):
            uris, hosts, methods = [r[3]], [r[4]], [r[2]]   # ambiguous: keep as one
        for i, m in enumerate(methods):
            rows.append((int(r[0]), i, int(r[1]), 'requests',
                         {'method': m, 'url': uris[i], 'host': hosts[i] or None}))
    for r in parse_tshark_tsv(base + 'responses.tsv'):
        r += [''] * (4 - len(r))
        st = int(r[2])
        rows.append((int(r[0]), 0, int(r[1]), 'responses',
                     {'status': st, 'interim': 100 <= st < 200 and st != 101,
                      'length': int(r[3]) if r[3] else None}))
    rows.sort(key=lambda x: (x[0], x[1]))
    for _, _, stream, kind, item in rows:
        view[streams[stream]][kind].append(item)
    return view


def zeek_view(case_dir, golden):
    """From Zeek's http.log (full or cut). None when the case has none."""
    logs = [f for f in sorted(os.listdir(case_dir))
            if f.startswith('expected.zeek.') and '_http.log' in f]
    if not logs:
        return None
    uids = golden.get('zeek_uids', {})
    view = {}
    rows = []
    for f in logs:
        for r in parse_zeek_log(os.path.join(case_dir, f)):
            if 'id.orig_h' in r:
                c = endpoint(r['id.orig_h'], r['id.orig_p'])
                s = endpoint(r['id.resp_h'], r['id.resp_p'])
            elif r.get('uid') in uids:
                c, s = uids[r['uid']]
            else:
                raise ValueError('%s: uid %s has no address; add it to "zeek_uids"'
                                 % (f, r.get('uid')))
            rows.append((pair_key(c, s), c, int(r.get('trans_depth') or 0), len(rows), r))
        break   # one http.log per case is enough; the others are the same run
    rows.sort(key=lambda x: (x[0], x[2], x[3]))
    for k, c, _, _, r in rows:
        v = view.setdefault(k, {'client': c, 'requests': [], 'responses': []})
        method = zeek_value(r.get('method'))
        if 'method' in r and method is not None:
            v['requests'].append({'method': method, 'url': zeek_value(r.get('uri')),
                                  'host': zeek_value(r.get('host'))})
        info = zeek_value(r.get('info_code'))
        if info is not None:
            v['responses'].append({'status': int(info), 'interim': True, 'length': None})
        st = zeek_value(r.get('status_code'))
        if st is not None:
            blen = zeek_value(r.get('response_body_len'))
            v['responses'].append({'status': int(st), 'interim': False,
                                   'length': int(blen) if blen is not None else None})
    fields = set()
    for _, _, _, _, r in rows:
        fields |= set(r)
    return view, fields


def zeek_conns(case_dir):
    """Connections Zeek reports (conn.log rows with tcp, or printed conn ids)."""
    found = None
    for f in sorted(os.listdir(case_dir)):
        p = os.path.join(case_dir, f)
        if not f.startswith('expected.zeek.'):
            continue
        if '_conn' in f and '.log' in f:
            for r in parse_zeek_log(p):
                if 'id.orig_h' not in r or r.get('proto', 'tcp') != 'tcp':
                    continue
                found = found or {}
                c = endpoint(r['id.orig_h'], r['id.orig_p'])
                s = endpoint(r['id.resp_h'], r['id.resp_p'])
                found[pair_key(c, s)] = c
        elif f.endswith('_output'):
            for line in read_lines(p):
                if line.startswith('[orig_h=') and '/tcp' in line:
                    kv = dict(x.strip().split('=', 1) for x in line.strip('[]').split(', ')
                              if '=' in x)
                    c = endpoint(kv['orig_h'], kv['orig_p'].split('/')[0])
                    s = endpoint(kv['resp_h'], kv['resp_p'].split('/')[0])
                    found = found or {}
                    found[pair_key(c, s)] = c
    return found


# ---------------------------------------------------------------- comparisons

def req_str(r):
    if 'method' not in r and 'url' not in r:
        return '(malformed request line)'
    return '%s %s' % (r.get('method'), r.get('url'))


def rsp_str(r):
    st = '(no status line)' if r['status'] is None else '%d' % r['status']
    return '%s%s' % (st, ' (interim)' if r.get('interim') else '')


def squeeze(items):
    """Consecutive equal items as one 'item (xN)', so long runs stay readable."""
    out = []
    for it in items:
        if out and out[-1][0] == it:
            out[-1][1] += 1
        else:
            out.append([it, 1])
    return [it if n == 1 else '%s (x%d)' % (it, n) for it, n in out]


def diff_lists(ref_items, got_items):
    """difflib opcodes over strings -> [(ref_slice, got_slice)] for non-equal runs
    (squeezed), and the equal index pairs."""
    sm = difflib.SequenceMatcher(a=ref_items, b=got_items, autojunk=False)
    runs, pairs = [], []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == 'equal':
            pairs += list(zip(range(i1, i2), range(j1, j2)))
        else:
            runs.append((squeeze(ref_items[i1:i2]), squeeze(got_items[j1:j2])))
    return runs, pairs


def compare_view(refname, view, golden, opts):
    """Disagreements between one reference's view and the golden file."""
    out = []
    gconns = {pair_key(c['client'], c['server']): c for c in golden['connections']}
    label = {k: conn_key(c['client'], c['server']) for k, c in gconns.items()}

    def add(k, what, ref, got):
        out.append({'reference': refname, 'connection': label.get(k, '%s-%s' % k),
                    'what': what, 'reference_says': ref, 'htracr_says': got})

    if opts.get('connections', True):
        for k in view:
            if k not in gconns:
                add(k, 'connection', 'present', 'absent')
        for k in gconns:
            if k not in view and opts.get('all_connections', True):
                add(k, 'connection', 'absent', 'present')
    for k, v in view.items():
        g = gconns.get(k)
        if g is None:
            continue
        if opts.get('roles') and v.get('client') and v['client'] != g['client']:
            add(k, 'client', v['client'], g['client'])
        # requests: method + url aligned, then the host of aligned pairs
        host_norm = opts.get('host_norm', lambda h: h)
        rref = [req_str(r) for r in v['requests']]
        rgot = [req_str(r) for r in g.get('requests', [])]
        if opts.get('requests', True) and 'requests' in g:
            runs, pairs = diff_lists(rref, rgot)
            for a, b in runs:
                add(k, 'requests', a, b)
            for i, j in pairs:
                if 'host' not in g['requests'][j]:
                    continue
                rh = v['requests'][i].get('host')
                gh = host_norm(g['requests'][j].get('host'))
                if rh != gh:
                    add(k, 'requests[%d].host' % j, rh, gh)
        if opts.get('responses', True) and 'responses' in g:
            gr = g['responses']
            if not opts.get('interim', True):
                gr = [r for r in gr if not r.get('interim')]
            sref = [rsp_str(r) for r in v['responses']]
            sgot = [rsp_str(r) for r in gr]
            runs, pairs = diff_lists(sref, sgot)
            for a, b in runs:
                add(k, 'responses', a, b)
            for i, j in pairs:
                rl = v['responses'][i].get('length')
                gl = gr[j].get('body_bytes')
                if rl is not None and gl is not None and rl != gl:
                    add(k, 'responses[%d].body_bytes' % j, rl, gl)
    return out


def golden_transactions(golden):
    """(connection, request, final response) triples, paired in order."""
    tx = []
    for c in golden['connections']:
        finals = [r for r in c.get('responses', []) if not r.get('interim')]
        reqs = c.get('requests', [])
        for i in range(max(len(finals), len(reqs))):
            tx.append((c, reqs[i] if i < len(reqs) else None,
                       finals[i] if i < len(finals) else None))
    return tx


def suricata_http_field(c, req, rsp, key):
    """Value of an eve.json http.* field for a golden transaction; KeyError if
    the golden model cannot say."""
    if key == 'hostname':
        return strip_port(req.get('host')) if req else None
    if key == 'url':
        return req.get('url') if req else None
    if key == 'http_method':
        return req.get('method') if req else None
    if key == 'status':
        return rsp.get('status') if rsp else None
    for side, msg in (('request_headers', req), ('response_headers', rsp)):
        if key.startswith(side):
            if msg is None or 'headers' not in msg:
                raise KeyError(key)
            hs = msg['headers']
            rest = key[len(side):]
            if rest == '.__len':
                return len(hs)
            idx, _, part = rest.partition('].')
            i = int(idx.lstrip('['))
            if i >= len(hs):
                return None
            return hs[i][0] if part == 'name' else hs[i][1]
    raise KeyError(key)


def suricata_checks(case_dir, golden):
    """Disagreements with suricata-verify's http filters, and notes on the
    filters that describe things the golden model does not hold."""
    path = os.path.join(case_dir, 'expected.suricata.test.yaml')
    if not os.path.exists(path):
        return None, []
    doc = parse_yaml(path)
    out, skipped = [], []
    tx = golden_transactions(golden)
    for n, chk in enumerate(doc.get('checks') or []):
        flt = (chk or {}).get('filter') or {}
        match = flt.get('match') or {}
        count = flt.get('count')
        et = match.get('event_type')
        if et != 'http' or count is None:
            skipped.append('check %d (event_type %s) not about HTTP transactions' % (n, et))
            continue
        for key in match:
            if key != 'event_type' and not key.startswith('http.'):
                # e.g. vlan[0]: a fact about the flow, not the transaction
                skipped.append('check %d: field %s ignored (not an HTTP field)' % (n, key))
        try:
            hits = 0
            for c, req, rsp in tx:
                ok = True
                for key, val in match.items():
                    if not key.startswith('http.'):
                        continue
                    if suricata_http_field(c, req, rsp, key[5:]) != val:
                        ok = False
                hits += ok
        except KeyError as e:
            skipped.append('check %d: field %s not in the golden model' % (n, e))
            continue
        if hits != count:
            desc = ', '.join('%s=%s' % (k, v) for k, v in match.items() if k != 'event_type')
            out.append({'reference': 'suricata', 'connection': '*',
                        'what': 'check %d: http events%s' % (n, ' with ' + desc if desc else ''),
                        'reference_says': count, 'htracr_says': hits})
    return out, skipped


def reference_disagreements(case_dir, golden):
    """All disagreements of all references with the golden file, plus notes."""
    out, notes = [], []
    tv = tshark_view(case_dir, golden['pcap'])
    if tv is not None:
        out += compare_view('tshark', tv, golden, {})
    zv = zeek_view(case_dir, golden)
    if zv is not None:
        view, fields = zv
        opts = {'roles': True, 'host_norm': strip_port, 'all_connections': False,
                'connections': 'id.orig_h' in fields or bool(golden.get('zeek_uids')),
                'requests': 'method' in fields,
                'responses': 'status_code' in fields}
        if 'info_code' not in fields:
            opts['interim'] = False
        if 'host' not in fields:
            opts['host_norm'] = lambda h: None
        out += compare_view('zeek', view, golden, opts)
    zc = zeek_conns(case_dir)
    if zc is not None:
        view = {k: {'client': c, 'requests': [], 'responses': []} for k, c in zc.items()}
        out += compare_view('zeek-conn', view, golden,
                            {'roles': True, 'requests': False, 'responses': False})
    sc, skipped = suricata_checks(case_dir, golden)
    if sc is not None:
        out += sc
        notes += ['suricata ' + s for s in skipped]
    return out, notes


def canon(x):
    return json.dumps(x, sort_keys=True)


def diff_id(d):
    return (d['reference'], d['connection'], d['what'], canon(d['reference_says']),
            canon(d['htracr_says']))


def check_references(case_dir, golden):
    found, notes = reference_disagreements(case_dir, golden)
    listed = {}
    for d in golden.get('differences', []):
        listed.setdefault(diff_id(d), d)
    fails = []
    seen = set()
    for d in found:
        i = diff_id(d)
        seen.add(i)
        if i not in listed:
            fails.append('unlisted difference: %s' % canon(d))
    for i, d in listed.items():
        if i not in seen:
            fails.append('listed difference no longer occurs: %s' % canon(
                {k: d[k] for k in ('reference', 'connection', 'what', 'reference_says',
                                   'htracr_says')}))
        elif not str(d.get('why', '')).strip():
            fails.append('difference without a "why": %s' % canon(d['what']))
    return fails, notes, found


# ---------------------------------------------------------------- driver

def load_cases(filters):
    cases = []
    for f in sorted(os.listdir(CASES_DIR)):
        if not f.endswith('.json'):
            continue
        if filters and not any(x in f for x in filters):
            continue
        with open(os.path.join(CASES_DIR, f), encoding='utf-8') as fh:
            cases.append((f[:-5], json.load(fh)))
    return cases


def report(name, tag, fails, note=''):
    """One result line (and its first 40 reasons); True when it passed."""
    if not fails:
        print('ok   %s [%s]%s' % (name, tag, note))
        return True
    print('FAIL %s [%s]' % (name, tag))
    for f in fails[:40]:
        print('    ' + f)
    if len(fails) > 40:
        print('    ... %d more' % (len(fails) - 40))
    return False


def main(argv):
    verbose = '-v' in argv
    filters = [a for a in argv if not a.startswith('-')]
    passed = failed = skipped = 0
    corpus = corpus_dir()
    binary = os.environ.get('HTRACR_BIN') or os.path.join(ROOT, 'htracr')
    cases = load_cases(filters)
    have_corpus = os.path.isdir(corpus)
    if not have_corpus:
        print('SKIP: shared corpus not found at %s (clone it beside the repository as '
              'shared/corpus, or set HTRACR_CORPUS); %d cases skipped' % (corpus, len(cases)))
    have_bin = os.access(binary, os.X_OK)
    if have_corpus and not have_bin:
        print('SKIP: %s not built (run `make htracr`); golden checks skipped, '
              'reference checks still run' % binary)
    for name, golden in cases:
        case_dir = os.path.join(corpus, golden['case'])
        pcap = os.path.join(case_dir, golden['pcap'])
        if not have_corpus:
            skipped += 2
            continue
        if not os.path.exists(pcap):
            print('SKIP %s: %s missing from the corpus' % (name, pcap))
            skipped += 2
            continue
        # references vs golden
        try:
            fails, notes, _ = check_references(case_dir, golden)
        except (OSError, ValueError, KeyError) as e:
            fails, notes = ['cannot read references: %s' % e], []
        ok = report(name, 'references', fails,
                    ' (%d listed differences)' % len(golden.get('differences', [])))
        passed, failed = passed + ok, failed + (not ok)
        if verbose:
            for n in notes:
                print('    note: ' + n)
        # htracr vs golden
        if not have_bin:
            skipped += 1
            continue
        doc, err = run_htracr(binary, pcap)
        fails = [err] if err else check_golden(golden, normalize_htracr(doc))
        ok = report(name, 'golden', fails)
        passed, failed = passed + ok, failed + (not ok)
        har, err = run_htracr(binary, pcap, '--har')
        fails = [err] if err else ['no --json model to check it by'] if doc is None \
            else check_har(har, doc)
        ok = report(name, 'har', fails,
                    '' if fails else ' (%d entries)' % len(har['log']['entries']))
        passed, failed = passed + ok, failed + (not ok)
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
