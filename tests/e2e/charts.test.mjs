// SPDX-License-Identifier: MIT
// charts.test.mjs - web/charts.js's scale label, in node: the top right of a
// chart says the largest value of its series, and where outliers are
// clipped, where (the scale itself has room above the largest value).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CHARTS, scaleLabel } from '../../web/charts.js';

const series = (vals) => ({ t: new Float64Array(vals.map((_, i) => i)), v: new Float64Array(vals), max: Math.max(...vals), n: vals.length });
const empty = { t: new Float64Array(0), v: new Float64Array(0), max: 0, n: 0 };
const [rtt, flight] = CHARTS;

describe('a chart\'s scale label (web/charts.js)', () => {
  it('says the largest value, not the scale\'s top', () => {
    const c = { series: { rtt_c2s: series([1000, 32400, 5000]), rtt_s2c: series([40, 50]), rtt: empty } };
    assert.equal(scaleLabel(c, rtt), 'max 32.4 ms');
    const f = { series: { flight_c2s: series([100]), flight_s2c: series([64000, 1000]), cwnd_c2s: empty, cwnd_s2c: series([2000]) } };
    assert.equal(scaleLabel(f, flight), 'max 63 KB');
  });

  it('says where outliers are clipped', () => {
    const vals = Array.from({ length: 500 }, (_, i) => 1000 + (i % 50) * 10);
    vals[250] = 812000;
    const c = { series: { rtt_c2s: series(vals), rtt_s2c: empty, rtt: empty } };
    // the 99th percentile, 1,490 µs, with the scale's room above it (×1.12)
    assert.equal(scaleLabel(c, rtt), 'max 812.0 ms (clipped at 1.67 ms)');
  });

  it('says when there is nothing to draw', () => {
    assert.equal(scaleLabel({ series: { rtt_c2s: empty, rtt_s2c: empty, rtt: empty } }, rtt), 'no samples');
  });
});
