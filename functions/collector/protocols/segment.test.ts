import { Analytics } from '@segment/analytics-node';
import { BadRequestError } from '../../../src/core/errors';
import { parseSegment, type SegmentCall, type SegmentRequest } from './segment';
import { structuralProblems } from './testing';

const receivedAt = new Date('2026-11-22T12:00:10.000Z');
const limits = { eventBytes: 32 * 1024 };

function parse(call: SegmentCall, body: unknown, extra: Partial<SegmentRequest> = {}) {
  return parseSegment({ call, body, receivedAt, limits, ...extra });
}

describe('parseSegment: single calls', () => {
  it('maps a track call with context to the canonical fields, correcting clock skew', () => {
    const body = {
      writeKey: 'wk_body',
      messageId: 'msg-1',
      event: 'Order Completed',
      anonymousId: 'anon-1',
      userId: 42,
      properties: { order_id: 'o-1', revenue: 19.99, currency: 'EUR' },
      // The client clock is 1 h behind; the event happened 5 s before it was sent.
      timestamp: '2026-11-22T11:00:00.000Z',
      sentAt: '2026-11-22T11:00:05.000Z',
      context: {
        page: {
          url: 'https://shop.example.com/checkout?step=3',
          referrer: 'https://www.google.com/',
          title: 'Checkout',
        },
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
        ip: '203.0.113.9',
        locale: 'de-DE',
        timezone: 'Europe/Berlin',
        campaign: { name: 'winter', source: 'newsletter', medium: 'email', utm_term: 'shirts', content: 'hero' },
        library: { name: 'analytics.js', version: 'next-1.70.0' },
        screen: { width: 1920, height: 1080, density: 2 },
        device: { type: 'ios', manufacturer: 'Apple', model: 'iPhone15,2' },
        os: { name: 'iOS', version: '18.1' },
        location: { country: 'DE', city: 'Berlin' },
        traits: { plan: 'pro' },
        click_ids: { gclid: 'Cj0KCQ', fbp: 'fb.1.1732291200.123', unknown: 'x' },
      },
    };
    const { writeKey, events } = parse('track', body);
    expect(writeKey).toBe('wk_body');
    expect(events).toHaveLength(1);
    expect(events[0].error).toBeUndefined();
    expect(events[0].event).toEqual({
      event_id: 'msg-1',
      type: 'track',
      event: 'Order Completed',
      anonymous_id: 'anon-1',
      user_id: '42',
      timestamp: '2026-11-22T12:00:05.000Z',
      sent_at: '2026-11-22T11:00:05.000Z',
      original_timestamp: '2026-11-22T11:00:00.000Z',
      received_at: '2026-11-22T12:00:10.000Z',
      source: { id: 'wk_body', protocol: 'segment' },
      context: {
        page: {
          url: 'https://shop.example.com/checkout?step=3',
          path: '/checkout',
          search: '?step=3',
          host: 'shop.example.com',
          referrer: 'https://www.google.com/',
          title: 'Checkout',
        },
        user_agent: 'Mozilla/5.0 (X11; Linux x86_64)',
        ip: '203.0.113.9',
        locale: 'de-DE',
        timezone: 'Europe/Berlin',
        campaign: { name: 'winter', source: 'newsletter', medium: 'email', term: 'shirts', content: 'hero' },
        click_ids: { gclid: 'Cj0KCQ', fbp: 'fb.1.1732291200.123' },
        geo: { country: 'DE', city: 'Berlin' },
        device: { type: 'ios', vendor: 'Apple', model: 'iPhone15,2', os: 'iOS', os_version: '18.1' },
        library: { name: 'analytics.js', version: 'next-1.70.0' },
        screen: { width: 1920, height: 1080 },
      },
      properties: { order_id: 'o-1', revenue: 19.99, currency: 'EUR' },
      traits: { plan: 'pro' },
      schema_version: 1,
    });
    expect(events[0].raw).toBe(body);
    expect(structuralProblems(events[0])).toEqual([]);
  });

  it('uses receivedAt when there is no timestamp, and the client time as is when there is no sentAt', () => {
    const none = parse('track', { event: 'A', messageId: 'm1' }).events[0].event;
    expect(none.timestamp).toBe('2026-11-22T12:00:10.000Z');
    expect(none.original_timestamp).toBeUndefined();
    expect(none.sent_at).toBeUndefined();
    const noSent = parse('track', { event: 'A', messageId: 'm2', timestamp: '2026-11-20T08:00:00+02:00' }).events[0]
      .event;
    expect(noSent.timestamp).toBe('2026-11-20T06:00:00.000Z');
    expect(noSent.original_timestamp).toBe('2026-11-20T06:00:00.000Z');
    const orig = parse('track', {
      event: 'A',
      messageId: 'm3',
      originalTimestamp: '2026-11-22T12:00:00.000Z',
      sentAt: '2026-11-22T12:00:01.500Z',
    }).events[0].event;
    expect(orig.timestamp).toBe('2026-11-22T12:00:08.500Z');
  });

  it('maps identify traits, page name and properties, group id and alias previous id', () => {
    const identify = parse('identify', {
      messageId: 'i1',
      userId: 'u1',
      traits: { email: 'a@example.com', plan: 'team' },
      context: { traits: { plan: 'free', company: 'Acme' } },
    }).events[0];
    expect(identify.event).toMatchObject({ type: 'identify', user_id: 'u1' });
    expect(identify.event.traits).toEqual({ email: 'a@example.com', plan: 'team', company: 'Acme' });
    expect(identify.event.event).toBeUndefined();

    const page = parse('page', {
      messageId: 'p1',
      anonymousId: 'a1',
      name: 'Pricing',
      category: 'Docs',
      properties: { url: 'https://example.com/pricing?plan=pro', title: 'Pricing', referrer: 'https://example.com/' },
    }).events[0];
    expect(page.event).toMatchObject({ type: 'page', event: 'Pricing' });
    expect(page.event.context?.page).toEqual({
      url: 'https://example.com/pricing?plan=pro',
      title: 'Pricing',
      referrer: 'https://example.com/',
      host: 'example.com',
      path: '/pricing',
      search: '?plan=pro',
    });
    expect(page.event.properties).toEqual({
      url: 'https://example.com/pricing?plan=pro',
      title: 'Pricing',
      referrer: 'https://example.com/',
      category: 'Docs',
    });

    const screen = parse('screen', { messageId: 's1', anonymousId: 'a1', name: 'Home' }).events[0];
    expect(screen.event).toMatchObject({ type: 'screen', event: 'Home' });

    const group = parse('group', { messageId: 'g1', userId: 'u1', groupId: 777, traits: { name: 'Acme' } }).events[0];
    expect(group.error).toBeUndefined();
    expect(group.event.context).toEqual({ group_id: '777' });
    expect(group.event.traits).toEqual({ name: 'Acme' });

    const alias = parse('alias', { messageId: 'al1', userId: 'u1', previousId: 'anon-9' }).events[0];
    expect(alias.error).toBeUndefined();
    expect(alias.event.context).toEqual({ previous_id: 'anon-9' });
    for (const e of [identify, page, screen, group, alias]) expect(structuralProblems(e)).toEqual([]);
  });

  it('takes the write key from Basic auth before the body', () => {
    expect(parse('track', { event: 'A', writeKey: 'body' }, { basicAuthUser: 'basic' }).writeKey).toBe('basic');
    expect(parse('track', { event: 'A', writeKey: 'body' }, { basicAuthUser: '' }).writeKey).toBe('body');
    expect(parse('track', { event: 'A' }).writeKey).toBeNull();
    expect(parse('track', { event: 'A', writeKey: 5 }).writeKey).toBeNull();
  });

  it('marks SDK traffic with the sdk protocol', () => {
    const e = parse('track', { event: 'A', context: { library: { name: 'tagpipe.js', version: '0.1.0' } } }).events[0];
    expect(e.event.source).toEqual({ id: 'segment', protocol: 'sdk' });
  });

  it('refuses bodies that are not a Segment call', () => {
    for (const body of [null, [], 'track', 42, true]) {
      expect(() => parse('track', body)).toThrow(BadRequestError);
    }
    expect(() => parse('batch', { batch: { type: 'track' } })).toThrow(
      'expected "batch" to be an array of calls, got an object',
    );
    expect(() => parse('batch', {})).toThrow('expected "batch" to be an array of calls, got nothing');
    expect(() => parse('batch', [1])).toThrow('expected a JSON object {"batch": [...]}, got an array');
  });
});

describe('parseSegment: deterministic ids', () => {
  const item = {
    event: 'Signed Up',
    anonymousId: 'a1',
    properties: { plan: 'pro' },
    timestamp: '2026-11-22T11:59:59.000Z',
  };

  it('derives the same id for a retried payload, whatever the key order and sentAt', () => {
    const first = parse('track', { ...item, sentAt: '2026-11-22T12:00:00.000Z' }, { basicAuthUser: 'wk' });
    const reordered = {
      timestamp: item.timestamp,
      properties: { plan: 'pro' },
      anonymousId: 'a1',
      event: 'Signed Up',
      sentAt: '2026-11-22T12:00:03.000Z',
    };
    const retry = parse('track', reordered, { basicAuthUser: 'wk' });
    expect(first.events[0].event.event_id).toMatch(/^seg-[0-9a-f]{40}$/);
    expect(retry.events[0].event.event_id).toBe(first.events[0].event.event_id);
  });

  it('derives different ids for different payloads or write keys', () => {
    const base = parse('track', item, { basicAuthUser: 'wk' }).events[0].event.event_id;
    expect(parse('track', item, { basicAuthUser: 'other' }).events[0].event.event_id).not.toBe(base);
    const changed = { ...item, properties: { plan: 'team' } };
    expect(parse('track', changed, { basicAuthUser: 'wk' }).events[0].event.event_id).not.toBe(base);
  });
});

describe('parseSegment: batches', () => {
  it('keeps good items and quarantines each bad one with its reason', () => {
    const forbidden = JSON.parse(
      '{"type":"track","event":"X","messageId":"f1","properties":{"__proto__":{"admin":true}}}',
    ) as unknown;
    const big = { type: 'track', event: 'Big', messageId: 'big1', properties: { blob: 'x'.repeat(40 * 1024) } };
    const body = {
      batch: [
        { type: 'track', event: 'Good', messageId: 'ok1', anonymousId: 'a' },
        'not an object',
        { type: 'purchase', messageId: 'u1' },
        { type: 'track', messageId: 't1' },
        { type: 'track', event: 'Bad props', messageId: 'bp1', properties: [1, 2] },
        { type: 'track', event: 'Bad time', messageId: 'bt1', timestamp: 'yesterday' },
        forbidden,
        big,
        { type: 'identify', messageId: 'ok2', userId: 'u9', traits: { name: 'Ada' } },
        { type: 'group', messageId: 'g1', userId: 'u9' },
      ],
    };
    const { events } = parse('batch', body, { basicAuthUser: 'wk' });
    expect(events.map((e) => e.error ?? 'ok')).toEqual([
      'ok',
      'batch[1]: expected an object, got a string',
      'batch[2]: type "purchase"; expected one of track, page, screen, identify, group, alias',
      'batch[3]: track calls need an "event" name (a non-empty string)',
      'batch[4]: properties must be an object, got an array',
      'batch[5]: timestamp must be an ISO-8601 date string, got "yesterday"',
      'batch[6]: forbidden key "properties.__proto__"',
      `batch[7]: event is ${JSON.stringify(big).length} bytes, over the 32768-byte limit`,
      'ok',
      'batch[9]: group calls need a "groupId"',
    ]);
    expect(events.map((e) => e.event.event_id)).toEqual([
      'ok1',
      expect.stringMatching(/^seg-[0-9a-f]{40}$/),
      'u1',
      't1',
      'bp1',
      'bt1',
      'f1',
      'big1',
      'ok2',
      'g1',
    ]);
    expect(events[1].raw).toBe('not an object');
    const bigRaw = events[7].raw as { truncated: boolean; bytes: number; preview: string };
    expect(bigRaw.truncated).toBe(true);
    expect(bigRaw.bytes).toBe(JSON.stringify(big).length);
    expect(bigRaw.preview).toHaveLength(4096);
    expect(bigRaw.preview.startsWith('{"type":"track","event":"Big"')).toBe(true);
    expect(events[8].event).toMatchObject({ type: 'identify', user_id: 'u9', traits: { name: 'Ada' } });
    for (const e of events) expect(structuralProblems(e)).toEqual([]);
  });

  it('applies batch-level context and sentAt to items that do not set their own', () => {
    const body = {
      sentAt: '2026-11-22T10:00:10.000Z',
      context: { library: { name: 'analytics-node', version: '3.1.0' }, locale: 'en-US' },
      batch: [
        { type: 'track', event: 'A', messageId: 'm1', timestamp: '2026-11-22T10:00:00.000Z' },
        {
          type: 'track',
          event: 'B',
          messageId: 'm2',
          timestamp: '2026-11-22T10:00:00.000Z',
          sentAt: '2026-11-22T10:00:02.000Z',
          context: { locale: 'fr-FR' },
        },
      ],
    };
    const { events } = parse('batch', body);
    expect(events[0].event.timestamp).toBe('2026-11-22T12:00:00.000Z');
    expect(events[0].event.context).toEqual({ locale: 'en-US', library: { name: 'analytics-node', version: '3.1.0' } });
    expect(events[1].event.timestamp).toBe('2026-11-22T12:00:08.000Z');
    expect(events[1].event.context?.locale).toBe('fr-FR');
  });

  it('quarantines every item when the shared batch context carries a forbidden key', () => {
    const body = JSON.parse('{"context":{"constructor":{"x":1}},"batch":[{"type":"track","event":"A"}]}') as unknown;
    expect(parse('batch', body).events[0].error).toBe(
      'batch[0]: forbidden key "context.constructor" in the batch\'s shared fields',
    );
  });

  it('parses what the official analytics-node library sends', async () => {
    const sent: { url: string; headers: Record<string, string>; body: string }[] = [];
    const analytics = new Analytics({
      writeKey: 'wk_node',
      host: 'https://collect.example.com',
      maxEventsInBatch: 20,
      httpClient: {
        makeRequest: async (req) => {
          sent.push({ url: req.url, headers: req.headers, body: req.body });
          return { status: 200, statusText: 'OK' };
        },
      },
    });
    analytics.identify({ userId: 'u-1', traits: { plan: 'pro' } });
    analytics.track({ userId: 'u-1', event: 'Item Purchased', properties: { revenue: 39.95 } });
    analytics.page({ anonymousId: 'anon-1', name: 'Home', properties: { url: 'https://example.com/' } });
    analytics.screen({ userId: 'u-1', name: 'Settings' });
    analytics.group({ userId: 'u-1', groupId: 'acme', traits: { seats: 5 } });
    analytics.alias({ userId: 'u-1', previousId: 'anon-1' });
    await analytics.closeAndFlush();

    expect(sent).toHaveLength(1);
    expect(sent[0].url).toBe('https://collect.example.com/v1/batch');
    const auth = Buffer.from(sent[0].headers.Authorization.replace(/^Basic /, ''), 'base64').toString('utf8');
    const { writeKey, events } = parse('batch', JSON.parse(sent[0].body), { basicAuthUser: auth.split(':')[0] });
    expect(writeKey).toBe('wk_node');
    expect(events.map((e) => e.error)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(events.map((e) => [e.event.type, e.event.event ?? null])).toEqual([
      ['identify', null],
      ['track', 'Item Purchased'],
      ['page', 'Home'],
      ['screen', 'Settings'],
      ['group', null],
      ['alias', null],
    ]);
    const raw = (JSON.parse(sent[0].body) as { batch: { messageId: string }[] }).batch;
    expect(events.map((e) => e.event.event_id)).toEqual(raw.map((r) => r.messageId));
    expect(events[1].event.properties).toEqual({ revenue: 39.95 });
    expect(events[4].event.context?.group_id).toBe('acme');
    expect(events[5].event.context?.previous_id).toBe('anon-1');
    expect(events[0].event.context?.library).toEqual({ name: '@segment/analytics-node', version: expect.any(String) });
    for (const e of events) expect(structuralProblems(e)).toEqual([]);
  });
});

describe('parseSegment: consent signals', () => {
  const consentOf = (context: unknown, integrations?: unknown) =>
    parse('track', { event: 'A', context, integrations }).events[0].consent;

  it('reads our own purpose booleans', () => {
    expect(consentOf({ consent: { analytics: true, ads: false, ad_user_data: false, extra: true } })).toEqual({
      explicit: { analytics: true, ads: false, ad_user_data: false },
    });
  });

  it('maps Segment categoryPreferences case-insensitively, denying a purpose when any mapped category denies', () => {
    expect(
      consentOf({ consent: { categoryPreferences: { ANALYTICS: true, Advertising: true, Functional: false } } }),
    ).toEqual({ explicit: { analytics: true, ads: true, ad_user_data: true, ad_personalization: true } });
    expect(
      consentOf({ consent: { categoryPreferences: { advertising: true, marketing: false, C0002: false } } }),
    ).toEqual({
      explicit: { analytics: false, ads: false, ad_user_data: false, ad_personalization: false },
    });
    expect(consentOf({ consent: { categoryPreferences: { 'Strictly Necessary': true, Social: true } } })).toEqual({});
  });

  it('lets explicit booleans win over categories', () => {
    expect(consentOf({ consent: { categoryPreferences: { Advertising: true }, ad_personalization: false } })).toEqual({
      explicit: { ads: true, ad_user_data: true, ad_personalization: false },
    });
  });

  it('finds a TCF string in context.consent.tcf, context.gdpr_consent or integrations.tcf', () => {
    expect(consentOf({ consent: { tcf: 'CPxyz' } })).toEqual({ tcString: 'CPxyz' });
    expect(consentOf({ consent: { tcf: { tcString: 'CPobj', gdprApplies: true } } })).toEqual({
      tcString: 'CPobj',
      gdprApplies: true,
    });
    expect(consentOf({ gdpr_consent: 'CPctx', gdpr_applies: 1 })).toEqual({ tcString: 'CPctx', gdprApplies: true });
    expect(consentOf({}, { tcf: 'CPint' })).toEqual({ tcString: 'CPint' });
    expect(consentOf({ consent: { tcf: 'CPfirst' }, gdpr_consent: 'CPsecond' }, { tcf: 'CPthird' })).toEqual({
      tcString: 'CPfirst',
    });
  });

  it('reads Global Privacy Control', () => {
    expect(consentOf({ gpc: true })).toEqual({ gpc: true });
    expect(consentOf({ gpc: '1' })).toEqual({ gpc: true });
    expect(consentOf({ gpc: 'maybe' })).toEqual({});
  });
});
