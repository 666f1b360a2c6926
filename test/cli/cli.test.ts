/**
 * The tagpipe CLI as users run it (a child process): clear config errors with exit code 2, and `doctor`
 * checking config, data dir, dbt and the bus.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { tempDir } from '../helpers/stack';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'tagpipe.js');

function tagpipe(args: string[], env: Record<string, string> = {}, cwd = tempDir()) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('a bad setting exits 2 and names the field, what is expected and where it came from', () => {
  const r = tagpipe(['doctor'], { PORT: 'eighty' });
  expect(r.code).toBe(2);
  expect(r.err).toContain('server.port: expected number (from PORT)');
});

test('doctor checks the local set-up and prints the config without secrets', () => {
  const dataDir = tempDir();
  const r = tagpipe(['doctor', '--data-dir', dataDir, '--print-config'], {
    TAGPIPE_DEBUG_TOKEN: 'debug-token-secret-value',
  });
  expect(r.out).toMatch(/✓ config\s+no config file \(local defaults\); mode local, bus embedded, warehouse duckdb/);
  expect(r.out).toMatch(new RegExp(`✓ data dir\\s+${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is writable`));
  expect(r.out).toMatch(/✓ bus\s+embedded: reachable/);
  expect(r.out).toMatch(/[✓✗] dbt/);
  expect(r.out).not.toContain('debug-token-secret-value');
  expect(r.out).toContain('"token": "*** (24 chars)"');
});

test('--help lists every command', () => {
  const r = tagpipe(['--help']);
  expect(r.code).toBe(0);
  for (const cmd of ['start', 'collect', 'doctor', 'models', 'warehouse', 'sync'])
    expect(r.out).toMatch(new RegExp(`\\n\\s+${cmd}\\b`));
});
