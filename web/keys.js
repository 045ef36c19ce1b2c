// SPDX-License-Identifier: MIT
// keys.js - keyboard control of the timeline and the help overlay that lists
// the keys (the same table drives both, so the overlay cannot go stale).

export const KEYS = [
  ['Navigate', [
    [['←', '→'], 'previous / next packet on the connection'],
    [['⇧←', '⇧→'], 'previous / next message (on to the next connection at the end)'],
    [['↑', '↓'], 'connection above / below, at the same time'],
    [['Enter'], 'show / hide the selected connection\'s charts'],
    [['Esc'], 'clear the selection, close overlays'],
  ]],
  ['View', [
    [['+', '−'], 'zoom in / out about the selected packet or message, else the centre'],
    [['Ctrl', 'wheel'], 'zoom at the pointer'],
    [['⇧', 'wheel'], 'pan in time (or drag, or a sideways swipe)'],
    [['0'], 'fit everything shown'],
    [['z'], 'zoom to the selection'],
    [['Home', 'End'], 'go to the start / end'],
    [['m'], 'magnifier for dense packets'],
    [['t'], 'scale in round trips'],
    [['a'], 'show / hide ACK-only packets'],
    [['l'], 'show / hide referer and redirect arcs'],
  ]],
  ['Find and filter', [
    [['/'], 'search URLs, methods, statuses, types'],
    [['n', 'N'], 'next / previous search match'],
    [['f'], 'open the filters'],
    [['h'], 'hide the selected connection (⇧H: its server)'],
    [['o'], 'focus on the selected connection (⇧O: its server)'],
    [['u'], 'show everything hidden again'],
  ]],
  ['Other', [
    [['b'], 'open the selected response\'s body'],
    [['s'], 'start / stop live capture'],
    [['?'], 'this help'],
  ]],
];

/** Fill the help overlay's content element from KEYS. */
export function renderHelp(container) {
  container.replaceChildren();
  for (const [title, rows] of KEYS) {
    const sec = document.createElement('section');
    const h = document.createElement('h3');
    h.textContent = title;
    const t = document.createElement('table');
    for (const [keys, what] of rows) {
      const tr = document.createElement('tr');
      const k = document.createElement('th');
      keys.forEach((key, i) => {
        const kb = document.createElement('kbd');
        kb.textContent = key;
        if (i) k.append(' ');
        k.append(kb);
      });
      const d = document.createElement('td');
      d.textContent = what;
      tr.append(k, d);
      t.append(tr);
    }
    sec.append(h, t);
    container.append(sec);
  }
}

/**
 * Install the key handler. a: actions {timeline, help(), search(), filters(),
 * toggle(name), hideSel(server), focusSel(server), unhide(), openBody(),
 * startStop(), escape(), searchStep(dir)}.
 */
export function installKeys(a) {
  document.addEventListener('keydown', (e) => {
    const tag = (e.target && e.target.tagName) || '';
    const typing = tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || (e.target && e.target.isContentEditable);
    if (typing) {
      if (e.key === 'Escape') {
        // out of the field; in the filter bar, Esc closes the bar too
        const inBar = !!e.target.closest?.('#filterbar');
        e.target.blur();
        e.preventDefault();
        if (inBar) a.escape();
      }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    // an open menu or the help overlay takes Esc first, and while the help
    // is open the keys do not act on the timeline behind it
    const menu = document.querySelector('details.menu[open]');
    if (e.key === 'Escape' && menu) {
      menu.open = false;
      menu.querySelector('summary')?.focus();
      e.preventDefault();
      return;
    }
    if (a.helpOpen?.() && e.key !== 'Escape' && e.key !== '?') return;
    // a focused button or link keeps Enter and Space
    if ((tag === 'BUTTON' || tag === 'A' || tag === 'SUMMARY') && (e.key === 'Enter' || e.key === ' ')) return;
    const tl = a.timeline;
    let handled = true;
    switch (e.key) {
      case 'ArrowLeft': e.shiftKey ? tl.stepMessage(-1) : tl.stepPacket(-1); break;
      case 'ArrowRight': e.shiftKey ? tl.stepMessage(1) : tl.stepPacket(1); break;
      case 'ArrowUp': tl.stepRow(-1); break;
      case 'ArrowDown': tl.stepRow(1); break;
      case '+': case '=': tl.zoomStep(1 / 1.6); break; // following keeps the zoom
      case '-': case '_': tl.zoomStep(1.6); break;
      case '0': a.fit(); break;
      case 'Home': tl.setView(tl.model.span.t0 + (tl.plotW * 0.45) * tl.upp, tl.upp); break;
      case 'End': tl.setView(tl.model.span.t1 - (tl.plotW * 0.45) * tl.upp, tl.upp); break;
      case 'Enter': {
        const s = tl.selection;
        const cid = s ? (s.kind === 'message' ? tl.model.msg(s.msg)?._conn : s.conn) : null;
        if (cid !== null && cid !== undefined) a.toggleExpand(cid);
        else handled = false;
        break;
      }
      case 'Escape': a.escape(); break;
      case '?': a.help(); break;
      case '/': a.search(); break;
      case 'n': a.searchStep(1); break;
      case 'N': a.searchStep(-1); break;
      case 'f': a.filters(); break;
      case 'z': a.zoomToSelection(); break;
      case 'm': a.toggle('magnifier'); break;
      case 't': a.toggle('rttScale'); break;
      case 'a': a.toggle('showAcks'); break;
      case 'l': a.toggle('showArcs'); break;
      case 'h': a.hideSel(false); break;
      case 'H': a.hideSel(true); break;
      case 'o': a.focusSel(false); break;
      case 'O': a.focusSel(true); break;
      case 'u': a.unhide(); break;
      case 'b': a.openBody(); break;
      case 's': a.startStop(); break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });
}
