// Secret stores through one interface: Azure Key Vault (the real SDK against the Key Vault
// stand-in) and the file store. Idempotent pair storage, versions, restore, errors, throttling.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { fingerprint, generateKeyPair } from '../activities/keys';
import {
  createSecretStore,
  readKeyPair,
  restoreVersion,
  type SecretStore,
  storeKeyPair,
} from '../activities/secret-store';
import { testEnv } from './infra/env';

const kvConfig = (vault: string) => ({
  type: 'azure-keyvault' as const,
  vaultUrl: vault,
  credential: 'azure-cli' as const,
  verifyChallengeResource: false,
});

const stores: Record<string, () => SecretStore> = {
  'Azure Key Vault': () => createSecretStore('kv-test', kvConfig(testEnv().keyVault.vaults.test)),
  'file store': () =>
    createSecretStore('files', { type: 'file', dir: mkdtempSync(join(tmpdir(), 'rekey-files-')) }),
};

function named(type: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, type);
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, pattern);
    return true;
  };
}

let n = 0;
const unique = () => `st-${process.pid}-${Date.now()}-${n++}`;

for (const [kind, make] of Object.entries(stores)) {
  describe(`secret store: ${kind}`, () => {
    it('stores a pair as tagged versions, idempotently per run', async () => {
      const store = make();
      const names = { privateKey: `${unique()}-priv`, publicKey: `${unique()}-pub` };
      const pair = generateKeyPair();
      const fp = fingerprint(pair.publicPem);
      const first = await storeKeyPair(store, names, { ...pair, fingerprint: fp }, 'run-1');
      const again = await storeKeyPair(store, names, { ...pair, fingerprint: fp }, 'run-1');
      assert.deepEqual(again, first, 'a retry of the same run returns the versions it made');
      assert.equal((await store.listVersions(names.privateKey)).length, 1);
      const versions = await store.listVersions(names.publicKey);
      assert.deepEqual(versions[0]?.tags, { rekeyRunId: 'run-1', fingerprint: fp, role: 'public' });

      const other = generateKeyPair();
      const second = await storeKeyPair(
        store,
        names,
        { ...other, fingerprint: fingerprint(other.publicPem) },
        'run-2',
      );
      assert.notEqual(second.privateKey.version, first.privateKey.version);
      assert.deepEqual(
        (await store.listVersions(names.privateKey)).map((v) => v.version),
        [first.privateKey.version, second.privateKey.version],
        'oldest first',
      );
      const latest = await readKeyPair(store, names);
      assert.equal(latest.publicPem, other.publicPem);
      const old = await readKeyPair(store, names, {
        privateKey: first.privateKey.version,
        publicKey: first.publicKey.version,
      });
      assert.equal(old.privatePem, pair.privatePem);
    });

    it('completes a pair whose public half a crashed attempt did not write', async () => {
      const store = make();
      const names = { privateKey: `${unique()}-priv`, publicKey: `${unique()}-pub` };
      const pair = generateKeyPair();
      const fp = fingerprint(pair.publicPem);
      await store.set(names.privateKey, pair.privatePem, {
        rekeyRunId: 'run-c',
        fingerprint: fp,
        role: 'private',
      });
      await storeKeyPair(store, names, { ...pair, fingerprint: fp }, 'run-c');
      assert.equal((await store.listVersions(names.privateKey)).length, 1);
      assert.equal((await store.listVersions(names.publicKey)).length, 1);
    });

    it('makes a previous version current again, once per run', async () => {
      const store = make();
      const name = unique();
      const v1 = await store.set(name, 'value one', {});
      await store.set(name, 'value two', {});
      const restored = await restoreVersion(store, name, v1.version, 'run-r');
      assert.equal((await store.get(name)).value, 'value one');
      assert.deepEqual(await restoreVersion(store, name, v1.version, 'run-r'), restored);
      assert.equal((await store.listVersions(name)).length, 3);
    });

    it('names a missing secret or version', async () => {
      const store = make();
      const name = unique();
      await assert.rejects(store.get(name), named('NotFound', new RegExp(`secret ${name} not found`)));
      await store.set(name, 'x', {});
      await assert.rejects(store.get(name, 'f'.repeat(32)), named('NotFound', /version f{32} not found/));
      assert.deepEqual(await store.listVersions(unique()), []);
    });
  });
}

describe('Azure Key Vault errors', () => {
  const vault = () => testEnv().keyVault.vaults.dev;

  it('a refused credential (401) is StoreUnauthorized and writes nothing', async () => {
    const name = unique();
    const wrong = {
      getToken: async () => ({ token: 'not-the-token', expiresOnTimestamp: Date.now() + 3600_000 }),
    };
    const bad = createSecretStore('kv-dev', kvConfig(vault()), { credential: wrong });
    await assert.rejects(
      bad.set(name, 'x', {}),
      named('StoreUnauthorized', /^store kv-dev: Key Vault refused the credential \(401\)/),
    );
    const good = createSecretStore('kv-dev', kvConfig(vault()));
    assert.deepEqual(await good.listVersions(name), []);
  });

  it('retries 429 after its Retry-After and then succeeds', async () => {
    const store = createSecretStore('kv-dev', kvConfig(vault()));
    const name = unique();
    await store.set(name, 'warm-up', {}); // the auth challenge is done; what follows is one call
    const hook = (p: string, body?: unknown) =>
      fetch(`${vault()}/_standin/${p}`, body ? { method: 'POST', body: JSON.stringify(body) } : {}).then(
        (r) => r.json(),
      );
    const seen = ((await hook('requests')) as unknown[]).length;
    await hook('faults', { status: 429, count: 2, retryAfterSeconds: 1 });
    const v = await store.set(name, 'after throttling', {});
    assert.equal((await store.get(name, v.version)).value, 'after throttling');
    const reqs = ((await hook('requests')) as { status: number; at: number }[]).slice(seen);
    assert.deepEqual(
      reqs.slice(0, 3).map((r) => r.status),
      [429, 429, 200],
    );
    const [a, b, c] = reqs as { at: number }[];
    assert.ok(
      (b?.at ?? 0) - (a?.at ?? 0) >= 950 && (c?.at ?? 0) - (b?.at ?? 0) >= 950,
      'waited at least Retry-After each time',
    );
  });
});
