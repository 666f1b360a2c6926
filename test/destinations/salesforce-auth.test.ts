/**
 * Salesforce sessions and Bulk API 2.0 jobs against the fake: an expired session (401 INVALID_SESSION_ID) is renewed
 * once through the configured OAuth flow (refresh_token, client_credentials, JWT bearer) and the request sent again;
 * a second 401 or a refused token request fails the run with what to fix. Bulk jobs split at the upload limit,
 * reject records over the per-record limit locally, survive a session expiring mid-poll, and are aborted on timeout.
 */
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import salesforce, { configSchema } from '../../destinations/salesforce';
import { refreshCount } from '../../destinations/salesforce/auth';
import type { SyncRecord } from '../../src/core/destination';
import { ConfigError } from '../../src/core/errors';
import { createHttpClient } from '../../src/core/http';
import { silentLogger } from '../../src/core/logger';
import { parseSync } from '../../src/sync/config';
import { runSync } from '../../src/sync/executor';
import { createOutboxHttpClient, outboxFile } from '../../src/sync/outbox';
import { openLocalWarehouse, type DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { startFakeSalesforce, type FakeSalesforce, type FakeSalesforceOptions } from '../fakes';
import { FakeClock, tempDir } from '../sync/helpers';
import { FIXED_NOW, testContext } from './context';

const user = (i: number, extra: Record<string, unknown> = {}): SyncRecord => ({
  key: `p-${i}`,
  action: 'upsert',
  row: { Tagpipe_Person_Id__c: `p-${i}`, LastName: `Last${i}`, ...extra },
});
const users = (n: number) => Array.from({ length: n }, (_, i) => user(i));
const APP = { clientId: '3MVG9-app', clientSecret: 'app-secret', refreshToken: '5Aep-refresh' };
const { publicKey, privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

let fake: FakeSalesforce;
afterEach(() => fake.close());
const start = async (options: FakeSalesforceOptions = {}) => {
  fake = await startFakeSalesforce({ oauth: { ...APP, publicKey, username: 'sync@acme.example' }, ...options });
};
const config = (extra: Record<string, unknown> = {}) =>
  configSchema.parse({ endpoint: fake.url, externalIdField: 'Tagpipe_Person_Id__c', ...extra });
const refreshAuth = () => ({ flow: 'refresh_token', ...APP, tokenUrl: `${fake.url}/services/oauth2/token` });
const calls = () => fake.requests.map((r) => `${r.method} ${r.path.replace(/750\d+/, 'JOB')}`);
const bearer = (i: number) => fake.requests[i].headers.authorization;
const COLLECTIONS = 'PATCH /services/data/v68.0/composite/sobjects/Contact/Tagpipe_Person_Id__c';
const TOKEN = 'POST /services/oauth2/token';

describe('salesforce session renewal', () => {
  it('renews an expired session with the refresh token once and resends the request', async () => {
    await start({ sessionRequests: 2 });
    const cfg = config({ accessToken: 'test-token', auth: refreshAuth() });
    const outcomes = await salesforce.send(users(450), testContext(cfg));
    expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
    expect(fake.records.size).toBe(450);
    expect(calls()).toEqual([COLLECTIONS, COLLECTIONS, COLLECTIONS, TOKEN, COLLECTIONS]);
    expect(Object.fromEntries(new URLSearchParams(fake.requests[3].body))).toEqual({
      grant_type: 'refresh_token',
      client_id: APP.clientId,
      client_secret: APP.clientSecret,
      refresh_token: APP.refreshToken,
    });
    expect(fake.requests[3].headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect([bearer(0), bearer(2)]).toEqual(['Bearer test-token', 'Bearer test-token']);
    expect(bearer(4)).toMatch(/^Bearer 00D000000000001!/);
    // The resent request is the one that failed: the same 50 records.
    expect(fake.requests[4].body).toBe(fake.requests[2].body);
    expect(refreshCount(cfg)).toBe(1);
  });

  it('fetches the first token itself when only auth is given, and one renewal serves concurrent requests', async () => {
    await start();
    const cfg = config({ auth: refreshAuth() });
    const ctx = testContext(cfg);
    expect((await salesforce.send([user(1)], ctx))[0].status).toBe('ok');
    expect(calls()).toEqual([TOKEN, COLLECTIONS]);
    fake.expireSessions();
    const both = await Promise.all([salesforce.send([user(2)], ctx), salesforce.send([user(3)], ctx)]);
    expect(both.flat().map((o) => o.status)).toEqual(['ok', 'ok']);
    expect(fake.grants).toEqual(['refresh_token', 'refresh_token']);
    expect(calls().filter((c) => c === TOKEN)).toHaveLength(2);
    expect([...fake.records.keys()].sort()).toEqual(['Contact:p-1', 'Contact:p-2', 'Contact:p-3']);
  });

  it('fails the run when a just-issued token is refused too, saying what to check', async () => {
    await start({ sessionRequests: 0 });
    const promise = salesforce.send([user(1)], testContext(config({ accessToken: 'test-token', auth: refreshAuth() })));
    await expect(promise).rejects.toThrow(ConfigError);
    await expect(promise).rejects.toThrow(/refused a just-issued access token .*"API Enabled"/);
    // Two renewed tokens in a row refused: a refusal, not an expiry.
    expect(calls()).toEqual([COLLECTIONS, TOKEN, COLLECTIONS, TOKEN, COLLECTIONS]);
    expect(fake.records.size).toBe(0);
  });

  it('fails the run when the token request is refused: revoked refresh token, wrong client secret', async () => {
    await start({ sessionRequests: 0 });
    const revoked = config({ accessToken: 'test-token', auth: { ...refreshAuth(), refreshToken: 'revoked' } });
    await expect(salesforce.send([user(1)], testContext(revoked))).rejects.toThrow(
      'Salesforce token request (refresh_token) failed: invalid_grant: expired access/refresh token; the refresh ' +
        'token is expired or revoked: authorize the connected app again and set the new SALESFORCE_REFRESH_TOKEN',
    );
    const wrongSecret = config({ auth: { ...refreshAuth(), clientSecret: 'nope' } });
    await expect(salesforce.send([user(1)], testContext(wrongSecret))).rejects.toThrow(
      /invalid_client: invalid client credentials; check auth.clientId .* SALESFORCE_CLIENT_SECRET/,
    );
    expect(fake.grants).toEqual([]);
  });

  it('retries (does not fail) when the token endpoint is down', async () => {
    await start();
    fake.respondNext({ status: 503, body: 'maintenance' });
    const outcomes = await salesforce.send([user(1)], testContext(config({ auth: refreshAuth() })));
    expect(outcomes[0]).toMatchObject({ status: 'retry', reason: expect.stringContaining('token endpoint 503') });
  });

  it('uses the client credentials flow against the My Domain token URL', async () => {
    await start({ sessionRequests: 1 });
    const auth = { flow: 'client_credentials', clientId: APP.clientId, clientSecret: APP.clientSecret };
    const cfg = config({ auth: { ...auth, tokenUrl: `${fake.url}/services/oauth2/token` } });
    expect((await salesforce.send([user(1)], testContext(cfg)))[0].status).toBe('ok');
    expect((await salesforce.send([user(2)], testContext(cfg)))[0].status).toBe('ok');
    expect(fake.grants).toEqual(['client_credentials', 'client_credentials']);
    expect(
      configSchema.safeParse({
        endpoint: fake.url,
        externalIdField: 'X__c',
        auth: { ...auth, tokenUrl: 'https://login.salesforce.com/services/oauth2/token' },
      }).error?.issues[0].message,
    ).toMatch(/needs the My Domain token URL/);
  });

  it('signs a JWT bearer assertion the connected app verifies, and says what to fix when the key is wrong', async () => {
    await start({ now: () => FIXED_NOW });
    const jwt = (key: string, username = 'sync@acme.example') => ({
      flow: 'jwt_bearer',
      clientId: APP.clientId,
      username,
      privateKey: key.replace(/\n/g, '\\n'), // as it often arrives from an environment variable
      tokenUrl: `${fake.url}/services/oauth2/token`,
    });
    const ctx = testContext(config({ auth: jwt(privateKey) }));
    expect((await salesforce.send([user(1)], ctx))[0].status).toBe('ok');
    const form = new URLSearchParams(fake.requests[0].body);
    expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    const [header, claims] = (form.get('assertion') ?? '').split('.');
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({ alg: 'RS256' });
    expect(JSON.parse(Buffer.from(claims, 'base64url').toString())).toEqual({
      iss: APP.clientId,
      sub: 'sync@acme.example',
      aud: 'https://login.salesforce.com',
      exp: FIXED_NOW.getTime() / 1000 + 180,
    });
    expect(fake.grants).toEqual(['urn:ietf:params:oauth:grant-type:jwt-bearer']);

    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    await expect(salesforce.send([user(2)], testContext(config({ auth: jwt(String(other)) })))).rejects.toThrow(
      /invalid_grant: invalid assertion; check that the certificate uploaded to the connected app matches SALESFORCE_PRIVATE_KEY/,
    );
    await expect(
      salesforce.send([user(2)], testContext(config({ auth: jwt(privateKey, 'someone@else') }))),
    ).rejects.toThrow(/user hasn't approved this consumer; .*pre-authorized/);
    await expect(salesforce.send([user(2)], testContext(config({ auth: jwt('not a key') })))).rejects.toThrow(
      /auth.privateKey is not a usable PEM private key/,
    );
  });

  it('in dry-run never calls the token endpoint: the outbox holds the upsert only, without secrets', async () => {
    await start();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-sf-outbox-'));
    try {
      const ctx = testContext(config({ auth: refreshAuth() }));
      ctx.dryRun = true;
      ctx.http = createOutboxHttpClient({ outboxDir: dir, sync: 'sf', destination: 'salesforce', clock: ctx.clock });
      expect((await salesforce.send([user(1)], ctx))[0]).toMatchObject({ status: 'ok' });
      const lines = fs.readFileSync(outboxFile(dir, 'sf'), 'utf8').trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0])).toMatchObject({ method: 'PATCH' });
      expect(lines[0]).not.toContain(APP.refreshToken);
      expect(lines[0]).not.toContain(APP.clientSecret);
      expect(fake.requests).toHaveLength(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('salesforce Bulk API 2.0 job lifecycle', () => {
  const bulk = (extra: Record<string, unknown> = {}) =>
    config({ accessToken: 'test-token', bulkThreshold: 100, bulkPollIntervalMs: 10, ...extra });

  it('renews a session that expires while the job is polled, and keeps polling the same job', async () => {
    await start({ sessionRequests: 4, bulkPollsUntilDone: 3 });
    const outcomes = await salesforce.send(users(150), testContext(bulk({ auth: refreshAuth() })));
    expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
    expect(fake.records.size).toBe(150);
    expect(fake.jobs.size).toBe(1);
    expect(calls()).toEqual([
      'POST /services/data/v68.0/jobs/ingest',
      'PUT /services/data/v68.0/jobs/ingest/JOB/batches',
      'PATCH /services/data/v68.0/jobs/ingest/JOB',
      'GET /services/data/v68.0/jobs/ingest/JOB',
      'GET /services/data/v68.0/jobs/ingest/JOB',
      TOKEN,
      'GET /services/data/v68.0/jobs/ingest/JOB',
      'GET /services/data/v68.0/jobs/ingest/JOB',
      'GET /services/data/v68.0/jobs/ingest/JOB',
      'GET /services/data/v68.0/jobs/ingest/JOB/successfulResults/',
      // Four calls per session: the second session expires while the results are read.
      'GET /services/data/v68.0/jobs/ingest/JOB/failedResults/',
      TOKEN,
      'GET /services/data/v68.0/jobs/ingest/JOB/failedResults/',
      'GET /services/data/v68.0/jobs/ingest/JOB/unprocessedrecords/',
    ]);
    expect(fake.grants).toEqual(['refresh_token', 'refresh_token']);
  });

  it('splits a batch over jobs at the upload limit and rejects a record over the limit locally', async () => {
    await start({ maxUploadBytes: 2048 });
    const batch = users(200);
    batch[7] = user(7, { FirstName: 'x'.repeat(3000) });
    const outcomes = await salesforce.send(batch, testContext(bulk({ bulkMaxUploadBytes: 2048 })));
    expect(outcomes[7]).toMatchObject({ status: 'rejected', vendorCode: 'local_validation' });
    expect(outcomes[7].status === 'rejected' && outcomes[7].reason).toMatch(/at most 400000 per record and 2048 bytes/);
    expect(outcomes.filter((o) => o.status === 'ok')).toHaveLength(199);
    expect(fake.records.size).toBe(199);
    const uploads = fake.requests.filter((r) => r.method === 'PUT');
    expect(uploads.length).toBe(fake.jobs.size);
    expect(uploads.length).toBeGreaterThan(1);
    for (const upload of uploads) {
      expect(Buffer.byteLength(upload.body)).toBeLessThanOrEqual(2048);
      expect(upload.body.startsWith('Tagpipe_Person_Id__c,LastName,FirstName\n')).toBe(true);
    }
    // Every sendable record in exactly one upload, in order.
    const sent = uploads.flatMap((u) =>
      u.body
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => line.split(',')[0]),
    );
    expect(sent).toEqual(batch.filter((_, i) => i !== 7).map((r) => r.key));
  });

  it('the fake refuses an upload over its limit', async () => {
    await start({ maxUploadBytes: 2048 });
    const outcomes = await salesforce.send(users(200), testContext(bulk({ bulkMaxUploadBytes: 100_000 })));
    expect(outcomes[0]).toMatchObject({ status: 'rejected', httpStatus: 400, vendorCode: 'EXCEEDED_MAX_SIZE_REQUEST' });
    expect(fake.records.size).toBe(0);
  });

  it('aborts a job still running at bulkTimeoutMs and answers retry', async () => {
    await start({ bulkPollsUntilDone: 1_000_000 });
    let now = FIXED_NOW.getTime();
    const ctx = testContext(bulk({ bulkTimeoutMs: 1000, bulkPollIntervalMs: 300 }));
    ctx.clock = { now: () => new Date(now), sleep: (ms) => Promise.resolve(void (now += ms)) };
    const outcomes = await salesforce.send(users(100), ctx);
    expect(outcomes.every((o) => o.status === 'retry')).toBe(true);
    expect(calls().slice(-1)).toEqual(['PATCH /services/data/v68.0/jobs/ingest/JOB']);
    expect(fake.requests[fake.requests.length - 1].json).toEqual({ state: 'Aborted' });
    expect([...fake.jobs.values()].map((j) => j.state)).toEqual(['Aborted']);
  });
});

describe('salesforce sync runs that outlive their sessions', () => {
  let wh: DuckDbWarehouse;
  beforeEach(async () => {
    wh = await openLocalWarehouse(tempDir(), { readOnly: false });
    await wh.exec('CREATE SCHEMA marts');
    await wh.exec('CREATE TABLE marts.users (person_id VARCHAR, last_name VARCHAR)');
    await wh.exec(`INSERT INTO marts.users SELECT 'p-' || i, 'Last' || i FROM range(0, 450) t(i)`);
  });
  afterEach(() => wh.close());
  const runUsers = (extra: Record<string, unknown>) =>
    runSync(
      parseSync({
        name: 'users_sf',
        destination: 'salesforce',
        mode: 'upsert',
        source: 'users',
        fields: { Tagpipe_Person_Id__c: 'person_id', LastName: 'last_name' },
      }),
      {
        warehouse: wh,
        destination: salesforce as never,
        destinationConfig: config(extra),
        http: createHttpClient({ timeoutMs: 5000, userAgent: 't' }),
        logger: silentLogger,
        clock: new FakeClock(),
      },
    );

  it('delivers every record when each session lasts one request', async () => {
    await start({ sessionRequests: 1 });
    const result = await runUsers({ accessToken: 'test-token', auth: refreshAuth() });
    expect(result.run).toMatchObject({ status: 'ok', delivered: 450, rejected: 0, failed: 0 });
    expect(fake.records.size).toBe(450);
    // Three requests, two in flight: two renewals, or three when both in-flight requests sent the same renewed
    // token and the second found it spent (the fake's sessions last one request).
    expect(fake.grants.length === 2 || fake.grants.length === 3).toBe(true);
    expect(new Set(fake.grants)).toEqual(new Set(['refresh_token']));
  });

  it('fails the run with the fix when the renewed token is refused as well', async () => {
    await start({ sessionRequests: 0 });
    await expect(runUsers({ accessToken: 'test-token', auth: refreshAuth() })).rejects.toThrow(
      /refused a just-issued access token/,
    );
    const runs = await wh.query<{ status: string; error: string; delivered: number }>(
      'SELECT status, error, delivered FROM _tagpipe.sync_runs',
    );
    expect(runs).toEqual([
      { status: 'failed', error: expect.stringContaining('"API Enabled"') as unknown, delivered: 0 },
    ]);
    expect(fake.records.size).toBe(0);
  });
});
