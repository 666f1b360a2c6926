import { canonicalEventSchema } from '../../src/core/event';
import type { HitContext } from './pipeline';
import { parseSegment } from './protocols/segment';
import { offlinePipeline } from './protocols/pipeline-testing';

const { pipeline } = offlinePipeline();

function hit(overrides: Partial<HitContext> = {}): HitContext {
  return {
    requestId: 'r1',
    receivedAt: new Date('2026-11-22T10:00:00.000Z'),
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/120.0 Safari/537.36',
    headers: {},
    cookies: {},
    host: 'localhost',
    gpc: false,
    method: 'POST',
    path: '/v1/batch',
    ...overrides,
  };
}

function batch(items: Array<Record<string, unknown>>) {
  return parseSegment({
    call: 'batch',
    body: { writeKey: 'dev', batch: items },
    basicAuthUser: null,
    receivedAt: new Date('2026-11-22T10:00:00.000Z'),
    limits: { eventBytes: 32768 },
  }).events;
}

const granted = { analytics: true, ads: true, ad_user_data: true, ad_personalization: true };
const denied = { analytics: false, ads: false, ad_user_data: false, ad_personalization: false };

describe('CollectorPipeline.prepare', () => {
  it('decides consent per event even when remembered decisions are reused within and across requests', () => {
    const items = [
      { type: 'track', event: 'A', messageId: 'a', anonymousId: 'x', context: { consent: granted } },
      { type: 'track', event: 'B', messageId: 'b', anonymousId: 'x', context: { consent: denied } },
      { type: 'track', event: 'C', messageId: 'c', anonymousId: 'x', context: { consent: granted } },
    ];
    const first = pipeline.prepare(batch(items), hit(), 'segment', 'dev');
    expect(first.accepted.map((e) => [e.event, e.consent.analytics, e.consent.ads])).toEqual([
      ['A', true, true],
      ['B', false, false],
      ['C', true, true],
    ]);
    // Without analytics consent: no identifiers, no IP (a cookieless ping).
    expect(first.accepted[1]).toMatchObject({ anonymous_id: null, user_id: null, context: { ip: null } });
    // Global Privacy Control is part of the decision: the same signals with Sec-GPC give no ads consent.
    const gpc = pipeline.prepare(batch(items.slice(0, 1)), hit({ gpc: true }), 'segment', 'dev');
    expect(gpc.accepted[0].consent).toMatchObject({ analytics: true, ads: false, gpc: true });
    const again = pipeline.prepare(batch(items.slice(0, 1)), hit(), 'segment', 'dev');
    expect(again.accepted[0].consent).toEqual(first.accepted[0].consent);
  });

  it('yields events the zod schema accepts unchanged, with redacted properties and hashed identifiers', () => {
    const [e] = pipeline.prepare(
      batch([
        {
          type: 'identify',
          messageId: 'i1',
          userId: 'u1',
          traits: { email: ' Jane@Example.com ' },
          properties: { note: 'reach me at jane@example.com', sku: 'p-1' },
          context: {
            consent: granted,
            page: { url: 'https://shop.example.com/p?email=jane%40example.com&utm_source=n' },
          },
        },
      ]),
      hit(),
      'segment',
      'dev',
    ).accepted;
    const parsed = canonicalEventSchema.parse(e);
    expect(JSON.parse(JSON.stringify(parsed))).toEqual(JSON.parse(JSON.stringify(e)));
    expect(e.properties).toEqual({ note: 'reach me at [email]', sku: 'p-1' });
    expect(e.context.page?.url).toBe('https://shop.example.com/p?email=[email]&utm_source=n');
    expect(e.context.campaign).toEqual({ source: 'n' });
    expect(e.identifiers.email_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(e.context.ip).toBe('203.0.113.0');
    expect(e.context.device).toMatchObject({ browser: 'Chrome', type: 'desktop', is_bot: false });
  });

  it('quarantines an event that breaks the contract with zod issues', () => {
    const parsed = batch([{ type: 'track', event: 'A', messageId: 'q1', context: { consent: granted } }]);
    parsed[0].event.event_id = '';
    const r = pipeline.prepare(parsed, hit(), 'segment', 'dev');
    expect(r.accepted).toHaveLength(0);
    expect(r.quarantined[0]).toMatchObject({ reason: 'contract' });
    expect(r.quarantined[0].errors.join('\n')).toMatch(/^event_id: /m);
  });
});
