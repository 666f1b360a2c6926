/**
 * The collector on the Pub/Sub bus against the real emulator, as deployed on Cloud Run: events land on the
 * `events` topic with the contract's attributes (so subscriptions can filter without parsing), invalid input on
 * `events-invalid`; when Pub/Sub goes away mid-load every request is still acknowledged only once durable (the
 * spool), and after it comes back every acknowledged event reaches the topic.
 */
import { PubSub } from '@google-cloud/pubsub';
import path from 'node:path';
import { PubSubBus, createBus } from '../../src/bus';
import type { EventBus } from '../../src/bus/types';
import { silentLogger } from '../../src/core/logger';
import { DebugHub } from '../../functions/collector/debug-hub';
import { createCollector } from '../../functions/collector/server';
import { startPubSubEmulator, type PubSubEmulator } from '../helpers/pubsub-emulator';
import { tempDir, testConfig } from '../helpers/stack';

let emu: PubSubEmulator;
let client: PubSub;

async function createTopology(): Promise<void> {
  // What terraform creates: both topics, each with a subscription (here pull; in GCP the BigQuery ones).
  for (const name of ['events', 'events-invalid']) {
    const [topic] = await client.createTopic(name).catch(async () => client.topic(name).get());
    await topic.createSubscription(`${name}-pull`).catch(() => undefined);
  }
}

async function pullAll(
  subscription: string,
  expected: number,
  timeoutMs = 30_000,
): Promise<Array<{ data: any; attributes: Record<string, string> }>> {
  const out: Array<{ data: any; attributes: Record<string, string> }> = [];
  const sub = client.subscription(subscription);
  const deadline = Date.now() + timeoutMs;
  await new Promise<void>((resolve) => {
    const done = () => {
      sub.removeAllListeners();
      void sub.close().then(() => resolve());
    };
    sub.on('message', (m) => {
      out.push({ data: JSON.parse(m.data.toString('utf8')), attributes: m.attributes });
      m.ack();
      if (out.length >= expected) done();
    });
    const timer = setInterval(() => {
      if (Date.now() > deadline) {
        clearInterval(timer);
        done();
      }
    }, 200);
    sub.once('close', () => clearInterval(timer));
  });
  return out;
}

beforeAll(async () => {
  emu = await startPubSubEmulator();
  process.env.PUBSUB_EMULATOR_HOST = emu.host;
  client = new PubSub({ projectId: emu.projectId, apiEndpoint: emu.host });
  await createTopology();
}, 90_000);

afterAll(async () => {
  await client?.close();
  await emu?.stop();
  delete process.env.PUBSUB_EMULATOR_HOST;
});

async function collector(recreatable = false): Promise<{ url: string; bus: EventBus; close: () => Promise<void> }> {
  const config = testConfig(tempDir(), { TAGPIPE_BUS: 'pubsub', GOOGLE_CLOUD_PROJECT: emu.projectId });
  // The emulator forgets topics on restart; replaying into a recreated topic before its subscription exists
  // would be discarded by Pub/Sub, so the outage test waits for a subscription before replaying.
  const bus = recreatable
    ? await PubSubBus.open({
        projectId: emu.projectId,
        topics: config.bus.topics,
        spoolDir: path.join(config.dataDir, 'spool'),
        spoolMaxBytes: config.bus.spoolMaxBytes,
        logger: silentLogger,
        replayRequiresSubscription: true,
        replayRetry: { initialMs: 100, maxMs: 1000 },
      })
    : await createBus(config, silentLogger);
  const { app } = await createCollector({ config, bus, logger: silentLogger });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    bus,
    close: async () => {
      await app.close();
      await bus.flush();
      await bus.close();
    },
  };
}

const auth = { authorization: 'Basic ' + Buffer.from('dev:').toString('base64'), 'content-type': 'application/json' };

test('serves the browser SDK itself; the debug view needs a hub, and in gcp mode a token', async () => {
  const dataDir = tempDir();
  const env = {
    TAGPIPE_BUS: 'pubsub',
    GOOGLE_CLOUD_PROJECT: emu.projectId,
    TAGPIPE_MODE: 'gcp',
    TAGPIPE_WRITE_KEYS: 'k',
  };
  const start = async (extra: Record<string, string>, hub?: DebugHub) => {
    const config = testConfig(dataDir, { ...env, ...extra });
    const bus = await createBus(config, silentLogger);
    const { app } = await createCollector({ config, bus, logger: silentLogger, hub });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    return { url, close: async () => (await app.close(), await bus.close()) };
  };
  const bare = await start({});
  try {
    const sdk = await fetch(`${bare.url}/sdk.js`);
    expect(sdk.status).toBe(200);
    expect(sdk.headers.get('content-type')).toMatch(/^application\/javascript/);
    expect((await sdk.text()).length).toBeGreaterThan(1000);
    expect((await fetch(`${bare.url}/debug`)).status).toBe(404);
  } finally {
    await bare.close();
  }
  const off = await start({}, new DebugHub());
  try {
    const page = await fetch(`${off.url}/debug`);
    expect(page.status).toBe(404);
    expect(await page.text()).toMatch(/TAGPIPE_DEBUG_TOKEN/);
    const res = await fetch(`${off.url}/debug/journeys`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'debug_off' });
  } finally {
    await off.close();
  }
  const locked = await start({ TAGPIPE_DEBUG_TOKEN: 'a-debug-token-1' }, new DebugHub());
  try {
    expect((await fetch(`${locked.url}/debug`)).status).toBe(200);
    const res = await fetch(`${locked.url}/debug/journeys`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: 'debug_locked' });
  } finally {
    await locked.close();
  }
});

test('publishes canonical events with filterable attributes, and invalid input to events-invalid', async () => {
  const c = await collector();
  try {
    const res = await fetch(`${c.url}/v1/batch`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        batch: [
          {
            type: 'track',
            event: 'Order Completed',
            messageId: 'ps-1',
            anonymousId: 'a',
            properties: { revenue: 10 },
            context: { consent: { analytics: true, ads: true, ad_user_data: true, ad_personalization: false } },
          },
          { type: 'track', messageId: 'ps-bad', anonymousId: 'a' },
        ],
      }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ accepted: 1, quarantined: 1 });
    const ga4 = await fetch(
      `${c.url}/g/collect?v=2&tid=G-PS12345&cid=1.2&sid=9&_p=1&_s=1&en=page_view&gcs=G101&dl=https%3A%2F%2Fa.example%2F`,
    );
    expect(ga4.status).toBe(204);
    const events = await pullAll('events-pull', 2);
    const order = events.find((m) => m.data.event_id === 'ps-1')!;
    expect(order.attributes).toEqual({
      event_id: 'ps-1',
      type: 'track',
      event: 'Order Completed',
      source_id: 'dev',
      consent_ads: 'true',
      consent_analytics: 'true',
      schema_version: '1',
    });
    const page = events.find((m) => m.data.source.protocol === 'ga4')!;
    expect(page.attributes).toMatchObject({
      type: 'page',
      consent_ads: 'false',
      consent_analytics: 'true',
      source_id: 'G-PS12345',
    });
    const invalid = await pullAll('events-invalid-pull', 1);
    expect(invalid[0].data).toMatchObject({ event_id: 'ps-bad', reason: expect.stringMatching(/event/) });
    expect(invalid[0].attributes.event_id).toBe('ps-bad');
  } finally {
    await c.close();
  }
}, 60_000);

test('Pub/Sub going away mid-load loses nothing acknowledged', async () => {
  const c = await collector(true);
  const acked = new Set<string>();
  let n = 0;
  const sendOne = async () => {
    const id = `out-${n++}`;
    const res = await fetch(`${c.url}/v1/track`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ type: 'track', event: 'Tick', messageId: id, anonymousId: 'a' }),
    }).catch(() => null);
    if (res?.status === 200) acked.add(id);
  };
  try {
    for (let i = 0; i < 50; i++) await sendOne();
    expect(acked.size).toBe(50);
    await emu.stop();
    // What the emulator held is gone with it (real Pub/Sub keeps it); what matters is what arrives meanwhile.
    acked.clear();
    // Pub/Sub is down: requests are still answered only once the events are durable in the spool.
    for (let i = 0; i < 50; i++) await sendOne();
    expect(c.bus.health().spooled).toBeGreaterThan(0);
    await emu.restart();
    // The emulator forgets everything on restart; recreate what terraform would have created.
    await createTopology();
    await c.bus.flush();
    const events = await pullAll('events-pull', acked.size, 45_000);
    const got = new Set(events.map((m) => m.data.event_id as string));
    expect(acked.size).toBe(50);
    expect([...acked].filter((id) => !got.has(id))).toEqual([]);
  } finally {
    await c.close();
  }
}, 120_000);
