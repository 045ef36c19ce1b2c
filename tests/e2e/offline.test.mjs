// SPDX-License-Identifier: MIT
// offline.test.mjs - htracr's web UI on capture files, in headless chromium.
//
// htracr serves a file (`htracr -r FILE PORT`); the page must agree with
// `htracr -r FILE --json -` (the same pipeline's other output): counts,
// headers, the order of packets and messages; zooming must keep the centre;
// the keys must move the selection; the body window must show a gzip'd
// response decoded; an uploaded pcap must come back the same through the
// pcap download; POSTs without the per-run token must be refused, from
// another origin and from the page's own. Run on a corpus capture
// (../shared/corpus, skipped when absent) and on captures of real nginx
// traffic that tests/e2e/netlab.py makes (root; skipped otherwise), whose
// served files are the expected bodies. The lossy capture's connection is
// shown with its charts and saved as a screenshot.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  OUT, isRoot, corpusFile, freePort, run, htracrJson, counts, shape, startHtracr, api, sleep,
  launchBrowser, watchErrors, openUi, waitReady, pageCounts, clickMessage, panelHeaders, makeCaptures,
} from './lib.mjs';
import { fmtDur } from '../../web/format.js';

const CORPUS = corpusFile('zeek/wikipedia/wikipedia.pcap');
const CORPUS_NEAR_CLIENT = corpusFile('zeek/missing-syn/missing-syn.pcap');
const CORPUS_GZIP = corpusFile('zeek/get-gzip/get-gzip.pcap');
const CORPUS_METHODS = corpusFile('zeek/methods/methods.pcap');
const CAPDIR = path.join(OUT, 'captures');

let browser = null;
let made = null; // what netlab.py made (own captures)
let madeError = null;

before(async () => {
  browser = await launchBrowser();
  if (isRoot) {
    try {
      made = await makeCaptures(CAPDIR);
    } catch (e) {
      madeError = e;
    }
  }
});

after(async () => {
  if (browser) await browser.close();
});

function ownCaptures() {
  if (madeError) throw madeError;
  return made;
}

/** Messages of one --json connection in time order. */
function timeOrder(conn) {
  return [...conn.messages].sort((a, b) => a.start_us - b.start_us || a.id - b.id);
}

function allMessages(doc) {
  return doc.connections.flatMap((c) => c.messages.map((m) => ({ ...m, conn: c.id })));
}

async function view(page) {
  return page.evaluate(() => ({ ...window.htracr.view }));
}

/** A page on another origin that tries to clear htracr's model. */
function csrfServer(target) {
  const html = `<!doctype html><meta charset=utf-8><title>elsewhere</title>
<form id=f method=post action="${target}/api/clear"><input name=x value=1></form>
<script>
window.results = {};
(async () => {
  try {
    const r = await fetch('${target}/api/clear', { method: 'POST' });
    results.simple = 'read ' + r.status;
  } catch (e) { results.simple = 'refused'; }
  try {
    const r = await fetch('${target}/api/clear', { method: 'POST', headers: { 'X-Htracr-Token': '0123456789abcdef0123456789abcdef' } });
    results.preflighted = 'read ' + r.status;
  } catch (e) { results.preflighted = 'refused'; }
  results.done = true;
})();
</script>`;
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  return srv;
}

/**
 * The checks every served capture gets. cfg() returns, once the suite's
 * `before` has run: {file, upload, body: {msgId, text} | null | fn, name}.
 */
function fileSuite(name, cfgFn) {
  let cfg = null;
  let h = null;
  let doc = null;
  let ui = null;

  before(async () => {
    cfg = await cfgFn();
    doc = await htracrJson(cfg.file);
    h = await startHtracr(['-r', cfg.file]);
    ui = await openUi(browser.context, h);
  });

  after(async () => {
    if (ui) await ui.page.close();
    if (h) {
      const rc = await h.stop();
      assert.equal(rc, 0, `htracr exit status on SIGINT: ${h.stderr()}`);
    }
  });

  it('the page loads without console errors and holds the model\'s connections and messages', async () => {
    const { page, errors } = ui;
    // let the websocket feed come up and settle
    await page.waitForFunction(() => /connected/.test(document.querySelector('#feed-state').textContent));
    const want = counts(doc);
    const got = await pageCounts(page);
    assert.ok(want.conns > 0 && want.msgs > 0, `the capture has HTTP (${JSON.stringify(want)})`);
    assert.equal(got.conns, want.conns, '#conn-count vs --json connections');
    assert.equal(got.msgs, want.msgs, '#msg-count vs --json messages');
    assert.equal(got.modelConns, want.conns, 'window.htracr.model connections');
    assert.equal(got.modelMsgs, want.msgs, 'window.htracr.model messages');
    assert.equal(got.connText.replace(/\D/g, ''), String(want.conns), '#conn-count text');
    assert.equal(got.msgText.replace(/\D/g, ''), String(want.msgs), '#msg-count text');
    const ids = await page.evaluate(() => [...window.htracr.model.conns.values()]
      .flatMap((c) => c.messages.map((m) => m.id)).sort((a, b) => a - b));
    assert.deepEqual(ids, allMessages(doc).map((m) => m.id).sort((a, b) => a - b), 'message ids');
    // the empty panel links the counters for Prometheus, which count the
    // file's requests
    const metrics = await page.evaluate(async () => {
      const a = [...document.querySelectorAll('#detail a')].find((x) => x.textContent === '/metrics');
      if (!a) return null;
      const r = await fetch(a.href);
      return { type: r.headers.get('content-type'), text: await r.text() };
    });
    assert.ok(metrics, 'the panel links /metrics');
    assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
    const requests = metrics.text.split('\n').filter((l) => l.startsWith('htracr_http_requests_total{'))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    assert.equal(requests, allMessages(doc).filter((m) => m.kind === 'request').length, '/metrics requests');
    assert.deepEqual(errors, [], 'console errors');
  });

  it('zooming with +, -, the slider and its buttons keeps the view centre', async () => {
    const { page } = ui;
    // start off-centre, so that zooming about anything else would show
    await page.evaluate(() => {
      const tl = window.htracr.timeline;
      const sp = window.htracr.model.span;
      tl.setView(sp.t0 + (sp.t1 - sp.t0) * 0.37, tl.upp / 3);
    });
    await page.locator('#scroller').focus();
    const steps = [
      ['key +', () => page.keyboard.press('+'), 1 / 1.6],
      ['key +', () => page.keyboard.press('+'), 1 / 1.6],
      ['key -', () => page.keyboard.press('-'), 1.6],
      ['slider', async () => {
        // towards the deep end, or back when already near it
        const v = Number(await page.locator('#zoom').inputValue());
        await page.locator('#zoom').fill(String(v <= 850 ? v + 120 : v - 120));
        return v <= 850 ? 'in' : 'out';
      }, null],
      ['button −', () => page.locator('[data-testid=zoom-out]').click(), 1.6],
      ['button +', () => page.locator('[data-testid=zoom-in]').click(), 1 / 1.6],
    ];
    for (const [what, act, factor] of steps) {
      const v0 = await view(page);
      const dir = await act();
      const v1 = await view(page);
      if (factor) {
        assert.ok(Math.abs(v1.us_per_px - v0.us_per_px * factor) <= v0.us_per_px * 1e-9,
          `${what}: µs/px ${v0.us_per_px} -> ${v1.us_per_px}, want ×${factor}`);
      } else if (dir === 'in') {
        assert.ok(v1.us_per_px < v0.us_per_px * 0.9, `${what}: zoomed in (${v0.us_per_px} -> ${v1.us_per_px})`);
      } else {
        assert.ok(v1.us_per_px > v0.us_per_px * 1.1, `${what}: zoomed out (${v0.us_per_px} -> ${v1.us_per_px})`);
      }
      const px = Math.max(v1.us_per_px, 1);
      assert.ok(Math.abs(v1.center_us - v0.center_us) <= px,
        `${what}: centre moved ${v1.center_us - v0.center_us} µs (a pixel is ${v1.us_per_px} µs)`);
    }
    await page.keyboard.press('0');
  });

  it('zooming with + and - about a selected message keeps it where it is, and stops following live data', async () => {
    const { page } = ui;
    await page.locator('#scroller').focus();
    // the whole capture in view, a message a fifth to two fifths into it
    // selected, and the view made to follow (as with live data)
    const id = await page.evaluate(() => {
      const tl = window.htracr.timeline;
      const model = window.htracr.model;
      const sp = model.span;
      tl.setView((sp.t0 + sp.t1) / 2, (sp.t1 - sp.t0) / tl.plotW);
      const tL = tl.tL, w = tl.plotW * tl.upp;
      const m = [...model.msgs.values()].find((x) => x._s > tL + w * 0.2 && x._s < tL + w * 0.4);
      if (!m) return null;
      tl.select({ kind: 'message', msg: m.id }, false);
      tl.follow = true;
      return m.id;
    });
    assert.ok(id !== null && id !== undefined, 'a message a fifth to two fifths into the view');
    const at = () => page.evaluate((mid) => {
      const tl = window.htracr.timeline;
      const m = window.htracr.model.msg(mid);
      return { x: (m._s - tl.tL) / tl.upp, upp: tl.upp, center: tl.c, follow: tl.follow };
    }, id);
    for (const [key, factor] of [['+', 1 / 1.6], ['+', 1 / 1.6], ['-', 1.6]]) {
      const a = await at();
      await page.keyboard.press(key);
      const b = await at();
      assert.ok(Math.abs(b.upp - a.upp * factor) <= a.upp * 1e-9, `${key}: µs/px ${a.upp} -> ${b.upp}, want ×${factor}`);
      assert.ok(Math.abs(b.x - a.x) <= 1, `${key}: the selected message moved from ${a.x} to ${b.x} px`);
      assert.ok(Math.abs(b.center - a.center) > b.upp, `${key}: about the message, not the centre`);
      assert.equal(b.follow, false, `${key}: no longer following`);
    }
    await page.keyboard.press('Escape');
    await page.keyboard.press('0');
  });

  it('arrow keys move the selection to the next / previous packet and message in time order', async () => {
    const { page } = ui;
    const conn = [...doc.connections].sort((a, b) => b.messages.length - a.messages.length || a.id - b.id)[0];
    const msgs = timeOrder(conn);
    assert.ok(msgs.length >= 2, 'a connection with two messages');
    await page.locator('#scroller').focus();
    await page.keyboard.press('Escape');
    assert.equal(await page.evaluate(() => window.htracr.selection), null, 'Esc clears the selection');

    // messages: ⇧→ walks through the connection's messages in time order
    await page.evaluate(([m, c]) => window.htracr.select({ kind: 'message', msg: m, conn: c }), [msgs[0].id, conn.id]);
    for (let k = 1; k < msgs.length; k++) {
      await page.keyboard.press('Shift+ArrowRight');
      const s = await page.evaluate(() => window.htracr.selection);
      assert.equal(s.kind, 'message', `⇧→ #${k} selects a message`);
      assert.equal(s.msg, msgs[k].id, `⇧→ #${k}: message ${msgs[k].id} (${msgs[k].kind} ${msgs[k].url ?? msgs[k].status})`);
    }
    await page.keyboard.press('Shift+ArrowLeft');
    assert.equal((await page.evaluate(() => window.htracr.selection)).msg, msgs[msgs.length - 2].id, '⇧← goes back one');

    // packets: → is the next packet of the connection, ← the one before
    const n = Math.min(conn.packets.length - 1, 5);
    await page.evaluate((c) => window.htracr.select({ kind: 'packet', conn: c, idx: 0 }), conn.id);
    for (let i = 1; i <= n; i++) {
      await page.keyboard.press('ArrowRight');
      const s = await page.evaluate(() => window.htracr.selection);
      assert.deepEqual([s.kind, s.conn, s.idx], ['packet', conn.id, i], `→ #${i}`);
      assert.ok(conn.packets[i].ts_us >= conn.packets[i - 1].ts_us, 'packets are in time order');
      const p = await page.evaluate(() => {
        const d = document.querySelector('#detail .pkt');
        const row = [...document.querySelectorAll('#detail table.kv tr')].find((r) => r.querySelector('th')?.textContent === 'flags');
        return d && { idx: Number(d.dataset.idx), flags: row?.querySelector('td').textContent };
      });
      assert.equal(p?.idx, i, 'the detail panel shows the packet');
      assert.equal(p.flags, conn.packets[i].flags || '(none)', `packet ${i} flags in the panel`);
    }
    await page.keyboard.press('ArrowLeft');
    assert.equal((await page.evaluate(() => window.htracr.selection)).idx, n - 1, '← goes back one');

    // ⇧→ from a packet: the first message starting after it
    await page.keyboard.press('Shift+ArrowRight');
    const t = conn.packets[n - 1].ts_us;
    const next = msgs.find((m) => m.start_us > t);
    const s = await page.evaluate(() => window.htracr.selection);
    if (next) assert.equal(s.msg, next.id, '⇧→ from a packet goes to the next message in time');

    // ↓ and ↑ cross rows keeping the time, and come back to where they
    // began: from the middle packet, and from a message, of the first row
    const first = await page.evaluate(() => {
      const rows = window.htracr.timeline.rows.filter((r) => r.kind === 'conn');
      return rows.length >= 3 && { id: rows[0].conn.id, n: rows[0].conn.n, msg: rows[0].conn.messages[0]?.id };
    });
    assert.ok(first && first.msg, 'three connection rows, the first with messages');
    for (const start of [{ kind: 'packet', conn: first.id, idx: first.n >> 1 }, { kind: 'message', conn: first.id, msg: first.msg }]) {
      await page.evaluate((st) => window.htracr.select(st), start);
      const seen = [];
      for (const key of ['ArrowDown', 'ArrowDown', 'ArrowUp', 'ArrowUp']) {
        await page.keyboard.press(key);
        seen.push(await page.evaluate(() => window.htracr.selection));
      }
      assert.ok(seen[0].conn !== first.id && seen[1].conn !== seen[0].conn && seen.every((x) => x.kind === start.kind),
        `↓ ↓ went to two other rows' ${start.kind}s: ${JSON.stringify(seen)}`);
      assert.deepEqual(seen[2], seen[0], `↑ came back to the ${start.kind} ↓ had selected`);
      assert.deepEqual(seen[3], start, `↓ ↓ ↑ ↑ ended on the ${start.kind} it began from`);
    }
  });

  it('clicking a message shows its start line and headers in the detail panel', async () => {
    const { page } = ui;
    // the response with the most headers, then the request with the most
    for (const kind of ['response', 'request']) {
      const m = allMessages(doc).filter((x) => x.kind === kind)
        .sort((a, b) => b.headers.length - a.headers.length || a.id - b.id)[0];
      assert.ok(m && m.headers.length > 0, `a ${kind} with headers`);
      await clickMessage(page, m.id);
      await page.waitForFunction((id) => window.htracr.selection?.msg === id, m.id, { timeout: 3000 })
        .catch(() => {});
      const s = await page.evaluate(() => window.htracr.selection);
      assert.equal(s?.kind, 'message', `the click selected a message (${JSON.stringify(s)})`);
      assert.equal(s.msg, m.id, `the click selected ${kind} ${m.id}`);
      const got = await panelHeaders(page);
      assert.ok(got, '#detail table.headers is there');
      assert.deepEqual(got.headers, m.headers, `${kind} ${m.id}: header names and values`);
      const want = kind === 'request' ? `${m.method} ${m.url} HTTP/${m.version}` : `HTTP/${m.version} ${m.status}`;
      assert.ok(got.startLine.startsWith(want), `start line "${got.startLine}" starts with "${want}"`);
    }
  });

  it('the body window shows a gzip response decoded', async (t) => {
    if (!cfg.body) {
      t.skip(cfg.noBodyWhy || 'no gzip response with a known body in this capture');
      return;
    }
    await checkBody(ui.page, doc, cfg.body);
  });

  it('a cross-origin POST without the token is refused, and a same-origin one too', async () => {
    const before = (await api(h, '/api/status')).json();
    // another origin: a page there tries to clear the model
    const port = await freePort();
    const srv = csrfServer(h.origin);
    await new Promise((r) => srv.listen(port, '127.0.0.1', r));
    const page = await browser.context.newPage();
    const sent = [];
    const answered = [];
    page.on('request', (r) => { if (r.url().startsWith(h.origin)) sent.push(r.method()); });
    page.on('response', (r) => { if (r.url().startsWith(h.origin)) answered.push([r.request().method(), r.status()]); });
    try {
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForFunction(() => window.results?.done, null, { timeout: 10000 });
      const res = await page.evaluate(() => window.results);
      assert.equal(res.simple, 'refused', 'the other origin cannot read the answer to a plain POST');
      assert.equal(res.preflighted, 'refused', 'a POST with a token header fails its preflight');
      // a classic form POST (a navigation): its answer can be seen
      const [resp] = await Promise.all([
        page.waitForResponse((r) => r.url() === `${h.origin}/api/clear`),
        page.evaluate(() => document.getElementById('f').submit()),
      ]);
      // closing a tab in the middle of a navigation can hang chromium: let it end
      await page.waitForURL(`${h.origin}/api/clear`, { waitUntil: 'load' });
      assert.equal(resp.status(), 403, 'form POST from another origin');
      assert.ok(sent.filter((m) => m === 'POST').length >= 2, `the browser sent the POSTs (${JSON.stringify(sent)})`);
      for (const [m, st] of answered) assert.equal(st, 403, `${m} from another origin got ${st}`);
    } finally {
      await page.close();
      srv.closeAllConnections();
      srv.close();
    }
    // the same origin, without the token or with a wrong one
    const same = await browser.context.newPage();
    try {
      await same.goto(h.origin + '/api/status');
      const st = await same.evaluate(async () => {
        const out = {};
        out.clear = (await fetch('/api/clear', { method: 'POST' })).status;
        out.wrong = (await fetch('/api/clear', { method: 'POST', headers: { 'X-Htracr-Token': '0'.repeat(32) } })).status;
        out.settings = (await fetch('/api/settings', { method: 'POST', body: '{"ports":[81]}' })).status;
        return out;
      });
      assert.deepEqual(st, { clear: 403, wrong: 403, settings: 403 }, 'same-origin POSTs without the token');
    } finally {
      await same.close();
    }
    const after = (await api(h, '/api/status')).json();
    assert.equal(after.generation, before.generation, 'the model was not cleared (generation)');
    assert.equal(after.stats.connections, before.stats.connections, 'the model was not cleared (connections)');
    assert.deepEqual(after.ports, before.ports, 'the ports were not changed');
    const got = await pageCounts(ui.page);
    assert.equal(got.conns, counts(doc).conns, 'the page still shows every connection');
  });

  it('Clear with the token empties the model; a pcap uploaded in the page comes back the same through the pcap download', async () => {
    const { page, errors } = ui;
    const up = await htracrJson(cfg.upload);
    const gen0 = (await pageCounts(page)).generation;
    await page.locator('[data-testid=clear]').click();
    await page.waitForFunction((g) => document.body.dataset.generation !== g &&
      document.querySelector('#conn-count').dataset.value === '0', gen0);
    const gen1 = (await pageCounts(page)).generation;

    await page.locator('[data-testid=file-input]').setInputFiles(cfg.upload);
    await page.waitForFunction((g) => document.body.dataset.generation !== g && document.body.dataset.state === 'ready' &&
      Number(document.querySelector('#conn-count').dataset.value) > 0, gen1);
    const st = (await api(h, '/api/status')).json();
    assert.equal(st.source, `upload:${path.basename(cfg.upload)}`, 'the server names the upload by its file');
    const got = await pageCounts(page);
    assert.equal(got.conns, counts(up).conns, 'connections after the upload');
    assert.equal(got.msgs, counts(up).msgs, 'messages after the upload');

    await page.locator('[data-testid=downloads]').click();
    const [dl] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('[data-testid=download-pcap]').click(),
    ]);
    const saved = path.join(OUT, `${name.replace(/\W+/g, '-')}-download.pcap`);
    await dl.saveAs(saved);
    const back = await htracrJson(saved);
    assert.deepEqual(shape(back), shape(up), 'the downloaded pcap reads back as the uploaded one');
    assert.equal(back.stats.packets, up.stats.packets, 'packets');
    assert.deepEqual(errors, [], 'console errors during the suite');
  });

  it('the body window shows a gzip response of the uploaded capture decoded', async (t) => {
    if (!cfg.uploadBody) {
      t.skip(cfg.noUploadBodyWhy || 'no gzip response with a known body in the uploaded capture');
      return;
    }
    const up = await htracrJson(cfg.upload);
    assert.equal((await pageCounts(ui.page)).msgs, counts(up).msgs, 'the page shows the uploaded capture');
    await checkBody(ui.page, up, await cfg.uploadBody(up));
  });
}

/** Select the gzip'd response body.msg by a click, press "Open body", read the new window. */
async function checkBody(page, doc, body) {
  const m = allMessages(doc).find((x) => x.id === body.msg);
  assert.ok(m, `message ${body.msg} is in the model`);
  assert.equal(m.kind, 'response');
  assert.equal(m.content_encoding, 'gzip', 'the response is gzip\'d on the wire');
  assert.ok(m.body_bytes < Buffer.byteLength(body.text), 'the wire body is smaller than the text');
  await clickMessage(page, m.id);
  await page.waitForFunction((id) => window.htracr.selection?.msg === id, m.id, { timeout: 3000 });
  const [popup] = await Promise.all([
    page.context().waitForEvent('page'),
    page.locator('#detail [data-testid=open-body]').click(),
  ]);
  try {
    await popup.waitForLoadState('load');
    assert.equal(new URL(popup.url()).pathname + new URL(popup.url()).search, `/api/body?msg=${m.id}`);
    const text = await popup.evaluate(() => (document.querySelector('pre') || document.body).textContent);
    assert.equal(text, body.text, 'the decoded body');
  } finally {
    await popup.close();
  }
}

describe('corpus zeek/wikipedia', { skip: CORPUS ? false : 'the shared corpus is absent (../shared/corpus)' }, () => {
  fileSuite('corpus', async () => {
    const cfg = {
      file: CORPUS,
      upload: CORPUS_GZIP || CORPUS,
      body: null,
      noBodyWhy: 'wikipedia.pcap has no gzip\'d body (its responses are 304s); the uploaded get-gzip.pcap is checked below',
    };
    if (!CORPUS_GZIP) cfg.noUploadBodyWhy = 'zeek/get-gzip is absent from the corpus';
    else {
      // the decoded body as tshark exports it (an independent reader)
      cfg.uploadBody = async (doc) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'htr-e2e-objs-'));
        try {
          const r = await run('tshark', ['-n', '-r', CORPUS_GZIP, '--export-objects', `http,${dir}`, '-q']);
          assert.equal(r.code, 0, `tshark --export-objects: ${r.stderr}`);
          const files = fs.readdirSync(dir);
          assert.equal(files.length, 1, `tshark exported one object (${files})`);
          const text = fs.readFileSync(path.join(dir, files[0]), 'utf8');
          const m = allMessages(doc).find((x) => x.kind === 'response' && x.content_encoding === 'gzip');
          assert.ok(m, 'a gzip response in get-gzip.pcap');
          return { msg: m.id, text };
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      };
    }
    return cfg;
  });
});

/**
 * Serve one capture for a describe block: its --json (doc), htracr on it
 * (h) and a page (ui), set up before the block's tests and closed after.
 */
function serveFile(file) {
  const sv = { h: null, ui: null, doc: null };
  before(async () => {
    sv.doc = await htracrJson(file);
    sv.h = await startHtracr(['-r', file]);
    sv.ui = await openUi(browser.context, sv.h);
  });
  after(async () => {
    if (sv.ui) await sv.ui.page.close();
    if (sv.h) await sv.h.stop();
  });
  return sv;
}

describe('corpus zeek/wikipedia: one time origin, Esc, search, z', { skip: CORPUS ? false : 'the shared corpus is absent (../shared/corpus)' }, () => {
  // wikipedia.pcap starts with 1.5 s of DNS before its first HTTP
  // connection: a panel that counted from the first connection, not from
  // the first packet as the axis does, was 1.555 s off
  const sv = serveFile(CORPUS);

  const kvOf = (page, key) => page.evaluate((k) => [...document.querySelectorAll('#detail table.kv tr')]
    .find((r) => r.querySelector('th')?.textContent === k)?.querySelector('td')?.textContent ?? null, key);

  it('the panel counts time from the first packet, as the axis does', async () => {
    const { page } = sv.ui;
    assert.ok(sv.doc.start_us !== null, 'the model has a first packet');
    assert.equal(await page.evaluate(() => window.htracr.model.origin), sv.doc.start_us, 'the page\'s origin is the first packet');
    const c = [...sv.doc.connections].sort((a, b) => a.start_us - b.start_us)[0];
    assert.ok(c.start_us - sv.doc.start_us > 1e6, `the first connection starts ${c.start_us - sv.doc.start_us} µs in`);
    await page.evaluate((id) => window.htracr.select({ kind: 'conn', conn: id }), c.id);
    const start = await kvOf(page, 'start');
    assert.ok(start?.startsWith(`${fmtDur(c.start_us - sv.doc.start_us)} (`), `connection #${c.id} start "${start}"`);
    await page.evaluate((id) => window.htracr.select({ kind: 'packet', conn: id, idx: 2 }), c.id);
    const t = await kvOf(page, 'time');
    assert.ok(t?.startsWith(`${fmtDur(c.packets[2].ts_us - sv.doc.start_us)} (`), `packet 2 time "${t}"`);
    const m = c.messages[0];
    await page.evaluate(([mid, cid]) => window.htracr.select({ kind: 'message', msg: mid, conn: cid }), [m.id, c.id]);
    const ms = await kvOf(page, 'start');
    assert.ok(ms?.startsWith(`${fmtDur(m.start_us - sv.doc.start_us)} (`), `message ${m.id} start "${ms}"`);
  });

  it('one Esc in a filter field closes the filter bar', async () => {
    const { page } = sv.ui;
    await page.locator('#scroller').focus();
    await page.keyboard.press('f');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'f-host', 'f opens the bar in the host field');
    await page.keyboard.press('Escape');
    assert.equal(await page.evaluate(() => document.querySelector('#filterbar').hidden), true, 'the bar is closed');
  });

  it('Esc closes an open menu before it clears the selection; keys do not act behind the help', async () => {
    const { page } = sv.ui;
    const c = sv.doc.connections[0];
    await page.evaluate((id) => window.htracr.select({ kind: 'conn', conn: id }), c.id);
    await page.locator('[data-testid=view-menu]').click();
    assert.equal(await page.evaluate(() => document.querySelector('#view-menu').open), true, 'the menu opened');
    await page.keyboard.press('Escape');
    assert.equal(await page.evaluate(() => document.querySelector('#view-menu').open), false, 'Esc closed the menu');
    assert.equal((await page.evaluate(() => window.htracr.selection))?.conn, c.id, 'and kept the selection');
    await page.locator('#scroller').focus();
    await page.keyboard.press('?');
    assert.equal(await page.evaluate(() => document.querySelector('#help').hidden), false, '? opens the help');
    const v0 = await page.evaluate(() => ({ ...window.htracr.view }));
    await page.keyboard.press('+');
    assert.deepEqual(await page.evaluate(() => ({ ...window.htracr.view })), v0, '+ behind the help does not zoom');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'help-close', 'Tab stays in the help');
    await page.keyboard.press('Escape');
    assert.equal(await page.evaluate(() => document.querySelector('#help').hidden), true, 'Esc closes the help');
  });

  it('search counts the matching messages, and Enter selects the first in time', async () => {
    const { page } = sv.ui;
    const q = '304';
    const want = allMessages(sv.doc).filter((m) => (m.kind === 'response'
      ? [String(m.status), m.reason, m.content_type] : [m.method, m.url]).some((f) => f && String(f).toLowerCase().includes(q)))
      .sort((a, b) => a.start_us - b.start_us || a.id - b.id);
    assert.ok(want.length > 1, `${q} matches several messages (${want.length})`);
    await page.locator('#search').fill(q);
    await page.waitForFunction(() => document.querySelector('#search-count').textContent !== '', null, { timeout: 3000 });
    assert.equal((await page.locator('#search-count').innerText()).replace(/\D/g, ''), String(want.length), 'the count');
    await page.locator('#search').fill('');
    await page.locator('#search').type(q);
    await page.locator('#search').press('Enter'); // before the pause that runs the search
    const s = await page.evaluate(() => window.htracr.selection);
    assert.equal(s?.msg, want[0].id, 'Enter right after typing selects the first match');
    await page.locator('#search').fill('');
  });

  it('z zooms to a selected DNS lookup', async () => {
    const { page } = sv.ui;
    const k = await page.evaluate(() => window.htracr.model.dns.findIndex((d) => d.answer_us !== null && d.query_us !== null));
    assert.ok(k >= 0, 'a lookup with a query and an answer');
    await page.evaluate((i) => window.htracr.select({ kind: 'dns', dns: i }), k);
    await page.locator('#scroller').focus();
    await page.keyboard.press('z');
    const r = await page.evaluate((i) => {
      const tl = window.htracr.timeline;
      const d = window.htracr.model.dns[i];
      return { d: d._e - d._s, s: d._s, e: d._e, tL: tl.tL, tR: tl.tL + tl.plotW * tl.upp };
    }, k);
    assert.ok(r.s >= r.tL && r.e <= r.tR, 'the lookup is in view');
    assert.ok(r.tR - r.tL <= Math.max(r.d, 1000) * 2, `the view (${r.tR - r.tL} µs) is about the lookup (${r.d} µs)`);
    // and the Fit button brings the whole capture back
    await page.locator('[data-testid=zoom-fit]').click();
    const fit = await page.evaluate(() => {
      const tl = window.htracr.timeline;
      const sp = window.htracr.model.span;
      return { tL: tl.tL, tR: tl.tL + tl.plotW * tl.upp, t0: sp.t0, t1: sp.t1 };
    });
    assert.ok(fit.tL <= fit.t0 && fit.tR >= fit.t1, `Fit shows the whole span (${JSON.stringify(fit)})`);
  });
});

describe('htracr started again under an open page', { skip: CORPUS ? false : 'the shared corpus is absent' }, () => {
  it('the page says so and offers a reload (its token is the old run\'s: the feed could never come back)', async () => {
    const h1 = await startHtracr(['-r', CORPUS]);
    let h2 = null;
    const ui = await openUi(browser.context, h1);
    try {
      await ui.page.waitForFunction(() => /connected/.test(document.querySelector('#feed-state').textContent));
      await h1.stop();
      // the new run shows another capture: the page must not take it in
      const before = await ui.page.evaluate(() => window.htracr.model.conns.size);
      h2 = await startHtracr(['-r', CORPUS_METHODS], { port: h1.port });
      await ui.page.waitForSelector('[data-testid=restarted]', { timeout: 15000 });
      assert.equal(await ui.page.locator('#capture-state').innerText(), 'restarted', 'the status pill');
      await sleep(4500); // two of the poll's ticks
      assert.equal(await ui.page.locator('#capture-state').innerText(), 'restarted', 'the pill stays');
      assert.equal(await ui.page.evaluate(() => window.htracr.model.conns.size), before, 'the old run\'s model stays');
      assert.match(await ui.page.textContent('#source'), /wikipedia\.pcap/, 'and its source');
      for (const id of ['#btn-clear', '#btn-stop', '#file-input']) {
        assert.equal(await ui.page.locator(id).isDisabled(), true, `${id} is off`);
      }
      const hrefs = await ui.page.evaluate(() => [...document.querySelectorAll('#downloads a')].map((a) => a.getAttribute('href')));
      assert.deepEqual(hrefs, [null, null, null, null], 'the downloads (the new run\'s) are off');
      await Promise.all([ui.page.waitForNavigation(), ui.page.locator('[data-testid=restarted] button').click()]);
      await waitReady(ui.page);
      await ui.page.waitForFunction(() => /connected/.test(document.querySelector('#feed-state').textContent), null, { timeout: 10000 });
    } finally {
      await ui.page.close();
      if (h2) await h2.stop();
      await h1.stop();
    }
  });
});

const CORPUS_UNANSWERED = corpusFile('zeek/1000-requests-one-dropped-response/1000-requests-one-dropped-response.pcap');

describe('an unanswered request (corpus zeek/1000-requests-one-dropped-response)', { skip: CORPUS_UNANSWERED ? false : 'the shared corpus is absent' }, () => {
  const sv = serveFile(CORPUS_UNANSWERED);

  it('is marked on the timeline and its panel says no response came', async () => {
    const { page, errors } = sv.ui;
    const lone = allMessages(sv.doc).filter((m) => m.kind === 'request' && m.response === null);
    assert.equal(lone.length, 1, 'one request without a response in the capture');
    const marked = await page.evaluate(() => [...window.htracr.model.msgs.values()].filter((m) => m._unanswered).map((m) => m.id));
    assert.deepEqual(marked, [lone[0].id], 'the page marks that request, and no other');
    await page.evaluate(([m, c]) => window.htracr.select({ kind: 'message', msg: m, conn: c }), [lone[0].id, lone[0].conn]);
    const row = await page.evaluate(() => [...document.querySelectorAll('#detail table.kv tr')]
      .find((r) => r.querySelector('th')?.textContent === 'response')?.querySelector('td')?.textContent ?? null);
    // a file: nothing more will come, so no "(yet)"
    assert.equal(row, 'none captured', 'the panel says so');
    assert.deepEqual(errors, [], 'console errors');
  });
});

describe('own capture (nginx + curl in netns)', { skip: isRoot ? false : 'needs root (network namespaces)' }, () => {
  fileSuite('own', async () => {
    const c = ownCaptures();
    const doc = await htracrJson(c.site_pcap);
    const req = allMessages(doc).find((m) => m.kind === 'request' && m.url === c.gzip_url);
    assert.ok(req, `the capture has GET ${c.gzip_url}`);
    return {
      file: c.site_pcap,
      upload: c.lossy_pcap,
      body: { msg: req.response, text: fs.readFileSync(c.gzip_file, 'utf8') },
      uploadBody: null,
      noUploadBodyWhy: 'the uploaded lossy capture is a binary download (its body is checked above on site.pcap)',
    };
  });
});

// Captured near the client, without the SYN: the server's data is ACKed
// within about a millisecond (the client's ACK delay), the client's after a
// round trip of about 180 ms. The two must stay apart in the page.
describe('RTT samples per direction (corpus zeek/missing-syn)', { skip: CORPUS_NEAR_CLIENT ? false : 'the shared corpus is absent' }, () => {
  let h = null;
  let ui = null;
  after(async () => {
    if (ui) await ui.page.close();
    if (h) await h.stop();
  });

  it('the panel, the RTT chart\'s tooltip and the connection\'s RTT keep the directions apart (screenshot rtt-directions.png)', async () => {
    const doc = await htracrJson(CORPUS_NEAR_CLIENT);
    const conn = doc.connections[0];
    const s = conn.stats;
    assert.ok(conn.handshake_rtt_us === null && s.rtt_c2s_min_us > 100 * s.rtt_s2c_max_us,
      `the capture is what this test is about (${JSON.stringify(s)})`);
    h = await startHtracr(['-r', CORPUS_NEAR_CLIENT]);
    ui = await openUi(browser.context, h);
    const { page, errors } = ui;
    await page.evaluate((id) => window.htracr.select({ kind: 'conn', conn: id }), conn.id);
    await page.locator('#scroller').focus();
    await page.keyboard.press('Enter');
    await page.keyboard.press('z');

    // the page's model: the two series as --json has them, no merged one
    // (the API leaves it out), and the connection's RTT is the client's
    const m = await page.evaluate((id) => {
      const c = window.htracr.model.conn(id);
      return { c2s: c.series.rtt_c2s.n, s2c: c.series.rtt_s2c.n, merged: c.series.rtt.n, rtt: c.rtt };
    }, conn.id);
    assert.deepEqual(m, { c2s: conn.series.rtt_c2s.length, s2c: conn.series.rtt_s2c.length, merged: 0, rtt: s.rtt_c2s_min_us });

    const rows = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#detail table.dirs tr')]
      .map((r) => [r.querySelector('th')?.textContent, [...r.querySelectorAll('td')].map((td) => td.textContent)])));
    for (const what of ['min', 'avg', 'max']) {
      assert.deepEqual(rows[`RTT ${what}`], [fmtDur(s[`rtt_c2s_${what}_us`]), fmtDur(s[`rtt_s2c_${what}_us`])],
        `the panel's RTT ${what} per direction`);
    }

    // hover in the RTT chart (the first under the row): one line per direction
    const at = await page.evaluate((id) => {
      const tl = window.htracr.timeline;
      const row = tl.rows[tl.rowOfConn.get(id)];
      const sc = document.querySelector('#scroller');
      const r = sc.getBoundingClientRect();
      return { x: r.left + r.width * 0.3, y: r.top + row.y - sc.scrollTop + 46 + 6 + 30 };
    }, conn.id);
    await page.mouse.move(at.x, at.y);
    await page.waitForFunction(() => !document.querySelector('#tooltip').hidden);
    const tip = (await page.locator('#tooltip').innerText()).split('\n');
    assert.equal(tip[0], 'RTT samples', 'the tooltip is the RTT chart\'s');
    const line = (label, key) => {
      const l = tip.find((x) => x.startsWith(`${label}: `));
      assert.ok(l, `a tooltip line for ${label} (${JSON.stringify(tip)})`);
      const v = l.slice(label.length + 2).replace(/\s*\(at .*\)$/, '');
      assert.ok(conn.series[key].some(([, x]) => fmtDur(x) === v), `${label}: ${v} is one of ${key}'s samples`);
    };
    line('client data → server ACK', 'rtt_c2s');
    line('server data → client ACK', 'rtt_s2c');
    await page.screenshot({ path: path.join(OUT, 'rtt-directions.png') });
    assert.deepEqual(errors, [], 'console errors');
  });
});

describe('lossy connection with its charts', { skip: isRoot ? false : 'needs root (network namespaces, tc)' }, () => {
  let h = null;
  let ui = null;
  after(async () => {
    if (ui) await ui.page.close();
    if (h) await h.stop();
  });

  it('the connection with losses shows its retransmits and charts (screenshot lossy-charts.png)', async () => {
    const c = ownCaptures();
    assert.ok(c.lossy_dropped > 0, `the tc program dropped packets (${c.lossy_dropped})`);
    const doc = await htracrJson(c.lossy_pcap);
    const conn = [...doc.connections].sort((a, b) => b.stats.retransmits_s2c - a.stats.retransmits_s2c)[0];
    assert.ok(conn.stats.retransmits_s2c > 0, 'htracr --json sees retransmissions');
    h = await startHtracr(['-r', c.lossy_pcap]);
    ui = await openUi(browser.context, h);
    const { page, errors } = ui;
    // a click in the connection's gutter selects it; Enter shows the charts
    const pos = await page.evaluate((id) => {
      const tl = window.htracr.timeline;
      const row = tl.rows[tl.rowOfConn.get(id)];
      const r = document.querySelector('#scroller').getBoundingClientRect();
      return { x: r.left + 120, y: r.top + row.y - document.querySelector('#scroller').scrollTop + 20 };
    }, conn.id);
    await page.mouse.click(pos.x, pos.y);
    assert.deepEqual(await page.evaluate(() => window.htracr.selection), { kind: 'conn', conn: conn.id });
    await page.keyboard.press('Enter');
    const st = await page.evaluate((id) => {
      const tl = window.htracr.timeline;
      return { expanded: tl.expanded.has(id), h: tl.rows[tl.rowOfConn.get(id)].h };
    }, conn.id);
    assert.ok(st.expanded, 'Enter expanded the connection');
    assert.ok(st.h > 100, `the row grew to hold the charts (${st.h} px)`);
    const rex = await page.evaluate(() => {
      const row = [...document.querySelectorAll('#detail table.dirs tr')].find((r) => r.querySelector('th')?.textContent === 'retransmits');
      return row ? [...row.querySelectorAll('td')].map((td) => td.textContent) : null;
    });
    assert.deepEqual(rex?.map((x) => Number(x.replace(/\D/g, ''))), [conn.stats.retransmits_c2s, conn.stats.retransmits_s2c],
      'the panel\'s retransmit counts');
    assert.equal(await page.locator('#detail [data-testid=expand]').textContent(), 'Hide charts');
    await page.setViewportSize({ width: 1500, height: 640 });
    await page.keyboard.press('0');
    await page.evaluate(() => document.querySelectorAll('#toasts .toast').forEach((t) => t.remove()));
    await page.waitForTimeout(200);
    await page.screenshot({ path: path.join(OUT, 'lossy-charts.png') });
    assert.deepEqual(errors, [], 'console errors');
  });
});


describe('a --json file read in the page, over a served file (corpus zeek/methods, zeek/get-gzip)', { skip: CORPUS_METHODS && CORPUS_GZIP ? false : 'the shared corpus is absent' }, () => {
  const sv = serveFile(CORPUS_METHODS);
  const lastToast = (page) => page.evaluate(() => [...document.querySelectorAll('#toasts .toast')].pop()?.textContent ?? '');

  it('u and the "hidden" pill show what the filters left out too, as they say', async () => {
    const { page } = sv.ui;
    await page.click('#btn-filters');
    await page.fill('#f-host', 'no-such-host');
    await page.waitForFunction(() => window.htracr.timeline.visibleConnCount === 0);
    assert.match(await page.textContent('#hidden-info'), /^\d+ hidden$/, 'the pill counts them');
    await page.keyboard.press('Escape'); // leaves the field, closes the bar
    await page.keyboard.press('u');
    await page.waitForFunction(() => window.htracr.timeline.visibleConnCount === window.htracr.model.conns.size);
    assert.equal(await page.inputValue('#f-host'), '', 'the host filter was cleared');
    assert.equal(await page.textContent('#hidden-info'), '', 'nothing hidden');
  });

  it('a request that did not parse cannot be replayed', async () => {
    const { page } = sv.ui;
    const bad = allMessages(sv.doc).find((m) => m.kind === 'request' && m.method === null);
    assert.ok(bad, 'methods.pcap has a request whose line did not parse');
    await page.evaluate(([m, c]) => window.htracr.select({ kind: 'message', msg: m, conn: c }), [bad.id, bad.conn]);
    const replay = page.locator('#detail [data-testid="replay"]');
    assert.equal(await replay.isDisabled(), true, 'Replay is off');
    assert.match(await replay.getAttribute('title'), /did not parse/);
  });

  it('shows the file with nothing asked of the server in its name; Close JSON goes back; a bad file is refused', async () => {
    const { page, errors } = sv.ui;
    // get-gzip: a response whose body htracr kept, and packets with payload
    const wiki = await htracrJson(CORPUS_GZIP);
    const file = path.join(OUT, 'get-gzip.json');
    fs.writeFileSync(file, JSON.stringify(wiki));
    const asked = [];
    const onReq = (r) => { if (/\/api\/(packet|body|replay)/.test(r.url())) asked.push(r.url()); };
    page.on('request', onReq);
    try {
      await page.setInputFiles('#file-input', file);
      await page.waitForFunction((n) => window.htracr.model.conns.size === n && /^json:/.test(document.querySelector('#source').textContent),
        wiki.connections.length);
      assert.equal(await page.textContent('#source'), 'json:get-gzip.json · read in the page');
      assert.equal(await page.textContent('#capture-state'), 'json');
      assert.equal(await page.textContent('#btn-clear'), 'Close JSON');
      const hrefs = await page.evaluate(() => [...document.querySelectorAll('#downloads a')].map((a) => a.getAttribute('href')));
      assert.deepEqual(hrefs, [null, null, null, null], 'the downloads (the server\'s capture) are off');

      // a packet with payload: said not to be in the file, not fetched
      const c = wiki.connections.find((x) => x.packets.some((p) => p.len > 0));
      const idx = c.packets.findIndex((p) => p.len > 0);
      await page.evaluate(([cid, i]) => window.htracr.select({ kind: 'packet', conn: cid, idx: i }), [c.id, idx]);
      assert.match(await page.textContent('#payload'), /not in a --json file/);
      // a response with a body htracr kept: none to open from the file, no
      // request to replay
      const resp = allMessages(wiki).find((m) => m.kind === 'response' && m.request !== null && m.body_kept > 0);
      assert.ok(resp, 'get-gzip.json has a response with a kept body');
      await page.evaluate(([m, cid]) => window.htracr.select({ kind: 'message', msg: m, conn: cid }), [resp.id, resp.conn]);
      const ob = page.locator('#detail [data-testid="open-body"]');
      assert.equal(await ob.isDisabled(), true, 'Open body is off');
      assert.match(await ob.getAttribute('title'), /not in a --json file: get-gzip\.json/);
      assert.equal(await page.locator('#detail [data-testid="replay"]').isDisabled(), true, 'Replay is off');
      await page.evaluate(() => document.activeElement?.blur());
      await page.keyboard.press('b');
      assert.match(await lastToast(page), /not in a --json file: get-gzip\.json/, 'b says why nothing opens');
      assert.deepEqual(asked, [], 'no payload, body or replay asked of the server');

      await page.click('#btn-clear');
      await page.waitForFunction((n) => window.htracr.model.conns.size === n && /^file:/.test(document.querySelector('#source').textContent),
        sv.doc.connections.length);
      assert.equal(await page.textContent('#btn-clear'), 'Clear');
      const back = await page.evaluate(() => [...document.querySelectorAll('#downloads a')].map((a) => a.getAttribute('href')));
      assert.ok(back.every((h) => h && h.startsWith('/api/')), `the downloads are back: ${back}`);

      // a JSON file that is not a model: refused, the model as it was
      await page.setInputFiles('#file-input', { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{"connections":"x"}') });
      await page.waitForFunction(() => /bad\.json is not a model/.test([...document.querySelectorAll('#toasts .toast')].pop()?.textContent ?? ''));
      assert.match(await lastToast(page), /no "version"/);
      assert.equal(await page.evaluate(() => window.htracr.model.conns.size), sv.doc.connections.length, 'the model is unchanged');
      assert.match(await page.textContent('#source'), /^file:/);
    } finally {
      page.off('request', onReq);
    }
    assert.deepEqual(errors, [], 'console errors');
  });
});
