// SPDX-License-Identifier: MIT
// format.js - formatting of times, sizes and addresses, and the colour
// palette shared by the canvas renderers, the legend and the panels.
// Pure functions; no DOM.

/** A duration in µs as a short human string: "850 µs", "12.3 ms", "1.25 s". */
export function fmtDur(us) {
  if (us === null || us === undefined || Number.isNaN(us)) return '–';
  const a = Math.abs(us);
  if (a < 1000) return `${Math.round(us)} µs`;
  if (a < 10000) return `${(us / 1000).toFixed(2)} ms`;
  if (a < 1e6) return `${(us / 1000).toFixed(1)} ms`;
  if (a < 60e6) return `${(us / 1e6).toFixed(a < 10e6 ? 3 : 2)} s`;
  const m = Math.floor(a / 60e6);
  return `${us < 0 ? '-' : ''}${m} min ${((a - m * 60e6) / 1e6).toFixed(1)} s`;
}

/** An axis label for time t (µs from the origin) on a grid with step µs. */
export function fmtAxis(t, step) {
  if (step >= 1e6) return `${trim((t / 1e6).toFixed(step >= 10e6 ? 0 : 1))} s`;
  if (step >= 1000) {
    if (Math.abs(t) >= 1e6) return `${trim((t / 1e6).toFixed(step >= 100e3 ? 1 : step >= 10e3 ? 2 : 3))} s`;
    return `${trim((t / 1000).toFixed(step >= 10e3 ? 0 : step >= 1000 ? 0 : 1))} ms`;
  }
  if (Math.abs(t) >= 1000) return `${trim((t / 1000).toFixed(step >= 100 ? 1 : step >= 10 ? 2 : 3))} ms`;
  return `${trim(t.toFixed(step >= 1 ? 0 : 1))} µs`;
}

function trim(s) {
  return s.indexOf('.') >= 0 ? s.replace(/\.?0+$/, '') : s;
}

/** Bytes as "512 B", "12.4 KB", "3.1 MB" (powers of 1024). */
export function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** Integer with thin thousands separators. */
export function fmtInt(n) {
  if (n === null || n === undefined) return '–';
  // a narrow no-break space: a number never breaks across lines
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f');
}

/** "1 connection", "2 connections": n with its noun (many: one + 's'). */
export function fmtCount(n, one, many = `${one}s`) {
  return `${fmtInt(n)} ${n === 1 ? one : many}`;
}

/** Wall-clock time of an absolute µs timestamp: "14:03:22.123456". */
export function fmtClock(us) {
  if (us === null || us === undefined) return '–';
  const d = new Date(Math.floor(us / 1000));
  const p = (x, n = 2) => String(x).padStart(n, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(Math.floor(us % 1e6), 6)}`;
}

/** "[2001:db8::1]:80" or "192.0.2.1:80". */
export function hostPort(addr, port) {
  return addr && addr.indexOf(':') >= 0 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Nice grid step (1, 2, 5 × 10^n) of at least `min`. */
export function niceStep(min) {
  if (!(min > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(min)));
  for (const m of [1, 2, 5, 10]) if (m * p >= min) return m * p;
  return 10 * p;
}

// ---------------------------------------------------------------- colours

export const C = {
  bg: '#15161a',
  rowAlt: '#191a1f',
  rowSel: '#23262e',
  rowHover: '#1d1f25',
  serverRow: '#1e2027',
  grid: '#2a2c33',
  gridMajor: '#353842',
  text: '#d7dae0',
  textDim: '#8b909a',
  textFaint: '#5d626c',
  gutter: '#17181d',
  gutterLine: '#2c2f37',
  tick: '#aab1bd',
  tickAck: '#6c727d',
  ackLine: '#7fdbff',
  select: '#ffffff',
  request: '#a7b6c9',
  arcReferer: 'rgba(140,150,255,0.35)',
  arcRedirect: 'rgba(86,207,225,0.75)',
  dns: '#c0a36e',
  axisBg: '#121317',
  sep: '#2a2d35',
  // a connection's charts (charts.js)
  chartBg: '#101115',
  chartGrid: '#262830',
  chartLabelBg: 'rgba(16,17,21,0.85)',
  chartTitle: '#b5bac3',
  chartLabel: '#8b909a',
  chartHover: 'rgba(255,255,255,0.25)',
  chartC2S: '#6cc3ff',
  chartS2C: '#f0c36b',
  chartRtt: '#e2e6ee',
};

/** The light palette used while printing (print.css; timeline.setPrint). */
export const PRINT_C = {
  bg: '#ffffff', rowAlt: '#f6f6f8', rowSel: '#e6edfb', rowHover: '#f0f0f0', serverRow: '#eceef2',
  grid: '#e6e6ea', gridMajor: '#c8cad0', text: '#111111', textDim: '#50555e', textFaint: '#70757d',
  gutter: '#fafafa', gutterLine: '#c8cad0', tick: '#3d424a', tickAck: '#9a9ea6', axisBg: '#ffffff',
  sep: '#d0d2d8', request: '#7d8fa6',
  chartBg: '#ffffff', chartGrid: '#d0d2d8', chartLabelBg: 'rgba(255,255,255,0.85)', chartTitle: '#111111',
  chartLabel: '#50555e', chartHover: 'rgba(0,0,0,0.25)', chartC2S: '#1f6fb2', chartS2C: '#a86a00', chartRtt: '#333333',
};
export const PRINT_STATES = { active: '#b9bcc4', idle: '#e1e2e6', closed: '#f0f0f0', half_closed: '#c9b98f', closing: '#d2a3a3' };

/** Connection state colours (bar background; strip under the bar). */
export const STATE_COLOURS = {
  handshake: '#8792a8',
  active: '#5b5f68',
  idle: '#33363d',
  half_closed: '#6e6247',
  closing: '#7a5454',
  closed: '#2a2c31',
  reset: '#d64545',
  zero_window: '#ff4f64',
  rwnd_limited: '#f2a541',
  unknown: '#444',
};

export const STATE_LABELS = {
  handshake: 'handshake', active: 'active', idle: 'idle', half_closed: 'half-closed',
  closing: 'closing', closed: 'closed', reset: 'reset', zero_window: 'zero window',
  rwnd_limited: 'rwnd-limited',
};

// Packet categories, in drawing priority (higher index wins when a packet has
// several analysis flags).
export const CAT = { NORMAL: 0, CTRL: 1, OTHER: 2, WINDOW: 3, DUPACK: 4, OOO: 5, RETRANS: 6, LOST: 7, RESET: 8 };
export const CAT_COLOURS = ['#aab1bd', '#e8ecf2', '#8fa3bf', '#ffd166', '#ff70a6', '#c77dff', '#ff9f1c', '#ff4d4d', '#ff2e2e'];
export const CAT_LABELS = ['data / ack', 'SYN / FIN', 'window update, keep-alive', 'zero window, window full',
  'duplicate ACK', 'out of order', 'retransmission', 'lost segment (gap)', 'reset'];

const CAT_OF_NAME = {
  reset: CAT.RESET,
  lost_segment: CAT.LOST, ack_lost_segment: CAT.LOST,
  retransmission: CAT.RETRANS, fast_retransmission: CAT.RETRANS,
  spurious_retransmission: CAT.RETRANS, syn_retry: CAT.RETRANS,
  out_of_order: CAT.OOO,
  duplicate_ack: CAT.DUPACK,
  zero_window: CAT.WINDOW, zero_window_probe: CAT.WINDOW, window_full: CAT.WINDOW,
  window_update: CAT.OTHER, keep_alive: CAT.OTHER, overlap_conflict: CAT.RETRANS,
  truncated: CAT.OTHER,
};

/** Category of one analysis name (strings unknown to this version: OTHER). */
export function catOfName(name) {
  return CAT_OF_NAME[name] ?? CAT.OTHER;
}

// Content-type families, for message spans and the legend.
export const CT_FAMILIES = [
  ['html', 'HTML', '#4ea1ff'],
  ['css', 'CSS', '#b48cff'],
  ['js', 'JavaScript', '#f7d046'],
  ['json', 'JSON / XML', '#3dd6c6'],
  ['image', 'image', '#6fd26f'],
  ['font', 'font', '#ff8fc8'],
  ['media', 'audio / video', '#ff9f5a'],
  ['text', 'text', '#d0d3d9'],
  ['binary', 'other', '#c49a6c'],
  // lighter than the active bar's grey (#5b5f68) it sits on, and dark text reads on it
  ['none', 'no body', '#8a909b'],
];
const CT_COLOUR = Object.fromEntries(CT_FAMILIES.map(([k, , c]) => [k, c]));

/** Family key of a Content-Type value (null: the response had none). */
export function ctFamily(ct, bodyBytes) {
  if (!ct) return bodyBytes > 0 ? 'binary' : 'none';
  const t = ct.toLowerCase();
  if (t.includes('html')) return 'html';
  if (t.includes('css')) return 'css';
  if (t.includes('javascript') || t.includes('ecmascript')) return 'js';
  if (t.includes('json') || t.includes('xml')) return 'json';
  if (t.startsWith('image/')) return 'image';
  if (t.startsWith('font/') || t.includes('font')) return 'font';
  if (t.startsWith('video/') || t.startsWith('audio/')) return 'media';
  if (t.startsWith('text/')) return 'text';
  return 'binary';
}

export function ctColour(fam) {
  return CT_COLOUR[fam] || CT_COLOUR.binary;
}

/** Colour of a status code's label. */
export function statusColour(s) {
  if (s === null || s === undefined) return '#8b909a';
  if (s < 200) return '#9aa0a6';
  if (s < 300) return '#b9bec7';
  if (s < 400) return '#56cfe1';
  if (s < 500) return '#ffb347';
  return '#ff5c5c';
}
