// SPDX-License-Identifier: MIT
// model.test.mjs - web/model.js on a capture whose clock stepped back: the
// arrays the page searches by time (packets per direction, series, states)
// must be in time order, or the timeline and the charts lose whatever sits
// behind the step. No browser needed: the model is plain data.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Model, checkModelDoc, lowerBound, serverStats } from '../../web/model.js';

const T0 = 1700000000000000;

// One connection: a handshake, a request, then the clock goes back 5 ms
// before the response and its ACK; the series and states carry the same
// step. Times are µs after T0.
function doc() {
  const pk = (dt, dir, flags, seq, ack, len) => ({ ts_us: T0 + dt, dir, flags, seq, ack, len, win: 65535, msg: null });
  return {
    generation: 1,
    start_us: T0,
    end_us: T0 + 40000,
    connections: [{
      id: 1, server: 1, client_addr: '10.0.0.1', client_port: 40000, server_addr: '10.0.0.2', server_port: 80,
      start_us: T0, end_us: T0 + 40000, close: 'open', stats: {},
      packets: [
        pk(0, 'c2s', 'S', 0, null, 0),
        pk(1000, 's2c', 'S.', 0, 1, 0),
        pk(2000, 'c2s', '.', 1, 1, 0),
        pk(20000, 'c2s', 'P.', 1, 1, 100),
        pk(15000, 's2c', 'P.', 1, 101, 500), // the clock went back
        pk(16000, 'c2s', '.', 101, 501, 0),
        pk(40000, 's2c', '.', 501, 101, 0),
      ],
      messages: [],
      states: [
        { state: 'handshake', start_us: T0, end_us: T0 + 2000 },
        { state: 'active', start_us: T0 + 20000, end_us: T0 + 40000 },
        { state: 'idle', start_us: T0 + 15000, end_us: T0 + 20000 },
      ],
      series: {
        flight_c2s: [[T0 + 20000, 100]],
        flight_s2c: [[T0 + 15000, 500]],
        rwnd_c2s: [[T0, 100], [T0 + 2000, 200], [T0 + 20000, 300], [T0 + 16000, 400]],
        rtt_c2s: [[T0 + 1000, 1000], [T0 + 15000, 5000], [T0 + 15000, 6000], [T0 + 14000, 7000]],
      },
    }],
  };
}

const sorted = (a) => a.every((x, k) => k === 0 || a[k - 1] <= x);

describe('a capture whose clock stepped back (web/model.js)', () => {
  const m = new Model();
  m.merge(doc());
  const c = m.conn(1);

  it('keeps the packets in capture order and their per-direction time lists sorted', () => {
    assert.equal(c.n, 7);
    assert.deepEqual(Array.from(c.t, (x) => x / 1000), [0, 1, 2, 20, 15, 16, 40]);
    for (const l of [...c.all, ...c.data]) {
      assert.ok(sorted(Array.from(l.t)), 'times sorted');
      for (let k = 0; k < l.t.length; k++) assert.equal(l.t[k], c.t[l.i[k]], 'index follows its time');
    }
    assert.deepEqual(Array.from(c.all[0].i), [0, 2, 5, 3]);
  });

  it('finds the earliest packet at or after a time, not the first one in capture order', () => {
    const brute = (t) => {
      let best = c.n;
      for (let i = 0; i < c.n; i++) if (c.t[i] >= t && (best === c.n || c.t[i] < c.t[best])) best = i;
      return best;
    };
    for (const t of [-1, 0, 500, 1000, 3000, 14999, 15000, 15500, 16000, 17000, 20000, 20001, 40000, 40001]) {
      assert.equal(c.packetAt(t), brute(t), `t=${t}`);
    }
    assert.equal(c.packetAt(3000), 4); // the response at 15 ms, not the request at 20 ms
  });

  it('sorts series by time, values along, equal times in capture order', () => {
    for (const [k, s] of Object.entries(c.series)) assert.ok(sorted(Array.from(s.t)), k);
    const r = c.series.rwnd_c2s;
    assert.deepEqual(Array.from(r.t, (x) => x / 1000), [0, 2, 16, 20]);
    assert.deepEqual(Array.from(r.v), [100, 200, 400, 300]);
    const q = c.series.rtt_c2s;
    assert.deepEqual(Array.from(q.v), [1000, 7000, 5000, 6000]);
    // what the charts do: the points of a window found by binary search
    const k = lowerBound(r.t, 15000);
    assert.equal(r.v[k], 400);
  });

  it('sorts state spans by start', () => {
    assert.deepEqual(c.states.map((s) => s.state), ['handshake', 'idle', 'active']);
    assert.ok(sorted(Array.from(c.stateT)));
  });
});

// web/api.js: a reply past what a page can hold (V8 strings stop near
// 512 MB) reads as an empty string; handed on as null it broke the page
// with "Cannot read properties of null". It must be an error that says so.
describe('a reply too large for the page (web/api.js)', () => {
  it('is an error that says its size and is marked tooLarge, not a null model', async () => {
    globalThis.document ??= { querySelector: () => null };
    const { Api } = await import('../../web/api.js');
    const api = new Api('');
    const res = (text, len) => ({
      ok: true, status: 200, statusText: 'OK', headers: { get: (k) => (k === 'Content-Length' ? String(len) : null) },
      text: async () => text,
    });
    await assert.rejects(api._json(res('', 594000000)), (e) => e.tooLarge === true && /566 MB/.test(e.message));
    await assert.rejects(api._json(res('{"cut', 594000000)), (e) => e.tooLarge === true);
    assert.deepEqual(await api._json(res('{"a":1}', 7)), { a: 1 }, 'a normal reply still parses');
  });
});

// A keep-alive connection at stages of its life, as the server would give
// it: `tx` transactions, the last one's response still coming (unless
// `done`), some pipelined, some packets with analysis flags; each stage's
// lists begin with the previous stage's as they were, but for its last
// messages (the one still parsed, the request still waiting) and its last
// packets (their message found later), as a tail may resend.
function stage(tx, done, close = 'open', orphan = -1) {
  const packets = [], messages = [], rtt = [], flight = [];
  let t = T0;
  for (let i = 0; i < tx; i++) {
    const last = i === tx - 1 && !done;
    const req = 2 * i + 1, rsp = 2 * i + 2;
    packets.push([t, 0, 'P.', 1 + 100 * i, 1 + 1000 * i, 100, 65535, req, i % 9 === 4 ? 1 : 0]);
    packets.push([t + 300, 1, 'P.', 1 + 1000 * i, 101 + 100 * i, 1000, 65535, last ? null : rsp, i % 13 === 6 ? 3 : 0]);
    packets.push([t + 400, 0, '.', 101 + 100 * i, 1001 + 1000 * i, 0, 65535, null, 0]);
    rtt.push([t + 400, 100 + (i % 7)]);
    flight.push([t + 300, 1000]);
    // some requests name the one before as their Referer; some answers redirect to the next
    const hdrs = i % 29 === 7 ? [['Host', 'h'], ['Referer', `http://h/r/${i - 1}`]] : [['Host', 'h']];
    messages.push({ id: req, kind: 'request', start_us: t, end_us: t, method: 'GET', url: `/r/${i}`, headers: hdrs,
      response: last && close === 'open' ? null : rsp, pipelined: i % 11 === 3, complete: true, error: null });
    // one long response: the running end reaches past the ones after it
    messages.push({ id: rsp, kind: 'response', start_us: t + 300, end_us: t + 300 + (last ? 0 : i === 35 ? 200000 : 50), headers: [],
      request: req, complete: !last, content_type: 'text/plain', body_bytes: last ? 10 : 1000, error: i % 17 === 8 ? 'x' : null,
      status: i % 23 === 5 ? 404 : i % 31 === 9 ? 302 : 200, ttfb_us: last ? null : 300 + (i * 7919) % 500 });
    if (i % 31 === 9) messages[messages.length - 1].headers = [['Location', `/r/${i + 1}`]];
    t += 1000;
    if (i === orphan) {
      // a request answered by nothing the capture understood (its response
      // lost in a gap): settled with no response
      packets.push([t, 0, 'P.', 1 + 100 * i, 1 + 1000 * i, 100, 65535, 10000 + i, 0]);
      messages.push({ id: 10000 + i, kind: 'request', start_us: t, end_us: t, method: 'GET', url: '/orphan', headers: [], response: null, complete: true, error: null });
      t += 1000;
    }
  }
  if (close !== 'open') {
    // a request the server never answered, then the close
    packets.push([t, 0, 'P.', 1 + 100 * tx, 1 + 1000 * tx, 100, 65535, 2 * tx + 1, 0]);
    messages.push({ id: 2 * tx + 1, kind: 'request', start_us: t, end_us: t, method: 'GET', url: '/late', headers: [], response: null, complete: true, error: null });
    packets.push([t + 10, 0, 'F.', 101 + 100 * tx, 1 + 1000 * tx, 0, 65535, null, 0]);
    t += 20;
  }
  return {
    id: 1, server: 1, client_addr: '10.0.0.1', client_port: 40000, server_addr: '10.0.0.2', server_port: 80,
    start_us: T0, end_us: t, close, stats: { packets_c2s: 2 * tx }, events: [],
    states: [{ state: 'handshake', start_us: T0, end_us: T0 + 10 }, { state: 'active', start_us: T0 + 10, end_us: t }],
    packets, messages, series: { rtt_c2s: rtt, flight_s2c: flight },
  };
}

// The tail of `to` for a reader that holds `from`, from the positions the
// server would give: the last request and response from `from` on, its last
// two packets, its last state.
function tailOf(from, to, settled = 2) {
  const c = JSON.parse(JSON.stringify(to));
  const pos = {
    states: from.states.length - 1, events: 0, packets: Math.max(0, from.packets.length - 2),
    messages: Math.max(0, from.messages.length - settled), series: {},
  };
  for (const k of ['states', 'events', 'packets', 'messages']) c[k] = c[k].slice(pos[k]);
  for (const k of Object.keys(c.series)) {
    pos.series[k] = from.series[k].length;
    c.series[k] = c.series[k].slice(pos.series[k]);
  }
  c.tail = pos;
  return c;
}

// What the renderers use of a connection, in plain values.
function derived(c) {
  const arr = (a) => Array.from(a);
  const list = (l) => ({ i: arr(l.i), t: arr(l.t) });
  return {
    n: c.n, maxLen: c.maxLen, t0: c.t0, t1: c.t1, close: c.close,
    packets: ['t', 'dir', 'len', 'fl', 'cat', 'msg', 'seq', 'ack'].map((k) => arr(c[k])),
    pk: c.pk.map((p) => JSON.stringify(p)),
    all: c.all.map(list), data: c.data.map(list), notable: list(c.notable),
    messages: c.messages.map((m) => [m.id, m._s, m._e, m._k, m._ki, m._fam, !!m._unanswered, m.response]),
    mt: arr(c.mt),
    byKind: Object.fromEntries(Object.entries(c.byKind).map(([k, K]) =>
      [k, { ids: K.list.map((m) => m.id), T: arr(K.T), E: arr(K.E) }])),
    marked: c.marked.map((m) => m.id), markedT: arr(c.markedT),
    states: c.states, stateT: arr(c.stateT),
    series: Object.fromEntries(Object.entries(c.series).map(([k, s]) => [k, [arr(s.t), arr(s.v), s.max, s.n]])),
    server: serverStats([c]),
  };
}

describe('a connection given as tails (web/model.js, docs/api.md)', () => {
  const stages = [stage(3, false), stage(40, false), stage(41, true), stage(300, false), stage(301, false),
    stage(302, true), stage(320, false), stage(321, false), stage(327, false), stage(330, false, 'fin')];
  const base = { generation: 1, servers: [{ id: 1, addr: '10.0.0.2', port: 80, connections: [1] }], connection_ids: [1] };

  it('ends as the same connection built whole, each step, in place', () => {
    const m = new Model();
    m.merge({ ...base, full: true, seq: 1, start_us: T0, connections: [JSON.parse(JSON.stringify(stages[0]))] });
    const conn = m.conn(1);
    for (let k = 1; k < stages.length; k++) {
      const r = m.merge({ ...base, full: false, seq: k + 1, connections: [tailOf(stages[k - 1], stages[k])] });
      assert.ok(!r.stale, `step ${k}: the tail followed what the page held`);
      assert.equal(m.conn(1), conn, `step ${k}: the connection was extended, not built anew`);
      const whole = new Model();
      whole.merge({ ...base, full: true, seq: 1, start_us: T0, connections: [JSON.parse(JSON.stringify(stages[k]))] });
      assert.deepEqual(derived(m.conn(1)), derived(whole.conn(1)), `step ${k}: as if built whole`);
      assert.deepEqual([...m.msgs.keys()].sort((a, b) => a - b), [...whole.msgs.keys()].sort((a, b) => a - b),
        `step ${k}: the model's messages by id`);
      assert.deepEqual(m.derived.arcs, whole.derived.arcs, `step ${k}: referer and redirect arcs`);
      assert.deepEqual(m.derived.servers.map((x) => x.stats), whole.derived.servers.map((x) => x.stats), `step ${k}: server statistics`);
    }
    assert.ok(m.conn(1).marked.some((x) => x.url === '/late'), 'the request the close left unanswered is marked');
    const kinds = m.derived.arcs.map((a) => a.kind);
    assert.ok(kinds.includes('referer') && kinds.includes('redirect'), `arcs of both kinds (${kinds.length})`);
  });

  it('marks a settled request with no response once a later one follows it', () => {
    const a = stage(60, true, 'open', 59), b = stage(70, false, 'open', 59);
    const m = new Model();
    m.merge({ ...base, full: true, seq: 1, start_us: T0, connections: [JSON.parse(JSON.stringify(a))] });
    assert.ok(!m.conn(1).marked.some((x) => x.url === '/orphan'), 'the last request: a response may still come');
    m.merge({ ...base, full: false, seq: 2, connections: [tailOf(a, b, 0)] });
    const whole = new Model();
    whole.merge({ ...base, full: true, seq: 1, start_us: T0, connections: [JSON.parse(JSON.stringify(b))] });
    assert.deepEqual(derived(m.conn(1)), derived(whole.conn(1)));
    assert.ok(m.conn(1).marked.some((x) => x.url === '/orphan'), 'then marked unanswered');
  });

  it('is stale when the page holds less than the tail follows', () => {
    const m = new Model();
    m.merge({ ...base, full: true, seq: 1, start_us: T0, connections: [JSON.parse(JSON.stringify(stages[0]))] });
    const r = m.merge({ ...base, full: false, seq: 2, connections: [tailOf(stages[2], stages[3])] });
    assert.equal(r.stale, true);
  });
});

// The message rows of /api/model?rows=1 (docs/api.md): the members of
// FIELDS in order, kind 0 or 1, booleans 0 or 1, headers 1 when they are
// those of the message of its kind before (of the 8 before: export_api.c).
const FIELDS = ['id', 'kind', 'start_us', 'end_us', 'method', 'url', 'version', 'status', 'reason', 'headers',
  'headers_dropped', 'header_bytes', 'body_bytes', 'gap_bytes', 'skipped_bytes', 'content_type', 'content_encoding',
  'request', 'response', 'pipelined', 'headers_split', 'interim', 'upgrade', 'complete', 'first_packet',
  'last_packet', 'packets', 'round_trips', 'ttfb_us', 'stall_us', 'error', 'body_kept', 'body_truncated',
  'body_decode_error'];
const BOOLS = new Set(['pipelined', 'headers_split', 'interim', 'upgrade', 'complete', 'body_truncated', 'body_decode_error']);
const whole = (m) => Object.fromEntries(FIELDS.map((f) => [f, m[f] ?? (BOOLS.has(f) ? false : null)]));

// A connection's messages from position `from` on as rows; `all` is every
// message of it, so a row can name the headers of one before `from`.
function rowsOf(all, from) {
  const rows = [];
  for (let i = from; i < all.length; i++) {
    const m = whole(all[i]);
    let prev = null;
    for (let k = i - 1; k >= Math.max(0, i - 8) && !prev; k--) if (all[k].kind === m.kind) prev = all[k];
    const same = m.headers.length && prev && JSON.stringify(prev.headers) === JSON.stringify(m.headers);
    rows.push(FIELDS.map((f) => (f === 'kind' ? (m.kind === 'request' ? 0 : 1)
      : f === 'headers' && same ? 1 : BOOLS.has(f) ? (m[f] ? 1 : 0) : m[f])));
  }
  return rows;
}

describe('messages given as rows (web/model.js, docs/api.md rows=1)', () => {
  const stages = [stage(3, false), stage(40, false), stage(41, true), stage(300, false), stage(330, false, 'fin')];
  const base = { generation: 1, servers: [{ id: 1, addr: '10.0.0.2', port: 80, connections: [1] }], connection_ids: [1] };
  const asObjects = (c) => ({ ...c, messages: c.messages.map(whole) });
  const asRows = (c, from, all) => ({ ...c, messages: rowsOf(all, from) });
  const plain = (c) => c.raw.messages.map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => !k.startsWith('_'))));

  it('make the same connection as objects, whole and as tails', () => {
    const a = new Model(), b = new Model();
    a.merge({ ...base, full: true, seq: 1, start_us: T0, message_fields: FIELDS,
      connections: [asRows(JSON.parse(JSON.stringify(stages[0])), 0, stages[0].messages)] });
    b.merge({ ...base, full: true, seq: 1, start_us: T0, connections: [asObjects(JSON.parse(JSON.stringify(stages[0])))] });
    let refsAcross = 0;
    for (let k = 1; k < stages.length; k++) {
      const t = tailOf(stages[k - 1], stages[k]);
      const rows = asRows(t, t.tail.messages, stages[k].messages);
      refsAcross += rows.messages.slice(0, 2).filter((r) => r[9] === 1).length;
      const r = a.merge({ ...base, full: false, seq: k + 1, message_fields: FIELDS, connections: [rows] });
      assert.ok(!r.stale, `step ${k}: the rows followed what the page held`);
      b.merge({ ...base, full: false, seq: k + 1, connections: [asObjects(t)] });
      assert.deepEqual(plain(a.conn(1)), plain(b.conn(1)), `step ${k}: the messages`);
      assert.deepEqual(derived(a.conn(1)), derived(b.conn(1)), `step ${k}: what the renderers use`);
    }
    assert.ok(refsAcross >= 3, `tails' first rows named headers the page held (${refsAcross})`);
    assert.ok(a.conn(1).raw.messages.some((m) => m.headers.length === 2), 'Referer headers came whole');
  });

  // rel=1: packets' times and rows' start_us from the connection's
  // start_us, a row's end_us from its own start
  const relative = (c) => ({
    ...c,
    packets: c.packets.map((p) => [p[0] - c.start_us, ...p.slice(1)]),
    messages: c.messages.map((r) => [r[0], r[1], r[2] - c.start_us, r[3] - r[2], ...r.slice(4)]),
  });

  it('with relative times (rel=1) make the same connection, whole and as tails', () => {
    const a = new Model(), b = new Model();
    const first = JSON.parse(JSON.stringify(stages[0]));
    a.merge({ ...base, full: true, seq: 1, start_us: T0, relative: true, message_fields: FIELDS,
      connections: [relative(asRows(first, 0, stages[0].messages))] });
    b.merge({ ...base, full: true, seq: 1, start_us: T0, connections: [asObjects(JSON.parse(JSON.stringify(stages[0])))] });
    assert.deepEqual(derived(a.conn(1)), derived(b.conn(1)), 'whole');
    for (let k = 1; k < stages.length; k++) {
      const t = tailOf(stages[k - 1], stages[k]);
      const rows = relative(asRows(t, t.tail.messages, stages[k].messages));
      assert.ok(rows.packets.every((p) => p[0] < 1e9) && rows.messages.every((r) => r[2] < 1e9),
        `step ${k}: the times are small numbers`);
      const r = a.merge({ ...base, full: false, seq: k + 1, relative: true, message_fields: FIELDS, connections: [rows] });
      assert.ok(!r.stale, `step ${k}: the rows followed what the page held`);
      b.merge({ ...base, full: false, seq: k + 1, connections: [asObjects(t)] });
      assert.deepEqual(plain(a.conn(1)), plain(b.conn(1)), `step ${k}: the messages`);
      assert.deepEqual(derived(a.conn(1)), derived(b.conn(1)), `step ${k}: what the renderers use`);
    }
  });

  it('of members this page does not know are made objects all the same', () => {
    const fields = [...FIELDS.slice(0, 5), 'new_member', ...FIELDS.slice(5)];
    const rows = rowsOf(stages[1].messages, 0).map((r) => [...r.slice(0, 5), 7, ...r.slice(5)]);
    const a = new Model(), b = new Model();
    a.merge({ ...base, full: true, seq: 1, start_us: T0, message_fields: fields, connections: [{ ...stages[1], messages: rows }] });
    b.merge({ ...base, full: true, seq: 1, start_us: T0, connections: [asObjects(stages[1])] });
    assert.ok(plain(a.conn(1)).every((m) => m.new_member === 7), 'the new member is kept');
    assert.deepEqual(plain(a.conn(1)).map((m) => { const { new_member: _, ...o } = m; return o; }), plain(b.conn(1)));
  });

  it('are stale when a row names headers the page does not hold', () => {
    const m = new Model();
    m.merge({ ...base, full: true, seq: 1, start_us: T0, message_fields: FIELDS, connections: [asRows(stages[1], 0, stages[1].messages)] });
    const t = tailOf(stages[1], stages[3]);
    const rows = asRows(t, t.tail.messages, stages[3].messages);
    rows.tail = { ...rows.tail, messages: 0 };
    rows.messages = rows.messages.slice(0, 4);
    assert.equal(rows.messages[0][9], 1);
    assert.equal(m.merge({ ...base, full: false, seq: 2, message_fields: FIELDS, connections: [rows] }).stale, true);
  });
});

// What the page checks before taking in a .json file (app.js loadFile):
// every model htracr --json writes passes, and a file that only looks like
// JSON is refused saying what is wrong, not drawn as "undefined:undefined".
describe('checkModelDoc: a .json file read in the page', () => {
  const REPO = new URL('../../', import.meta.url).pathname;
  const HTRACR = process.env.HTRACR_BIN || `${REPO}htracr`;
  const CORPUS = process.env.HTRACR_CORPUS || `${REPO}../shared/corpus`;
  const files = ['zeek/pipelined-requests/pipelined-requests.pcap', 'zeek/methods/methods.pcap',
    'zeek/wikipedia/wikipedia.pcap', 'zeek/100-continue/100-continue.pcap'];

  it('takes every model htracr --json writes', (t) => {
    const have = files.filter((f) => existsSync(`${CORPUS}/${f}`));
    if (!existsSync(HTRACR) || !have.length) return t.skip(`needs ${HTRACR} and the shared corpus at ${CORPUS}`);
    for (const f of have) {
      const doc = JSON.parse(execFileSync(HTRACR, ['-q', '-r', `${CORPUS}/${f}`, '--json', '-'], { maxBuffer: 1 << 28 }));
      assert.ok(doc.connections.length > 0, f);
      assert.equal(checkModelDoc(doc), null, f);
    }
  });

  it('refuses what is not such a model, saying why', () => {
    const conn = { id: 1, client_addr: '10.0.0.1', client_port: 40000, server_addr: '10.0.0.2', server_port: 80, start_us: T0, packets: [], messages: [] };
    const ok = { version: 1, connections: [conn] };
    assert.equal(checkModelDoc(ok), null);
    const cases = [
      [[], 'not a JSON object'],
      [null, 'not a JSON object'],
      [{ connections: [] }, 'no "version"'],
      [{ version: 1, connections: 'x' }, '"connections" is not a list'],
      [{ version: 1, connections: [], servers: {} }, '"servers" is not a list'],
      [{ version: 1, connections: [7] }, 'connection 1 of 1 is not an object'],
      [{ version: 1, connections: [{ ...conn, id: '1' }] }, 'no integer "id"'],
      [{ version: 1, connections: [{ ...conn, server_addr: undefined }] }, 'no "server_addr"'],
      [{ version: 1, connections: [{ ...conn, client_port: 70000 }] }, 'no port "client_port"'],
      [{ version: 1, connections: [{ ...conn, start_us: 'soon' }] }, 'no "start_us"'],
      [{ version: 1, connections: [{ ...conn, packets: {} }] }, '"packets" is not a list'],
      [{ version: 1, connections: [conn, { ...conn, id: 2, packets: [{ ts_us: T0, dir: 'up' }] }] }, 'connection 2 of 2 has a packet'],
      [{ version: 1, connections: [{ ...conn, messages: [{ id: 1, kind: 'reply', start_us: T0 }] }] }, 'has a message without'],
    ];
    for (const [d, why] of cases) {
      const got = checkModelDoc(d);
      assert.ok(got && got.includes(why), `${JSON.stringify(d)}: ${got}`);
    }
  });
});

describe('serverName: one host on several ports is told apart', () => {
  const m = new Model();
  it('adds the port when it is not 80 and the name does not say it', () => {
    assert.equal(m.serverName({ name: 'example.org', addr: '10.0.0.2', port: 80 }), 'example.org');
    assert.equal(m.serverName({ name: null, addr: '10.0.0.2', port: 80 }), '10.0.0.2');
    assert.equal(m.serverName({ name: null, addr: '10.0.0.2', port: 8080 }), '10.0.0.2:8080');
    assert.equal(m.serverName({ name: 'example.org', addr: '10.0.0.2', port: 8080 }), 'example.org:8080');
    assert.equal(m.serverName({ name: 'example.org:8080', addr: '10.0.0.2', port: 8080 }), 'example.org:8080');
    assert.equal(m.serverName({ name: null, addr: 'fe80::1', port: 80 }), 'fe80::1');
    assert.equal(m.serverName({ name: null, addr: 'fe80::1', port: 8080 }), '[fe80::1]:8080');
    assert.equal(m.serverName({ name: '[fe80::1]:8080', addr: 'fe80::1', port: 8080 }), '[fe80::1]:8080');
    assert.equal(m.serverName(null), '?');
  });
});
