/**
 * The planner: computes what a sync run sends, in the warehouse with SQL (DESIGN.md, principle 7), on DuckDB and
 * BigQuery alike. The result is a plan table `_tagpipe.plan_<sync>` with one row per record to send
 * (`_tp_action` add | change | remove | send, `_tp_key`, `_tp_hash`, `_tp_payload` = the row as JSON text), so
 * counts, samples and the deletion guard come from SQL and the executor streams it in pages.
 *
 * - append: source rows (inside the lookback window) whose key has no ok / rejected / unknown ledger row.
 * - mirror: adds = keys in the source not in the snapshot; removes = keys in the snapshot not in the source.
 * - upsert: adds plus changes (same key, different row hash).
 * Consent and identifier filters apply to the source in SQL, so withdrawn consent turns into removes. Rows the
 * vendor permanently rejected (or whose fate is unknown) are not planned again until the row changes.
 */
import type { ConsentPurpose } from '../core/destination';
import { ConfigError } from '../core/errors';
import { purposesFor } from '../core/consent';
import type { SyncWarehouse } from '../warehouse/duckdb';
import { sourceTable, type SyncDefinition } from './config';
import { STATE_TABLES } from './ledger';
import { writingUncompressed, type Dialect } from './sql';

export type PlanAction = 'add' | 'change' | 'remove' | 'send';

/** The action a destination sees for a planned row. */
export function recordAction(mode: SyncDefinition['mode'], action: PlanAction): 'add' | 'remove' | 'upsert' | 'send' {
  if (mode === 'append') return 'send';
  if (mode === 'upsert') return 'upsert';
  return action === 'remove' ? 'remove' : 'add';
}

export const CONSENT_COLUMNS = [
  'consent_analytics',
  'consent_ads',
  'consent_ad_user_data',
  'consent_ad_personalization',
  'consent_source',
] as const;

export interface PlanContext {
  wh: SyncWarehouse;
  d: Dialect;
  sync: SyncDefinition;
  stateDataset: string;
  martsDataset: string;
  /** Purposes the destination declares; the sync's own `consent` is added. */
  destinationConsent: ConsentPurpose[];
  now: Date;
  /** Oldest event the destination accepts (append mode narrows its window to it). */
  maxEventAgeSeconds?: number;
  /** Name for messages when `sync.name` is a state key (dry-run and validation runs keep their own state). */
  displayName?: string;
}

export interface PlanSample {
  action: PlanAction;
  key: string;
  row: Record<string, unknown>;
}

export interface PlanSummary {
  sync: string;
  mode: SyncDefinition['mode'];
  adds: number;
  changes: number;
  removes: number;
  sends: number;
  total: number;
  snapshotSize: number;
  /** Removes as a share of the snapshot, 0-100. */
  deletePercent: number;
  /** Set when the deletion guard refuses the plan. */
  refusal: string | null;
  samples: PlanSample[];
  /** append: rows considered from this time on; the run records the newest planned time as its watermark. */
  since: Date | null;
  watermark: Date | null;
  /** Purposes every planned row has granted. */
  purposes: ConsentPurpose[];
  /** The source SELECT (with `_tp_key`) the executor joins the plan to. */
  sourceSql: string;
  planTable: string;
}

export function planTableName(sync: string): string {
  return `plan_${sync}`;
}

async function sourceColumns(ctx: PlanContext, dataset: string, table: string): Promise<string[]> {
  const { wh, d } = ctx;
  const sql =
    d.kind === 'duckdb'
      ? `SELECT column_name FROM information_schema.columns WHERE table_schema = ${d.str(dataset)} AND table_name = ${d.str(
          table,
        )} ORDER BY ordinal_position`
      : `SELECT column_name FROM ${d.dataset(dataset)}.INFORMATION_SCHEMA.COLUMNS WHERE table_name = ${d.str(
          table,
        )} ORDER BY ordinal_position`;
  const rows = await wh.query<{ column_name: string }>(sql);
  return rows.map((r) => r.column_name);
}

/** The source SELECT: key, mapped columns (+ consent columns), consent and identifier filters. */
export async function buildSourceSql(
  ctx: PlanContext,
): Promise<{ sql: string; purposes: ConsentPurpose[]; since: Date | null; names: string[] }> {
  const { d, sync } = ctx;
  const [dataset, table] = sourceTable(sync, ctx.martsDataset);
  const columns = await sourceColumns(ctx, dataset, table);
  const where = `${dataset}.${table}`;
  if (columns.length === 0) {
    throw new ConfigError(
      `sync ${sync.name}: source ${where} does not exist (have the models run? try: tagpipe models run)`,
      'syncs',
    );
  }
  const has = new Set(columns);
  const need = (col: string, why: string) => {
    if (!has.has(col))
      throw new ConfigError(`sync ${sync.name}: source ${where} has no column ${col} (${why})`, 'syncs');
  };
  need(sync.key, 'the key');
  const purposes = purposesFor([...ctx.destinationConsent, ...sync.consent]);
  for (const p of purposes) need(`consent_${p}`, `the destination needs ${p} consent`);
  for (const id of sync.identifiers) need(id, 'an identifier');

  let select: string;
  const names: string[] = [];
  if (sync.fields) {
    const parts = Object.entries(sync.fields).map(([field, col]) => {
      need(col, `mapped to ${field}`);
      names.push(field);
      return `s.${d.col(col)} AS ${d.col(field)}`;
    });
    // Consent columns ride along so each send can record its consent basis.
    for (const col of CONSENT_COLUMNS) {
      if (has.has(col) && !(col in sync.fields)) {
        names.push(col);
        parts.push(`s.${d.col(col)}`);
      }
    }
    select = parts.join(', ');
  } else {
    names.push(...columns.filter((c) => !c.startsWith('_tp_')));
    select = names.map((c) => `s.${d.col(c)}`).join(', ');
  }
  const conds = [`s.${d.col(sync.key)} IS NOT NULL`];
  for (const p of purposes) conds.push(`s.${d.col(`consent_${p}`)} = TRUE`);
  if (sync.identifiers.length) conds.push(`(${sync.identifiers.map((c) => `s.${d.col(c)} IS NOT NULL`).join(' OR ')})`);
  let since: Date | null = null;
  if (sync.mode === 'append') {
    need(sync.timeColumn, 'the time column for the append window');
    let windowSeconds = sync.lookbackDays * 86_400;
    if (ctx.maxEventAgeSeconds) windowSeconds = Math.min(windowSeconds, ctx.maxEventAgeSeconds);
    since = new Date(ctx.now.getTime() - windowSeconds * 1000);
    conds.push(`s.${d.col(sync.timeColumn)} >= ${d.ts(since)}`);
  }
  if (sync.where) conds.push(`(${sync.where})`);
  const keyExpr = `CAST(s.${d.col(sync.key)} AS ${d.type.string})`;
  const sql = `SELECT ${keyExpr} AS _tp_key, ${select} FROM ${d.table(dataset, table)} s WHERE ${conds.join(' AND ')}`;
  return { sql, purposes, since, names };
}

/** How the ledger's per-record fields are read from a row: from the source's columns or a payload's JSON text. */
interface RowAccess {
  has(member: string): string;
  text(member: string): string;
}

function sourceAccess(d: Dialect, alias: string, names: string[]): RowAccess {
  const present = new Set(names);
  return {
    has: (m) => (present.has(m) ? 'TRUE' : 'FALSE'),
    text: (m) => (present.has(m) ? `CAST(${alias}.${d.col(m)} AS ${d.type.string})` : 'NULL'),
  };
}

function jsonAccess(d: Dialect, json: string): RowAccess {
  return { has: (m) => d.jsonHas(json, m), text: (m) => d.jsonText(json, m) };
}

/**
 * The consent basis the ledger records with a send, in SQL: the same text as `rowConsentBasis` (executor.ts)
 * computes in TypeScript (`<source>:<granted purposes joined by +>`, NULL for a row without consent columns).
 */
export function consentBasisSql(d: Dialect, purposes: ConsentPurpose[], row: RowAccess): string {
  const source = row.text('consent_source');
  const sourceText = `CASE WHEN ${source} IN ('gcm', 'tcf', 'explicit', 'default') THEN ${source} ELSE 'default' END`;
  const parts = purposes.map((p) => `CASE WHEN ${row.text(`consent_${p}`)} = 'true' THEN '${p}' END`);
  const granted = parts.length ? `COALESCE(NULLIF(${d.joinNonNull(parts, '+')}, ''), 'none')` : `'none'`;
  return `CASE WHEN ${row.has('consent_source')} OR ${row.has('consent_ads')} THEN CONCAT(${sourceText}, ':', ${granted}) END`;
}

/** The event id the ledger records: the row's `event_id` member as text. */
function eventIdSql(row: RowAccess): string {
  return row.text('event_id');
}

/** Whether the ledger holds any settled (ok, rejected or unknown) record of this sync. */
async function hasSettledLedgerRows(ctx: PlanContext, ledger: string, name: string): Promise<boolean> {
  const rows = await ctx.wh.query<{ one: number }>(
    `SELECT 1 AS one FROM ${ledger} WHERE sync = ${name} AND outcome IN ('ok', 'rejected', 'unknown') LIMIT 1`,
  );
  return rows.length > 0;
}

/** Builds the plan table and summarises it. Does not refuse by itself: the caller applies `refusal`. */
export async function plan(ctx: PlanContext, force = false): Promise<PlanSummary> {
  const { wh, d, sync } = ctx;
  const { sql: sourceSql, purposes, since, names } = await buildSourceSql(ctx);
  const ledger = d.table(ctx.stateDataset, STATE_TABLES.ledger);
  const snapshots = d.table(ctx.stateDataset, STATE_TABLES.snapshots);
  const planTable = d.table(ctx.stateDataset, planTableName(sync.name));
  const name = d.str(sync.name);
  const key = d.col('key');
  // Keys are unique in the marts; should a source repeat one, the plan is built again keeping one row per key
  // (below): a GROUP BY or window on every run would hold every payload in memory at once.
  // Each branch reads the source itself (no shared CTE: DuckDB materialises a CTE used twice, every payload
  // included) and serialises and hashes a row only once its key has survived the diff, so a run where 2% changed
  // serialises 2% of the rows. mirror and append decide on keys alone; upsert compares every row's hash.
  // Each planned row also carries what the ledger records of it (event id, consent basis), so the executor
  // writes per request and `delivery_plan` is filled from the plan table in one statement.
  const fromSource = sourceAccess(d, 'src', names);
  const json = (from: string) =>
    `(SELECT _tp_key, ${d.md5('j')} AS _tp_hash, j AS _tp_payload, ev AS _tp_event_id, cb AS _tp_consent FROM (SELECT src._tp_key, ${d.rowJson('src')} AS j,
      ${eventIdSql(fromSource)} AS ev, ${consentBasisSql(d, purposes, fromSource)} AS cb FROM ${from}) x)`;
  const fromSnapshot = jsonAccess(d, 's.payload');
  const snapshotLedger = `${eventIdSql(fromSnapshot)} AS _tp_event_id, ${consentBasisSql(d, purposes, fromSnapshot)} AS _tp_consent`;
  const planned = 'c._tp_key, c._tp_hash, c._tp_payload, c._tp_event_id, c._tp_consent';
  const snap = `(SELECT ${key} AS k, row_hash, payload FROM ${snapshots} WHERE sync = ${name})`;
  const blocked = `(SELECT ${key} AS k, action, row_hash FROM ${ledger} WHERE sync = ${name} AND outcome IN ('rejected', 'unknown'))`;
  const notBlocked = (alias: string, action: string, hash: string) =>
    `NOT EXISTS (SELECT 1 FROM ${blocked} b WHERE b.k = ${alias} AND b.action = '${action}' AND b.row_hash = ${hash})`;
  let body: string;
  const [{ n: snapshotRows }] = await wh.query<{ n: number }>(
    `SELECT COUNT(*) AS n FROM ${snapshots} WHERE sync = ${name}`,
  );
  const snapshotSize = Number(snapshotRows);
  // A first run (or after a reset): a mirror has no snapshot, an append no settled ledger row.
  const firstRun =
    sync.mode === 'mirror'
      ? snapshotSize === 0
      : sync.mode === 'append' && !(await hasSettledLedgerRows(ctx, ledger, name));
  if (firstRun) {
    // Every row in the window is planned (a mirror's as adds: nothing can be removed), so there is no diff to
    // run; skipping it spares a hash table over every source key, which at a bounded memory limit spilled to
    // disk. A mirror's ledger may still block an add rejected before a reset; an append's has no settled row.
    const all = `SELECT '${sync.mode === 'mirror' ? 'add' : 'send'}' AS _tp_action, ${planned} FROM ${json(`(${sourceSql}) src`)} c`;
    body = sync.mode === 'mirror' ? `${all} WHERE ${notBlocked('c._tp_key', 'add', 'c._tp_hash')}` : all;
  } else if (sync.mode === 'mirror') {
    // The diff runs on keys alone, both ways; whole rows (payloads) are only read for the keys that differ. An
    // anti-join with the rows themselves on its probe side spilled every payload once its hash table of keys
    // outgrew the memory limit.
    const snapKeys = `(SELECT ${key} AS k FROM ${snapshots} WHERE sync = ${name})`;
    const sourceKeys = `(SELECT _tp_key AS k FROM (${sourceSql}) x)`;
    const joined = `(SELECT n.k FROM ${sourceKeys} n WHERE NOT EXISTS (SELECT 1 FROM ${snapKeys} s WHERE s.k = n.k))`;
    const gone = `(SELECT s.k FROM ${snapKeys} s WHERE NOT EXISTS (SELECT 1 FROM ${sourceKeys} n WHERE n.k = s.k))`;
    body = `SELECT 'add' AS _tp_action, ${planned}
      FROM ${json(`(${sourceSql}) src WHERE src._tp_key IN ${joined}`)} c
      WHERE ${notBlocked('c._tp_key', 'add', 'c._tp_hash')}
      UNION ALL
      SELECT 'remove' AS _tp_action, s.k AS _tp_key, s.row_hash AS _tp_hash, s.payload AS _tp_payload, ${snapshotLedger} FROM ${snap} s
      WHERE s.k IN ${gone} AND ${notBlocked('s.k', 'remove', 's.row_hash')}`;
  } else if (sync.mode === 'upsert') {
    body = `SELECT CASE WHEN s.k IS NULL THEN 'add' ELSE 'change' END AS _tp_action, ${planned}
      FROM ${json(`(${sourceSql}) src`)} c LEFT JOIN ${snap} s ON s.k = c._tp_key
      WHERE (s.k IS NULL OR s.row_hash <> c._tp_hash) AND ${notBlocked('c._tp_key', 'upsert', 'c._tp_hash')}`;
  } else {
    // As in mirror: the keys not sent yet are found on keys alone, then only their rows are read.
    const unsent = `(SELECT n._tp_key FROM (${sourceSql}) n WHERE NOT EXISTS (SELECT 1 FROM ${ledger} l WHERE l.sync = ${name}
                        AND l.${key} = n._tp_key AND l.outcome IN ('ok', 'rejected', 'unknown')))`;
    body = `SELECT 'send' AS _tp_action, ${planned} FROM ${json(`(${sourceSql}) src WHERE src._tp_key IN ${unsent}`)} c`;
  }
  // A record's position in the plan names it in the ledger: on DuckDB the rowid (0..n-1 in the order written,
  // never changed), on BigQuery a numbered column. DuckDB's plan is not sorted: sorting a million JSON payloads
  // took more memory than the rest of the run (its spill to disk made it slow instead), and nothing needs the
  // order. The executor reads the plan back in position order.
  const create = (sql: string) =>
    d.kind === 'duckdb'
      ? `CREATE OR REPLACE TABLE ${planTable} AS ${sql}`
      : `CREATE OR REPLACE TABLE ${planTable} AS SELECT p.*, ROW_NUMBER() OVER (ORDER BY _tp_action, _tp_key) - 1 AS _tp_pos FROM (${sql}) p`;
  await writingUncompressed(wh, () => wh.exec(create(body)));
  const countSql = `SELECT _tp_action AS a, COUNT(*) AS n, COUNT(DISTINCT _tp_key) AS k FROM ${planTable} GROUP BY _tp_action`;
  let counts = await wh.query<{ a: PlanAction; n: number; k: number }>(countSql);
  if (counts.some((c) => Number(c.n) > Number(c.k))) {
    // The source repeats a key: keep one row per key and action (the lowest hash, so the choice is stable).
    const once = `SELECT _tp_action, _tp_key, _tp_hash, _tp_payload, _tp_event_id, _tp_consent FROM (SELECT b.*, ROW_NUMBER() OVER (PARTITION BY _tp_action, _tp_key ORDER BY _tp_hash) AS _tp_rn FROM (${body}) b) x WHERE _tp_rn = 1`;
    await writingUncompressed(wh, () => wh.exec(create(once)));
    counts = await wh.query<{ a: PlanAction; n: number; k: number }>(countSql);
  }
  const count = (a: PlanAction) => Number(counts.find((c) => c.a === a)?.n ?? 0);
  const removes = count('remove');
  const deletePercent = snapshotSize > 0 ? (removes / snapshotSize) * 100 : 0;
  let refusal: string | null = null;
  if (sync.mode === 'mirror' && deletePercent > sync.maxDeletePercent && !force) {
    refusal =
      `sync ${ctx.displayName ?? sync.name} would remove ${removes} of ${snapshotSize} audience members (${deletePercent.toFixed(1)}%), ` +
      `more than maxDeletePercent ${sync.maxDeletePercent}%; check the source, then run again with --force`;
  }
  const sampleRows = await wh.query<{ _tp_action: PlanAction; _tp_key: string; _tp_payload: string }>(
    `SELECT _tp_action, _tp_key, _tp_payload FROM (SELECT p.*, ROW_NUMBER() OVER (PARTITION BY _tp_action ORDER BY _tp_key) AS rn
     FROM ${planTable} p) x WHERE rn <= 3 ORDER BY _tp_action, _tp_key`,
  );
  const samples = sampleRows.map((r) => ({
    action: r._tp_action,
    key: r._tp_key,
    row: parsePayload(r._tp_payload).row,
  }));
  let watermark: Date | null = null;
  if (sync.mode === 'append') {
    // On a first run every source row is planned, so the newest planned time is the source's newest.
    const newest = firstRun
      ? `SELECT MAX(s.${d.col(sync.timeColumn)}) AS w FROM (${sourceSql}) s`
      : `SELECT MAX(s.${d.col(sync.timeColumn)}) AS w FROM (${sourceSql}) s JOIN ${planTable} p ON p._tp_key = s._tp_key`;
    const [w] = await wh.query<{ w: string | null }>(newest);
    watermark = w?.w ? new Date(w.w) : null;
  }
  return {
    sync: sync.name,
    mode: sync.mode,
    adds: count('add'),
    changes: count('change'),
    removes,
    sends: count('send'),
    total: counts.reduce((sum, c) => sum + Number(c.n), 0),
    snapshotSize,
    deletePercent,
    refusal,
    samples,
    since,
    watermark,
    purposes,
    sourceSql,
    planTable,
  };
}

/** What `delivery_plan` records of each planned row (Ledger.recordPlan): position, key, event id, action, hash, consent. */
export function planLedgerSql(d: Dialect, summary: Pick<PlanSummary, 'planTable' | 'mode'>): string {
  const action =
    summary.mode === 'append'
      ? `'send'`
      : summary.mode === 'upsert'
        ? `'upsert'`
        : `CASE WHEN _tp_action = 'remove' THEN 'remove' ELSE 'add' END`;
  return `SELECT ${d.planPosition} AS pos, _tp_key AS ${d.col('key')}, _tp_event_id AS event_id, ${action} AS action,
    _tp_hash AS row_hash, _tp_consent AS consent_basis FROM ${summary.planTable}`;
}

/**
 * The executor's stream: one text column per planned row, `action|hash|payload`, read in position order. The payload is the
 * row's JSON from planning, so the executor reads one string per row instead of converting every column.
 */
export function planRowsSql(summary: Pick<PlanSummary, 'planTable'>): string {
  return `SELECT CONCAT(_tp_action, '|', _tp_hash, '|', _tp_payload) AS r FROM ${summary.planTable}`;
}

/** Separates rows in a page from planPageSql: JSON text escapes control characters, so it never occurs in a row. */
export const PLAN_ROW_SEPARATOR = '\x1e';

/**
 * DuckDB: the plan rows at positions [from, to) as one text, `planRowsSql` rows in position order joined by
 * PLAN_ROW_SEPARATOR (NULL for an empty range).
 */
export function planPageSql(summary: Pick<PlanSummary, 'planTable'>, from: number, to: number): string {
  return `SELECT string_agg(CONCAT(_tp_action, '|', _tp_hash, '|', _tp_payload), chr(30) ORDER BY rowid) AS r
    FROM ${summary.planTable} WHERE rowid >= ${from} AND rowid < ${to}`;
}

/** DuckDB's JSON text of a TIMESTAMP (`2026-03-01 10:00:00.123456`, UTC) or TIMESTAMPTZ (`…+00`). */
const DUCKDB_TIMESTAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)(Z|[+-]\d{2}(?::?\d{2})?)?$/;

const KEY_PREFIX = '{"_tp_key":"';

/** Index of the quote closing the JSON string that starts at `open` (its opening quote), or -1. */
function closingQuote(text: string, open: number): number {
  let i = text.indexOf('"', open + 1);
  while (i !== -1) {
    let backslashes = 0;
    for (let j = i - 1; text.charCodeAt(j) === 92; j--) backslashes++;
    if (backslashes % 2 === 0) return i;
    i = text.indexOf('"', i + 1);
  }
  return -1;
}

/**
 * A planned row's payload as the destination sees it: top-level timestamps in ISO-8601 UTC, as the warehouse
 * adapters return them (BigQuery's TO_JSON_STRING already writes ISO; DuckDB's to_json does not).
 *
 * The key is the first member of the JSON text (the source SELECT puts it first): it is cut off the text before
 * parsing rather than deleted after, since deleting a property turns the object into a slow dictionary for every
 * later read (the destination's transform, its JSON.stringify).
 */
export function parsePayload(text: string): { key: string; row: Record<string, unknown> } {
  let key: string;
  let row: Record<string, unknown>;
  const end = text.startsWith(KEY_PREFIX) ? closingQuote(text, KEY_PREFIX.length - 1) : -1;
  if (end !== -1) {
    key = JSON.parse(text.slice(KEY_PREFIX.length - 1, end + 1)) as string;
    row = JSON.parse(text.charCodeAt(end + 1) === 44 ? `{${text.slice(end + 2)}` : '{}') as Record<string, unknown>;
  } else {
    row = JSON.parse(text) as Record<string, unknown>;
    key = String(row._tp_key);
    delete row._tp_key;
  }
  for (const name in row) {
    const value = row[name];
    if (typeof value === 'string' && value.length >= 19 && value.length <= 35 && value[10] === ' ') {
      const m = DUCKDB_TIMESTAMP.exec(value);
      if (m) {
        const offset = !m[3] || m[3] === 'Z' ? 'Z' : m[3].length === 3 ? `${m[3]}:00` : m[3];
        const date = new Date(`${m[1]}T${m[2].slice(0, 12)}${offset}`);
        if (!Number.isNaN(date.getTime())) row[name] = date.toISOString();
      }
    }
  }
  return { key, row };
}
