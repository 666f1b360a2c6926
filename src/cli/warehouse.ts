/**
 * `tagpipe warehouse query "<SQL>"`: runs SQL against the warehouse the config names and prints an aligned table
 * (or JSON lines). Locally it reads the raw Parquet files and the warehouse file READ_ONLY, so it works while the
 * stack runs; while dbt holds the file it waits, then says the models are running.
 */
import type { Command } from 'commander';
import { parseConfig, type Config } from '../core/config';
import { DuckDbWarehouse } from '../warehouse/duckdb';
import { openWarehouse } from '../warehouse';

export interface WarehouseFlags {
  config?: string;
  dataDir?: string;
}

export function loadCliConfig(flags: WarehouseFlags): Config {
  return parseConfig(process.env, {
    file: flags.config ?? null,
    overrides: flags.dataDir ? { dataDir: flags.dataDir } : {},
  });
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** An aligned text table; long cells are cut at `maxWidth` with an ellipsis. Numbers align right. */
export function formatTable(columns: string[], rows: Record<string, unknown>[], maxWidth = 60): string {
  const cut = (s: string) => (s.length > maxWidth ? `${s.slice(0, maxWidth - 1)}…` : s).replace(/\n/g, '⏎');
  const cells = rows.map((row) => columns.map((c) => cut(cellText(row[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const numeric = columns.map((c) => rows.length > 0 && rows.every((r) => r[c] === null || typeof r[c] === 'number'));
  const line = (values: string[], isHeader = false) =>
    values
      .map((v, i) => (numeric[i] && !isHeader ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const out = [line(columns, true), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of cells) out.push(line(r));
  out.push(`(${rows.length} row${rows.length === 1 ? '' : 's'})`);
  return out.join('\n');
}

function hint(message: string): string {
  if (/schema "?(marts|_tagpipe)"? does not exist|Catalog "?warehouse"? does not exist/i.test(message)) {
    return `${message}\n(no models have run yet, so there are no marts: start the stack or run the models first)`;
  }
  return message;
}

export async function runQuery(
  config: Config,
  sql: string,
  json: boolean,
  write: (text: string) => void,
): Promise<number> {
  const wh = await openWarehouse(config, { readOnly: true, lockTimeoutMs: 60_000 });
  try {
    let columns: string[];
    let rows: Record<string, unknown>[];
    if (wh instanceof DuckDbWarehouse) {
      ({ columns, rows } = await wh.queryWithColumns(sql));
    } else {
      rows = await wh.query(sql);
      columns = rows.length ? Object.keys(rows[0]) : [];
    }
    if (json) for (const row of rows) write(`${JSON.stringify(row)}\n`);
    else write(`${formatTable(columns, rows)}\n`);
    return rows.length;
  } finally {
    await wh.close();
  }
}

export function registerWarehouse(program: Command): void {
  const warehouse = program.command('warehouse').description('query the warehouse (raw tables, marts, sync state)');
  warehouse
    .command('query')
    .description('run SQL: raw.events, raw.events_invalid, marts.<table>, _tagpipe.<table>')
    .argument('<sql>', 'the SQL to run (quote it)')
    .option('-d, --data-dir <dir>', 'data dir of the local stack (default .tagpipe)')
    .option('-c, --config <file>', 'tagpipe.yaml (default ./tagpipe.yaml when present)')
    .option('--json', 'print one JSON object per row')
    .action(async (sql: string, flags: WarehouseFlags & { json?: boolean }) => {
      const config = loadCliConfig(flags);
      try {
        await runQuery(config, sql, Boolean(flags.json), (t) => process.stdout.write(t));
      } catch (error) {
        const message = (error as Error).message;
        process.stderr.write(`tagpipe: query failed: ${hint(message)}\n`);
        process.exitCode = 1;
      }
    });
}
