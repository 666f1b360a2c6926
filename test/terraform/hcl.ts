/**
 * Reads the Terraform under terraform/ the way the tests need it: every .tf file parsed with @cdktf/hcl2json
 * (HCL → the JSON syntax Terraform itself accepts), merged per directory into resources, variables, locals,
 * outputs and module calls, plus small helpers to follow `${…}` references. `terraform validate` needs the
 * provider from the registry, which CI machines may not reach; these parsed checks run anywhere.
 */
import fs from 'node:fs';
import path from 'node:path';

// Loaded through require: the package's typings reference the DOM lib, which would leak DOM globals into the
// type-check of the whole project.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const hcl2json = require('@cdktf/hcl2json') as {
  parse: (file: string, text: string) => Promise<Record<string, unknown>>;
};

export const ROOT = path.resolve(__dirname, '..', '..');
export const TERRAFORM_DIR = path.join(ROOT, 'terraform');
export const MODULE_DIR = path.join(TERRAFORM_DIR, 'modules', 'tagpipe');
export const EXAMPLE_DIR = path.join(TERRAFORM_DIR, 'examples', 'basic');

export type Body = Record<string, unknown>;

export interface TfDir {
  dir: string;
  /** File name → parsed document. */
  files: Map<string, Body>;
  /** "type.name" → resource body. */
  resources: Map<string, Body>;
  /** "type.name" → data source body. */
  data: Map<string, Body>;
  variables: Map<string, Body>;
  outputs: Map<string, Body>;
  modules: Map<string, Body>;
  /** All `locals` blocks merged. */
  locals: Body;
}

/** Every .tf file under a directory tree (skipping .terraform caches). */
export function tfFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tfFiles(full));
    else if (entry.name.endsWith('.tf')) out.push(full);
  }
  return out.sort();
}

export async function parseFile(file: string): Promise<Body> {
  return hcl2json.parse(path.basename(file), fs.readFileSync(file, 'utf8'));
}

function single(value: unknown, what: string): Body {
  if (!Array.isArray(value) || value.length !== 1) throw new Error(`${what}: expected exactly one block`);
  return value[0] as Body;
}

function addUnique(map: Map<string, Body>, key: string, body: Body, file: string): void {
  if (map.has(key)) throw new Error(`${key} is declared twice (again in ${file})`);
  map.set(key, body);
}

/** Parses the .tf files directly in `dir` (one Terraform module) and merges them. */
export async function loadModule(dir: string): Promise<TfDir> {
  const result: TfDir = {
    dir,
    files: new Map(),
    resources: new Map(),
    data: new Map(),
    variables: new Map(),
    outputs: new Map(),
    modules: new Map(),
    locals: {},
  };
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.tf'))
    .sort();
  for (const name of files) {
    const doc = await parseFile(path.join(dir, name));
    result.files.set(name, doc);
    for (const [kind, target] of [
      ['resource', result.resources],
      ['data', result.data],
    ] as const) {
      for (const [type, byName] of Object.entries((doc[kind] ?? {}) as Record<string, Record<string, unknown>>)) {
        for (const [n, blocks] of Object.entries(byName))
          addUnique(target, `${type}.${n}`, single(blocks, `${type}.${n}`), name);
      }
    }
    for (const [kind, target] of [
      ['variable', result.variables],
      ['output', result.outputs],
      ['module', result.modules],
    ] as const) {
      for (const [n, blocks] of Object.entries((doc[kind] ?? {}) as Record<string, unknown>)) {
        addUnique(target, n, single(blocks, `${kind} ${n}`), name);
      }
    }
    for (const block of (doc.locals ?? []) as Body[]) {
      for (const [k, v] of Object.entries(block)) {
        if (k in result.locals) throw new Error(`local.${k} is declared twice (again in ${name})`);
        result.locals[k] = v;
      }
    }
  }
  return result;
}

export function resource(tf: TfDir, key: string): Body {
  const body = tf.resources.get(key);
  if (!body) throw new Error(`resource ${key} is not declared in ${tf.dir}`);
  return body;
}

export function resourcesOfType(tf: TfDir, type: string): Array<[string, Body]> {
  return [...tf.resources.entries()]
    .filter(([k]) => k.startsWith(`${type}.`))
    .map(([k, v]) => [k.slice(type.length + 1), v]);
}

/**
 * The instances Terraform would create of a resource type: a resource whose `for_each` is a literal map becomes
 * one instance per key, named `name["key"]`, with `each.key` and `each.value…` substituted into its body; any
 * other resource is one instance under its own name.
 */
export function instancesOfType(tf: TfDir, type: string): Array<[string, Body]> {
  return resourcesOfType(tf, type).flatMap(([name, body]): Array<[string, Body]> => {
    const forEach = body.for_each;
    if (!forEach || typeof forEach !== 'object' || Array.isArray(forEach)) return [[name, body]];
    const { for_each: _literal, ...rest } = body;
    return Object.entries(forEach as Body).map(([key, value]) => [
      `${name}["${key}"]`,
      substituteEach(rest, key, value) as Body,
    ]);
  });
}

function eachLookup(key: string, value: unknown, what: 'key' | 'value', fields: string): unknown {
  if (what === 'key') return key;
  let node = value;
  for (const field of fields.split('.').filter(Boolean)) node = (node as Body)[field];
  if (node === undefined) throw new Error(`each.value${fields} is not in the for_each map`);
  return node;
}

function substituteEach(value: unknown, key: string, each: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => substituteEach(v, key, each));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEach(v, key, each)]));
  if (typeof value !== 'string') return value;
  return value.replace(/\$\{([^${}]*)\}/g, (_whole, inner: string) => {
    const exact = /^\s*each\.(key|value)((?:\.[a-z0-9_]+)*)\s*$/.exec(inner);
    if (exact) return String(eachLookup(key, each, exact[1] as 'key' | 'value', exact[2]));
    const expression = inner.replace(/each\.(key|value)((?:\.[a-z0-9_]+)*)/g, (_m, what: string, fields: string) => {
      const found = eachLookup(key, each, what as 'key' | 'value', fields);
      return (typeof found === 'string' ? ref(found) : null) ?? JSON.stringify(found);
    });
    return `\${${expression}}`;
  });
}

/** Every string of a parsed file except in `moved` blocks, whose `from` names addresses that no longer exist. */
export function declaredStrings(doc: Body): string[] {
  return Object.entries(doc)
    .filter(([k]) => k !== 'moved')
    .flatMap(([, v]) => strings(v));
}

/** A nested block (hcl2json renders every block as an array of bodies): the only one, or an error. */
export function block(body: Body, name: string): Body {
  const value = body[name];
  if (!Array.isArray(value) || value.length === 0) throw new Error(`block ${name} is missing`);
  if (value.length !== 1) throw new Error(`block ${name} appears ${value.length} times`);
  return value[0] as Body;
}

export function blocks(body: Body, name: string): Body[] {
  const value = body[name];
  return Array.isArray(value) ? (value as Body[]) : [];
}

/** Every string anywhere inside a value. */
export function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

/** Every (key, value) pair anywhere inside a value, with the path of keys leading to it. */
export function entries(value: unknown, trail: string[] = []): Array<{ path: string[]; key: string; value: unknown }> {
  if (Array.isArray(value)) return value.flatMap((v) => entries(v, trail));
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [{ path: trail, key: k, value: v }, ...entries(v, [...trail, k])]);
}

/** The reference inside a string that is exactly one interpolation, e.g. "${var.x}" → "var.x"; else null. */
export function ref(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const m = /^\$\{([^${}]+)\}$/.exec(value.trim());
  return m ? m[1].trim() : null;
}

/** Resource references ("type.name") made anywhere in a string, with or without an index. */
export function resourceRefs(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?<![\w.])(google_[a-z0-9_]+)\.([a-z0-9_]+)/g)) out.push(`${m[1]}.${m[2]}`);
  return out;
}

/** Values used for variables without a default when evaluating simple expressions. */
export const SAMPLE_VARS: Record<string, unknown> = {
  project_id: 'acme-shop-prod',
  region: 'europe-west1',
  domain: 'collect.acme.test',
  cors_origins: ['https://www.acme.test', 'https://acme.test'],
  app_image: 'europe-west1-docker.pkg.dev/acme-shop-prod/tagpipe/tagpipe:0.1.0',
  dbt_image: 'europe-west1-docker.pkg.dev/acme-shop-prod/tagpipe/tagpipe-dbt:0.1.0',
};

/** HCL variable default: hcl2json keeps literals as JSON values. */
export function variableDefault(tf: TfDir, name: string): unknown {
  const v = tf.variables.get(name);
  if (!v) throw new Error(`variable ${name} is not declared`);
  return v.default;
}

/**
 * Evaluates the few expression shapes the module uses for values the app reads: literals, var.*, local.*
 * (object paths), resource attributes that are themselves such expressions, join(",", …), tostring(…) and
 * "${a}/${b}" templates. Anything else is an error, so a test never compares against an unevaluated string.
 */
export function evaluate(tf: TfDir, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (!value.includes('${')) return value;
  const whole = ref(value);
  if (whole === null) {
    return value.replace(/\$\{([^${}]+)\}/g, (_m, inner: string) => String(evaluate(tf, `\${${inner}}`)));
  }
  let m = /^concat\((local\.[a-z0-9_]+), (\[.*\])\)$/.exec(whole);
  if (m) return [...(evaluate(tf, `\${${m[1]}}`) as unknown[]), ...(JSON.parse(m[2]) as unknown[])];
  m = /^join\("(.*)", (.+)\)$/.exec(whole);
  if (m) return (evaluate(tf, `\${${m[2]}}`) as unknown[]).join(m[1]);
  m = /^tostring\((.+)\)$/.exec(whole);
  if (m) return String(evaluate(tf, `\${${m[1]}}`));
  m = /^var\.([a-z0-9_]+)$/.exec(whole);
  if (m) return m[1] in SAMPLE_VARS ? SAMPLE_VARS[m[1]] : variableDefault(tf, m[1]);
  m = /^local\.([a-z0-9_]+)((?:\.[a-z0-9_]+)*)$/.exec(whole);
  if (m) {
    let node: unknown = tf.locals[m[1]];
    if (node === undefined) throw new Error(`local.${m[1]} is not declared`);
    for (const key of m[2].split('.').filter(Boolean)) node = (node as Body)[key];
    return evaluate(tf, node);
  }
  m = /^(google_[a-z0-9_]+)\.([a-z0-9_]+)\.([a-z0-9_]+)$/.exec(whole);
  if (m) return evaluate(tf, resource(tf, `${m[1]}.${m[2]}`)[m[3]]);
  if (Array.isArray(value)) return value.map((v) => evaluate(tf, v));
  throw new Error(`cannot evaluate ${value}`);
}

export function evaluateAll(tf: TfDir, value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => evaluateAll(tf, v));
  return evaluate(tf, value);
}
