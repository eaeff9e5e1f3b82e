import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { ConfigError, loadConfig, parseConfig } from '../config/load';

const repo = resolve(__dirname, '../..');
const example = join(repo, 'rekey.example.yaml');

function rekey(...args: string[]) {
  return spawnSync(process.execPath, [join(repo, 'bin/rekey'), ...args], { encoding: 'utf8' });
}

// biome-ignore lint/suspicious/noExplicitAny: the tests edit arbitrary YAML documents
function exampleDoc(): Record<string, any> {
  return parse(readFileSync(example, 'utf8'));
}

function problems(doc: unknown): string[] {
  try {
    parseConfig(doc, 'rekey.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('config', () => {
  it('accepts the shipped example with the guide defaults', () => {
    const cfg = loadConfig(example);
    assert.deepEqual(Object.keys(cfg.environments), ['prod', 'test', 'dev', 'local']);
    assert.equal(cfg.paths.cliToml, './data/.config/spacetime/cli.toml');
    assert.equal(cfg.secretNames.privateKey, 'spacetimedb-jwt-private-key');
    assert.deepEqual(cfg.keyGroups.shared, ['dev', 'local']);
    const prod = cfg.hosts.azvmprod;
    assert.equal(prod?.type === 'ssh' && prod.port, 22);
    const svc = cfg.services.spacetimedb;
    assert.deepEqual(svc?.markers.failure, ['PUBLISH_FAILED', 'InvalidSignature', 'not authorized']);
  });

  it('names an unknown host, store and service reference by path', () => {
    const doc = exampleDoc();
    doc.environments.prod.host = 'azvmprd';
    doc.environments.test.store = 'kv-tset';
    doc.environments.dev.service = 'nope';
    assert.deepEqual(problems(doc), [
      'environments.prod.host: unknown host "azvmprd"',
      'environments.test.store: unknown store "kv-tset"',
      'environments.dev.service: unknown service "nope"',
    ]);
  });

  it('checks key groups: unknown environment, an environment in two groups or in none', () => {
    const doc = exampleDoc();
    doc.keyGroups = { prod: ['prod', 'test'], shared: ['dev', 'test', 'staging'] };
    assert.deepEqual(problems(doc), [
      'keyGroups.shared.1: environment "test" is already in key group "prod"',
      'keyGroups.shared.2: unknown environment "staging"',
      'environments.local: environment "local" is in no key group',
    ]);
  });

  it('reports type and shape errors with their paths, all at once', () => {
    const doc = exampleDoc();
    doc.hosts.azvmprod.port = '22';
    doc.stores['kv-prod'].vaultUrl = 'http://kv-prod.vault.azure.net';
    doc.services.spacetimedb.markerTimeout = 'soon';
    doc.hosts.workstation.typo = true;
    doc.hosts.azvmprod.sync.bandwidthLimit = 'fast';
    const found = problems(doc);
    assert.equal(found.length, 5, found.join('\n'));
    assert.ok(found.some((p) => p.startsWith('hosts.azvmprod.sync.bandwidthLimit: a rate such as 40M')));
    assert.ok(found.some((p) => p.startsWith('hosts.azvmprod.port: ')));
    assert.ok(found.some((p) => p.startsWith('stores.kv-prod.vaultUrl: ')));
    assert.ok(found.some((p) => p.startsWith('services.spacetimedb.markerTimeout: ')));
    assert.ok(found.some((p) => p.startsWith('hosts.workstation: ') && p.includes('typo')));
  });

  it('requires approvers when an environment requires approval', () => {
    const doc = exampleDoc();
    doc.approvals = { requiredFor: ['prod'] };
    assert.deepEqual(problems(doc), [
      'approvals.approvers: approval is required for some environments but no approver is configured',
    ]);
  });

  it('`rekey config check` prints a summary, or every problem and exits 2', () => {
    const ok = rekey('config', 'check', '--config', example);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /dev, local \(one shared pair\)/);

    const dir = mkdtempSync(join(tmpdir(), 'rekey-config-'));
    const doc = exampleDoc();
    doc.environments.prod.host = 'azvmprd';
    delete doc.keyGroups.test;
    const bad = join(dir, 'rekey.yaml');
    writeFileSync(bad, stringify(doc));
    const res = rekey('config', 'check', '--config', bad);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /environments\.prod\.host: unknown host "azvmprd"/);
    assert.match(res.stderr, /environments\.test: environment "test" is in no key group/);

    const missing = rekey('config', 'check', '--config', join(dir, 'absent.yaml'));
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /absent\.yaml: .*cannot read: ENOENT/);

    writeFileSync(join(dir, 'broken.yaml'), 'environments: [\n');
    const broken = rekey('config', 'check', '--config', join(dir, 'broken.yaml'));
    assert.equal(broken.status, 2);
    assert.match(broken.stderr, /broken\.yaml: .*not valid YAML/);
  });

  it('ships a JSON Schema that matches the zod schema', () => {
    const res = rekey('config', 'schema');
    assert.equal(res.status, 0);
    assert.deepEqual(
      JSON.parse(res.stdout),
      JSON.parse(readFileSync(join(repo, 'rekey.schema.json'), 'utf8')),
    );
  });
});
