import { cookieValue, parseCookies } from './cookies';

describe('parseCookies', () => {
  it('reads name=value pairs, trimmed, first occurrence winning', () => {
    expect({ ...parseCookies(' a=1; b = two ;a=3; c=') }).toEqual({ a: '1', b: 'two', c: '' });
  });

  it('drops surrounding quotes and percent-decodes; undecodable values are kept as sent', () => {
    expect({ ...parseCookies('q="x y"; p=a%20b; bad=%E0%A4%A; half="open') }).toEqual({
      q: 'x y',
      p: 'a b',
      bad: '%E0%A4%A',
      half: 'open',
    });
  });

  it('skips parts without a name or without =, and treats __proto__ as a plain name', () => {
    const out = parseCookies('=v; novalue; __proto__=x; ok=1');
    expect(Object.keys(out)).toEqual(['__proto__', 'ok']);
    expect(out.__proto__).toBe('x');
    expect(Object.getPrototypeOf(out)).toBeNull();
  });

  it('answers an empty object for no header', () => {
    expect(Object.keys(parseCookies(undefined))).toEqual([]);
    expect(Object.keys(parseCookies(''))).toEqual([]);
  });
});

describe('cookieValue', () => {
  it('reads one cookie the way parseCookies does; empty or absent is null', () => {
    expect(cookieValue('a=1; tp_debug=xyz', 'tp_debug')).toBe('xyz');
    expect(cookieValue('xtp_debug=1', 'tp_debug')).toBeNull();
    expect(cookieValue('tp_debug=', 'tp_debug')).toBeNull();
    expect(cookieValue('tp_debug="n.k.m"; tp_debug=second', 'tp_debug')).toBe('n.k.m');
    expect(cookieValue(undefined, 'tp_debug')).toBeNull();
  });
});
