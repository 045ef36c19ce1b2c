// SPDX-License-Identifier: MIT
// model.js - the page's copy of the capture model (docs/api.md, docs/json.md):
// merges full and incremental /api/model replies, and precomputes, once per
// changed connection, everything the renderers need that does not depend on
// the zoom: typed arrays of packet times per direction (for binary search),
// packet categories for colours, notable packets, message times, state spans,
// series, per-server statistics, and the referer / redirect arcs.
//
// Times inside the page are µs relative to `origin` (the first start_us seen
// in this generation) so they stay small; absolute µs = origin + t.

import { CAT, catOfName, ctFamily } from './format.js';

export const DNS_LANES = 3;

// TCP flag bits of the tcpdump-style flags string.
export const FL = { F: 1, S: 2, R: 4, P: 8, A: 16, U: 32, E: 64, W: 128 };
const FLAG_BIT = { F: 1, S: 2, R: 4, P: 8, '.': 16, U: 32, E: 64, W: 128 };

function flagBits(s) {
  let b = 0;
  for (let i = 0; i < s.length; i++) b |= FLAG_BIT[s[i]] || 0;
  return b;
}

/** First index i in the sorted array a[lo..hi) with a[i] >= x. */
export function lowerBound(a, x, lo = 0, hi = a.length) {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** Case-insensitive header lookup on a message's [name, value] list. */
export function header(m, name) {
  if (!m || !m.headers) return null;
  const n = name.toLowerCase();
  for (const h of m.headers) if (h[0].toLowerCase() === n) return h[1];
  return null;
}

// A packet, from the compact array form of /api/model or the object form of
// --json (so a --json file can be loaded too).
function unpack(p, names) {
  if (Array.isArray(p)) return p;
  let mask = 0;
  if (p.analysis) {
    for (const a of p.analysis) {
      let i = names.indexOf(a);
      if (i < 0) { names.push(a); i = names.length - 1; }
      mask += 2 ** i;
    }
  }
  return [p.ts_us, p.dir === 'c2s' ? 0 : 1, p.flags, p.seq, p.ack, p.len, p.win, p.msg, mask];
}

function series(pairs, origin) {
  const n = pairs ? pairs.length : 0;
  const t = new Float64Array(n);
  const v = new Float64Array(n);
  let max = 0;
  for (let i = 0; i < n; i++) {
    t[i] = pairs[i][0] - origin;
    v[i] = pairs[i][1];
    if (v[i] > max) max = v[i];
  }
  sortByTime(t, v);
  return { t, v, max, n };
}

// Arrays searched by time (lowerBound) must be in time order. Captures
// nearly always are; one whose clock stepped back is not, and then t is
// sorted and the arrays beside it are put in the same order (stably: equal
// times keep their capture order).
function sortByTime(t, ...with_) {
  for (let k = 1; k < t.length; k++) {
    if (t[k] < t[k - 1]) {
      const ord = Array.from(t.keys()).sort((a, b) => t[a] - t[b] || a - b);
      for (const a of [t, ...with_]) a.set(Array.from(ord, (o) => a[o]));
      return;
    }
  }
}

/** Normalised absolute URL (lower-case scheme and host, no default port, no fragment). */
export function normUrl(u) {
  if (!u) return null;
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^#]*)/i.exec(u.trim());
  if (!m) return null;
  const scheme = m[1].toLowerCase();
  let host = m[2].toLowerCase();
  if ((scheme === 'http' && host.endsWith(':80')) || (scheme === 'https' && host.endsWith(':443'))) {
    host = host.slice(0, host.lastIndexOf(':'));
  }
  return `${scheme}://${host}${m[3] || '/'}`;
}

/** A request's method and target, "?" for what did not parse. */
export function requestLine(m) {
  return `${m.method ?? '?'} ${m.url ?? '?'}`;
}

/** A message's start line as the wire had it; what is unknown (null in
 * the model: no start line parsed, no status line) is said, not printed
 * as "null". */
export function startLine(m) {
  if (m.kind === 'request') return `${requestLine(m)}${m.version ? ` HTTP/${m.version}` : ''}`;
  if (m.status === null || m.status === undefined) {
    return m.version === '0.9' ? 'HTTP/0.9 answer (no status line)' : '(no status line)';
  }
  return `HTTP/${m.version} ${m.status} ${m.reason || ''}`.trim();
}

/** A response's status for short labels: the code, or "no status". */
export function statusText(m) {
  return m.status === null || m.status === undefined ? 'no status' : String(m.status);
}

/** A request's absolute URL, from its target and Host header; null for a
 * target that names no resource: OPTIONS's "*", CONNECT's host:port. */
export function requestUrl(m, conn) {
  if (!m || m.kind !== 'request' || !m.url) return null;
  if (m.url === '*' || m.method === 'CONNECT') return null;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(m.url)) return m.url;
  let host = header(m, 'host');
  if (!host && conn) host = conn.server_addr.indexOf(':') >= 0 ? `[${conn.server_addr}]` : conn.server_addr;
  if (!host) return null;
  if (conn && !/:\d+$/.test(host) && conn.server_port !== 80) host += `:${conn.server_port}`;
  return `http://${host}${m.url.startsWith('/') ? '' : '/'}${m.url}`;
}

function resolveUrl(loc, base) {
  try {
    return new URL(loc, base || undefined).href;
  } catch {
    return null;
  }
}

// a with its items from `from` on replaced by those of b, in place: written
// over, not cut and pushed (a cut can cost V8 a copy of the whole array).
function replaceFrom(a, from, b) {
  for (let j = 0; j < b.length; j++) a[from + j] = b[j];
  if (a.length > from + b.length) a.length = from + b.length;
  return a;
}

// The members of a message row (docs/api.md, rows=1) that are booleans
// in the object (0 or 1 in the row).
const ROW_BOOLS = new Set(['pipelined', 'headers_split', 'interim', 'upgrade', 'complete',
  'body_truncated', 'body_decode_error']);

// The members of a message row as this page knows them (the server's
// message_fields today), and a row made an object of them by a literal:
// one object shape for every message, as JSON.parse gives objects, where
// members added one by one from a list make slow ones (a 200k-packet
// model merged in 1,010 ms, against some 600). Rows of other members take
// the general way.
const ROW_FIELDS = ['id', 'kind', 'start_us', 'end_us', 'method', 'url', 'version', 'status', 'reason',
  'headers', 'headers_dropped', 'header_bytes', 'body_bytes', 'gap_bytes', 'skipped_bytes', 'content_type',
  'content_encoding', 'request', 'response', 'pipelined', 'headers_split', 'interim', 'upgrade', 'complete',
  'first_packet', 'last_packet', 'packets', 'round_trips', 'ttfb_us', 'stall_us', 'error', 'body_kept',
  'body_truncated', 'body_decode_error'];
function rowObject(r) {
  return {
    id: r[0], kind: r[1] === 0 ? 'request' : 'response', start_us: r[2], end_us: r[3], method: r[4], url: r[5],
    version: r[6], status: r[7], reason: r[8], headers: r[9], headers_dropped: r[10], header_bytes: r[11],
    body_bytes: r[12], gap_bytes: r[13], skipped_bytes: r[14], content_type: r[15], content_encoding: r[16],
    request: r[17], response: r[18], pipelined: r[19] === 1, headers_split: r[20] === 1, interim: r[21] === 1,
    upgrade: r[22] === 1, complete: r[23] === 1, first_packet: r[24], last_packet: r[25], packets: r[26],
    round_trips: r[27], ttfb_us: r[28], stall_us: r[29], error: r[30], body_kept: r[31],
    body_truncated: r[32] === 1, body_decode_error: r[33] === 1,
  };
}

// A connection of a reply with "relative": true (rel=1) given the times
// of docs/json.md, in place: its packets' times and its message rows'
// start_us count from its start_us, a row's end_us from its own start.
function absoluteTimes(raw, fields) {
  const base = raw.start_us;
  for (const p of raw.packets || []) if (Array.isArray(p)) p[0] += base;
  const si = fields ? fields.indexOf('start_us') : -1, ei = fields ? fields.indexOf('end_us') : -1;
  if (si < 0 || ei < 0) return;
  for (const m of raw.messages || []) {
    if (!Array.isArray(m)) continue;
    m[si] += base;
    m[ei] += m[si];
  }
}

// A connection's message rows made the objects of docs/json.md, in place,
// members in `fields` order (the reply's message_fields). `last` holds the
// message of each kind before the first row (a tail's: the page's own):
// a row whose headers are 1 has that message's. False when one names
// headers the page does not hold (its copy is not the one the server
// wrote for); objects (a --json document) pass as they are.
function fromRows(list, fields, last) {
  const ki = fields.indexOf('kind'), hi = fields.indexOf('headers');
  const bool = fields.map((f) => ROW_BOOLS.has(f));
  const known = fields.length === ROW_FIELDS.length && fields.every((f, i) => f === ROW_FIELDS[i]);
  for (let k = 0; k < list.length; k++) {
    const r = list[k];
    if (Array.isArray(r)) {
      let m;
      if (known) {
        m = rowObject(r);
      } else {
        m = {};
        for (let i = 0; i < fields.length; i++) m[fields[i]] = bool[i] ? r[i] === 1 : r[i];
        if (ki >= 0) m.kind = r[ki] === 0 ? 'request' : 'response';
      }
      if (hi >= 0 && r[hi] === 1) {
        const before = last[m.kind];
        if (!before) return false;
        m.headers = before.headers;
      }
      list[k] = m;
    }
    if (list[k] && list[k].kind) last[list[k].kind] = list[k];
  }
  return true;
}

// The message of each kind last before position `to` of a message list,
// among the 8 before it: a row's headers name one no further back (the
// server looks no further, export_api.c).
function lastOfKind(list, to) {
  const last = {};
  for (let k = to - 1; k >= Math.max(0, to - 8) && !(last.request && last.response); k--) {
    const m = list[k];
    if (m && !last[m.kind]) last[m.kind] = m;
  }
  return last;
}

// Lists a tail may extend (each series is one too).
const TAIL_LISTS = ['states', 'events', 'packets', 'messages'];

// A connection given as a tail (docs/api.md): its lists from the counts in
// raw.tail on, after what the page has before them. The whole connection,
// or null when the page holds less than the tail follows. The old lists are
// extended in place (Conn.extend then works on them, or a new Conn is built
// from them): no copy of a long connection's packets for each update.
function withTail(old, raw) {
  const t = raw.tail;
  if (!old) return null;
  const base = old.raw;
  const bs = base.series || {};
  const ts = t.series || {};
  const rs = raw.series || {};
  const fits = (have, from) => Array.isArray(have) && Number.isInteger(from) && have.length >= from;
  for (const k of TAIL_LISTS) if (!fits(base[k] || [], t[k])) return null;
  for (const k of Object.keys(rs)) if (!fits(bs[k] || [], ts[k])) return null;
  const join = (have, from, more) => replaceFrom(have, from, more || []);
  const out = { ...raw, series: {} };
  delete out.tail;
  for (const k of TAIL_LISTS) out[k] = join(base[k] || [], t[k], raw[k]);
  for (const k of Object.keys(rs)) out.series[k] = join(bs[k] || [], ts[k], rs[k]);
  return out;
}

// A typed array like view (of its type) holding view's first `keep` items,
// with room for `need`: view's own buffer when it is big enough, else a new
// one twice as big. The caller writes items keep..need-1 and takes
// .subarray(0, need): what the renderers search is a view of exact length.
function room(view, keep, need) {
  const T = view.constructor;
  if (view.byteOffset === 0 && view.buffer.byteLength >= need * T.BYTES_PER_ELEMENT) {
    return new T(view.buffer);
  }
  const a = new T(Math.max(need, 2 * (view.buffer.byteLength / T.BYTES_PER_ELEMENT), 64));
  a.set(view.subarray(0, keep));
  return a;
}

const MSG_KINDS = ['request', 'response'];
// A connection's typed arrays with one item a packet.
const PACKET_ARRAYS = ['t', 'dir', 'len', 'fl', 'cat', 'msg', 'seq', 'ack'];
const SERIES = ['rtt_c2s', 'rtt_s2c', 'flight_c2s', 'flight_s2c', 'cwnd_c2s', 'cwnd_s2c', 'rwnd_c2s', 'rwnd_s2c'];

/** One connection with its derived, zoom-independent data. */
export class Conn {
  constructor(raw, model) {
    const origin = model.origin;
    this._head(raw, origin);

    const pk = raw.packets || [];
    const n = pk.length;
    this.n = n;
    this.pk = new Array(n);
    const t = (this.t = new Float64Array(n));
    const dir = (this.dir = new Uint8Array(n));
    const len = (this.len = new Uint32Array(n));
    const fl = (this.fl = new Uint8Array(n));
    const cat = (this.cat = new Uint8Array(n));
    // message ids are 64-bit in the model: a Float64Array holds them exactly to 2^53
    const msg = (this.msg = new Float64Array(n));
    const seq = (this.seq = new Float64Array(n));
    const ack = (this.ack = new Float64Array(n));
    this.maxLen = 1;
    this._packets(pk, 0, model);
    let nc = [0, 0], nd = [0, 0], nn = 0;
    for (let i = 0; i < n; i++) {
      const d = dir[i];
      nc[d]++;
      if (len[i] > 0 || (fl[i] & (FL.S | FL.F | FL.R))) nd[d]++;
      if (cat[i] >= CAT.OTHER) nn++;
    }
    // Per-direction index lists (all packets, and "data" ones: payload or
    // SYN/FIN/RST) with their times, for binary search while drawing.
    this.all = [0, 1].map((d) => ({ i: new Int32Array(nc[d]), t: new Float64Array(nc[d]) }));
    this.data = [0, 1].map((d) => ({ i: new Int32Array(nd[d]), t: new Float64Array(nd[d]) }));
    this.notable = { i: new Int32Array(nn), t: new Float64Array(nn) };
    nc = [0, 0]; nd = [0, 0]; nn = 0;
    for (let i = 0; i < n; i++) {
      const d = dir[i];
      this.all[d].i[nc[d]] = i;
      this.all[d].t[nc[d]++] = t[i];
      if (len[i] > 0 || (fl[i] & (FL.S | FL.F | FL.R))) {
        this.data[d].i[nd[d]] = i;
        this.data[d].t[nd[d]++] = t[i];
      }
      if (cat[i] >= CAT.OTHER) {
        this.notable.i[nn] = i;
        this.notable.t[nn++] = t[i];
      }
    }
    // The packets stay in capture order (their index is their name); the
    // lists searched by time are sorted when the capture's clock went back.
    // In time order, a tail (docs/api.md) can be put after them (extend).
    this._timeOrder = true;
    for (let i = 1; i < n && this._timeOrder; i++) if (t[i] < t[i - 1]) this._timeOrder = false;
    for (const lists of [this.all, this.data, [this.notable]]) {
      for (const l of lists) sortByTime(l.t, l.i);
    }

    // Messages, in order of first byte.
    const raws = raw.messages || [];
    this.messages = raws.slice().sort((a, b) => a.start_us - b.start_us);
    // the server's order (a tail's positions count in it) is start order
    this._msgOrder = this.messages.every((m, k) => m === raws[k]);
    const nm = this.messages.length;
    this.mt = new Float64Array(nm);
    this.maxMsgDur = 0;
    for (let k = 0; k < nm; k++) this._message(this.messages[k], k, origin);
    // Per kind (requests, responses): the messages, their start times, and
    // the running maximum of their ends, so the renderer can jump over the
    // ones that fall into a pixel already drawn and still know how far they
    // reach. Marked ones (pipelined, split headers, errors, incomplete) are
    // listed apart so they always get their outline.
    this.byKind = {};
    for (const kind of MSG_KINDS) {
      const list = this.messages.filter((m) => m.kind === kind);
      const T = new Float64Array(list.length);
      const E = new Float64Array(list.length);
      let mx = -Infinity;
      list.forEach((m, k) => {
        m._ki = k;
        T[k] = m._s;
        mx = Math.max(mx, m._e);
        E[k] = mx;
      });
      const maxDurK = list.reduce((a, m) => Math.max(a, m._e - m._s), 0);
      this.byKind[kind] = { list, T, E, maxDur: maxDurK };
    }
    this._unanswered(0);
    this._marks();
    this.ms = { requests: 0, responses: 0, errors: 0, status: {}, ttfb: new Float64Array(0) };
    this._msgStats(0);

    this._states(raw, origin);
    const sr = raw.series || {};
    this.series = {};
    for (const k of SERIES) this.series[k] = series(sr[k], origin);
    // "rtt" (both directions merged) only from a --json file made before the
    // directions were split; otherwise the two above already hold its samples
    const split = 'rtt_c2s' in sr || 'rtt_s2c' in sr;
    this.series.rtt = series(split ? null : sr.rtt, origin);
  }

  // What a connection says of itself outside its lists.
  _head(raw, origin) {
    this.raw = raw;
    this.id = raw.id;
    this.server = raw.server;
    this.client_addr = raw.client_addr;
    this.client_port = raw.client_port;
    this.server_addr = raw.server_addr;
    this.server_port = raw.server_port;
    this.t0 = raw.start_us - origin;
    this.t1 = raw.end_us - origin;
    this.stats = raw.stats || {};
    this.close = raw.close;
    this.handshake_rtt_us = raw.handshake_rtt_us;
    // The connection's RTT (the RTT scale, the typical RTT): as htracr's
    // base RTT, the handshake's, else the smallest sample timed on the
    // client's data; the server's data is ACKed by the client within µs
    // when the capture is near the client, which is no round trip.
    const s = this.stats;
    this.rtt = raw.handshake_rtt_us || ('rtt_c2s_min_us' in s ? s.rtt_c2s_min_us : s.rtt_min_us) || null;
  }

  // Packets pk (raw) into the typed arrays from index `from` on.
  _packets(pk, from, model) {
    const origin = model.origin;
    const catCache = model._catCache;
    const names = model.analysisNames;
    const { t, dir, len, fl, cat, msg, seq, ack } = this;
    let maxLen = this.maxLen;
    for (let j = 0; j < pk.length; j++) {
      const i = from + j;
      const p = unpack(pk[j], names);
      this.pk[i] = p;
      t[i] = p[0] - origin;
      dir[i] = p[1] ? 1 : 0;
      len[i] = p[5];
      seq[i] = p[3];
      ack[i] = p[4] === null ? -1 : p[4];
      const f = flagBits(p[2]);
      fl[i] = f;
      msg[i] = p[7] === null || p[7] === undefined ? -1 : p[7];
      let c = CAT.NORMAL;
      const mask = p[8] || 0;
      if (mask) {
        let cc = catCache.get(mask);
        if (cc === undefined) {
          cc = CAT.OTHER;
          for (let b = 0; b < names.length; b++) {
            if (Math.floor(mask / 2 ** b) % 2) cc = Math.max(cc, catOfName(names[b]));
          }
          catCache.set(mask, cc);
        }
        c = cc;
      } else if (f & (FL.S | FL.F)) {
        c = CAT.CTRL;
      }
      if (f & FL.R) c = CAT.RESET;
      cat[i] = c;
      if (p[5] > maxLen) maxLen = p[5];
    }
    this.maxLen = maxLen;
  }

  // Message m, k-th in start order: its times and family.
  _message(m, k, origin) {
    m._s = m.start_us - origin;
    m._e = Math.max(m.end_us, m.start_us) - origin;
    m._conn = this.id;
    m._k = k;
    m._fam = m.kind === 'response' ? ctFamily(m.content_type, m.body_bytes) : null;
    this.mt[k] = m._s;
    if (m._e - m._s > this.maxMsgDur) this.maxMsgDur = m._e - m._s;
  }

  // A request no response answered, where none can come any more: the
  // connection closed, or a later request went out on it. Decided again for
  // the requests from the from-th on.
  _unanswered(from) {
    const reqs = this.byKind.request.list;
    const open = this.close === 'open';
    for (let i = from; i < reqs.length; i++) {
      const m = reqs[i];
      m._unanswered = (m.response === null || m.response === undefined) && (!open || i < reqs.length - 1);
    }
  }

  _isMarked(m) {
    return m.pipelined || m.headers_split || m.error || m._unanswered ||
      (!m.complete && m.kind === 'response' && this.close !== 'open');
  }

  _marks() {
    this.marked = this.messages.filter((m) => this._isMarked(m));
    this.markedT = new Float64Array(this.marked.map((m) => m._s));
  }

  // The messages' share of their server's statistics (serverStats), from
  // the from-th message on; sign -1 takes that share back out (those
  // messages are about to be replaced by a tail's).
  _msgStats(from, sign = 1) {
    const ms = this.ms;
    const list = this.messages;
    if (sign < 0) {
      for (let k = from; k < list.length; k++) {
        const m = list[k];
        if (m.kind === 'request') ms.requests--;
        else {
          ms.responses--;
          ms.status[statusClass(m)]--;
          if (m._tf !== undefined && m._tf < ms.ttfb.length) ms.ttfb = ms.ttfb.subarray(0, m._tf);
        }
        if (m.error) ms.errors--;
      }
      for (const k of Object.keys(ms.status)) if (!ms.status[k]) delete ms.status[k];
      return;
    }
    const tf = [];
    for (let k = from; k < list.length; k++) {
      const m = list[k];
      if (m.kind === 'request') ms.requests++;
      else {
        ms.responses++;
        const c = statusClass(m);
        ms.status[c] = (ms.status[c] || 0) + 1;
        if (m.ttfb_us !== null && m.ttfb_us !== undefined) {
          m._tf = ms.ttfb.length + tf.length;
          tf.push(m.ttfb_us);
        }
      }
      if (m.error) ms.errors++;
    }
    if (tf.length) {
      const n0 = ms.ttfb.length;
      const a = room(ms.ttfb, n0, n0 + tf.length);
      a.set(tf, n0);
      ms.ttfb = a.subarray(0, n0 + tf.length);
    }
  }

  _states(raw, origin) {
    this.states = (raw.states || []).map((s) => ({ state: s.state, s: s.start_us - origin, e: s.end_us - origin }));
    this.states.sort((a, b) => a.s - b.s); // time order, as above
    this.stateT = new Float64Array(this.states.map((s) => s.s));
    this.maxStateDur = this.states.reduce((a, s) => Math.max(a, s.e - s.s), 0);
  }

  /**
   * Take in a tail (docs/api.md): raw is the connection put together
   * (withTail), t its tail positions. Only what follows the positions is
   * worked out again, so an update costs what it brought, not the
   * connection's size. False (nothing changed) when this connection is not
   * one a tail can be put after (its clock went back, its messages are not
   * in start order): the caller builds it anew.
   */
  extend(raw, t, model) {
    const origin = model.origin;
    const P = t.packets, M = t.messages;
    const pk = raw.packets, raws = raw.messages;
    if (!this._timeOrder || !this._msgOrder || this.series.rtt.n) return false;
    if (!(P <= this.n && M <= this.messages.length && pk.length >= P && raws.length >= M)) return false;
    // the new ones must follow in time what stays
    const names = model.analysisNames;
    let last = P ? this.t[P - 1] + origin : -Infinity;
    for (let j = P; j < pk.length; j++) {
      const ts = unpack(pk[j], names)[0];
      if (ts < last) return false;
      last = ts;
    }
    let lastS = M ? this.messages[M - 1].start_us : -Infinity;
    for (let k = M; k < raws.length; k++) {
      if (raws[k].start_us < lastS) return false;
      lastS = raws[k].start_us;
    }
    const wasOpen = this.close === 'open';
    this._head(raw, origin);

    // packets
    const n = pk.length;
    for (const k of PACKET_ARRAYS) this[k] = room(this[k], P, n);
    this._packets(pk.slice(P), P, model);
    if (this.pk.length > n) this.pk.length = n;
    for (const k of PACKET_ARRAYS) this[k] = this[k].subarray(0, n);
    this.n = n;
    const lists = [this.all[0], this.all[1], this.data[0], this.data[1], this.notable];
    // (in time order, a list's indexes ascend: those before P come first)
    const keep = lists.map((l) => lowerBound(l.i, P));
    const want = keep.slice();
    for (let i = P; i < n; i++) {
      const d = this.dir[i];
      want[d]++;
      if (this.len[i] > 0 || (this.fl[i] & (FL.S | FL.F | FL.R))) want[2 + d]++;
      if (this.cat[i] >= CAT.OTHER) want[4]++;
    }
    lists.forEach((l, q) => {
      l.i = room(l.i, keep[q], want[q]);
      l.t = room(l.t, keep[q], want[q]);
    });
    const at = keep.slice();
    for (let i = P; i < n; i++) {
      const d = this.dir[i], ti = this.t[i];
      const put = (q) => { lists[q].i[at[q]] = i; lists[q].t[at[q]++] = ti; };
      put(d);
      if (this.len[i] > 0 || (this.fl[i] & (FL.S | FL.F | FL.R))) put(2 + d);
      if (this.cat[i] >= CAT.OTHER) put(4);
    }
    lists.forEach((l, q) => {
      l.i = l.i.subarray(0, want[q]);
      l.t = l.t.subarray(0, want[q]);
    });

    // messages: those from M on go, the tail's come
    this._msgStats(M, -1);
    for (let k = M; k < this.messages.length; k++) model.msgs.delete(this.messages[k].id);
    // of each kind, those before M stay (its list is in start order too:
    // only the tail's end of it is looked at)
    const kept = {};
    for (const kind of MSG_KINDS) {
      const list = this.byKind[kind].list;
      let c = list.length;
      while (c > 0 && list[c - 1]._k >= M) c--;
      kept[kind] = c;
    }
    const nm = raws.length;
    replaceFrom(this.messages, M, raws.slice(M));
    this.mt = room(this.mt, M, nm);
    const added = { request: [], response: [] };
    for (let k = M; k < nm; k++) {
      const m = raws[k];
      this._message(m, k, origin);
      model.msgs.set(m.id, m);
      (added[m.kind] || []).push(m);
    }
    this.mt = this.mt.subarray(0, nm);
    this._msgStats(M);
    if (!model._arcsStale) {
      // The arcs (Model._arcs) are worked out again only when what came can
      // change them: a request with a Referer, a redirect, a request for a
      // URL an arc starts or ends at.
      for (let k = M; k < nm && !model._arcsStale; k++) {
        const m = raws[k];
        if (m.kind === 'response') {
          if (m.status >= 300 && m.status < 400) model._arcsStale = true;
          continue;
        }
        if (m._nurl === undefined) m._nurl = normUrl(requestUrl(m, this));
        if (header(m, 'referer') || model._arcUrls.has(m._nurl)) model._arcsStale = true;
      }
    }
    for (const kind of MSG_KINDS) {
      const K = this.byKind[kind];
      const c = kept[kind], add = added[kind], total = c + add.length;
      replaceFrom(K.list, c, add);
      K.T = room(K.T, c, total);
      K.E = room(K.E, c, total);
      let mx = c ? K.E[c - 1] : -Infinity;
      add.forEach((m, j) => {
        m._ki = c + j;
        K.T[c + j] = m._s;
        mx = Math.max(mx, m._e);
        K.E[c + j] = mx;
        K.maxDur = Math.max(K.maxDur, m._e - m._s);
      });
      K.T = K.T.subarray(0, total);
      K.E = K.E.subarray(0, total);
    }
    // the last request that stays may now have one after it; a close
    // decides every one again, and what is marked
    const lastKept = kept.request ? this.byKind.request.list[kept.request - 1] : null;
    const wasUnanswered = lastKept && lastKept._unanswered;
    if (wasOpen && this.close === 'open') {
      this._unanswered(Math.max(0, kept.request - 1));
      if (lastKept && lastKept._unanswered !== wasUnanswered) {
        this._marks(); // it is marked now, somewhere before the end: rare
      } else {
        let q = this.marked.length;
        while (q > 0 && this.marked[q - 1]._k >= M) q--;
        const more = [];
        for (let k = M; k < nm; k++) if (this._isMarked(this.messages[k])) more.push(this.messages[k]);
        replaceFrom(this.marked, q, more);
        this.markedT = room(this.markedT, q, this.marked.length);
        for (let j = q; j < this.marked.length; j++) this.markedT[j] = this.marked[j]._s;
        this.markedT = this.markedT.subarray(0, this.marked.length);
      }
    } else {
      this._unanswered(0);
      this._marks();
    }

    this._states(raw, origin);
    const sr = raw.series || {};
    const ts = t.series || {};
    for (const k of SERIES) {
      const have = this.series[k], from = ts[k] ?? 0, pairs = sr[k] || [];
      if (from > have.n) {
        this.series[k] = series(pairs, origin);
        continue;
      }
      const m = pairs.length;
      // (the points before `from` stay in the buffers: the first new one is
      // checked against the last of them)
      let T = room(have.t, from, m), V = room(have.v, from, m), max = have.max, sorted = true;
      for (let i = from; i < m; i++) {
        T[i] = pairs[i][0] - origin;
        V[i] = pairs[i][1];
        if (V[i] > max) max = V[i];
        if (i && T[i] < T[i - 1]) sorted = false;
      }
      if (!sorted) {
        this.series[k] = series(pairs, origin);
        continue;
      }
      this.series[k] = { t: T.subarray(0, m), v: V.subarray(0, m), max, n: m };
    }
    return true;
  }

  /** Index of the earliest packet at or after t (the first in capture order
   * among equal times), or n: the capture's order need not be time order. */
  packetAt(t) {
    let best = this.n, bt = Infinity;
    for (const l of this.all) {
      const k = lowerBound(l.t, t);
      if (k < l.t.length && (l.t[k] < bt || (l.t[k] === bt && l.i[k] < best))) {
        bt = l.t[k];
        best = l.i[k];
      }
    }
    return best;
  }

  /** The packet's fields as an object (docs/json.md's packet, plus index). */
  packet(i, names) {
    const p = this.pk[i];
    const analysis = [];
    const mask = p[8] || 0;
    for (let b = 0; b < names.length; b++) if (Math.floor(mask / 2 ** b) % 2) analysis.push(names[b]);
    return {
      idx: i, ts_us: p[0], dir: p[1] ? 's2c' : 'c2s', flags: p[2], seq: p[3], ack: p[4],
      len: p[5], win: p[6], msg: p[7], analysis,
    };
  }
}

/**
 * Whether doc looks like a model written by --json (docs/json.md), checked
 * before the page takes it in: null when it does, else why not, naming the
 * first thing wrong. The shape is checked, not every value: what the page
 * reads of each connection, packet and message.
 */
export function checkModelDoc(doc) {
  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  if (!isObj(doc)) return 'not a JSON object';
  if (!Number.isInteger(doc.version)) return 'no "version": not a model written by htracr --json';
  if (!Array.isArray(doc.connections)) return '"connections" is not a list';
  if (doc.servers !== undefined && !Array.isArray(doc.servers)) return '"servers" is not a list';
  if (doc.dns !== undefined && doc.dns !== null && !Array.isArray(doc.dns)) return '"dns" is not a list';
  for (let i = 0; i < doc.connections.length; i++) {
    const c = doc.connections[i];
    const at = `connection ${i + 1} of ${doc.connections.length}`;
    if (!isObj(c)) return `${at} is not an object`;
    if (!Number.isInteger(c.id)) return `${at} has no integer "id"`;
    for (const k of ['client_addr', 'server_addr']) if (typeof c[k] !== 'string') return `${at} has no "${k}"`;
    for (const k of ['client_port', 'server_port']) {
      if (!Number.isInteger(c[k]) || c[k] < 0 || c[k] > 65535) return `${at} has no port "${k}"`;
    }
    if (!isNum(c.start_us)) return `${at} has no "start_us"`;
    for (const k of ['packets', 'messages', 'states', 'events']) {
      if (c[k] !== undefined && !Array.isArray(c[k])) return `${at}: "${k}" is not a list`;
    }
    for (const p of c.packets || []) {
      if (!isObj(p) || !isNum(p.ts_us) || (p.dir !== 'c2s' && p.dir !== 's2c')) {
        return `${at} has a packet without "ts_us" and "dir"`;
      }
    }
    for (const m of c.messages || []) {
      if (!isObj(m) || !Number.isInteger(m.id) || (m.kind !== 'request' && m.kind !== 'response') || !isNum(m.start_us)) {
        return `${at} has a message without "id", "kind" and "start_us"`;
      }
    }
  }
  return null;
}

/** The whole model as the page holds it. */
export class Model {
  constructor() {
    this.reset();
  }

  reset() {
    this.generation = null;
    this.seq = 0;
    this.reply = 0; // the last /api/model reply's number, asked with the next
    this.origin = null;
    this.version = null;
    this.source = null;
    this.start_us = null;
    this.end_us = null;
    this.stats = {};
    this.analysisNames = [];
    this.servers = new Map();
    this.conns = new Map();
    this.msgs = new Map(); // id -> message (with _conn)
    this.dns = [];
    this.dnsT = new Float64Array(0);
    this.dnsMaxDur = 0;
    this._catCache = new Map();
    this._derived = null;
    this._arcsStale = true;
    this._arcs_ = [];
    this._arcUrls = new Set();
    this.changeCount = (this.changeCount || 0) + 1;
  }

  /** Start and end (relative µs) of everything held. */
  get span() {
    let a = Infinity, b = -Infinity;
    for (const c of this.conns.values()) {
      if (c.t0 < a) a = c.t0;
      if (c.t1 > b) b = c.t1;
    }
    for (const d of this.dns) {
      if (d._s < a) a = d._s;
      if (d._e > b) b = d._e;
    }
    if (a === Infinity) return { t0: 0, t1: 1e6 };
    if (b - a < 1) b = a + 1;
    return { t0: a, t1: b };
  }

  get messageCount() {
    return this.msgs.size;
  }

  get packetCount() {
    let n = 0;
    for (const c of this.conns.values()) n += c.n;
    return n;
  }

  /**
   * Merge one /api/model reply (or a --json document). Returns
   * {full, changed: [connection ids]}.
   */
  merge(r) {
    const full = r.full !== false || r.generation !== this.generation || this.generation === null;
    if (full) {
      this.reset();
      this.generation = r.generation ?? 0;
    }
    this.seq = r.seq ?? this.seq;
    this.reply = r.reply ?? 0;
    this.version = r.version ?? this.version;
    this.source = r.source ?? this.source;
    if (r.stats) this.stats = r.stats;
    if (r.start_us !== undefined && r.start_us !== null) this.start_us = r.start_us;
    if (r.end_us !== undefined && r.end_us !== null) this.end_us = r.end_us;
    if (Array.isArray(r.analysis_names)) {
      // A change of names would change every mask's meaning: start again.
      if (this.analysisNames.length && r.analysis_names.join() !== this.analysisNames.join()) {
        this._catCache = new Map();
      }
      this.analysisNames = r.analysis_names.slice();
    }
    if (this.origin === null) {
      let o = r.start_us ?? null;
      for (const c of r.connections || []) if (o === null || c.start_us < o) o = c.start_us;
      if (o !== null) this.origin = o;
    }
    if (Array.isArray(r.servers)) {
      const keep = new Map();
      for (const s of r.servers) keep.set(s.id, { ...s });
      this.servers = keep;
    }
    const changed = [];
    if (this.origin !== null) {
      const fields = Array.isArray(r.message_fields) ? r.message_fields : null;
      const rel = r.relative === true;
      for (let raw of r.connections || []) {
        const old = this.conns.get(raw.id);
        if (rel) absoluteTimes(raw, fields);
        if (fields && raw.messages) {
          const t = raw.tail;
          const have = t && old ? old.raw.messages || [] : [];
          const last = t && old && have.length >= t.messages ? lastOfKind(have, t.messages) : {};
          if (!fromRows(raw.messages, fields, last)) return { full, changed, stale: true };
        }
        if (raw.tail) {
          const t = raw.tail;
          raw = withTail(old, raw);
          // what the page holds is not what the tail follows: the next
          // load is a whole one (the caller asks again)
          if (!raw) return { full, changed, stale: true };
          if (old.extend(raw, t, this)) {
            changed.push(old.id);
            continue;
          }
        }
        if (old) for (const m of old.messages) this.msgs.delete(m.id);
        this._arcsStale = true;
        const c = new Conn(raw, this);
        this.conns.set(c.id, c);
        for (const m of c.messages) this.msgs.set(m.id, m);
        changed.push(c.id);
      }
    }
    if (Array.isArray(r.connection_ids)) {
      const ids = new Set(r.connection_ids);
      for (const [id, c] of this.conns) {
        if (!ids.has(id)) {
          for (const m of c.messages) this.msgs.delete(m.id);
          this.conns.delete(id);
          this._arcsStale = true;
        }
      }
    }
    // Servers named by connections but missing from the list (defensive).
    for (const c of this.conns.values()) {
      if (!this.servers.has(c.server)) {
        this.servers.set(c.server, { id: c.server, addr: c.server_addr, port: c.server_port, name: null, connections: [] });
      }
    }
    if (Array.isArray(r.dns) && this.origin !== null) this._setDns(r.dns);
    this._derived = null;
    this.changeCount++;
    return { full, changed };
  }

  // DNS lookups (docs/json.md dns[]): times, lanes so overlapping lookups
  // do not cover each other, and a start-time index for binary search.
  _setDns(list) {
    const o = this.origin;
    const dns = [];
    for (const d of list) {
      const q = d.query_us ?? d.answer_us;
      if (q === null || q === undefined) continue;
      const a = d.answer_us ?? d.query_us;
      dns.push({ ...d, _s: q - o, _e: Math.max(a, q) - o, _lane: 0 });
    }
    dns.sort((x, y) => x._s - y._s);
    const laneEnd = [];
    for (const d of dns) {
      let l = laneEnd.findIndex((e) => e <= d._s);
      if (l < 0) {
        l = laneEnd.length < DNS_LANES ? laneEnd.length : laneEnd.indexOf(Math.min(...laneEnd));
      }
      laneEnd[l] = d._e;
      d._lane = l;
    }
    this.dns = dns;
    this.dnsT = new Float64Array(dns.map((d) => d._s));
    this.dnsMaxDur = dns.reduce((m, d) => Math.max(m, d._e - d._s), 0);
  }

  conn(id) {
    return this.conns.get(id) || null;
  }

  msg(id) {
    return this.msgs.get(id) || null;
  }

  /** A server's name for headings: its Host (else its address), with its
   * port when that is not 80 and the name does not say it already, so the
   * servers of one host on several ports are told apart. */
  serverName(s) {
    if (!s) return '?';
    const n = s.name || (s.addr && s.addr.includes(':') && s.port && s.port !== 80 ? `[${s.addr}]` : s.addr) || '?';
    if (!s.port || s.port === 80 || /(^[^:]*|\]):\d+$/.test(n)) return n;
    return `${n}:${s.port}`;
  }

  /** Derived data over the whole model, computed once per change. */
  get derived() {
    if (!this._derived) this._derived = this._derive();
    return this._derived;
  }

  _derive() {
    // Servers in order of their first connection, connections by start.
    const byServer = new Map();
    for (const c of this.conns.values()) {
      let l = byServer.get(c.server);
      if (!l) byServer.set(c.server, (l = []));
      l.push(c);
    }
    const servers = [];
    for (const [sid, conns] of byServer) {
      conns.sort((a, b) => a.t0 - b.t0 || a.id - b.id);
      servers.push({ server: this.servers.get(sid), id: sid, conns, stats: serverStats(conns) });
    }
    servers.sort((a, b) => a.conns[0].t0 - b.conns[0].t0 || a.id - b.id);
    if (this._arcsStale) {
      this._arcs_ = this._arcs();
      this._arcsStale = false;
    }
    return { servers, arcs: this._arcs_, rtt: this._typicalRtt(), dnsLinks: this._dnsLinks() };
  }

  // Each lookup with addresses → the first connection to one of them that
  // starts after the answer (and within a minute).
  _dnsLinks() {
    if (!this.dns.length) return [];
    const byAddr = new Map();
    for (const c of this.conns.values()) {
      let l = byAddr.get(c.server_addr);
      if (!l) byAddr.set(c.server_addr, (l = []));
      l.push(c);
    }
    for (const l of byAddr.values()) l.sort((a, b) => a.t0 - b.t0);
    const links = [];
    const used = new Set();
    for (let k = 0; k < this.dns.length; k++) {
      const d = this.dns[k];
      let best = null;
      for (const a of d.addrs || []) {
        for (const c of byAddr.get(a) || []) {
          if (c.t0 >= d._e && c.t0 - d._e < 60e6 && !used.has(c.id)) {
            if (!best || c.t0 < best.t0) best = c;
            break;
          }
        }
      }
      if (best) {
        used.add(best.id);
        links.push({ dns: k, conn: best.id, t: d._e, t2: best.t0 });
      }
    }
    return links;
  }

  _typicalRtt() {
    const v = [];
    for (const c of this.conns.values()) if (c.rtt) v.push(c.rtt);
    if (!v.length) return null;
    v.sort((a, b) => a - b);
    return v[v.length >> 1];
  }

  // Referer arcs (the request that loaded the referring page → the request
  // that names it) and redirect arcs (a 3xx → the next request for its
  // Location). Endpoints: {conn, msg, t}.
  _arcs() {
    const reqs = [];
    for (const c of this.conns.values()) {
      for (const m of c.byKind.request.list) {
        // cached on the message: a connection's messages are rebuilt when it changes
        if (m._nurl === undefined) m._nurl = normUrl(requestUrl(m, c));
        if (m._nurl) reqs.push({ m, c, u: m._nurl });
      }
    }
    reqs.sort((a, b) => a.m._s - b.m._s);
    const byUrl = new Map();
    for (const r of reqs) {
      let l = byUrl.get(r.u);
      if (!l) byUrl.set(r.u, (l = []));
      l.push(r);
    }
    // Latest request for url u that started before t.
    const before = (u, t) => {
      const l = byUrl.get(u);
      if (!l) return null;
      let best = null;
      for (const r of l) {
        if (r.m._s <= t) best = r; else break;
      }
      return best;
    };
    const after = (u, t) => {
      const l = byUrl.get(u);
      if (!l) return null;
      for (const r of l) if (r.m._s >= t) return r;
      return null;
    };
    const arcs = [];
    const urls = (this._arcUrls = new Set()); // where arcs start or end (extend)
    for (const r of reqs) {
      if (r.m._nref === undefined) r.m._nref = normUrl(header(r.m, 'referer'));
      const ref = r.m._nref;
      if (ref) {
        urls.add(ref);
        const src = before(ref, r.m._s);
        if (src && src.m !== r.m) {
          const resp = src.m.response ? this.msgs.get(src.m.response) : null;
          const from = resp ? { conn: src.c.id, msg: resp.id, t: resp._s } : { conn: src.c.id, msg: src.m.id, t: src.m._s };
          arcs.push({ kind: 'referer', from, to: { conn: r.c.id, msg: r.m.id, t: r.m._s } });
        }
      }
      const resp = r.m.response ? this.msgs.get(r.m.response) : null;
      if (resp && resp.status >= 300 && resp.status < 400) {
        const loc = header(resp, 'location');
        const target = loc ? normUrl(resolveUrl(loc, requestUrl(r.m, r.c))) : null;
        if (target) urls.add(target);
        const dst = target ? after(target, resp._s) : null;
        if (dst) {
          arcs.push({ kind: 'redirect', from: { conn: r.c.id, msg: resp.id, t: resp._e }, to: { conn: dst.c.id, msg: dst.m.id, t: dst.m._s } });
        }
      }
    }
    return arcs;
  }
}

/** A response's status class for the statistics: "2xx", ..., "?" */
function statusClass(m) {
  return m.status ? `${Math.floor(m.status / 100)}xx` : '?';
}

// The k-th smallest of a (reordered in place): Hoare's selection.
function select(a, k) {
  let lo = 0, hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const x = a[i]; a[i] = a[j]; a[j] = x;
        i++; j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k];
}

/** Per-server statistics over its connections (each keeps its messages'
 * share as they come: an update costs what it brought). */
export function serverStats(conns) {
  const s = {
    conns: conns.length, requests: 0, responses: 0, bytes_c2s: 0, bytes_s2c: 0, retransmits: 0,
    resets: 0, errors: 0, status: {}, packets: 0, lost: 0,
  };
  let nt = 0;
  for (const c of conns) {
    const st = c.stats;
    s.bytes_c2s += st.bytes_c2s || 0;
    s.bytes_s2c += st.bytes_s2c || 0;
    s.retransmits += (st.retransmits_c2s || 0) + (st.retransmits_s2c || 0);
    s.resets += st.resets || 0;
    s.lost += (st.gap_bytes_c2s || 0) + (st.gap_bytes_s2c || 0) > 0 ? 1 : 0;
    s.packets += c.n;
    s.requests += c.ms.requests;
    s.responses += c.ms.responses;
    s.errors += c.ms.errors;
    for (const [k, v] of Object.entries(c.ms.status)) s.status[k] = (s.status[k] || 0) + v;
    nt += c.ms.ttfb.length;
  }
  const ttfb = new Float64Array(nt);
  let at = 0, max = -Infinity;
  for (const c of conns) {
    ttfb.set(c.ms.ttfb, at);
    at += c.ms.ttfb.length;
  }
  for (let i = 0; i < nt; i++) if (ttfb[i] > max) max = ttfb[i];
  s.ttfb_median = nt ? select(ttfb, nt >> 1) : null;
  s.ttfb_max = nt ? max : null;
  return s;
}
