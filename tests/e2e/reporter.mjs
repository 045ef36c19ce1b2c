// SPDX-License-Identifier: MIT
// reporter.mjs - a node --test reporter that writes htracr's test format:
// one line per test ("ok   suite: name", "FAIL suite: name: why",
// "skip suite: name: why"), suites themselves only when they fail outside
// any test (a hook), and a last line "N passed, N failed, N skipped" that
// tests/run.sh sums. Used by tests/e2e/run.sh.

function isSuite(ev) {
  return ev.details?.type === 'suite';
}

function why(err) {
  if (!err) return '';
  const e = err.cause ?? err;
  const msg = (e && (e.message || String(e))) || String(err);
  return msg.split('\n').filter((l) => l.trim()).slice(0, 12).join(' | ');
}

export default async function* reporter(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const names = []; // the enclosing suites' names by nesting level
  for await (const ev of source) {
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail' && ev.type !== 'test:start') continue;
    const d = ev.data;
    if (ev.type === 'test:start') {
      names[d.nesting] = d.name;
      names.length = d.nesting + 1;
      continue;
    }
    const full = [...names.slice(0, d.nesting), d.name].join(': ');
    if (isSuite(d)) {
      if (d.skip !== undefined && d.skip !== false) {
        skipped++;
        yield `skip ${full}: ${typeof d.skip === 'string' ? d.skip : ''}\n`;
        continue;
      }
      // a suite fails on its own only when a hook failed; its tests are
      // reported as failed already, so count nothing more
      if (ev.type === 'test:fail' && d.details?.error?.failureType === 'hookFailed') {
        yield `FAIL ${full}: hook: ${why(d.details.error)}\n`;
      }
      continue;
    }
    if (d.skip !== undefined && d.skip !== false) {
      skipped++;
      yield `skip ${full}: ${typeof d.skip === 'string' ? d.skip : ''}\n`;
    } else if (d.todo !== undefined && d.todo !== false) {
      skipped++;
      yield `todo ${full}\n`;
    } else if (ev.type === 'test:pass') {
      passed++;
      yield `ok   ${full} (${Math.round(d.details?.duration_ms ?? 0)} ms)\n`;
    } else {
      failed++;
      yield `FAIL ${full}: ${why(d.details?.error)}\n`;
    }
  }
  yield `${passed} passed, ${failed} failed, ${skipped} skipped\n`;
}
