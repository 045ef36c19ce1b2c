// SPDX-License-Identifier: MIT
// app.js - wires the page together: the API client, the model, the filters,
// the timeline, the detail panel and the keys; the toolbar (start / stop /
// clear, load a pcap, downloads, search, filters, view options, zoom, ports),
// the status bar (counts, drops, memory, feed) and live updates. Exposes
// window.htracr for tests and scripts: {model, view, selection, timeline, ...}.

import { Api } from './api.js';
import { Model, checkModelDoc } from './model.js';
import { Filter } from './filter.js';
import { Timeline } from './timeline.js';
import { Panel } from './panel.js';
import { installKeys, renderHelp } from './keys.js';
import { fmtBytes, fmtInt, fmtCount, fmtDur, CT_FAMILIES, CAT_COLOURS, CAT_LABELS, STATE_COLOURS, STATE_LABELS, C } from './format.js';

const $ = (s) => document.querySelector(s);

const api = new Api();
const model = new Model();
const filter = new Filter();
let status = null;
let lastServer = { generation: null, seq: null };
// A --json model read in the page: its file name, else null (the server's
// model is shown). While it is shown, nothing is asked of the server in its
// name (bodies, payloads, replays and downloads are the server's capture's),
// and the server's own updates wait until Close JSON.
let inPage = null;
// Clear was pressed and nothing came since: the empty timeline says so.
let cleared = false;
// htracr was started again under this page: what it shows stays as it
// was, and nothing more is asked of the new run (its data is not ours).
let gone = false;

// ------------------------------------------------------------ toasts

function toast(msg, kind = 'info', ms = 4500) {
  const t = document.createElement('div');
  t.className = `toast ${kind}`;
  t.textContent = msg;
  $('#toasts').append(t);
  setTimeout(() => t.classList.add('gone'), ms);
  setTimeout(() => t.remove(), ms + 400);
}

// ------------------------------------------------------------ timeline + panel

/** Why the server does not hold what the page shows (so no body, payload
 * or replay is asked of it), or null. */
function away() {
  if (inPage) return `Bodies, payloads and requests are not in a --json file: ${inPage} is read in the page (load its pcap for them)`;
  if (gone) return 'htracr was started again: the server no longer holds this run (reload the page for the new one)';
  return null;
}

/** A file (or an upload) is shown, not live capture. */
function showingFile() {
  return !!status && (!status.live || /^(upload|file):/.test(status.source || ''));
}

const tooltip = $('#tooltip');
const timeline = new Timeline({
  wrap: $('#tl-body'), canvas: $('#tl'), scroller: $('#scroller'), spacer: $('#spacer'),
  axis: $('#axis'), overview: $('#overview'), lens: $('#lens'), tooltip,
}, model, filter, {
  onSelect: (sel) => {
    panel.show(sel);
    if (filter.rttScale) timeline.requestDraw();
  },
  onView: (v) => {
    syncZoom(v);
    $('#opt-follow').checked = timeline.follow;
  },
  onHover: (hit, p) => showTooltip(hit, p),
  // what an empty timeline says depends on where its packets come from
  emptyText: () => {
    if (inPage) return `No HTTP connections in ${inPage}.\nDrop another file here, or Close JSON to go back.`;
    if (!status || document.body.dataset.state === 'loading') return 'Loading…';
    const dns = model.dns.length ? ` (${fmtCount(model.dns.length, 'DNS lookup')} only)` : '';
    if (cleared && !status.capturing) {
      return status.live ? 'Cleared. Press start to capture again, or drop a pcap file here.' : 'Cleared. Drop a pcap file here to look at one.';
    }
    if (showingFile()) {
      return `No HTTP in ${status.source || 'this capture'}${dns}:\nno connection on the HTTP ports, and none that starts with a request.\nDrop another pcap file here.`;
    }
    if (status.capturing) return `No HTTP connections yet on ports ${(status.ports || []).join(',')}.\nLoad a page, or drop a pcap file here.`;
    return 'No HTTP connections yet. Press start and load a page, or drop a pcap file here.';
  },
  // double-click on a response with a kept body: open it
  onOpenMessage: (id) => {
    const m = model.msg(id);
    if (!m || m.kind !== 'response' || !(m.body_kept > 0) || away()) return false;
    window.open(api.bodyUrl(id), '_blank', 'noopener');
    return true;
  },
});

const actions = {
  select: (sel) => timeline.select(sel),
  showingFile: () => showingFile(),
  capturing: () => !inPage && !gone && !!status && !!status.live && !!status.capturing,
  away: () => away(),
  toggleExpand: (id) => timeline.toggleExpand(id),
  hideConn: (id) => { filter.hiddenConns.add(id); filtersChanged(); if (timeline.selection?.conn === id) timeline.select(null); },
  focusConn: (id) => { filter.focusConn = id; filtersChanged(); },
  hideServer: (id) => { filter.hiddenServers.add(id); filtersChanged(); timeline.select(null); },
  focusServer: (id) => { filter.focusServer = id; filtersChanged(); },
  toast,
};
const panel = new Panel($('#detail'), { model, api, timeline, actions });

function showTooltip(hit, p) {
  if (!hit || !p || timeline._drag) {
    tooltip.hidden = true;
    return;
  }
  const d = timeline.describe(hit);
  if (!d) {
    tooltip.hidden = true;
    return;
  }
  tooltip.replaceChildren();
  const h = document.createElement('div');
  h.className = 'tt-title';
  h.textContent = d.title;
  if (d.colour) h.style.color = d.colour;
  tooltip.append(h);
  for (const l of d.lines) {
    if (!l) continue;
    // a line is text, or {text, colour}: a swatch of its series' colour first
    const e = document.createElement('div');
    if (typeof l === 'string') {
      e.textContent = l;
    } else {
      const sw = document.createElement('span');
      sw.className = 'tt-swatch';
      sw.style.background = l.colour;
      e.append(sw, l.text);
    }
    tooltip.append(e);
  }
  tooltip.hidden = false;
  const body = $('#tl-body').getBoundingClientRect();
  const w = tooltip.offsetWidth, hh = tooltip.offsetHeight;
  let x = p.x + 16, y = p.y + 18;
  if (filter.magnifier) {
    // the lens sits below-right of the pointer: keep the tooltip clear of it
    x = p.x - w - 16;
    y = p.y - hh - 16;
    if (x < 4) x = p.x + 16;
    if (y < 4) y = p.y + 16;
  }
  if (x + w > body.width - 4) x = p.x - w - 12;
  if (y + hh > body.height - 4) y = p.y - hh - 12;
  tooltip.style.left = `${Math.max(4, x)}px`;
  tooltip.style.top = `${Math.max(4, y)}px`;
}

// ------------------------------------------------------------ model loading

// One load at a time. A call while one runs gets the load queued after it
// (one, however many calls; full if any asked for full), and its promise
// resolves when that queued load is done: a caller that awaits it (an
// upload, a clear) then reads the model it asked for, not the one before.
let current = null;
let queued = null;
let queuedFull = false;

function loadModel(full = false) {
  if (!current) {
    current = loadOnce(full).finally(() => { current = null; });
    return current;
  }
  queuedFull = queuedFull || full;
  if (!queued) {
    queued = current.then(() => {
      const f = queuedFull;
      queued = null;
      queuedFull = false;
      return loadModel(f);
    });
  }
  return queued;
}

// Past what the page can hold, loads wait a while between tries (each one
// costs the page seconds and hundreds of MB) and a note says why.
let tooLargeUntil = 0;
let tooLargeSaid = false;

async function loadOnce(full) {
  if (inPage || gone) {
    // the server's model waits while a --json file is shown
    if (!queued) document.body.dataset.state = 'ready';
    return;
  }
  if (Date.now() < tooLargeUntil) {
    if (!queued) document.body.dataset.state = 'ready';
    return;
  }
  try {
    const inc = !full && model.generation !== null && model.generation === lastServer.generation;
    const r = await api.model(inc ? model.generation : null, inc ? model.seq : null, inc ? model.reply : 0);
    // a .json read in the page, or a restart, while the reply was on its
    // way: it is not what the page shows now
    if (inPage || gone) return;
    lastServer = { generation: r.generation, seq: r.seq };
    const res = model.merge(r);
    if (res.stale && !full) {
      // a tail of a connection the page does not hold as it follows: the
      // whole model again (docs/api.md)
      model.generation = null;
      return loadOnce(true);
    }
    afterMerge(res);
  } catch (e) {
    if (e.tooLarge) {
      tooLargeUntil = Date.now() + 30000;
      if (!tooLargeSaid) {
        tooLargeSaid = true;
        toast(`The model has grown past what this page can load: ${e.message}. Capture goes on, ` +
          'and the outputs are whole; the page tries again every 30 s. A smaller --max-memory, ' +
          'fewer ports, or Clear bring it back in reach.', 'bad', 60000);
      }
    } else {
      toast(`could not load the model: ${e.message}`, 'bad');
    }
  } finally {
    if (!queued) document.body.dataset.state = 'ready';
  }
}

function afterMerge(res) {
  timeline.modelChanged(res.full);
  updateCounts();
  const sel = timeline.selection;
  const cid = sel ? (sel.kind === 'message' ? model.msg(sel.msg)?._conn : sel.conn) : null;
  // a selection the budget evicted goes with it (its panel, z and o
  // worked on a connection no longer there), whatever the delta says
  if (sel && !timeline._selectionStillValid()) timeline.select(null, false);
  else if (res.full || !sel || res.changed.includes(cid)) {
    if (sel && sel.kind !== 'packet') panel.render();
    else if (!sel) panel.render();
  }
  if (filter.search) updateSearchCount();
  document.body.dataset.generation = String(model.generation);
  document.body.dataset.seq = String(model.seq);
}

function updateCounts() {
  $('#conn-count').textContent = fmtInt(model.conns.size);
  $('#msg-count').textContent = fmtInt(model.messageCount);
  $('#pkt-count').textContent = fmtInt(model.packetCount);
  // "1 connection", "2 connections": the word after each count
  for (const [id, n] of [['conn-count', model.conns.size], ['msg-count', model.messageCount],
    ['pkt-count', model.packetCount]]) {
    const word = $(`#${id}`).nextSibling;
    if (word && word.nodeType === Node.TEXT_NODE) {
      word.textContent = word.textContent.replace(/(\w+?)s?(\b)/, (m0, w, b) => (n === 1 ? w : `${w}s`) + b);
    }
  }
  $('#conn-count').dataset.value = String(model.conns.size);
  $('#msg-count').dataset.value = String(model.messageCount);
  const hidden = model.conns.size - (timeline.visibleConnCount || 0);
  const info = $('#hidden-info');
  if (hidden > 0) {
    info.textContent = `${fmtInt(hidden)} hidden`;
    info.className = 'pill warnpill clickable';
    info.title = filter.filtered ? 'Connections left out by the filters (and hidden or focused); click or press u to show all, filters cleared'
      : 'Connections hidden (h) or left out by a focus (o); click or press u to show all';
  } else {
    info.textContent = '';
    info.className = '';
  }
  if (status) updateStatus(status);
}

// ------------------------------------------------------------ status

let sawStatus = false;
function updateStatus(s) {
  if (gone) return;
  if (!sawStatus && s.live && s.capturing) {
    // opened while capturing: follow the new data
    timeline.follow = true;
    $('#opt-follow').checked = true;
  }
  sawStatus = true;
  status = s;
  const st = s.stats || {};
  if (inPage) statePill('json', '', 'A --json model read in the page. Close JSON goes back to what htracr shows' + (s.live && s.capturing ? ' (it is capturing meanwhile)' : ''));
  else if (s.live) statePill(s.capturing ? 'capturing' : 'stopped', s.capturing ? 'live' : '');
  else statePill('file');
  $('#btn-start').disabled = !s.live || s.capturing;
  $('#btn-stop').disabled = !s.live || !s.capturing;
  const why = s.live ? '' : ' (not available: htracr is showing a file; run it without -r for live capture)';
  $('#btn-start').title = `Start live capture (s)${why}`;
  $('#btn-stop').title = `Stop live capture (s)${why}`;
  // downloads named after what is shown: trace.pcap gives trace.har, ...
  const src = /^upload:\d+ bytes$/.test(s.source || '') ? '' : s.source || '';
  const base = (/^(?:file|upload):(?:.*\/)?([^/]+?)(?:\.(?:pcapng|pcap|cap))?(?:\.gz)?$/i.exec(src) || [])[1] || 'htracr';
  for (const [id, ext] of [['#dl-pcap', 'pcap'], ['#dl-har', 'har'], ['#dl-jsonl', 'jsonl'], ['#dl-json', 'json']]) {
    // a capture's own name would be written over by its download: keep them apart
    $(id).download = ext === 'pcap' && base !== 'htracr' ? `${base}-htracr.pcap` : `${base}.${ext}`;
  }
  // where the eBPF filter runs: "at tc" (the interface's hooks) or "on a socket"
  const attach = s.attach === 'tc' ? 'at tc' : s.attach === 'socket' ? 'on a socket' : '';
  // where the filter runs and its ports are the live capture's: not said of
  // an uploaded file shown meanwhile
  const upload = /^upload:/.test(s.source || '');
  $('#source').textContent = inPage ? `json:${inPage} · read in the page`
    : [s.source, upload ? '' : attach, s.ports && s.live && !upload ? `ports ${s.ports.join(',')}` : ''].filter(Boolean).join(' · ');
  $('#source').title = inPage ? '' : s.attach === 'tc'
    ? 'The eBPF filter runs at the interface\'s tc hooks (--attach)'
    : s.attach === 'socket' ? 'The eBPF filter runs on a packet socket (--attach)' : '';
  const drops = st.dropped || 0; /* lost while this model was captured (the server's) */
  const d = $('#drops');
  const extra = [];
  if (st.evicted_connections) extra.push(`${fmtInt(st.evicted_connections)} evicted`);
  if (st.flows_evicted) extra.push(`${fmtInt(st.flows_evicted)} flows cut short`);
  if (st.decode_errors) extra.push(`${fmtInt(st.decode_errors)} undecodable`);
  if (st.alloc_failures) extra.push(`memory full: ${fmtInt(st.alloc_failures)} items not kept`);
  d.textContent = `${drops ? '⚠ ' : ''}drops ${fmtInt(drops)}${extra.length ? ` · ${extra.join(' · ')}` : ''}`;
  d.className = `pill ${drops || st.alloc_failures ? 'bad' : extra.length ? 'warnpill' : 'ok'}`;
  d.dataset.value = String(drops);
  d.title = `Packets lost before htracr saw them while this model was captured: ${fmtInt(st.dropped || 0)}` +
    (st.ring_drops || st.socket_drops ? `\nSince htracr started: ring buffer ${fmtInt(st.ring_drops || 0)}, socket ${fmtInt(st.socket_drops || 0)}` : '') +
    (st.evicted_connections ? `\n${fmtInt(st.evicted_connections)} connections evicted to stay within the memory budget` +
      (st.evicted_open_connections ? ` (${fmtInt(st.evicted_open_connections)} still open: their later traffic shows as new connections)` : '') : '') +
    (st.flows_evicted ? `\n${fmtInt(st.flows_evicted)} flows finished before their timeout: the flow table held its quarter of the memory budget (a flood of new connections?); the ones idle longest went first` : '') +
    (st.decode_errors ? `\n${fmtInt(st.decode_errors)} packets could not be decoded` : '') +
    (st.alloc_failures ? `\n${fmtInt(st.alloc_failures)} times data was not kept because the memory budget was full (raise --max-memory)` : '') +
    (st.held ? `\n${fmtInt(st.held)} packets waited while the model was being read (by the page's updates or a download), then were modelled: none lost` : '') +
    (st.left_out ? `\n${fmtInt(st.left_out)} live packets captured before an upload were left out of it (they belonged to the model it replaced)` : '');
  if (s.memory) {
    $('#memory').textContent = `mem ${fmtBytes(s.memory.used)} / ${fmtBytes(s.memory.budget)}`;
  }
  // The ports choose what live capture records; a file's HTTP is found on
  // any port (unless -p narrowed it when htracr started), so there is
  // nothing to set while a file is shown.
  const pe = $('#ports');
  pe.disabled = $('#ports-apply').disabled = !s.live;
  $('#ports-form').title = s.live ? 'Server ports to capture (changes the live filter)'
    : 'Ports choose what live capture records: htracr is showing a file (run it without -r to capture)';
  if (!s.live) {
    pe.value = '';
    pe.placeholder = 'live only';
  } else if (s.ports && document.activeElement !== pe && !pe.dataset.dirty) {
    pe.value = s.ports.join(',');
    pe.placeholder = 'ports';
  }
}

async function refreshStatus() {
  try {
    updateStatus(await api.status());
  } catch (e) {
    toast(e.message, 'bad');
  }
}

// ------------------------------------------------------------ live feed

let statsFrames = 0;
function startFeed() {
  api.follow({
    onChange: (d) => {
      if (d.status) updateStatus(d.status);
      if (d.generation === lastServer.generation && d.seq === lastServer.seq) return;
      const full = d.generation !== lastServer.generation;
      if (full) refreshStatus();
      loadModel(full);
    },
    onStats: (st, frame) => {
      // Each second's frame carries the counters, the memory and the
      // capture switch; the rest of the status is read now and then.
      if (status) {
        const next = { ...status, stats: { ...status.stats, ...st } };
        if (frame && frame.memory) next.memory = frame.memory;
        if (frame && typeof frame.capturing === 'boolean') next.capturing = frame.capturing;
        if (frame && typeof frame.live === 'boolean') next.live = frame.live;
        updateStatus(next);
      }
      if (++statsFrames % 10 === 0) refreshStatus();
    },
    onRestart: () => showRestarted(),
    onState: (up) => {
      if (gone) return;
      $('#feed-state').textContent = up ? '● connected' : '○ reconnecting';
      $('#feed-state').className = up ? 'feed-up' : 'muted';
      feedDown = !up;
      if (!up) watchServer();
    },
  });
}

/** The capture-state pill: its text, an extra class, a tooltip. */
function statePill(text, cls = '', title = '') {
  const cs = $('#capture-state');
  cs.textContent = text;
  cs.className = `pill ${cls}`.trim();
  cs.title = title;
}

// While the feed is down: is htracr away, or was it started again? A new
// run has a new token, which this page lacks: its calls are refused and
// its feed never comes back, so it says so and offers a reload.
let feedDown = false;
let watching = false;
async function watchServer() {
  if (watching) return;
  watching = true;
  while (feedDown) {
    try {
      const t = await api.pageToken();
      if (t !== api.token) {
        showRestarted();
        break;
      }
    } catch {
      statePill('unreachable', 'bad', 'htracr does not answer: stopped, or starting again');
      // nothing to start or stop until it answers (its status turns them on again)
      for (const id of ['#btn-start', '#btn-stop']) {
        $(id).disabled = true;
        $(id).title = 'htracr does not answer';
      }
    }
    await new Promise((r) => setTimeout(r, 3000));
  }
  watching = false;
}
function showRestarted() {
  if (gone) return;
  gone = true;
  api.close();
  feedDown = false; // ends watchServer's loop
  statePill('restarted', 'bad', 'htracr was started again: this page belongs to the run before');
  $('#feed-state').textContent = '○ run ended';
  $('#feed-state').className = 'muted';
  // what is shown stays readable; what would act on the server is off
  for (const id of ['#btn-start', '#btn-stop', '#btn-clear', '#ports', '#ports-apply', '#file-input']) {
    $(id).disabled = true;
    $(id).title = 'htracr was started again: reload the page for the new run';
  }
  downloadsOff('htracr was started again: its downloads are the new run\'s (reload the page for them)');
  panel.show(timeline.selection); // its buttons as they now are
  const t = document.createElement('div');
  t.className = 'toast bad';
  t.dataset.testid = 'restarted';
  t.append('htracr was started again: this page belongs to the run before. ');
  const b = document.createElement('button');
  b.textContent = 'Reload';
  b.addEventListener('click', () => location.reload());
  t.append(b);
  $('#toasts').append(t);
}

// ------------------------------------------------------------ toolbar

// In and out of showing a --json file read in the page (name, or null).
// Clear becomes Close JSON, and the downloads, which would be the server's
// capture and not the file shown, are off meanwhile.
function setInPage(name) {
  if (inPage === name) return;
  inPage = name;
  const b = $('#btn-clear');
  b.textContent = name ? 'Close JSON' : 'Clear';
  b.title = name ? `Stop showing ${name} and go back to what htracr shows` : 'Forget everything captured';
  downloadsOff(name ? `Not for ${name}: downloads are of what htracr holds (Close JSON first)` : null);
  if (status) updateStatus(status);
}

// The downloads are of what the server holds: off (why) while the page
// shows something else, on again (null).
function downloadsOff(why) {
  for (const a of document.querySelectorAll('#downloads a')) {
    if (why) {
      if (a.hasAttribute('href')) a.dataset.href = a.getAttribute('href');
      a.removeAttribute('href');
      a.title = why;
    } else {
      if (a.dataset.href) a.setAttribute('href', a.dataset.href);
      a.title = '';
    }
  }
}

// Out of showing a --json file, into the server's model (loaded whole).
// true when it came; false (the file still shown, as before) when not.
async function leaveInPage() {
  if (!inPage) {
    await loadModel(true);
    return true;
  }
  const name = inPage, shown = model.generation;
  setInPage(null);
  await loadModel(true);
  if (model.generation === shown) {
    setInPage(name);
    return false;
  }
  return true;
}

async function capture(kind) {
  if (kind === 'clear' && inPage) {
    timeline.select(null, false);
    if (await leaveInPage()) toast('Back to what htracr shows', 'info');
    else toast(`htracr's model could not be read: still showing ${inPage}`, 'bad');
    return;
  }
  try {
    const s = await (kind === 'start' ? api.start() : kind === 'stop' ? api.stop() : api.clear());
    if (s && s.stats) updateStatus(s);
    if (kind === 'start') {
      cleared = false;
      timeline.follow = true;
      $('#opt-follow').checked = true;
    }
    if (kind === 'clear') {
      cleared = true;
      timeline.select(null);
      await loadModel(true);
    }
  } catch (e) {
    toast(`${kind} failed: ${e.message}`, 'bad');
  }
}

$('#btn-start').addEventListener('click', () => capture('start'));
$('#btn-stop').addEventListener('click', () => capture('stop'));
$('#btn-clear').addEventListener('click', () => capture('clear'));

async function loadFile(file) {
  if (!file) return;
  if (gone) {
    toast('htracr was started again: reload the page to load files into the new run', 'bad');
    return;
  }
  if (/\.json$/i.test(file.name)) {
    // A --json model, shown in the page only (nothing is sent).
    let doc;
    if (file.size > (8 << 20)) {
      // parsing blocks the page for a second or more: say so first, and
      // let the note be drawn before it starts
      toast(`Reading ${file.name} (${fmtBytes(file.size)}) in the page…`, 'info', 2500);
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    }
    try {
      doc = JSON.parse(await file.text());
    } catch (e) {
      toast(`${file.name} is not JSON: ${e.message}`, 'bad', 8000);
      return;
    }
    const bad = checkModelDoc(doc);
    if (bad) {
      toast(`${file.name} is not a model written by htracr --json: ${bad}`, 'bad', 8000);
      return;
    }
    timeline.select(null, false);
    setInPage(file.name);
    const res = model.merge({ ...doc, full: true, generation: `file:${file.name}`, seq: 0 });
    afterMerge(res);
    toast(`Showing ${file.name} (${fmtCount(model.conns.size, 'connection')}), read in the page: ` +
      'no bodies or payloads in it; Close JSON goes back', 'ok', 8000);
    return;
  }
  toast(`Uploading ${file.name} (${fmtBytes(file.size)})…`, 'info', 2500);
  document.body.dataset.state = 'loading';
  try {
    const s = await api.upload(file);
    cleared = false;
    timeline.select(null, false);
    // a .json shown stays until the server's model has replaced it
    if (!(await leaveInPage())) {
      toast(`${file.name} was loaded by htracr, but its model could not be read: still showing ${inPage}`, 'bad', 8000);
      return;
    }
    if (s && s.stats) updateStatus(s);
    toast(`Loaded ${file.name}: ${fmtCount(model.conns.size, 'connection')}, ${fmtCount(model.messageCount, 'message')}`, 'ok');
  } catch (e) {
    document.body.dataset.state = 'ready';
    toast(`could not load ${file.name}: ${e.message}`, 'bad', 8000);
  }
}

$('#file-input').addEventListener('change', (e) => {
  loadFile(e.target.files[0]);
  e.target.value = '';
});

// drag and drop anywhere on the page
let dragDepth = 0;
window.addEventListener('dragenter', (e) => {
  if (!e.dataTransfer || ![...e.dataTransfer.types].includes('Files')) return;
  dragDepth++;
  $('#dropzone').hidden = false;
});
window.addEventListener('dragleave', () => {
  if (--dragDepth <= 0) {
    dragDepth = 0;
    $('#dropzone').hidden = true;
  }
});
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => {
  e.preventDefault();
  dragDepth = 0;
  $('#dropzone').hidden = true;
  const f = e.dataTransfer && e.dataTransfer.files[0];
  if (f) loadFile(f);
});

// a download chosen: the menu has done its job
for (const a of document.querySelectorAll('#downloads a')) a.addEventListener('click', () => { $('#downloads').open = false; });

// close open menus on outside click
document.addEventListener('click', (e) => {
  for (const d of document.querySelectorAll('details.menu[open]')) if (!d.contains(e.target)) d.open = false;
});

// ports
$('#ports').addEventListener('input', () => { $('#ports').dataset.dirty = '1'; });
$('#ports-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const txt = $('#ports').value.trim();
  const ports = txt.split(/[\s,]+/).filter(Boolean).map(Number);
  if (!ports.length || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    toast(`"${txt}" is not a port list: give ports 1–65535 separated by commas, e.g. 80,8080`, 'bad');
    return;
  }
  try {
    const r = await api.setPorts(ports);
    delete $('#ports').dataset.dirty;
    $('#ports').value = (r && r.ports ? r.ports : ports).join(',');
    toast(`Capturing ports ${$('#ports').value}`, 'ok');
    $('#ports').blur(); // the keys (0, f, ...) are the timeline's again
    refreshStatus();
  } catch (err) {
    toast(`could not set the ports: ${err.message}`, 'bad');
  }
});

// zoom slider: log scale between the deepest zoom and the whole capture
const zoomEl = $('#zoom');
function uppOfSlider(v) {
  const lo = Math.log(0.01), hi = Math.log(timeline.maxUpp);
  return Math.exp(lo + (hi - lo) * (1 - v / 1000));
}
function syncZoom(v) {
  const lo = Math.log(0.01), hi = Math.log(timeline.maxUpp);
  zoomEl.value = String(Math.round((1 - (Math.log(v.us_per_px) - lo) / (hi - lo)) * 1000));
  $('#zoom-label').textContent = `${fmtDur(v.us_per_px * 100)} / 100 px`;
}
zoomEl.addEventListener('input', () => timeline.zoomTo(uppOfSlider(+zoomEl.value)));
$('#zoom-in').addEventListener('click', () => timeline.zoomStep(1 / 1.6));
$('#zoom-out').addEventListener('click', () => timeline.zoomStep(1.6));
// Fit (the button, or 0): the whole capture; while capturing it is
// followed again
function fitView() {
  if (status?.capturing) timeline.follow = true;
  timeline.fit();
}
$('#zoom-fit').addEventListener('click', () => fitView());

// view options
const optEls = { showAcks: '#opt-acks', showArcs: '#opt-arcs', rttScale: '#opt-rtt', magnifier: '#opt-mag' };
function toggle(name, value) {
  filter[name] = value === undefined ? !filter[name] : value;
  $(optEls[name]).checked = filter[name];
  if (name === 'magnifier') $('#scroller').classList.toggle('magnifying', filter.magnifier);
  if (name === 'rttScale' && filter.rttScale && !model.derived.rtt) toast('No RTT known in this capture, so the scale stays in time', 'info');
  timeline.requestDraw();
}
for (const [name, sel] of Object.entries(optEls)) {
  $(sel).addEventListener('change', (e) => toggle(name, e.target.checked));
}
$('#opt-follow').addEventListener('change', (e) => {
  timeline.follow = e.target.checked;
  if (timeline.follow) timeline.followEnd();
});

// ------------------------------------------------------------ filters + search

let filterTimer = 0;
function filtersChanged() {
  filter.changed();
  // a status filter part that means nothing is ignored: the field says so
  const bad = filter.statusProblems();
  const fs = $('#f-status');
  fs.classList.toggle('invalid', bad.length > 0);
  fs.title = bad.length ? `Not a status test, ignored: ${bad.join(' ')} (use 404, 4xx, >=400, <300, !200)` : '404, 4xx, >=400, <300, !200; several with commas';
  timeline.layout();
  updateCounts();
  updateSearchCount();
}
// The filter bar's fields into the filter; in force when typing pauses.
function takeFilters() {
  filter.host = $('#f-host').value;
  filter.url = $('#f-url').value;
  filter.status = $('#f-status').value;
  filter.minDurMs = parseFloat($('#f-dur').value) || 0;
  filter.onlyMatching = $('#f-only').checked;
}
function readFilters() {
  takeFilters();
  clearTimeout(filterTimer);
  filterTimer = setTimeout(filtersChanged, 120);
}
function emptyFilterFields() {
  for (const id of ['#f-host', '#f-url', '#f-status', '#f-dur']) $(id).value = '';
}
for (const id of ['#f-host', '#f-url', '#f-status', '#f-dur', '#f-only']) $(id).addEventListener('input', readFilters);
$('#filterbar').addEventListener('submit', (e) => e.preventDefault());
$('#f-clear').addEventListener('click', () => {
  emptyFilterFields();
  readFilters();
});
$('#f-unhide').addEventListener('click', () => { filter.unhideAll(); filtersChanged(); });
$('#hidden-info').addEventListener('click', () => showEverything());

// Everything back in sight: what hide and focus took away and what the
// filters leave out. The "N hidden" pill and u promise all of it; the
// filter bar's own buttons do one part each.
function showEverything() {
  filter.unhideAll();
  if (filter.filtered) {
    emptyFilterFields();
    takeFilters();
    clearTimeout(filterTimer);
  }
  filtersChanged();
}
function toggleFilters(show) {
  const bar = $('#filterbar');
  bar.hidden = show === undefined ? !bar.hidden : !show;
  $('#btn-filters').classList.toggle('on', !bar.hidden);
  if (!bar.hidden) $('#f-host').focus();
}
$('#btn-filters').addEventListener('click', () => toggleFilters());

// The matches in time order, kept until the text, the filters or the model
// change: n / N and the count read them without another pass.
// (the visible list is made anew by every layout, which a filter or a
// model change runs)
let searchCache = { text: null, vis: null, list: [] };
function searchMatches() {
  if (!filter.search.trim()) return [];
  if (searchCache.text === filter.search && searchCache.vis === timeline.visibleServers) return searchCache.list;
  const out = [];
  for (const s of timeline.visibleServers || []) {
    for (const c of s.conns) for (const m of c.messages) if (filter.searchMatches(m, c, model)) out.push(m);
  }
  out.sort((a, b) => a._s - b._s || a.id - b.id);
  searchCache = { text: filter.search, vis: timeline.visibleServers, list: out };
  return out;
}
function updateSearchCount() {
  const n = filter.search.trim() ? searchMatches().length : null;
  $('#search-count').textContent = n === null ? '' : `${fmtInt(n)} match${n === 1 ? '' : 'es'}`;
}
function searchStep(dir) {
  const ms = searchMatches();
  if (!ms.length) return;
  const sel = timeline.selection;
  const cur = sel && sel.kind === 'message' ? model.msg(sel.msg) : null;
  let k;
  if (!cur) k = dir > 0 ? 0 : ms.length - 1;
  else {
    const i = ms.indexOf(cur);
    if (i >= 0) k = (i + dir + ms.length) % ms.length;
    else {
      k = ms.findIndex((m) => m._s > cur._s);
      if (dir < 0) k = (k < 0 ? ms.length : k) - 1;
      if (k < 0) k = dir > 0 ? 0 : ms.length - 1;
    }
  }
  timeline.select({ kind: 'message', msg: ms[k].id, conn: ms[k]._conn });
  $('#search-count').textContent = `${k + 1} / ${fmtInt(ms.length)}`;
}
// Typing waits for a pause, as the filters do: on a large capture each
// pass over every message takes a while, and a keystroke should not.
let searchTimer = 0;
$('#search').addEventListener('input', (e) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    filter.search = e.target.value;
    updateSearchCount();
    timeline.requestDraw();
  }, 120);
});
$('#search').addEventListener('keydown', (e) => {
  if (e.key === 'Enter') {
    e.preventDefault();
    if (filter.search !== e.target.value) {
      clearTimeout(searchTimer);
      filter.search = e.target.value;
      timeline.requestDraw();
    }
    searchStep(e.shiftKey ? -1 : 1);
  }
});

// ------------------------------------------------------------ help + legend

function legendItems() {
  const items = [];
  for (const [, label, col] of CT_FAMILIES) items.push(['span', col, label]);
  items.push(['span', C.request, 'request']);
  return items;
}
function renderLegend() {
  const lg = $('#legend');
  lg.replaceChildren();
  const add = (cls, col, label, parent) => {
    const s = document.createElement('span');
    s.className = 'lg';
    const sw = document.createElement('i');
    sw.className = cls;
    sw.style.background = col;
    s.append(sw, label);
    parent.append(s);
  };
  const g1 = document.createElement('span');
  g1.className = 'lg-group';
  for (const [cls, col, label] of legendItems()) add(cls, col, label, g1);
  const g2 = document.createElement('span');
  g2.className = 'lg-group';
  for (let i = 3; i < CAT_LABELS.length; i++) add('tick', CAT_COLOURS[i], CAT_LABELS[i], g2);
  const g3 = document.createElement('span');
  g3.className = 'lg-group';
  for (const k of ['handshake', 'idle', 'half_closed', 'zero_window', 'rwnd_limited']) add('state', STATE_COLOURS[k], STATE_LABELS[k], g3);
  lg.append(g1, g2, g3);
  // the help overlay's fuller legend
  const hl = $('#help-legend');
  hl.replaceChildren();
  const sec = (title, rows) => {
    const d = document.createElement('section');
    const h = document.createElement('h3');
    h.textContent = title;
    d.append(h);
    for (const [cls, col, label] of rows) add(cls, col, label, d);
    hl.append(d);
  };
  sec('Messages (responses by content type)', legendItems());
  sec('Packets (up: client → server, down: server → client)', CAT_LABELS.map((l, i) => ['tick', CAT_COLOURS[i], l]));
  sec('Connection states (bar and strip)', Object.keys(STATE_LABELS).filter((k) => k !== 'closed').map((k) => ['state', STATE_COLOURS[k], STATE_LABELS[k]]));
  sec('Marks', [['outline', '#ff4fd8', 'pipelined request'], ['outline dashed', '#ffe14d', 'headers split over packets'],
    ['outline', '#ff5c5c', 'parse error / incomplete'], ['outline dashed', '#ff9f43', 'request never answered'], ['line', '#8c96ff', 'referer arc'], ['line', '#56cfe1', 'redirect arc'],
    ['line', C.ackLine, 'ACK relationship (hover a packet)']]);
}

let helpReturn = null; // where focus goes back when the help closes
function toggleHelp(show) {
  const h = $('#help');
  h.hidden = show === undefined ? !h.hidden : !show;
  if (!h.hidden) {
    helpReturn = document.activeElement;
    $('#help-close').focus(); // the overlay has the keyboard while open
  } else if (helpReturn) {
    helpReturn.focus?.();
    helpReturn = null;
  }
}
$('#btn-help').addEventListener('click', () => toggleHelp());
$('#help-close').addEventListener('click', () => toggleHelp(false));
// a dialog keeps Tab inside it: its one control is the close button
$('#help').addEventListener('keydown', (e) => {
  if (e.key === 'Tab') {
    e.preventDefault();
    $('#help-close').focus();
  }
});
$('#help').addEventListener('click', (e) => { if (e.target.id === 'help') toggleHelp(false); });

// ------------------------------------------------------------ keys

function selConn() {
  const s = timeline.selection;
  if (!s) return null;
  if (s.kind === 'message') return model.msg(s.msg)?._conn ?? null;
  return s.conn ?? null;
}

installKeys({
  timeline,
  help: () => toggleHelp(),
  search: () => { $('#search').focus(); $('#search').select(); },
  searchStep,
  filters: () => toggleFilters(),
  toggle,
  toggleExpand: (id) => { timeline.toggleExpand(id); panel.render(); },
  helpOpen: () => !$('#help').hidden,
  fit: () => fitView(),
  zoomToSelection: () => {
    const s = timeline.selection;
    if (!s) return;
    timeline.follow = false; // looking at one thing: new data must not move it away
    if (s.kind === 'message') {
      const m = model.msg(s.msg);
      if (!m) return;
      const req = m.kind === 'request' ? m : m.request ? model.msg(m.request) : m;
      const resp = m.kind === 'response' ? m : m.response ? model.msg(m.response) : m;
      // at least a millisecond: a one-packet message alone would be a
      // 10 µs view with nothing around it to read it by
      let t0 = Math.min(req._s, m._s), t1 = Math.max(resp._e, m._e);
      if (t1 - t0 < 1000) {
        const mid = (t0 + t1) / 2;
        t0 = mid - 500;
        t1 = mid + 500;
      }
      timeline.showRange(t0, t1, 0.15);
    } else if (s.kind === 'dns') {
      const d = model.dns[s.dns];
      if (d) timeline.showRange(d._s, Math.max(d._e, d._s + 1000), 0.3);
    } else if (s.kind === 'server') {
      let t0 = Infinity, t1 = -Infinity;
      for (const c of model.conns.values()) {
        if (c.server !== s.server) continue;
        t0 = Math.min(t0, c.t0);
        t1 = Math.max(t1, c.t1);
      }
      if (t0 <= t1) timeline.showRange(t0, t1);
    } else if (s.kind === 'packet') {
      const c = model.conn(s.conn);
      if (c) timeline.setView(c.t[s.idx], Math.max(0.05, timeline.upp / 8));
    } else if (s.kind === 'conn') {
      const c = model.conn(s.conn);
      if (c) timeline.showRange(c.t0, c.t1);
    }
  },
  hideSel: (server) => {
    const cid = selConn();
    if (server) {
      const sid = timeline.selection?.kind === 'server' ? timeline.selection.server : model.conn(cid)?.server;
      if (sid !== undefined && sid !== null) actions.hideServer(sid);
    } else if (cid !== null) actions.hideConn(cid);
  },
  focusSel: (server) => {
    const cid = selConn();
    if (server) {
      const sid = timeline.selection?.kind === 'server' ? timeline.selection.server : model.conn(cid)?.server;
      if (sid !== undefined && sid !== null) actions.focusServer(sid);
    } else if (cid !== null) actions.focusConn(cid);
  },
  unhide: () => showEverything(),
  openBody: () => {
    const s = timeline.selection;
    if (!s || s.kind !== 'message') return;
    const m = model.msg(s.msg);
    const resp = m.kind === 'response' ? m : m.response ? model.msg(m.response) : null;
    const why = away();
    if (resp && resp.body_kept > 0 && why) toast(why, 'info');
    else if (resp && resp.body_kept > 0) window.open(api.bodyUrl(resp.id), '_blank', 'noopener');
    else toast('No body was kept for this response', 'info');
  },
  startStop: () => {
    if (!status || !status.live) {
      toast('Live capture is not available: htracr is showing a file', 'info');
      return;
    }
    capture(status.capturing ? 'stop' : 'start');
  },
  escape: () => {
    if (!$('#help').hidden) toggleHelp(false);
    else if (!$('#filterbar').hidden) toggleFilters(false);
    else timeline.select(null);
  },
});

// ------------------------------------------------------------ panel splitter

{
  const sp = $('#splitter');
  const detail = $('#detail');
  let drag = null;
  sp.addEventListener('pointerdown', (e) => {
    sp.setPointerCapture(e.pointerId);
    drag = { x: e.clientX, w: detail.getBoundingClientRect().width };
    sp.classList.add('dragging');
  });
  sp.addEventListener('pointermove', (e) => {
    if (!drag) return;
    const w = Math.min(Math.max(drag.w - (e.clientX - drag.x), 240), window.innerWidth * 0.7);
    detail.style.width = `${w}px`;
  });
  sp.addEventListener('pointerup', () => {
    drag = null;
    sp.classList.remove('dragging');
  });
  sp.addEventListener('dblclick', () => document.body.classList.toggle('panel-hidden'));
}

// ------------------------------------------------------------ print

window.addEventListener('beforeprint', () => timeline.setPrint(true));
window.addEventListener('afterprint', () => timeline.setPrint(false));

// ------------------------------------------------------------ start

window.htracr = {
  get model() { return model; },
  get view() { return timeline.view; },
  get selection() { return timeline.selection; },
  timeline, filter, api, panel,
  select: (sel) => timeline.select(sel),
  reload: () => loadModel(true),
};

renderHelp($('#help-keys'));
renderLegend();
panel.show(null);
(async () => {
  await refreshStatus();
  try {
    const s = await api.settings();
    if (s && s.ports && status?.live && !$('#ports').dataset.dirty) $('#ports').value = s.ports.join(',');
  } catch {
    /* older servers: the status has the ports */
  }
  await loadModel(true);
  startFeed();
})();
