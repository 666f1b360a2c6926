/**
 * The destination catalogue stays consistent: every folder is registered and loadable by the sync engine, every
 * README documents the same sections, and every README's example tagpipe.yaml validates against the destination's
 * schema and the sync schema (so the docs cannot drift from the code).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { destinationNames, destinations, getDestination } from '../../destinations';
import { loadDestination } from '../../src/sync/engine';
import { parseSyncs } from '../../src/sync/config';

const ROOT = path.join(__dirname, '..', '..', 'destinations');
const folders = fs
  .readdirSync(ROOT, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

describe('destination registry', () => {
  it('registers every destination folder once, under its folder name', () => {
    expect([...destinationNames()].sort()).toEqual(folders);
    expect(folders).toEqual([
      'ga4-mp',
      'google-ads',
      'hubspot',
      'hubspot-events',
      'meta-audiences',
      'meta-capi',
      'salesforce',
      'tiktok',
      'webhook',
    ]);
    expect(new Set(destinations.map((d) => d.name)).size).toBe(destinations.length);
    expect(getDestination('nope')).toBeUndefined();
  });

  it('lists every destination and its secrets in the catalogue README', () => {
    const catalogue = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const destination of destinations) {
      expect(catalogue).toContain(`[\`${destination.name}\`](${destination.name}/README.md)`);
      for (const secret of destination.secrets ?? []) expect(catalogue).toContain(secret);
    }
  });

  it.each(folders)('%s is what the sync engine loads from its folder', (name) => {
    expect(loadDestination(name)).toBe(getDestination(name));
  });
});

describe.each(folders)('%s README', (name) => {
  const readme = fs.readFileSync(path.join(ROOT, name, 'README.md'), 'utf8');
  const destination = getDestination(name);
  if (!destination) throw new Error(`no destination ${name}`);

  it('has the documented sections', () => {
    for (const section of [
      '## Field mapping',
      '## Limits',
      '## Auth',
      '## Validation mode',
      '## Example sync config',
    ]) {
      expect(readme).toContain(section);
    }
  });

  it('documents every secret env var, and its example config validates', () => {
    for (const secret of destination.secrets ?? []) expect(readme).toContain(secret);
    const yaml = /## Example sync config[^\n]*\n+```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(yaml).toBeDefined();
    const referenced = [...(yaml ?? '').matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]);
    expect(referenced.every((v) => destination.secrets?.includes(v))).toBe(true);
    const doc = YAML.parse((yaml ?? '').replace(/\$\{[A-Z0-9_]+\}/g, 'test-secret-value-0123456789')) as {
      destinations: Record<string, Record<string, unknown>>;
      syncs: Record<string, unknown>[];
    };
    const parsed = destination.configSchema.safeParse(doc.destinations[name]);
    expect(parsed.success ? 'valid' : parsed.error.issues).toBe('valid');
    const syncs = parseSyncs({ syncs: doc.syncs, destinations: doc.destinations });
    expect(syncs.length).toBeGreaterThan(0);
    for (const sync of syncs) expect(sync.destination).toBe(name);
    const limits = typeof destination.limits === 'function' ? destination.limits(parsed.data) : destination.limits;
    expect(limits.maxBatchSize).toBeGreaterThan(0);
  });
});
