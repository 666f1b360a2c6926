/**
 * Wiring checks on the parsed Terraform module and example: names match the app's config defaults, the raw
 * tables match contract 3, subscriptions write metadata, identities are separate and least-privilege, every
 * secret, job and alert is connected to what it serves.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ENV_MAP, parseConfig } from '../../src/core/config';
import { eventAttributes, type CanonicalEvent } from '../../src/core/event';
import { RAW_COLUMNS } from '../../src/warehouse/types';
import {
  SAMPLE_VARS,
  evaluate,
  evaluateAll,
  declaredStrings,
  instancesOfType,
  variableDefault,
  EXAMPLE_DIR,
  MODULE_DIR,
  ROOT,
  block,
  blocks,
  entries,
  loadModule,
  ref,
  resource,
  resourceRefs,
  resourcesOfType,
  strings,
  type Body,
  type TfDir,
} from './hcl';

let mod: TfDir;
let example: TfDir;

beforeAll(async () => {
  mod = await loadModule(MODULE_DIR);
  example = await loadModule(EXAMPLE_DIR);
});

/** What a Cloud Run container runs: command (replacing the image ENTRYPOINT) followed by args. */
function commandLine(c: Body): string[] {
  return [...(evaluateAll(mod, c.command) as string[]), ...(evaluateAll(mod, c.args) as string[])];
}

/** Config defaults as the app computes them, without any tagpipe.yaml or environment. */
function appDefaults() {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-tf-'));
  try {
    return parseConfig({}, { cwd });
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

/** Env variable names set on a Cloud Run container: literal env blocks and dynamic ones over a local map. */
function containerEnv(tf: TfDir, container: Body): { plain: Record<string, unknown>; secretRefs: string[] } {
  const plain: Record<string, unknown> = {};
  const secretRefs: string[] = [];
  for (const env of blocks(container, 'env')) plain[env.name as string] = env.value;
  const dynamic = (container.dynamic ?? {}) as Record<string, Body[]>;
  for (const d of dynamic.env ?? []) {
    const source = ref(d.for_each);
    const content = block(d, 'content');
    const isSecret = 'value_source' in content;
    let map: unknown;
    const local = source && /^local\.([a-z0-9_]+)$/.exec(source);
    const variable = source && /^var\.([a-z0-9_]+)$/.exec(source);
    if (local) map = tf.locals[local[1]];
    else if (variable) map = variableDefault(tf, variable[1]) ?? {};
    else throw new Error(`env for_each ${String(d.for_each)} is neither a local nor a variable`);
    if (isSecret) {
      secretRefs.push(...strings(content).flatMap(resourceRefs), ...strings(map).flatMap(resourceRefs));
      if (typeof map === 'string') for (const k of map.matchAll(/\b([A-Z][A-Z0-9_]+)\s*=/g)) plain[k[1]] = '(secret)';
      else if (map && typeof map === 'object') for (const k of Object.keys(map)) plain[k] = '(secret)';
    } else if (typeof map === 'string') {
      // merge(local.base, cond ? { NAME = … } : {}, …): the base object plus the names of the optional ones.
      const base = /local\.([a-z0-9_]+)/.exec(map);
      if (base) Object.assign(plain, tf.locals[base[1]] as Body);
      for (const k of map.matchAll(/\b([A-Z][A-Z0-9_]+)\s*=\s*([^}]+)\}/g)) plain[k[1]] = `\${${k[2].trim()}}`;
    } else {
      Object.assign(plain, map as Body);
    }
  }
  return { plain, secretRefs };
}

/** The single container of a Cloud Run service or job resource. */
function container(body: Body, kind: 'service' | 'job'): Body {
  const template = block(body, 'template');
  return block(kind === 'service' ? template : block(template, 'template'), 'containers');
}

function serviceAccountOf(body: Body, kind: 'service' | 'job'): string {
  const template = block(body, 'template');
  const inner = kind === 'service' ? template : block(template, 'template');
  const m = /google_service_account\.workload\["([a-z-]+)"\]\.email/.exec(String(inner.service_account));
  if (!m) throw new Error(`service_account ${String(inner.service_account)} is not a workload identity`);
  return m[1];
}

function cloudRunWorkloads(tf: TfDir): Array<{ key: string; kind: 'service' | 'job'; body: Body }> {
  return [
    ...resourcesOfType(tf, 'google_cloud_run_v2_service').map(([key, body]) => ({
      key,
      kind: 'service' as const,
      body,
    })),
    ...resourcesOfType(tf, 'google_cloud_run_v2_job').map(([key, body]) => ({ key, kind: 'job' as const, body })),
  ];
}

describe('terraform variables', () => {
  test('every variable in the module and the example has a type and a description', () => {
    for (const tf of [mod, example]) {
      expect(tf.variables.size).toBeGreaterThan(0);
      for (const [name, v] of tf.variables) {
        expect({ name, type: typeof v.type === 'string' && v.type.startsWith('${') }).toEqual({ name, type: true });
        expect({ name, description: typeof v.description === 'string' && v.description.length > 10 }).toEqual({
          name,
          description: true,
        });
      }
    }
  });

  test('moved blocks carry renamed resources and instance keys to declared addresses', () => {
    const moves = [...mod.files.values()].flatMap((doc) => blocks(doc, 'moved'));
    expect(moves.length).toBeGreaterThan(0);
    for (const move of moves) {
      const [from, to] = [ref(move.from), ref(move.to)];
      const base = (address: string | null) => String(address).replace(/\[.*$/, '');
      // Either the old resource is gone, or only an instance key changed within the same resource.
      const stillDeclared = mod.resources.has(base(from));
      expect({ from, ok: from !== to && (!stillDeclared || base(from) === base(to)) }).toEqual({ from, ok: true });
      expect({ to, declared: mod.resources.has(base(to)) }).toEqual({ to, declared: true });
      const [type, name] = base(to).split('.');
      const key = /\["([^"]+)"\]$/.exec(String(to))?.[1];
      const target = resource(mod, base(to));
      if (typeof target.for_each === 'object') {
        // A literal for_each map: the key must be one of its keys.
        expect(instancesOfType(mod, type).map(([n]) => n)).toContain(`${name}["${key}"]`);
      } else {
        expect(target.for_each).toBeDefined();
      }
    }
  });

  test('module inputs that take free-form strings are validated', () => {
    const free = [...mod.variables].filter(([, v]) => v.type === '${string}' && v.default !== null);
    const unvalidated = [...mod.variables]
      .filter(([, v]) => v.type === '${string}' && !('validation' in v))
      .map(([n]) => n);
    expect(free.length).toBeGreaterThan(5);
    // Only genuinely free text (a time zone, a log filter) goes without a validation rule.
    expect(unvalidated.sort()).toEqual(['publish_error_log_filter', 'schedule_time_zone']);
  });

  test('every var., local. and resource reference points at something declared', () => {
    for (const tf of [mod, example]) {
      const all = [...tf.files.values()].flatMap(declaredStrings);
      for (const s of all) {
        for (const m of s.matchAll(/(?<![\w.])var\.([a-z0-9_]+)/g))
          expect(`var.${m[1]}`).toBe(tf.variables.has(m[1]) ? `var.${m[1]}` : 'undeclared');
        for (const m of s.matchAll(/(?<![\w.])local\.([a-z0-9_]+)/g))
          expect(`local.${m[1]}`).toBe(m[1] in tf.locals ? `local.${m[1]}` : 'undeclared');
        for (const r of resourceRefs(s)) expect(r).toBe(tf.resources.has(r) ? r : 'undeclared');
        for (const m of s.matchAll(/data\.(google_[a-z0-9_]+)\.([a-z0-9_]+)/g))
          expect(tf.data.has(`${m[1]}.${m[2]}`)).toBe(true);
        for (const m of s.matchAll(/(?<![\w.])module\.([a-z0-9_]+)/g)) expect(tf.modules.has(m[1])).toBe(true);
      }
    }
  });
});

describe('names shared with the app', () => {
  test('topic, dataset and location defaults are the app config defaults', () => {
    const cfg = appDefaults();
    expect(variableDefault(mod, 'topic_events')).toBe(cfg.bus.topics.events);
    expect(variableDefault(mod, 'topic_invalid')).toBe(cfg.bus.topics.invalid);
    expect(variableDefault(mod, 'dataset_raw')).toBe(cfg.warehouse.rawDataset);
    expect(variableDefault(mod, 'dataset_marts')).toBe(cfg.warehouse.martsDataset);
    expect(variableDefault(mod, 'dataset_state')).toBe(cfg.warehouse.stateDataset);
    expect(variableDefault(mod, 'bigquery_location')).toBe(cfg.warehouse.location);
  });

  test('the topics and datasets are named by those variables', () => {
    expect(resource(mod, 'google_pubsub_topic.events').name).toBe('${var.topic_events}');
    expect(resource(mod, 'google_pubsub_topic.invalid').name).toBe('${var.topic_invalid}');
    expect(resource(mod, 'google_bigquery_dataset.raw').dataset_id).toBe('${var.dataset_raw}');
    expect(resource(mod, 'google_bigquery_dataset.marts').dataset_id).toBe('${var.dataset_marts}');
    expect(resource(mod, 'google_bigquery_dataset.state').dataset_id).toBe('${var.dataset_state}');
    for (const [, ds] of resourcesOfType(mod, 'google_bigquery_dataset')) {
      expect(ds.location).toBe('${var.bigquery_location}');
      expect(ds.labels).toBe('${local.labels}');
    }
  });
});

describe('raw landing (contract 3)', () => {
  const CONTRACT_TYPES: Record<string, string> = {
    subscription_name: 'STRING',
    message_id: 'STRING',
    publish_time: 'TIMESTAMP',
    data: 'JSON',
    attributes: 'JSON',
  };

  test('the contract types cover exactly the app-side raw columns', () => {
    expect(Object.keys(CONTRACT_TYPES)).toEqual([...RAW_COLUMNS]);
  });

  test('raw.events and raw.events_invalid have exactly the contract columns, partitioned by day on publish_time', () => {
    const schema = mod.locals.raw_schema as Array<{ name: string; type: string }>;
    expect(schema.map((c) => [c.name, c.type])).toEqual(Object.entries(CONTRACT_TYPES));
    const tables = instancesOfType(mod, 'google_bigquery_table');
    expect(tables.map(([, t]) => t.table_id).sort()).toEqual(['events', 'events_invalid']);
    for (const [, table] of tables) {
      expect(table.dataset_id).toBe('${google_bigquery_dataset.raw.dataset_id}');
      expect(table.schema).toBe('${jsonencode(local.raw_schema)}');
      const partitioning = block(table, 'time_partitioning');
      expect(partitioning.type).toBe('DAY');
      expect(partitioning.field).toBe('publish_time');
      expect(String(partitioning.expiration_ms)).toContain('local.raw_partition_expiration_ms');
      expect(String(table.clustering)).toContain('var.raw_clustering_fields');
    }
    expect(String(mod.locals.raw_partition_expiration_ms)).toContain('var.raw_partition_expiration_days');
  });

  test('BigQuery subscriptions land each topic in its own raw table with write_metadata', () => {
    const bq = instancesOfType(mod, 'google_pubsub_subscription').filter(([, s]) => 'bigquery_config' in s);
    const landing = Object.fromEntries(
      bq.map(([, s]) => {
        const cfg = block(s, 'bigquery_config');
        expect(cfg.write_metadata).toBe(true);
        expect(cfg.use_topic_schema).toBe(false);
        expect(cfg.use_table_schema ?? false).toBe(false);
        expect(block(s, 'dead_letter_policy').max_delivery_attempts).toBe('${var.bigquery_max_delivery_attempts}');
        const table = /google_bigquery_table\.raw\["([a-z_]+)"\]\.table_id\}$/.exec(String(cfg.table));
        expect(String(cfg.table)).toMatch(/^\$\{var\.project_id\}\.\$\{google_bigquery_dataset\.raw\.dataset_id\}\./);
        return [String(s.topic), table?.[1]];
      }),
    );
    expect(landing).toEqual({
      '${google_pubsub_topic.events.id}': 'events',
      '${google_pubsub_topic.invalid.id}': 'events_invalid',
    });
  });

  test('the Pub/Sub service agent may write the raw tables and nothing is granted on the dataset', () => {
    const grant = resource(mod, 'google_bigquery_table_iam_member.pubsub_writes_raw');
    expect(grant.role).toBe('roles/bigquery.dataEditor');
    expect(grant.member).toBe('${local.pubsub_service_agent}');
    // One grant per raw table, whatever tables the raw resource declares.
    expect(grant.for_each).toBe('${{ for name, table in google_bigquery_table.raw : name => table.table_id }}');
    expect(grant.table_id).toBe('${each.value}');
    expect(String(mod.locals.pubsub_service_agent)).toBe(
      'serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com',
    );
  });
});

describe('streaming push subscription', () => {
  test('pushes the filtered events topic to the streaming sync with OIDC, retry and dead-letter policies', () => {
    const sub = resource(mod, 'google_pubsub_subscription.events_stream');
    expect(sub.topic).toBe('${google_pubsub_topic.events.id}');
    expect(sub.filter).toBe('${var.stream_filter}');
    const push = block(sub, 'push_config');
    expect(push.push_endpoint).toBe('${google_cloud_run_v2_service.stream_sync.uri}');
    const oidc = block(push, 'oidc_token');
    expect(oidc.service_account_email).toBe('${google_service_account.workload["push"].email}');
    expect(oidc.audience).toBe('${google_cloud_run_v2_service.stream_sync.uri}');
    const retry = block(sub, 'retry_policy');
    expect(retry.minimum_backoff).toBe('${var.stream_retry_minimum_backoff}');
    expect(retry.maximum_backoff).toBe('${var.stream_retry_maximum_backoff}');
    const dlq = block(sub, 'dead_letter_policy');
    expect(dlq.dead_letter_topic).toBe('${google_pubsub_topic.dead_letter["events-stream"].id}');
    expect(dlq.max_delivery_attempts).toBe('${var.stream_max_delivery_attempts}');
  });

  test('the default filter uses only bus attributes (contract 2) with the values the collector writes', () => {
    const attrs = eventAttributes({
      event_id: 'e1',
      type: 'track',
      event: 'Order Completed',
      source: { id: 'web', protocol: 'segment' },
      consent: { ads: true, analytics: true },
      schema_version: 1,
    } as unknown as CanonicalEvent);
    const filter = String(variableDefault(mod, 'stream_filter'));
    const clauses = [...filter.matchAll(/attributes\.([a-z_]+)\s*=\s*"([^"]*)"/g)];
    expect(clauses.map((c) => c[1])).toEqual(['type', 'consent_ads']);
    for (const [, name, value] of clauses) expect(attrs[name]).toBe(value);
  });

  test('only the push identity may invoke the streaming sync, and the service agent mints its token', () => {
    const invokers = resourcesOfType(mod, 'google_cloud_run_v2_service_iam_member').filter(([, m]) =>
      String(m.name).includes('stream_sync'),
    );
    expect(invokers.map(([, m]) => [m.role, m.member])).toEqual([
      ['roles/run.invoker', '${google_service_account.workload["push"].member}'],
    ]);
    const token = resource(mod, 'google_service_account_iam_member.pubsub_mints_push_token');
    expect(token.service_account_id).toBe('${google_service_account.workload["push"].name}');
    expect(token.role).toBe('roles/iam.serviceAccountTokenCreator');
    expect(token.member).toBe('${local.pubsub_service_agent}');
  });

  test('every dead-letter topic keeps its messages in a subscription, with the service agent roles dead-lettering needs', () => {
    const subs = instancesOfType(mod, 'google_pubsub_subscription');
    const dlqTopics = subs
      .filter(([, s]) => 'dead_letter_policy' in s)
      .map(([name, s]) => [name, block(s, 'dead_letter_policy').dead_letter_topic]);
    expect(dlqTopics).toHaveLength(3);
    const keeper = resource(mod, 'google_pubsub_subscription.dead_letter');
    expect(keeper.for_each).toBe('${local.subscription_names}');
    expect(keeper.topic).toBe('${google_pubsub_topic.dead_letter[each.key].id}');
    expect(resource(mod, 'google_pubsub_topic.dead_letter').for_each).toBe('${local.subscription_names}');
    const keys = Object.keys(mod.locals.subscription_names as Body).sort();
    for (const [, topic] of dlqTopics) {
      const m = /google_pubsub_topic\.dead_letter\["([a-z-]+)"\]\.id/.exec(String(topic));
      expect(keys).toContain(m?.[1]);
    }
    const publish = resource(mod, 'google_pubsub_topic_iam_member.pubsub_dead_letter_publish');
    expect([publish.for_each, publish.role, publish.member]).toEqual([
      '${google_pubsub_topic.dead_letter}',
      'roles/pubsub.publisher',
      '${local.pubsub_service_agent}',
    ]);
    const subscribe = resource(mod, 'google_pubsub_subscription_iam_member.pubsub_dead_letter_subscribe');
    expect([subscribe.role, subscribe.member]).toEqual(['roles/pubsub.subscriber', '${local.pubsub_service_agent}']);
    expect(subscribe.for_each).toBe('${local.watched_subscriptions}');
    const covered = strings(mod.locals.watched_subscriptions).flatMap(resourceRefs).sort();
    const delivering = dlqTopics.map(([name]) => `google_pubsub_subscription.${String(name).replace(/\[.*$/, '')}`);
    expect(covered).toEqual([...new Set(delivering)].sort());
    for (const [, s] of subs) expect(block(s, 'expiration_policy').ttl).toBe('');
  });
});

describe('identities and IAM', () => {
  const allRoles = (tf: TfDir) =>
    [...tf.files.values()].flatMap((doc) =>
      entries(doc)
        .filter((e) => e.key === 'role')
        .flatMap((e) => strings(e.value)),
    );

  test('no primitive role anywhere and no authoritative IAM resource', () => {
    for (const tf of [mod, example]) {
      const text = [...tf.files.values()].flatMap(strings).join('\n');
      expect(text).not.toMatch(/roles\/(owner|editor|viewer)\b/);
      for (const key of tf.resources.keys()) expect(key).not.toMatch(/_iam_(policy|binding)\./);
    }
    const roles = allRoles(mod);
    expect(roles.length).toBeGreaterThan(10);
    for (const role of roles) expect(role).toMatch(/^roles\/[a-z]+\.[A-Za-z]+$/);
  });

  test('the only project-wide grant is BigQuery job user', () => {
    const project = resourcesOfType(mod, 'google_project_iam_member');
    expect(project.map(([, m]) => m.role)).toEqual(['roles/bigquery.jobUser']);
  });

  test('each workload runs as its own service account', () => {
    const workloads = mod.locals.workloads as Body;
    const ids = Object.keys(workloads);
    expect(new Set(ids).size).toBe(ids.length);
    expect(resource(mod, 'google_service_account.workload').account_id).toBe('${local.prefix}-${each.key}');
    const runAs = cloudRunWorkloads(mod).map((w) => [w.key, serviceAccountOf(w.body, w.kind)]);
    expect(Object.fromEntries(runAs)).toEqual({
      collector: 'collector',
      stream_sync: 'stream-sync',
      models: 'models',
      batch_sync: 'batch-sync',
    });
    const callers = [
      block(block(resource(mod, 'google_pubsub_subscription.events_stream'), 'push_config'), 'oidc_token')
        .service_account_email,
      ...instancesOfType(mod, 'google_cloud_scheduler_job').map(
        ([, j]) => block(block(j, 'http_target'), 'oauth_token').service_account_email,
      ),
    ].map((e) => /workload\["([a-z-]+)"\]/.exec(String(e))?.[1]);
    expect(callers).toEqual(['push', 'scheduler', 'scheduler']);
    const used = new Set([...runAs.map(([, sa]) => sa), ...callers]);
    expect([...used].sort()).toEqual([...ids].sort());
    // The longest account id must fit the 30-character limit with the longest allowed prefix (14).
    for (const id of ids) expect(14 + 1 + id.length).toBeLessThanOrEqual(30);
  });

  test('the collector may publish only to its two topics', () => {
    const grants = resourcesOfType(mod, 'google_pubsub_topic_iam_member').filter(([, g]) =>
      String(g.member).includes('collector'),
    );
    expect(grants).toHaveLength(1);
    const [, grant] = grants[0];
    expect(grant.role).toBe('roles/pubsub.publisher');
    expect(grant.for_each).toEqual({
      events: '${google_pubsub_topic.events.name}',
      invalid: '${google_pubsub_topic.invalid.name}',
    });
    const collectorRoles = [...mod.resources.values()]
      .filter((r) => String(r.member).includes('workload["collector"]'))
      .map((r) => r.role)
      .sort();
    expect(collectorRoles).toEqual([
      'roles/pubsub.publisher',
      'roles/secretmanager.secretAccessor',
      'roles/secretmanager.secretAccessor',
    ]);
  });

  test('views in marts may read the model datasets, so syncs need read access to marts only', () => {
    const access = resource(mod, 'google_bigquery_dataset_access.marts_views');
    expect(access.for_each).toBe('${google_bigquery_dataset.model}');
    expect(access.dataset_id).toBe('${each.value.dataset_id}');
    const authorized = block(access, 'dataset');
    expect(authorized.target_types).toEqual(['VIEWS']);
    expect(block(authorized, 'dataset').dataset_id).toBe('${google_bigquery_dataset.marts.dataset_id}');
  });

  test('BigQuery grants follow what each workload reads and writes', () => {
    const grants = resourcesOfType(mod, 'google_bigquery_dataset_iam_member').flatMap(([, g]) => {
      const who = [...strings(g.member), ...strings(g.for_each)].join(' ');
      const workload = /workload\[(?:"([a-z-]+)"|each\.key)\]/.exec(String(g.member));
      const names = workload?.[1] ? [workload[1]] : [...who.matchAll(/"([a-z]+-sync)"/g)].map((m) => m[1]);
      const datasets = [...strings(g.dataset_id), ...strings(g.for_each)].flatMap((s) =>
        [...s.matchAll(/google_bigquery_dataset\.([a-z]+)/g)].map((m) => m[1]),
      );
      return names.flatMap((n) => [...new Set(datasets)].map((d) => `${n} ${g.role as string} ${d}`));
    });
    expect(grants.sort()).toEqual(
      [
        'models roles/bigquery.dataViewer raw',
        'models roles/bigquery.dataEditor marts',
        'models roles/bigquery.dataEditor model',
        'batch-sync roles/bigquery.dataViewer marts',
        'batch-sync roles/bigquery.dataEditor state',
        'stream-sync roles/bigquery.dataEditor state',
      ].sort(),
    );
  });
});

describe('secrets', () => {
  test('every secret a workload or binding references is a declared google_secret_manager_secret', () => {
    const declared = new Set(resourcesOfType(mod, 'google_secret_manager_secret').map(([n]) => n));
    const refs: string[] = [];
    for (const w of cloudRunWorkloads(mod)) {
      const c = container(w.body, w.kind);
      refs.push(...containerEnv(mod, c).secretRefs);
      const template = block(w.body, 'template');
      const inner = w.kind === 'service' ? template : block(template, 'template');
      for (const v of blocks(inner, 'volumes')) refs.push(...strings(v.secret).flatMap(resourceRefs));
    }
    for (const [, binding] of resourcesOfType(mod, 'google_secret_manager_secret_iam_member')) {
      expect(String(binding.secret_id)).toMatch(
        /^\$\{google_secret_manager_secret\.[a-z_]+(\[[^\]]+\])?\.secret_id\}$/,
      );
      refs.push(...resourceRefs(String(binding.secret_id)));
    }
    const secretRefs = refs.filter((r) => r.startsWith('google_secret_manager_secret.'));
    expect(new Set(secretRefs)).toEqual(
      new Set(
        ['write_keys', 'debug_token', 'sync_config', 'destination'].map((n) => `google_secret_manager_secret.${n}`),
      ),
    );
    for (const r of secretRefs) expect(declared.has(r.split('.')[1])).toBe(true);
    // Nothing names a secret by a literal id: env refs and volumes go through a secret resource (or the
    // dynamic block's map of them).
    for (const e of [...mod.files.values()].flatMap((d) => entries(d))) {
      if (e.key === 'secret' && typeof e.value === 'string') {
        expect(e.value).toMatch(
          /^\$\{(google_secret_manager_secret\.[a-z_]+(\[[^\]]+\])?\.(secret_id|id)|env\.value)\}$/,
        );
      }
    }
  });

  test('accessors go only to workloads whose containers read the secret', () => {
    const consumers = new Map<string, Set<string>>();
    for (const w of cloudRunWorkloads(mod)) {
      const sa = serviceAccountOf(w.body, w.kind);
      const c = container(w.body, w.kind);
      const template = block(w.body, 'template');
      const inner = w.kind === 'service' ? template : block(template, 'template');
      const used = [
        ...containerEnv(mod, c).secretRefs,
        ...blocks(inner, 'volumes').flatMap((v) => strings(v.secret).flatMap(resourceRefs)),
      ];
      for (const r of used.filter((x) => x.startsWith('google_secret_manager_secret.'))) {
        const name = r.split('.')[1];
        if (!consumers.has(name)) consumers.set(name, new Set());
        consumers.get(name)?.add(sa);
      }
    }
    const granted = new Map<string, Set<string>>();
    for (const [, b] of resourcesOfType(mod, 'google_secret_manager_secret_iam_member')) {
      expect(b.role).toBe('roles/secretmanager.secretAccessor');
      const secret = /google_secret_manager_secret\.([a-z_]+)/.exec(String(b.secret_id))?.[1] ?? '';
      const text = [...strings(b.member), ...strings(b.for_each)].join(' ');
      const names = [...text.matchAll(/"([a-z]+(?:-[a-z]+)?)"/g)]
        .map((m) => m[1])
        .filter((n) => n in (mod.locals.workloads as Body));
      if (!granted.has(secret)) granted.set(secret, new Set());
      for (const n of names) granted.get(secret)?.add(n);
    }
    expect(Object.fromEntries([...granted].map(([k, v]) => [k, [...v].sort()]))).toEqual(
      Object.fromEntries([...consumers].map(([k, v]) => [k, [...v].sort()])),
    );
    expect(consumers.get('write_keys')).toEqual(new Set(['collector']));
  });
});

describe('workloads', () => {
  test('the collector env is the app env contract and parses into a valid gcp config', () => {
    const c = container(resource(mod, 'google_cloud_run_v2_service.collector'), 'service');
    const { plain } = containerEnv(mod, c);
    for (const name of Object.keys(plain)) expect(Object.keys(ENV_MAP)).toContain(name);
    expect(Object.keys(plain)).not.toContain('PORT'); // Cloud Run sets it and refuses it in the spec
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(plain)) {
      if (value === '(secret)') continue;
      if (
        /^\$\{(var\.(ga4_measurement_ids|cookie_domain)|join\(",", var\.ga4_measurement_ids\))\}$/.test(String(value))
      )
        continue;
      env[name] = String(evaluate(mod, value));
    }
    env.TAGPIPE_WRITE_KEYS = 'k1-abcdefgh,k2-abcdefgh';
    const cfg = parseConfig(env, { cwd: fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-tf-')) });
    expect(cfg.mode).toBe('gcp');
    expect(cfg.bus.kind).toBe('pubsub');
    expect(cfg.bus.projectId).toBe(SAMPLE_VARS.project_id);
    expect(cfg.bus.topics).toEqual({ events: 'events', invalid: 'events-invalid' });
    expect(cfg.cors.origins).toEqual(SAMPLE_VARS.cors_origins);
    expect(cfg.server.trustProxyHops).toBe(2);
    const headers = mod.locals.geo_headers as Record<string, string>;
    expect(cfg.geo).toEqual({ countryHeader: headers.country, regionHeader: headers.region, cityHeader: headers.city });
    expect(Object.keys(plain)).toEqual(
      expect.arrayContaining([
        'TAGPIPE_WRITE_KEYS',
        'TAGPIPE_DEBUG_TOKEN',
        'TAGPIPE_GA4_MEASUREMENT_IDS',
        'TAGPIPE_COOKIE_DOMAIN',
      ]),
    );
  });

  test('the collector is reachable only through the load balancer and is probed on /healthz', () => {
    const svc = resource(mod, 'google_cloud_run_v2_service.collector');
    expect(svc.ingress).toBe('INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER');
    const c = container(svc, 'service');
    expect(commandLine(c)).toEqual(['node', 'dist/src/cli/main.js', 'collect']);
    expect(block(block(c, 'startup_probe'), 'http_get').path).toBe('/healthz');
    expect(block(block(c, 'liveness_probe'), 'http_get').path).toBe('/healthz');
    const scaling = block(block(svc, 'template'), 'scaling');
    expect([scaling.min_instance_count, scaling.max_instance_count]).toEqual([
      '${var.collector_min_instances}',
      '${var.collector_max_instances}',
    ]);
    expect(block(svc, 'template').max_instance_request_concurrency).toBe('${var.collector_concurrency}');
    expect(block(c, 'resources').limits).toEqual({ cpu: '${var.collector_cpu}', memory: '${var.collector_memory}' });
    const publicGrants = resourcesOfType(mod, 'google_cloud_run_v2_service_iam_member').filter(([, m]) =>
      /^all(Authenticated)?Users$/.test(String(m.member)),
    );
    expect(publicGrants.map(([, m]) => m.name)).toEqual(['${google_cloud_run_v2_service.collector.name}']);
  });

  test('the load balancer serves the domain over HTTPS, adds the geo headers the collector reads and redirects HTTP', () => {
    const neg = resource(mod, 'google_compute_region_network_endpoint_group.collector');
    expect(neg.network_endpoint_type).toBe('SERVERLESS');
    expect(block(neg, 'cloud_run').service).toBe('${google_cloud_run_v2_service.collector.name}');
    const backend = resource(mod, 'google_compute_backend_service.collector');
    expect(block(backend, 'backend').group).toBe('${google_compute_region_network_endpoint_group.collector.id}');
    expect(backend.load_balancing_scheme).toBe('EXTERNAL_MANAGED');
    const headers = evaluateAll(mod, backend.custom_request_headers);
    const names = mod.locals.geo_headers as Record<string, string>;
    expect(headers).toEqual([
      `${names.country}:{client_region}`,
      `${names.region}:{client_region_subdivision}`,
      `${names.city}:{client_city}`,
    ]);
    expect(String(backend.security_policy)).toMatch(
      /var\.enable_cloud_armor \? google_compute_security_policy\.collector\[0\]\.id : null/,
    );
    expect(resource(mod, 'google_compute_security_policy.collector').count).toBe('${var.enable_cloud_armor ? 1 : 0}');
    expect(resource(mod, 'google_compute_url_map.collector').default_service).toBe(
      '${google_compute_backend_service.collector.id}',
    );
    expect(block(resource(mod, 'google_compute_managed_ssl_certificate.collector'), 'managed').domains).toEqual([
      '${var.domain}',
    ]);
    const https = resource(mod, 'google_compute_target_https_proxy.collector');
    expect(https.ssl_certificates).toEqual(['${google_compute_managed_ssl_certificate.collector.id}']);
    expect(https.url_map).toBe('${google_compute_url_map.collector.id}');
    const rules = Object.fromEntries(
      resourcesOfType(mod, 'google_compute_global_forwarding_rule').map(([, r]) => [r.port_range, r.target]),
    );
    expect(rules).toEqual({
      '443': '${google_compute_target_https_proxy.collector.id}',
      '80': '${google_compute_target_http_proxy.redirect.id}',
    });
    expect(resource(mod, 'google_compute_target_http_proxy.redirect').url_map).toBe(
      '${google_compute_url_map.redirect.id}',
    );
    expect(block(resource(mod, 'google_compute_url_map.redirect'), 'default_url_redirect').https_redirect).toBe(true);
  });

  test('the sync workloads read tagpipe.yaml from the mounted secret at TAGPIPE_CONFIG', () => {
    expect(evaluate(mod, '${local.config_path}')).toBe('/etc/tagpipe/tagpipe.yaml');
    const expectedArgs: Record<string, string[]> = {
      stream_sync: ['node', 'dist/src/cli/main.js', 'stream-sync'],
      batch_sync: ['node', 'dist/src/cli/main.js', 'sync', 'run', '--due'],
    };
    for (const w of cloudRunWorkloads(mod).filter((x) => x.key in expectedArgs)) {
      const c = container(w.body, w.kind);
      expect(commandLine(c)).toEqual(expectedArgs[w.key]);
      const { plain } = containerEnv(mod, c);
      expect(evaluate(mod, plain.TAGPIPE_CONFIG)).toBe('/etc/tagpipe/tagpipe.yaml');
      for (const name of Object.keys(plain)) expect([...Object.keys(ENV_MAP), 'TAGPIPE_CONFIG']).toContain(name);
      const mount = block(c, 'volume_mounts');
      expect(mount.mount_path).toBe('${local.config_dir}');
      const template = block(w.body, 'template');
      const volume = block(w.kind === 'service' ? template : block(template, 'template'), 'volumes');
      expect(volume.name).toBe(mount.name);
      const secret = block(volume, 'secret');
      expect(secret.secret).toBe('${google_secret_manager_secret.sync_config.secret_id}');
      expect(block(secret, 'items').path).toBe('${local.config_file}');
    }
  });

  test('the datasets for dbt custom schemas are the ones the dbt project builds', () => {
    const project = YAML.parse(fs.readFileSync(path.join(ROOT, 'sql', 'dbt_project.yml'), 'utf8')) as Body;
    const schemas = new Set(
      entries(project)
        .filter((e) => e.key === '+schema' || e.key === 'schema')
        .map((e) => String(e.value)),
    );
    expect(schemas.size).toBeGreaterThan(0);
    // dbt's default generate_schema_name writes custom schemas to <target dataset>_<schema>.
    const macros = path.join(ROOT, 'sql', 'macros');
    const overridden =
      fs.existsSync(macros) &&
      fs.readdirSync(macros, { recursive: true }).some((f) => {
        const file = path.join(macros, String(f));
        return fs.statSync(file).isFile() && fs.readFileSync(file, 'utf8').includes('macro generate_schema_name');
      });
    expect(overridden).toBe(false);
    expect(new Set(variableDefault(mod, 'model_dataset_suffixes') as string[])).toEqual(
      new Set([...schemas].map((s) => `_${s}`)),
    );
  });

  test('the models job sets the dbt prod profile variables', () => {
    const c = container(resource(mod, 'google_cloud_run_v2_job.models'), 'job');
    expect(c.image).toBe('${var.dbt_image}');
    expect(c.args).toBeUndefined(); // the dbt image's CMD runs the build
    const { plain } = containerEnv(mod, c);
    expect(Object.keys(plain).sort()).toEqual([
      'DBT_THREADS',
      'TAGPIPE_BQ_DATASET',
      'TAGPIPE_BQ_LOCATION',
      'TAGPIPE_BQ_PROJECT',
      'TAGPIPE_BQ_RAW_DATASET',
    ]);
    expect(plain.TAGPIPE_BQ_DATASET).toBe('${google_bigquery_dataset.marts.dataset_id}');
    expect(plain.TAGPIPE_BQ_RAW_DATASET).toBe('${google_bigquery_dataset.raw.dataset_id}');
    const profiles = path.join(ROOT, 'sql', 'profiles.yml');
    if (fs.existsSync(profiles)) {
      // Every env_var the profiles read without a default must be set on the job (keyfile is optional: ADC).
      const text = fs.readFileSync(profiles, 'utf8');
      const required = [...text.matchAll(/env_var\(\s*'([A-Z0-9_]+)'\s*\)/g)]
        .map((m) => m[1])
        .filter((n) => n.startsWith('TAGPIPE_BQ_'));
      for (const name of required) expect(Object.keys(plain)).toContain(name);
    }
  });

  test('every Cloud Run job is started by a Cloud Scheduler job whose identity may run it', () => {
    const jobs = resourcesOfType(mod, 'google_cloud_run_v2_job').map(([n]) => n);
    expect(jobs.sort()).toEqual(['batch_sync', 'models']);
    const schedulers = instancesOfType(mod, 'google_cloud_scheduler_job');
    const invoker = resource(mod, 'google_cloud_run_v2_job_iam_member.scheduler_runs_job');
    expect([invoker.role, invoker.member]).toEqual([
      'roles/run.invoker',
      '${google_service_account.workload["scheduler"].member}',
    ]);
    for (const job of jobs) {
      const matching = schedulers.filter(
        ([, s]) =>
          String(block(s, 'http_target').uri) === `\${local.run_api}/\${google_cloud_run_v2_job.${job}.name}:run`,
      );
      expect({ job, schedulers: matching.length }).toEqual({ job, schedulers: 1 });
      const [, s] = matching[0];
      const target = block(s, 'http_target');
      expect(target.http_method).toBe('POST');
      expect(block(target, 'oauth_token').scope).toBe('https://www.googleapis.com/auth/cloud-platform');
      expect(String(s.schedule)).toMatch(/^\$\{var\.[a-z_]+_schedule\}$/);
      expect(strings(invoker.for_each)).toContain(`\${google_cloud_run_v2_job.${job}.name}`);
    }
    expect(evaluate(mod, '${local.run_api}')).toBe(
      'https://run.googleapis.com/v2/projects/acme-shop-prod/locations/europe-west1/jobs',
    );
  });

  test('the APIs every used service needs are enabled', () => {
    const apis = new Set(
      mod.locals.apis === undefined
        ? []
        : strings(mod.locals.apis).flatMap((s) => s.match(/[a-z]+\.googleapis\.com/g) ?? []),
    );
    const needs: Record<string, string> = {
      google_cloud_run: 'run',
      google_pubsub: 'pubsub',
      google_bigquery: 'bigquery',
      google_secret_manager: 'secretmanager',
      google_cloud_scheduler: 'cloudscheduler',
      google_compute: 'compute',
      google_monitoring: 'monitoring',
      google_logging: 'logging',
      google_artifact_registry: 'artifactregistry',
    };
    for (const key of mod.resources.keys()) {
      const prefix = Object.keys(needs).find((p) => key.startsWith(p));
      if (prefix) expect(apis).toContain(`${needs[prefix]}.googleapis.com`);
    }
    // Called by the app rather than by a resource: the google-ads destination as the sync service accounts.
    expect(apis).toContain('datamanager.googleapis.com');
  });
});

describe('alerts', () => {
  const policies = () => resourcesOfType(mod, 'google_monitoring_alert_policy');
  // Filters with their `${local.x}` parts spelled out.
  const filters = (p: Body) =>
    entries(p)
      .filter((e) => e.key === 'filter' || e.key === 'denominator_filter')
      .flatMap((e) => strings(e.value))
      .map((f) =>
        f.replace(/\$\{local\.([a-z0-9_]+)\}/g, (m, name: string) =>
          typeof mod.locals[name] === 'string' ? String(mod.locals[name]) : m,
        ),
      );

  test('every alert notifies the configured channels', () => {
    expect(policies().length).toBeGreaterThanOrEqual(6);
    for (const [, p] of policies()) expect(p.notification_channels).toBe('${local.notification_channels}');
    expect(String(mod.locals.notification_channels)).toContain('var.notification_channels');
    expect(String(mod.locals.notification_channels)).toContain('google_monitoring_notification_channel.email');
  });

  test('the alerts watch collector 5xx, publish errors, invalid share, backlog age, dead letters and failed job runs', () => {
    const all = policies().map(([name, p]) => ({ name, text: filters(p).join('\n'), p }));
    const find = (re: RegExp) => all.filter((a) => re.test(a.text));
    const fivexx = find(/run\.googleapis\.com\/request_count[\s\S]*response_code_class = "5xx"/);
    expect(fivexx.map((a) => a.name)).toEqual(['collector_5xx']);
    expect(filters(fivexx[0].p).some((f) => f.includes('service_name') && !f.includes('5xx'))).toBe(true); // ratio denominator
    const publish = find(/logging\.googleapis\.com\/user\/\$\{google_logging_metric\.publish_errors\.name\}/);
    expect(publish.map((a) => a.name)).toEqual(['publish_errors']);
    expect(String(resource(mod, 'google_logging_metric.publish_errors').filter)).toContain(
      'var.publish_error_log_filter',
    );
    const invalid = find(/send_message_operation_count/);
    expect(invalid.map((a) => a.name)).toEqual(['invalid_ratio']);
    expect(invalid[0].text).toContain('google_pubsub_topic.invalid.name');
    expect(invalid[0].text).toContain('google_pubsub_topic.events.name');
    const age = find(/oldest_unacked_message_age/);
    expect(age.map((a) => a.name)).toEqual(['oldest_unacked']);
    expect(age[0].p.for_each).toBe('${local.watched_subscriptions}');
    const watched = strings(mod.locals.watched_subscriptions).flatMap(resourceRefs).sort();
    const delivering = resourcesOfType(mod, 'google_pubsub_subscription')
      .filter(([, s]) => 'dead_letter_policy' in s)
      .map(([n]) => `google_pubsub_subscription.${n}`)
      .sort();
    expect(watched).toEqual(delivering);
    const dlq = find(/num_undelivered_messages/);
    expect(dlq.map((a) => a.name)).toEqual(['dead_letter_backlog']);
    expect((dlq[0].p.dynamic as Record<string, Body[]>).conditions[0].for_each).toBe(
      '${google_pubsub_subscription.dead_letter}',
    );
    const jobs = find(/completed_execution_count[\s\S]*result = "failed"/);
    expect(jobs.map((a) => a.name)).toEqual(['job_failures']);
    expect(strings(mod.locals.watched_jobs).flatMap(resourceRefs).sort()).toEqual(
      resourcesOfType(mod, 'google_cloud_run_v2_job')
        .map(([n]) => `google_cloud_run_v2_job.${n}`)
        .sort(),
    );
    expect(mod.resources.has('google_monitoring_dashboard.tagpipe')).toBe(true);
  });
});

describe('examples/basic', () => {
  test('calls the module with every required input, and only with inputs the module declares', () => {
    expect(example.modules.size).toBe(1);
    const [call] = [...example.modules.values()];
    expect(path.resolve(EXAMPLE_DIR, String(call.source))).toBe(MODULE_DIR);
    const required = [...mod.variables].filter(([, v]) => !('default' in v)).map(([n]) => n);
    const given = Object.keys(call).filter((k) => !['source', 'depends_on', 'providers'].includes(k));
    for (const name of required) expect(given).toContain(name);
    for (const name of given) expect(mod.variables.has(name)).toBe(true);
    expect(required.sort()).toEqual([
      'app_image',
      'cors_origins',
      'dbt_image',
      'domain',
      'project_id',
      'region',
      'write_keys',
    ]);
  });

  test('ships a tagpipe.yaml and a tfvars example that set the required example inputs', () => {
    expect(fs.existsSync(path.join(EXAMPLE_DIR, 'tagpipe.yaml'))).toBe(true);
    expect(fs.existsSync(path.join(EXAMPLE_DIR, 'README.md'))).toBe(true);
    const tfvars = fs.readFileSync(path.join(EXAMPLE_DIR, 'terraform.tfvars.example'), 'utf8');
    const set = [...tfvars.matchAll(/^([a-z_]+)\s*=/gm)].map((m) => m[1]);
    const required = [...example.variables].filter(([, v]) => !('default' in v)).map(([n]) => n);
    for (const name of required) expect(set).toContain(name);
    for (const name of set) expect(example.variables.has(name)).toBe(true);
  });
});
