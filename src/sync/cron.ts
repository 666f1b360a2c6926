/**
 * A small 5-field cron parser (minute hour day-of-month month day-of-week, UTC) for sync cadences: `*`, lists,
 * ranges, steps, month and weekday names, and the @hourly/@daily/@weekly/@monthly shorthands. Day-of-month and
 * day-of-week follow Vixie cron: when both are restricted, a day matching either one matches.
 */

export interface CronSchedule {
  source: string;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  dayRestricted: boolean;
  weekdayRestricted: boolean;
}

const SHORTHANDS: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function parseField(text: string, min: number, max: number, names: string[] | null, label: string): Set<number> {
  const out = new Set<number>();
  const value = (token: string): number => {
    const lower = token.toLowerCase();
    if (names) {
      const index = names.indexOf(lower);
      if (index >= 0) return index + (label === 'month' ? 1 : 0);
    }
    if (!/^\d+$/.test(token)) throw new Error(`cron ${label} "${token}" is not a number`);
    return Number(token);
  };
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw new Error(`cron ${label} step "${stepText}" must be a positive integer`);
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = min;
      hi = max;
    } else if (range.includes('-')) {
      const [a, b] = range.split('-');
      lo = value(a);
      hi = value(b);
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : max;
    }
    // Sunday may be written 7.
    if (label === 'weekday' && hi === 7) hi = 7;
    if (lo < min || hi > (label === 'weekday' ? 7 : max) || lo > hi) {
      throw new Error(`cron ${label} "${part}" is outside ${min}-${max}`);
    }
    for (let v = lo; v <= hi; v += step) out.add(label === 'weekday' && v === 7 ? 0 : v);
  }
  return out;
}

export function parseCron(expression: string): CronSchedule {
  const text = SHORTHANDS[expression.trim().toLowerCase()] ?? expression.trim();
  const fields = text.split(/\s+/);
  if (fields.length !== 5) {
    throw new Error(
      `cron "${expression}" must have 5 fields (minute hour day-of-month month day-of-week), or be "stream"`,
    );
  }
  return {
    source: expression,
    minutes: parseField(fields[0], 0, 59, null, 'minute'),
    hours: parseField(fields[1], 0, 23, null, 'hour'),
    days: parseField(fields[2], 1, 31, null, 'day-of-month'),
    months: parseField(fields[3], 1, 12, MONTHS, 'month'),
    weekdays: parseField(fields[4], 0, 6, WEEKDAYS, 'weekday'),
    dayRestricted: fields[2] !== '*',
    weekdayRestricted: fields[4] !== '*',
  };
}

function dayMatches(s: CronSchedule, d: Date): boolean {
  const dom = s.days.has(d.getUTCDate());
  const dow = s.weekdays.has(d.getUTCDay());
  if (s.dayRestricted && s.weekdayRestricted) return dom || dow;
  return dom && dow;
}

/** The first matching minute strictly after `after` (UTC). Searches at most ~5 years ahead. */
export function nextRun(schedule: CronSchedule, after: Date): Date {
  const t = new Date(after.getTime());
  t.setUTCSeconds(0, 0);
  t.setUTCMinutes(t.getUTCMinutes() + 1);
  const limit = after.getTime() + 5 * 366 * 86_400_000;
  while (t.getTime() <= limit) {
    if (!schedule.months.has(t.getUTCMonth() + 1)) {
      t.setUTCMonth(t.getUTCMonth() + 1, 1);
      t.setUTCHours(0, 0, 0, 0);
    } else if (!dayMatches(schedule, t)) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0, 0);
    } else if (!schedule.hours.has(t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
    } else if (!schedule.minutes.has(t.getUTCMinutes())) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
    } else {
      return t;
    }
  }
  throw new Error(`cron "${schedule.source}" never matches`);
}

/** Due when a scheduled minute has passed since the last run (or it never ran). */
export function isDue(expression: string, lastRun: Date | null, now: Date): boolean {
  if (!lastRun) return true;
  return nextRun(parseCron(expression), lastRun).getTime() <= now.getTime();
}
