// SPDX-License-Identifier: MIT
// canvas.test.mjs - the canvas timeline (web/timeline.js) in headless
// chromium, where a UI audit found it wrong: what the pointer hovers must
// follow the rows when the wheel scrolls them under a pointer that stays
// put; a fitted view must stay fitted when the plot gets wider or narrower
// (the window, the detail panel hidden), another keep its zoom and its left
// edge; no text drawn in the plot may run past its right edge (the server
// row's figures, status labels, DNS labels), a server's warnings must
// survive a narrow plot, and no DNS lookup's bar may be painted over the
// label before it. What is drawn is read by wrapping the canvas context's
// fillText / fillRect for one draw(). On corpus captures (../shared/corpus),
// skipped when absent.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { corpusFile, startHtracr, launchBrowser, openUi, messagePoint } from './lib.mjs';

const METHODS = corpusFile('zeek/methods/methods.pcap');
const WIKI = corpusFile('zeek/wikipedia/wikipedia.pcap');

let browser = null;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
});

/** htracr on file for a describe block; each test opens its own page. */
function serveFile(file) {
  const sv = { h: null };
  before(async () => {
    sv.h = await startHtracr(['-r', file]);
  });
  after(async () => {
    if (sv.h) await sv.h.stop();
  });
  return sv;
}

/** A new page on htracr at width × height, closed after fn. */
async function withPage(sv, [width, height], fn) {
  const { page, errors } = await openUi(browser.context, sv.h);
  try {
    await page.setViewportSize({ width, height });
    // the timeline takes its new size from a ResizeObserver, before a frame
    await page.waitForFunction((w) => window.innerWidth === w, width);
    await frames(page);
    await fn(page);
    assert.deepEqual(errors, [], 'no console errors');
  } finally {
    await page.close();
  }
}

const frames = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

/**
 * Draw the timeline once and return what it drew: ops [{op: 'text', txt,
 * x, y, w} | {op: 'rect', x, y, w, h}] in order (canvas CSS px), and the
 * plot's left (the gutter's width) and right edge.
 */
function drawn(page) {
  return page.evaluate(() => {
    const tl = window.htracr.timeline;
    const ctx = tl.ctx;
    const P = CanvasRenderingContext2D.prototype;
    const ops = [];
    ctx.fillText = function (txt, x, y, ...rest) {
      const w = this.measureText(txt).width;
      const x0 = this.textAlign === 'center' ? x - w / 2 : this.textAlign === 'right' || this.textAlign === 'end' ? x - w : x;
      ops.push({ op: 'text', txt: String(txt), x: x0, y, w });
      return P.fillText.call(this, txt, x, y, ...rest);
    };
    ctx.fillRect = function (x, y, w, h) {
      ops.push({ op: 'rect', x: Math.min(x, x + w), y: Math.min(y, y + h), w: Math.abs(w), h: Math.abs(h) });
      return P.fillRect.call(this, x, y, w, h);
    };
    try {
      tl.draw();
    } finally {
      delete ctx.fillText;
      delete ctx.fillRect;
    }
    return { ops, left: tl.W - tl.plotW, right: tl.W };
  });
}

/** Texts drawn in the plot that run past its right edge. */
function pastEdge(d) {
  return d.ops.filter((o) => o.op === 'text' && o.x >= d.left && o.x + o.w > d.right + 0.5)
    .map((o) => `"${o.txt}" ${o.x.toFixed(1)}..${(o.x + o.w).toFixed(1)} > ${d.right}`);
}

/** The visible time range and the capture's, relative µs. */
function ranges(page) {
  return page.evaluate(() => {
    const tl = window.htracr.timeline;
    const sp = window.htracr.model.span;
    return { tL: tl.tL, tR: tl.tL + tl.plotW * tl.upp, upp: tl.upp, W: tl.W, t0: sp.t0, t1: sp.t1 };
  });
}

function assertFitted(v, what) {
  const d = v.t1 - v.t0;
  assert.ok(v.tL <= v.t0 && v.tR >= v.t1, `${what}: the whole capture in view (${v.tL}..${v.tR} holds ${v.t0}..${v.t1})`);
  assert.ok(v.tL >= v.t0 - 0.06 * d && v.tR <= v.t1 + 0.06 * d,
    `${what}: no more than a margin of empty time around it (${v.tL}..${v.tR} for ${v.t0}..${v.t1})`);
}

describe('corpus zeek/methods: hover, resize, the server figures, status labels', { skip: METHODS ? false : 'the shared corpus is absent (../shared/corpus)' }, () => {
  const sv = serveFile(METHODS);

  it('a wheel scroll under a still pointer hovers what is under it now, not the message scrolled away', async () => {
    await withPage(sv, [1400, 800], async (page) => {
      // a response some rows down, zoomed in so it is wide
      const msg = await page.evaluate(() => [...window.htracr.model.conns.values()][5].messages.find((x) => x.kind === 'response').id);
      const at = { ...(await messagePoint(page, msg)), msg };
      await page.mouse.move(at.x, at.y);
      await page.waitForFunction((id) => window.htracr.timeline.hover?.msg === id && !document.querySelector('#tooltip').hidden, at.msg);
      const top = await page.evaluate(() => document.querySelector('#scroller').scrollTop);
      await page.mouse.wheel(0, 150);
      await page.waitForFunction((t) => document.querySelector('#scroller').scrollTop > t + 100, top);
      await frames(page);
      const now = await page.evaluate(() => {
        const tl = window.htracr.timeline;
        const tip = document.querySelector('#tooltip');
        return {
          hover: tl.hover,
          under: tl.pointer && tl.pick(tl.pointer.x, tl.pointer.y),
          tip: tip.hidden ? null : tip.querySelector('.tt-title')?.textContent,
          want: tl.describe(tl.hover)?.title ?? null,
        };
      });
      assert.notEqual(now.hover?.msg, at.msg, `the hover left the message scrolled away (${JSON.stringify(now.hover)})`);
      assert.deepEqual(now.hover, now.under, 'the hover is what is under the pointer');
      assert.equal(now.tip, now.want, 'the tooltip describes the new hover, or is hidden');
    });
  });

  it('a fitted view stays fitted when the window grows and the panel is hidden; a zoomed one keeps its left edge', async () => {
    await withPage(sv, [1400, 800], async (page) => {
      await page.click('[data-testid="zoom-fit"]');
      await frames(page);
      assertFitted(await ranges(page), 'fitted at 1400 px');
      let w = (await ranges(page)).W;
      await page.setViewportSize({ width: 1920, height: 800 });
      await page.waitForFunction((old) => window.htracr.timeline.W !== old, w);
      assertFitted(await ranges(page), 'the window at 1920 px');
      w = (await ranges(page)).W;
      await page.dblclick('#splitter'); // hides the detail panel
      await page.waitForFunction((old) => window.htracr.timeline.W > old, w);
      assertFitted(await ranges(page), 'the detail panel hidden');
      w = (await ranges(page)).W;
      await page.setViewportSize({ width: 1100, height: 800 });
      await page.waitForFunction((old) => window.htracr.timeline.W < old, w);
      assertFitted(await ranges(page), 'the window at 1100 px');
      // zoomed in near the start: the zoom and the left edge stay
      await page.evaluate(() => window.htracr.timeline.zoomBy(0.2, window.htracr.timeline.W - window.htracr.timeline.plotW + 40));
      const z = await ranges(page);
      await page.setViewportSize({ width: 1500, height: 800 });
      await page.waitForFunction((old) => window.htracr.timeline.W > old, z.W);
      const v = await ranges(page);
      assert.equal(v.upp, z.upp, 'the zoom is kept');
      assert.ok(Math.abs(v.tL - z.tL) <= z.upp, `the left edge is kept (${z.tL} → ${v.tL}, ${z.upp} µs/px)`);
    });
  });

  it('at 900 px the server figures stay inside the plot and keep the parse errors', async () => {
    await withPage(sv, [900, 700], async (page) => {
      await page.evaluate(() => {
        window.htracr.timeline.fit();
        document.querySelector('#scroller').scrollTop = 0;
      });
      const d = await drawn(page);
      assert.deepEqual(pastEdge(d), [], 'no text past the plot\'s right edge');
      const texts = d.ops.filter((o) => o.op === 'text' && o.x >= d.left).map((o) => o.txt);
      assert.ok(texts.some((t) => /parse error/.test(t)), `the parse errors are shown (${texts.slice(0, 12).join(' | ')})`);
    });
  });

  it('a status label after a response at the plot\'s right edge is drawn whole or not at all', async () => {
    await withPage(sv, [1400, 800], async (page) => {
      const id = await page.evaluate(() => {
        const h = window.htracr, tl = h.timeline;
        for (const c of h.model.conns.values()) {
          const m = c.messages.find((x) => x.kind === 'response' && x.status !== null);
          if (!m) continue;
          // narrow enough that the label goes after the span, whose end is
          // 8 px before the edge
          const upp = Math.max(2000, (m._e - m._s) / 4);
          tl.setView(m._e - (tl.plotW / 2 - 8) * upp, upp);
          const row = tl.rows[tl.rowOfConn.get(c.id)];
          document.querySelector('#scroller').scrollTop = Math.max(0, row.y - 60);
          return m.id;
        }
        return null;
      });
      assert.notEqual(id, null, 'a response with a status');
      const d = await drawn(page);
      assert.deepEqual(pastEdge(d), [], 'no text past the plot\'s right edge');
    });
  });
});

describe('corpus zeek/wikipedia: DNS labels', { skip: WIKI ? false : 'the shared corpus is absent (../shared/corpus)' }, () => {
  const sv = serveFile(WIKI);

  it('a DNS label stops before the next lookup in its lane and at the plot\'s edge', async () => {
    await withPage(sv, [1400, 800], async (page) => {
      // two lookups of one lane close together: the first one's end 60 px
      // before the next one's start, then the last one's end 50 px before
      // the plot's right edge
      const views = await page.evaluate(() => {
        const dns = window.htracr.model.dns;
        let best = null;
        for (let k = 0; k < dns.length; k++) {
          const j = dns.findIndex((d, i) => i > k && d._lane === dns[k]._lane);
          if (j < 0) continue;
          const gap = dns[j]._s - dns[k]._e;
          if (gap > 0 && (!best || gap < best.gap)) best = { k, j, gap };
        }
        if (!best) return null;
        const upp = best.gap / 60;
        return [
          { t: dns[best.k]._e, px: 0.4, upp },
          { t: dns[best.j]._e, px: -50, upp },
        ];
      });
      assert.ok(views, 'two lookups in one lane');
      let labels = 0;
      for (const v of views) {
        await page.evaluate(({ t, px, upp }) => {
          const tl = window.htracr.timeline;
          const x = px > 0 ? tl.plotW * px : tl.plotW + px; // where t goes, from the plot's left
          tl.setView(t + (tl.plotW / 2 - x) * upp, upp);
          document.querySelector('#scroller').scrollTop = 0;
        }, v);
        const d = await drawn(page);
        assert.deepEqual(pastEdge(d), [], 'no text past the plot\'s right edge');
        const dnsH = await page.evaluate(() => window.htracr.timeline.rows[0].h);
        // a DNS label (in the DNS row, in the plot) a later bar covers
        const covered = [];
        d.ops.forEach((o, i) => {
          if (o.op !== 'text' || o.x < d.left || o.y < 0 || o.y > dnsH) return;
          labels++;
          for (const r of d.ops.slice(i + 1)) {
            if (r.op !== 'rect' || r.x + r.w <= d.left) continue;
            if (r.x < o.x + o.w - 0.5 && r.x + r.w > o.x + 0.5 && r.y < o.y + 5 && r.y + r.h > o.y - 5) {
              covered.push(`"${o.txt}" at ${o.x.toFixed(1)}..${(o.x + o.w).toFixed(1)} under a bar at ${r.x.toFixed(1)}`);
              break;
            }
          }
        });
        assert.deepEqual(covered, [], 'no DNS label painted over');
      }
      assert.ok(labels > 0, 'some DNS label was drawn');
    });
  });
});
