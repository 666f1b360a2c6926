import fc from 'fast-check';
import { firstValues, overridePairs, parsePairs } from './urlencoded';

/** What URLSearchParams reads from the same text. */
function reference(text: string): { names: string[]; values: string[] } {
  const names: string[] = [];
  const values: string[] = [];
  new URLSearchParams(text).forEach((v, k) => {
    names.push(k);
    values.push(v);
  });
  return { names, values };
}

/** Text made mostly of the characters the parser treats specially, plus some it does not. */
const urlencodedText = fc
  .array(
    fc.oneof(
      fc.constantFrom('&', '=', '+', '%', '?', '%2', '%41', '%2B', '%26', '%3D', '%E2%82%AC', '%C3', '%FF', '%zz'),
      fc.constantFrom('a', 'ep.x', 'en', 'v', '2', ' ', 'é', '€', '\ud800', '\udc00', '😀', '__proto__'),
      fc.string({ maxLength: 3 }),
    ),
    { maxLength: 30 },
  )
  .map((parts) => parts.join(''));

const RUNS = { numRuns: 2000 };

describe('parsePairs', () => {
  it('reads exactly what URLSearchParams reads, pair for pair', () => {
    fc.assert(
      fc.property(
        fc.oneof(urlencodedText, fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })),
        (text) => {
          expect(parsePairs(text)).toEqual(reference(text));
        },
      ),
      RUNS,
    );
  });

  it('decodes escapes and plus signs, keeps malformed escapes, and slices plain text', () => {
    expect(parsePairs('?a=1&b=x+y&c=%E2%82%AC&d=%zz%41&&e&=f&g==h')).toEqual({
      names: ['a', 'b', 'c', 'd', 'e', '', 'g'],
      values: ['1', 'x y', '€', '%zzA', '', 'f', '=h'],
    });
    expect(parsePairs('dl=%C3&x=%FF')).toEqual({ names: ['dl', 'x'], values: ['\ufffd', '\ufffd'] });
    // Node's URLSearchParams skips `+` between `%` and its hex digits when it decides to decode a part.
    expect(parsePairs('x=%2+0&y=é%2+0&z=é%2')).toEqual({
      names: ['x', 'y', 'z'],
      values: ['%2 0', '\ufffd%2 0', 'é%2'],
    });
  });

  it('answers the first value of a name as URLSearchParams.get does', () => {
    fc.assert(
      fc.property(urlencodedText, fc.constantFrom('a', 'en', 'v', 'ep.x', '', ' ', '__proto__'), (text, name) => {
        expect(firstValues(parsePairs(text)).get(name) ?? null).toBe(new URLSearchParams(text).get(name));
      }),
      RUNS,
    );
  });
});

describe('overridePairs', () => {
  it('sets every name of the second text as URLSearchParams.set does, name by name', () => {
    fc.assert(
      fc.property(urlencodedText, urlencodedText, (base, over) => {
        const expected = new URLSearchParams(base);
        const line = new URLSearchParams(over);
        for (const key of new Set(line.keys())) expected.set(key, line.get(key) ?? '');
        expect(overridePairs(parsePairs(base), parsePairs(over))).toEqual(reference(expected.toString()));
      }),
      RUNS,
    );
  });
});
