/**
 * `terraform fmt -check` over terraform/. Runs when terraform (or OpenTofu's tofu) is on PATH; a machine without
 * either skips this one check with a visible note, since the parsed-HCL tests beside it carry the wiring checks.
 */
import { spawnSync } from 'node:child_process';
import { TERRAFORM_DIR } from './hcl';

function findBinary(): string | null {
  for (const name of ['terraform', 'tofu']) {
    const probe = spawnSync(name, ['version'], { encoding: 'utf8' });
    if (probe.status === 0) return name;
  }
  return null;
}

const binary = findBinary();
if (!binary) {
  process.stderr.write(
    'test/terraform/fmt.test.ts: neither terraform nor tofu is on PATH; skipping `terraform fmt -check` ' +
      '(install Terraform from https://developer.hashicorp.com/terraform/install to run it)\n',
  );
}

(binary ? test : test.skip)(
  `${binary ?? 'terraform'} fmt -check -recursive terraform/ reports no file to reformat`,
  () => {
    const run = spawnSync(binary ?? 'terraform', ['fmt', '-check', '-recursive', '-list=true', TERRAFORM_DIR], {
      encoding: 'utf8',
      // A missing CLI configuration file only produces a warning; point it at nothing so output stays clean.
      env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null' },
    });
    expect({ status: run.status, unformatted: run.stdout.trim().split('\n').filter(Boolean) }).toEqual({
      status: 0,
      unformatted: [],
    });
  },
);
