// SPDX-License-Identifier: MIT
// charts.js - per-connection charts drawn under an expanded connection's row,
// on the timeline's own time axis: RTT samples, bytes in flight with the
// congestion-window estimate, and the advertised receive windows. Each series
// is drawn by binary search to the visible range and reduced to one min/max
// pair per pixel column when denser than that.
//
// RTT samples come in two series, by the side whose data was timed: the
// client's data ACKed by the server, and the server's data ACKed by the
// client. Near the client the first is the round trip to the server and the
// second only the client's own ACK delay (µs), so they are never mixed.

import { lowerBound } from './model.js';
import { C, fmtAxis, fmtBytes, fmtDur } from './format.js';

export const CHART_H = 62;
const GAP = 6;

// The directions' colours come from the palette (C), which printing swaps
// for darker ones that read on paper.
const C2S = 'chartC2S';
const S2C = 'chartS2C';

export const CHARTS = [
  {
    // the first series is drawn last, on top: near the client it is the
    // sparse one that matters, and the other's dense dots would hide it
    title: 'RTT samples', fmt: fmtDur, firstOnTop: true,
    series: [
      { key: 'rtt_c2s', pal: C2S, style: 'dots', label: 'client data → server ACK', short: 'c→s' },
      { key: 'rtt_s2c', pal: S2C, style: 'dots', shape: 'diamond', label: 'server data → client ACK', short: 's→c' },
      // a --json file from before the split: its samples, direction unknown
      { key: 'rtt', pal: 'chartRtt', style: 'dots', label: 'data → ACK', short: 'all' },
    ],
  },
  {
    title: 'bytes in flight · cwnd estimate', fmt: fmtBytes,
    series: [
      { key: 'flight_c2s', pal: C2S, style: 'step', label: 'in flight c→s', short: 'c→s' },
      { key: 'flight_s2c', pal: S2C, style: 'step', label: 'in flight s→c', short: 's→c' },
      { key: 'cwnd_c2s', pal: C2S, style: 'step', dash: true, label: 'cwnd c→s', short: 'cwnd' },
      { key: 'cwnd_s2c', pal: S2C, style: 'step', dash: true, label: 'cwnd s→c', short: 'cwnd' },
    ],
  },
  {
    title: 'receive window', fmt: fmtBytes,
    series: [
      { key: 'rwnd_c2s', pal: C2S, style: 'step', label: 'rwnd client', short: 'client' },
      { key: 'rwnd_s2c', pal: S2C, style: 'step', label: 'rwnd server', short: 'server' },
    ],
  },
];

/** A series' colour now: the palette's, which printing swaps. */
const colourOf = (s) => C[s.pal];

/** Height of the chart block under an expanded connection. */
export function chartsHeight() {
  return CHARTS.length * (CHART_H + GAP) + GAP;
}

/** Which chart (index) a y offset inside the chart block falls in, or -1. */
export function chartAt(dy) {
  const k = Math.floor((dy - GAP) / (CHART_H + GAP));
  if (k < 0 || k >= CHARTS.length) return -1;
  const inside = dy - GAP - k * (CHART_H + GAP);
  return inside >= 0 && inside <= CHART_H ? k : -1;
}

// The y scale: the series' maximum, unless a few outliers would flatten the
// rest (max over 4× the 99th percentile): then the 99th percentile, with the
// outliers drawn at the top edge.
function chartMax(c, ch) {
  let m = 0;
  for (const s of ch.series) {
    const sr = c.series[s.key];
    if (!sr.n) continue;
    if (sr.scale === undefined) {
      const v = Array.from(sr.v).sort((a, b) => a - b);
      const p99 = v[Math.min(v.length - 1, Math.floor(v.length * 0.99))];
      sr.scale = sr.max > 4 * p99 && p99 > 0 ? p99 : sr.max;
    }
    m = Math.max(m, sr.scale);
  }
  return m > 0 ? m * 1.12 : 1;
}

/**
 * The text at a chart's top right: the largest value of its series (not
 * the scale's top, which has room above it), and where outliers are
 * clipped, where. max: the scale's top (chartMax).
 */
export function scaleLabel(c, ch, max = chartMax(c, ch)) {
  let top = 0, any = false;
  for (const q of ch.series) {
    const sr = c.series[q.key];
    if (!sr || !sr.n) continue;
    any = true;
    top = Math.max(top, sr.max);
  }
  if (!any) return 'no samples';
  const txt = `max ${ch.fmt(Math.round(top))}`;
  return top > max ? `${txt} (clipped at ${ch.fmt(Math.round(max))})` : txt;
}

/**
 * Draw the charts of connection c at screen y (top of the chart block).
 * f is the timeline's frame: {ctx, x0, w, tL, upp}.
 */
export function drawCharts(f, c, y, hoverT) {
  const { ctx, x0, w, tL, upp } = f;
  const tR = tL + w * upp;
  for (let k = 0; k < CHARTS.length; k++) {
    const ch = CHARTS[k];
    const top = y + GAP + k * (CHART_H + GAP);
    ctx.fillStyle = C.chartBg;
    ctx.fillRect(x0, top, w, CHART_H);
    ctx.strokeStyle = C.chartGrid;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x0, top + CHART_H - 0.5);
    ctx.lineTo(x0 + w, top + CHART_H - 0.5);
    ctx.moveTo(x0, top + CHART_H / 2 - 0.5);
    ctx.lineTo(x0 + w, top + CHART_H / 2 - 0.5);
    ctx.stroke();
    const max = chartMax(c, ch);
    // values above the scale (outliers) sit on the top edge; the top 14 px hold the labels
    const yOf = (v) => top + CHART_H - 2 - (Math.min(v, max) / max) * (CHART_H - 18);
    let any = false;
    for (const s of ch.firstOnTop ? [...ch.series].reverse() : ch.series) {
      const sr = c.series[s.key];
      if (!sr.n) continue;
      any = true;
      drawSeries(ctx, sr, s, x0, w, tL, tR, upp, yOf, c.t1);
    }
    // labels (sticky at the left of the plot), on a backdrop so lines do not cross them
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    const maxTxt = scaleLabel(c, ch, max);
    const mw = ctx.measureText(maxTxt).width;
    // long labels, else short ones, else markers alone: never under the scale's
    const shown = ch.series.filter((s) => c.series[s.key].n);
    const room = w - mw - 18;
    const widthOf = (items) => items.reduce((a, [txt, s]) => a + ctx.measureText(txt).width + (s ? 25 : 14), 0);
    let items = [[ch.title, null], ...shown.map((s) => [s.label, s])];
    if (widthOf(items) > room) items = [[ch.title, null], ...shown.map((s) => [s.short, s])];
    if (widthOf(items) > room) items = shown.map((s) => [s.short, s]);
    if (widthOf(items) > room) items = shown.map((s) => ['', s]);
    const tw = widthOf(items);
    ctx.fillStyle = C.chartLabelBg;
    ctx.fillRect(x0 + 2, top + 1, tw, 13);
    let lx = x0 + 6;
    for (const [txt, s] of items) {
      if (s) {
        ctx.fillStyle = colourOf(s);
        if (s.style === 'dots') {
          // the marker the plot uses, bigger: colour and shape tell the series apart
          ctx.beginPath();
          marker(ctx, s, lx + 5, top + 7.5, 2.5);
          ctx.fill();
        } else {
          ctx.fillRect(lx, top + 7, 10, s.dash ? 1 : 2);
        }
        lx += 13;
      }
      ctx.fillStyle = s ? C.chartLabel : C.chartTitle;
      ctx.fillText(txt, lx, top + 3);
      lx += ctx.measureText(txt).width + 12;
    }
    ctx.fillStyle = C.chartLabelBg;
    ctx.fillRect(x0 + w - mw - 10, top + 1, mw + 8, 13);
    ctx.fillStyle = C.chartLabel;
    ctx.fillText(maxTxt, x0 + w - mw - 6, top + 3);
    if (hoverT !== null && hoverT !== undefined && hoverT >= tL && hoverT <= tR) {
      const hx = Math.round(x0 + (hoverT - tL) / upp) + 0.5;
      ctx.strokeStyle = C.chartHover;
      ctx.beginPath();
      ctx.moveTo(hx, top);
      ctx.lineTo(hx, top + CHART_H);
      ctx.stroke();
    }
  }
}

// One dot of a 'dots' series centred on (x, y), added to the current path:
// a square, or a diamond for shape: 'diamond' (r: half the square's side).
function marker(ctx, s, x, y, r) {
  if (s.shape === 'diamond') {
    const d = r * 1.4;
    ctx.moveTo(x, y - d);
    ctx.lineTo(x + d, y);
    ctx.lineTo(x, y + d);
    ctx.lineTo(x - d, y);
    ctx.closePath();
  } else {
    ctx.rect(x - r, y - r, 2 * r, 2 * r);
  }
}

function drawSeries(ctx, sr, s, x0, w, tL, tR, upp, yOf, holdUntil) {
  const { t, v, n } = sr;
  let i = Math.max(0, lowerBound(t, tL) - 1);
  const end = Math.min(n, lowerBound(t, tR) + 1);
  if (i >= end) return;
  ctx.strokeStyle = colourOf(s);
  ctx.fillStyle = colourOf(s);
  ctx.lineWidth = 1.25;
  ctx.setLineDash(s.dash ? [4, 3] : []);
  if (s.style === 'dots') {
    ctx.beginPath();
    let lastPx = -1e9, lastY = -1e9;
    for (; i < end; i++) {
      const x = x0 + (t[i] - tL) / upp;
      const yy = yOf(v[i]);
      if (Math.abs(x - lastPx) < 1 && Math.abs(yy - lastY) < 1) continue;
      lastPx = x;
      lastY = yy;
      marker(ctx, s, x, yy, 1.5);
    }
    ctx.fill();
    ctx.setLineDash([]);
    return;
  }
  // Lines: one min/max pair per pixel column when dense.
  ctx.beginPath();
  let col = Math.floor(x0 + (t[i] - tL) / upp);
  let mn = v[i], mx = v[i], first = v[i], last = v[i];
  let started = false;
  let prevY = null;
  const flush = () => {
    const x = col + 0.5;
    const yFirst = yOf(first), yMn = yOf(mn), yMx = yOf(mx), yLast = yOf(last);
    if (!started) {
      ctx.moveTo(x, yFirst);
      started = true;
    } else if (s.style === 'step' && prevY !== null) {
      ctx.lineTo(x, prevY);
      ctx.lineTo(x, yFirst);
    } else {
      ctx.lineTo(x, yFirst);
    }
    if (mn !== mx) {
      ctx.lineTo(x, yMn);
      ctx.lineTo(x, yMx);
      ctx.lineTo(x, yLast);
    }
    prevY = yLast;
  };
  for (i = i + 1; i < end; i++) {
    const c2 = Math.floor(x0 + (t[i] - tL) / upp);
    if (c2 === col) {
      if (v[i] < mn) mn = v[i];
      if (v[i] > mx) mx = v[i];
      last = v[i];
      continue;
    }
    flush();
    col = c2;
    mn = mx = first = last = v[i];
  }
  flush();
  if (s.style === 'step' && prevY !== null) {
    // a window or cwnd holds its value until the next point (or the connection's end)
    const until = end < n ? t[end - 1] : Math.max(t[n - 1], holdUntil);
    const lastX = Math.min(x0 + w + 2, x0 + (Math.min(tR, until) - tL) / upp);
    if (lastX > col) ctx.lineTo(lastX, prevY);
  }
  ctx.stroke();
  ctx.setLineDash([]);
}

/**
 * Values of the series of chart k nearest to time t, for the tooltip: one
 * line per series, {text, colour}. A sample (dots) says when it was taken,
 * as the nearest one of a direction may be far from t.
 */
export function chartValues(c, k, t) {
  const ch = CHARTS[k];
  const out = [];
  for (const s of ch.series) {
    const sr = c.series[s.key];
    if (!sr.n) continue;
    let i = lowerBound(sr.t, t);
    if (s.style !== 'dots') i = Math.max(0, i - (i >= sr.n || sr.t[i] > t ? 1 : 0));
    else if (i >= sr.n || (i > 0 && t - sr.t[i - 1] < sr.t[i] - t)) i = Math.max(0, i - 1);
    if (i >= sr.n) i = sr.n - 1;
    const at = s.style === 'dots' ? `  (at ${fmtAxis(sr.t[i], 1)})` : '';
    out.push({ text: `${s.label}: ${ch.fmt(sr.v[i])}${at}`, colour: colourOf(s) });
  }
  return { title: ch.title, lines: out };
}
