/**
 * EmbeddedBus against the real file system: round trip, ordering, group commit, checkpoints across reopen,
 * redelivery, rotation + retention, and recovery from torn and corrupt tails.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedBus } from '../../src/bus/embedded';
import type { DeliveredMessage } from '../../src/bus/types';
import { UnavailableError } from '../../src/core/errors';

const tmpDirs: string[] = [];
function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-bus-'));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

function msg(i: number, extra = '') {
  return { data: Buffer.from(JSON.stringify({ i, extra })), attributes: { event_id: `e${i}`, type: 'track' } };
}

/** Collects messages from a subscription until `count` have arrived. */
function collect(bus: EmbeddedBus, name: string, count: number, opts = { maxBatch: 50, maxWaitMs: 10 }) {
  const got: DeliveredMessage[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const sub = bus.subscribe(
    'events',
    name,
    async (batch) => {
      got.push(...batch);
      if (got.length >= count) done();
    },
    opts,
  );
  return { got, finished, sub };
}

async function readAll(bus: EmbeddedBus): Promise<DeliveredMessage[]> {
  const log = bus.log('events');
  const out: DeliveredMessage[] = [];
  let pos = log.start;
  for (;;) {
    const r = await log.read(pos, 1000);
    if (r.messages.length === 0) return out;
    out.push(...r.messages);
    pos = r.next;
  }
}

const eventIndex = (m: DeliveredMessage) => (JSON.parse(m.data.toString()) as { i: number }).i;

test('publish resolves with unique ids; a subscriber receives every message in order with attributes', async () => {
  const bus = await EmbeddedBus.open({ dir: tmpDir() });
  const before = Date.now();
  const results = await Promise.all(
    [0, 1, 2, 3].map((k) => bus.publish('events', [msg(k * 3), msg(k * 3 + 1), msg(k * 3 + 2)])),
  );
  const ids = results.flatMap((r) => r.messageIds);
  expect(new Set(ids).size).toBe(12);
  const { got, finished, sub } = collect(bus, 'reader', 12);
  await finished;
  await sub.close();
  expect(got.map(eventIndex)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  expect(got.map((m) => m.messageId)).toEqual(ids);
  expect(got[4].attributes).toEqual({ event_id: 'e4', type: 'track' });
  const positions = got.map((m) => Number(m.position));
  expect(positions).toEqual([...positions].sort((a, b) => a - b));
  expect(got[0].publishTime.getTime()).toBeGreaterThanOrEqual(before);
  expect(got[0].publishTime.getTime()).toBeLessThanOrEqual(Date.now());
  await bus.close();
});

test('concurrent publishes are group-committed: far fewer fsyncs than calls', async () => {
  const bus = await EmbeddedBus.open({ dir: tmpDir() });
  await Promise.all(Array.from({ length: 200 }, (_, i) => bus.publish('events', [msg(i)])));
  const stats = bus.log('events').stats;
  expect(stats.records).toBe(200);
  expect(stats.commits).toBeLessThanOrEqual(2);
  await bus.close();

  const perCall = await EmbeddedBus.open({ dir: tmpDir(), groupCommit: false });
  await Promise.all(Array.from({ length: 20 }, (_, i) => perCall.publish('events', [msg(i)])));
  expect(perCall.log('events').stats.commits).toBe(20);
  await perCall.close();
});

test('a subscription resumes from its checkpoint after the bus is reopened', async () => {
  const dir = tmpDir();
  let bus = await EmbeddedBus.open({ dir });
  await bus.publish(
    'events',
    [0, 1, 2, 3, 4].map((i) => msg(i)),
  );
  let c = collect(bus, 'lander', 5);
  await c.finished;
  await c.sub.close();
  await bus.publish(
    'events',
    [5, 6, 7].map((i) => msg(i)),
  );
  await bus.close();

  bus = await EmbeddedBus.open({ dir });
  c = collect(bus, 'lander', 3);
  await c.finished;
  await c.sub.close();
  expect(c.got.map(eventIndex)).toEqual([5, 6, 7]);
  // A different subscription name starts from the oldest retained record.
  const other = collect(bus, 'other', 8);
  await other.finished;
  await other.sub.close();
  expect(other.got.map(eventIndex)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  await bus.close();
});

test('a rejected batch is delivered again, and the checkpoint only moves after success', async () => {
  const bus = await EmbeddedBus.open({ dir: tmpDir(), retry: { initialMs: 5, maxMs: 20 } });
  await bus.publish('events', [msg(0), msg(1)]);
  const seen: number[][] = [];
  let calls = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const sub = bus.subscribe(
    'events',
    'flaky',
    async (batch) => {
      seen.push(batch.map(eventIndex));
      calls += 1;
      if (calls < 3) throw new Error('warehouse unavailable');
      done();
    },
    { maxBatch: 10, maxWaitMs: 5 },
  );
  await finished;
  await sub.close();
  expect(seen).toEqual([
    [0, 1],
    [0, 1],
    [0, 1],
  ]);
  expect(bus.log('events').checkpoint('flaky')).toBe(bus.log('events').end);
  await bus.close();
});

test('segments rotate by size and are deleted once every subscription has passed them', async () => {
  const dir = tmpDir();
  const bus = await EmbeddedBus.open({ dir, segmentMaxBytes: 512 });
  for (let i = 0; i < 40; i++) await bus.publish('events', [msg(i, 'x'.repeat(40))]);
  const log = bus.log('events');
  const segments = log.segmentCount;
  expect(segments).toBeGreaterThan(5);
  const segFiles = () => fs.readdirSync(path.join(dir, 'events')).filter((f) => f.endsWith('.seg'));
  expect(segFiles()).toHaveLength(segments);

  // Two subscriptions: retention waits for the slower one.
  const fast = collect(bus, 'fast', 40);
  await fast.finished;
  await fast.sub.close();
  expect(fast.got.map(eventIndex)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  expect(log.segmentCount).toBe(1); // only 'fast' is known so far: everything before the tail goes
  // A newcomer starts at the oldest retained record: the earlier segments are gone for good.
  const slow = collect(bus, 'slow', 1);
  await slow.finished;
  await slow.sub.close();
  expect(eventIndex(slow.got[0])).toBeGreaterThan(30);

  for (let i = 40; i < 60; i++) await bus.publish('events', [msg(i, 'x'.repeat(40))]);
  const fast2 = collect(bus, 'fast', 20);
  await fast2.finished;
  await fast2.sub.close();
  // 'slow' has not read the new records: their segments stay.
  expect(log.segmentCount).toBeGreaterThan(3);
  expect(segFiles()).toHaveLength(log.segmentCount);
  await bus.close();
});

async function publishTen(dir: string): Promise<void> {
  const bus = await EmbeddedBus.open({ dir });
  for (let i = 0; i < 10; i++) await bus.publish('events', [msg(i, 'payload')]);
  await bus.close();
}

function segmentFile(dir: string): string {
  const files = fs.readdirSync(path.join(dir, 'events')).filter((f) => f.endsWith('.seg'));
  return path.join(dir, 'events', files[files.length - 1]);
}

test('a torn tail record is truncated away on open; earlier records survive and appends continue', async () => {
  const dir = tmpDir();
  await publishTen(dir);
  const file = segmentFile(dir);
  const size = fs.statSync(file).size;
  fs.truncateSync(file, size - 7); // a crash in the middle of writing the last record
  const bus = await EmbeddedBus.open({ dir });
  const log = bus.log('events');
  expect(log.stats.truncatedBytes).toBeGreaterThan(0);
  expect(fs.statSync(file).size).toBe(size - 7 - log.stats.truncatedBytes);
  expect((await readAll(bus)).map(eventIndex)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  await bus.publish('events', [msg(100)]);
  expect((await readAll(bus)).map(eventIndex)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 100]);
  await bus.close();
});

test('a flipped byte fails the checksum: the damaged record and what follows it are cut, earlier ones kept', async () => {
  const dir = tmpDir();
  await publishTen(dir);
  const file = segmentFile(dir);
  const bytes = fs.readFileSync(file);
  const recordBytes = bytes.length / 10; // equal-size records
  expect(Number.isInteger(recordBytes)).toBe(true);
  bytes[recordBytes * 6 + 20] ^= 0x40; // inside record #6's payload
  fs.writeFileSync(file, bytes);
  const bus = await EmbeddedBus.open({ dir });
  expect(bus.log('events').stats.truncatedBytes).toBe(recordBytes * 4);
  expect((await readAll(bus)).map(eventIndex)).toEqual([0, 1, 2, 3, 4, 5]);
  await bus.publish('events', [msg(200)]);
  await bus.close();
  const reopened = await EmbeddedBus.open({ dir });
  expect((await readAll(reopened)).map(eventIndex)).toEqual([0, 1, 2, 3, 4, 5, 200]);
  expect(reopened.log('events').stats.truncatedBytes).toBe(0);
  await reopened.close();
});

test('a damaged length field is caught too', async () => {
  const dir = tmpDir();
  await publishTen(dir);
  const file = segmentFile(dir);
  const bytes = fs.readFileSync(file);
  const recordBytes = bytes.length / 10;
  bytes.writeUInt32BE(3, recordBytes * 8); // record #8's length: too small to be real
  fs.writeFileSync(file, bytes);
  const bus = await EmbeddedBus.open({ dir });
  expect((await readAll(bus)).map(eventIndex)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  await bus.close();
});

test('one process owns a bus directory; a second open fails with a clear message', async () => {
  const dir = tmpDir();
  const bus = await EmbeddedBus.open({ dir });
  await expect(EmbeddedBus.open({ dir })).rejects.toThrow(/in use by process/);
  await bus.close();
  const again = await EmbeddedBus.open({ dir });
  await again.close();
});

test('a message over the record limit is refused without affecting others in the same commit', async () => {
  const bus = await EmbeddedBus.open({ dir: tmpDir() });
  const big = { data: Buffer.alloc(11 * 1024 * 1024), attributes: {} };
  const results = await Promise.allSettled([
    bus.publish('events', [msg(1)]),
    bus.publish('events', [big]),
    bus.publish('events', [msg(2)]),
  ]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect((await readAll(bus)).map(eventIndex)).toEqual([1, 2]);
  await bus.close();
});

test('close() waits for publishes already accepted; they are on disk after reopen', async () => {
  const dir = tmpDir();
  const bus = await EmbeddedBus.open({ dir });
  const inflight = Array.from({ length: 50 }, (_, i) => bus.publish('events', [msg(i)]));
  await bus.close();
  const ids = (await Promise.all(inflight)).flatMap((r) => r.messageIds);
  expect(ids).toHaveLength(50);
  await expect(bus.publish('events', [msg(99)])).rejects.toThrow(/closed/);
  const reopened = await EmbeddedBus.open({ dir });
  expect((await readAll(reopened)).map((m) => m.messageId)).toEqual(ids);
  await reopened.close();
});

test('a failed segment rotation refuses publishes with UnavailableError and loses nothing acknowledged', async () => {
  const dir = tmpDir();
  const bus = await EmbeddedBus.open({ dir, segmentMaxBytes: 256 });
  const acked: string[] = [];
  for (let i = 0; i < 3; i++) acked.push(...(await bus.publish('events', [msg(i, 'y'.repeat(300))])).messageIds);
  // Block the next segment's file name so creating it fails (as a full or read-only disk would).
  const log = bus.log('events');
  const next = String(log.end).padStart(20, '0') + '.seg';
  fs.mkdirSync(path.join(dir, 'events', next));
  const err = await bus.publish('events', [msg(3)]).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(UnavailableError);
  expect(bus.health()).toMatchObject({ ok: false });
  await expect(bus.publish('events', [msg(4)])).rejects.toBeInstanceOf(UnavailableError);
  await bus.close();
  fs.rmdirSync(path.join(dir, 'events', next));
  const reopened = await EmbeddedBus.open({ dir, segmentMaxBytes: 256 });
  expect((await readAll(reopened)).map((m) => m.messageId)).toEqual(acked);
  await reopened.publish('events', [msg(5)]);
  expect((await readAll(reopened)).map(eventIndex)).toEqual([0, 1, 2, 5]);
  expect(reopened.health()).toEqual({ ok: true, spooled: 0 });
  await reopened.close();
});

test('records larger than a read chunk round-trip intact between small ones', async () => {
  const bus = await EmbeddedBus.open({ dir: tmpDir() });
  const big = (fill: number) => ({ data: Buffer.alloc(3 * 1024 * 1024 + 17, fill), attributes: { size: 'big' } });
  await bus.publish('events', [msg(0), big(1), msg(1), big(2), big(3), msg(2)]);
  const got = await readAll(bus);
  expect(got.map((m) => m.data.length)).toEqual([
    got[0].data.length,
    3145745,
    got[2].data.length,
    3145745,
    3145745,
    got[5].data.length,
  ]);
  expect([got[1], got[3], got[4]].map((m) => m.data.every((b) => b === m.data[0]) && m.data[0])).toEqual([1, 2, 3]);
  expect([got[0], got[2], got[5]].map(eventIndex)).toEqual([0, 1, 2]);
  await bus.close();
});
