import fc from 'fast-check';
import {
  CONSENT_SOURCES,
  EVENT_TYPES,
  PROTOCOLS,
  canonicalEventSchema,
  checkCanonicalEvent,
  formatIssues,
  isCanonicalEvent,
} from './event';

/** Made by JSON.parse or an object literal, in any realm (jest runs tests in a vm context). */
function plain(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as object | null;
  return Array.isArray(v) || proto === null || Object.getPrototypeOf(proto) === null;
}

/** Same own enumerable keys, same values, recursively, both plain: what "zod returned it unchanged" means. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return Object.is(a, b);
  if (Array.isArray(a) !== Array.isArray(b) || plain(a) !== plain(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const rb = b as Record<string, unknown>;
  const ra = a as Record<string, unknown>;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameValue(ra[k], rb[k]));
}

/** The oracle: zod accepts the value and its output equals the input. */
function zodUnchanged(value: unknown): boolean {
  const r = canonicalEventSchema.safeParse(value);
  return r.success && sameValue(r.data, value);
}

const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const nullish = <T>(arb: fc.Arbitrary<T>) => fc.oneof(arb, fc.constant(null), fc.constant(undefined));
/** Strings around the 200-character cap. */
const idText = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom('', 'x', 'a'.repeat(199), 'a'.repeat(200), 'a'.repeat(201), 'é'.repeat(200), '😀'.repeat(100)),
);
const iso = fc.oneof(
  fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2026-01-01', 'not a date', '', '2026-13-45T00:00:00Z', 'Tue, 01 Jan 2030 00:00:00 GMT'),
);
const sha = fc.oneof(
  fc.constantFrom('a'.repeat(64), 'A'.repeat(64), 'a'.repeat(63), `${'0'.repeat(63)}g`),
  fc.stringMatching(/^[0-9a-f]{64}$/),
);
const record = fc.dictionary(
  fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('constructor', 'toString', 'email')),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 4 },
);
const strObject = (keys: readonly string[]) =>
  fc.record(Object.fromEntries(keys.map((k) => [k, nullish(fc.string({ maxLength: 12 }))])), { requiredKeys: [] });

const context = fc.record(
  {
    page: strObject(['url', 'path', 'referrer', 'title', 'search', 'host']),
    user_agent: nullish(fc.string({ maxLength: 12 })),
    ip: nullish(fc.constantFrom('203.0.113.0', '', '2001:db8::')),
    locale: nullish(fc.string({ maxLength: 5 })),
    timezone: nullish(fc.string({ maxLength: 5 })),
    campaign: strObject(['name', 'source', 'medium', 'term', 'content', 'id']),
    click_ids: strObject(['gclid', 'gbraid', 'wbraid', 'fbclid', 'fbc', 'fbp', 'ttclid', 'msclkid', 'li_fat_id']),
    geo: strObject(['country', 'region', 'city']),
    device: fc.record(
      {
        type: nullish(fc.string({ maxLength: 6 })),
        vendor: nullish(fc.string({ maxLength: 6 })),
        model: nullish(fc.string({ maxLength: 6 })),
        browser: nullish(fc.string({ maxLength: 6 })),
        browser_version: nullish(fc.string({ maxLength: 6 })),
        os: nullish(fc.string({ maxLength: 6 })),
        os_version: nullish(fc.string({ maxLength: 6 })),
        is_bot: opt(fc.boolean()),
      },
      { requiredKeys: [] },
    ),
    library: strObject(['name', 'version']),
    screen: fc.record({ width: nullish(fc.integer()), height: nullish(fc.double()) }, { requiredKeys: [] }),
    session: fc.record(
      { id: nullish(fc.string({ maxLength: 6 })), number: nullish(fc.integer()), engaged: nullish(fc.boolean()) },
      { requiredKeys: [] },
    ),
    group_id: nullish(fc.string({ maxLength: 6 })),
    previous_id: nullish(fc.string({ maxLength: 6 })),
  },
  { requiredKeys: [] },
);
const intList = fc.array(fc.oneof(fc.integer({ min: 1, max: 11 }), fc.constantFrom(2 ** 53, 1.5, -0)), {
  maxLength: 4,
});
const consent = fc.record(
  {
    analytics: fc.boolean(),
    ads: fc.boolean(),
    ad_user_data: fc.boolean(),
    ad_personalization: fc.boolean(),
    source: fc.constantFrom(...CONSENT_SOURCES),
    tcf: opt(
      fc.record(
        {
          tc_string: fc.string({ maxLength: 10 }),
          gdpr_applies: nullish(fc.boolean()),
          cmp_id: nullish(fc.oneof(fc.integer(), fc.constant(1.5))),
          purposes: intList,
          legitimate_interests: opt(intList),
          google_vendor: nullish(fc.boolean()),
        },
        { requiredKeys: ['tc_string', 'purposes'] },
      ),
    ),
    region: nullish(fc.constantFrom('DE', 'US-CA')),
    gpc: opt(fc.boolean()),
    dma: opt(fc.boolean()),
  },
  { requiredKeys: ['analytics', 'ads', 'ad_user_data', 'ad_personalization', 'source'] },
);
const event = fc.record(
  {
    event_id: idText,
    type: fc.constantFrom(...EVENT_TYPES),
    event: nullish(idText),
    anonymous_id: nullish(idText),
    user_id: nullish(idText),
    timestamp: iso,
    sent_at: nullish(iso),
    received_at: iso,
    original_timestamp: nullish(iso),
    source: fc.record({ id: fc.string({ maxLength: 8 }), protocol: fc.constantFrom(...PROTOCOLS) }),
    context,
    properties: record,
    traits: record,
    consent,
    identifiers: fc.record({ email_sha256: nullish(sha), phone_sha256: nullish(sha) }, { requiredKeys: [] }),
    schema_version: fc.constant(1),
  },
  { requiredKeys: ['event_id', 'type', 'timestamp', 'received_at', 'source', 'context', 'properties', 'traits'] },
);

/** Values that break a field: wrong types, boundary sizes, hostile keys, non-plain objects. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    undefined,
    0,
    -1,
    1.5,
    NaN,
    Infinity,
    '',
    'x',
    'a'.repeat(201),
    true,
    false,
    [],
    [1],
    {},
    'track',
    'gcm',
    'segment',
    '2026-01-01T00:00:00Z',
    'a'.repeat(64),
  ),
  fc.constant(new Date(0)),
  fc.constant(Object.create(null) as object),
  fc.constant(JSON.parse('{"__proto__": {"polluted": true}}') as unknown),
  fc.constant({ constructor: 'x' }),
  fc.constant({ [Symbol('s')]: 1 }),
  fc.jsonValue({ maxDepth: 1 }),
);

/** Sets `value` at a path inside a deep copy of `base` (creating objects on the way). */
function mutate(base: Record<string, unknown>, path: readonly string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(base);
  let at: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) {
    const next = at[key];
    if (next === null || typeof next !== 'object') at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  Object.defineProperty(at, path[path.length - 1], { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

const paths = fc.constantFrom(
  ['event_id'], ['type'], ['event'], ['anonymous_id'], ['user_id'], ['timestamp'], ['sent_at'], ['received_at'],
  ['original_timestamp'], ['source'], ['source', 'id'], ['source', 'protocol'], ['source', 'extra'], ['context'],
  ['context', 'page'], ['context', 'page', 'url'], ['context', 'page', 'extra'], ['context', 'ip'],
  ['context', 'device', 'is_bot'], ['context', 'screen', 'width'], ['context', 'session', 'number'],
  ['context', 'session', 'engaged'], ['context', 'campaign'], ['context', 'click_ids', 'gclid'], ['context', 'geo'],
  ['context', 'library', 'name'], ['context', 'unknown'], ['properties'], ['properties', '__proto__'],
  ['properties', 'constructor'], ['traits'], ['consent'], ['consent', 'analytics'], ['consent', 'source'],
  ['consent', 'tcf'], ['consent', 'tcf', 'purposes'], ['consent', 'tcf', 'cmp_id'], ['consent', 'gpc'],
  ['consent', 'extra'], ['identifiers'], ['identifiers', 'email_sha256'], ['identifiers', 'extra'],
  ['schema_version'], ['extra'], ['__proto__'],
); // prettier-ignore

describe('isCanonicalEvent (fast path) agrees with canonicalEventSchema', () => {
  it('on generated events, valid or not', () => {
    fc.assert(
      fc.property(event, (e) => {
        expect(isCanonicalEvent(e)).toBe(zodUnchanged(e));
      }),
      { numRuns: 3000 },
    );
  });

  it('on events with one field replaced by a hostile value', () => {
    fc.assert(
      fc.property(event, paths, hostile, (e, path, value) => {
        const broken = mutate(e, path, value);
        expect(isCanonicalEvent(broken)).toBe(zodUnchanged(broken));
      }),
      { numRuns: 3000 },
    );
  });

  it('on anything at all: never accepts what zod rejects', () => {
    fc.assert(
      fc.property(fc.oneof(hostile, fc.anything()), (v) => {
        if (isCanonicalEvent(v)) expect(canonicalEventSchema.safeParse(v).success).toBe(true);
      }),
    );
  });

  // Generated events are mostly invalid (random ids, dates, superRefine rules); make sure both branches are covered.
  it('generates both accepted and rejected events', () => {
    const sample = fc.sample(event, { numRuns: 500, seed: 42 });
    const accepted = sample.filter((e) => isCanonicalEvent(e)).length;
    expect(accepted).toBeGreaterThan(10);
    expect(sample.length - accepted).toBeGreaterThan(100);
  });
});

describe('checkCanonicalEvent', () => {
  const valid = {
    event_id: 'e1',
    type: 'track',
    event: 'Order Completed',
    anonymous_id: 'a1',
    timestamp: '2026-01-01T00:00:00.000Z',
    received_at: '2026-01-01T00:00:01.000Z',
    source: { id: 'dev', protocol: 'segment' },
    context: { ip: '203.0.113.0' },
    properties: { total: 10 },
    traits: {},
    consent: { analytics: true, ads: false, ad_user_data: false, ad_personalization: false, source: 'explicit' },
    identifiers: {},
    schema_version: 1,
  };

  it('returns a valid event as it is', () => {
    const r = checkCanonicalEvent(valid);
    expect(r.success && r.data).toBe(valid);
  });

  it('strips unknown keys through zod, like the schema', () => {
    const r = checkCanonicalEvent({ ...valid, extra: 1, context: { ...valid.context, nope: 2 } });
    expect(r.success).toBe(true);
    expect(r.success && r.data).toEqual(valid);
  });

  it('refuses an empty timestamp also as the first time ever checked (the accepted-time memo starts empty)', () => {
    jest.isolateModules(() => {
      // A fresh copy of the module: nothing accepted yet.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const fresh = require('./event') as typeof import('./event');
      expect(fresh.isCanonicalEvent({ ...valid, timestamp: '' })).toBe(false);
      expect(fresh.isCanonicalEvent(valid)).toBe(true);
      expect(fresh.isCanonicalEvent({ ...valid, received_at: '' })).toBe(false);
    });
  });

  it("reports zod's issues for an invalid event", () => {
    const r = checkCanonicalEvent({ ...valid, event: undefined, consent: { ...valid.consent, analytics: false } });
    expect(r.success).toBe(false);
    expect(r.success ? [] : formatIssues(r.error)).toEqual([
      'event: track events need an event name',
      'consent: identifiers present without analytics consent',
    ]);
  });
});
