// SPDX-License-Identifier: MIT
// lib.mjs - helpers for htracr's browser tests (tests/e2e/*.test.mjs).
//
// The e2e tests look at the end of the pipeline, the web UI that
// src/server.c serves, through a real browser: Debian's chromium driven by
// playwright-core (from the npm registry, see package.json). htracr itself
// is a black box here: these helpers start ./htracr on a free port (on a
// capture file, or live on an interface), wait for its "open http" line,
// read files back with `htracr -r FILE --json -` (the reference the page is
// compared with), launch chromium with a fresh profile, collect console
// errors per page, and run tests/e2e/netlab.py, which makes real traffic in
// network namespaces. Everything started is stopped by the caller's `after`
// hooks through the stop/close functions returned here.

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const HTRACR = process.env.HTRACR_BIN || path.join(REPO, 'htracr');
export const OUT = path.join(REPO, 'tests', 'out', 'e2e');
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-gpu',
  '--disable-component-update', '--no-first-run'];
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

fs.mkdirSync(OUT, { recursive: true });

/** A file of the shared corpus (../shared/corpus beside the repository, or
 * $HTRACR_CORPUS), or null when it is not there. */
export function corpusFile(rel) {
  const base = process.env.HTRACR_CORPUS || path.join(path.dirname(REPO), 'shared', 'corpus');
  const p = path.join(base, rel);
  return fs.existsSync(p) ? p : null;
}

/** A TCP port nothing listens on right now (on 127.0.0.1). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// htracr processes still running: killed when this process exits, so a
// test file that dies before its `after` hooks leaves none behind
const running = new Set();
process.on('exit', () => {
  for (const p of running) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll fn() (may be async) until it returns a truthy value; rejects with
 * what after timeout ms. */
export async function waitFor(fn, what, timeout = 10000, every = 50) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(every);
  }
}

/** Run a program; resolves {code, stdout, stderr} (never rejects on exit status). */
export function run(cmd, args, { timeout = 60000, input = null, maxBuffer = 512 << 20 } = {}) {
  return new Promise((resolve, reject) => {
    const p = execFile(cmd, args, { timeout, maxBuffer, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}; ${stderr}`));
        return;
      }
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
    if (input !== null) p.stdin.end(input);
  });
}

/** `htracr -r FILE --json -`: the model the page must agree with. */
export async function htracrJson(file) {
  const r = await run(HTRACR, ['-r', file, '--json', '-']);
  if (r.code !== 0) throw new Error(`htracr -r ${file} --json - exited ${r.code}: ${r.stderr.slice(-600)}`);
  return JSON.parse(r.stdout);
}

/** Connections and messages of a --json model. */
export function counts(doc) {
  return {
    conns: doc.connections.length,
    msgs: doc.connections.reduce((n, c) => n + c.messages.length, 0),
  };
}

/** What a round trip must keep: per connection (in start order) its
 * endpoints, packet count and messages. */
export function shape(doc) {
  return doc.connections
    .map((c) => ({
      client: `${c.client_addr}:${c.client_port}`,
      server: `${c.server_addr}:${c.server_port}`,
      start_us: c.start_us,
      packets: c.packets.length,
      messages: c.messages.map((m) => [m.kind, m.method ?? null, m.url ?? null, m.status ?? null,
        m.body_bytes, m.header_bytes]),
    }))
    .sort((a, b) => a.start_us - b.start_us || a.client.localeCompare(b.client));
}

/**
 * Start ./htracr with args plus a free listen port and wait for its
 * "open http://..." line on stderr. Returns {port, origin, proc, stderr(),
 * stop()}; stop() sends SIGINT and resolves the exit status (SIGKILL after
 * 8 s). Retries on another port when the port was taken meanwhile. env:
 * variables added to the environment it runs with.
 */
export async function startHtracr(args, { timeout = 15000, env = {}, port: want = 0 } = {}) {
  let lastErr = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    // want: this port (a restart on the same address), tried once
    if (want && attempt > 0) break;
    const port = want || await freePort();
    // HTRACR_E2E_WEB_ROOT: serve the page from a directory (trying web/ changes)
    const web = process.env.HTRACR_E2E_WEB_ROOT ? ['--web-root', process.env.HTRACR_E2E_WEB_ROOT] : [];
    const proc = spawn(HTRACR, [...web, ...args, String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env },
    });
    let err = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => { err += d; });
    running.add(proc);
    const exited = new Promise((resolve) => proc.on('exit', (code, sig) => {
      running.delete(proc);
      resolve(code ?? sig);
    }));
    const ok = await new Promise((resolve) => {
      const t0 = Date.now();
      const tick = () => {
        if (/open http:\/\/\S+/.test(err)) return resolve(true);
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve(false);
        if (Date.now() - t0 > timeout) return resolve(false);
        setTimeout(tick, 20);
      };
      tick();
    });
    if (ok) {
      const h = {
        port,
        origin: `http://127.0.0.1:${port}`,
        proc,
        stderr: () => err,
        async stop() {
          if (proc.exitCode === null && proc.signalCode === null) {
            proc.kill('SIGINT');
            const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
            const rc = await exited;
            clearTimeout(t);
            return rc;
          }
          return proc.exitCode ?? proc.signalCode;
        },
      };
      return h;
    }
    if (proc.exitCode === null) proc.kill('SIGKILL');
    await exited;
    lastErr = new Error(`htracr ${args.join(' ')} ${port} did not say "open http" (exit ${proc.exitCode ?? proc.signalCode}): ${err.slice(-800)}`);
    if (!/bind|in use|listen/i.test(err)) break;
  }
  throw lastErr;
}

/** GET/POST to htracr from node (not the page): {status, headers, text, json()}. */
export async function api(h, pathname, opts = {}) {
  const res = await fetch(h.origin + pathname, opts);
  const buf = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    headers: res.headers,
    buf,
    text: buf.toString('utf8'),
    json() { return JSON.parse(buf.toString('utf8')); },
  };
}

/**
 * Launch Debian's chromium (headless) with a fresh user-data dir. Returns
 * {context, close()}.
 */
export async function launchBrowser({ width = 1600, height = 900 } = {}) {
  const { chromium } = await import('playwright-core');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'htr-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width, height },
    acceptDownloads: true,
  });
  context.setDefaultTimeout(15000);
  return {
    context,
    async close() {
      try {
        await context.close();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Collect a page's console errors and uncaught exceptions into an array. */
export function watchErrors(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

/** Open htracr's page in a new tab and wait until it has its first model. */
export async function openUi(context, h) {
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(h.origin + '/');
  await waitReady(page);
  return { page, errors };
}

export async function waitReady(page, timeout = 15000) {
  await page.waitForFunction(() => document.body.dataset.state === 'ready' && !!window.htracr, null,
    { timeout });
}

/** What the page holds: the status bar's numbers and the model's. */
export function pageCounts(page) {
  return page.evaluate(() => {
    const m = window.htracr.model;
    let msgs = 0;
    for (const c of m.conns.values()) msgs += c.messages.length;
    return {
      conns: Number(document.querySelector('#conn-count').dataset.value),
      msgs: Number(document.querySelector('#msg-count').dataset.value),
      connText: document.querySelector('#conn-count').textContent,
      msgText: document.querySelector('#msg-count').textContent,
      modelConns: m.conns.size,
      modelMsgs: msgs,
      generation: document.body.dataset.generation,
    };
  });
}

/** Wait until the page's #msg-count reaches at least n (live updates). */
export async function waitMsgCount(page, n, timeout = 15000) {
  await page.waitForFunction((want) => Number(document.querySelector('#msg-count').dataset.value) >= want,
    n, { timeout, polling: 50 });
}

/**
 * Click the middle of message id on the timeline canvas (after bringing it
 * into view, wide enough to hit). Uses the page's layout to find where it is
 * drawn; the click itself is a real mouse click.
 */
export async function clickMessage(page, id) {
  const pos = await messagePoint(page, id);
  await page.mouse.click(pos.x, pos.y);
}

/**
 * Bring message id into view, wide enough to hit, and say where its middle
 * is drawn, in page coordinates (for a real mouse to click or hover); the
 * scroll is drawn before this returns.
 */
export async function messagePoint(page, id) {
  const pos = await page.evaluate((mid) => {
    const h = window.htracr;
    const tl = h.timeline;
    const m = h.model.msg(mid);
    const span = Math.max(m._e - m._s, 10);
    tl.showRange(m._s - span, m._e + span, 0);
    const row = tl.rows[tl.rowOfConn.get(m._conn)];
    const sc = document.querySelector('#scroller');
    sc.scrollTop = Math.max(0, row.y - 60);
    const rect = sc.getBoundingClientRect();
    const GUTTER = 230;
    const x = GUTTER + ((m._s + m._e) / 2 - tl.tL) / tl.upp;
    // the bar is at 16..30 px in the row: requests in the upper half
    const y = row.y - sc.scrollTop + (m.kind === 'request' ? 19 : 27);
    return { x: rect.left + x, y: rect.top + y };
  }, id);
  // wait for the scroll to be drawn before the pointer comes
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  return pos;
}

/** The header rows of the detail panel: [[name, value], ...] and the start line. */
export function panelHeaders(page) {
  return page.evaluate(() => {
    const t = document.querySelector('#detail table.headers');
    if (!t) return null;
    const rows = [...t.querySelectorAll('tr')];
    const start = rows.find((r) => r.classList.contains('startline'));
    return {
      startLine: start ? start.textContent.trim() : null,
      headers: rows.filter((r) => r.querySelector('th')).map((r) => [r.querySelector('th').textContent,
        r.querySelector('td').textContent]),
    };
  });
}

/** Run tests/e2e/netlab.py capture OUTDIR; resolves its JSON. */
export async function makeCaptures(outdir) {
  const r = await run('python3', [path.join(HERE, 'netlab.py'), 'capture', outdir], { timeout: 120000 });
  if (r.code !== 0) throw new Error(`netlab.py capture exited ${r.code}: ${r.stderr.slice(-1500)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/**
 * Start tests/e2e/netlab.py serve: a namespace with nginx on ports 80 and
 * 8080 behind a veth whose other end is here. Resolves {info, stop()};
 * closing its stdin makes it remove everything.
 */
export async function startLab() {
  const proc = spawn('python3', [path.join(HERE, 'netlab.py'), 'serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, sig) => resolve(code ?? sig)));
  const info = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`netlab.py serve: no answer in 20 s: ${err}`)), 20000);
    proc.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        try {
          resolve(JSON.parse(out.slice(0, nl)));
        } catch (e) {
          reject(new Error(`netlab.py serve said ${out}: ${e.message}`));
        }
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`netlab.py serve exited ${code}: ${err.slice(-1500)}`));
    });
  });
  return {
    info,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.stdin.end();
      const t = setTimeout(() => proc.kill('SIGTERM'), 10000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** curl (in this namespace) over urls on one connection where it can;
 * resolves [{code, size, port}] per URL, rejects when curl fails. */
export async function curl(urls, extra = []) {
  const args = ['-s', '-S', '--max-time', '10', ...extra, '-w', '%{http_code} %{size_download} %{local_port}\\n'];
  for (const u of urls) args.push('-o', '/dev/null', u);
  const r = await run('curl', args, { timeout: 30000 });
  if (r.code !== 0) throw new Error(`curl ${urls.join(' ')}: exit ${r.code}: ${r.stderr}`);
  const rows = r.stdout.trim().split('\n').map((l) => {
    const [code, size, port] = l.split(' ').map(Number);
    return { code, size, port };
  });
  if (rows.length !== urls.length) throw new Error(`curl reported ${rows.length} results for ${urls.length} URLs`);
  return rows;
}
