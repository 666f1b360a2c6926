/**
 * `tagpipe models run|test [--select …]`: builds or tests the dbt models (sql/) on the local warehouse or, with
 * `--target prod`, on BigQuery, streaming dbt's output. Exit code: dbt's.
 */
import type { Command } from 'commander';
import { parseConfig } from '../core/config';
import { runDbt, type DbtTarget } from '../warehouse/dbt';

interface ModelsFlags {
  select?: string[];
  exclude?: string[];
  fullRefresh?: boolean;
  target?: string;
  dataDir?: string;
  config?: string;
  vars?: string;
}

function dbtArgs(command: 'build' | 'test', flags: ModelsFlags): string[] {
  const args: string[] = [command];
  if (flags.select?.length) args.push('--select', ...flags.select);
  if (flags.exclude?.length) args.push('--exclude', ...flags.exclude);
  if (flags.fullRefresh) args.push('--full-refresh');
  if (flags.vars) args.push('--vars', flags.vars);
  return args;
}

async function invoke(command: 'build' | 'test', flags: ModelsFlags): Promise<void> {
  const config = parseConfig(process.env, {
    file: flags.config ?? null,
    overrides: flags.dataDir ? { dataDir: flags.dataDir } : {},
  });
  const target: DbtTarget =
    flags.target === 'prod' || (!flags.target && config.warehouse.kind === 'bigquery') ? 'prod' : 'local';
  if (flags.target && flags.target !== 'local' && flags.target !== 'prod') {
    throw new Error(`--target must be local or prod, got ${flags.target}`);
  }
  const result = await runDbt(dbtArgs(command, flags), {
    dataDir: config.dataDir,
    target,
    onLine: (line, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(line + '\n'),
  });
  if (result.code !== 0) process.exitCode = result.code;
}

export function registerModels(program: Command): void {
  const models = program.command('models').description('build and test the dbt models (sql/): staging → marts');
  const common = (cmd: Command) =>
    cmd
      .option('-s, --select <selector...>', 'dbt node selection, e.g. marts.audiences+ or conversions')
      .option('--exclude <selector...>', 'dbt nodes to leave out')
      .option('--target <target>', 'local (DuckDB in the data dir) or prod (BigQuery from TAGPIPE_BQ_*)')
      .option('--vars <yaml>', "dbt vars, e.g. '{tagpipe_lookback_hours: 24}'")
      .option('-d, --data-dir <dir>', 'data dir (default .tagpipe)')
      .option('-c, --config <file>', 'tagpipe.yaml');
  common(models.command('run'))
    .description('build the models and run their tests (dbt build), incrementally')
    .option('--full-refresh', 'rebuild incremental models from all raw data')
    .action((flags: ModelsFlags) => invoke('build', flags));
  common(models.command('test'))
    .description('run the data and unit tests only (dbt test)')
    .action((flags: ModelsFlags) => invoke('test', flags));
}
