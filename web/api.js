// SPDX-License-Identifier: MIT
// api.js - the page's client of htracr's HTTP API (docs/api.md): status,
// the model with incremental fetching (gen/since), the websocket feed with
// reconnect (and polling while it is down), and the state-changing calls,
// which carry the per-run token from index.html's <meta name="htracr-token">.

const TOKEN_META = 'htracr-token';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class Api {
  constructor(base = '') {
    this.base = base;
    const meta = document.querySelector(`meta[name="${TOKEN_META}"]`);
    this.token = meta ? meta.getAttribute('content') : '';
    this.ws = null;
    this.wsUp = false;
    this._retry = 1000;
    this._pollTimer = null;
    this._closed = false;
  }

  async _json(res) {
    // A reply past what the page can hold (a string of some 512 MB) reads
    // as nothing, or fails to parse: say that, with its size, rather than
    // hand on null.
    const len = Number(res.headers.get('Content-Length')) || 0;
    const big = () => {
      const e = new ApiError(res.status, `the reply (${(len / 1048576).toFixed(0)} MB) is more than this page can read`);
      e.tooLarge = true;
      return e;
    };
    let text;
    try {
      text = await res.text();
    } catch (e) {
      if (len > 64 << 20) throw big();
      throw new ApiError(res.status, `the reply could not be read: ${e.message}`);
    }
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (res.ok && body === null && len > 0) throw big();
    if (!res.ok) {
      const msg = body && body.error ? body.error : `${res.status} ${res.statusText || 'error'}`;
      throw new ApiError(res.status, msg);
    }
    return body;
  }

  async get(path) {
    let res;
    try {
      res = await fetch(this.base + path, { cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, `cannot reach htracr (${e.message}); is it still running?`);
    }
    return this._json(res);
  }

  async post(path, body, type) {
    const headers = { 'X-Htracr-Token': this.token };
    if (type) headers['Content-Type'] = type;
    let res;
    try {
      res = await fetch(this.base + path, { method: 'POST', headers, body: body ?? '' });
    } catch (e) {
      throw new ApiError(0, `cannot reach htracr (${e.message}); is it still running?`);
    }
    return this._json(res);
  }

  status() {
    return this.get('/api/status');
  }

  /** The whole model, or what changed since (gen, seq) when both are given;
   * a changed connection may come as a tail (docs/api.md), which
   * Model.merge puts after what the page has of it, and its messages as
   * rows, which Model.merge makes objects again. reply: the number of the
   * last reply merged, so that connections it wrote after its seq can come
   * as tails too. */
  model(gen, since, reply = 0) {
    if (gen !== null && gen !== undefined && since) {
      const r = reply ? `&reply=${encodeURIComponent(reply)}` : '';
      return this.get(`/api/model?gen=${encodeURIComponent(gen)}&since=${encodeURIComponent(since)}${r}&tails=1&rows=1&rel=1`);
    }
    return this.get('/api/model?tails=1&rows=1&rel=1');
  }

  packet(conn, idx) {
    return this.get(`/api/packet?conn=${conn}&idx=${idx}`);
  }

  start() { return this.post('/api/start'); }
  stop() { return this.post('/api/stop'); }
  clear() { return this.post('/api/clear'); }
  settings() { return this.get('/api/settings'); }
  setPorts(ports) { return this.post('/api/settings', JSON.stringify({ ports }), 'application/json'); }
  replay(msg) { return this.post(`/api/replay?msg=${msg}`); }

  upload(file) {
    return this.post(`/api/upload?name=${encodeURIComponent(file.name || '')}`, file, 'application/octet-stream');
  }

  bodyUrl(msg) { return `${this.base}/api/body?msg=${msg}`; }

  /** The per-run token of the page htracr serves now ('' when it has none):
   * another than ours means htracr was started again. Throws when it does
   * not answer. */
  async pageToken() {
    const r = await fetch(`${this.base}/`, { cache: 'no-store' });
    const m = /name="htracr-token" content="([^"]*)"/.exec(await r.text());
    return m ? m[1] : '';
  }

  /**
   * Follow the websocket feed. onChange({generation, seq}) when the model
   * changed; onStats(stats) with live counters; onState(up) when the feed
   * connects or drops. While the socket is down, the status call is polled
   * every 2 s instead, and onChange is called when its generation/seq moved.
   * Each poll first reads the page's token: a new run of htracr on the
   * same port has another, and its status and model are not this page's:
   * then onRestart() once, and following stops.
   */
  follow({ onChange, onStats, onState, onRestart }) {
    this._handlers = { onChange, onStats, onState, onRestart };
    this._connect();
  }

  _connect() {
    if (this._closed) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const host = this.base ? new URL(this.base).host : location.host;
    let ws;
    try {
      ws = new WebSocket(`${proto}//${host}/api/feed?token=${encodeURIComponent(this.token)}`);
    } catch {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.wsUp = true;
      this._retry = 1000;
      this._stopPolling();
      this._handlers.onState?.(true);
    };
    ws.onmessage = (ev) => {
      let d;
      try {
        d = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (d.stats && this._handlers.onStats) this._handlers.onStats(d.stats, d);
      if (d.generation !== undefined || d.seq !== undefined) this._handlers.onChange?.(d);
    };
    ws.onerror = () => {};
    ws.onclose = () => {
      const was = this.wsUp;
      this.wsUp = false;
      this.ws = null;
      if (was) this._handlers.onState?.(false);
      this._startPolling();
      this._scheduleReconnect();
    };
  }

  _scheduleReconnect() {
    if (this._closed) return;
    setTimeout(() => this._connect(), this._retry);
    this._retry = Math.min(this._retry * 2, 15000);
  }

  _startPolling() {
    if (this._pollTimer) return;
    this._pollTimer = setInterval(async () => {
      try {
        if ((await this.pageToken()) !== this.token) {
          if (this._closed) return;
          this.close();
          this._handlers.onRestart?.();
          return;
        }
        const s = await this.status();
        this._handlers.onStats?.(s.stats, s);
        this._handlers.onChange?.({ generation: s.generation, seq: s.seq, status: s });
      } catch {
        /* the server is away; the next tick tries again */
      }
    }, 2000);
  }

  _stopPolling() {
    clearInterval(this._pollTimer);
    this._pollTimer = null;
  }

  close() {
    this._closed = true;
    this._stopPolling();
    if (this.ws) this.ws.close();
  }
}
