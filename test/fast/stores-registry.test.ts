// The store registries: every store type of rekey.yaml has a kind (its pure half) and a driver (its
// SDK half) that agree on what it can be used for, and `rekey config check` of a config with a
// store of every type loads none of their SDKs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { STORE_DRIVERS } from '../../stores/drivers';
import { STORE_KINDS } from '../../stores/kinds';

const root = join(__dirname, '..', '..', '..');

/** The store types the shipped JSON Schema of rekey.yaml lists. */
function schemaTypes(): string[] {
  const schema = JSON.parse(readFileSync(join(root, 'rekey.schema.json'), 'utf8'));
  const store = schema.properties.stores.additionalProperties;
  return (store.oneOf ?? store.anyOf).map(
    (s: { properties: { type: { const: string } } }) => s.properties.type.const,
  );
}

describe('store registries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-stores-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('list every store type of the schema, each with a kind and a driver that agree', () => {
    const types = schemaTypes();
    assert.ok(types.length >= 7, `the schema lists ${types.length} store types`);
    assert.deepEqual(Object.keys(STORE_KINDS).sort(), [...types].sort());
    assert.deepEqual(Object.keys(STORE_DRIVERS).sort(), [...types].sort());
    for (const type of types) {
      const kind = STORE_KINDS[type as keyof typeof STORE_KINDS];
      const driver = STORE_DRIVERS[type as keyof typeof STORE_DRIVERS];
      assert.equal(
        'open' in driver,
        kind.access === 'versions',
        `${type}: the driver opens a store of versions`,
      );
      assert.equal('place' in driver, kind.access !== 'versions', `${type}: the driver writes a place`);
      if (kind.holdsKeyPairs) assert.equal(kind.access, 'versions', `${type}: a key pair is read back`);
    }
  });

  it('config check of a store of every type loads no store SDK', () => {
    const file = join(dir, 'rekey.yaml');
    const ref = { env: 'ADMIN_PASSWORD' };
    writeFileSync(
      file,
      JSON.stringify({
        stores: {
          kv: { type: 'azure-keyvault', vaultUrl: 'https://kv-1.vault.azure.net' },
          files: { type: 'file', dir: 'store' },
          ssm: { type: 'aws-ssm', region: 'eu-west-1' },
          db: { type: 'postgres', host: 'db.internal', user: 'admin', password: ref },
          gh: { type: 'github-actions', repository: 'o/r', token: ref },
          fly: { type: 'command', write: 'flyctl secrets import' },
          kube: {
            type: 'kubernetes',
            server: 'https://k8s:6443',
            namespace: 'app',
            token: ref,
            caFile: 'ca.pem',
          },
        },
        hosts: { here: { type: 'local', appDir: 'app', dataDir: 'app/data' } },
        services: { none: { driver: 'command', start: 'true', stop: 'true', restart: 'true', logs: 'true' } },
        environments: { local: { store: 'kv', host: 'here', service: 'none' } },
        keyGroups: { local: ['local'] },
        codec: { keys: { k1: { env: 'REKEY_CODEC_KEY' } }, active: 'k1' },
      }),
    );
    // Prints, at exit, every package the CLI process loaded.
    const probe = join(dir, 'probe.js');
    writeFileSync(
      probe,
      `process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify(Object.keys(require.cache)) + '\\n'));`,
    );
    const run = spawnSync(
      process.execPath,
      ['--require', probe, join(root, 'bin', 'rekey'), 'config', 'check', '--config', file],
      { encoding: 'utf8', env: { ...process.env, REKEY_CODEC_KEY: Buffer.alloc(32, 7).toString('base64') } },
    );
    assert.equal(run.status, 0, run.stderr.replace(/LOADED .*/, ''));
    assert.match(run.stdout, /: ok\n/);
    assert.match(run.stdout, /store kv \(https:\/\/kv-1\.vault\.azure\.net\)/);
    const paths: string[] = JSON.parse(/LOADED (.*)/.exec(run.stderr)?.[1] ?? '[]');
    assert.ok(
      paths.some((p) => p.includes(`${join('node_modules', 'zod')}`)),
      'the probe sees the modules loaded',
    );
    const sdks = paths.filter((p) => /node_modules\/(@azure\/|@aws-sdk\/|pg\/|libsodium|ssh2\/)/.test(p));
    assert.deepEqual(sdks, [], 'store SDKs loaded by config check');
  });
});
