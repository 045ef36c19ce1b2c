// SPDX-License-Identifier: MIT
// filter.test.mjs - web/filter.js's status filter, in node: what a user
// types is read as the field's placeholder promises, ">= 400" with a space
// too, and what means nothing is named (the field turns red) and ignored,
// not silently taken as "no status".

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Filter } from '../../web/filter.js';

function test(text) {
  const f = new Filter();
  f.status = text;
  f.changed();
  const t = f._status();
  return { pass: [200, 204, 304, 404, 500, null].filter((s) => t(s)), bad: f.statusProblems() };
}

describe('the status filter (web/filter.js)', () => {
  it('reads codes, classes, comparisons and negations', () => {
    assert.deepEqual(test('404').pass, [404]);
    assert.deepEqual(test('4xx, 5xx').pass, [404, 500]);
    assert.deepEqual(test('>=400').pass, [404, 500]);
    assert.deepEqual(test('<300').pass, [200, 204]);
    assert.deepEqual(test('!200').pass, [204, 304, 404, 500, null]);
    assert.deepEqual(test('404').bad, []);
  });

  it('takes an operator with a space after it', () => {
    assert.deepEqual(test('>= 400').pass, [404, 500]);
    assert.deepEqual(test('>= 400').bad, []);
    assert.deepEqual(test('! 200, < 300').pass, [204]);
  });

  it('names what means nothing and ignores it', () => {
    const abc = test('abc');
    assert.deepEqual(abc.bad, ['abc']);
    assert.deepEqual(abc.pass, [200, 204, 304, 404, 500, null], 'nothing is filtered by it');
    const mixed = test('4xx, 9999, =200');
    assert.deepEqual(mixed.bad, ['9999', '=200']);
    assert.deepEqual(mixed.pass, [404], 'the part that means something still filters');
  });
});
