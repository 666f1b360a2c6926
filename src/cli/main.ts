/**
 * The `tagpipe` command line. Each area registers its own subcommands; this file owns the program, the shared
 * options and the one place errors turn into exit codes and messages that say what to do.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../core/errors';
import { registerModels } from './models';
import { registerCollect, registerDoctor, registerStart } from './stack';
import { registerSync } from './sync';
import { registerWarehouse } from './warehouse';

/** The package version, from src/cli (sources) or dist/src/cli (the build). */
function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    const file = path.join(__dirname, rel);
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return '0.0.0';
}

export function buildProgram(): Command {
  const program = new Command('tagpipe')
    .description('Warehouse-centric server-side tagging and reverse-ETL: collect, model, sync.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)');
  registerStart(program);
  registerCollect(program);
  registerDoctor(program);
  registerModels(program);
  registerWarehouse(program);
  registerSync(program);
  return program;
}

export async function main(argv = process.argv): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`tagpipe: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`tagpipe: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) void main();
