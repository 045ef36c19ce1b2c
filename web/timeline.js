// SPDX-License-Identifier: MIT
// timeline.js - the canvas timeline: a time axis, one row per server with its
// name and statistics, under it one row per connection: a bar coloured by the
// connection's states, its HTTP messages as spans (requests in the upper half,
// responses in the lower half, coloured by content type, with status labels),
// its packets as ticks (client→server up, server→client down) with TCP
// analysis flags in colour, and arcs for referers and redirects. An expanded
// connection shows its charts (charts.js) under its row.
//
// Speed: only visible rows are drawn (binary search over row tops), packets
// and messages of a row are found by binary search by time, and dense packets
// are reduced to one tick per pixel column per direction by jumping (again by
// binary search) to the next column, so a frame costs O(visible columns × log
// n), not O(packets). Flagged packets come from a separate, short list so they
// always show. Drawing happens in requestAnimationFrame, only when something
// changed; the canvas is sized in device pixels for crisp lines on HiDPI.

import { C, PRINT_C, PRINT_STATES, STATE_COLOURS, CAT, CAT_COLOURS, ctColour, statusColour, fmtAxis, fmtDur, fmtBytes, niceStep, fmtInt, fmtCount, hostPort } from './format.js';
import { lowerBound, FL, DNS_LANES, requestLine, statusText } from './model.js';
import { drawCharts, chartsHeight, chartAt, chartValues } from './charts.js';

export const GUTTER = 230;
const SERVER_H = 34;
const CONN_H = 46;
const DNS_H = 40;
// Rows scrolled to within this of their bottom count as at the bottom
// (following live data keeps them there).
const ROW_STICK_PX = 8;
// Offsets inside a connection row.
const BAR_Y = 16;
const BAR_H = 14;
const STRIP_H = 3;
const UP_BASE = BAR_Y - 1; // c2s ticks grow up from here
const DOWN_BASE = BAR_Y + BAR_H + STRIP_H + 1; // s2c ticks grow down from here
const TICK_MAX = 12;
const MAG = 8; // magnifier's horizontal zoom

const MIN_UPP = 0.01; // µs per CSS pixel at the deepest zoom
const STATS_GAP = 16; // px between the parts of a server row's figures
const DNS_LABEL_MIN = 24; // px: a DNS label shorter than a few letters is left out

function seqEnd(c, i) {
  const f = c.fl[i];
  return c.seq[i] + c.len[i] + (f & FL.S ? 1 : 0) + (f & FL.F ? 1 : 0);
}

// a >= b modulo 2^32 (relative sequence numbers wrap after 4 GiB).
function seqGE(a, b) {
  return (((a - b) % 4294967296) + 4294967296) % 4294967296 < 2147483648;
}

export class Timeline {
  /**
   * els: {wrap, canvas, scroller, spacer, axis, overview, lens, tooltip}.
   * hooks: {onSelect(sel), onView(view), onHover(hit)}.
   */
  constructor(els, model, filter, hooks) {
    this.els = els;
    this.model = model;
    this.filter = filter;
    this.hooks = hooks;
    this.ctx = els.canvas.getContext('2d');
    this.axisCtx = els.axis.getContext('2d');
    this.ovCtx = els.overview.getContext('2d');
    this.lensCtx = els.lens.getContext('2d');
    this.dpr = window.devicePixelRatio || 1;
    this.W = 800;
    this.H = 600;
    this.c = 0; // centre, relative µs
    this.upp = 1000; // µs per CSS pixel
    this.view = { center_us: 0, us_per_px: 1000 };
    this.rows = [];
    this.rowTop = new Float64Array(0);
    this.rowOfConn = new Map();
    this.rowOfServer = new Map();
    this.totalH = 0;
    this.expanded = new Set();
    this.selection = null;
    this.hover = null;
    this.pointer = null; // {x, y} in canvas CSS px
    this.follow = false;
    this.followFit = true;
    this._frame = 0;
    this._layoutVersion = -1;
    this._fitted = false;
    this._ovBins = null;
    this._ovKey = '';
    this.stats = { frames: 0, lastMs: 0, avgMs: 0 };
    this._bind();
    this._resize();
  }

  // ------------------------------------------------------------ view state

  get plotW() {
    return Math.max(50, this.W - GUTTER);
  }

  get tL() {
    return this.c - (this.plotW / 2) * this.upp;
  }

  /**
   * Whether the view is still the one fit() (or following live data while
   * fitted) set: nothing panned or zoomed since. A resize keeps it fitted.
   */
  get fitted() {
    const f = this._fitView;
    return !!f && f.c === this.c && f.upp === this.upp;
  }

  get maxUpp() {
    const sp = this.model.span;
    return Math.max(((sp.t1 - sp.t0) * 4) / this.plotW, 50);
  }

  _syncView() {
    const o = this.model.origin ?? 0;
    this.view.center_us = Math.round(o + this.c);
    this.view.us_per_px = this.upp;
    this.hooks.onView?.(this.view);
    this._rehover();
  }

  // What is under a pointer that did not move changes with the view (keys,
  // fit, the slider) and with the rows' scroll (the wheel): the hover and
  // its tooltip follow, or go when nothing is under the pointer any more.
  _rehover() {
    if (this.pointer && !this._drag && this.rows) this._setHover(this.pick(this.pointer.x, this.pointer.y));
  }

  setView(c, upp) {
    const sp = this.model.span;
    upp = Math.min(Math.max(upp, MIN_UPP), this.maxUpp);
    const half = (this.plotW / 2) * upp;
    const lo = sp.t0 - half * 0.9;
    const hi = sp.t1 + half * 0.9;
    c = Math.min(Math.max(c, lo), hi);
    if (c === this.c && upp === this.upp) return;
    this.c = c;
    this.upp = upp;
    this._syncView();
    this.requestDraw();
  }

  /** Zoom by factor (>1 zooms out). anchorX (canvas px) stays put; default: the centre. */
  zoomBy(factor, anchorX = null) {
    this.followFit = false;
    const upp = Math.min(Math.max(this.upp * factor, MIN_UPP), this.maxUpp);
    if (anchorX === null || anchorX < GUTTER) {
      this.setView(this.c, upp);
      return;
    }
    const t = this.tL + (anchorX - GUTTER) * this.upp;
    const c = t - (anchorX - GUTTER) * upp + (this.plotW / 2) * upp;
    this.setView(c, upp);
  }

  /**
   * Zoom by factor from the keys or the toolbar: about the selected packet
   * or message when it is in view, which then stays where it is (and the
   * view stops following live data, or the next update would move it
   * away); else about the centre.
   */
  zoomStep(factor) {
    const t = this._selectionTime();
    const x = t === null ? null : GUTTER + (t - this.tL) / this.upp;
    if (x !== null && x >= GUTTER && x <= GUTTER + this.plotW) {
      this.follow = false;
      this.zoomBy(factor, x);
    } else {
      this.zoomBy(factor);
    }
  }

  // The selected packet's time, or the selected message's start; null
  // for anything else (a connection or server is no one point in time).
  _selectionTime() {
    const s = this.selection;
    if (s?.kind === 'packet') {
      const c = this.model.conn(s.conn);
      return c && s.idx < c.n ? c.t[s.idx] : null;
    }
    if (s?.kind === 'message') {
      const m = this.model.msg(s.msg);
      return m ? m._s : null;
    }
    return null;
  }

  /** Zoom to µs per px, keeping the centre (the slider). */
  zoomTo(upp) {
    this.followFit = false;
    this.setView(this.c, upp);
  }

  panBy(px) {
    this.follow = false;
    this.setView(this.c + px * this.upp, this.upp);
  }

  /** Show [t0, t1] (relative µs) across the plot. */
  showRange(t0, t1, margin = 0.04) {
    const d = Math.max(t1 - t0, 10);
    const upp = (d * (1 + 2 * margin)) / this.plotW;
    this.setView((t0 + t1) / 2, upp);
  }

  fit() {
    const sp = this.model.span;
    this.followFit = true;
    this.showRange(sp.t0, sp.t1);
    this._fitView = { c: this.c, upp: this.upp };
  }

  /**
   * Keep the latest data in view while capturing live: the whole capture
   * until the user zooms, then the zoom is kept and the end followed.
   */
  followEnd() {
    const sp = this.model.span;
    if (this.followFit) {
      this.showRange(sp.t0, sp.t1 + (sp.t1 - sp.t0) * 0.05);
      this._fitView = { c: this.c, upp: this.upp };
      return;
    }
    const right = this.c + (this.plotW / 2) * this.upp;
    if (sp.t1 > right - this.plotW * 0.05 * this.upp) {
      this.setView(sp.t1 - (this.plotW * 0.4) * this.upp, this.upp);
    }
  }

  // ------------------------------------------------------------ layout

  /** Recompute rows after a model, filter or expansion change. */
  layout() {
    const rows = [];
    let y = 0;
    const vis = this.filter.visible(this.model);
    this.visibleServers = vis;
    if (this.model.dns && this.model.dns.length) {
      rows.push({ kind: 'dns', y, h: DNS_H });
      y += DNS_H;
    }
    const rowOfConn = new Map();
    const rowOfServer = new Map();
    let nConns = 0;
    for (const s of vis) {
      rowOfServer.set(s.id, rows.length);
      rows.push({ kind: 'server', y, h: SERVER_H, srv: s });
      y += SERVER_H;
      let alt = 0;
      for (const c of s.conns) {
        const exp = this.expanded.has(c.id);
        const h = CONN_H + (exp ? chartsHeight() : 0);
        rowOfConn.set(c.id, rows.length);
        rows.push({ kind: 'conn', y, h, conn: c, srv: s, expanded: exp, alt: alt++ & 1 });
        y += h;
        nConns++;
      }
    }
    this.rows = rows;
    this.rowTop = new Float64Array(rows.map((r) => r.y));
    this.rowOfConn = rowOfConn;
    this.rowOfServer = rowOfServer;
    this.totalH = y + 40;
    this.visibleConnCount = nConns;
    this.els.spacer.style.height = `${this.totalH}px`;
    this.requestDraw();
  }

  /** The model changed (merge done): re-layout; fit on a new generation. */
  modelChanged(full) {
    this._ovKey = '';
    if (full) {
      this._fitted = false;
      this.selection = this.selection && this._selectionStillValid() ? this.selection : null;
    }
    const sc = this.els.scroller;
    const atBottom = sc.scrollTop + sc.clientHeight >= sc.scrollHeight - ROW_STICK_PX;
    this.layout();
    if (!this._fitted && (this.model.conns.size || full)) {
      // a new model with nothing in it yet fits too: the view must not
      // keep the range of the one it replaced
      this.fit();
      this._fitted = this.model.conns.size > 0;
    } else if (this.follow) {
      // the view follows the end, but not while the pointer rests on the
      // timeline: what it points at must not slide sideways from under a
      // click (a fitted view rescales with every update); it catches up
      // when the pointer leaves
      if (this.pointer && !this._drag) this._followLate = true;
      else this.followEnd();
      // rows scrolled to the bottom stay there, so new connections come
      // into sight; not while the pointer is on them (a row must not move
      // under a click), nor once the user scrolled up
      if (atBottom && !this.pointer && !this._drag) sc.scrollTop = sc.scrollHeight;
    }
    this._syncView();
  }

  _selectionStillValid(s = this.selection) {
    if (!s) return false;
    if (s.kind === 'message') return !!this.model.msg(s.msg);
    if (s.kind === 'dns') return !!this.model.dns[s.dns];
    if (s.kind === 'server') return this.model.servers.has(s.server);
    if (s.conn !== undefined) return !!this.model.conn(s.conn);
    return false;
  }

  /** Switch to the light print palette (true) and back; redraws at once. */
  setPrint(on) {
    if (on && !this._saved) {
      this._saved = { c: { ...C }, s: { ...STATE_COLOURS } };
      Object.assign(C, PRINT_C);
      Object.assign(STATE_COLOURS, PRINT_STATES);
    } else if (!on && this._saved) {
      Object.assign(C, this._saved.c);
      Object.assign(STATE_COLOURS, this._saved.s);
      this._saved = null;
    }
    this._resize();
    this.draw();
  }

  toggleExpand(connId) {
    if (this.expanded.has(connId)) this.expanded.delete(connId);
    else this.expanded.add(connId);
    this.layout();
  }

  // ------------------------------------------------------------ DOM events

  _bind() {
    const sc = this.els.scroller;
    const ro = new ResizeObserver(() => this._resize());
    ro.observe(this.els.wrap);
    sc.addEventListener('scroll', () => {
      this._rehover();
      this.requestDraw();
    }, { passive: true });
    sc.addEventListener('wheel', (e) => this._wheel(e), { passive: false });
    sc.addEventListener('pointerdown', (e) => this._down(e));
    sc.addEventListener('pointermove', (e) => this._move(e));
    sc.addEventListener('pointerup', (e) => this._up(e));
    sc.addEventListener('pointercancel', () => { this._drag = null; });
    sc.addEventListener('pointerleave', () => {
      this.pointer = null;
      this._setHover(null);
      this.els.lens.hidden = true;
      if (this._followLate) {
        this._followLate = false;
        if (this.follow) {
          this.followEnd();
          this._syncView();
        }
      }
    });
    sc.addEventListener('dblclick', (e) => {
      const hit = this.pick(e.offsetX, e.offsetY);
      if (hit && hit.kind === 'message' && this.hooks.onOpenMessage?.(hit.msg)) return;
      if (hit && hit.conn !== undefined && hit.kind !== 'server') this.toggleExpand(hit.conn);
    });
    const ov = this.els.overview;
    const ovPan = (e) => {
      const r = ov.getBoundingClientRect();
      const sp = this.model.span;
      const x = Math.min(Math.max(e.clientX - r.left, 0), r.width);
      this.follow = false;
      this.setView(sp.t0 + (x / r.width) * (sp.t1 - sp.t0), this.upp);
    };
    ov.addEventListener('pointerdown', (e) => {
      ov.setPointerCapture(e.pointerId);
      this._ovDrag = true;
      ovPan(e);
    });
    ov.addEventListener('pointermove', (e) => { if (this._ovDrag) ovPan(e); });
    ov.addEventListener('pointerup', () => { this._ovDrag = false; });
    window.addEventListener('resize', () => {
      if ((window.devicePixelRatio || 1) !== this.dpr) this._resize();
    });
  }

  _resize() {
    const sc = this.els.scroller;
    // the first call (from the constructor) has no view to keep yet
    const was = this._sized ? { plotW: this.plotW, tL: this.tL, fitted: this.fitted } : null;
    this._sized = true;
    this.dpr = window.devicePixelRatio || 1;
    const w = sc.clientWidth || 800;
    const h = sc.clientHeight || 600;
    this.W = w;
    this.H = h;
    const setup = (cv, cw, ch) => {
      cv.width = Math.round(cw * this.dpr);
      cv.height = Math.round(ch * this.dpr);
      cv.style.width = `${cw}px`;
      cv.style.height = `${ch}px`;
    };
    setup(this.els.canvas, w, h);
    setup(this.els.axis, w, this.els.axis.clientHeight || 30);
    this.axisH = this.els.axis.clientHeight || 30;
    const ovW = this.els.overview.clientWidth || w;
    this.ovH = this.els.overview.clientHeight || 34;
    this.ovW = ovW;
    this.els.overview.width = Math.round(ovW * this.dpr);
    this.els.overview.height = Math.round(this.ovH * this.dpr);
    this._ovKey = '';
    if (was && this.plotW !== was.plotW) this._keepView(was);
    this.requestDraw();
  }

  // The plot got wider or narrower (the window, the detail panel hidden or
  // dragged). A fitted view is fitted again to the new width; any other
  // keeps its zoom and its left edge, where reading starts. Keeping the
  // centre, as setView would, spreads a fitted view over empty time on
  // both sides (-30 s … 90 s for a capture of 60 s).
  _keepView(was) {
    if (was.fitted) {
      if (this.follow && this.followFit) this.followEnd();
      else this.fit();
      return;
    }
    const upp = Math.min(this.upp, this.maxUpp);
    this.setView(was.tL + (this.plotW / 2) * upp, upp);
  }

  _wheel(e) {
    const x = e.offsetX;
    if (e.ctrlKey || e.metaKey) {
      e.preventDefault();
      const dy = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
      this.follow = false;
      this.zoomBy(Math.exp(dy * 0.0025), x);
      return;
    }
    const horiz = e.shiftKey ? e.deltaY || e.deltaX : Math.abs(e.deltaX) > Math.abs(e.deltaY) ? e.deltaX : 0;
    if (horiz) {
      e.preventDefault();
      this.panBy(e.deltaMode === 1 ? horiz * 16 : horiz);
    }
    // otherwise: native vertical scroll
  }

  _down(e) {
    if (e.button !== 0) return;
    this.els.scroller.setPointerCapture(e.pointerId);
    this._drag = { x: e.clientX, y: e.clientY, c: this.c, st: this.els.scroller.scrollTop, moved: false };
  }

  _move(e) {
    const d = this._drag;
    if (d) {
      const dx = e.clientX - d.x, dy = e.clientY - d.y;
      if (!d.moved && Math.abs(dx) + Math.abs(dy) > 4) {
        d.moved = true;
        this.els.scroller.classList.add('dragging');
      }
      if (d.moved) {
        this.follow = false;
        this.setView(d.c - dx * this.upp, this.upp);
        this.els.scroller.scrollTop = d.st - dy;
        return;
      }
    }
    this.pointer = { x: e.offsetX, y: e.offsetY, cx: e.clientX, cy: e.clientY };
    this._setHover(this.pick(e.offsetX, e.offsetY));
    if (this.filter.magnifier) this.requestDraw();
  }

  _up(e) {
    const d = this._drag;
    this._drag = null;
    this.els.scroller.classList.remove('dragging');
    if (!d || d.moved) return;
    const hit = this.pick(e.offsetX, e.offsetY);
    if (hit && hit.kind === 'gutter-toggle') {
      this.toggleExpand(hit.conn);
      this.select({ kind: 'conn', conn: hit.conn }, false);
      return;
    }
    const sel = hit ? selectionOf(hit) : null;
    // a click on a row whose traffic is out of view brings it into view
    let reveal = false;
    if (sel && sel.kind === 'conn') {
      const c = this.model.conn(sel.conn);
      const tL = this.tL, tR = tL + this.plotW * this.upp;
      reveal = !!c && (c.t1 < tL || c.t0 > tR);
    }
    this.select(sel, reveal);
  }

  _setHover(hit) {
    const same = JSON.stringify(hit && selectionOf(hit)) === JSON.stringify(this.hover && selectionOf(this.hover));
    this.hover = hit;
    if (!same || (hit && hit.kind === 'chart')) {
      this.hooks.onHover?.(hit, this.pointer);
      this.requestDraw();
    } else if (this.pointer) {
      this.hooks.onHover?.(hit, this.pointer, true);
    }
  }

  // ------------------------------------------------------------ selection

  /** Select {kind:'packet',conn,idx} | {kind:'message',msg} | {kind:'conn',conn} | {kind:'server',server} | null. */
  select(sel, reveal = true) {
    this.selection = sel;
    if (sel && reveal) this.reveal(sel);
    this.hooks.onSelect?.(sel);
    this.requestDraw();
  }

  /** Scroll and pan so that sel is in view. */
  reveal(sel) {
    let row = null, t = null;
    if (sel.kind === 'packet') {
      const c = this.model.conn(sel.conn);
      if (!c) return;
      row = this.rowOfConn.get(c.id);
      t = c.t[sel.idx];
    } else if (sel.kind === 'message') {
      const m = this.model.msg(sel.msg);
      if (!m) return;
      row = this.rowOfConn.get(m._conn);
      const tL = this.tL, tR = tL + this.plotW * this.upp;
      if (m._s >= tL && m._e <= tR) t = null;
      else if (m._e - m._s < this.plotW * this.upp * 0.8) t = (m._s + m._e) / 2;
      else t = m._s + this.plotW * this.upp * 0.35;
    } else if (sel.kind === 'conn') {
      row = this.rowOfConn.get(sel.conn);
      const c = this.model.conn(sel.conn);
      const tL = this.tL, tR = tL + this.plotW * this.upp;
      if (c && (c.t1 < tL || c.t0 > tR)) t = c.t0 + this.plotW * this.upp * 0.3;
    } else if (sel.kind === 'server') {
      row = this.rowOfServer.get(sel.server);
    }
    if (t !== null && t !== undefined) {
      const tL = this.tL, tR = tL + this.plotW * this.upp;
      const margin = this.plotW * this.upp * 0.08;
      if (t < tL + margin || t > tR - margin) {
        this.follow = false;
        this.setView(t, this.upp);
      }
    }
    if (row !== null && row !== undefined) {
      const r = this.rows[row];
      const sc = this.els.scroller;
      if (r.y < sc.scrollTop + 4) sc.scrollTop = Math.max(0, r.y - 40);
      else if (r.y + Math.min(r.h, CONN_H) > sc.scrollTop + this.H - 4) sc.scrollTop = r.y + Math.min(r.h, CONN_H) - this.H + 40;
    }
  }

  // ------------------------------------------------------------ hit testing

  rowAtY(y) {
    const yy = y + this.els.scroller.scrollTop;
    const k = lowerBound(this.rowTop, yy + 0.0001) - 1;
    if (k < 0 || k >= this.rows.length) return -1;
    const r = this.rows[k];
    return yy < r.y + r.h ? k : -1;
  }

  /** What is at canvas position (x, y): a hit object or null. */
  pick(x, y) {
    const k = this.rowAtY(y);
    if (k < 0) return null;
    const r = this.rows[k];
    const ly = y + this.els.scroller.scrollTop - r.y;
    if (r.kind === 'server') return { kind: 'server', server: r.srv.id };
    if (r.kind === 'dns') {
      const m = this.model;
      const t = this.tL + (x - GUTTER) * this.upp;
      const lane = Math.min(DNS_LANES - 1, Math.max(0, Math.floor((ly - 3) / ((DNS_H - 6) / DNS_LANES))));
      let best = null, bd = 6 * this.upp;
      let k = lowerBound(m.dnsT, t - m.dnsMaxDur - bd);
      for (; k < m.dns.length && m.dns[k]._s <= t + bd; k++) {
        const d = m.dns[k];
        const dd = (t < d._s ? d._s - t : t > d._e ? t - d._e : 0) + (d._lane === lane ? 0 : bd * 0.5);
        if (dd <= bd) { bd = dd; best = k; }
      }
      return best === null ? null : { kind: 'dns', dns: best };
    }
    const c = r.conn;
    if (x < GUTTER) {
      if (x < 22 && ly < CONN_H) return { kind: 'gutter-toggle', conn: c.id };
      return { kind: 'conn', conn: c.id };
    }
    const t = this.tL + (x - GUTTER) * this.upp;
    if (ly >= CONN_H) {
      const ch = chartAt(ly - CONN_H);
      return ch >= 0 ? { kind: 'chart', conn: c.id, chart: ch, t } : { kind: 'conn', conn: c.id };
    }
    const slack = 5 * this.upp;
    const inUp = ly < BAR_Y;
    const inDown = ly >= BAR_Y + BAR_H;
    if (inUp || inDown) {
      const i = this.nearestPacket(c, inUp ? 0 : 1, t, slack);
      if (i >= 0) return { kind: 'packet', conn: c.id, idx: i };
    }
    // the bar: request half / response half
    const wantKind = ly < BAR_Y + BAR_H / 2 ? 'request' : 'response';
    let best = -1, bd = Infinity;
    let j = lowerBound(c.mt, t - c.maxMsgDur - slack);
    for (; j < c.messages.length && c.messages[j]._s <= t + slack; j++) {
      const m = c.messages[j];
      const d = (t < m._s ? m._s - t : t > m._e ? t - m._e : 0) + (m.kind === wantKind ? 0 : slack * 0.5);
      if (d <= slack && d < bd) { bd = d; best = j; }
    }
    if (best >= 0) return { kind: 'message', msg: c.messages[best].id, conn: c.id };
    const i = this.nearestPacket(c, ly < BAR_Y + BAR_H / 2 ? 0 : 1, t, slack);
    if (i >= 0) return { kind: 'packet', conn: c.id, idx: i };
    return { kind: 'conn', conn: c.id };
  }

  /** Packet list for a direction, honouring the ack-only toggle. */
  list(c, dir) {
    return this.filter.showAcks ? c.all[dir] : c.data[dir];
  }

  nearestPacket(c, dir, t, slack) {
    let best = -1, bd = slack;
    const consider = (l, k) => {
      if (k < 0 || k >= l.t.length) return;
      const i = l.i[k];
      if (l === c.notable && c.dir[i] !== dir) return;
      const d = Math.abs(l.t[k] - t);
      // flagged packets win ties, they are what people hover for
      const dd = c.cat[i] >= CAT.OTHER ? d * 0.6 : d;
      if (dd <= bd) { bd = dd; best = i; }
    };
    const l = this.list(c, dir);
    const k = lowerBound(l.t, t);
    consider(l, k - 1);
    consider(l, k);
    const nl = c.notable;
    let kn = lowerBound(nl.t, t - slack);
    for (; kn < nl.t.length && nl.t[kn] <= t + slack; kn++) consider(nl, kn);
    return best;
  }

  /** Packet pairs for the ACK relationship of packet i: [[data, ack], ...]. */
  ackPartners(c, i) {
    const out = [];
    const d = c.dir[i];
    const LIMIT = 50000;
    if (c.len[i] > 0 || (c.fl[i] & (FL.S | FL.F))) {
      const end = seqEnd(c, i);
      for (let j = i + 1; j < c.n && j < i + LIMIT; j++) {
        if (c.dir[j] !== d && c.ack[j] >= 0 && seqGE(c.ack[j], end)) {
          out.push([i, j]);
          break;
        }
      }
    }
    if (c.ack[i] >= 0) {
      const a = c.ack[i];
      let first = -1; // an earlier packet this way with the same ACK: i only repeats it
      for (let j = i - 1; j >= 0 && j > i - LIMIT; j--) {
        if (c.dir[j] === d) {
          if (c.ack[j] === a) first = j;
          continue;
        }
        if ((c.len[j] > 0 || (c.fl[j] & (FL.S | FL.F))) && seqEnd(c, j) === a) {
          out.push(first >= 0 ? [j, i, first] : [j, i]);
          break;
        }
      }
    }
    return out;
  }

  // ------------------------------------------------------------ navigation

  /** Step the packet selection by dir (+1/-1) on the selected connection. */
  stepPacket(step) {
    const s = this.selection;
    if (!s) return this._selectFirst();
    const c = this.model.conn(s.conn ?? (s.kind === 'message' ? this.model.msg(s.msg)?._conn : null));
    if (!c || !c.n) return;
    let i;
    if (s.kind === 'packet') {
      i = s.idx + step;
      if (!this.filter.showAcks) {
        while (i >= 0 && i < c.n && !(c.len[i] > 0 || (c.fl[i] & (FL.S | FL.F | FL.R)) || c.cat[i] >= CAT.OTHER)) i += step;
      }
    } else if (s.kind === 'message') {
      const m = this.model.msg(s.msg);
      i = step > 0 ? m.first_packet : Math.max(0, m.first_packet - 1);
    } else {
      i = step > 0 ? 0 : c.n - 1;
    }
    if (i < 0 || i >= c.n) return;
    this.select({ kind: 'packet', conn: c.id, idx: i });
  }

  /** Step the message selection within the connection (or start at the first). */
  stepMessage(step) {
    const s = this.selection;
    if (!s) return this._selectFirst(true);
    const cid = s.kind === 'message' ? this.model.msg(s.msg)?._conn : s.conn;
    const c = this.model.conn(cid);
    if (!c || !c.messages.length) return;
    let k;
    if (s.kind === 'message') {
      k = c.messages.findIndex((m) => m.id === s.msg) + step;
    } else if (s.kind === 'packet') {
      const t = c.t[s.idx];
      k = step > 0 ? lowerBound(c.mt, t + 0.5) : lowerBound(c.mt, t) - 1;
    } else {
      k = step > 0 ? 0 : c.messages.length - 1;
    }
    if (k < 0 || k >= c.messages.length) {
      // on to the next / previous visible connection
      const r = this.rowOfConn.get(c.id);
      for (let q = r + step; q >= 0 && q < this.rows.length; q += step) {
        const rr = this.rows[q];
        if (rr.kind === 'conn' && rr.conn.messages.length) {
          const ms = rr.conn.messages;
          this.select({ kind: 'message', msg: ms[step > 0 ? 0 : ms.length - 1].id, conn: rr.conn.id });
          return;
        }
      }
      return;
    }
    this.select({ kind: 'message', msg: c.messages[k].id, conn: c.id });
  }

  /**
   * Move to the connection row above/below, keeping the time. A run of
   * these steps keeps the time it started from, and a row it comes back to
   * gets what was selected there, so ↓ ↓ ↑ ↑ ends where it began.
   */
  stepRow(step) {
    const s = this.selection;
    if (!s) return this._selectFirst();
    const cid = s.kind === 'message' ? this.model.msg(s.msg)?._conn : s.conn;
    let t = this._selectionTime() ?? this.c;
    let run = this._rowRun;
    if (run && run.sel === s) t = run.t;
    else run = this._rowRun = { t, sel: s, at: new Map(cid !== undefined ? [[cid, s]] : []) };
    let r = s.kind === 'server' ? this.rowOfServer.get(s.server) : this.rowOfConn.get(cid);
    if (r === undefined) return this._selectFirst();
    for (r += step; r >= 0 && r < this.rows.length; r += step) {
      const rr = this.rows[r];
      if (rr.kind !== 'conn') continue;
      const c = rr.conn;
      const was = run.at.get(c.id);
      let sel;
      if (was && was.kind === s.kind && this._selectionStillValid(was)) {
        sel = was;
      } else if (s.kind === 'message' && c.messages.length) {
        let k = lowerBound(c.mt, t);
        if (k > 0 && (k >= c.messages.length || t - c.mt[k - 1] < c.mt[k] - t)) k--;
        sel = { kind: 'message', msg: c.messages[k].id, conn: c.id };
      } else if (s.kind === 'packet' && c.n) {
        let k = c.packetAt(t);
        if (k >= c.n) k = c.n - 1;
        sel = { kind: 'packet', conn: c.id, idx: k };
      } else {
        sel = { kind: 'conn', conn: c.id };
      }
      run.at.set(c.id, sel);
      run.sel = sel;
      this.select(sel);
      return;
    }
  }

  // Nothing selected yet: the first message (or packet) in view on the
  // topmost visible connection.
  _selectFirst(message = false) {
    const sc = this.els.scroller.scrollTop;
    const tL = this.tL;
    for (const r of this.rows) {
      if (r.kind !== 'conn' || r.y + r.h < sc) continue;
      const c = r.conn;
      if (message && c.messages.length) {
        let k = lowerBound(c.mt, tL);
        if (k >= c.messages.length) k = 0;
        this.select({ kind: 'message', msg: c.messages[k].id, conn: c.id });
        return;
      }
      if (!message && c.n) {
        let k = c.packetAt(tL);
        if (k >= c.n) k = 0;
        this.select({ kind: 'packet', conn: c.id, idx: k });
        return;
      }
      if (message) continue;
      this.select({ kind: 'conn', conn: c.id });
      return;
    }
  }

  // ------------------------------------------------------------ drawing

  requestDraw() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      this.draw();
    });
  }

  /** Draw now (also used by benchmarks). */
  draw() {
    const t0 = performance.now();
    const { ctx, dpr, W, H } = this;
    const scrollTop = this.els.scroller.scrollTop;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = C.bg;
    ctx.fillRect(0, 0, W, H);
    const f = { ctx, x0: GUTTER, w: this.plotW, tL: this.tL, upp: this.upp, magnified: false };
    const grid = this._grid();
    this._drawGrid(ctx, grid, H);

    // rows
    let k = Math.max(0, lowerBound(this.rowTop, scrollTop) - 1);
    const first = k;
    ctx.save();
    ctx.beginPath();
    ctx.rect(GUTTER, 0, this.plotW, H);
    ctx.clip();
    for (; k < this.rows.length && this.rows[k].y < scrollTop + H; k++) {
      const r = this.rows[k];
      this._drawRow(f, r, r.y - scrollTop);
    }
    const last = k;
    if (this.filter.showArcs) {
      this._drawArcs(f, scrollTop);
      this._drawDnsLinks(f, scrollTop);
      // the server rows' figures stay readable where the lines cross them
      for (let q = first; q < last && !f.magnified; q++) {
        const r = this.rows[q];
        if (r.kind === 'server') this._serverStats(ctx, r, r.y - scrollTop, true);
      }
    }
    this._drawOverlays(f, scrollTop);
    ctx.restore();
    this._drawGutter(ctx, first, last, scrollTop);
    this._drawStickyServer(f, first, scrollTop);
    if (!this.rows.length) this._drawEmpty(ctx);
    this._drawAxis(grid);
    this._drawOverview();
    if (this.filter.magnifier && this.pointer && this.pointer.x > GUTTER) this._drawLens();
    else this.els.lens.hidden = true;
    const ms = performance.now() - t0;
    this.stats.frames++;
    this.stats.lastMs = ms;
    this.stats.avgMs = this.stats.avgMs ? this.stats.avgMs * 0.9 + ms * 0.1 : ms;
  }

  _drawEmpty(ctx) {
    ctx.fillStyle = C.textDim;
    ctx.font = '14px system-ui, sans-serif';
    ctx.textAlign = 'center';
    const msg = this.model.conns.size
      ? 'Every connection is hidden by the filters. Press u to show all, or clear the filters.'
      : this.hooks.emptyText?.() || 'No HTTP connections yet. Press start and load a page, or drop a pcap file here.';
    msg.split('\n').forEach((line, i) => ctx.fillText(line, this.W / 2, 120 + i * 22));
    ctx.textAlign = 'left';
  }

  // Grid: time (or round trips) steps over the visible range.
  _grid() {
    const tL = this.tL, upp = this.upp, w = this.plotW;
    const lines = [];
    const rtt = this.filter.rttScale ? this._rttUnit() : null;
    if (rtt) {
      const stepN = niceStep((90 * upp) / rtt.rtt);
      const step = stepN * rtt.rtt;
      let k = Math.ceil((tL - rtt.origin) / step);
      for (let t = rtt.origin + k * step; t <= tL + w * upp; t = rtt.origin + ++k * step) {
        const n = +(k * stepN).toFixed(6);
        lines.push({ t, label: `${n} RTT`, major: k % 5 === 0 });
      }
      return { lines, rtt };
    }
    const step = niceStep(100 * upp);
    let k = Math.ceil(tL / step);
    for (let t = k * step; t <= tL + w * upp; t = ++k * step) {
      lines.push({ t, label: fmtAxis(t, step), major: k % 5 === 0 });
    }
    return { lines, step };
  }

  // The round-trip unit: the selected connection's RTT, else the typical one.
  _rttUnit() {
    const s = this.selection;
    let c = null;
    if (s) c = this.model.conn(s.kind === 'message' ? this.model.msg(s.msg)?._conn : s.conn);
    const rtt = (c && c.rtt) || this.model.derived.rtt;
    if (!rtt) return null;
    return { rtt, origin: c ? c.t0 : this.model.span.t0, conn: c };
  }

  _drawGrid(ctx, grid, H) {
    ctx.lineWidth = 1;
    for (const g of grid.lines) {
      const x = Math.round(GUTTER + (g.t - this.tL) / this.upp) + 0.5;
      ctx.strokeStyle = g.major ? C.gridMajor : C.grid;
      ctx.beginPath();
      ctx.moveTo(x, 0);
      ctx.lineTo(x, H);
      ctx.stroke();
    }
  }

  _drawAxis(grid) {
    const ctx = this.axisCtx;
    const h = this.axisH;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = C.axisBg;
    ctx.fillRect(0, 0, this.W + 20, h);
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.fillStyle = C.textDim;
    ctx.fillText(grid.rtt ? `round trips of ${fmtDur(grid.rtt.rtt)}` : 'time from first packet', 10, h / 2);
    ctx.save();
    ctx.beginPath();
    ctx.rect(GUTTER, 0, this.plotW, h);
    ctx.clip();
    for (const g of grid.lines) {
      const x = Math.round(GUTTER + (g.t - this.tL) / this.upp) + 0.5;
      ctx.strokeStyle = C.gridMajor;
      ctx.beginPath();
      ctx.moveTo(x, h - 6);
      ctx.lineTo(x, h);
      ctx.stroke();
      ctx.fillStyle = g.major ? C.text : C.textDim;
      ctx.fillText(g.label, x + 4, h / 2 - 1);
    }
    // pointer time
    if (this.pointer && this.pointer.x > GUTTER) {
      const t = this.tL + (this.pointer.x - GUTTER) * this.upp;
      const label = grid.rtt ? `${((t - grid.rtt.origin) / grid.rtt.rtt).toFixed(2)} RTT` : fmtAxis(t, Math.max(this.upp, 0.01));
      ctx.font = '11px ui-monospace, monospace';
      const tw = ctx.measureText(label).width + 10;
      const x = Math.min(this.pointer.x, this.W - tw);
      ctx.fillStyle = '#2f6feb';
      ctx.fillRect(x, 3, tw, h - 6);
      ctx.fillStyle = '#fff';
      ctx.fillText(label, x + 5, h / 2);
    }
    ctx.restore();
    ctx.fillStyle = '#2a2c33';
    ctx.fillRect(0, h - 1, this.W + 20, 1);
  }

  _drawRow(f, r, y) {
    const ctx = f.ctx;
    if (r.kind === 'server') {
      ctx.fillStyle = C.serverRow;
      ctx.fillRect(f.x0, y, f.w, r.h);
      ctx.fillStyle = C.sep;
      ctx.fillRect(f.x0, y, f.w, 1);
      if (!f.magnified) this._serverStats(ctx, r, y);
      return;
    }
    if (r.kind === 'dns') {
      this._drawDns(f, y);
      return;
    }
    const c = r.conn;
    const sel = this.selection;
    const selected = sel && (sel.conn === c.id || (sel.kind === 'message' && this.model.msg(sel.msg)?._conn === c.id));
    if (selected) {
      ctx.fillStyle = C.rowSel;
      ctx.fillRect(f.x0, y, f.w, CONN_H);
    } else if (r.alt) {
      ctx.fillStyle = C.rowAlt;
      ctx.fillRect(f.x0, y, f.w, CONN_H);
    }
    this._drawConn(f, c, y);
    if (r.expanded) drawCharts(f, c, y + CONN_H, this.hover && this.hover.kind === 'chart' && this.hover.conn === c.id ? this.hover.t : null);
  }

  // The handshake's fill: diagonal stripes, so it reads as "not yet open".
  _stripes(ctx) {
    const key = STATE_COLOURS.handshake + STATE_COLOURS.active;
    if (this._stripeKey === key && this._stripeCtx === ctx) return this._stripe;
    const cv = document.createElement('canvas');
    cv.width = cv.height = 8;
    const g = cv.getContext('2d');
    g.fillStyle = STATE_COLOURS.active;
    g.fillRect(0, 0, 8, 8);
    g.strokeStyle = STATE_COLOURS.handshake;
    g.lineWidth = 2.5;
    g.beginPath();
    g.moveTo(-2, 10); g.lineTo(10, -2);
    g.moveTo(-2, 2); g.lineTo(2, -2);
    g.moveTo(6, 10); g.lineTo(10, 6);
    g.stroke();
    this._stripe = ctx.createPattern(cv, 'repeat');
    this._stripeKey = key;
    this._stripeCtx = ctx;
    return this._stripe;
  }

  // The server row's figures, in reading order; rank says what stays when
  // the plot is too narrow for all (lowest first): the warnings, then the
  // counts and the error statuses, the bytes and TTFB last.
  _serverStats(ctx, r, y, backdrop = false) {
    const s = r.srv.stats;
    const dim = C.textDim;
    const parts = [
      { txt: fmtCount(s.conns, 'conn'), col: dim, rank: 3 },
      { txt: `${fmtInt(s.requests)} req`, col: dim, rank: 4 },
      { txt: `↓ ${fmtBytes(s.bytes_s2c)}  ↑ ${fmtBytes(s.bytes_c2s)}`, col: dim, rank: 7 },
    ];
    if (s.ttfb_median !== null) parts.push({ txt: `TTFB median ${fmtDur(s.ttfb_median)} · max ${fmtDur(s.ttfb_max)}`, col: dim, rank: 8 });
    // one part per status class, close together, so 5xx outlasts 2xx
    let first = true;
    for (const [k, v] of Object.entries(s.status).sort()) {
      parts.push({ txt: `${fmtInt(v)}× ${k}`, col: dim, rank: k === '4xx' || k === '5xx' ? 5 : 6, gap: first ? STATS_GAP : 5 });
      first = false;
    }
    if (s.retransmits) parts.push({ txt: fmtCount(s.retransmits, 'retransmit'), col: CAT_COLOURS[CAT.RETRANS], rank: 2 });
    if (s.resets) parts.push({ txt: fmtCount(s.resets, 'reset'), col: CAT_COLOURS[CAT.RESET], rank: 1 });
    if (s.errors) parts.push({ txt: fmtCount(s.errors, 'parse error'), col: '#ff5c5c', rank: 0 });
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    for (const { txt, col, x, tw } of fitParts(ctx, parts, GUTTER + 10, this.plotW - 18)) {
      if (backdrop) {
        // drawn again over the arcs and DNS links, which would cross it
        ctx.fillStyle = C.serverRow;
        ctx.fillRect(x - 3, y + r.h / 2 - 7, tw + 6, 15);
      }
      ctx.fillStyle = col;
      ctx.fillText(txt, x, y + r.h / 2 + 1);
    }
  }

  _drawDns(f, y) {
    const { ctx, x0, w, tL, upp } = f;
    const m = this.model;
    const tR = tL + w * upp;
    ctx.fillStyle = C.serverRow;
    ctx.fillRect(x0, y, w, DNS_H);
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    const laneH = (DNS_H - 6) / DNS_LANES;
    const lastX = new Array(DNS_LANES).fill(-1e9);
    const labelEnd = new Array(DNS_LANES).fill(-1e9);
    const sel = this.selection && this.selection.kind === 'dns' ? this.selection.dns : -1;
    let k = lowerBound(m.dnsT, tL - m.dnsMaxDur - upp);
    for (; k < m.dns.length && m.dns[k]._s <= tR; k++) {
      const d = m.dns[k];
      const xs = x0 + (d._s - tL) / upp;
      const xe = Math.max(xs + 2, x0 + (d._e - tL) / upp);
      if (xe < x0) continue;
      const l = d._lane;
      const ly = y + 3 + l * laneH;
      const bad = d.rcode && d.rcode !== 'NOERROR';
      // one bar a pixel per lane; a lookup merged into the one before can
      // still have the label, so a dense run is named by its last lookup
      if (xe >= lastX[l] + 0.75 || k === sel) {
        lastX[l] = xe;
        ctx.fillStyle = d.answer_us === null ? '#7a6a4a' : bad ? '#b36b5e' : C.dns;
        ctx.fillRect(xs, ly + 1, xe - xs, laneH - 2);
        if (k === sel) {
          ctx.strokeStyle = C.select;
          ctx.strokeRect(xs - 1, ly, xe - xs + 2, laneH);
        }
      }
      if (xe + 3 <= labelEnd[l] || f.magnified) continue;
      // the label runs up to the next lookup in its lane or the plot's
      // edge, cut with "…"; where not even a few letters fit, none is drawn
      const lx = xe + 3;
      const room = Math.floor(this._dnsLabelEnd(f, k) - 4 - lx);
      if (room < DNS_LABEL_MIN) continue;
      const label = `${d.name}${d.type && d.type !== 'A' ? ` ${d.type}` : ''}${bad ? ` ${d.rcode}` : ''}`;
      const txt = ellipsize(ctx, label, room);
      const tw = ctx.measureText(txt).width;
      ctx.fillStyle = bad ? '#e39a8c' : C.textDim;
      ctx.fillText(txt, lx, ly + laneH / 2);
      labelEnd[l] = lx + tw + 8;
      lastX[l] = Math.max(lastX[l], lx + tw);
    }
  }

  // How far lookup k's label may run: to the start of the next lookup in
  // its lane, else to the plot's right edge.
  _dnsLabelEnd(f, k) {
    const m = this.model;
    const edge = f.x0 + f.w;
    const tR = f.tL + f.w * f.upp;
    const lane = m.dns[k]._lane;
    for (let j = k + 1; j < m.dns.length && m.dns[j]._s <= tR; j++) {
      if (m.dns[j]._lane === lane) return Math.min(edge, f.x0 + (m.dns[j]._s - f.tL) / f.upp);
    }
    return edge;
  }

  // Dashed lines from a DNS answer to the connection it led to.
  _drawDnsLinks(f, scrollTop) {
    const links = this.model.derived.dnsLinks;
    const dnsRow = this.rows[0];
    if (!links.length || !dnsRow || dnsRow.kind !== 'dns') return;
    const { ctx, x0, w, tL, upp } = f;
    const laneH = (DNS_H - 6) / DNS_LANES;
    ctx.strokeStyle = 'rgba(192,163,110,0.45)';
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    let n = 0;
    for (const l of links) {
      const r = this.rowOfConn.get(l.conn);
      if (r === undefined) continue;
      const x1 = x0 + (l.t - tL) / upp, x2 = x0 + (l.t2 - tL) / upp;
      if ((x1 < x0 && x2 < x0) || (x1 > x0 + w && x2 > x0 + w)) continue;
      const d = this.model.dns[l.dns];
      const y1 = dnsRow.y - scrollTop + 3 + d._lane * laneH + laneH / 2;
      const y2 = this.rows[r].y - scrollTop + BAR_Y + BAR_H / 2;
      if (y1 > this.H || y2 < 0) continue;
      ctx.moveTo(x1, y1);
      ctx.bezierCurveTo(x1, (y1 + y2) / 2, x2, (y1 + y2) / 2, x2, y2);
      if (++n > 3000) break;
    }
    ctx.stroke();
    ctx.setLineDash([]);
  }

  _drawConn(f, c, y) {
    const { ctx, x0, w, tL, upp } = f;
    const tR = tL + w * upp;
    const X = (t) => x0 + (t - tL) / upp;
    if (c.t1 < tL - 2 * upp || c.t0 > tR + 2 * upp) {
      // off screen: a faint marker at the edge pointing to it
      ctx.fillStyle = C.textFaint;
      const ax = c.t1 < tL ? x0 + 2 : x0 + w - 8;
      const ay = y + BAR_Y + BAR_H / 2;
      ctx.beginPath();
      if (c.t1 < tL) {
        ctx.moveTo(ax, ay); ctx.lineTo(ax + 6, ay - 4); ctx.lineTo(ax + 6, ay + 4);
      } else {
        ctx.moveTo(ax + 6, ay); ctx.lineTo(ax, ay - 4); ctx.lineTo(ax, ay + 4);
      }
      ctx.fill();
      return;
    }
    const by = y + BAR_Y;
    const hotSpans = [];
    // bar background by state
    const st = c.states;
    if (st.length) {
      let k = Math.max(0, lowerBound(c.stateT, tL - c.maxStateDur) - 1);
      let lastX = -1e9;
      for (; k < st.length && st[k].s <= tR; k++) {
        const s = st[k];
        if (s.e < tL) continue;
        const xs = Math.max(X(s.s), x0 - 2);
        const xe = Math.min(Math.max(X(s.e), xs + 1), x0 + w + 2);
        const hot = s.state === 'zero_window' || s.state === 'rwnd_limited' || s.state === 'reset';
        if (xe < lastX + 0.5 && !hot) continue;
        lastX = xe;
        const col = s.state === 'handshake' ? this._stripes(ctx) : STATE_COLOURS[s.state] || STATE_COLOURS.unknown;
        if (s.state === 'closed') continue;
        // strip under the bar: every state; the bar itself: calm states only;
        // window trouble also gets a line along the bar's top edge
        ctx.fillStyle = col;
        ctx.fillRect(xs, by + BAR_H, xe - xs, STRIP_H);
        if (!hot) ctx.fillRect(xs, by, xe - xs, BAR_H);
        else {
          ctx.fillStyle = STATE_COLOURS.active;
          ctx.fillRect(xs, by, xe - xs, BAR_H);
          hotSpans.push([xs, xe - xs, col]);
        }
      }
    } else {
      const xs = Math.max(X(c.t0), x0 - 2);
      const xe = Math.min(Math.max(X(c.t1), xs + 1), x0 + w + 2);
      ctx.fillStyle = STATE_COLOURS.active;
      ctx.fillRect(xs, by, xe - xs, BAR_H);
    }

    const labels = this._drawMessages(f, c, y);
    for (const [x, ww, col] of hotSpans) {
      ctx.fillStyle = col;
      ctx.fillRect(x, by, ww, 2);
      ctx.fillRect(x, by + BAR_H - 1, ww, 1);
    }
    this._drawTicks(f, c, 0, y + UP_BASE, -1);
    this._drawTicks(f, c, 1, y + DOWN_BASE, 1);
    this._drawNotable(f, c, y);
    // after the ticks: the labels sit in the server→client band, where a
    // FIN's full-height tick would strike through them
    this._drawStatusLabels(f, labels, y);

    // close marker
    if (c.close === 'rst' && c.t1 >= tL && c.t1 <= tR) {
      const x = X(c.t1);
      ctx.strokeStyle = CAT_COLOURS[CAT.RESET];
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x + 2, by + 2); ctx.lineTo(x + 10, by + BAR_H - 2);
      ctx.moveTo(x + 10, by + 2); ctx.lineTo(x + 2, by + BAR_H - 2);
      ctx.stroke();
      ctx.lineWidth = 1;
    }
  }

  _drawMessages(f, c, y) {
    const { ctx, x0, w, tL, upp } = f;
    const tR = tL + w * upp;
    if (!c.messages.length) return [];
    const by = y + BAR_Y;
    const half = BAR_H / 2;
    const filter = this.filter;
    const mf = filter.messageFiltered;
    const searching = filter.search.trim() !== '';
    const sel = this.selection;
    const selMsg = sel && sel.kind === 'message' ? sel.msg : null;
    const hovMsg = this.hover && this.hover.kind === 'message' ? this.hover.msg : null;
    const labels = [];
    const outlines = [];
    const model = this.model;
    for (const kind of ['request', 'response']) {
      const K = c.byKind[kind];
      const { list, T, E } = K;
      const n = list.length;
      if (!n) continue;
      const isReq = kind === 'request';
      const yy = isReq ? by + 1 : by + half;
      const hh = half - 1;
      // Runs of touching spans with one colour are filled as one rect.
      let runX = 0, runE = -1e9, runCol = null, runAlpha = 1;
      const flush = () => {
        if (runCol === null) return;
        ctx.globalAlpha = runAlpha;
        ctx.fillStyle = runCol;
        ctx.fillRect(runX, yy, runE - runX, hh);
        runCol = null;
      };
      // With a message filter every message is drawn on its own (each is
      // dimmed or not); a search only outlines, so messages that start in
      // the pixel just drawn are still jumped over, looked at for a match.
      const exact = mf;
      let lastMatch = null;
      let k = lowerBound(T, tL - K.maxDur - upp);
      while (k < n && T[k] <= tR) {
        const m = list[k];
        let xs = x0 + (m._s - tL) / upp;
        let xe = Math.max(x0 + (m._e - tL) / upp, xs + 2);
        if (xe < x0 - 1) { k++; continue; }
        if (xs < x0 - 2) xs = x0 - 2;
        if (xe > x0 + w + 2) xe = x0 + w + 2;
        const dim = mf && !filter.messageMatches(m, c, model);
        const col = isReq ? (m.method === 'GET' || m.method === 'HEAD' ? C.request : '#d9a5ff') : ctColour(m._fam);
        const alpha = dim ? 0.22 : 1;
        let next = k + 1;
        if (!exact) {
          // jump over messages that start inside the pixel just drawn
          const nextT = tL + (Math.floor(xe) + 1 - x0) * upp;
          if (next < n && T[next] < nextT) {
            next = lowerBound(T, nextT, next);
            xe = Math.max(xe, Math.min(x0 + w + 2, x0 + (E[next - 1] - tL) / upp));
          }
        }
        if (runCol === col && runAlpha === alpha && xs <= runE + 1) {
          if (xe > runE) runE = xe;
        } else {
          flush();
          runX = xs; runE = xe; runCol = col; runAlpha = alpha;
        }
        let hit = searching && filter.searchMatches(m, c, model);
        for (let q = k + 1; searching && !hit && q < next; q++) hit = filter.searchMatches(list[q], c, model);
        if (hit) {
          // matches that touch share one outline: a capture with 200,000
          // matches in view strokes a few hundred, not 200,000
          const last = lastMatch;
          if (last && xs - 1 <= last[0] + last[2] + 1) last[2] = Math.max(last[2], xe + 1 - last[0]);
          else outlines.push(lastMatch = [xs - 1, yy - 1, xe - xs + 2, hh + 2, '#ffffff', false, 2]);
        }
        if (!isReq && m.status !== null && !dim && !f.magnified) labels.push([m, xs, xe]);
        // the original's dot under a response too short to see
        if (!isReq && xe - xs < 4 && upp > 200) labels.push([null, xs, xe, col]);
        k = next;
      }
      flush();
      ctx.globalAlpha = 1;
    }
    // marks that must show at any zoom
    const mk = c.marked;
    if (mk.length) {
      let q = lowerBound(c.markedT, tL - c.maxMsgDur - upp);
      let lastX = -1e9;
      for (; q < mk.length && mk[q]._s <= tR; q++) {
        const m = mk[q];
        const xs = x0 + (m._s - tL) / upp;
        const xe = Math.max(x0 + (m._e - tL) / upp, xs + 2);
        if (xe < x0 || xs < lastX + 1) continue;
        lastX = xs;
        const yy = m.kind === 'request' ? by + 1 : by + half;
        if (m.pipelined) {
          outlines.push([xs, yy, xe - xs, half - 1, '#ff4fd8', false]);
          // a magenta flag above the bar: pipelined requests often share a segment
          ctx.fillStyle = '#ff4fd8';
          ctx.beginPath();
          ctx.moveTo(xs - 3.5, by - 7);
          ctx.lineTo(xs + 3.5, by - 7);
          ctx.lineTo(xs, by - 1.5);
          ctx.fill();
        }
        if (m.headers_split) outlines.push([xs, yy, xe - xs, half - 1, '#ffe14d', true]);
        if (m.error || !m.complete) outlines.push([xs, yy, xe - xs, half - 1, '#ff5c5c', false]);
        if (m._unanswered) outlines.push([xs, yy, Math.max(xe - xs, 6), half - 1, '#ff9f43', true]);
      }
    }
    for (const [id, col, lw] of [[hovMsg, 'rgba(255,255,255,0.6)', 1], [selMsg, C.select, 2]]) {
      if (id === null) continue;
      const m = model.msg(id);
      if (!m || m._conn !== c.id) continue;
      const xs = x0 + (m._s - tL) / upp;
      const xe = Math.max(x0 + (m._e - tL) / upp, xs + 2);
      outlines.push([xs - 1.5, by - 1.5, xe - xs + 3, BAR_H + 3, col, false, lw]);
    }
    for (const [x, yy, ww, hh, col, dashed, lw] of outlines) {
      ctx.strokeStyle = col;
      ctx.lineWidth = lw || 1;
      ctx.setLineDash(dashed ? [3, 2] : []);
      ctx.strokeRect(Math.round(x) + 0.5, Math.round(yy) + 0.5, Math.max(1, Math.round(ww) - 1), Math.max(1, hh - 1));
    }
    ctx.setLineDash([]);
    ctx.lineWidth = 1;
    return labels;
  }

  // Status labels ([msg, xs, xe] from _drawMessages, in time order): inside
  // wide spans, else after the span when the whole label fits before the
  // next one and the plot's right edge (a cut "20" reads as a status), on a
  // backing that keeps ticks under it from crossing the digits. [null, xs,
  // xe, colour] is a dot under a response too short to see.
  _drawStatusLabels(f, labels, y) {
    if (!labels.length) return;
    const { ctx, x0, w } = f;
    const by = y + BAR_Y;
    const half = BAR_H / 2;
    const ly = y + DOWN_BASE + 7;
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    let nextFree = -1e9;
    let lastDot = -1e9; // one dot a pixel: with a filter set every message comes here
    for (let q = 0; q < labels.length; q++) {
      const [m, xs, xe, dotCol] = labels[q];
      if (!m) {
        if (xs >= nextFree && xs >= lastDot + 1) {
          lastDot = xs;
          ctx.fillStyle = dotCol;
          ctx.beginPath();
          ctx.arc(xs + 1, by + BAR_H + STRIP_H + 3, 2.2, 0, 6.283);
          ctx.fill();
        }
        continue;
      }
      const txt = String(m.status);
      const tw = this._labelWidth(ctx, txt);
      if (xe - xs >= tw + 10) {
        const tx = Math.max(xs, x0) + 3;
        if (m.status >= 400) {
          // an error reads as one inside its span too: on a chip of its colour
          ctx.fillStyle = statusColour(m.status);
          ctx.fillRect(tx - 2, by + half + 1, tw + 4, half - 2);
        }
        ctx.fillStyle = '#0d0e11';
        ctx.fillText(txt, tx, by + half + half / 2);
      } else if (xe + 3 >= nextFree && xe + 3 + tw <= x0 + w - 2) {
        let nx = Infinity;
        for (let r = q + 1; r < labels.length; r++) if (labels[r][0]) { nx = labels[r][1]; break; }
        if (nx - xe > tw + 8) {
          ctx.globalAlpha = 0.85;
          ctx.fillStyle = C.bg;
          ctx.fillRect(xe + 1, ly - 6, tw + 4, 12);
          ctx.globalAlpha = 1;
          ctx.fillStyle = statusColour(m.status);
          ctx.fillText(txt, xe + 3, ly);
          nextFree = xe + 3 + tw + 6;
        }
      }
    }
  }

  // Width of a status label: a handful of distinct texts, measured once.
  _labelWidth(ctx, txt) {
    const cache = this._labelW || (this._labelW = new Map());
    let tw = cache.get(txt);
    if (tw === undefined) {
      tw = ctx.measureText(txt).width;
      if (cache.size > 1000) cache.clear();
      cache.set(txt, tw);
    }
    return tw;
  }

  _drawTicks(f, c, dir, base, sgn) {
    const { ctx, x0, w, tL, upp } = f;
    const l = this.list(c, dir);
    const T = l.t, I = l.i;
    const n = T.length;
    if (!n) return;
    const tR = tL + w * upp;
    let k = lowerBound(T, tL - upp);
    if (k >= n || T[k] > tR) return;
    const logMax = Math.log(c.maxLen + 1);
    const dataPath = new Path2D();
    const ackPath = new Path2D();
    const ctrlPath = new Path2D();
    // Touching ticks of one kind and height become one rect (dense traffic
    // is then a few wide rects, not thousands of thin ones).
    const runs = [[dataPath, 0, 0, 0], [ackPath, 0, 0, 0], [ctrlPath, 0, 0, 0]];
    const emit = (r) => {
      if (!r[3]) return;
      if (sgn < 0) r[0].rect(r[1], base - r[3], r[2], r[3]);
      else r[0].rect(r[1], base, r[2], r[3]);
      r[3] = 0;
    };
    while (k < n && T[k] <= tR + upp) {
      const x = x0 + (T[k] - tL) / upp;
      const px = Math.floor(x);
      const i = I[k];
      const len = c.len[i];
      let h;
      let ri;
      if (c.fl[i] & (FL.S | FL.F | FL.R)) {
        h = TICK_MAX;
        ri = 2;
      } else if (len === 0) {
        h = 4;
        ri = 1;
      } else {
        h = Math.round(5 + (TICK_MAX - 5) * (Math.log(len + 1) / logMax));
        ri = 0;
      }
      const colEnd = tL + (px + 1 - x0) * upp;
      // A column holding both ACKs and data shows the data (taller) tick.
      if (ri === 1 && k + 1 < n && T[k + 1] < colEnd) {
        for (let q = k + 1; q < n && q < k + 8 && T[q] < colEnd; q++) {
          if (c.len[I[q]] > 0) {
            h = Math.round(5 + (TICK_MAX - 5) * (Math.log(c.len[I[q]] + 1) / logMax));
            ri = 0;
            break;
          }
        }
      }
      const r = runs[ri];
      if (r[3] === h && r[1] + r[2] === px) r[2]++;
      else {
        emit(r);
        r[1] = px; r[2] = 1; r[3] = h;
      }
      // next pixel column
      if (k + 1 < n && T[k + 1] < colEnd) k = lowerBound(T, colEnd, k + 1);
      else k++;
    }
    for (const r of runs) emit(r);
    ctx.fillStyle = C.tickAck;
    ctx.fill(ackPath);
    ctx.fillStyle = C.tick;
    ctx.fill(dataPath);
    ctx.fillStyle = CAT_COLOURS[CAT.CTRL];
    ctx.fill(ctrlPath);
  }

  _drawNotable(f, c, y) {
    const { ctx, x0, w, tL, upp } = f;
    const nl = c.notable;
    if (!nl.t.length) return;
    const tR = tL + w * upp;
    let k = lowerBound(nl.t, tL - upp);
    const lastPx = [[-1, -1], [-1, -1]];
    for (; k < nl.t.length && nl.t[k] <= tR + upp; k++) {
      const i = nl.i[k];
      const cat = c.cat[i];
      if (cat < CAT.OTHER) continue;
      if (cat === CAT.OTHER && !this.filter.showAcks && c.len[i] === 0) continue;
      const d = c.dir[i];
      const px = Math.floor(x0 + (nl.t[k] - tL) / upp);
      // one mark per column and category rank
      if (lastPx[d][0] === px && lastPx[d][1] >= cat) continue;
      lastPx[d] = [px, cat];
      ctx.fillStyle = CAT_COLOURS[cat];
      const up = d === 0;
      const base = y + (up ? UP_BASE : DOWN_BASE);
      const h = cat === CAT.OTHER ? 6 : TICK_MAX;
      ctx.fillRect(px - (cat >= CAT.OOO ? 0.5 : 0), up ? base - h : base, cat >= CAT.OOO ? 2 : 1, h);
      if (cat >= CAT.DUPACK) {
        // a dot at the tip so single events show at any zoom
        const tip = up ? base - h - 2 : base + h + 2;
        ctx.beginPath();
        ctx.arc(px + 0.5, tip, cat >= CAT.RETRANS ? 2.5 : 2, 0, 6.283);
        ctx.fill();
      }
    }
  }

  // Arcs: referers (faint) and redirects (bright), as bezier curves from the
  // source message to the target request.
  _drawArcs(f, scrollTop) {
    const arcs = this.model.derived.arcs;
    if (!arcs.length) return;
    const { ctx, x0, w, tL, upp } = f;
    const H = this.H;
    const sel = this.selection;
    const focusMsg = sel && sel.kind === 'message' ? sel.msg : this.hover && this.hover.kind === 'message' ? this.hover.msg : null;
    let drawn = 0;
    const hi = [];
    ctx.lineWidth = 1;
    for (const a of arcs) {
      const rf = this.rowOfConn.get(a.from.conn);
      const rt = this.rowOfConn.get(a.to.conn);
      if (rf === undefined || rt === undefined) continue;
      const x1 = x0 + (a.from.t - tL) / upp, x2 = x0 + (a.to.t - tL) / upp;
      if ((x1 < x0 && x2 < x0) || (x1 > x0 + w && x2 > x0 + w)) continue;
      const y1 = this.rows[rf].y - scrollTop + BAR_Y + BAR_H / 2;
      const y2 = this.rows[rt].y - scrollTop + BAR_Y + 2;
      if ((y1 < 0 && y2 < 0) || (y1 > H && y2 > H)) continue;
      const isHi = focusMsg !== null && (a.from.msg === focusMsg || a.to.msg === focusMsg);
      if (isHi) { hi.push([a, x1, y1, x2, y2]); continue; }
      if (drawn++ > 4000) continue;
      ctx.strokeStyle = a.kind === 'redirect' ? C.arcRedirect : C.arcReferer;
      arcPath(ctx, x1, y1, x2, y2);
      ctx.stroke();
    }
    ctx.lineWidth = 2;
    for (const [a, x1, y1, x2, y2] of hi) {
      ctx.strokeStyle = a.kind === 'redirect' ? '#56cfe1' : '#a9b4ff';
      arcPath(ctx, x1, y1, x2, y2);
      ctx.stroke();
      ctx.fillStyle = ctx.strokeStyle;
      ctx.beginPath();
      ctx.arc(x2, y2, 3, 0, 6.283);
      ctx.fill();
    }
    ctx.lineWidth = 1;
  }

  // Hover and selection overlays: the ACK relationship of a packet, and a
  // ring around the selected packet.
  _drawOverlays(f, scrollTop) {
    const { ctx } = f;
    const items = [];
    const sel = this.selection;
    if (sel && sel.kind === 'packet') items.push([sel, true]);
    const hv = this.hover;
    if (hv && hv.kind === 'packet' && !(sel && sel.kind === 'packet' && sel.conn === hv.conn && sel.idx === hv.idx)) items.push([hv, false]);
    for (const [p, isSel] of items) {
      const c = this.model.conn(p.conn);
      const r = this.rowOfConn.get(p.conn);
      if (!c || r === undefined) continue;
      const y = this.rows[r].y - scrollTop;
      const pos = (i) => {
        const x = Math.floor(GUTTER + (c.t[i] - this.tL) / this.upp) + 0.5;
        const up = c.dir[i] === 0;
        return [x, y + (up ? UP_BASE - TICK_MAX - 2 : DOWN_BASE + TICK_MAX + 2), up];
      };
      ctx.strokeStyle = C.ackLine;
      ctx.fillStyle = C.ackLine;
      ctx.lineWidth = 1.5;
      for (const [a, b] of this.ackPartners(c, p.idx)) {
        const [xa, ya] = pos(a);
        const [xb, yb] = pos(b);
        ctx.beginPath();
        ctx.moveTo(xa, ya);
        ctx.bezierCurveTo(xa, ya + (ya < yb ? -10 : 10), xb, yb + (yb < ya ? -10 : 10), xb, yb);
        ctx.stroke();
        for (const [xx, yy] of [[xa, ya], [xb, yb]]) {
          ctx.beginPath();
          ctx.arc(xx, yy, 2.5, 0, 6.283);
          ctx.fill();
        }
      }
      const [x, , up] = pos(p.idx);
      const top = up ? y + UP_BASE - TICK_MAX - 3 : y + DOWN_BASE - 1;
      ctx.strokeStyle = isSel ? C.select : 'rgba(255,255,255,0.7)';
      ctx.lineWidth = isSel ? 2 : 1;
      ctx.strokeRect(x - 3, top, 6, TICK_MAX + 4);
      ctx.lineWidth = 1;
    }
  }

  // The server of the topmost visible connection stays in sight while its
  // rows scroll (pushed up by the next server's row as it arrives).
  _drawStickyServer(f, first, scrollTop) {
    const r0 = this.rows[first];
    if (!r0 || r0.kind !== 'conn' || r0.y + r0.h <= scrollTop) {
      const r1 = this.rows[first + 1];
      if (!r0 || !(r0.y < scrollTop && r1 && r1.kind === 'conn')) return;
    }
    const row = this.rowOfServer.get(r0.srv ? r0.srv.id : -1);
    if (row === undefined) return;
    const sr = this.rows[row];
    if (sr.y >= scrollTop) return;
    // the next server row pushes the sticky one up
    let y = 0;
    for (let k = first + 1; k < this.rows.length && this.rows[k].y - scrollTop < SERVER_H; k++) {
      if (this.rows[k].kind === 'server') {
        y = this.rows[k].y - scrollTop - SERVER_H;
        break;
      }
    }
    const ctx = f.ctx;
    ctx.save();
    ctx.beginPath();
    ctx.rect(GUTTER, 0, this.plotW, this.H);
    ctx.clip();
    this._drawRow(f, sr, y);
    ctx.restore();
    ctx.fillStyle = 'rgba(0,0,0,0.35)';
    ctx.fillRect(0, y + SERVER_H, this.W, 2);
    this._drawGutter(ctx, row, row + 1, sr.y - y, false);
  }

  _drawGutter(ctx, first, last, scrollTop, background = true) {
    if (background) {
      ctx.fillStyle = C.gutter;
      ctx.fillRect(0, 0, GUTTER, this.H);
      ctx.fillStyle = C.gutterLine;
      ctx.fillRect(GUTTER - 1, 0, 1, this.H);
    }
    ctx.textBaseline = 'alphabetic';
    const sel = this.selection;
    const selConn = sel ? (sel.kind === 'message' ? this.model.msg(sel.msg)?._conn : sel.conn) : null;
    for (let k = first; k < last; k++) {
      const r = this.rows[k];
      const y = r.y - scrollTop;
      if (r.kind === 'server') {
        const s = r.srv.server || {};
        ctx.fillStyle = C.serverRow;
        ctx.fillRect(0, y, GUTTER - 1, r.h);
        ctx.fillStyle = C.sep;
        ctx.fillRect(0, y, GUTTER, 1);
        const selected = sel && sel.kind === 'server' && sel.server === r.srv.id;
        ctx.fillStyle = selected ? '#fff' : C.text;
        ctx.font = '600 12.5px system-ui, sans-serif';
        ctx.fillText(ellipsize(ctx, this.model.serverName(s), GUTTER - 20), 10, y + 15);
        ctx.font = '10.5px ui-monospace, monospace';
        ctx.fillStyle = C.textDim;
        ctx.fillText(ellipsize(ctx, hostPort(s.addr, s.port), GUTTER - 20), 10, y + 28);
      } else if (r.kind === 'dns') {
        ctx.fillStyle = C.serverRow;
        ctx.fillRect(0, y, GUTTER - 1, r.h);
        ctx.fillStyle = C.text;
        ctx.font = '600 12.5px system-ui, sans-serif';
        ctx.fillText('DNS', 10, y + 17);
        ctx.font = '10.5px system-ui, sans-serif';
        ctx.fillStyle = C.textDim;
        ctx.fillText(`${fmtInt(this.model.dns.length)} lookups`, 10, y + 31);
      } else {
        const c = r.conn;
        if (c.id === selConn) {
          ctx.fillStyle = C.rowSel;
          ctx.fillRect(0, y, GUTTER - 1, CONN_H);
          ctx.fillStyle = '#2f6feb';
          ctx.fillRect(0, y, 3, CONN_H);
        }
        ctx.fillStyle = C.textDim;
        ctx.font = '10px system-ui, sans-serif';
        ctx.fillText(r.expanded ? '▾' : '▸', 9, y + 20);
        ctx.font = '12px ui-monospace, monospace';
        ctx.fillStyle = C.text;
        const label = `#${c.id} :${c.client_port}`;
        ctx.fillText(label, 22, y + 20);
        let bx = 22 + ctx.measureText(label).width + 8;
        ctx.font = '10px system-ui, sans-serif';
        const badge = (txt, col) => {
          const tw = ctx.measureText(txt).width + 8;
          if (bx + tw > GUTTER - 6) return;
          ctx.fillStyle = col;
          ctx.globalAlpha = 0.18;
          ctx.fillRect(bx, y + 9, tw, 14);
          ctx.globalAlpha = 1;
          ctx.fillText(txt, bx + 4, y + 19.5);
          bx += tw + 4;
        };
        const rx = (c.stats.retransmits_c2s || 0) + (c.stats.retransmits_s2c || 0);
        if (rx) badge(`${rx} rexmit`, CAT_COLOURS[CAT.RETRANS]);
        if (c.close === 'rst') badge('RST', CAT_COLOURS[CAT.RESET]);
        if ((c.stats.gap_bytes_c2s || 0) + (c.stats.gap_bytes_s2c || 0) > 0) badge('gap', CAT_COLOURS[CAT.LOST]);
        if (c.stats.zero_windows) badge('zwin', CAT_COLOURS[CAT.WINDOW]);
        const nreq = c.byKind.request.list.length;
        ctx.fillStyle = C.textFaint;
        ctx.font = '10.5px system-ui, sans-serif';
        // all four when they fit; else tighter, then without the duration,
        // so the RTT is never the part cut off
        const parts = [`${fmtInt(nreq)} req`, fmtBytes((c.stats.bytes_s2c || 0) + (c.stats.bytes_c2s || 0)),
          fmtDur(c.t1 - c.t0), c.rtt ? `rtt ${fmtDur(c.rtt)}` : null].filter(Boolean);
        const room = GUTTER - 30;
        let sub = parts.join(' · ');
        if (ctx.measureText(sub).width > room) sub = parts.join('·');
        if (ctx.measureText(sub).width > room && c.rtt) sub = [parts[0], parts[1], parts[3]].join(' · ');
        ctx.fillText(ellipsize(ctx, sub, room), 22, y + 35);
      }
    }
  }

  // ------------------------------------------------------------ overview

  _overviewBins() {
    const key = `${this.model.changeCount}/${this.ovW}/${this.filter.version}`;
    if (key === this._ovKey) return this._ovBins;
    const n = Math.max(1, Math.floor(this.ovW));
    const all = new Float64Array(n);
    const bad = new Float64Array(n);
    const sp = this.model.span;
    const scale = n / (sp.t1 - sp.t0);
    for (const s of this.visibleServers || []) {
      for (const c of s.conns) {
        const T = c.t;
        for (let i = 0; i < T.length; i++) {
          let b = Math.floor((T[i] - sp.t0) * scale);
          if (b >= n) b = n - 1;
          if (b >= 0) all[b]++;
        }
        const nl = c.notable;
        for (let k = 0; k < nl.t.length; k++) {
          if (c.cat[nl.i[k]] < CAT.DUPACK) continue;
          let b = Math.floor((nl.t[k] - sp.t0) * scale);
          if (b >= n) b = n - 1;
          if (b >= 0) bad[b]++;
        }
      }
    }
    let max = 1;
    for (let i = 0; i < n; i++) if (all[i] > max) max = all[i];
    this._ovBins = { all, bad, max, n };
    this._ovKey = key;
    return this._ovBins;
  }

  _drawOverview() {
    const ctx = this.ovCtx;
    const W = this.ovW, H = this.ovH;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    if (!this.model.conns.size) {
      ctx.fillStyle = C.axisBg;
      ctx.fillRect(0, 0, W, H);
      return;
    }
    const key = `${this.model.changeCount}/${this.ovW}/${this.filter.version}/${this.dpr}/${C.bg}`;
    if (this._ovImgKey !== key) {
      // the histogram is drawn once per model / filter change into a bitmap
      const b = this._overviewBins();
      const cv = this._ovImg || (this._ovImg = document.createElement('canvas'));
      cv.width = Math.round(W * this.dpr);
      cv.height = Math.round(H * this.dpr);
      const g = cv.getContext('2d');
      g.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      g.fillStyle = C.axisBg;
      g.fillRect(0, 0, W, H);
      const lm = Math.log(b.max + 1);
      g.fillStyle = '#4b505a';
      g.beginPath();
      for (let i = 0; i < b.n; i++) {
        if (!b.all[i]) continue;
        const h = Math.max(1, (Math.log(b.all[i] + 1) / lm) * (H - 6));
        g.rect(i, H - h, 1, h);
      }
      g.fill();
      g.fillStyle = CAT_COLOURS[CAT.RETRANS];
      g.beginPath();
      for (let i = 0; i < b.n; i++) if (b.bad[i]) g.rect(i, 0, 1, 4);
      g.fill();
      this._ovImgKey = key;
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this._ovImg, 0, 0);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const sp = this.model.span;
    const sx = W / (sp.t1 - sp.t0);
    const x1 = (this.tL - sp.t0) * sx;
    const x2 = (this.tL + this.plotW * this.upp - sp.t0) * sx;
    ctx.fillStyle = 'rgba(47,111,235,0.18)';
    ctx.fillRect(x1, 0, Math.max(2, x2 - x1), H);
    ctx.strokeStyle = '#2f6feb';
    ctx.strokeRect(Math.round(x1) + 0.5, 0.5, Math.max(2, Math.round(x2 - x1)), H - 1);
  }

  // ------------------------------------------------------------ magnifier

  _drawLens() {
    const lens = this.els.lens;
    const LW = 440, LH = 190;
    const p = this.pointer;
    lens.hidden = false;
    if (lens.width !== Math.round(LW * this.dpr)) {
      lens.width = Math.round(LW * this.dpr);
      lens.height = Math.round(LH * this.dpr);
      lens.style.width = `${LW}px`;
      lens.style.height = `${LH}px`;
    }
    let lx = p.x + 24, ly = p.y + 24;
    if (lx + LW > this.W) lx = p.x - LW - 24;
    if (ly + LH > this.H) ly = Math.max(0, p.y - LH - 24);
    lens.style.left = `${lx}px`;
    lens.style.top = `${ly}px`;
    const ctx = this.lensCtx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = C.bg;
    ctx.fillRect(0, 0, LW, LH);
    const t = this.tL + (p.x - GUTTER) * this.upp;
    const upp = this.upp / MAG;
    const f = { ctx, x0: 0, w: LW, tL: t - (LW / 2) * upp, upp, magnified: true };
    const scrollTop = this.els.scroller.scrollTop;
    const yTop = scrollTop + p.y - LH / 2; // content y at the lens top
    let k = Math.max(0, lowerBound(this.rowTop, yTop) - 1);
    for (; k < this.rows.length && this.rows[k].y < yTop + LH; k++) {
      const r = this.rows[k];
      this._drawRow(f, r, r.y - yTop);
    }
    ctx.strokeStyle = 'rgba(255,255,255,0.35)';
    ctx.beginPath();
    ctx.moveTo(LW / 2 + 0.5, 0);
    ctx.lineTo(LW / 2 + 0.5, LH);
    ctx.stroke();
    ctx.fillStyle = C.textDim;
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    ctx.fillText(`${MAG}× · ${fmtDur(LW * upp)} wide`, 6, 4);
  }

  // ------------------------------------------------------------ tooltip text

  /** Lines describing a hit, for the hover tooltip. */
  describe(hit) {
    if (!hit) return null;
    const m = this.model;
    if (hit.kind === 'packet') {
      const c = m.conn(hit.conn);
      const p = c.packet(hit.idx, m.analysisNames);
      const lines = [
        `${p.dir === 'c2s' ? 'client → server' : 'server → client'}  [${p.flags || '—'}]  #${hit.idx}`,
        `seq ${p.seq}${p.ack !== null ? `  ack ${p.ack}` : ''}  len ${p.len}  win ${fmtInt(p.win)}`,
        `at ${fmtAxis(c.t[hit.idx], 1)}`,
      ];
      if (p.analysis.length) lines.push(p.analysis.join(', ').replace(/_/g, ' '));
      return { title: `packet`, lines, colour: CAT_COLOURS[c.cat[hit.idx]] };
    }
    if (hit.kind === 'message') {
      const msg = m.msg(hit.msg);
      if (!msg) return null;
      const c = m.conn(msg._conn);
      const lines = [];
      let title;
      if (msg.kind === 'request') {
        title = requestLine(msg);
        const resp = msg.response ? m.msg(msg.response) : null;
        if (resp) lines.push(`→ ${statusText(resp)} ${resp.reason || ''}  ${resp.content_type || ''}`);
        lines.push(`${fmtBytes(msg.header_bytes + msg.body_bytes)} in ${msg.packets} packet${msg.packets === 1 ? '' : 's'}`);
      } else {
        const req = msg.request ? m.msg(msg.request) : null;
        title = `${statusText(msg)} ${msg.reason || ''}`;
        if (req) lines.push(requestLine(req));
        lines.push(`${msg.content_type || 'no type'} · ${fmtBytes(msg.body_bytes)} body`);
        const tim = [];
        if (msg.ttfb_us !== null) tim.push(`TTFB ${fmtDur(msg.ttfb_us)}`);
        if (msg.stall_us !== null) tim.push(`stall ${fmtDur(msg.stall_us)}`);
        if (msg.round_trips !== null) tim.push(`${msg.round_trips} round trip${msg.round_trips === 1 ? '' : 's'}`);
        if (tim.length) lines.push(tim.join(' · '));
      }
      lines.push(`duration ${fmtDur(msg._e - msg._s)} · conn #${c ? c.id : '?'}`);
      const flags = [];
      if (msg.pipelined) flags.push('pipelined');
      if (msg.headers_split) flags.push('headers split');
      if (msg.interim) flags.push('interim');
      if (msg.upgrade) flags.push('upgrade');
      if (!msg.complete) flags.push('incomplete');
      if (msg.error) flags.push(`error: ${msg.error}`);
      if (flags.length) lines.push(flags.join(' · '));
      return { title, lines };
    }
    if (hit.kind === 'chart') {
      const c = m.conn(hit.conn);
      const v = chartValues(c, hit.chart, hit.t);
      return { title: v.title, lines: v.lines.length ? v.lines : ['no samples'] };
    }
    if (hit.kind === 'dns') {
      const d = m.dns[hit.dns];
      return {
        title: `DNS ${d.type || ''} ${d.name || ''}`,
        lines: [
          d.answer_us === null ? 'no answer captured' : `${d.rcode || ''} in ${fmtDur(d.latency_us ?? d._e - d._s)}`,
          d.cname ? `CNAME ${d.cname}` : '',
          (d.addrs || []).join(', '),
          `asked ${d.resolver || '?'}`,
        ],
      };
    }
    return null;
  }
}

function selectionOf(hit) {
  if (!hit) return null;
  switch (hit.kind) {
    case 'packet': return { kind: 'packet', conn: hit.conn, idx: hit.idx };
    case 'message': return { kind: 'message', msg: hit.msg, conn: hit.conn };
    case 'conn': case 'chart': case 'gutter-toggle': return { kind: 'conn', conn: hit.conn };
    case 'server': return { kind: 'server', server: hit.server };
    case 'dns': return { kind: 'dns', dns: hit.dns };
    default: return null;
  }
}

function arcPath(ctx, x1, y1, x2, y2) {
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  const dy = y2 - y1;
  if (Math.abs(dy) < 20) {
    // same row: an arch over the bar
    const lift = Math.min(40, 8 + Math.abs(x2 - x1) / 4);
    ctx.bezierCurveTo(x1, Math.min(y1, y2) - lift, x2, Math.min(y1, y2) - lift, x2, y2);
    return;
  }
  ctx.bezierCurveTo(x1, y1 + dy * 0.55, x1 + (x2 - x1) * 0.35, y2, x2, y2);
}

// Lay out parts ({txt, col, rank, gap}) in a line from x within room px:
// when all do not fit, whole parts are left out, the highest rank first,
// and one "…" stands where a run of them was, so no word is cut and what
// matters most (rank 0) is the last to go. Returns [{txt, col, x, tw}].
function fitParts(ctx, parts, x, room) {
  const w = parts.map((p) => ctx.measureText(p.txt).width);
  const ell = ctx.measureText('…').width;
  const keep = parts.map(() => true);
  const place = () => {
    const out = [];
    let at = x;
    for (let i = 0; i < parts.length; i++) {
      if (!keep[i] && i > 0 && !keep[i - 1]) continue; // one "…" a run
      // a part's own (closer) gap holds only right after the part before it
      if (out.length) at += keep[i] && keep[i - 1] ? (parts[i].gap ?? STATS_GAP) : STATS_GAP;
      const tw = keep[i] ? w[i] : ell;
      out.push(keep[i] ? { txt: parts[i].txt, col: parts[i].col, x: at, tw } : { txt: '…', col: C.textDim, x: at, tw });
      at += tw;
    }
    return { out, width: at - x };
  };
  const order = parts.map((_, i) => i).sort((a, b) => parts[b].rank - parts[a].rank || b - a);
  let line = place();
  for (const i of order) {
    if (line.width <= room) break;
    keep[i] = false;
    line = place();
  }
  return line.out;
}

const ellipsisCache = new Map();
function ellipsize(ctx, s, max) {
  const key = `${ctx.font}|${max}|${s}`;
  const hit = ellipsisCache.get(key);
  if (hit !== undefined) return hit;
  let out = s;
  if (ctx.measureText(s).width > max) {
    let lo = 0, hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ctx.measureText(s.slice(0, mid) + '…').width <= max) lo = mid; else hi = mid - 1;
    }
    out = s.slice(0, lo) + '…';
  }
  if (ellipsisCache.size > 5000) ellipsisCache.clear();
  ellipsisCache.set(key, out);
  return out;
}
