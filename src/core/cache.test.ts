import { BoundedCache } from './cache';

test('computes each key once, keeps null results, and evicts the oldest beyond its bound', () => {
  const calls: string[] = [];
  const cache = new BoundedCache<string | null>(2);
  const make = (k: string) => (calls.push(k), k === 'x' ? null : k.toUpperCase());
  expect(cache.get('a', make)).toBe('A');
  expect(cache.get('a', make)).toBe('A');
  expect(cache.get('x', make)).toBeNull();
  expect(cache.get('x', make)).toBeNull();
  expect(calls).toEqual(['a', 'x']);
  cache.get('b', make); // evicts 'a'
  cache.get('a', make);
  expect(calls).toEqual(['a', 'x', 'b', 'a']);
});

test('computes keys over the length bound each time without storing them', () => {
  const calls: string[] = [];
  const cache = new BoundedCache<string>(10, 3);
  const make = (k: string) => (calls.push(k), k.toUpperCase());
  expect(cache.get('abc', make)).toBe('ABC');
  expect(cache.get('abc', make)).toBe('ABC');
  expect(cache.get('abcd', make)).toBe('ABCD');
  expect(cache.get('abcd', make)).toBe('ABCD');
  expect(calls).toEqual(['abc', 'abcd', 'abcd']);
});
