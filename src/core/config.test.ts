import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './errors';
import { parseConfig, redactConfig, requireCollectorAuth } from './config';

describe('parseConfig', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-config-'));

  it('uses local dev defaults with no file and says so', () => {
    const cfg = parseConfig({}, { cwd: tmp });
    expect(cfg.mode).toBe('local');
    expect(cfg.bus.kind).toBe('embedded');
    expect(cfg.warehouse.kind).toBe('duckdb');
    expect(cfg.auth.writeKeys).toEqual(['dev']);
    expect(cfg.server.port).toBe(8080);
    expect(cfg.meta.devDefaults).toEqual(expect.arrayContaining(['accepting Segment write key "dev"']));
  });

  it('reads env over file and names the field and its source on error', () => {
    const file = path.join(tmp, 'a.yaml');
    fs.writeFileSync(file, 'server:\n  port: 9000\nauth:\n  writeKeys: [abc]\n');
    expect(parseConfig({}, { file, cwd: tmp }).server.port).toBe(9000);
    expect(parseConfig({ PORT: '9100' }, { file, cwd: tmp }).server.port).toBe(9100);
    expect(() => parseConfig({ PORT: 'eighty' }, { file, cwd: tmp })).toThrow(
      /server\.port: expected number \(from PORT\)/,
    );
    expect(() => parseConfig({ TAGPIPE_IP_POLICY: 'blur' }, { cwd: tmp })).toThrow(
      /ip\.policy: expected one of "truncate", "full", "drop"/,
    );
  });

  it('requires a project in gcp mode, and write keys for the collector only', () => {
    expect(() => parseConfig({ TAGPIPE_MODE: 'gcp' }, { cwd: tmp })).toThrow(ConfigError);
    const syncJob = parseConfig({ TAGPIPE_MODE: 'gcp', GOOGLE_CLOUD_PROJECT: 'p' }, { cwd: tmp });
    expect(syncJob.auth.writeKeys).toEqual([]);
    expect(() => requireCollectorAuth(syncJob)).toThrow(/auth\.writeKeys: expected at least one Segment write key/);
    expect(() =>
      parseConfig(
        { TAGPIPE_MODE: 'gcp', TAGPIPE_WRITE_KEYS: 'k1', TAGPIPE_CORS_ORIGINS: 'https://a.example' },
        { cwd: tmp },
      ),
    ).toThrow(/bus\.projectId/);
    const cfg = parseConfig(
      {
        TAGPIPE_MODE: 'gcp',
        TAGPIPE_WRITE_KEYS: 'k1,k2',
        GOOGLE_CLOUD_PROJECT: 'p',
        TAGPIPE_CORS_ORIGINS: 'https://a.example',
      },
      { cwd: tmp },
    );
    expect(cfg.bus.kind).toBe('pubsub');
    expect(cfg.auth.writeKeys).toEqual(['k1', 'k2']);
  });

  it('expands ${ENV} references in the file and fails clearly when missing', () => {
    const file = path.join(tmp, 'b.yaml');
    fs.writeFileSync(file, 'debug:\n  token: ${DEBUG_TOKEN}\n');
    expect(parseConfig({ DEBUG_TOKEN: 'abcdefghij' }, { file, cwd: tmp }).debug.token).toBe('abcdefghij');
    expect(() => parseConfig({}, { file, cwd: tmp })).toThrow(/\$\{DEBUG_TOKEN\}, which is not set/);
  });

  it('never prints secrets', () => {
    const cfg = parseConfig({ TAGPIPE_DEBUG_TOKEN: 'supersecret-token' }, { cwd: tmp });
    const printed = JSON.stringify(redactConfig(cfg));
    expect(printed).not.toContain('supersecret-token');
    expect(printed).toContain('*** (17 chars)');
  });
});
