/**
 * Data Manager credentials that outlive an hour: a real google-auth-library client runs the JWT bearer grant of a
 * service account key (generated here) against the fake's token endpoint (the key's `token_uri`), and the
 * destination caches the token, renews it before it expires, renews it once on 401, and fails the run with what to
 * grant on a second 401 or a 403. Dry-run never asks for a token. Also as Application Default Credentials (a key
 * file in GOOGLE_APPLICATION_CREDENTIALS) and through a whole sync run.
 */
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import googleAds, { configSchema } from '../../destinations/google-ads';
import { tokenRequests } from '../../destinations/google-ads/auth';
import type { GoogleAdsConfig } from '../../destinations/google-ads/config';
import type { Destination, DestinationContext } from '../../src/core/destination';
import { ConfigError } from '../../src/core/errors';
import { createHttpClient } from '../../src/core/http';
import { silentLogger } from '../../src/core/logger';
import { parseSync } from '../../src/sync/config';
import { resolveDestinationConfig } from '../../src/sync/engine';
import { runSync } from '../../src/sync/executor';
import { createOutboxHttpClient } from '../../src/sync/outbox';
import { openLocalWarehouse, type DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { startFakeDataManager, type FakeDataManager } from '../fakes';
import { GOOGLE_TOKEN_URL } from '../fakes/google-data-manager';
import { FakeClock, tempDir } from '../sync/helpers';
import { conversion } from './google-ads-records';

const EMAIL = 'tagpipe-batch-sync@acme-shop.iam.gserviceaccount.com';
const MINUTE = 60_000;

function keyPair() {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}
const pair = keyPair();

/** A service account key file as `gcloud iam service-accounts keys create` writes it. */
const keyFile = (tokenUri: string, privateKey = pair.privateKey) =>
  JSON.stringify({
    type: 'service_account',
    project_id: 'acme-shop',
    private_key_id: 'k1',
    private_key: privateKey,
    client_email: EMAIL,
    client_id: '1234567890',
    token_uri: tokenUri,
  });

let fake: FakeDataManager;
let clock: FakeClock;
afterEach(() => fake.close());

async function start(options: Parameters<typeof startFakeDataManager>[0] = {}) {
  clock = new FakeClock();
  fake = await startFakeDataManager({
    now: () => clock.now(),
    serviceAccounts: { [EMAIL]: pair.publicKey },
    ...options,
  });
}
const config = (extra: Record<string, unknown> = {}): GoogleAdsConfig =>
  configSchema.parse({
    serviceAccountKey: keyFile(fake.tokenUri),
    endpoint: fake.url,
    operatingAccountId: '123',
    conversionActionId: '555',
    ...extra,
  });
const ctxFor = (c: GoogleAdsConfig, extra: Partial<DestinationContext<GoogleAdsConfig>> = {}) => ({
  config: c,
  http: createHttpClient({ timeoutMs: 5000, userAgent: 'tagpipe-test' }),
  logger: silentLogger,
  clock,
  dryRun: false,
  ...extra,
});
const tokenCalls = () => fake.requests.filter((r) => r.path === '/token');
const apiCalls = () => fake.requests.filter((r) => r.path.startsWith('/v1/'));
const bearer = (i: number) => apiCalls()[i].headers.authorization.replace('Bearer ', '');

describe('google-ads credentials from a service account key', () => {
  it('runs the JWT bearer grant, reuses the token, and renews it 5 minutes before it expires', async () => {
    await start({ tokenLifetimeSeconds: 3600 });
    const c = config();
    const ctx = ctxFor(c);
    expect((await googleAds.send([conversion(1)], ctx)).map((o) => o.status)).toEqual(['ok']);
    expect(tokenCalls()).toHaveLength(1);
    const form = new URLSearchParams(tokenCalls()[0].body);
    expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    const claims = JSON.parse(
      Buffer.from(String(form.get('assertion')).split('.')[1], 'base64url').toString(),
    ) as Record<string, unknown>;
    expect(claims).toMatchObject({
      iss: EMAIL,
      aud: GOOGLE_TOKEN_URL,
      scope: 'https://www.googleapis.com/auth/datamanager',
    });
    const first = bearer(0);
    expect(fake.tokens.get(first)).toMatchObject({ principal: EMAIL });

    await clock.sleep(54 * MINUTE); // 6 minutes left: still used
    await googleAds.send([conversion(2)], ctx);
    expect(bearer(1)).toBe(first);
    await clock.sleep(2 * MINUTE); // 4 minutes left: renewed before sending
    await googleAds.send([conversion(3)], ctx);
    expect(tokenCalls()).toHaveLength(2);
    expect(bearer(2)).not.toBe(first);
    expect(fake.tokens.get(bearer(2))?.expiresAt).toBe(clock.now().getTime() + 3600_000);
    // Never a 401: three calls, three conversions, no resend.
    expect(apiCalls()).toHaveLength(3);
    expect([...fake.conversions.keys()]).toEqual(['555:T-1', '555:T-2', '555:T-3']);
    expect(tokenRequests(c)).toBe(2);
  });

  it('renews a token the API stopped accepting (401) once and sends the request again; status reads too', async () => {
    await start();
    const c = config();
    const ctx = ctxFor(c);
    await googleAds.send([conversion(1)], ctx);
    fake.expireTokens();
    expect((await googleAds.send([conversion(2)], ctx)).map((o) => o.status)).toEqual(['ok']);
    expect(apiCalls().map((r) => r.path)).toEqual(['/v1/events:ingest', '/v1/events:ingest', '/v1/events:ingest']);
    expect(bearer(1)).toBe(bearer(0));
    expect(bearer(2)).not.toBe(bearer(1));
    expect(tokenCalls()).toHaveLength(2);
    expect(fake.conversions.size).toBe(2);

    fake.expireTokens();
    const verified = await googleAds.verify?.(['req-1', 'req-2'], ctx);
    expect(verified?.map((v) => [v.requestId, v.status])).toEqual([
      ['req-1', 'success'],
      ['req-2', 'success'],
    ]);
    expect(tokenCalls()).toHaveLength(3);
  });

  it('shares one token request between concurrent sends', async () => {
    await start();
    const ctx = ctxFor(config());
    const outcomes = await Promise.all([1, 2, 3, 4].map((i) => googleAds.send([conversion(i)], ctx)));
    expect(outcomes.flat().map((o) => o.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(tokenCalls()).toHaveLength(1);
    expect(new Set(apiCalls().map((r) => r.headers.authorization)).size).toBe(1);
  });

  it('fails the run when a just-issued token is refused too (a second 401)', async () => {
    await start({ tokenLifetimeSeconds: 0 }); // every token is expired on arrival
    const send = googleAds.send([conversion(1)], ctxFor(config()));
    await expect(send).rejects.toThrow(ConfigError);
    await expect(send).rejects.toThrow(
      `Data Manager refused a just-issued access token for ${EMAIL} (service account key) (401 UNAUTHENTICATED`,
    );
    expect(tokenCalls()).toHaveLength(2);
    expect(apiCalls()).toHaveLength(2);
    expect(fake.conversions.size).toBe(0);
  });

  it('fails on 403 PERMISSION_DENIED saying what to grant: account access, the API, per Google reason', async () => {
    await start({ accountAccess: { '123': ['someone-else@acme-shop.iam.gserviceaccount.com'] } });
    await expect(googleAds.send([conversion(1)], ctxFor(config()))).rejects.toThrow(
      `give ${EMAIL} access to the Google Ads account 123: in Google Ads, Admin > Access and security`,
    );
    // Through a manager account, the manager is the account to grant.
    await fake.close();
    await start({ accountAccess: { '999': ['someone-else@acme-shop.iam.gserviceaccount.com'] } });
    await expect(googleAds.send([conversion(1)], ctxFor(config({ loginAccountId: '999' })))).rejects.toThrow(
      `give ${EMAIL} access to the manager account 999 (loginAccountId) that manages 123`,
    );
    await fake.close();
    await start({ apiEnabled: false });
    await expect(googleAds.send([conversion(1)], ctxFor(config()))).rejects.toThrow(
      /SERVICE_DISABLED\): enable the Data Manager API \(datamanager\.googleapis\.com\)/,
    );
    expect(fake.conversions.size).toBe(0);
  });

  it('fails when the token endpoint refuses the key (not the key it knows), with what to check', async () => {
    await start();
    const stranger = keyPair();
    const send = googleAds.send(
      [conversion(1)],
      ctxFor(config({ serviceAccountKey: keyFile(fake.tokenUri, stranger.privateKey) })),
    );
    await expect(send).rejects.toThrow(ConfigError);
    await expect(send).rejects.toThrow(
      new RegExp(
        `Google refused the token request for ${EMAIL} \\(service account key\\) \\(400 invalid_grant: Invalid JWT Signature`,
      ),
    );
    expect(apiCalls()).toHaveLength(0);
  });

  it('refuses a config whose key is not a service account key file, or with a fixed token as well', async () => {
    await start();
    const parse = (extra: Record<string, unknown>) =>
      configSchema.safeParse({ operatingAccountId: '1', ...extra }).error?.issues.map((i) => i.message);
    expect(parse({ serviceAccountKey: 'not json' })).toEqual([
      'expected the JSON key file of a service account (gcloud iam service-accounts keys create), not valid JSON',
    ]);
    expect(parse({ serviceAccountKey: '{"type":"authorized_user"}' })).toEqual([
      'expected a key file with "type": "service_account" (got "authorized_user")',
    ]);
    expect(parse({ serviceAccountKey: keyFile(fake.tokenUri), accessToken: 't' })).toEqual([
      'choose one of accessToken, serviceAccountKey and applicationDefaultCredentials',
    ]);
    expect(parse({ accessToken: 't', applicationDefaultCredentials: true })).toEqual([
      'choose one of accessToken, serviceAccountKey and applicationDefaultCredentials',
    ]);
    // No credentials named at all: reported on accessToken, which the sync engine fills to run dry.
    const none = configSchema.safeParse({ operatingAccountId: '1' }).error?.issues;
    expect(none?.map((i) => [i.path.join('.'), i.message])).toEqual([
      [
        'accessToken',
        'no credentials: set applicationDefaultCredentials: true (Cloud Run), serviceAccountKey or accessToken',
      ],
    ]);
  });

  it('runs dry when the config names no credentials at all', async () => {
    await start();
    const resolved = resolveDestinationConfig(
      googleAds as Destination<unknown>,
      { operatingAccountId: '123', conversionActionId: '555' },
      'conv_ads',
    );
    expect(resolved.missing).toEqual(['accessToken']);
    expect(resolved.config).toMatchObject({ accessToken: 'dry-run', applicationDefaultCredentials: false });
    expect(fake.requests).toHaveLength(0);
  });

  it('never asks for a token in dry-run: the request goes to the outbox with the authorization masked', async () => {
    await start();
    const outboxDir = tempDir();
    const http = createOutboxHttpClient({ outboxDir, sync: 'conv_ads', destination: 'google-ads', clock });
    const outcomes = await googleAds.send([conversion(1)], { ...ctxFor(config()), http, dryRun: true });
    expect(outcomes).toEqual([{ status: 'ok', httpStatus: 200, requestId: 'dry-run' }]);
    expect(fake.requests).toHaveLength(0);
    const [entry] = fs
      .readFileSync(path.join(outboxDir, 'conv_ads.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { url: string; headers: Record<string, string> });
    expect(entry.url).toBe(`${fake.url}/v1/events:ingest`);
    expect(entry.headers.authorization).toBe('***');
  });
});

describe('google-ads with Application Default Credentials', () => {
  const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  afterEach(() => {
    if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
  });

  it('uses the key file GOOGLE_APPLICATION_CREDENTIALS names, with the datamanager scope', async () => {
    await start();
    const file = path.join(tempDir(), 'key.json');
    fs.writeFileSync(file, keyFile(fake.tokenUri));
    process.env.GOOGLE_APPLICATION_CREDENTIALS = file;
    const c = config({ serviceAccountKey: undefined, applicationDefaultCredentials: true });
    expect(c.serviceAccountKey).toBeUndefined();
    expect((await googleAds.send([conversion(1)], ctxFor(c))).map((o) => o.status)).toEqual(['ok']);
    expect(fake.tokens.get(bearer(0))).toMatchObject({
      principal: EMAIL,
      scopes: ['https://www.googleapis.com/auth/datamanager'],
    });
    // The principal is named when access is missing.
    await fake.close();
    await start({ accountAccess: { '123': [] } });
    fs.writeFileSync(file, keyFile(fake.tokenUri));
    await expect(
      googleAds.send(
        [conversion(1)],
        ctxFor(config({ serviceAccountKey: undefined, applicationDefaultCredentials: true })),
      ),
    ).rejects.toThrow(`give ${EMAIL} access to the Google Ads account 123`);
  });

  it('says how to provide credentials when there are none', async () => {
    await start();
    process.env.GOOGLE_APPLICATION_CREDENTIALS = path.join(tempDir(), 'missing.json');
    const send = googleAds.send(
      [conversion(1)],
      ctxFor(config({ serviceAccountKey: undefined, applicationDefaultCredentials: true })),
    );
    await expect(send).rejects.toThrow(ConfigError);
    await expect(send).rejects.toThrow(
      /^no Google credentials for the Data Manager API \(ENOENT.*missing\.json'\): on Cloud Run the job's service account is used; locally run `gcloud auth application-default login --scopes=https:\/\/www\.googleapis\.com\/auth\/datamanager/,
    );
    expect(fake.requests).toHaveLength(0);
  });
});

describe('a sync run with a service account key', () => {
  let wh: DuckDbWarehouse;
  beforeEach(async () => {
    wh = await openLocalWarehouse(tempDir(), { readOnly: false });
    await wh.exec('CREATE SCHEMA marts');
    await wh.exec(`CREATE TABLE marts.conversions (conversion_key VARCHAR, transaction_id VARCHAR,
      occurred_at TIMESTAMP, gclid VARCHAR, value DOUBLE, currency VARCHAR, consent_analytics BOOLEAN,
      consent_ads BOOLEAN, consent_ad_user_data BOOLEAN, consent_ad_personalization BOOLEAN, consent_source VARCHAR)`);
    await wh.exec(`INSERT INTO marts.conversions SELECT 'c' || i, 'T-' || i, TIMESTAMP '2026-03-10 11:00:00',
      'gclid-' || i, i, 'EUR', true, true, true, true, 'gcm' FROM range(0, 7) t(i)`);
  });
  afterEach(() => wh.close());
  const runOnce = (c: GoogleAdsConfig) =>
    runSync(parseSync({ name: 'conv_ads', destination: 'google-ads', mode: 'append', source: 'conversions' }), {
      warehouse: wh,
      destination: googleAds as never,
      destinationConfig: c,
      http: createHttpClient({ timeoutMs: 5000, userAgent: 't' }),
      logger: silentLogger,
      clock,
    });

  it('delivers, and renews the token before it expires while waiting for request status', async () => {
    // Tokens of 6 minutes: usable for 1 minute before the renewal margin; the status backoff (5, 10, 20, 40 s…)
    // crosses it, so a status read renews the token first.
    await start({ tokenLifetimeSeconds: 360, statusPollsUntilDone: 5 });
    const c = config({ batchSize: 3, verifyTimeoutMs: 10 * MINUTE });
    const result = await runOnce(c);
    expect(result.run).toMatchObject({ status: 'ok', delivered: 7, requests: 3 });
    expect(result.verification?.map((v) => v.status)).toEqual(['success', 'success', 'success']);
    expect(fake.conversions.size).toBe(7);
    expect(tokenCalls().length).toBeGreaterThanOrEqual(2);
    // No call was refused: 3 ingests and 6 reads per request (5 PROCESSING, then the result), nothing resent.
    expect(apiCalls()).toHaveLength(3 + 3 * 6);
    expect(new Set(apiCalls().map((_, i) => fake.tokens.get(bearer(i))?.principal))).toEqual(new Set([EMAIL]));
  });

  it('fails the run on PERMISSION_DENIED with what to grant in sync_runs', async () => {
    await start({ accountAccess: { '123': [] } });
    await expect(runOnce(config({ batchSize: 3 }))).rejects.toThrow(ConfigError);
    const runs = await wh.query<{ status: string; error: string }>(`SELECT status, error FROM _tagpipe.sync_runs`);
    expect(runs).toHaveLength(1);
    expect(runs[0].status).toBe('failed');
    expect(runs[0].error).toContain(`give ${EMAIL} access to the Google Ads account 123`);
    // At most the three batches already in flight were sent; none of them ingested.
    expect(apiCalls().length).toBeLessThanOrEqual(3);
    expect(fake.conversions.size).toBe(0);
  });
});
