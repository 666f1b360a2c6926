/**
 * SQL style: `sqlfluff lint` over every model and data test of sql/, rendered by the dbt templater (sql/.sqlfluff)
 * against an empty local warehouse, so macros and refs resolve as dbt compiles them.
 * Needs the Python venv with dbt and sqlfluff (`./run setup`).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { findProjectRoot } from '../../src/warehouse/dbt';

const run = promisify(execFile);
const ROOT = findProjectRoot(__dirname);
const SQLFLUFF = path.join(ROOT, '.venv', 'bin', 'sqlfluff');

interface LintResult {
  filepath: string;
  violations: { code: string; description: string; start_line_no: number }[];
}

function sqlFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.sql'))
    .map((e) => path.relative(path.join(ROOT, 'sql'), path.join(e.parentPath, e.name)));
}

test('every model and data test passes sqlfluff lint', async () => {
  if (!fs.existsSync(SQLFLUFF)) throw new Error(`sqlfluff is not installed (${SQLFLUFF} is missing): run ./run setup`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-sqlfluff-'));
  try {
    let stdout: string;
    try {
      ({ stdout } = await run(SQLFLUFF, ['lint', 'models', 'tests', '--format', 'json', '--nofail'], {
        cwd: path.join(ROOT, 'sql'),
        env: { ...process.env, TAGPIPE_DATA_DIR: dataDir, DBT_TARGET_PATH: path.join(dataDir, 'target') },
        maxBuffer: 64 * 1024 * 1024,
      }));
    } catch (err) {
      throw new Error(`sqlfluff failed to run: ${(err as { stderr?: string }).stderr ?? String(err)}`);
    }
    const results = JSON.parse(stdout) as LintResult[];
    const linted = results.map((r) => path.normalize(r.filepath)).sort();
    const expected = [...sqlFiles(path.join(ROOT, 'sql', 'models')), ...sqlFiles(path.join(ROOT, 'sql', 'tests'))];
    // A file dbt cannot compile is skipped by the templater with only a warning: every file must be in the report.
    expect(linted).toEqual(expected.map((f) => path.normalize(f)).sort());
    const violations = results.flatMap((r) =>
      r.violations.map((v) => `${r.filepath}:${v.start_line_no} ${v.code} ${v.description}`),
    );
    expect(violations).toEqual([]);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}, 300_000);
