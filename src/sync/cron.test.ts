import { isDue, nextRun, parseCron } from './cron';

const at = (iso: string) => new Date(iso);

describe('cron', () => {
  test.each([
    ['*/15 * * * *', '2026-03-01T10:07:30Z', '2026-03-01T10:15:00.000Z'],
    ['0 * * * *', '2026-03-01T10:00:00Z', '2026-03-01T11:00:00.000Z'],
    ['30 2 * * *', '2026-03-01T03:00:00Z', '2026-03-02T02:30:00.000Z'],
    ['0 9 * * mon-fri', '2026-03-06T10:00:00Z', '2026-03-09T09:00:00.000Z'], // Friday after 9 → Monday
    ['0 0 1 jan,jul *', '2026-03-01T00:00:00Z', '2026-07-01T00:00:00.000Z'],
    ['0 0 31 * *', '2026-04-01T00:00:00Z', '2026-05-31T00:00:00.000Z'], // April has no 31st
    ['0 12 13 * 5', '2026-03-01T00:00:00Z', '2026-03-06T12:00:00.000Z'], // Vixie: the 13th OR a Friday
    ['0 0 * * 7', '2026-03-01T00:00:00Z', '2026-03-08T00:00:00.000Z'], // 7 = Sunday
    ['@daily', '2026-03-01T00:00:00Z', '2026-03-02T00:00:00.000Z'],
  ])('%s after %s is %s', (expr, after, expected) => {
    expect(nextRun(parseCron(expr), at(after)).toISOString()).toBe(expected);
  });

  test.each([['* * *'], ['61 * * * *'], ['*/0 * * * *'], ['0 0 * foo *'], ['5-1 * * * *']])('rejects %s', (expr) => {
    expect(() => parseCron(expr)).toThrow(/cron/);
  });

  test('isDue compares the next scheduled minute after the last run with now', () => {
    expect(isDue('0 * * * *', null, at('2026-03-01T10:10:00Z'))).toBe(true);
    expect(isDue('0 * * * *', at('2026-03-01T10:00:05Z'), at('2026-03-01T10:59:59Z'))).toBe(false);
    expect(isDue('0 * * * *', at('2026-03-01T10:00:05Z'), at('2026-03-01T11:00:00Z'))).toBe(true);
  });
});
