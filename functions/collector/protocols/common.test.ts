import fc from 'fast-check';
import { findForbiddenKey } from '../../../src/core/event';
import { clearlyAcceptable, compact, depthExceeds, pageParts } from './common';

/** A JSON value nested `levels` deep, ending in an object. */
function nested(levels: number): unknown {
  let v: unknown = { leaf: true };
  for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

describe('clearlyAcceptable', () => {
  it('never vouches for a value the exact checks would reject', () => {
    const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'ok');
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue({ maxDepth: 2 }),
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 4 })), tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(json, fc.integer({ min: 2, max: 3000 }), fc.integer({ min: 1, max: 6 }), (v, maxBytes, maxDepth) => {
        if (!clearlyAcceptable(v, maxBytes, maxDepth)) return;
        expect(Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8')).toBeLessThanOrEqual(maxBytes);
        expect(findForbiddenKey(v)).toBeNull();
        expect(depthExceeds(v, maxDepth)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('vouches for an ordinary event and leaves edge cases to the exact checks', () => {
    const event = { type: 'track', event: 'Order Completed', properties: { total: 10.5, items: [{ id: 'a' }] } };
    expect(clearlyAcceptable(event, 32 * 1024, 32)).toBe(true);
    expect(clearlyAcceptable(event, 100, 32)).toBe(false);
    expect(clearlyAcceptable(JSON.parse('{"a":{"__proto__":{"x":1}}}'), 32 * 1024, 32)).toBe(false);
    expect(clearlyAcceptable({ a: { constructor: 1 } }, 32 * 1024, 32)).toBe(false);
    expect(clearlyAcceptable(nested(31), 32 * 1024, 32)).toBe(true);
    expect(clearlyAcceptable(nested(32), 32 * 1024, 32)).toBe(false);
    expect(clearlyAcceptable({ at: new Date(0) }, 32 * 1024, 32)).toBe(false);
    // The bound is deliberately loose: 6 bytes per character, so long strings get the exact measurement.
    expect(clearlyAcceptable({ s: 'x'.repeat(6000) }, 32 * 1024, 32)).toBe(false);
  });
});

describe('compact and pageParts', () => {
  it('compact copies without undefined values and keeps key order', () => {
    const input = { a: 1, b: undefined, c: null, d: 'x' };
    const out = compact(input);
    expect(Object.keys(out)).toEqual(['a', 'c', 'd']);
    expect(out).not.toBe(input);
  });

  it('pageParts answers the same for a repeated URL, and nothing for non-http URLs', () => {
    expect(pageParts('https://shop.example.com/p/1?x=1')).toEqual({
      host: 'shop.example.com',
      path: '/p/1',
      search: '?x=1',
    });
    expect(pageParts('https://shop.example.com/p/1?x=1')).toEqual(pageParts('https://shop.example.com/p/1?x=1'));
    expect(pageParts('mailto:a@b.c')).toEqual({});
    expect(pageParts('not a url')).toEqual({});
  });
});
