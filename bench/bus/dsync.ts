/**
 * Disk probe (not a test): how long one O_DSYNC write takes when it grows the file (appending, as the embedded log
 * does) and when it lands in space already written (a zero-filled file), with 1 and 3 writes in flight. The gap is
 * the file system's journal commit for the new size; what is left is the device's cache flush.
 *   npx tsx bench/bus/dsync.ts [--dir /path/on/the/disk] [--bytes 20000] [--seconds 3]
 */
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const dir = arg('dir', os.tmpdir());
const bytes = Number(arg('bytes', '20000'));
const seconds = Number(arg('seconds', '3'));

async function probe(inFlight: number, prefilled: boolean): Promise<string> {
  const file = path.join(dir, `tagpipe-dsync-${process.pid}`);
  await fs.rm(file, { force: true });
  if (prefilled) {
    const h = await fs.open(file, 'w');
    await h.write(Buffer.alloc(256 * 1024 * 1024));
    await h.sync();
    await h.close();
  }
  const handle = await fs.open(file, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_DSYNC);
  const buf = Buffer.alloc(bytes, 1);
  const latencies: number[] = [];
  let offset = 0;
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (Date.now() < until) {
        const at = offset;
        offset += bytes;
        const t = process.hrtime.bigint();
        await handle.write(buf, 0, bytes, at);
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  await handle.close();
  await fs.rm(file, { force: true });
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.floor(latencies.length * p)].toFixed(2);
  return `| ${prefilled ? 'into written space' : 'appending'} | ${inFlight} | ${Math.round(latencies.length / seconds)} | ${q(0.5)} | ${q(0.9)} |`;
}

async function main(): Promise<void> {
  const rows = ['| write | in flight | writes/s | p50 ms | p90 ms |', '|---|---:|---:|---:|---:|'];
  for (const inFlight of [1, 3]) for (const prefilled of [false, true]) rows.push(await probe(inFlight, prefilled));
  process.stdout.write(
    `${bytes}-byte O_DSYNC writes in ${dir}, ${seconds} s per row, load average ${os.loadavg()[0].toFixed(1)}\n\n${rows.join('\n')}\n`,
  );
}

void main();
