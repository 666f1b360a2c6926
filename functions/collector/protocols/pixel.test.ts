import { TRANSPARENT_GIF, parsePixel } from './pixel';
import { structuralProblems } from './testing';

const receivedAt = new Date('2026-11-22T12:00:00.000Z');
const parse = (q: string, at = receivedAt) => parsePixel(new URLSearchParams(q), at);

describe('TRANSPARENT_GIF', () => {
  it('is a 43-byte GIF89a, 1x1, with colour index 0 marked transparent', () => {
    expect(TRANSPARENT_GIF).toHaveLength(43);
    expect(TRANSPARENT_GIF.subarray(0, 6).toString('latin1')).toBe('GIF89a');
    expect(TRANSPARENT_GIF.readUInt16LE(6)).toBe(1); // width
    expect(TRANSPARENT_GIF.readUInt16LE(8)).toBe(1); // height
    // Graphic control extension: flags bit 0 = transparency on, transparent index 0.
    const gce = TRANSPARENT_GIF.indexOf(Buffer.from([0x21, 0xf9, 0x04]));
    expect(gce).toBeGreaterThan(0);
    expect(TRANSPARENT_GIF[gce + 3] & 1).toBe(1);
    expect(TRANSPARENT_GIF[gce + 6]).toBe(0);
    expect(TRANSPARENT_GIF[TRANSPARENT_GIF.length - 1]).toBe(0x3b); // trailer
  });
});

describe('parsePixel', () => {
  it('maps the documented scheme to a track event', () => {
    const q =
      'e=Email%20Opened&aid=anon-1&uid=u-7&eid=open-123&src=newsletter&url=https%3A%2F%2Fmail.example.com%2Fc%3Fid%3D9' +
      '&ref=https%3A%2F%2Fexample.com%2F&title=Winter&p.campaign=winter&pn.value=12.5&pn.bad=x&c=analytics,ads&cb=1732291200';
    const [e] = parse(q);
    expect(e.error).toBeUndefined();
    expect(e.event).toEqual({
      event_id: 'open-123',
      type: 'track',
      event: 'Email Opened',
      anonymous_id: 'anon-1',
      user_id: 'u-7',
      timestamp: '2026-11-22T12:00:00.000Z',
      received_at: '2026-11-22T12:00:00.000Z',
      source: { id: 'newsletter', protocol: 'pixel' },
      context: {
        page: {
          url: 'https://mail.example.com/c?id=9',
          host: 'mail.example.com',
          path: '/c',
          search: '?id=9',
          referrer: 'https://example.com/',
          title: 'Winter',
        },
      },
      properties: { campaign: 'winter', value: 12.5 },
      traits: {},
      schema_version: 1,
    });
    expect(e.consent).toEqual({
      explicit: { analytics: true, ads: true, ad_user_data: false, ad_personalization: false },
    });
    expect(e.raw).toMatchObject({ e: 'Email Opened', eid: 'open-123' });
    expect(structuralProblems(e)).toEqual([]);
  });

  it('defaults to a page view when there is no event name', () => {
    const [e] = parse('url=https%3A%2F%2Fexample.com%2Fnoscript');
    expect(e.error).toBeUndefined();
    expect(e.event).toMatchObject({ type: 'page', source: { id: 'pixel', protocol: 'pixel' } });
    expect(e.event.event).toBeUndefined();
    expect(e.consent).toEqual({});
    expect(structuralProblems(e)).toEqual([]);
  });

  it('reads consent as a Consent Mode state or a purpose list', () => {
    expect(parse('c=G100')[0].consent).toEqual({ gcs: 'G100' });
    expect(parse('c=none')[0].consent).toEqual({
      explicit: { analytics: false, ads: false, ad_user_data: false, ad_personalization: false },
    });
    expect(parse('c=ANALYTICS')[0].consent.explicit?.analytics).toBe(true);
  });

  it('derives an id per load when no eid is given', () => {
    const a = parse('e=Open&aid=x')[0].event.event_id;
    expect(a).toMatch(/^px-[0-9a-f]{40}$/);
    expect(parse('aid=x&e=Open')[0].event.event_id).toBe(a);
    expect(parse('e=Open&aid=x', new Date('2026-11-22T12:00:01.000Z'))[0].event.event_id).not.toBe(a);
  });

  it('quarantines loads that break the scheme, with the reason', () => {
    expect(parse('t=track')[0].error).toBe('track pixels need an event name in "e"');
    expect(parse('t=identify&e=x')[0].error).toBe('unknown type t="identify": expected page or track');
    expect(parse('e=x&p.__proto__=1')[0].error).toBe('forbidden property name "p.__proto__"');
    expect(parse(`e=x&aid=${'a'.repeat(201)}`)[0].error).toBe('"aid" is over 200 chars');
    for (const q of ['t=track', 't=identify&e=x', 'e=x&p.__proto__=1']) {
      expect(structuralProblems(parse(q)[0])).toEqual([]);
    }
  });
});
