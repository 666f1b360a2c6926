/**
 * Checks on the container images without a Docker engine: the Dockerfiles are parsed into stages and
 * instructions, and what they copy and run is compared with the repository (tsconfig.build outputs, the CLI
 * entry, the dbt profile) and with what Terraform tells Cloud Run to run.
 */
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import YAML from 'yaml';
import { MODULE_DIR, ROOT, loadModule, type TfDir } from './hcl';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  image: string;
  name: string | null;
  steps: Instruction[];
}

/** Dockerfile → stages. Joins `\` continuations and drops comment lines, as the Dockerfile reference specifies. */
function parseDockerfile(file: string): Stage[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const logical: string[] = [];
  let current = '';
  for (const raw of lines) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && current === '')) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push((current + line).trim());
    current = '';
  }
  const stages: Stage[] = [];
  for (const text of logical.filter(Boolean)) {
    const [, op, args] = /^(\S+)\s+([\s\S]*)$/.exec(text) ?? [];
    if (!op) throw new Error(`cannot parse Dockerfile line: ${text}`);
    if (op.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ image: m?.[1] ?? args, name: m?.[2] ?? null, steps: [] });
    } else {
      if (stages.length === 0) throw new Error(`${op} before FROM in ${file}`);
      stages[stages.length - 1].steps.push({ op: op.toUpperCase(), args: args.replace(/\s+/g, ' ').trim() });
    }
  }
  return stages;
}

const ops = (stage: Stage, op: string) => stage.steps.filter((s) => s.op === op).map((s) => s.args);

/** COPY args → { from, sources, dest } (flags like --chown dropped). */
function copies(stage: Stage) {
  return ops(stage, 'COPY').map((args) => {
    const parts = args.split(' ');
    const from = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length) ?? null;
    const rest = parts.filter((p) => !p.startsWith('--'));
    return { from, sources: rest.slice(0, -1), dest: rest[rest.length - 1] };
  });
}

function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed)) throw new Error(`expected exec form (JSON array), got ${args}`);
  return parsed as string[];
}

function finalUser(stage: Stage): string | undefined {
  return ops(stage, 'USER').pop();
}

/** Where a COPY into WORKDIR lands, as a path relative to the app directory. */
function landing(dest: string, source: string): string {
  const base = dest.endsWith('/') || dest === './' || dest === '.' ? path.join(dest, path.basename(source)) : dest;
  return path.normalize(base).replace(/^\.\//, '');
}

function dockerignore(): string[] {
  return fs
    .readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')) as T;
}

let tf: TfDir;
beforeAll(async () => {
  tf = await loadModule(MODULE_DIR);
});

describe('Dockerfile (app image)', () => {
  const stages = () => parseDockerfile(path.join(ROOT, 'Dockerfile'));
  const final = () => stages()[stages().length - 1];

  test('is multi-stage on Node 22 LTS slim and runs as a non-root user', () => {
    const all = stages();
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const s of all) expect(s.image).toMatch(/^node:22(\.[0-9.]+)?-slim$/);
    const user = finalUser(final());
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:.*)?$/);
  });

  test('builds with npm ci and the build script, which compiles tsconfig.build.json to dist/', () => {
    const build = stages().find((s) => ops(s, 'RUN').some((r) => r.includes('npm run build')));
    expect(build).toBeDefined();
    if (!build) return;
    const runs = ops(build, 'RUN');
    expect(runs.findIndex((r) => /npm ci\b/.test(r))).toBeLessThan(runs.findIndex((r) => r.includes('npm run build')));
    const pkg = readJson<{ scripts: Record<string, string> }>('package.json');
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    // Every folder tsconfig.build.json compiles is in the build stage, with both tsconfig files.
    const buildCfg = readJson<{ include: string[] }>('tsconfig.build.json');
    const copied = copies(build).flatMap((c) => c.sources);
    for (const dir of buildCfg.include) expect(copied).toContain(dir);
    expect(copied).toEqual(
      expect.arrayContaining(['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json']),
    );
  });

  test('the runtime stage holds production dependencies, dist/, bin/ and the SDK sources, never src/', () => {
    const all = stages();
    const runtime = final();
    const cp = copies(runtime);
    const nodeModules = cp.find((c) => c.sources.includes('/app/node_modules'));
    expect(nodeModules?.from).toBeDefined();
    const depsStage = all.find((s) => s.name === nodeModules?.from);
    expect(ops(depsStage ?? runtime, 'RUN').some((r) => /npm ci .*--omit=dev/.test(r))).toBe(true);
    const fromBuild = cp.filter((c) => c.from && c.from !== nodeModules?.from).flatMap((c) => c.sources);
    expect(fromBuild).toEqual(['/app/dist']);
    const fromContext = cp.filter((c) => !c.from).flatMap((c) => c.sources);
    expect(fromContext).toEqual(expect.arrayContaining(['package.json', 'bin', 'sdk/src']));
    for (const source of fromContext) {
      expect(source).not.toMatch(/^(\.|src|src\/.*|functions|destinations|test)$/);
      expect(fs.existsSync(path.join(ROOT, source))).toBe(true);
    }
    expect(ops(runtime, 'EXPOSE')).toEqual(['8080']);
  });

  test('the entrypoint is the compiled CLI that Terraform runs, built from src/cli/main.ts', () => {
    const entry = execForm(ops(final(), 'ENTRYPOINT')[0]);
    expect(entry).toEqual(tf.locals.cli);
    const tsconfig = readJson<{ compilerOptions: { outDir: string; rootDir: string } }>('tsconfig.json');
    const built = path.normalize(entry[1]);
    const outDir = path.normalize(tsconfig.compilerOptions.outDir);
    expect(built.startsWith(`${outDir}${path.sep}`)).toBe(true);
    const source = path.join(tsconfig.compilerOptions.rootDir, path.relative(outDir, built)).replace(/\.js$/, '.ts');
    expect(source).toBe(path.join('src', 'cli', 'main.ts'));
    expect(fs.existsSync(path.join(ROOT, source))).toBe(true);
    expect(execForm(ops(final(), 'CMD')[0])).toEqual(['collect']);
  });

  test('JSON files the compiled code requires by relative path exist in the runtime image', () => {
    // dist/ from the build stage holds only what tsc emits (.js, maps); JSON read by require() is not emitted.
    const runtime = copies(final()).flatMap((c) =>
      c.sources.map((src) => ({ at: landing(c.dest, src), compiledOnly: src === '/app/dist' })),
    );
    const dirs = readJson<{ include: string[] }>('tsconfig.build.json').include;
    const sources = dirs.flatMap((d) =>
      fs
        .readdirSync(path.join(ROOT, d), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
        .map((f) => path.join(d, f)),
    );
    for (const file of sources) {
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/require\('(\.{1,2}\/[^']+\.json)'\)/g)) {
        const fromDist = path.normalize(path.join('dist', path.dirname(file), m[1]));
        const present = runtime.some(
          ({ at, compiledOnly }) => fromDist === at || (!compiledOnly && fromDist.startsWith(`${at}${path.sep}`)),
        );
        expect({ file, requires: m[1], resolvesTo: fromDist, present }).toEqual({
          file,
          requires: m[1],
          resolvesTo: fromDist,
          present: true,
        });
      }
    }
    // The CLI reads its version from package.json next to dist/ (src/cli/main.ts looks two and three levels up).
    expect(runtime.some(({ at }) => at === 'package.json')).toBe(true);
  });

  test('everything the compiled code imports is a production dependency (the runtime has no dev packages)', () => {
    const pkg = readJson<{ dependencies: Record<string, string> }>('package.json');
    const dirs = readJson<{ include: string[]; exclude: string[] }>('tsconfig.build.json').include;
    const excluded = (f: string) => /(\.test\.ts$|(^|\/)(__fixtures__|testing)\/)/.test(f);
    const missing: string[] = [];
    let imports = 0;
    for (const d of dirs) {
      for (const f of fs.readdirSync(path.join(ROOT, d), { recursive: true }).map(String)) {
        if (!f.endsWith('.ts') || excluded(f)) continue;
        const text = fs.readFileSync(path.join(ROOT, d, f), 'utf8');
        // Type-only imports vanish in the build; value imports, side-effect imports and require() remain.
        const specs = [
          ...text.matchAll(/^import (?!type\b)[^;]*?from '([^']+)'/gm),
          ...text.matchAll(/^import '([^']+)'/gm),
          ...text.matchAll(/\brequire\('([^']+)'\)/g),
          ...text.matchAll(/\bimport\('([^']+)'\)/g),
        ].map((m) => m[1]);
        for (const spec of specs) {
          if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec)) continue;
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
          imports++;
          if (!(name in pkg.dependencies)) missing.push(`${d}/${f}: ${spec}`);
        }
      }
    }
    expect(imports).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });

  test('the container port is the one the Cloud Run services listen on', () => {
    for (const key of ['google_cloud_run_v2_service.collector', 'google_cloud_run_v2_service.stream_sync']) {
      const template = (tf.resources.get(key)?.template as Array<Record<string, unknown>>)[0];
      const container = (template.containers as Array<Record<string, unknown>>)[0];
      const port = (container.ports as Array<Record<string, unknown>>)[0].container_port;
      expect(String(port)).toBe(ops(final(), 'EXPOSE')[0]);
    }
  });
});

describe('Dockerfile.dbt (models image)', () => {
  const stages = () => parseDockerfile(path.join(ROOT, 'Dockerfile.dbt'));

  test('installs requirements.txt with dbt-bigquery on Python slim and runs as a non-root user', () => {
    const [stage] = stages().slice(-1);
    expect(stage.image).toMatch(/^python:3\.[0-9]+-slim$/);
    expect(ops(stage, 'RUN').some((r) => /pip install .*-r requirements\.txt/.test(r))).toBe(true);
    expect(fs.readFileSync(path.join(ROOT, 'requirements.txt'), 'utf8')).toMatch(/^dbt-bigquery==/m);
    const user = finalUser(stage);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:.*)?$/);
  });

  test('runs `dbt build --target prod` on the copied dbt project with its profiles', () => {
    const [stage] = stages().slice(-1);
    const cp = copies(stage);
    expect(cp.map((c) => c.sources).flat()).toEqual(expect.arrayContaining(['requirements.txt', 'sql']));
    const command = [...execForm(ops(stage, 'ENTRYPOINT')[0]), ...execForm(ops(stage, 'CMD')[0])];
    expect(command).toEqual(['dbt', 'build', '--target', 'prod']);
    const env = ops(stage, 'ENV').join(' ');
    const profilesDir = /DBT_PROFILES_DIR=(\S+)/.exec(env)?.[1];
    const workdirs = ops(stage, 'WORKDIR');
    expect(profilesDir).toBe('/app/sql');
    expect(workdirs[workdirs.length - 1]).toBe('/app/sql'); // dbt finds dbt_project.yml in the working directory
    const profiles = YAML.parse(fs.readFileSync(path.join(ROOT, 'sql', 'profiles.yml'), 'utf8')) as Record<
      string,
      { outputs: Record<string, { type: string }> }
    >;
    const project = YAML.parse(fs.readFileSync(path.join(ROOT, 'sql', 'dbt_project.yml'), 'utf8')) as {
      profile: string;
    };
    expect(profiles[project.profile].outputs.prod.type).toBe('bigquery');
  });
});

describe('.dockerignore', () => {
  test('keeps local state, dependencies and build output out of the build context, but not what the images copy', () => {
    const ignored = dockerignore();
    expect(ignored).toEqual(
      expect.arrayContaining(['.git', 'node_modules', 'dist', '.tagpipe', '.venv', 'sql/target']),
    );
    const copiedFromContext = ['Dockerfile', 'Dockerfile.dbt'].flatMap((f) =>
      parseDockerfile(path.join(ROOT, f)).flatMap((s) =>
        copies(s)
          .filter((c) => !c.from)
          .flatMap((c) => c.sources),
      ),
    );
    for (const source of copiedFromContext) {
      for (const pattern of ignored) {
        expect({ source, ignoredBy: source === pattern || source.startsWith(`${pattern}/`) ? pattern : null }).toEqual({
          source,
          ignoredBy: null,
        });
      }
    }
  });
});
