/**
 * Property-based tests for all three parsers: arbitrary input never throws anything but BadRequestError, and every
 * parsed event is either quarantined with a reason or a structurally valid canonical event.
 */
import fc from 'fast-check';
import { BadRequestError } from '../../../src/core/errors';
import type { ParsedEvent } from '../../../src/core/event';
import { parseGa4 } from './ga4';
import { parsePixel } from './pixel';
import { parseSegment, type SegmentCall } from './segment';
import { structuralProblems } from './testing';

const CALLS: SegmentCall[] = ['track', 'identify', 'page', 'screen', 'group', 'alias', 'batch'];
const RUNS = { numRuns: 300 };

/** Runs a parser; returns its events, or null when it refused the request with a BadRequestError. */
function attempt(fn: () => ParsedEvent[]): ParsedEvent[] | null {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BadRequestError) return null;
    throw err;
  }
}

function expectWellFormed(events: ParsedEvent[]): void {
  for (const e of events) {
    const problems = structuralProblems(e);
    if (problems.length) throw new Error(`${JSON.stringify(e.event)}: ${problems.join('; ')}`);
  }
}

const date = fc
  .date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString());

/** Values that look like Segment fields, sometimes right and sometimes wrong. */
const fieldValue = fc.oneof(fc.jsonValue(), date, fc.string(), fc.integer());
const keyName = fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'prototype', 'url', 'name'));

const segmentItem = fc.record(
  {
    type: fc.oneof(fc.constantFrom('track', 'identify', 'page', 'screen', 'group', 'alias'), fc.string()),
    event: fieldValue,
    name: fieldValue,
    messageId: fc.oneof(fc.uuid(), fieldValue),
    anonymousId: fieldValue,
    userId: fieldValue,
    groupId: fieldValue,
    previousId: fieldValue,
    timestamp: fc.oneof(date, fieldValue),
    sentAt: fc.oneof(date, fieldValue),
    properties: fc.oneof(fc.dictionary(keyName, fc.jsonValue()), fieldValue),
    traits: fc.oneof(fc.dictionary(keyName, fc.jsonValue()), fieldValue),
    context: fc.oneof(
      fc.record(
        {
          page: fc.oneof(fc.record({ url: fc.oneof(fc.webUrl(), fc.string()), title: fc.string() }), fieldValue),
          library: fc.oneof(fc.record({ name: fc.constantFrom('tagpipe.js', 'analytics.js') }), fieldValue),
          consent: fc.oneof(
            fc.record({ categoryPreferences: fc.dictionary(fc.string(), fc.oneof(fc.boolean(), fc.jsonValue())) }),
            fc.record({ analytics: fc.boolean(), ads: fc.jsonValue(), tcf: fc.oneof(fc.string(), fc.jsonValue()) }),
          ),
          screen: fc.record({ width: fc.jsonValue(), height: fc.jsonValue() }),
          gpc: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
      fieldValue,
    ),
  },
  { requiredKeys: [] },
);

/** A JSON text built with forbidden keys, as JSON.parse would hand them over (own properties). */
const withForbiddenKey = fc
  .tuple(segmentItem, fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.jsonValue())
  .map(
    ([item, key, value]) =>
      JSON.parse(
        `{"properties":{${JSON.stringify(key)}:${JSON.stringify(value)}},"type":"track","event":"x","x":${JSON.stringify(item)}}`,
      ) as unknown,
  );

describe('parseSegment properties', () => {
  it('never throws on arbitrary JSON bodies except BadRequestError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CALLS), fc.jsonValue(), (call, body) => {
        const events = attempt(
          () => parseSegment({ call, body, receivedAt: new Date(), limits: { eventBytes: 32 * 1024 } }).events,
        );
        if (events) expectWellFormed(events);
      }),
      RUNS,
    );
  });

  it('yields one well-formed or quarantined event per batch item, whatever the items hold', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(segmentItem, withForbiddenKey, fc.jsonValue()), { maxLength: 8 }),
        fc.integer({ min: 64, max: 4096 }),
        (batch, eventBytes) => {
          const { events } = parseSegment({
            call: 'batch',
            body: { batch },
            receivedAt: new Date(),
            limits: { eventBytes },
          });
          expect(events).toHaveLength(batch.length);
          expectWellFormed(events);
        },
      ),
      RUNS,
    );
  });

  it('quarantines every item carrying a forbidden key', () => {
    fc.assert(
      fc.property(withForbiddenKey, (item) => {
        const [e] = parseSegment({
          call: 'batch',
          body: { batch: [item] },
          receivedAt: new Date(),
          limits: { eventBytes: 1e6 },
        }).events;
        expect(e.error).toMatch(/forbidden key|nested deeper/);
      }),
      { numRuns: 100 },
    );
  });
});

/** Query keys GA4 hits use, plus arbitrary ones. */
const ga4Key = fc.oneof(
  fc.constantFrom(
    'en',
    'cid',
    'uid',
    'sid',
    'sct',
    'seg',
    'dl',
    'dr',
    'dt',
    'ul',
    'sr',
    '_et',
    'cu',
    '_p',
    '_s',
    '_dbg',
  ),
  fc.constantFrom('gcs', 'gcd', 'npa', 'dma', 'dma_cps', 'gdpr', 'gdpr_consent', 'ep.event_id', 'ep.debug_mode'),
  fc.string({ maxLength: 12 }).map((s) => `ep.${s}`),
  fc.string({ maxLength: 12 }).map((s) => `epn.${s}`),
  fc.string({ maxLength: 12 }).map((s) => `up.${s}`),
  fc.string({ maxLength: 12 }).map((s) => `upn.${s}`),
  fc.integer({ min: 0, max: 250 }).map((n) => `pr${n}`),
  fc.constantFrom('ep.__proto__', 'epn.constructor', 'up.prototype'),
  fc.string(),
);
const itemToken = fc.tuple(
  fc.constantFrom('id', 'nm', 'pr', 'qt', 'ca', 'c2', 'lp', 'ds', 'k0', 'v0', 'k1', 'v1', 'zz'),
  fc.oneof(fc.string({ maxLength: 10 }), fc.double().map(String), fc.constantFrom('constructor', '__proto__')),
);
const ga4Value = fc.oneof(
  fc.string(),
  fc.double().map(String),
  fc.integer().map(String),
  fc.webUrl(),
  fc
    .array(
      itemToken.map(([k, v]) => k + v),
      { maxLength: 5 },
    )
    .map((t) => t.join('~')),
);
const ga4Params = fc.array(fc.tuple(ga4Key, ga4Value), { maxLength: 15 }).map((pairs) => new URLSearchParams(pairs));

describe('parseGa4 properties', () => {
  it('never throws on arbitrary query strings except BadRequestError', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.option(fc.string()),
        fc.constantFrom('GET' as const, 'POST' as const),
        (q, body, method) => {
          const events = attempt(() => parseGa4({ method, query: q, body, receivedAt: new Date() }).events);
          if (events) expectWellFormed(events);
        },
      ),
      RUNS,
    );
  });

  it('parses any v=2 hit into well-formed or quarantined events, one per body line', () => {
    fc.assert(
      fc.property(ga4Params, fc.array(ga4Params, { maxLength: 5 }), (url, lines) => {
        url.set('v', '2');
        url.set('tid', 'G-PROP123456');
        const body = lines.map((l) => l.toString()).filter((l) => l.trim() !== '');
        const result = parseGa4({
          method: 'POST',
          query: url.toString(),
          body: body.join('\n'),
          receivedAt: new Date(),
        });
        expect(result.events).toHaveLength(Math.max(1, body.length));
        expectWellFormed(result.events);
      }),
      RUNS,
    );
  });

  it('returns generated ep./epn. params as properties with the right types', () => {
    const name = fc
      .stringMatching(/^[a-z][a-z0-9_]{0,20}$/)
      .filter((n) => !['items', 'currency', 'engagement_time_msec', 'constructor', 'prototype'].includes(n));
    const param = fc.oneof(
      fc.tuple(name, fc.string()).map(([n, v]) => ({ name: n, value: v as string | number })),
      fc
        .tuple(name, fc.double({ noNaN: true, noDefaultInfinity: true }))
        .map(([n, v]) => ({ name: n, value: (Object.is(v, -0) ? 0 : v) as string | number })),
    );
    fc.assert(
      fc.property(fc.uniqueArray(param, { selector: (p) => p.name, maxLength: 10 }), (params) => {
        const q = new URLSearchParams({ v: '2', tid: 'G-PROP123456', en: 'custom', cid: '1.2' });
        for (const p of params)
          q.append(typeof p.value === 'number' ? `epn.${p.name}` : `ep.${p.name}`, String(p.value));
        const [e] = parseGa4({ method: 'GET', query: q.toString(), body: null, receivedAt: new Date() }).events;
        expect(e.error).toBeUndefined();
        expect(e.event.properties).toEqual(Object.fromEntries(params.map((p) => [p.name, p.value])));
      }),
      RUNS,
    );
  });
});

describe('parsePixel properties', () => {
  it('yields exactly one well-formed or quarantined event for any query', () => {
    const pixelKey = fc.oneof(
      fc.constantFrom('e', 't', 'aid', 'uid', 'eid', 'url', 'ref', 'title', 'c', 'src', 'p.__proto__'),
      fc.string({ maxLength: 10 }).map((s) => `p.${s}`),
      fc.string({ maxLength: 10 }).map((s) => `pn.${s}`),
      fc.string(),
    );
    const pixelValue = fc.oneof(
      fc.string(),
      fc.constantFrom('page', 'track', 'G111', 'analytics,ads'),
      fc.double().map(String),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string().map((s) => new URLSearchParams(s)),
          fc.array(fc.tuple(pixelKey, pixelValue)).map((p) => new URLSearchParams(p)),
        ),
        (q) => {
          const events = parsePixel(q, new Date());
          expect(events).toHaveLength(1);
          expectWellFormed(events);
        },
      ),
      RUNS,
    );
  });

  it('returns generated p./pn. params as properties with the right types', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/).filter((n) => n !== 'constructor' && n !== 'prototype');
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(name, fc.oneof(fc.string(), fc.integer())), { selector: ([n]) => n, maxLength: 10 }),
        (params) => {
          const q = new URLSearchParams({ e: 'x' });
          for (const [n, v] of params) q.append(typeof v === 'number' ? `pn.${n}` : `p.${n}`, String(v));
          const [e] = parsePixel(q, new Date());
          expect(e.event.properties).toEqual(Object.fromEntries(params));
        },
      ),
      RUNS,
    );
  });
});
