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
