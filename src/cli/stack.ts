/**
 * `tagpipe start` (the local stack), `tagpipe collect` (the collector alone, as deployed on Cloud Run) and
 * `tagpipe doctor` (checks config, bus and warehouse and says what to fix).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { createBus } from '../bus';
import { type Config, parseConfig, redactConfig, requireCollectorAuth } from '../core/config';
import { createLogger, type Logger } from '../core/logger';
import { localPaths } from '../warehouse/types';
import { startLocalStack } from '../stack/local';
import { DebugHub } from '../../functions/collector/debug-hub';
import { createCollector, installShutdown } from '../../functions/collector/server';

interface CommonFlags {
  config?: string;
  dataDir?: string;
  port?: string;
}

function loadConfig(flags: CommonFlags, overrides: Record<string, unknown> = {}): Config {
  return parseConfig(process.env, {
    file: flags.config ?? null,
    overrides: {
      ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
      ...(flags.port ? { 'server.port': flags.port } : {}),
      ...overrides,
    },
  });
}

function loggerFor(config: Config): Logger {
  return createLogger({ level: config.log.level, format: config.log.format, projectId: config.bus.projectId });
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('start the local stack: collector, embedded bus, lander, models and syncs in one process')
    .option('-p, --port <port>', 'HTTP port', undefined)
    .option('-d, --data-dir <dir>', 'where events, the warehouse and state live (default .tagpipe)')
    .option('-c, --config <file>', 'tagpipe.yaml (default ./tagpipe.yaml when present)')
    .option('--no-models', 'do not run the dbt models on a schedule')
    .action(async (flags: CommonFlags & { models: boolean }) => {
      const config = loadConfig(flags, { mode: 'local' });
      const logger = loggerFor(config);
      const stack = await startLocalStack({ config, logger, models: flags.models });
      const lines = [
        '',
        `  tagpipe is running at ${stack.url}`,
        '',
        `    send events      POST ${stack.url}/v1/batch  (Segment spec, write key "${config.auth.writeKeys[0]}")`,
        `                     GET/POST ${stack.url}/g/collect  (GA4 gtag: server_container_url)`,
        `    demo shop        ${stack.url}/demo`,
        `    live debug view  ${stack.url}/debug`,
        `    browser SDK      ${stack.url}/sdk.js`,
        `    data             ${stack.dataDir}`,
        `    query            npx tagpipe warehouse query "select count(*) from raw.events"`,
        '',
        ...(config.meta.devDefaults.length
          ? [`  no config file: ${config.meta.devDefaults.join('; ')}.`, '  Create tagpipe.yaml to restrict them.', '']
          : []),
      ];
      process.stdout.write(lines.join('\n') + '\n');
      installShutdown(() => stack.close(), logger, config.server.shutdownGraceSeconds);
    });
}

export function registerCollect(program: Command): void {
  program
    .command('collect')
    .description('run the collector alone, as deployed on Cloud Run (PORT from the environment, Pub/Sub bus)')
    .option('-c, --config <file>', 'tagpipe.yaml')
    .action(async (flags: CommonFlags) => {
      const config = loadConfig(flags);
      requireCollectorAuth(config);
      const logger = loggerFor(config);
      const bus = await createBus(config, logger.child({ component: 'bus' }));
      // Production serves the SDK and the debug view too (off unless a debug token is configured).
      const { app } = await createCollector({
        config,
        bus,
        logger: logger.child({ component: 'collector' }),
        hub: new DebugHub(),
      });
      await app.listen({ host: config.server.host, port: config.server.port });
      logger.info(
        {
          port: config.server.port,
          bus: config.bus.kind,
          topics: config.bus.topics,
          devDefaults: config.meta.devDefaults,
        },
        'collector listening',
      );
      installShutdown(
        async () => {
          await app.close();
          await bus.flush();
          await bus.close();
        },
        logger,
        config.server.shutdownGraceSeconds,
      );
    });
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export async function runDoctor(config: Config): Promise<Check[]> {
  const checks: Check[] = [];
  checks.push({
    name: 'config',
    ok: true,
    detail: `${config.meta.file ?? 'no config file (local defaults)'}; mode ${config.mode}, bus ${config.bus.kind}, warehouse ${config.warehouse.kind}`,
  });
  if (config.mode === 'local') {
    const paths = localPaths(config.dataDir);
    try {
      fs.mkdirSync(paths.root, { recursive: true });
      fs.accessSync(paths.root, fs.constants.W_OK);
      checks.push({ name: 'data dir', ok: true, detail: `${paths.root} is writable` });
    } catch (err) {
      checks.push({
        name: 'data dir',
        ok: false,
        detail: `${paths.root}: ${(err as Error).message}`,
        fix: 'pass --data-dir with a writable folder',
      });
    }
    const dbt = path.resolve('.venv', 'bin', 'dbt');
    checks.push(
      fs.existsSync(dbt)
        ? { name: 'dbt', ok: true, detail: dbt }
        : {
            name: 'dbt',
            ok: false,
            detail: 'the dbt venv is missing',
            fix: 'run ./run setup (creates .venv from requirements.txt)',
          },
    );
  }
  const logger = createLogger({ level: 'silent' });
  try {
    const bus = await createBus(config, logger);
    const health = bus.health();
    checks.push({
      name: 'bus',
      ok: health.ok,
      detail: `${bus.kind}: ${health.ok ? 'reachable' : (health.detail ?? 'unavailable')}${health.spooled ? `, ${health.spooled} spooled` : ''}`,
      fix: health.ok
        ? undefined
        : config.bus.kind === 'pubsub'
          ? 'check GOOGLE_CLOUD_PROJECT, credentials and that the topics exist (terraform apply creates them)'
          : undefined,
    });
    await bus.close();
  } catch (err) {
    checks.push({
      name: 'bus',
      ok: false,
      detail: (err as Error).message,
      fix:
        config.bus.kind === 'pubsub'
          ? 'check GOOGLE_CLOUD_PROJECT and credentials (gcloud auth application-default login)'
          : 'check the data dir',
    });
  }
  return checks;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check config, bus and warehouse, and say what to fix')
    .option('-c, --config <file>', 'tagpipe.yaml')
    .option('-d, --data-dir <dir>', 'data dir')
    .option('--print-config', 'print the effective config (secrets redacted)')
    .action(async (flags: CommonFlags & { printConfig?: boolean }) => {
      const config = loadConfig(flags);
      if (flags.printConfig) process.stdout.write(JSON.stringify(redactConfig(config), null, 2) + '\n');
      const checks = await runDoctor(config);
      for (const c of checks) {
        process.stdout.write(
          `${c.ok ? '✓' : '✗'} ${c.name.padEnd(10)} ${c.detail}\n${c.fix ? `    fix: ${c.fix}\n` : ''}`,
        );
      }
      if (checks.some((c) => !c.ok)) process.exitCode = 1;
    });
}
