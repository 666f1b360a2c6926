/**
 * The commands Terraform runs in the app image exist in the CLI: every Cloud Run container's command + args,
 * read from the parsed module, is matched against the commander program the image's entrypoint builds.
 */
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main';
import { MODULE_DIR, block, evaluateAll, loadModule, resourcesOfType, type Body } from './hcl';

/** Follows subcommand names through the program; returns the command reached and the options it accepts. */
function resolve(program: Command, words: string[]): { path: string[]; options: string[] } | null {
  let node = program;
  const path: string[] = [];
  let i = 0;
  for (; i < words.length && !words[i].startsWith('-'); i++) {
    const next = node.commands.find((c) => c.name() === words[i] || c.aliases().includes(words[i]));
    if (!next) return null;
    node = next;
    path.push(words[i]);
  }
  return { path, options: node.options.flatMap((o) => [o.long, o.short].filter((x): x is string => Boolean(x))) };
}

test('every subcommand the Cloud Run services and jobs run is registered in the CLI, with its flags', async () => {
  const mod = await loadModule(MODULE_DIR);
  const program = buildProgram();
  const runs: Array<[string, string[]]> = [];
  for (const type of ['google_cloud_run_v2_service', 'google_cloud_run_v2_job']) {
    for (const [name, body] of resourcesOfType(mod, type)) {
      const template = block(body, 'template');
      const container = block(type.endsWith('service') ? template : block(template, 'template'), 'containers');
      if (container.image !== '${var.app_image}') continue;
      const command = evaluateAll(mod, (container as Body).command) as string[];
      expect(command).toEqual(['node', 'dist/src/cli/main.js']);
      runs.push([name, evaluateAll(mod, (container as Body).args) as string[]]);
    }
  }
  expect(runs.map(([n]) => n).sort()).toEqual(['batch_sync', 'collector', 'stream_sync']);
  for (const [name, args] of runs) {
    const found = resolve(program, args);
    expect({ name, args, registered: found !== null }).toEqual({ name, args, registered: true });
    for (const flag of args.filter((a) => a.startsWith('-'))) expect(found?.options).toContain(flag);
  }
});
