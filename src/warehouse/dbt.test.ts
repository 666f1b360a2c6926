import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../core/errors';
import { findProjectRoot, runDbt } from './dbt';

/** A checkout with sql/dbt_project.yml and, optionally, a .venv/bin/dbt script standing in for dbt. */
function checkout(dbtScript?: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-dbt-'));
  fs.mkdirSync(path.join(root, 'sql', 'models'), { recursive: true });
  fs.writeFileSync(path.join(root, 'sql', 'dbt_project.yml'), 'name: x\n');
  if (dbtScript) {
    fs.mkdirSync(path.join(root, '.venv', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(root, '.venv', 'bin', 'dbt'), dbtScript, { mode: 0o755 });
  }
  return root;
}

describe('runDbt', () => {
  const roots: string[] = [];
  afterAll(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));

  test('without the venv it fails with what to run', async () => {
    const root = checkout();
    roots.push(root);
    const run = runDbt(['build'], { dataDir: path.join(root, 'data'), rootDir: root });
    await expect(run).rejects.toBeInstanceOf(ConfigError);
    await expect(run).rejects.toThrow(/\.\/run setup/);
  });

  test('passes project, profiles, target and data dir, streams every line, returns the exit code', async () => {
    const root = checkout(
      '#!/bin/sh\necho "args: $*"\necho "data: $TAGPIPE_DATA_DIR"\necho "target: $DBT_TARGET_PATH"\necho oops >&2\nexit 3\n',
    );
    roots.push(root);
    const dataDir = path.join(root, 'data');
    const lines: string[] = [];
    const result = await runDbt(['build', '--select', 'marts'], {
      dataDir,
      rootDir: root,
      target: 'prod',
      onLine: (line, stream) => lines.push(`${stream}: ${line}`),
    });
    expect(result.code).toBe(3);
    expect(result.targetPath).toBe(path.join(dataDir, 'dbt', 'target'));
    expect(lines.sort()).toEqual(
      [
        `stdout: args: build --select marts --project-dir ${root}/sql --profiles-dir ${root}/sql --target prod`,
        `stdout: data: ${dataDir}`,
        `stdout: target: ${path.join(dataDir, 'dbt', 'target')}`,
        'stderr: oops',
      ].sort(),
    );
  });
});

describe('findProjectRoot', () => {
  test('finds the checkout from a nested folder and refuses outside one', () => {
    const root = checkout();
    const nested = path.join(root, 'a', 'b');
    fs.mkdirSync(nested, { recursive: true });
    expect(findProjectRoot(nested)).toBe(root);
    expect(() => findProjectRoot(os.tmpdir())).toThrow(ConfigError);
    fs.rmSync(root, { recursive: true, force: true });
  });
});
