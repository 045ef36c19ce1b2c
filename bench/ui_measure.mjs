#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// UI benchmark, one run: the page a user sees, in headless Chromium.
//
// This sits at the very end of the pipeline (capture -> model -> server ->
// web/), and looks at it as a user does: how long the timeline of a large
// capture takes to appear, and how many frames per second it draws while
// panning and zooming. bench/ui drives it (several runs, the htracr servers,
// the table and bench/out/ui.json); run alone it prints one run's JSON:
//
//   node bench/ui_measure.mjs --url http://127.0.0.1:8000/ [--uncapped] [--seconds 3]
//   node bench/ui_measure.mjs --check      (is playwright-core there?)
//
// One run = a fresh browser (so nothing is cached or JIT-warm from an earlier
// run), viewport 1600x900, then:
//
//  1. open: page.goto() until the page says it is ready
//     (document.body.dataset.state === 'ready', docs/ui.md) and the timeline
//     has drawn its first frame after that. An init script, injected before
//     the page's own scripts, notes the times in the page's clock
//     (performance.now(), 0 = navigation start): the /api/model request
//     (Resource Timing), JSON.parse of the reply (the UI's API client reads
//     text and parses it), "ready", and the end of the first draw (the
//     timeline's draw() is wrapped at "ready"; the UI draws in
//     requestAnimationFrame, never synchronously in the merge).
//  2. four phases of `seconds` each, while the page records every
//     requestAnimationFrame tick and the duration of every timeline draw():
//       pan-drag   a real mouse drag (pointer events through Chromium's input
//                  path, 125 moves a second), back and forth, at 20x the
//                  "fit" zoom;
//       zoom-wheel Ctrl+wheel at the plot's centre, 125 events a second,
//                  60 in, 60 out, between "fit" and ~44x;
//       pan-api    the timeline's own panBy(), once per animation frame, at
//                  20x;
//       zoom-api   the timeline's own zoomBy(), once per animation frame,
//                  between "fit" and ~40x.
//     The input phases measure what a user gets, from the input event to the
//     frame (they cannot go above the 125 events a second they are fed); the
//     API phases change the view in every frame, so they show how fast the
//     renderer alone can go.
//
// Headless Chromium paces requestAnimationFrame at 60 Hz like a display
// would, so 60 fps is the ceiling there. --uncapped adds
// --disable-gpu-vsync --disable-frame-rate-limit, which lets frames run as
// fast as the main thread allows: that shows the headroom (the true rate).

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const E2E = join(ROOT, 'tests', 'e2e');
const CHROMIUM = process.env.HTRACR_CHROMIUM || '/usr/bin/chromium';
const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-gpu'];
const UNCAPPED_ARGS = ['--disable-gpu-vsync', '--disable-frame-rate-limit'];
const VIEWPORT = { width: 1600, height: 900 };
const OPEN_TIMEOUT_MS = 120000;

// playwright-core from tests/e2e/node_modules (installed by `make test`'s
// dependency step); else anywhere node's require finds it (NODE_PATH).
function loadPlaywright() {
  const req = createRequire(join(E2E, 'package.json'));
  try {
    return req('playwright-core');
  } catch {
    return null;
  }
}

function usage(msg) {
  if (msg) console.error(`ui_measure: ${msg}`);
  console.error('usage: node bench/ui_measure.mjs --url URL [--uncapped] [--seconds S] | --check');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { url: null, uncapped: false, seconds: 3, check: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--url') o.url = argv[++i];
    else if (a === '--uncapped') o.uncapped = true;
    else if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--check') o.check = true;
    else usage(`unknown argument ${a}`);
  }
  if (!o.check && !o.url) usage('--url is needed');
  if (!(o.seconds > 0 && o.seconds <= 60)) usage('--seconds must be in (0, 60]');
  return o;
}

// Runs in the page before its own scripts. Everything it keeps is under
// window.__bench; it changes nothing the page does, except that it wraps
// JSON.parse (to time the big parse) and, from "ready", timeline.draw (to
// time draws). Both wrappers only read the clock around the original.
function pageInit() {
  const B = (window.__bench = {
    parses: [], readyAt: null, drawnAt: null, firstDrawMs: null, rec: null,
  });
  const parse = JSON.parse;
  JSON.parse = function (text, reviver) {
    const t0 = performance.now();
    const v = parse.call(this, text, reviver);
    if (typeof text === 'string' && text.length > 100000) {
      B.parses.push({ start: t0, end: performance.now(), chars: text.length });
    }
    return v;
  };
  // Wrap the timeline's draw(): every call's duration goes to B.rec.draws
  // while a phase is recording; the first call after "ready" marks the open.
  B.wrapDraw = () => {
    const tl = window.htracr.timeline;
    if (Object.prototype.hasOwnProperty.call(tl, 'draw')) return;
    const orig = Object.getPrototypeOf(tl).draw;
    tl.draw = function () {
      const t0 = performance.now();
      const r = orig.apply(this, arguments);
      const t1 = performance.now();
      if (B.drawnAt === null) {
        B.drawnAt = t1;
        B.firstDrawMs = t1 - t0;
      }
      if (B.rec) B.rec.draws.push(t1 - t0);
      return r;
    };
  };
  const seen = new MutationObserver(() => {
    if (B.readyAt !== null || !document.body || document.body.dataset.state !== 'ready') return;
    B.readyAt = performance.now();
    seen.disconnect();
    // A microtask after the merge set "ready": the timeline's draw is
    // still waiting for the next animation frame.
    B.wrapDraw();
  });
  seen.observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });

  // Recording: every rAF tick's timestamp, every draw's duration.
  B.startRec = () => {
    const rec = (B.rec = { ticks: [], draws: [], t0: performance.now(), on: true });
    const tick = (ts) => {
      if (!rec.on) return;
      rec.ticks.push(ts);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  };
  B.stopRec = () => {
    const rec = B.rec;
    rec.on = false;
    rec.t1 = performance.now();
    B.rec = null;
    return { ms: rec.t1 - rec.t0, ticks: rec.ticks, draws: rec.draws };
  };
  // API-driven phase: change the view once per frame for `ms`, recording.
  B.apiPhase = (kind, ms) =>
    new Promise((resolve) => {
      const tl = window.htracr.timeline;
      let n = 0;
      const t0 = performance.now();
      B.startRec();
      const step = () => {
        n++;
        // pan: 15 px a frame, turning every 100 frames; zoom: 30 frames in
        // at 0.885 a frame (~39x), then 30 out, the centre kept
        if (kind === 'pan') tl.panBy(n % 200 < 100 ? 15 : -15);
        else tl.zoomBy(n % 60 < 30 ? 0.885 : 1 / 0.885);
        if (performance.now() - t0 < ms) requestAnimationFrame(step);
        else resolve(B.stopRec());
      };
      requestAnimationFrame(step);
    });
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : null);
const med = (a) => {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length & 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const r2 = (x) => (x === null || x === undefined ? null : Math.round(x * 100) / 100);

// One phase's numbers: frames drawn per second (draw() calls over the
// phase), rAF ticks per second, frame intervals (rAF to rAF: what the eye
// sees) and draw times (the timeline's draw(): its JavaScript and the canvas
// calls; with --disable-gpu Chromium rasterises the canvas when it commits
// the frame, after draw() returns, so that part is only in the intervals).
function summarise(rec) {
  const iv = [];
  for (let i = 1; i < rec.ticks.length; i++) iv.push(rec.ticks[i] - rec.ticks[i - 1]);
  iv.sort((a, b) => a - b);
  const d = [...rec.draws].sort((a, b) => a - b);
  const s = rec.ms / 1000;
  return {
    seconds: r2(s),
    frames_drawn: rec.draws.length,
    fps: r2(rec.draws.length / s),
    raf_per_s: r2(rec.ticks.length / s),
    frame_ms_median: r2(med(iv)),
    frame_ms_p95: r2(pct(iv, 0.95)),
    frame_ms_max: r2(iv.length ? iv[iv.length - 1] : null),
    draw_ms_median: r2(med(d)),
    draw_ms_p95: r2(pct(d, 0.95)),
    draw_ms_max: r2(d.length ? d[d.length - 1] : null),
  };
}

// Put the view at `factor` x the fit zoom, centred on the capture, and wait
// until that frame is drawn.
async function setZoom(page, factor) {
  await page.evaluate(async (f) => {
    const tl = window.htracr.timeline;
    tl.fit();
    if (f !== 1) tl.zoomTo(tl.upp / f);
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  }, factor);
}

// The middle of the plot (right of the gutter), in page coordinates.
async function plotCentre(page) {
  return page.evaluate(() => {
    const tl = window.htracr.timeline;
    const r = tl.els.scroller.getBoundingClientRect();
    const gutter = tl.W - tl.plotW;
    return { x: r.left + gutter + tl.plotW / 2, y: r.top + Math.min(r.height, 600) / 2, amp: tl.plotW / 3 };
  });
}

// Real input at a fixed rate, as a mouse or trackpad sends it (125 Hz), over
// the DevTools protocol. Events are not waited for one by one: Chromium
// acknowledges an input event only when a frame has handled it, so waiting
// would send one event per frame at best and measure the protocol, not the
// page. At most MAX_INFLIGHT go unacknowledged, so nothing piles up when the
// page is slow; the events the page then never saw are counted as skipped.
const INPUT_HZ = 125;
const MAX_INFLIGHT = 8;

async function inputPhase(page, ms, makeEvent) {
  const cdp = await page.context().newCDPSession(page);
  let inflight = 0, sent = 0, skipped = 0, failed = 0;
  const send = (method, params) => {
    inflight++;
    return cdp.send(method, params).then(() => { inflight--; }, () => { inflight--; failed++; });
  };
  const first = makeEvent(-1);
  if (first) await send(first.method, first.params);
  await page.evaluate(() => window.__bench.startRec());
  const t0 = performance.now();
  const period = 1000 / INPUT_HZ;
  for (let k = 0; ; k++) {
    const due = t0 + k * period;
    const now = performance.now();
    if (now - t0 >= ms) break;
    if (due > now) await new Promise((r) => setTimeout(r, due - now));
    if (inflight >= MAX_INFLIGHT) {
      skipped++;
      continue;
    }
    const ev = makeEvent(sent);
    send(ev.method, ev.params);
    sent++;
  }
  const rec = await page.evaluate(() => window.__bench.stopRec());
  const last = makeEvent(null);
  if (last) await send(last.method, last.params);
  while (inflight > 0) await new Promise((r) => setTimeout(r, 5));
  await cdp.detach();
  return { ...summarise(rec), input_events: sent, input_skipped: skipped, input_failed: failed };
}

// Drag the plot left and right, 6 px an event (750 px/s), at 20x zoom.
async function dragPhase(page, ms) {
  await setZoom(page, 20);
  const c = await plotCentre(page);
  await page.mouse.move(c.x, c.y);
  let x = c.x, dir = 1;
  const mouse = (type, px, extra = {}) => ({
    method: 'Input.dispatchMouseEvent',
    params: { type, x: px, y: c.y, button: 'left', buttons: 1, clickCount: 1, ...extra },
  });
  return inputPhase(page, ms, (i) => {
    if (i === -1) return mouse('mousePressed', x);
    if (i === null) return mouse('mouseReleased', x, { buttons: 0 });
    x += dir * 6;
    if (Math.abs(x - c.x) > c.amp) dir = -dir;
    return mouse('mouseMoved', x);
  });
}

// Ctrl+wheel at the plot's centre: 60 events in, 60 out; deltaY 25 is a
// factor of exp(25 * 0.0025) = 1.065 (web/timeline.js), so ~44x each way.
async function wheelPhase(page, ms) {
  await setZoom(page, 1);
  const c = await plotCentre(page);
  await page.mouse.move(c.x, c.y);
  const CTRL = 2; // CDP modifier bit
  return inputPhase(page, ms, (i) => {
    if (i === -1 || i === null) return null;
    return {
      method: 'Input.dispatchMouseEvent',
      params: { type: 'mouseWheel', x: c.x, y: c.y, deltaX: 0, deltaY: i % 120 < 60 ? -25 : 25, modifiers: CTRL },
    };
  });
}

async function apiPhase(page, kind, ms) {
  await setZoom(page, kind === 'pan' ? 20 : 1);
  const rec = await page.evaluate(([k, t]) => window.__bench.apiPhase(k, t), [kind, ms]);
  return summarise(rec);
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const pw = loadPlaywright();
  if (!pw) {
    console.error('ui_measure: playwright-core not found; install it with `(cd tests/e2e && npm ci)` ' +
      '(or point NODE_PATH at a node_modules that has it)');
    process.exit(3);
  }
  if (!existsSync(CHROMIUM)) {
    console.error(`ui_measure: no browser at ${CHROMIUM}; install Debian's chromium ` +
      '(sudo bash scripts/install-deps.sh test) or set HTRACR_CHROMIUM');
    process.exit(3);
  }
  if (opt.check) {
    console.log(JSON.stringify({ playwright: 'ok', chromium: CHROMIUM }));
    return;
  }
  const args = [...BASE_ARGS, ...(opt.uncapped ? UNCAPPED_ARGS : [])];
  const browser = await pw.chromium.launch({ executablePath: CHROMIUM, args });
  const errors = [];
  const out = { url: opt.url, chromium_args: args, viewport: VIEWPORT, browser_version: browser.version() };
  try {
    const page = await browser.newPage({ viewport: VIEWPORT });
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    await page.addInitScript(pageInit);

    const t0 = process.hrtime.bigint();
    await page.goto(opt.url);
    await page.waitForFunction(() => window.__bench && window.__bench.drawnAt !== null, null,
      { timeout: OPEN_TIMEOUT_MS, polling: 'raf' });
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const o = await page.evaluate(() => {
      const B = window.__bench;
      const m = window.htracr.model;
      const res = performance.getEntriesByType('resource').filter((e) => /\/api\/model(\?|$)/.test(e.name));
      const nav = performance.getEntriesByType('navigation')[0];
      const big = B.parses.length ? B.parses[0] : null;
      const r = res.length ? res[0] : null;
      return {
        model_bytes: r ? r.encodedBodySize || r.transferSize || null : null,
        model_fetch_start: r ? r.startTime : null,
        model_fetch_end: r ? r.responseEnd : null,
        dom_content_loaded: nav ? nav.domContentLoadedEventEnd : null,
        parse_start: big ? big.start : null,
        parse_end: big ? big.end : null,
        ready: B.readyAt,
        drawn: B.drawnAt,
        first_draw_ms: B.firstDrawMs,
        conns: m.conns.size,
        msgs: m.messageCount,
        packets: m.packetCount,
      };
    });
    out.counts = { conns: o.conns, msgs: o.msgs, packets: o.packets, model_bytes: o.model_bytes };
    // In the page's clock (ms from navigation start):
    //   page      navigation start -> the /api/model request goes out (HTML,
    //             modules, /api/status and /api/settings first)
    //   fetch     the /api/model request, first byte to last
    //   parse     JSON.parse of the reply
    //   merge     parse end -> "ready" (model.merge, layout, counts, panel)
    //   draw      "ready" -> the end of the first draw
    const d = (a, b) => (a === null || b === null ? null : r2(b - a));
    out.open = {
      wall_ms: r2(wallMs),
      in_page_ms: r2(o.drawn),
      page_ms: r2(o.model_fetch_start),
      fetch_ms: d(o.model_fetch_start, o.model_fetch_end),
      parse_ms: d(o.parse_start, o.parse_end),
      merge_ms: d(o.parse_end, o.ready),
      ready_ms: r2(o.ready),
      draw_ms: d(o.ready, o.drawn),
      first_draw_ms: r2(o.first_draw_ms),
    };
    const ms = opt.seconds * 1000;
    out.phases = {};
    out.phases['pan-drag'] = await dragPhase(page, ms);
    out.phases['zoom-wheel'] = await wheelPhase(page, ms);
    out.phases['pan-api'] = await apiPhase(page, 'pan', ms);
    out.phases['zoom-api'] = await apiPhase(page, 'zoom', ms);
  } finally {
    await browser.close();
  }
  out.console_errors = errors;
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(`ui_measure: ${e.message}`);
  process.exit(1);
});
