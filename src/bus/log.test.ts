/**
 * Property tests of the segment log's recovery: whatever single damage hits the tail segment (a cut at any
 * byte, or any byte changed), reopening keeps exactly the records that lie wholly before the damage.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { silentLogger } from '../core/logger';
import { TopicLog } from './log';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-log-prop-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;

async function open(dir: string): Promise<TopicLog> {
  return TopicLog.open({ dir, logger: silentLogger, segmentMaxBytes: 1 << 30, groupCommit: true });
}

async function readAll(log: TopicLog): Promise<string[]> {
  const r = await log.read(log.start, 1_000_000);
  return r.messages.map((m) => `${m.data.toString('hex')}|${JSON.stringify(m.attributes)}`);
}

const message = fc.record({
  data: fc.uint8Array({ maxLength: 300 }),
  attributes: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 12 }), { maxKeys: 3 }),
});

async function writeRecords(messages: { data: Uint8Array; attributes: Record<string, string> }[]) {
  const dir = path.join(root, String(n++));
  const log = await open(dir);
  const ends: number[] = [];
  for (const m of messages) {
    await log.append([{ data: Buffer.from(m.data), attributes: m.attributes }]);
    ends.push(log.end);
  }
  const expected = await readAll(log);
  await log.close();
  const file = path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith('.seg')) as string);
  return { dir, ends, expected, file };
}

test('a cut anywhere keeps exactly the whole records before it', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(message, { minLength: 1, maxLength: 12 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      async (messages, at) => {
        const { dir, ends, expected, file } = await writeRecords(messages);
        const size = fs.statSync(file).size;
        const cut = Math.floor(at * size);
        fs.truncateSync(file, cut);
        const log = await open(dir);
        const kept = ends.filter((e) => e <= cut).length;
        expect(await readAll(log)).toEqual(expected.slice(0, kept));
        expect(log.end).toBe(kept === 0 ? 0 : ends[kept - 1]);
        await log.close();
      },
    ),
    { numRuns: 60 },
  );
});

test('any changed byte is detected: records before the damaged one are kept, it and later ones are cut', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(message, { minLength: 1, maxLength: 12 }),
      fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
      fc.integer({ min: 1, max: 255 }),
      async (messages, at, mask) => {
        const { dir, ends, expected, file } = await writeRecords(messages);
        const bytes = fs.readFileSync(file);
        const offset = Math.floor(at * bytes.length);
        bytes[offset] ^= mask;
        fs.writeFileSync(file, bytes);
        const log = await open(dir);
        const damaged = ends.findIndex((e) => e > offset);
        expect(await readAll(log)).toEqual(expected.slice(0, damaged));
        await log.append([{ data: Buffer.from('after'), attributes: {} }]);
        expect((await readAll(log)).length).toBe(damaged + 1);
        await log.close();
      },
    ),
    { numRuns: 60 },
  );
});

/** Publishes one message per event-loop turn without waiting, so several commits are in flight at once. */
async function publishAcrossTurns(log: TopicLog, count: number) {
  const results: Array<Promise<string[]>> = [];
  for (let i = 0; i < count; i++) {
    results.push(log.append([{ data: Buffer.from(`m${i}`), attributes: { i: String(i) } }]));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return Promise.allSettled(results);
}

test('pipelined commits are acknowledged in order, and readers see exactly the acknowledged records', async () => {
  const log = await TopicLog.open({
    dir: path.join(root, String(n++)),
    logger: silentLogger,
    segmentMaxBytes: 1 << 30,
    groupCommit: true,
    maxInFlight: 3,
  });
  const order: number[] = [];
  const ends: number[] = [];
  const results: Array<Promise<void>> = [];
  for (let i = 0; i < 200; i++) {
    results.push(
      log.append([{ data: Buffer.from(`m${i}`), attributes: {} }]).then(() => {
        order.push(i);
        ends.push(log.end);
      }),
    );
    if (i % 7 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await Promise.all(results);
  expect(order).toEqual([...Array(200).keys()]);
  expect(ends).toEqual([...ends].sort((a, b) => a - b));
  const read = await log.read(log.start, 1000);
  expect(read.messages.map((m) => m.data.toString())).toEqual(order.map((i) => `m${i}`));
  expect(log.stats.records).toBe(200);
  // Commit timings: every commit's acknowledgement comes at or after its write settled.
  expect(log.stats.writeMs).toBeGreaterThan(0);
  expect(log.stats.ackMs).toBeGreaterThanOrEqual(log.stats.writeMs);
  await log.close();
});

test('a failed commit fails itself and every later one in flight; the file is cut back and appends go on', async () => {
  const dir = path.join(root, String(n++));
  const log = await TopicLog.open({ dir, logger: silentLogger, segmentMaxBytes: 1 << 30, groupCommit: true });
  type Write = (...args: unknown[]) => Promise<unknown>;
  const handle = (log as unknown as { active: { write: Write } }).active;
  const realWrite = handle.write.bind(handle);
  let writes = 0;
  handle.write = async (...args: unknown[]) => {
    writes += 1;
    // The third commit's durable write fails after a delay (longer than any real one here), while later commits
    // are written behind it.
    if (writes === 3) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      throw new Error('EIO: simulated');
    }
    return realWrite(...args);
  };
  const settled = await publishAcrossTurns(log, 12);
  const firstFailed = settled.findIndex((r) => r.status === 'rejected');
  expect(firstFailed).toBeGreaterThan(0);
  // Acknowledged means durable and in order: everything before the failure resolved; the failed commit failed.
  expect(settled.slice(0, firstFailed).every((r) => r.status === 'fulfilled')).toBe(true);
  const rejected = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(rejected[0].reason).toMatchObject({ name: 'UnavailableError' });
  expect(String((rejected[0].reason as Error).message)).toContain('EIO: simulated');
  // Commits started behind the failed one (while its sync hung) were failed with it.
  expect(rejected.length).toBeGreaterThan(1);
  const acknowledged = settled.flatMap((r, i) => (r.status === 'fulfilled' ? [`m${i}`] : []));

  handle.write = realWrite;
  await log.append([{ data: Buffer.from('after'), attributes: {} }]);
  const read = await log.read(log.start, 1000);
  expect(read.messages.map((m) => m.data.toString())).toEqual([...acknowledged, 'after']);
  await log.close();

  // After a restart the file holds exactly the acknowledged records (no bytes of failed commits in between).
  const reopened = await open(dir);
  expect((await reopened.read(reopened.start, 1000)).messages.map((m) => m.data.toString())).toEqual([
    ...acknowledged,
    'after',
  ]);
  expect(reopened.stats.truncatedBytes).toBe(0);
  await reopened.close();
});

test('readers opening the same segment at once share one handle, and close leaves no descriptor open', async () => {
  const dir = path.join(root, String(n++));
  const writer = await open(dir);
  for (let i = 0; i < 5; i++) await writer.append([{ data: Buffer.from(`m${i}`), attributes: {} }]);
  await writer.close();
  const segment = fs.realpathSync(path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith('.seg')) as string));
  // Descriptors of this process open on the segment (the active one, for appends, plus read handles).
  const openOnSegment = () =>
    fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`) === segment;
      } catch {
        return false;
      }
    }).length;
  const log = await open(dir);
  const before = openOnSegment();
  const reads = await Promise.all(Array.from({ length: 4 }, () => log.read(log.start, 100)));
  expect(reads.map((r) => r.messages.length)).toEqual([5, 5, 5, 5]);
  expect(openOnSegment()).toBe(before + 1);
  await log.close();
  expect(openOnSegment()).toBe(0);
});
