/**
 * tagpipe.js core: the `tagpipe(...)` command function, batching, delivery (fetch, sendBeacon on page hide),
 * the bounded retry queue in localStorage, and consent (explicit calls merged over Google Consent Mode state).
 *
 * It talks to the browser only through `SdkEnv`, a small structural slice of `window`, so the same source
 * typechecks with and without the DOM library and runs in tests against a hand-made fake window.
 * Every byte here ships to visitors (budget: 2 KB gzipped, checked by test/sdk/build.test.ts): keep it lean.
 * The SDK sets no cookies; the collector sets the first-party id cookie on its responses.
 */

export const VERSION = '0.1.0';

export type ConsentState = Partial<Record<'analytics' | 'ads' | 'ad_user_data' | 'ad_personalization', boolean>>;
type Props = Record<string, unknown>;

/** One Segment-spec message as sent in `/v1/batch`. */
export interface Message {
  messageId: string;
  type: string;
  timestamp: string;
  context: Props;
  [field: string]: unknown;
}

export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface FetchInit {
  method: string;
  body: string;
  headers: Record<string, string>;
  credentials: 'include';
  keepalive: boolean;
}

/** The parts of `window` the SDK uses. */
export interface SdkEnv {
  location: { href: string; pathname: string; search: string };
  document: {
    title: string;
    referrer: string;
    visibilityState?: string;
    addEventListener(type: string, listener: () => void): void;
  };
  navigator: { language?: string; globalPrivacyControl?: boolean; sendBeacon?(url: string, data: string): boolean };
  localStorage?: StorageLike | null;
  fetch?(url: string, init: FetchInit): Promise<{ status: number }>;
  crypto?: { randomUUID?(): string };
  /** gtag's command queue: entries are `arguments` objects such as ('consent', 'update', {...}). */
  dataLayer?: ArrayLike<unknown>[];
  addEventListener(type: string, listener: () => void): void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export interface InitOptions {
  writeKey: string;
  /** Collector origin, e.g. https://t.example.com. Default: where sdk.js was loaded from. */
  endpoint?: string;
  /** Flush after this many events ... */
  flushAt?: number;
  /** ... or this many ms after the first unsent one. */
  flushInterval?: number;
  /** Events kept in the localStorage retry queue; the oldest are dropped (and counted) beyond it. */
  maxStored?: number;
  /** Send `context.gpc: true` when the browser signals Global Privacy Control. */
  honorGpc?: boolean;
  /** Opt in to an SDK-kept anonymous id in localStorage. Off by default: the collector's cookie is the id. */
  anonymousId?: boolean;
}

/** Per-call options: `eventId` lets a site reuse its own id (e.g. one it already gave a vendor pixel). */
export interface CallOptions {
  eventId?: string;
}

export interface Tagpipe {
  (method: string, ...args: unknown[]): unknown;
  /** event_id of the latest page/track/identify call, for a pixel's eventID. */
  lastEventId?: string;
  /** Events dropped from the retry queue because it was full. */
  dropped: number;
  version: string;
  /** Pre-load stub queue (see the snippet in docs/sdk.md). */
  q?: ArrayLike<unknown>[];
}

interface Stored {
  /** queued messages */
  q: Message[];
  /** dropped so far */
  d: number;
  /** consecutive failed attempts, for the backoff */
  n: number;
}

const STORE_KEY = 'tp_q';
const AID_KEY = 'tp_aid';
/** Segment's documented limit is 500 KB per batch; stay below it. */
const FETCH_BYTES = 4e5;
/** sendBeacon and keepalive fetch share a 64 KiB in-flight budget; chars can be up to 3 bytes in UTF-8. */
const BEACON_CHARS = 2e4;
const RETRY_BASE_MS = 1e3;
const RETRY_CAP_MS = 6e4;
/** GCM consent types → our purposes. */
const GCM: [keyof ConsentState, string][] = [
  ['analytics', 'analytics_storage'],
  ['ads', 'ad_storage'],
  ['ad_user_data', 'ad_user_data'],
  ['ad_personalization', 'ad_personalization'],
];

/** Groups messages into batches whose JSON stays under `max` characters (a single larger message goes alone). */
export function chunk(items: Message[], max: number): Message[][] {
  const out: Message[][] = [];
  let cur: Message[] = [];
  let size = 0;
  for (const m of items) {
    const n = JSON.stringify(m).length + 1;
    if (cur.length && size + n > max) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(m);
    size += n;
  }
  if (cur.length) out.push(cur);
  return out;
}

/**
 * Google Consent Mode state from `dataLayer`: `default` commands (those without a `region` list, which only
 * the collector's regional defaults can resolve) then `update` commands, later ones winning per type.
 */
export function readGcm(dataLayer: ArrayLike<unknown>[] | undefined): ConsentState | undefined {
  let state: ConsentState | undefined;
  for (const cmd of dataLayer || []) {
    const p = cmd && (cmd[2] as Record<string, unknown> | undefined);
    if (!p || cmd[0] !== 'consent' || !(cmd[1] === 'update' || (cmd[1] === 'default' && !p.region))) continue;
    state = state || {};
    for (const [ours, theirs] of GCM) if (p[theirs]) state[ours] = p[theirs] === 'granted';
  }
  return state;
}

export function createTagpipe(w: SdkEnv, defaultEndpoint = ''): Tagpipe {
  let opts: (InitOptions & Required<Pick<InitOptions, 'flushAt' | 'flushInterval' | 'maxStored'>>) | undefined;
  let queue: Message[] = [];
  let explicit: ConsentState | undefined;
  let userId: string | undefined;
  let flushTimer: unknown;
  let retryTimer: unknown;
  /**
   * One request at a time: the collector's answer to the first consented request sets the first-party cookie, and a
   * request sent before that answer arrives would be given a second id.
   */
  let sending: Promise<void> = Promise.resolve();
  const exclusive = (task: () => Promise<void>): Promise<void> => (sending = sending.then(task, task));
  /** Used when localStorage is missing or throws (Safari private mode, blocked storage). */
  let mem: Stored = { q: [], d: 0, n: 0 };
  let pageAid: string | undefined;

  const uuid = (): string =>
    w.crypto && w.crypto.randomUUID
      ? w.crypto.randomUUID()
      : 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (c) => {
          const r = (Math.random() * 16) | 0;
          return (c == 'x' ? r : (r & 3) | 8).toString(16);
        });

  const url = () => (opts!.endpoint || defaultEndpoint).replace(/\/$/, '') + '/v1/batch';
  const body = (batch: Message[]) =>
    JSON.stringify({ batch, writeKey: opts!.writeKey, sentAt: new Date().toISOString() });

  function load(): Stored {
    try {
      const s = JSON.parse(w.localStorage!.getItem(STORE_KEY)!) as Stored;
      if (s && s.q) return s;
    } catch {
      // fall through to the in-memory copy
    }
    return mem;
  }

  function save(s: Stored): void {
    mem = s;
    api.dropped = s.d;
    try {
      w.localStorage!.setItem(STORE_KEY, JSON.stringify(s));
    } catch {
      // quota or blocked storage: the in-memory copy still retries while the page lives
    }
  }

  function store(items: Message[]): void {
    const s = load();
    s.q = s.q.concat(items);
    const over = s.q.length - opts!.maxStored;
    if (over > 0) {
      s.q.splice(0, over);
      s.d += over;
    }
    save(s);
    scheduleRetry(s.n);
  }

  function scheduleRetry(attempts: number): void {
    if (retryTimer) return;
    // exponential backoff with jitter, so many tabs coming back online do not retry in step
    const delay = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attempts) * (0.5 + Math.random() / 2);
    retryTimer = w.setTimeout(retry, delay);
  }

  /** Sends messages in size-bounded batches; resolves to the ones worth retrying. */
  async function send(items: Message[]): Promise<Message[]> {
    const failed: Message[] = [];
    for (const batch of chunk(items, FETCH_BYTES)) {
      const b = body(batch);
      let status = 0;
      try {
        status = (
          await w.fetch!(url(), {
            method: 'POST',
            body: b,
            // text/plain keeps the request CORS-simple (no preflight), as Segment's analytics.js does
            headers: { 'Content-Type': 'text/plain' },
            credentials: 'include',
            keepalive: b.length < BEACON_CHARS,
          })
        ).status;
      } catch {
        // offline, blocked or no fetch: retried later
      }
      // other 4xx are permanent (the collector quarantines what it can read); retrying cannot help
      if (!status || status >= 500 || status == 408 || status == 429) failed.push(...batch);
    }
    return failed;
  }

  function retry(): Promise<void> {
    retryTimer = 0;
    return exclusive(retryStored);
  }

  async function retryStored(): Promise<void> {
    const s = load();
    if (!opts || !s.q.length) return;
    const failed = await send(s.q);
    const done: Record<string, 1> = {};
    for (const m of s.q) done[m.messageId] = 1;
    for (const m of failed) delete done[m.messageId];
    // re-read: events may have been stored while the request was in flight
    const now = load();
    now.q = now.q.filter((m) => !done[m.messageId]);
    now.n = failed.length ? now.n + 1 : 0;
    save(now);
    if (now.q.length) scheduleRetry(now.n);
  }

  function flush(): Promise<void> {
    w.clearTimeout(flushTimer);
    flushTimer = 0;
    // the queue is taken when the request can go, so what arrives meanwhile rides along
    return exclusive(async () => {
      if (!opts || !queue.length) return;
      const items = queue;
      queue = [];
      const failed = await send(items);
      if (failed.length) store(failed);
    });
  }

  /** Page is going away: hand the queue to sendBeacon, which outlives the page; keep what it refuses. */
  function unload(): void {
    if (!opts || !queue.length) return;
    w.clearTimeout(flushTimer);
    flushTimer = 0;
    for (const batch of chunk(queue, BEACON_CHARS)) {
      if (!(w.navigator.sendBeacon && w.navigator.sendBeacon(url(), body(batch)))) store(batch);
    }
    queue = [];
  }

  function consent(): ConsentState | undefined {
    const gcm = readGcm(w.dataLayer);
    return gcm || explicit ? { ...gcm, ...explicit } : undefined;
  }

  function enqueue(type: string, fields: Props, o?: CallOptions): string {
    const id = (o && o.eventId) || uuid();
    const c = consent();
    const d = w.document;
    const l = w.location;
    const context: Props = {
      library: { name: 'tagpipe.js', version: VERSION },
      page: { url: l.href, path: l.pathname, search: l.search, title: d.title, referrer: d.referrer },
      locale: w.navigator.language,
    };
    if (c) context.consent = c;
    if (opts && opts.honorGpc && w.navigator.globalPrivacyControl) context.gpc = true;
    const m: Message = { messageId: id, type, timestamp: new Date().toISOString(), context, ...fields };
    // without analytics consent nothing may identify the visitor
    if (!c || c.analytics !== false) {
      if (userId) m.userId = userId;
      if (opts && opts.anonymousId) m.anonymousId = anonymousId();
    }
    queue.push(m);
    api.lastEventId = id;
    if (opts && queue.length >= opts.flushAt) void flush();
    else if (opts && !flushTimer) flushTimer = w.setTimeout(() => void flush(), opts.flushInterval);
    return id;
  }

  function anonymousId(): string {
    let id: string | null = null;
    try {
      id = w.localStorage!.getItem(AID_KEY);
      if (!id) w.localStorage!.setItem(AID_KEY, (id = uuid()));
    } catch {
      // no storage: a per-page id is better than none
    }
    return id || (pageAid = pageAid || uuid());
  }

  function init(o: InitOptions): void {
    const first = !opts;
    opts = { flushAt: 20, flushInterval: 1e3, maxStored: 100, ...o };
    if (!first) return;
    w.addEventListener('pagehide', unload);
    w.document.addEventListener('visibilitychange', () => w.document.visibilityState == 'hidden' && unload());
    w.addEventListener('online', () => {
      w.clearTimeout(retryTimer);
      void retry();
    });
    // events queued before init, and what earlier pages could not deliver
    if (queue.length) void flush();
    if (load().q.length) scheduleRetry(0);
  }

  const api = function tagpipe(method: string, ...a: unknown[]): unknown {
    const props = (v: unknown) => (v || {}) as Props;
    switch (method) {
      case 'init':
        return init(a[0] as InitOptions);
      case 'page':
        // tagpipe('page', props) is allowed too
        if (a[0] && typeof a[0] == 'object') a.unshift(undefined);
        return enqueue('page', { name: a[0], properties: props(a[1]) }, a[2] as CallOptions);
      case 'track':
        return enqueue('track', { event: a[0], properties: props(a[1]) }, a[2] as CallOptions);
      case 'identify':
        userId = (a[0] as string) || userId;
        return enqueue('identify', { traits: props(a[1]) }, a[2] as CallOptions);
      case 'consent':
        explicit = { ...explicit, ...(a[0] as ConsentState) };
        return;
      case 'reset':
        userId = undefined;
        return;
      case 'flush':
        return flush();
    }
  } as Tagpipe;
  api.dropped = 0;
  api.version = VERSION;
  return api;
}

/** Replaces the pre-load stub on `g.tagpipe` and replays its queued calls in order. */
export function install(g: SdkEnv & { tagpipe?: Tagpipe }, defaultEndpoint: string): Tagpipe {
  const stub = g.tagpipe;
  if (stub && stub.version) return stub; // loaded twice
  const api = createTagpipe(g, defaultEndpoint);
  g.tagpipe = api;
  const q = (stub && stub.q) || [];
  for (let i = 0; i < q.length; i++) api(...(Array.prototype.slice.call(q[i]) as [string]));
  return api;
}
