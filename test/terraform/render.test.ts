/**
 * Runs the module's provider-free parts with the real terraform binary: its variables (types and validation
 * rules) and the locals that render tagpipe.yaml for the sync workloads. Those need no provider, so `terraform
 * apply` works offline on a root made of just them. The rendered file is then read by the app's own config
 * reader and sync loader, with the environment the Cloud Run sync workloads get.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getDestination } from '../../destinations';
import { parseConfig } from '../../src/core/config';
import { parseSyncs } from '../../src/sync/config';
import { MODULE_DIR, ROOT, SAMPLE_VARS, evaluate, loadModule, type Body } from './hcl';

function findBinary(): string | null {
  for (const name of ['terraform', 'tofu']) {
    if (spawnSync(name, ['version'], { encoding: 'utf8' }).status === 0) return name;
  }
  return null;
}
const binary = findBinary();
if (!binary) {
  process.stderr.write(
    'test/terraform/render.test.ts: neither terraform nor tofu is on PATH; skipping the rendered-config checks ' +
      '(install Terraform from https://developer.hashicorp.com/terraform/install to run them)\n',
  );
}
const maybe = binary ? describe : describe.skip;

/** The first `locals { … }` block of a file, by brace matching (HCL strings here hold no braces). */
function firstLocalsBlock(file: string): string {
  const text = fs.readFileSync(file, 'utf8');
  const start = text.indexOf('locals {');
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '{') depth++;
    if (text[i] === '}' && --depth === 0) return text.slice(start, i + 1);
  }
  throw new Error(`unbalanced locals block in ${file}`);
}

let dir = '';
const env = { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null', TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' };

function terraform(args: string[]) {
  return spawnSync(binary ?? 'terraform', [...args], { cwd: dir, encoding: 'utf8', env });
}

/** Applies the provider-free root with these variable values; returns the rendered tagpipe.yaml or the error. */
function render(vars: Record<string, unknown>): { ok: true; yaml: string } | { ok: false; error: string } {
  fs.writeFileSync(path.join(dir, 'case.tfvars.json'), JSON.stringify(vars));
  const apply = terraform(['apply', '-auto-approve', '-input=false', '-no-color', '-var-file=case.tfvars.json']);
  if (apply.status !== 0) return { ok: false, error: `${apply.stdout}\n${apply.stderr}` };
  const out = terraform(['output', '-raw', 'sync_config']);
  if (out.status !== 0) throw new Error(out.stderr);
  return { ok: true, yaml: out.stdout };
}

const REQUIRED = {
  project_id: SAMPLE_VARS.project_id,
  region: SAMPLE_VARS.region,
  domain: SAMPLE_VARS.domain,
  cors_origins: SAMPLE_VARS.cors_origins,
  app_image: SAMPLE_VARS.app_image,
  dbt_image: SAMPLE_VARS.dbt_image,
  write_keys: ['0123456789abcdef0123456789abcdef'],
};

/** The tagpipe.yaml example of docs/deploy.md ("Add a sync"). */
function guideSyncExample(): string {
  const guide = fs.readFileSync(path.join(ROOT, 'docs', 'deploy.md'), 'utf8');
  const section = guide.slice(guide.indexOf('## 10. Add a sync'));
  const m = /```yaml\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('docs/deploy.md has no yaml example under "10. Add a sync"');
  return m[1];
}

maybe('module variables and the rendered tagpipe.yaml (terraform apply, no provider)', () => {
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-tf-render-'));
    fs.copyFileSync(path.join(MODULE_DIR, 'variables.tf'), path.join(dir, 'variables.tf'));
    fs.writeFileSync(
      path.join(dir, 'main.tf'),
      `${firstLocalsBlock(path.join(MODULE_DIR, 'secrets.tf'))}\n\noutput "sync_config" {\n  value = local.sync_config\n}\n`,
    );
    const init = terraform(['init', '-input=false', '-no-color']);
    if (init.status !== 0) throw new Error(`terraform init failed:\n${init.stdout}\n${init.stderr}`);
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the sync workloads read a tagpipe.yaml that carries the deployment settings and resolves secrets from env', async () => {
    const result = render({
      ...REQUIRED,
      dataset_raw: 'landing',
      dataset_marts: 'analytics',
      dataset_state: 'tagpipe_state',
      sync_config_yaml: guideSyncExample(),
      destination_secrets: { META_CAPI_ACCESS_TOKEN: 'tagpipe-meta-capi-access-token' },
    });
    if (!result.ok) throw new Error(result.error);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-tf-config-'));
    try {
      const file = path.join(work, 'tagpipe.yaml');
      fs.writeFileSync(file, result.yaml);
      // The environment the module gives both sync workloads (jobs.tf local.sync_env), plus the secret env var.
      const mod = await loadModule(MODULE_DIR);
      const syncEnv: Record<string, string> = {};
      for (const [name, value] of Object.entries(mod.locals.sync_env as Body))
        syncEnv[name] = String(evaluate(mod, value));
      expect(syncEnv.TAGPIPE_CONFIG).toBe('/etc/tagpipe/tagpipe.yaml');
      const cfg = parseConfig(
        { ...syncEnv, TAGPIPE_CONFIG: file, META_CAPI_ACCESS_TOKEN: 'EAAB-test-token' },
        { cwd: work },
      );
      expect(cfg.mode).toBe('gcp');
      expect(cfg.warehouse).toMatchObject({
        kind: 'bigquery',
        projectId: SAMPLE_VARS.project_id,
        location: 'US',
        rawDataset: 'landing',
        martsDataset: 'analytics',
        stateDataset: 'tagpipe_state',
      });
      expect(cfg.destinations['meta-capi']).toMatchObject({
        pixelId: '123456789012345',
        accessToken: 'EAAB-test-token',
      });
      const syncs = parseSyncs(cfg);
      expect(syncs.map((s) => [s.name, s.cadence])).toEqual([
        ['meta_purchases_stream', 'stream'],
        ['meta_purchases', '0 * * * *'],
      ]);
      const meta = getDestination('meta-capi');
      expect(meta).toBeDefined();
      expect(meta?.configSchema.safeParse(cfg.destinations['meta-capi']).success).toBe(true);
      // Without the secret in the environment the reader says which variable is missing.
      expect(() => parseConfig({ ...syncEnv, TAGPIPE_CONFIG: file }, { cwd: work })).toThrow(/META_CAPI_ACCESS_TOKEN/);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  test.each([
    ['a wildcard CORS origin', { cors_origins: ['*'] }, 'cors_origins must list at least one origin'],
    ['a domain with a scheme', { domain: 'https://collect.example.com' }, 'domain must be a lower-case host name'],
    ['a short write key', { write_keys: ['short'] }, 'write_keys must hold at least one key'],
    [
      'tagpipe.yaml that is not a mapping',
      { sync_config_yaml: '- just\n- a list\n' },
      'sync_config_yaml must be a YAML mapping',
    ],
    [
      'too few push attempts',
      { stream_max_delivery_attempts: 3 },
      'stream_max_delivery_attempts must be between 5 and 100',
    ],
    [
      'a prefix too long for service account ids',
      { name_prefix: 'tagpipe-production' },
      'name_prefix must be 2-14 characters',
    ],
    [
      'a lower-case credential env name',
      { destination_secrets: { meta_token: 'x' } },
      'destination_secrets keys must be',
    ],
    ['a JSON column as clustering key', { raw_clustering_fields: ['data'] }, 'raw_clustering_fields may name up to 4'],
    ['a dataset id with a hyphen', { dataset_marts: 'my-marts' }, 'dataset_marts must be a BigQuery dataset id'],
    ['an invalid topic id', { topic_events: 'ev' }, 'topic_events must be a valid Pub/Sub topic id'],
  ])('refuses %s with a message naming the input', (_label, bad, message) => {
    const result = render({ ...REQUIRED, ...bad });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.replace(/\s+/g, ' ')).toContain(message);
  });

  test('accepts the defaults of every optional input together with the required ones', () => {
    const result = render(REQUIRED);
    expect(result.ok).toBe(true);
  });
});
