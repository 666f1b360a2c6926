/**
 * PubSubBus against the real Pub/Sub emulator: confirmed publishes, the emulator hanging and going away
 * mid-load (every acknowledged event arrives once it is back), a full spool refusing with UnavailableError.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import { PubSubBus, type PubSubBusOptions } from '../../src/bus/pubsub';
import { UnavailableError } from '../../src/core/errors';
import { startPubSubEmulator, type PubSubEmulator } from '../helpers/pubsub-emulator';

let emulator: PubSubEmulator;
let admin: PubSub;
const tmpDirs: string[] = [];

beforeAll(async () => {
  emulator = await startPubSubEmulator();
  admin = new PubSub({ projectId: emulator.projectId, apiEndpoint: emulator.host });
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await emulator?.stop();
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-spool-'));
  tmpDirs.push(dir);
  return dir;
}

async function createTopicAndSubscription(name: string): Promise<void> {
  const [topic] = await admin.createTopic(name);
  await topic.createSubscription(`${name}-all`);
}

function openBus(name: string, extra: Partial<PubSubBusOptions> = {}): Promise<PubSubBus> {
  return PubSubBus.open({
    projectId: emulator.projectId,
    apiEndpoint: emulator.host,
    topics: { events: name, invalid: `${name}-invalid` },
    spoolDir: tmpDir(),
    spoolMaxBytes: 10 * 1024 * 1024,
    publishTimeoutMs: 1500,
    replayRetry: { initialMs: 100, maxMs: 1000 },
    ...extra,
  });
}

function message(id: string) {
  return { data: Buffer.from(JSON.stringify({ event_id: id })), attributes: { event_id: id, type: 'track' } };
}

/** Pulls through the emulator's REST API (acking) until `want` distinct event ids arrived and no more come. */
async function pullAll(subscription: string, want: number): Promise<Map<string, number>> {
  const base = `http://${emulator.host}/v1/projects/${emulator.projectId}/subscriptions/${subscription}`;
  const post = async (verb: string, body: unknown) => {
    const res = await fetch(`${base}:${verb}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${verb}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<{
      receivedMessages?: { ackId: string; message: { attributes?: Record<string, string> } }[];
    }>;
  };
  const seen = new Map<string, number>();
  let idle = 0;
  while (seen.size < want || idle < 3) {
    const received = (await post('pull', { maxMessages: 1000, returnImmediately: true })).receivedMessages ?? [];
    if (received.length === 0) {
      if (++idle > 30) break;
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    idle = 0;
    for (const r of received) {
      const id = r.message.attributes?.event_id ?? '';
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    await post('acknowledge', { ackIds: received.map((r) => r.ackId) });
  }
  return seen;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('publish resolves with Pub/Sub message ids once confirmed; a pull subscription receives data and attributes', async () => {
  await createTopicAndSubscription('confirmed');
  const bus = await openBus('confirmed', { createSubscriptions: true });
  const received: { id: string; data: string; attrs: Record<string, string>; messageId: string }[] = [];
  const sub = bus.subscribe(
    'events',
    'confirmed-reader',
    async (batch) => {
      for (const m of batch)
        received.push({
          id: m.attributes.event_id,
          data: m.data.toString(),
          attrs: m.attributes,
          messageId: m.messageId,
        });
    },
    { maxBatch: 10, maxWaitMs: 20 },
  );
  // The reader's subscription is created asynchronously; wait for it before publishing.
  for (let i = 0; i < 50 && !(await admin.subscription('confirmed-reader').exists())[0]; i++)
    await new Promise((r) => setTimeout(r, 100));
  const { messageIds } = await bus.publish('events', [message('a'), message('b'), message('c')]);
  expect(messageIds).toHaveLength(3);
  for (const id of messageIds) expect(id).toMatch(/^\d+$/);
  expect(bus.health()).toEqual({ ok: true, spooled: 0 });
  await waitFor('3 messages', () => received.length >= 3);
  await sub.close();
  expect(received.map((r) => r.id).sort()).toEqual(['a', 'b', 'c']);
  expect(received.find((r) => r.id === 'b')).toMatchObject({
    data: '{"event_id":"b"}',
    attrs: { event_id: 'b', type: 'track' },
  });
  expect(received.map((r) => r.messageId).sort()).toEqual([...messageIds].sort());
  await bus.close();
}, 60_000);

/** Runs `workers` concurrent publishers until `stop()` is true; returns every acknowledged event id. */
function load(bus: PubSubBus, prefix: string, workers: number, stop: () => boolean) {
  const acked: string[] = [];
  const spooledIds: string[] = [];
  const errors: unknown[] = [];
  const done = Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let n = 0; !stop(); n++) {
        const id = `${prefix}-${w}-${n}`;
        try {
          const { messageIds } = await bus.publish('events', [message(id)]);
          acked.push(id);
          if (messageIds[0].startsWith('spool:')) spooledIds.push(id);
        } catch (err) {
          errors.push(err);
        }
      }
    }),
  );
  return { acked, spooledIds, errors, done };
}

test('the emulator hangs mid-load and comes back: publishes keep resolving via the spool, nothing acknowledged is lost', async () => {
  await createTopicAndSubscription('hang');
  const bus = await openBus('hang');
  let phase = 0;
  const run = load(bus, 'h', 8, () => phase === 3);
  await waitFor('direct publishes', () => run.acked.length >= 100);
  emulator.pause();
  phase = 1;
  const atPause = run.acked.length;
  await waitFor('spooled publishes while the emulator hangs', () => run.spooledIds.length >= 200, 30_000);
  expect(bus.health().spooled).toBeGreaterThan(0);
  expect(run.acked.length).toBeGreaterThan(atPause);
  emulator.resume();
  phase = 2;
  const atResume = run.acked.length;
  await waitFor('more publishes after the emulator is back', () => run.acked.length >= atResume + 100, 30_000);
  phase = 3;
  await run.done;
  await waitFor('the spool to drain', () => bus.health().spooled === 0);
  expect(run.errors).toEqual([]);
  const seen = await pullAll('hang-all', run.acked.length);
  const missing = run.acked.filter((id) => !seen.has(id));
  expect(missing).toEqual([]);
  await bus.close();
}, 120_000);

test('the emulator goes away and restarts on the same port: the spool drains once the topic is back', async () => {
  const bus = await openBus('restart', { replayRequiresSubscription: true });
  await createTopicAndSubscription('restart');
  await bus.publish('events', [message('before')]);
  await emulator.stop();
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: 5 }, async (_, w) => {
      for (let n = 0; n < 10; n++) {
        const id = `r-${w}-${n}`;
        const { messageIds } = await bus.publish('events', [message(id)]);
        expect(messageIds[0]).toMatch(/^spool:/);
        ids.push(id);
      }
    }),
  );
  expect(bus.health()).toMatchObject({ ok: true, spooled: 50 });
  await emulator.restart(); // empty: the emulator keeps nothing across restarts
  await new Promise((r) => setTimeout(r, 1500));
  // With replayRequiresSubscription nothing is replayed into the subscription-less topic meanwhile.
  expect(bus.health().spooled).toBe(50);
  await createTopicAndSubscription('restart');
  await waitFor('the spool to drain', () => bus.health().spooled === 0);
  const seen = await pullAll('restart-all', ids.length);
  expect(ids.filter((id) => !seen.has(id))).toEqual([]);
  await bus.close();
}, 180_000);

test('with Pub/Sub unreachable the spool fills up, then publish rejects with UnavailableError; spooled data survives a reopen', async () => {
  const spoolDir = tmpDir();
  const options = {
    projectId: 'unreachable',
    apiEndpoint: '127.0.0.1:9', // nothing listens on the discard port
    topics: { events: 'nowhere', invalid: 'nowhere-invalid' },
    spoolDir,
    spoolMaxBytes: 8 * 1024,
    publishTimeoutMs: 300,
    replayRetry: { initialMs: 60_000, maxMs: 60_000 },
  };
  const bus = await PubSubBus.open(options);
  let accepted = 0;
  let refusal: unknown = null;
  for (let i = 0; i < 500 && !refusal; i++) {
    try {
      await bus.publish('events', [{ data: Buffer.alloc(200, 'x'), attributes: { event_id: `f${i}` } }]);
      accepted += 1;
    } catch (err) {
      refusal = err;
    }
  }
  expect(refusal).toBeInstanceOf(UnavailableError);
  expect((refusal as UnavailableError).message).toMatch(/spool is full/);
  expect(accepted).toBeGreaterThan(10);
  expect(accepted).toBeLessThan((8 * 1024) / 200);
  expect(bus.health()).toMatchObject({ ok: false, spooled: accepted });
  await bus.close();
  const reopened = await PubSubBus.open(options);
  expect(reopened.health().spooled).toBe(accepted);
  await reopened.close();
}, 60_000);

test('a pull subscription handler that rejects gets the batch again (nack), and acks once it succeeds', async () => {
  await admin.createTopic('nack');
  const bus = await openBus('nack', { createSubscriptions: true });
  const calls: string[][] = [];
  const sub = bus.subscribe(
    'events',
    'nack-reader',
    async (batch) => {
      calls.push(batch.map((m) => m.attributes.event_id).sort());
      if (calls.length === 1) throw new Error('warehouse unavailable');
    },
    { maxBatch: 10, maxWaitMs: 50 },
  );
  for (let i = 0; i < 50 && !(await admin.subscription('nack-reader').exists())[0]; i++)
    await new Promise((r) => setTimeout(r, 100));
  await bus.publish('events', [message('n1'), message('n2')]);
  await waitFor('redelivery', () => calls.flat().filter((id) => id === 'n1').length >= 2, 30_000);
  await sub.close();
  expect(calls[0]).toEqual(['n1', 'n2']);
  expect(calls.flat().filter((id) => id === 'n2').length).toBeGreaterThanOrEqual(2);
  // Acked after the successful call: nothing is left on the subscription.
  expect((await pullAll('nack-reader', 0)).size).toBe(0);
  await bus.close();
}, 60_000);
