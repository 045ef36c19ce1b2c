#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// The live page under load, in headless Chromium: does it keep up, and does
// it stay smooth, while the model grows? Run by hand, as root (a network
// namespace), never from a test suite:
//
//   sudo node bench/ui_live.mjs [--seconds 40] [--screenshot FILE] [--max-memory SIZE] [--unshaped]
//        [--htracr-log FILE]
//   sudo HTRACR_E2E_WEB_ROOT=/other/checkout/web node bench/ui_live.mjs
//        (the same with another page: --web-root, to compare a change)
//
// It starts the e2e lab (tests/e2e/netlab.py: nginx in a namespace behind a
// veth shaped to 40 Mbit/s; nginx's default 1,000 requests a connection),
// htracr capturing on the veth with the UI, and a page on it; then wrk
// (-t1 -c16, keep-alive, a 2.5 KB stylesheet) for --seconds. Every 4 s it
// reads htracr's packet count, then counts the page's animation frames for
// 2 s (requestAnimationFrame: headless Chromium paces them at most 60 a
// second) and their longest gap, then reads the page's packet count. A
// page busy merging updates has fewer frames and long gaps; one that falls
// behind has fewer packets than htracr had; the page's JS heap (from the
// DevTools protocol) says what holding the model costs it. --unshaped takes
// the 40 Mbit/s shaping away: wrk then runs as fast as nginx answers (about
// ten times the requests), the rate at which the page is to keep up on a
// busy host. playwright-core comes from
// tests/e2e/node_modules (`(cd tests/e2e && npm ci)`).

import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { spawn, spawnSync } from 'node:child_process';
import { startLab, startHtracr, launchBrowser, openUi, api, sleep } from '../tests/e2e/lib.mjs';

const { values: opt } = parseArgs({
  // --max-memory: htracr's budget; a small one (32M) has it evicting within seconds
  options: {
    seconds: { type: 'string', default: '40' },
    screenshot: { type: 'string' },
    'max-memory': { type: 'string' },
    unshaped: { type: 'boolean', default: false },
    'htracr-log': { type: 'string' }, // htracr's stderr, with its stats each second
  },
});
const seconds = Number(opt.seconds);
const lab = await startLab();
let h = null, b = null;
try {
  if (opt.unshaped) {
    const r = spawnSync('ip', ['netns', 'exec', lab.info.netns, 'tc', 'qdisc', 'del', 'dev', lab.info.server_if, 'root'],
      { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`taking the shaping away: ${r.stderr}`);
  }
  h = await startHtracr(['-i', lab.info.iface, '-p', '80', ...(opt['max-memory'] ? ['--max-memory', opt['max-memory']] : []),
    ...(opt['htracr-log'] ? ['--stats-interval', '1'] : [])]);
  b = await launchBrowser();
  const { page, errors } = await openUi(b.context, h);
  const cdp = await b.context.newCDPSession(page);
  const heapMB = async () => Math.round((await cdp.send('Runtime.getHeapUsage')).usedSize / 1e6);
  const wrk = spawn('wrk', ['-t1', '-c16', `-d${seconds}s`, `http://${lab.info.server_addr}/css/site.css`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let wout = '';
  wrk.stdout.on('data', (d) => { wout += d; });
  const wrkDone = new Promise((res) => wrk.on('exit', res));
  const t0 = Date.now();
  const rows = [];
  while (Date.now() - t0 < (seconds + 2) * 1000) {
    await sleep(4000);
    const st = (await api(h, '/api/status')).json();
    const r = await page.evaluate(async () => {
      const gaps = [];
      let last = performance.now();
      await new Promise((res) => {
        const end = last + 2000;
        const f = (t) => {
          gaps.push(t - last);
          last = t;
          if (t < end) requestAnimationFrame(f); else res();
        };
        requestAnimationFrame(f);
      });
      return { pk: window.htracr.model.packetCount, frames: gaps.length, max: Math.max(...gaps) };
    });
    rows.push({ at_s: Math.round((Date.now() - t0) / 1000), htracr_packets: st.stats.packets,
      page_packets_after: r.pk, frames_in_2s: r.frames, longest_gap_ms: Math.round(r.max),
      evicted: st.stats.evicted_connections, dropped: st.stats.dropped,
      htracr_mem_mb: Math.round(st.memory.used / 1e6), page_heap_mb: await heapMB() });
  }
  await wrkDone;
  await sleep(3000);
  const st = (await api(h, '/api/status')).json();
  const pk = await page.evaluate(() => window.htracr.model.packetCount);
  const heap = await heapMB();
  if (opt.screenshot) await page.screenshot({ path: opt.screenshot });
  console.table(rows);
  const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
  console.log(`page: ${process.env.HTRACR_E2E_WEB_ROOT || 'embedded (this build)'}; wrk ` +
    `${(wout.match(/Requests\/sec:\s+(\S+)/) || [])[1]} req/s; frames in 2 s median ` +
    `${med(rows.map((r) => r.frames_in_2s))}, longest gap median ${med(rows.map((r) => r.longest_gap_ms))} ms, ` +
    `max ${Math.max(...rows.map((r) => r.longest_gap_ms))} ms; at the end the page has ${pk} of ` +
    `htracr's ${st.stats.packets} packets (its model ${Math.round(st.memory.used / 1e6)} MB, the page's ` +
    `JS heap ${heap} MB); console errors ${errors.length}`);
} finally {
  if (b) await b.close();
  if (h) await h.stop();
  if (h && opt['htracr-log']) fs.writeFileSync(opt['htracr-log'], h.stderr());
  await lab.stop();
}
