// SPDX-License-Identifier: MIT
// panel.js - the detail panel (#detail) for the selection: a message's start
// line, timings (TTFB, server stall, round trips, size) and headers as a
// table, with "open body" and "replay" buttons; a packet's fields, analysis
// flags, ACK partners and payload (hex and text, from /api/packet); a
// connection's addresses, TCP statistics and messages; a server's totals.

import { fmtDur, fmtBytes, fmtInt, fmtClock, hostPort, STATE_LABELS, CAT_COLOURS } from './format.js';
import { requestLine, requestUrl, startLine, statusText } from './model.js';

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function kv(rows) {
  const t = el('table', { class: 'kv' });
  for (const r of rows) {
    if (!r) continue;
    const [k, v, cls] = r;
    t.append(el('tr', { class: cls || null }, el('th', { text: k }), el('td', {}, v instanceof Node ? v : String(v ?? '–'))));
  }
  return t;
}

function badge(text, cls) {
  return el('span', { class: `badge ${cls || ''}`, text });
}

// a click on a title or URL cut to three lines shows the whole of it
function showAll(e) {
  e.currentTarget.classList.add('full');
}

export class Panel {
  /**
   * root: the #detail element. ctx: {model, api, timeline, actions} where
   * actions has select(sel), hideConn(id), focusConn(id), hideServer(id),
   * focusServer(id), toggleExpand(id), toast(msg, kind), showingFile(),
   * capturing(), and away(): why the server does not hold what is shown
   * (a --json file read in the page; a new run of htracr), so that no
   * body, payload or replay is asked of it; or null.
   */
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.sel = null;
    this._pktReq = 0;
  }

  show(sel) {
    this.sel = sel;
    this.render();
  }

  /** Redraw for the current selection (after a model change too). */
  render() {
    const sel = this.sel;
    const body = this.root.querySelector('.detail-body');
    body.replaceChildren();
    this.root.dataset.kind = sel ? sel.kind : 'none';
    if (!sel) {
      body.append(this._empty());
      return;
    }
    let node = null;
    if (sel.kind === 'message') node = this._message(sel.msg);
    else if (sel.kind === 'packet') node = this._packet(sel.conn, sel.idx);
    else if (sel.kind === 'conn') node = this._conn(sel.conn);
    else if (sel.kind === 'server') node = this._server(sel.server);
    else if (sel.kind === 'dns') node = this._dns(sel.dns);
    body.append(node || el('p', { class: 'muted', text: 'This item is no longer in the model.' }));
  }

  _empty() {
    const m = this.ctx.model;
    return el('div', { class: 'empty' },
      el('p', { text: 'Click a message, a packet or a connection to see it here.' }),
      el('p', { class: 'muted' }, 'Keys: ', el('kbd', { text: '←' }), el('kbd', { text: '→' }), ' packets, ',
        el('kbd', { text: '⇧←' }), el('kbd', { text: '⇧→' }), ' messages, ', el('kbd', { text: '↑' }), el('kbd', { text: '↓' }),
        ' connections, ', el('kbd', { text: '?' }), ' all keys.'),
      m.conns.size ? this._summary() : null,
      el('p', { class: 'muted' }, 'Counters over the whole run, for Prometheus: ',
        el('a', { href: '/metrics', target: '_blank', rel: 'noopener', text: '/metrics' }), '.'));
  }

  _summary() {
    const m = this.ctx.model;
    const st = m.stats || {};
    return el('section', {},
      el('h3', { text: 'Capture' }),
      kv([
        ['source', m.source || '–'],
        ['first packet', fmtClock(m.start_us)],
        // the capture's own span and packets, as the axis counts from its
        // first packet; the status bar's packets are the connections' only
        ['duration', m.start_us !== null && m.end_us !== null ? fmtDur(m.end_us - m.start_us) : '–'],
        ['packets', st.packets === undefined ? '–'
          : `${fmtInt(st.packets)}${st.packets !== m.packetCount ? ` (${fmtInt(m.packetCount)} on HTTP connections)` : ''}`],
        ['connections', fmtInt(m.conns.size)],
        ['requests / responses', `${fmtInt(st.requests)} / ${fmtInt(st.responses)}`],
        st.evicted_connections ? ['evicted (memory)', fmtInt(st.evicted_connections) +
          (st.evicted_open_connections ? ` (${fmtInt(st.evicted_open_connections)} open)` : ''), 'warn'] : null,
        st.flows_evicted ? ['flows cut short (memory)', fmtInt(st.flows_evicted), 'warn'] : null,
        st.decode_errors ? ['decode errors', fmtInt(st.decode_errors), 'warn'] : null,
        st.ignored_packets ? ['not HTTP (ignored)', fmtInt(st.ignored_packets)] : null,
      ]));
  }

  _link(text, sel) {
    return el('a', { href: '#', class: 'jump', onclick: (e) => { e.preventDefault(); this.ctx.actions.select(sel); } }, text);
  }

  _message(id) {
    const { model, api, actions } = this.ctx;
    const m = model.msg(id);
    if (!m) return null;
    const c = model.conn(m._conn);
    const isReq = m.kind === 'request';
    const away = actions.away?.();
    const req = isReq ? m : m.request ? model.msg(m.request) : null;
    const resp = isReq ? (m.response ? model.msg(m.response) : null) : m;
    const title = isReq ? requestLine(m) : startLine(m);
    const badges = [];
    if (m.pipelined) badges.push(badge('pipelined', 'pipelined'));
    if (m.headers_split) badges.push(badge('headers split', 'split'));
    if (m.interim) badges.push(badge('interim 1xx'));
    if (m.upgrade) badges.push(badge('upgrade'));
    // still coming on a connection live capture follows: not (yet) short
    const going = !m.complete && c.close === 'open' && !!actions.capturing?.();
    if (going) badges.push(badge('in progress'));
    else if (!m.complete) badges.push(badge('incomplete', 'warn'));
    if (m.error) badges.push(badge(`error: ${m.error}`, 'bad'));
    if (m.gap_bytes) badges.push(badge(`${fmtBytes(m.gap_bytes)} not captured`, 'bad'));

    const buttons = el('div', { class: 'buttons' });
    if (!isReq) {
      const canOpen = m.body_kept > 0 && !away;
      const b = el('button', {
        'data-testid': 'open-body', id: 'open-body', disabled: canOpen ? null : true,
        title: canOpen ? 'Open the decoded body in a new window'
          : m.body_kept > 0 ? away : going ? 'The body is kept when the response ends' : 'No body was kept for this response',
        onclick: () => {
          // asked at the click: the server may have gone away since drawn
          const why = actions.away?.();
          if (why) actions.toast(why, 'info');
          else window.open(api.bodyUrl(m.id), '_blank', 'noopener');
        },
      }, m.body_kept > 0 ? `Open body (${fmtBytes(m.body_kept)}${m.body_truncated ? ', cut' : ''})` : going ? 'Body when it ends' : 'No body kept');
      buttons.append(b);
    }
    if (req) {
      // a request line that did not parse has nothing to send again; one
      // the server does not hold (away) is not its to send
      const why = away || (req.method === null || req.method === undefined || req.url === null || req.url === undefined
        ? 'This request did not parse: there is no request line to send again'
        : req.body_bytes !== 0 || req.upgrade ? 'Only requests without a body can be replayed' : '');
      const canReplay = !why;
      buttons.append(el('button', {
        'data-testid': 'replay', id: 'replay', disabled: canReplay ? null : true,
        title: canReplay ? 'Make this request again from this host (needs live capture on its port to see the exchange)' : why,
        onclick: async () => {
          // From a file the server may be anyone's (production, say), and no
          // capture will show the exchange: ask before sending.
          if (actions.showingFile?.()) {
            const to = `${c.server_addr.includes(':') ? `[${c.server_addr}]` : c.server_addr}:${c.server_port}`;
            if (!window.confirm(`Send ${req.method} ${requestUrl(req, c) || req.url} to ${to} now?\n\nThis is a real request to that server, made from this host. ` +
              'htracr is showing a file, so the exchange will not appear here.')) return;
          }
          try {
            await api.replay(req.id);
            actions.toast(`Request ${req.method} ${req.url} sent again`, 'ok');
          } catch (e) {
            actions.toast(`replay failed: ${e.message}`, 'bad');
          }
        },
      }, 'Replay request'));
    }
    const other = isReq ? resp : req;
    if (other) buttons.append(el('button', { onclick: () => actions.select({ kind: 'message', msg: other.id, conn: other._conn }) }, isReq ? 'Go to response' : 'Go to request'));

    const url = req ? requestUrl(req, c) : null;
    const timing = [];
    timing.push(['start', `${fmtDur(m._s)} (${fmtClock(m.start_us)})`]);
    timing.push(['duration', m.first_packet === m.last_packet ? `${fmtDur(m._e - m._s)} (one packet)` : fmtDur(m._e - m._s)]);
    if (resp) {
      timing.push(['TTFB', fmtDur(resp.ttfb_us)]);
      timing.push(['server stall', fmtDur(resp.stall_us)]);
    } else if (isReq) {
      // said, not left to the absence of a TTFB
      timing.push(['response', actions.capturing?.() ? 'none captured (yet)' : 'none captured', 'warn']);
    }
    if (req && resp) timing.push(['request start → response end', fmtDur(resp._e - req._s)]);
    timing.push(['round trips', m.round_trips ?? '–']);
    timing.push(['packets', m.first_packet === m.last_packet ? `${m.packets} (#${m.first_packet})` : `${m.packets} (#${m.first_packet}–#${m.last_packet})`]);
    timing.push(['size', `${fmtBytes(m.header_bytes)} headers + ${fmtBytes(m.body_bytes)} body`]);
    if (m.content_type) timing.push(['content type', m.content_type]);
    if (m.content_encoding) timing.push(['content encoding', m.content_encoding]);
    if (!isReq && going && !(m.body_kept > 0)) timing.push(['body kept', 'when the response ends']);
    else if (!isReq) timing.push(['body kept', `${fmtBytes(m.body_kept)}${m.body_truncated ? ' (truncated)' : ''}${m.body_decode_error ? ' (could not decode)' : ''}`]);

    const headers = el('table', { class: 'headers', id: 'headers' });
    headers.append(el('tr', { class: 'startline' }, el('td', { colspan: 2, text: startLine(m) })));
    for (const [k, v] of m.headers || []) headers.append(el('tr', {}, el('th', { text: k }), el('td', { text: v })));
    if (m.headers_dropped) headers.append(el('tr', { class: 'warn' }, el('td', { colspan: 2, text: `${m.headers_dropped} more headers not kept` })));

    return el('div', { class: 'msg', 'data-msg': m.id },
      el('h2', { class: `title ${isReq ? 'req' : 'resp'}`, title, text: title, onclick: showAll }),
      url ? el('div', { class: 'url', title: url, text: url, onclick: showAll }) : null,
      el('div', { class: 'sub' }, `${isReq ? 'request' : 'response'} #${m.id} on `, this._link(`connection #${c.id}`, { kind: 'conn', conn: c.id })),
      badges.length ? el('div', { class: 'badges' }, badges) : null,
      buttons,
      el('section', {}, el('h3', { text: 'Timings' }), kv(timing)),
      el('section', {}, el('h3', { text: `Headers (${(m.headers || []).length})` }), headers),
    );
  }

  _packet(cid, idx) {
    const { model, api, timeline, actions } = this.ctx;
    const c = model.conn(cid);
    if (!c || idx < 0 || idx >= c.n) return null;
    const p = c.packet(idx, model.analysisNames);
    const m = p.msg !== null ? model.msg(p.msg) : null;
    const partners = timeline.ackPartners(c, idx);
    const pk = (i) => this._link(`#${i}`, { kind: 'packet', conn: cid, idx: i });
    const rel = partners.map(([a, b, first]) => (a === idx
      ? el('div', {}, 'acknowledged by ', pk(b), ` after ${fmtDur(c.t[b] - c.t[a])}`)
      : first !== undefined
        // the same cumulative ACK again (on data, say): not a round trip
        ? el('div', {}, 'repeats the ACK of ', pk(a), ' (first given by ', pk(first), ')')
        : el('div', {}, 'acknowledges ', pk(a), ` sent ${fmtDur(c.t[b] - c.t[a])} before`)));
    const flags = p.analysis.map((a) => badge(a.replace(/_/g, ' '), 'flag'));
    const payload = el('div', { class: 'payload', id: 'payload' }, p.len > 0 ? el('p', { class: 'muted', text: 'loading payload…' }) : el('p', { class: 'muted', text: 'no payload' }));
    const node = el('div', { class: 'pkt', 'data-conn': cid, 'data-idx': idx },
      el('h2', { class: 'title', text: `Packet #${idx} · ${p.dir === 'c2s' ? 'client → server' : 'server → client'}` }),
      el('div', { class: 'sub' }, 'on ', this._link(`connection #${cid}`, { kind: 'conn', conn: cid }),
        m ? [' · carries ', this._link(m.kind === 'request' ? requestLine(m) : `${statusText(m)} response`, { kind: 'message', msg: m.id, conn: cid })] : null),
      flags.length ? el('div', { class: 'badges' }, flags) : null,
      el('section', {}, el('h3', { text: 'TCP' }), kv([
        ['time', `${fmtDur(c.t[idx])} (${fmtClock(p.ts_us)})`],
        ['since previous', idx > 0 ? fmtDur(c.t[idx] - c.t[idx - 1]) : '–'],
        ['flags', p.flags || '(none)'],
        ['seq', fmtInt(p.seq)],
        ['ack', p.ack === null ? '–' : fmtInt(p.ack)],
        ['payload length', `${fmtInt(p.len)} B`],
        // without the SYNs the window scale is unknown: the value is as sent
        ['window', `${fmtInt(p.win)} B${c.raw.midstream ? ' (unscaled: no SYN seen, so the scale is unknown)' : ''}`],
      ]), partners.length ? el('div', { class: 'ackrel' }, rel) : null),
      el('section', {}, el('h3', { text: 'Payload' }), payload),
    );
    const away = actions.away?.();
    if (p.len > 0 && away) {
      payload.replaceChildren(el('p', { class: 'muted', text: away }));
    } else if (p.len > 0) {
      const req = ++this._pktReq;
      api.packet(cid, idx).then((d) => {
        if (req !== this._pktReq) return;
        payload.replaceChildren(hexView(d));
      }).catch((e) => {
        if (req !== this._pktReq) return;
        payload.replaceChildren(el('p', { class: 'muted', text: e.message }));
      });
    }
    return node;
  }

  _conn(cid) {
    const { model, actions, timeline } = this.ctx;
    const c = model.conn(cid);
    if (!c) return null;
    const s = c.stats;
    const srv = model.servers.get(c.server);
    const states = {};
    for (const st of c.states) states[st.state] = (states[st.state] || 0) + (st.e - st.s);
    const expanded = timeline.expanded.has(cid);
    const msgs = el('table', { class: 'msglist' });
    const LIST_MAX = 300;
    for (const m of c.messages.slice(0, LIST_MAX)) {
      const row = el('tr', { class: m.kind, onclick: () => actions.select({ kind: 'message', msg: m.id, conn: cid }) },
        el('td', { class: 'num', text: fmtDur(m._s - c.t0) }),
        el('td', { text: m.kind === 'request' ? requestLine(m) : `${statusText(m)} ${m.reason || ''} ${m.content_type ? `· ${m.content_type}` : ''}` }),
        el('td', { class: 'num', text: fmtBytes(m.header_bytes + m.body_bytes) }));
      msgs.append(row);
    }
    return el('div', { class: 'conn', 'data-conn': cid },
      el('h2', { class: 'title', text: `Connection #${cid}` }),
      el('div', { class: 'sub' }, `${hostPort(c.client_addr, c.client_port)} → ${hostPort(c.server_addr, c.server_port)} `,
        srv ? ['(', this._link(model.serverName(srv), { kind: 'server', server: srv.id }), ')'] : null),
      el('div', { class: 'buttons' },
        el('button', { 'data-testid': 'expand', onclick: () => { actions.toggleExpand(cid); this.render(); } }, expanded ? 'Hide charts' : 'Show charts'),
        el('button', { 'data-testid': 'focus-conn', onclick: () => actions.focusConn(cid) }, 'Focus'),
        el('button', { 'data-testid': 'hide-conn', onclick: () => actions.hideConn(cid) }, 'Hide')),
      el('section', {}, el('h3', { text: 'Connection' }), kv([
        ['start', `${fmtDur(c.t0)} (${fmtClock(c.raw.start_us)})`],
        ['duration', fmtDur(c.t1 - c.t0)],
        ['handshake RTT', fmtDur(c.handshake_rtt_us)],
        ['end', c.close === 'fin' ? 'FIN' : c.close === 'rst' ? 'reset' : 'open / not seen', c.close === 'rst' ? 'bad' : null],
        c.raw.midstream ? ['midstream', 'capture started after the handshake', 'warn'] : null,
        ['states', Object.entries(states).map(([k, v]) => `${STATE_LABELS[k] || k} ${fmtDur(v)}`).join(' · ') || '–'],
      ])),
      el('section', {}, el('h3', { text: 'TCP' }), el('table', { class: 'kv dirs' },
        el('tr', {}, el('th'), el('th', { text: 'client → server' }), el('th', { text: 'server → client' })),
        dirRow('packets', s.packets_c2s, s.packets_s2c, fmtInt),
        dirRow('payload', s.bytes_c2s, s.bytes_s2c, fmtBytes),
        dirRow('retransmits', s.retransmits_c2s, s.retransmits_s2c, fmtInt, CAT_COLOURS[6]),
        dirRow('not captured', s.gap_bytes_c2s, s.gap_bytes_s2c, fmtBytes, CAT_COLOURS[7]),
        dirRow('HTTP resyncs', s.http_resyncs_c2s, s.http_resyncs_s2c, fmtInt),
        rttRow(s, 'min'), rttRow(s, 'avg'), rttRow(s, 'max')),
      el('p', { class: 'muted small', text: 'RTT: from data sent in that direction to the other side\'s ACK of it' }),
      kv([
        ['out of order', fmtInt(s.out_of_order), s.out_of_order ? 'warn' : null],
        ['duplicate ACKs', fmtInt(s.dup_acks), s.dup_acks ? 'warn' : null],
        ['zero windows', fmtInt(s.zero_windows), s.zero_windows ? 'warn' : null],
        ['resets', fmtInt(s.resets), s.resets ? 'bad' : null],
      ])),
      el('section', {}, el('h3', { text: `Messages (${fmtInt(c.messages.length)})` }), msgs,
        c.messages.length > LIST_MAX ? el('p', { class: 'muted small', text: `the first ${LIST_MAX} are listed; ⇧← ⇧→ walk through all of them` }) : null),
    );
  }

  _server(sid) {
    const { model, actions } = this.ctx;
    const srv = model.servers.get(sid);
    const d = model.derived.servers.find((x) => x.id === sid);
    if (!srv || !d) return null;
    const s = d.stats;
    return el('div', { class: 'server', 'data-server': sid },
      el('h2', { class: 'title', text: model.serverName(srv) }),
      el('div', { class: 'sub', text: hostPort(srv.addr, srv.port) }),
      el('div', { class: 'buttons' },
        el('button', { 'data-testid': 'focus-server', onclick: () => actions.focusServer(sid) }, 'Focus'),
        el('button', { 'data-testid': 'hide-server', onclick: () => actions.hideServer(sid) }, 'Hide')),
      el('section', {}, el('h3', { text: 'Totals' }), kv([
        ['connections', fmtInt(s.conns)],
        ['requests / responses', `${fmtInt(s.requests)} / ${fmtInt(s.responses)}`],
        ['statuses', Object.entries(s.status).sort().map(([k, v]) => `${k}: ${v}`).join(' · ') || '–'],
        ['received (s→c)', fmtBytes(s.bytes_s2c)],
        ['sent (c→s)', fmtBytes(s.bytes_c2s)],
        ['TTFB median / max', `${fmtDur(s.ttfb_median)} / ${fmtDur(s.ttfb_max)}`],
        ['packets', fmtInt(s.packets)],
        ['retransmits', fmtInt(s.retransmits), s.retransmits ? 'warn' : null],
        ['resets', fmtInt(s.resets), s.resets ? 'bad' : null],
        ['parse errors', fmtInt(s.errors), s.errors ? 'bad' : null],
      ])),
      el('section', {}, el('h3', { text: 'Connections' }), el('div', { class: 'connlist' },
        d.conns.map((c) => this._link(`#${c.id} :${c.client_port}`, { kind: 'conn', conn: c.id })))),
    );
  }

  _dns(i) {
    const d = this.ctx.model.dns[i];
    if (!d) return null;
    const m = this.ctx.model;
    const link = m.derived.dnsLinks.find((l) => l.dns === i);
    return el('div', { class: 'dns' },
      el('h2', { class: 'title', text: `DNS ${d.type || ''} ${d.name || ''}` }),
      link ? el('div', { class: 'sub' }, 'led to ', this._link(`connection #${link.conn}`, { kind: 'conn', conn: link.conn })) : null,
      el('section', {}, el('h3', { text: 'Lookup' }), kv([
        ['query', d.query_us !== null ? `${fmtDur(d._s)} (${fmtClock(d.query_us)})` : 'not captured'],
        ['answer', d.answer_us !== null ? fmtClock(d.answer_us) : 'not captured', d.answer_us === null ? 'warn' : null],
        ['latency', fmtDur(d.latency_us)],
        ['rcode', d.rcode || '–', d.rcode && d.rcode !== 'NOERROR' ? 'bad' : null],
        ['CNAME', d.cname || '–'],
        ['addresses', (d.addrs || []).join(', ') || '–'],
        ['client', hostPort(d.client_addr, d.client_port)],
        ['resolver', d.resolver || '–'],
      ])));
  }
}

// One statistic (min, avg, max) of the RTT samples by the side whose data
// was timed: sent in the column's direction, ACKed by the other side. Never
// merged: near the client the server's data is ACKed within µs, which is the
// client's ACK delay, not a round trip.
function rttRow(s, what) {
  const td = (d) => el('td', { text: fmtDur(s[`rtt_${d}_${what}_us`]) });
  return el('tr', { title: 'time from a data segment sent this way to the ACK that covers it' },
    el('th', { text: `RTT ${what}` }), td('c2s'), td('s2c'));
}

function dirRow(label, a, b, fmt, hot) {
  const td = (v) => {
    const e = el('td', { text: fmt(v ?? 0) });
    if (hot && v) e.style.color = hot;
    return e;
  };
  return el('tr', {}, el('th', { text: label }), td(a), td(b));
}

// Hex dump: offset, hex, text; 16 bytes a line where the panel has room for
// all three (about 75 characters), else 8, so the text column stays in view.
function hexView(d) {
  const hex = d.payload_hex || '';
  const text = d.payload_text || '';
  const n = hex.length / 2;
  const per = (document.getElementById('detail')?.clientWidth || 0) >= 560 ? 16 : 8;
  const width = per * 3 + per / 8; // an extra space after each 8 bytes
  const lines = [];
  for (let o = 0; o < n; o += per) {
    let h = '';
    for (let i = o; i < Math.min(n, o + per); i++) h += hex.substr(i * 2, 2) + (i % 8 === 7 ? '  ' : ' ');
    lines.push(`${o.toString(16).padStart(4, '0')}  ${h.padEnd(width)} ${text.slice(o, o + per)}`);
  }
  const wrap = el('div', {});
  wrap.append(el('div', { class: 'muted small', text: `${fmtInt(n)} of ${fmtInt(d.len)} payload bytes captured · frame ${fmtInt(d.caplen)}/${fmtInt(d.wirelen)} B` }));
  const tabs = el('div', { class: 'tabs' });
  const pre = el('pre', { class: 'hex', id: 'payload-hex', text: lines.join('\n') });
  const txt = el('pre', { class: 'text', id: 'payload-text', hidden: true, text: readable(hex, text) });
  const bHex = el('button', { class: 'on', onclick: () => { pre.hidden = false; txt.hidden = true; bHex.classList.add('on'); bTxt.classList.remove('on'); } }, 'hex');
  const bTxt = el('button', { onclick: () => { pre.hidden = true; txt.hidden = false; bTxt.classList.add('on'); bHex.classList.remove('on'); } }, 'text');
  tabs.append(bHex, bTxt);
  wrap.append(tabs, pre, txt);
  return wrap;
}

// The payload as text: printable ASCII as is, line feeds as new lines,
// carriage returns dropped, other bytes as '.'.
function readable(hex, text) {
  if (!hex) return text;
  let out = '';
  for (let i = 0; i + 1 < hex.length; i += 2) {
    const b = parseInt(hex.substr(i, 2), 16);
    if (b === 10) out += '\n';
    else if (b === 13) continue;
    else out += b >= 32 && b < 127 ? String.fromCharCode(b) : '.';
  }
  return out;
}
