// `{group}` in secretNames: many key groups in one store, each pair under its own names, staged,
// verified and restored by the real rotation activities over a file store.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createRotateActivities } from '../../activities/rotate';
import { parseConfig } from '../../config/load';
import { createSecretStore } from '../../stores/drivers';

describe('secretNames with {group}', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-names-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const envs = ['a', 'b', 'c'];
  const doc = (over: Record<string, unknown> = {}) => ({
    stores: { shared: { type: 'file', dir: join(dir, 'store') } },
    hosts: Object.fromEntries(
      envs.map((e) => [e, { type: 'local', appDir: join(dir, e), dataDir: join(dir, e, 'd') }]),
    ),
    services: { none: { driver: 'command', start: 'true', stop: 'true', restart: 'true', logs: 'true' } },
    environments: Object.fromEntries(envs.map((e) => [e, { store: 'shared', host: e, service: 'none' }])),
    keyGroups: { one: ['a', 'b'], two: ['c'] },
    secretNames: { privateKey: 'jwt-{group}-private', publicKey: 'jwt-{group}-public' },
    ...over,
  });
  const config = parseConfig(doc(), join(dir, 'rekey.yaml'));

  it('refuses {group} in one name only, and two key groups whose names collide in one vault', () => {
    const parse = (over: Record<string, unknown>) => () => parseConfig(doc(over), join(dir, 'rekey.yaml'));
    assert.throws(
      parse({ secretNames: { privateKey: 'jwt-{group}-private', publicKey: 'jwt-public' } }),
      /secretNames: \{group\} in both names or in neither/,
    );
    // Key Vault: names without regard to case, one vault whatever store entry names it.
    const vault = (url: string) => ({ type: 'azure-keyvault', vaultUrl: url });
    assert.throws(
      parse({
        stores: { kv1: vault('https://v.vault.azure.net'), kv2: vault('https://V.vault.azure.net/') },
        environments: {
          a: { store: 'kv1', host: 'a', service: 'none' },
          b: { store: 'kv1', host: 'b', service: 'none' },
          c: { store: 'kv2', host: 'c', service: 'none' },
        },
        keyGroups: { one: ['a', 'b'], ONE: ['c'] },
      }),
      /key group ONE's jwt-ONE-private would be where key group one's is \(store kv2\)/,
    );
  });

  const store = createSecretStore('shared', config.stores.shared as never);
  const rotation = createRotateActivities({ config, store: () => store });

  it('stages each group under its own names in one store, and the check tells them apart', async () => {
    const one = await rotation.stageKeyPair({ runId: 'r1', group: 'one', environments: ['a', 'b'] });
    const two = await rotation.stageKeyPair({ runId: 'r1', group: 'two', environments: ['c'] });
    assert.notEqual(one.fingerprint, two.fingerprint);
    assert.equal(
      (await store.listVersions('jwt-one-private')).length,
      1,
      'a and b share the place: written once per run',
    );
    assert.equal((await store.listVersions('jwt-two-public')).length, 1);
    const report = await rotation.verifyKeys({
      environments: ['c'],
      expect: { c: two.fingerprint },
    });
    assert.deepEqual(report.problems, []);
    // Only c's place is read: a and b keep theirs elsewhere in the same store.
    assert.deepEqual(
      report.rows.map((r) => r.env),
      ['c'],
    );
    // a's check reads b too: its key lives in the same place.
    assert.deepEqual(
      (await rotation.verifyKeys({ environments: ['a'] })).rows.map((r) => r.env),
      ['a', 'b'],
    );
    const all = await rotation.verifyKeys({});
    assert.equal(all.ok, true, all.problems.join('; '));
    assert.deepEqual(
      all.rows.map((r) => [r.env, r.fingerprint]),
      [
        ['a', one.fingerprint],
        ['b', one.fingerprint],
        ['c', two.fingerprint],
      ],
    );
  });
});
