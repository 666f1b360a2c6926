/**
 * Benchmark target process: either a bare node:http server answering 204 (the baseline) or the collector with
 * the embedded or Pub/Sub bus. Prints `READY <port> <pid>` when listening (the pid lets run.ts read the server's
 * CPU time; tsx runs the script in a child process). Runs in its own process (pinned to one core
 * by run.ts when taskset is available) so the load generator does not share its event loop.
 */
import http from 'node:http';
import { PubSub } from '@google-cloud/pubsub';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createBus, EmbeddedBus } from '../../src/bus';
import { localPaths } from '../../src/warehouse/types';
import { parseConfig } from '../../src/core/config';
import { silentLogger } from '../../src/core/logger';
import { createCollector } from '../../functions/collector/server';
import { ProtocolRoutes } from '../../functions/collector/routes';
import type { Answer } from '../../functions/collector/answers';
import { parseGa4 } from '../../functions/collector/protocols/ga4';
import type { EventBus } from '../../src/bus/types';

/**
 * BENCH_STAGE cuts the GA4 route short, to see what each part of a hit costs over HTTP (`run.ts --stages`):
 *   answer    the route answers 204 at once (the HTTP layer, the direct route, CORS and request ids);
 *   parse     it parses the hit first, then answers;
 *   floor     no rules at all: the query string's parameters as one JSON message, durably published, then 204
 *             (what any implementation of a durable hit pays at least: parse, serialize, commit, answer);
 *   pipeline  the whole route, with a bus that confirms every publish at once (no log, no durability);
 *   full      (default) the whole route with the bus as configured.
 */
type Stage = 'answer' | 'parse' | 'floor' | 'pipeline' | 'full';

function applyStage(stage: Stage, bus: EventBus): EventBus {
  // A new answer each time: the direct route adds its CORS headers to the one it is given.
  const answer = (): Answer => ({ status: 204, headers: { 'Cache-Control': 'no-store' }, body: null });
  if (stage === 'answer') ProtocolRoutes.prototype.ga4 = () => Promise.resolve(answer());
  if (stage === 'parse') {
    ProtocolRoutes.prototype.ga4 = (req) => {
      parseGa4({ method: 'GET', query: req.query, body: null, receivedAt: new Date() });
      return Promise.resolve(answer());
    };
  }
  if (stage === 'floor') {
    let seq = 0;
    ProtocolRoutes.prototype.ga4 = async (req) => {
      const params = Object.fromEntries(new URLSearchParams(req.query));
      const event = { event_id: `floor-${process.pid}-${seq++}`, received_at: new Date().toISOString(), params };
      await bus.publish('events', [{ data: JSON.stringify(event), attributes: { event_id: event.event_id } }]);
      return answer();
    };
  }
  if (stage !== 'pipeline') return bus;
  let next = 0;
  return Object.assign(Object.create(bus) as EventBus, {
    publish: (_topic: string, messages: unknown[]) =>
      Promise.resolve({ messageIds: messages.map(() => String(next++)) }),
  });
}

/**
 * What terraform creates: both topics, each with a subscription (the emulator starts empty). Without them every
 * publish fails with NOT_FOUND and the collector measures its spool instead of Pub/Sub.
 */
async function createTopology(projectId: string | undefined, topics: string[]): Promise<void> {
  const client = new PubSub({ projectId });
  for (const name of topics) {
    const [topic] = await client.createTopic(name).catch(async () => client.topic(name).get());
    await topic.createSubscription(`${name}-bench`).catch(() => undefined);
  }
  await client.close();
}

async function main(): Promise<void> {
  const kind = process.argv[2] ?? 'bare';
  if (kind === 'bare') {
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(204);
        res.end();
      });
    });
    server.keepAliveTimeout = 65_000;
    server.listen(0, '127.0.0.1', () =>
      process.stdout.write(`READY ${(server.address() as AddressInfo).port} ${process.pid}\n`),
    );
    return;
  }
  const busKind = process.argv[3] ?? 'embedded';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-bench-'));
  const config = parseConfig(
    {
      TAGPIPE_BUS: busKind,
      TAGPIPE_DATA_DIR: dataDir,
      TAGPIPE_LOG_LEVEL: 'silent',
      ...(busKind === 'pubsub' ? { GOOGLE_CLOUD_PROJECT: process.env.BENCH_PUBSUB_PROJECT ?? 'bench' } : {}),
    },
    { cwd: dataDir, overrides: { 'server.port': 0, 'server.host': '127.0.0.1' } },
  );
  if (busKind === 'pubsub')
    await createTopology(config.bus.projectId ?? undefined, [config.bus.topics.events, config.bus.topics.invalid]);
  // BENCH_MAX_IN_FLIGHT: the embedded log's commits in flight, to compare settings without a rebuild.
  const maxInFlight = process.env.BENCH_MAX_IN_FLIGHT ? Number(process.env.BENCH_MAX_IN_FLIGHT) : undefined;
  const bus =
    busKind === 'embedded' && maxInFlight !== undefined
      ? await EmbeddedBus.open({ dir: localPaths(config.dataDir).bus, topics: config.bus.topics, maxInFlight })
      : await createBus(config, silentLogger);
  const stage = (process.env.BENCH_STAGE ?? 'full') as Stage;
  const { app } = await createCollector({ config, bus: applyStage(stage, bus), logger: silentLogger });
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`READY ${(app.server.address() as AddressInfo).port} ${process.pid}\n`);
  process.on('SIGTERM', () => {
    if (bus instanceof EmbeddedBus) {
      // The events log's commits over the whole run (warm-up included): how many events each carried and how
      // long its durable write took, as the event loop saw it.
      const st = bus.log('events').stats;
      const per = (x: number) => (x / Math.max(1, st.commits)).toFixed(2);
      process.stderr.write(
        `events log: ${st.commits} commits, ${per(st.records)} records per commit, write ${per(st.writeMs)} ms, acknowledged after ${per(st.ackMs)} ms on average\n`,
      );
    }
    void app
      .close()
      .then(() => bus.close())
      .finally(() => {
        fs.rmSync(dataDir, { recursive: true, force: true });
        process.exit(0);
      });
  });
}

void main();
