// SPDX-License-Identifier: MIT
// filter.js - what is shown: filters (host, URL, status, minimum duration),
// the search text, hidden and focused connections / servers, and the view
// options (ack-only packets, arcs, scale in round trips, magnifier). Turns
// the model into the ordered list of visible servers and connections that
// the timeline lays out, and says which messages match.

import { requestUrl } from './model.js';

export class Filter {
  constructor() {
    this.host = '';
    this.url = '';
    this.status = '';
    this.minDurMs = 0;
    this.search = '';
    this.hiddenConns = new Set();
    this.hiddenServers = new Set();
    this.focusConn = null;
    this.focusServer = null;
    this.showAcks = true;
    this.showArcs = true;
    this.rttScale = false;
    this.magnifier = false;
    this.onlyMatching = true; // hide connections with no matching message
    this.version = 0;
    this._statusTest = null;
    this.statusBad = []; // parts of status that are not a status test
  }

  /** The parts of the status filter that mean nothing (and are ignored). */
  statusProblems() {
    this._status();
    return this.statusBad;
  }

  changed() {
    this.version++;
    this._statusTest = null;
  }

  /** True when any message-level filter is set. */
  get messageFiltered() {
    return !!(this.url || this.status || this.minDurMs > 0);
  }

  /** True when any filter of the filter bar is set (host is per server). */
  get filtered() {
    return !!this.host || this.messageFiltered;
  }

  get hiddenCount() {
    return this.hiddenConns.size + this.hiddenServers.size + (this.focusConn !== null ? 1 : 0) + (this.focusServer !== null ? 1 : 0);
  }

  unhideAll() {
    this.hiddenConns.clear();
    this.hiddenServers.clear();
    this.focusConn = null;
    this.focusServer = null;
    this.changed();
  }

  // "404", "4xx", ">=400", "<300", "!200", several with commas or spaces
  // (">= 400" too). What is none of these is left out of the test and
  // named in statusBad, for the field to say so.
  _status() {
    if (this._statusTest) return this._statusTest;
    const parts = this.status.replace(/(>=|<=|>|<|!)\s+/g, '$1').split(/[\s,]+/).filter(Boolean);
    const tests = [];
    const neg = [];
    this.statusBad = [];
    for (const p of parts) {
      let m;
      if ((m = /^!(\d{3}|\dxx)$/i.exec(p))) neg.push(codeTest(m[1]));
      else if ((m = /^(>=|<=|>|<)(\d{1,3})$/.exec(p))) {
        const v = +m[2];
        tests.push({ '>=': (s) => s >= v, '<=': (s) => s <= v, '>': (s) => s > v, '<': (s) => s < v }[m[1]]);
      } else if (/^(\d{3}|\dxx)$/i.test(p)) tests.push(codeTest(p));
      else this.statusBad.push(p);
    }
    this._statusTest = (s) => {
      if (!tests.length && !neg.length) return true; // nothing that means anything
      if (s === null || s === undefined) return tests.length === 0 && neg.length > 0 ? true : false;
      if (neg.some((t) => t(s))) return false;
      return tests.length ? tests.some((t) => t(s)) : true;
    };
    return this._statusTest;
  }

  /** Whether message m (of connection c) passes the message filters. */
  messageMatches(m, c, model) {
    if (!this.messageFiltered) return true;
    const req = m.kind === 'request' ? m : m.request ? model.msg(m.request) : null;
    const resp = m.kind === 'response' ? m : m.response ? model.msg(m.response) : null;
    if (this.url) {
      if (!(req ? urlLower(req, c) : '').includes(this.url.toLowerCase())) return false;
    }
    if (this.status && !this._status()(resp ? resp.status : null)) return false;
    if (this.minDurMs > 0) {
      const s = req ? req._s : m._s;
      const e = resp ? resp._e : m._e;
      if ((e - s) / 1000 < this.minDurMs) return false;
    }
    return true;
  }

  /** Whether message m matches the search text (for highlighting and n/N). */
  searchMatches(m, c, model) {
    const q = this.search.trim().toLowerCase();
    if (!q) return false;
    // The fields searched, lower-cased once a message (a keystroke on a
    // capture of 200,000 messages otherwise built every URL again), apart
    // by a NUL that typed text cannot hold, so no match spans two fields.
    if (m._hay === undefined) {
      const req = m.kind === 'request' ? m : m.request ? model.msg(m.request) : null;
      const hay = [];
      if (req) hay.push(req.method, urlLower(req, c));
      if (m.kind === 'response') hay.push(m.status ?? '', m.reason, m.content_type);
      m._hay = hay.filter((h) => h).map((h) => String(h).toLowerCase()).join('\0');
    }
    return m._hay.includes(q);
  }

  /**
   * The visible servers in order, each {id, server, conns, stats}, with only
   * its visible connections.
   */
  visible(model) {
    const out = [];
    const hostQ = this.host.trim().toLowerCase();
    for (const s of model.derived.servers) {
      if (this.hiddenServers.has(s.id)) continue;
      if (this.focusServer !== null && s.id !== this.focusServer) continue;
      if (hostQ) {
        const sv = s.server || {};
        const names = `${sv.name || ''} ${sv.addr || ''}:${sv.port || ''}`.toLowerCase();
        if (!names.includes(hostQ)) continue;
      }
      const conns = s.conns.filter((c) => {
        if (this.hiddenConns.has(c.id)) return false;
        if (this.focusConn !== null && c.id !== this.focusConn) return false;
        if (this.messageFiltered && this.onlyMatching) return c.messages.some((m) => this.messageMatches(m, c, model));
        return true;
      });
      if (conns.length) out.push({ ...s, conns });
    }
    return out;
  }
}

/** A request's URL as shown (requestUrl), lower-cased, made once a message:
 * the URL filter and the search both compare it so. */
function urlLower(req, c) {
  if (req._urlLower === undefined) req._urlLower = (requestUrl(req, c) || req.url || '').toLowerCase();
  return req._urlLower;
}

function codeTest(p) {
  if (/xx$/i.test(p)) {
    const c = +p[0];
    return (s) => Math.floor(s / 100) === c;
  }
  const v = +p;
  return (s) => s === v;
}
