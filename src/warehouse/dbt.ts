/**
 * Runs the dbt project in sql/ as a child process: `.venv/bin/dbt <args> --project-dir sql --profiles-dir sql`, with
 * the data dir in `TAGPIPE_DATA_DIR` (profiles.yml reads it) and dbt's target and log dirs under `<dataDir>/dbt`, so
 * two data dirs never share a manifest. Output is streamed line by line. dbt holds the DuckDB warehouse file for
 * writing only while it runs (DESIGN.md, local stack).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { ConfigError } from '../core/errors';
import { localPaths } from './types';

export type DbtTarget = 'local' | 'prod';

export interface RunDbtOptions {
  /** The data dir: raw Parquet files are read from it, the warehouse file and dbt's artifacts live in it. */
  dataDir: string;
  /** profiles.yml output; default `local` (DuckDB). */
  target?: DbtTarget;
  /** Each line dbt prints, as it prints it. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Environment for the child (the `prod` target reads TAGPIPE_BQ_*); default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Checkout root holding `sql/` and `.venv/`; default: found upwards from this file. */
  rootDir?: string;
  /** Kills dbt (SIGTERM) when aborted. */
  signal?: AbortSignal;
}

export interface DbtResult {
  /** dbt's exit code: 0 ok, 1 a model or test failed, 2 dbt itself failed. */
  code: number;
  durationMs: number;
  /** Where run_results.json and manifest.json were written. */
  targetPath: string;
}

/** The checkout root: the nearest ancestor holding sql/dbt_project.yml (works from src/ and from dist/src/). */
export function findProjectRoot(from = __dirname): string {
  let dir = path.resolve(from);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'sql', 'dbt_project.yml'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new ConfigError(`no sql/dbt_project.yml above ${from}: run tagpipe from a checkout`);
    dir = parent;
  }
}

/** Where the venv's dbt executable is (it may not exist yet; runDbt says how to install it). */
export function dbtExecutable(rootDir: string): string {
  return path.join(rootDir, '.venv', process.platform === 'win32' ? 'Scripts' : 'bin', 'dbt');
}

export async function runDbt(args: string[], options: RunDbtOptions): Promise<DbtResult> {
  const rootDir = options.rootDir ?? findProjectRoot();
  const exe = dbtExecutable(rootDir);
  if (!fs.existsSync(exe)) {
    throw new ConfigError(
      `dbt is not installed (${exe} is missing): run ./run setup, which creates .venv from requirements.txt`,
    );
  }
  const paths = localPaths(options.dataDir);
  const targetPath = path.join(paths.dbt, 'target');
  fs.mkdirSync(paths.dbt, { recursive: true });
  const fullArgs = [
    ...args,
    '--project-dir',
    path.join(rootDir, 'sql'),
    '--profiles-dir',
    path.join(rootDir, 'sql'),
    '--target',
    options.target ?? 'local',
  ];
  const env: NodeJS.ProcessEnv = {
    ...(options.env ?? process.env),
    TAGPIPE_DATA_DIR: paths.root,
    DBT_TARGET_PATH: targetPath,
    DBT_LOG_PATH: path.join(paths.dbt, 'logs'),
    // dbt's own update check and telemetry would reach the network on every run.
    DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
    DBT_VERSION_CHECK: 'false',
    PYTHONUNBUFFERED: '1',
  };
  const started = Date.now();
  const child = spawn(exe, fullArgs, { cwd: rootDir, env, stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal });
  const done = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  const pump = (stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr') =>
    new Promise<void>((resolve) => {
      const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
      lines.on('line', (line) => options.onLine?.(line, name));
      lines.once('close', resolve);
    });
  const [code] = await Promise.all([done, pump(child.stdout, 'stdout'), pump(child.stderr, 'stderr')]);
  return { code, durationMs: Date.now() - started, targetPath };
}
