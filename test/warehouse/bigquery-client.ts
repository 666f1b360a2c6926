/**
 * Drives the BigQuery adapter against the fake REST server (URL in argv[2]) and prints what it got as JSON.
 * Runs as its own Node process: the Google client loads its HTTP transport with a dynamic import(), which
 * jest's CommonJS sandbox cannot run.
 */
import { OAuth2Client } from 'google-auth-library';
import { openBigQueryWarehouse } from '../../src/warehouse/bigquery';
import { ensureState } from '../../src/sync/ledger';
import { plan } from '../../src/sync/planner';
import { parseSync } from '../../src/sync/config';
import { dialectFor } from '../../src/sync/sql';

async function main(): Promise<void> {
  const apiEndpoint = process.argv[2];
  // A static token: the fake does not check it, and no Google credentials are looked up.
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: 'test-token', expiry_date: Date.now() + 3_600_000 });
  const wh = await openBigQueryWarehouse({
    projectId: 'proj-1',
    location: 'EU',
    apiEndpoint,
    authClient,
    insertChunk: 2,
  });
  const out: Record<string, unknown> = {};
  out.query = await wh.query(
    'SELECT * FROM `proj-1`.`marts`.`users` WHERE sync = @sync AND n > @min AND x = @nothing',
    {
      sync: 'vip',
      min: 3,
      nothing: null,
    },
  );
  const pages: unknown[] = [];
  for await (const page of wh.stream('SELECT i FROM paged', undefined, 3)) pages.push(page);
  out.pages = pages;
  try {
    await wh.query('SELECT nope');
    out.error = null;
  } catch (error) {
    out.error = (error as Error).message;
  }
  await wh.insertRows(
    '_tagpipe',
    'delivery_ledger',
    [
      { name: 'key', type: 'string' },
      { name: 'attempts', type: 'int' },
      { name: 'at', type: 'timestamp' },
      { name: 'ok', type: 'bool' },
    ],
    [
      ["it's", 1, new Date('2026-03-01T00:00:00Z'), true],
      ['back\\slash', null, null, false],
      ['line\nbreak', 3, new Date('2026-03-02T00:00:00Z'), null],
    ],
  );
  const d = dialectFor(wh);
  await ensureState(wh, d, '_tagpipe');
  const sync = parseSync({
    name: 'vip',
    source: 'audience_members',
    destination: 'x',
    mode: 'mirror',
    where: "audience_id = 'vip'",
  });
  const summary = await plan({
    wh,
    d,
    sync,
    stateDataset: '_tagpipe',
    martsDataset: 'marts',
    destinationConsent: ['ads'],
    now: new Date(),
  });
  out.planTotal = summary.total;
  process.stdout.write(JSON.stringify(out));
}

main().catch((error: unknown) => {
  process.stderr.write(String((error as Error).stack ?? error));
  process.exit(1);
});
