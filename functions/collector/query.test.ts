import querystring from 'node:querystring';
import fc from 'fast-check';
import { lazyQuery } from './query';

test('reads, keys, spreads and JSON exactly like the parsed query', () => {
  const samples = ['a=1&a=2&b=x+y&c=%E2%82%AC&d=%ZZ&e', 'anonymous_id=abc&event=Order%20Completed', 'x', '&&='];
  for (const text of samples) {
    const want = querystring.parse(text);
    const got = lazyQuery(text);
    expect({ ...got }).toEqual({ ...want });
    expect(Object.keys(got)).toEqual(Object.keys(want));
    expect(JSON.stringify(got)).toBe(JSON.stringify(want));
    for (const key of Object.keys(want)) {
      expect(got[key]).toEqual(want[key]);
      expect(key in got).toBe(true);
    }
    expect(got.missing).toBeUndefined();
    expect('missing' in got).toBe(false);
  }
  expect(lazyQuery('')).toEqual({});
});

test('agrees with querystring.parse on generated query strings', () => {
  const part = fc.string({ unit: fc.constantFrom('a', 'b', '%', '2', '0', '+', '=', 'é', ' ', 'E'), maxLength: 6 });
  fc.assert(
    fc.property(fc.array(part, { maxLength: 6 }), (parts) => {
      const text = parts.join('&');
      expect({ ...lazyQuery(text) }).toEqual({ ...querystring.parse(text) });
    }),
  );
});

test('writes go to the parsed object', () => {
  const q = lazyQuery('a=1');
  q.b = '2';
  delete q.a;
  expect({ ...q }).toEqual({ b: '2' });
});
