/**
 * A hand-made browser for SDK unit tests: location, document, navigator (sendBeacon), localStorage with a
 * quota, fetch with scripted answers, manual timers, window/document events and a gtag dataLayer.
 * It implements only what sdk/src/core.ts touches (SdkEnv), and records everything the SDK does.
 */
import type { FetchInit, SdkEnv, Tagpipe } from '../../sdk/src/core';

export interface SentRequest {
  url: string;
  init: FetchInit;
  body: { batch: Array<Record<string, unknown> & { messageId: string }>; writeKey: string; sentAt: string };
  /** What the fake collector answered: an HTTP status or a network failure. */
  answer: number | 'offline';
}

export interface Timer {
  id: number;
  fn: () => void;
  ms: number;
}

export class FakeWindow implements SdkEnv {
  location = {
    href: 'https://shop.example.com/products/1?utm_source=news',
    pathname: '/products/1',
    search: '?utm_source=news',
  };
  private docListeners: Record<string, Array<() => void>> = {};
  private winListeners: Record<string, Array<() => void>> = {};
  cookieWrites: string[] = [];
  document = {
    title: 'Blue mug',
    referrer: 'https://news.example.org/',
    visibilityState: 'visible',
    addEventListener: (type: string, fn: () => void) => (this.docListeners[type] ??= []).push(fn),
    currentScript: null,
  };
  navigator: { language: string; globalPrivacyControl?: boolean; sendBeacon?: (u: string, d: string) => boolean } = {
    language: 'en-GB',
    sendBeacon: (url: string, data: string) => {
      // a refused beacon (over the 64 KiB budget, or the browser's choice) sends nothing
      if (this.beaconAccepts) this.beacons.push({ url, body: JSON.parse(data) as SentRequest['body'] });
      return this.beaconAccepts;
    },
  };
  /** Quota in characters, like browsers' ~5M UTF-16 units per origin (smaller here to test overflow). */
  storageQuota = 5_000_000;
  storage = new Map<string, string>();
  localStorage: SdkEnv['localStorage'] = {
    getItem: (k: string) => this.storage.get(k) ?? null,
    setItem: (k: string, v: string) => {
      let used = v.length + k.length;
      for (const [key, val] of this.storage) if (key !== k) used += key.length + val.length;
      if (used > this.storageQuota) throw new Error('QuotaExceededError');
      this.storage.set(k, String(v));
    },
  };
  crypto = { randomUUID: () => `00000000-0000-4000-8000-${String(++this.uuidSeq).padStart(12, '0')}` };
  dataLayer?: ArrayLike<unknown>[];
  tagpipe?: Tagpipe;

  requests: SentRequest[] = [];
  beacons: Array<{ url: string; body: SentRequest['body'] }> = [];
  beaconAccepts = true;
  /** Statuses answered in order; when empty, 200. `'offline'` rejects like a network error. */
  answers: Array<number | 'offline'> = [];
  timers: Timer[] = [];
  private uuidSeq = 0;
  private timerSeq = 0;

  fetch = (url: string, init: FetchInit): Promise<{ status: number }> => {
    const a = this.answers.shift() ?? 200;
    this.requests.push({ url, init, body: JSON.parse(init.body) as SentRequest['body'], answer: a });
    return a === 'offline' ? Promise.reject(new TypeError('Failed to fetch')) : Promise.resolve({ status: a });
  };

  addEventListener(type: string, fn: () => void): void {
    (this.winListeners[type] ??= []).push(fn);
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const t = { id: ++this.timerSeq, fn, ms };
    this.timers.push(t);
    return t.id;
  }

  clearTimeout(id: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== id);
  }

  /** Runs every pending timer once (those they schedule wait for the next call), then settles promises. */
  async runTimers(): Promise<void> {
    const due = this.timers;
    this.timers = [];
    for (const t of due) t.fn();
    await settle();
  }

  fire(type: string): void {
    for (const fn of this.winListeners[type] ?? []) fn();
  }

  fireDocument(type: string): void {
    for (const fn of this.docListeners[type] ?? []) fn();
  }

  /** Every message the collector accepted (2xx), by fetch or beacon. */
  get delivered(): Array<Record<string, unknown> & { messageId: string }> {
    const ok = this.requests.filter((r) => typeof r.answer === 'number' && r.answer < 300);
    return [...ok.map((r) => r.body.batch), ...this.beacons.map((b) => b.body.batch)].flat();
  }

  stored(): { q: Array<{ messageId: string }>; d: number; n: number } | null {
    const s = this.storage.get('tp_q');
    return s ? (JSON.parse(s) as { q: Array<{ messageId: string }>; d: number; n: number }) : null;
  }
}

/** Lets queued microtasks (fetch promises, awaits in the SDK) run to completion. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
