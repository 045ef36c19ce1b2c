// SPDX-License-Identifier: MIT
// model.test.mjs - web/model.js on a capture whose clock stepped back: the
// arrays the page searches by time (packets per direction, series, states)
// must be in time order, or the timeline and the charts lose whatever sits
// behind the step. No browser needed: the model is plain data.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Model, lowerBound } from '../../web/model.js';

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
