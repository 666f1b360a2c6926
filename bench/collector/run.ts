/**
 * Collector benchmark (not a test): autocannon on loopback against
 *   1. a bare node:http server answering 204 (baseline, same run),
 *   2. the collector with the embedded bus: single GA4 /g/collect hits and /v1/batch with 20 events,
 *   3. the same with the Pub/Sub emulator (when gcloud is available).
 * Figures are reported as ratios to the baseline because shared machines are noisy, together with the server's
 * CPU time per request (from /proc, Linux): when other work on the machine takes part of the server's core,
 * req/s drops but CPU per request barely moves, so it is the figure to compare across runs.
 * The target runs as plain JavaScript, as deployed (the image runs the compiled build with node): server.ts is
 * bundled once with esbuild, packages left external. `--tsx` runs it through tsx instead, as the first figures were.
 * The bare server and the GA4 hits run in alternating rounds (`--rounds`, default 3), so each ratio compares two
 * runs seconds apart; the round with the median ratio is the one reported, with every round's ratio beside it.
 *   ./run bench collector [--seconds 10] [--warmup 5] [--connections 64] [--rounds 3] [--no-pubsub] [--tsx] [--ga4-only]
 *   ./run bench collector --stages   (what the parse, the pipeline and the bus each add to a GA4 hit)
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import * as esbuild from 'esbuild';
import { startPubSubEmulator } from '../../test/helpers/pubsub-emulator';

const args = process.argv.slice(2);
const flag = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = flag('seconds', 10);
const CONNECTIONS = flag('connections', 64);
const ROUNDS = Math.max(1, flag('rounds', 3));
const WARMUP_SECONDS = flag('warmup', 5);
const WITH_PUBSUB = !args.includes('--no-pubsub');
const WITH_TSX = args.includes('--tsx');
/** GA4 hits only (skips the batch rows): for quick before/after comparisons of the single-hit path. */
const GA4_ONLY = args.includes('--ga4-only');
/** The GA4 route cut short at each stage instead of the usual rows (see stages()). */
const STAGES = args.includes('--stages');
const ROOT = path.resolve(__dirname, '..', '..');

/** Inside the repository, so the bundle's external packages resolve from its node_modules. */
const BUILT = path.join(ROOT, 'node_modules', '.cache', 'tagpipe-bench', 'collector-server.js');

/** The target as one CommonJS file (what tsc's build gives, minus the module boundaries). */
async function buildTarget(): Promise<string[]> {
  if (WITH_TSX) return [path.join(ROOT, 'node_modules', '.bin', 'tsx'), 'bench/collector/server.ts'];
  await esbuild.build({
    entryPoints: [path.join(ROOT, 'bench', 'collector', 'server.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    outfile: BUILT,
    logLevel: 'warning',
  });
  return [process.execPath, BUILT];
}
let target: Promise<string[]> | undefined;

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function startTarget(
  kind: string,
  bus: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ port: number; pid: number; child: ChildProcess }> {
  const [program, ...programArgs] = await (target ??= buildTarget());
  const cmd = hasTaskset() ? 'taskset' : program;
  const cmdArgs = hasTaskset() ? ['-c', '0', program, ...programArgs, kind, bus] : [...programArgs, kind, bus];
  const child = spawn(cmd, cmdArgs, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [port, pid] = await new Promise<[number, number]>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /READY (\d+) (\d+)/.exec(buf);
      if (m) resolve([Number(m[1]), Number(m[2])]);
    });
    child.once('exit', (code) => reject(new Error(`benchmark target exited with ${code}`)));
  });
  return { port, pid, child };
}

async function stop(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** Share of one core the server used during the measured run (null without /proc). */
  cpu: number | null;
  /** Server CPU time per answered request, microseconds. */
  cpuPerRequestUs: number | null;
  /** Share of the wall time the main thread ran, and waited for a CPU (run queue); the rest it slept. */
  mainRun: number | null;
  mainWait: number | null;
}

/** utime + stime of a process in seconds (Linux /proc; USER_HZ is 100), or null elsewhere. */
function cpuSeconds(pid: number): number | null {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/**
 * The main thread's time on a CPU and waiting in a run queue, in seconds (Linux schedstat). What is left of the
 * wall time the event loop slept: waiting for I/O, such as the log's commits, with nothing else to do.
 */
function mainThreadSched(pid: number): { run: number; wait: number } | null {
  try {
    const [run, wait] = fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ').map(Number);
    return { run: run / 1e9, wait: wait / 1e9 };
  } catch {
    return null;
  }
}

async function load(url: string, pid: number, opts: Partial<autocannon.Options>): Promise<Figures> {
  // Warm-up so connections settle and the JIT is done (the collector's optimizing compiler is still busy two
  // seconds in; from about four on it is quiet), then the measured run.
  await autocannon({ url, connections: CONNECTIONS, duration: WARMUP_SECONDS, ...opts });
  const before = cpuSeconds(pid);
  const schedBefore = mainThreadSched(pid);
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, ...opts });
  const after = cpuSeconds(pid);
  const schedAfter = mainThreadSched(pid);
  const sched =
    schedBefore && schedAfter
      ? { run: (schedAfter.run - schedBefore.run) / SECONDS, wait: (schedAfter.wait - schedBefore.wait) / SECONDS }
      : null;
  const used = before !== null && after !== null ? after - before : null;
  const answered = r.requests.average * SECONDS;
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    cpu: used === null ? null : used / SECONDS,
    cpuPerRequestUs: used === null || answered === 0 ? null : (used / answered) * 1e6,
    mainRun: sched?.run ?? null,
    mainWait: sched?.wait ?? null,
  };
}

let seq = 0;
function batchBody(): string {
  const now = new Date().toISOString();
  const batch = Array.from({ length: 20 }, (_, i) => ({
    type: 'track',
    event: i % 5 === 0 ? 'Order Completed' : 'Product Viewed',
    messageId: `bench-${process.pid}-${seq++}`,
    anonymousId: `anon-${seq % 1000}`,
    timestamp: now,
    properties: { product_id: `p-${i}`, price: 19.99, currency: 'EUR' },
    context: {
      consent: { analytics: true, ads: true, ad_user_data: true, ad_personalization: false },
      page: { url: 'https://shop.example.com/p/1?utm_source=bench' },
    },
  }));
  return JSON.stringify({ batch, writeKey: 'dev', sentAt: now });
}

const GA4_PATH =
  '/g/collect?v=2&tid=G-BENCH01&gtm=45je4&_p=1700000000&cid=123.456&ul=en-us&sr=1920x1080&sid=1700000000&sct=1&seg=1' +
  '&dl=https%3A%2F%2Fshop.example.com%2F&dt=Home&en=page_view&_et=12&gcs=G111&gcd=13r3r3r3r5';

interface Scenario {
  label: string;
  ga4: Figures | null;
  batch: Figures | null;
}

async function scenario(
  label: string,
  bus: string,
  runs: { ga4: boolean; batch: boolean },
  env: NodeJS.ProcessEnv = {},
): Promise<Scenario> {
  const { port, pid, child } = await startTarget('collector', bus, env);
  try {
    const base = `http://127.0.0.1:${port}`;
    const ga4 = runs.ga4 ? await load(base + GA4_PATH, pid, { method: 'GET' }) : null;
    const batch = runs.batch
      ? await load(base + '/v1/batch', pid, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          requests: [{ method: 'POST', setupRequest: (req) => ({ ...req, body: batchBody() }) }],
        })
      : null;
    return { label, ga4, batch };
  } finally {
    await stop(child);
  }
}

async function bareServer(): Promise<Figures> {
  const bare = await startTarget('bare', 'none');
  try {
    return await load(`http://127.0.0.1:${bare.port}/`, bare.pid, { method: 'GET' });
  } finally {
    await stop(bare.child);
  }
}

/**
 * `--stages`: what each part of a GA4 hit costs over HTTP. Each stage (BENCH_STAGE, see server.ts) runs right
 * after a bare-server run, and its ratio is taken against that run; the differences between stages are what the
 * parse, the pipeline and the durable bus add.
 */
async function stages(): Promise<void> {
  const rows = [
    '| GA4 route cut after | bare req/s | hits/s | ratio to bare | bare CPU µs/request | CPU µs/hit |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const stage of ['answer', 'parse', 'floor', 'pipeline', 'full']) {
    const baseline = await bareServer();
    const hits = (await scenario(stage, 'embedded', { ga4: true, batch: false }, { BENCH_STAGE: stage })).ga4!;
    const us = (f: Figures) => (f.cpuPerRequestUs === null ? '–' : f.cpuPerRequestUs.toFixed(0));
    const ratio = (hits.rps / baseline.rps).toFixed(2);
    rows.push(
      `| ${stage} | ${baseline.rps.toFixed(0)} | ${hits.rps.toFixed(0)} | ${ratio} | ${us(baseline)} | ${us(hits)} |`,
    );
    process.stderr.write(`${stage}: ratio ${ratio}\n`);
  }
  process.stdout.write(rows.join('\n') + '\n');
}

async function main(): Promise<void> {
  // The server gets core 0 (see startTarget); the load generator takes core 1 so they do not compete.
  if (hasTaskset()) execFileSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  if (STAGES) return stages();
  const loadBefore = os.loadavg()[0];
  // Bare server and GA4 hits alternate: what else runs on this machine changes from one minute to the next, so a
  // ratio is only taken between runs seconds apart.
  const rounds: Array<{ baseline: Figures; ga4: Figures; ratio: number }> = [];
  for (let r = 0; r < ROUNDS; r++) {
    const baseline = await bareServer();
    const ga4 = (await scenario('embedded bus', 'embedded', { ga4: true, batch: false })).ga4!;
    rounds.push({ baseline, ga4, ratio: ga4.rps / baseline.rps });
    process.stderr.write(
      `round ${r + 1}: bare ${baseline.rps.toFixed(0)} req/s, GA4 ${ga4.rps.toFixed(0)} hits/s, ratio ${(ga4.rps / baseline.rps).toFixed(2)}\n`,
    );
  }
  const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor((rounds.length - 1) / 2)];
  const baseline = median.baseline;
  const runs: Scenario[] = [{ label: 'embedded bus', ga4: median.ga4, batch: null }];
  if (!GA4_ONLY) runs.push(await scenario('embedded bus', 'embedded', { ga4: false, batch: true }));
  if (WITH_PUBSUB) {
    const emu = await startPubSubEmulator();
    try {
      runs.push(
        await scenario(
          'Pub/Sub emulator',
          'pubsub',
          { ga4: true, batch: !GA4_ONLY },
          { PUBSUB_EMULATOR_HOST: emu.host, BENCH_PUBSUB_PROJECT: emu.projectId },
        ),
      );
    } finally {
      await emu.stop();
    }
  }
  const loadAfter = os.loadavg()[0];
  const pct = (x: number) => (x * 100).toFixed(0);
  const loop = (f: Figures) =>
    f.mainRun === null || f.mainWait === null
      ? '–'
      : `${pct(f.mainRun)} / ${pct(f.mainWait)} / ${pct(Math.max(0, 1 - f.mainRun - f.mainWait))}`;
  const cpu = (f: Figures) =>
    `${f.cpu === null ? '–' : `${(f.cpu * 100).toFixed(0)}%`} | ${f.cpuPerRequestUs === null ? '–' : f.cpuPerRequestUs.toFixed(0)} | ${loop(f)}`;
  const rows = [
    '| scenario | req/s | events/s | ratio to bare req/s | p50 ms | p99 ms | non-2xx | server CPU | CPU µs/request | main thread % ran / waited for CPU / slept |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| bare node:http 204 | ${baseline.rps.toFixed(0)} | – | 1.00 | ${baseline.p50} | ${baseline.p99} | ${baseline.non2xx} | ${cpu(baseline)} |`,
  ];
  for (const r of runs) {
    if (r.ga4) {
      rows.push(
        `| ${r.label}: GA4 single hit | ${r.ga4.rps.toFixed(0)} | ${r.ga4.rps.toFixed(0)} | ${(r.ga4.rps / baseline.rps).toFixed(2)} | ${r.ga4.p50} | ${r.ga4.p99} | ${r.ga4.non2xx} | ${cpu(r.ga4)} |`,
      );
    }
    if (!r.batch) continue;
    rows.push(
      `| ${r.label}: /v1/batch ×20 | ${r.batch.rps.toFixed(0)} | ${(r.batch.rps * 20).toFixed(0)} | ${(r.batch.rps / baseline.rps).toFixed(2)} | ${r.batch.p50} | ${r.batch.p99} | ${r.batch.non2xx} | ${cpu(r.batch)} |`,
    );
  }
  const perRound = rounds
    .map((r) => `${r.ratio.toFixed(2)} (${r.ga4.rps.toFixed(0)} / ${r.baseline.rps.toFixed(0)})`)
    .join(', ');
  const table = `${rows.join('\n')}\n\nGA4 single hits / bare req/s, round by round: ${perRound}; the table shows the median round.`;
  process.stdout.write(table + '\n');
  if (GA4_ONLY) return;
  const out = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(
    path.join(out, 'collector.md'),
    `# Collector benchmark\n\n${new Date().toISOString()}, ${SECONDS} s per run, ${CONNECTIONS} connections, server pinned to one core: ${hasTaskset()}, target run ${WITH_TSX ? 'through tsx' : 'as bundled JavaScript'}, load average ${loadBefore.toFixed(2)} at the start and ${loadAfter.toFixed(2)} at the end (${os.cpus().length} cores)\n\n${table}\n`,
  );
}

void main();
