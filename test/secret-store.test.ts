// Secret stores through one interface: Azure Key Vault (the real SDK and a real-shaped credential
// against the Key Vault stand-in, test/infra/keyvault-standin.ts) and the file store. Idempotent
// pair storage, preview, versions, restore, errors, throttling. Secret values are compared, never
// printed: assertions on values use assert.ok(a === b, label).
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TokenCredential } from '@azure/core-auth';
import { SecretClient } from '@azure/keyvault-secrets';
import { ApplicationFailure } from '@temporalio/common';
import { fingerprint, generateKeyPair } from '../activities/keys';
import { createSecretStore } from '../stores/drivers';
import {
  previewStoreKeyPair,
  readCurrentPair,
  readKeyPair,
  restoreVersion,
  storeKeyPair,
} from '../stores/pairs';
import type { SecretStore } from '../stores/types';
import { namedFailure } from './assertions';
import { testEnv } from './infra/env';
import { standinAccessToken } from './infra/keyvault-standin';

const kvConfig = (vault: string) => ({
  type: 'azure-keyvault' as const,
  vaultUrl: vault,
  credential: 'azure-cli' as const, // not used: every test passes its credential
  verifyChallengeResource: false, // the stand-in is served from 127.0.0.x, not *.vault.azure.net
});

/** What `az login` or a managed identity would hand the SDK: a bearer token the vault accepts. */
const credential = (token: string): TokenCredential => ({
  getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }),
});
const goodCredential = () => credential(standinAccessToken(testEnv().root));

const keyVault = (env: 'test' | 'dev', name = `kv-${env}`) =>
  createSecretStore(name, kvConfig(testEnv().keyVault.vaults[env]), { credential: goodCredential() });

const fileDirs: string[] = [];
const stores: Record<string, () => SecretStore> = {
  'Azure Key Vault': () => keyVault('test'),
  'file store': () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'rekey-files-')), 'store');
    fileDirs.push(dir);
    return createSecretStore('files', { type: 'file', dir });
  },
};

/** A history as listed, against the versions in the order they were written: oldest first by
 * creation time. Key Vault's `created` has a resolution of one second and its list is in
 * version-id order, so versions written in the same second may come in either order there (ask
 * `current` which is current); the file store keeps the order of writing. */
function assertHistory(listed: { version: string; createdOn: string }[], written: string[]) {
  assert.deepEqual(listed.map((v) => v.version).sort(), [...written].sort(), 'every version, once');
  const created = new Map(listed.map((v) => [v.version, Date.parse(v.createdOn)]));
  for (let i = 1; i < listed.length; i++)
    assert.ok(
      (created.get(listed[i - 1]?.version ?? '') ?? 0) <= (created.get(listed[i]?.version ?? '') ?? 0),
      'oldest first by creation time',
    );
  for (let i = 1; i < written.length; i++)
    assert.ok(
      (created.get(written[i - 1] ?? '') ?? 0) <= (created.get(written[i] ?? '') ?? 0),
      'creation times follow the writes',
    );
}

let n = 0;
const unique = () => `st-${process.pid}-${Date.now()}-${n++}`;
const pairNames = () => {
  const base = unique();
  return { privateKey: `${base}-priv`, publicKey: `${base}-pub` };
};
const newPair = () => {
  const p = generateKeyPair();
  return { ...p, fingerprint: fingerprint(p.publicPem) };
};

for (const [kind, make] of Object.entries(stores)) {
  describe(`secret store: ${kind}`, () => {
    it('stores a pair as versions tagged with run, fingerprint and role', async () => {
      const store = make();
      const names = pairNames();
      const pair = newPair();
      const ref = await storeKeyPair(store, names, pair, 'run-1');
      assert.equal(ref.fingerprint, pair.fingerprint);
      assert.deepEqual(ref.privateKeyRef, {
        store: store.name,
        name: names.privateKey,
        version: ref.privateKeyRef.version,
      });
      assert.match(ref.privateKeyRef.version, /^[0-9a-f]{32}$/);
      const [priv] = await store.listVersions(names.privateKey);
      const [pub] = await store.listVersions(names.publicKey);
      assert.deepEqual(priv?.tags, { rekeyRunId: 'run-1', fingerprint: pair.fingerprint, role: 'private' });
      assert.deepEqual(pub?.tags, { rekeyRunId: 'run-1', fingerprint: pair.fingerprint, role: 'public' });
      assert.equal(priv?.enabled, true);
      assert.ok(
        !Number.isNaN(Date.parse(priv?.createdOn ?? '')) && priv?.createdOn !== new Date(0).toISOString(),
      );
      const read = await readKeyPair(store, names);
      assert.ok(read.privatePem === pair.privatePem, 'the private key reads back unchanged');
      assert.ok(read.publicPem === pair.publicPem, 'the public key reads back unchanged');
      assert.deepEqual(read.ref, { privateKeyRef: ref.privateKeyRef, publicKeyRef: ref.publicKeyRef });
    });

    it('a retry of the same run returns the same versions and writes nothing', async () => {
      const store = make();
      const names = pairNames();
      const pair = newPair();
      const first = await storeKeyPair(store, names, pair, 'run-1');
      const again = await storeKeyPair(store, names, pair, 'run-1');
      assert.deepEqual(again, first);
      assert.equal((await store.listVersions(names.privateKey)).length, 1);
      assert.equal((await store.listVersions(names.publicKey)).length, 1);
    });

    it('another run, or the same run with another key, makes new versions', async () => {
      const store = make();
      const names = pairNames();
      const first = await storeKeyPair(store, names, newPair(), 'run-1');
      const other = newPair();
      const second = await storeKeyPair(store, names, other, 'run-2');
      assert.notEqual(second.privateKeyRef.version, first.privateKeyRef.version);
      assert.notEqual(second.publicKeyRef.version, first.publicKeyRef.version);
      const third = await storeKeyPair(store, names, newPair(), 'run-2');
      assert.notEqual(
        third.privateKeyRef.version,
        second.privateKeyRef.version,
        'a different key is not reused',
      );
      assertHistory(await store.listVersions(names.privateKey), [
        first.privateKeyRef.version,
        second.privateKeyRef.version,
        third.privateKeyRef.version,
      ]);
      assert.equal((await store.current(names.privateKey))?.version, third.privateKeyRef.version);
    });

    it('completes a pair whose public half a crashed attempt did not write', async () => {
      const store = make();
      const names = pairNames();
      const pair = newPair();
      const written = await store.set(names.privateKey, pair.privatePem, {
        rekeyRunId: 'run-c',
        fingerprint: pair.fingerprint,
        role: 'private',
      });
      const ref = await storeKeyPair(store, names, pair, 'run-c');
      assert.equal(ref.privateKeyRef.version, written.version);
      assert.equal((await store.listVersions(names.privateKey)).length, 1);
      assert.equal((await store.listVersions(names.publicKey)).length, 1);
    });

    it('reads the newest version, or the one asked for', async () => {
      const store = make();
      const name = unique();
      const v1 = await store.set(name, 'value one', { n: '1' });
      const v2 = await store.set(name, 'value two', { n: '2' });
      const latest = await store.get(name);
      assert.equal(latest.version, v2.version);
      assert.ok(latest.value === 'value two');
      const old = await store.get(name, v1.version);
      assert.equal(old.version, v1.version);
      assert.deepEqual(old.tags, { n: '1' });
      assert.ok(old.value === 'value one');
      const listed = await store.listVersions(name);
      assertHistory(listed, [v1.version, v2.version]);
      assert.deepEqual(Object.fromEntries(listed.map((v) => [v.version, v.tags.n])), {
        [v1.version]: '1',
        [v2.version]: '2',
      });
    });

    it('lists every version, oldest first, past one page', async () => {
      const store = make();
      const name = unique();
      const made: string[] = [];
      for (let i = 0; i < 30; i++) made.push((await store.set(name, `v${i}`, { i: String(i) })).version);
      assertHistory(await store.listVersions(name), made);
      assert.equal((await store.current(name))?.version, made.at(-1));
    });

    it('writes in the same second, then a failed run: the put-back restores what readers had', async () => {
      const store = make();
      const name = unique();
      // Several writes within one second (Key Vault's `created` resolution): the newest is current
      // whatever order the list gives them in.
      let written: { version: string }[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
        const start = Math.floor(Date.now() / 1000);
        written = [];
        for (let i = 0; i < 6; i++) written.push(await store.set(name, `value ${i}`, { n: String(i) }));
        if (Math.floor(Date.now() / 1000) === start) break;
      }
      const before = await store.current(name);
      assert.equal(before?.version, written.at(-1)?.version, 'current is the last written');
      // A run writes its value in the same second and fails: its put-back makes `before` current.
      await store.set(name, 'the run value', { rekeyRunId: 'run-same-second' });
      await restoreVersion(store, name, before?.version ?? '', 'run-same-second');
      const now = await store.get(name);
      assert.ok(now.value === 'value 5', 'the value readers had before the run is current again');
      assert.equal(now.tags.restoredFrom, before?.version);
    });

    it('makes a previous version current again, once per run', async () => {
      const store = make();
      const name = unique();
      const v1 = await store.set(name, 'value one', { fingerprint: 'fp1' });
      await store.set(name, 'value two', { fingerprint: 'fp2' });
      const restored = await restoreVersion(store, name, v1.version, 'run-r');
      const current = await store.get(name);
      assert.equal(current.version, restored.version);
      assert.ok(current.value === 'value one', 'the old value is current again');
      assert.equal(current.tags.restoredFrom, v1.version);
      assert.equal(current.tags.rekeyRunId, 'run-r');
      assert.equal(current.tags.fingerprint, 'fp1', 'keeps the restored version tags');
      assert.deepEqual(await restoreVersion(store, name, v1.version, 'run-r'), restored);
      assert.equal((await store.listVersions(name)).length, 3);
    });

    it('a restored version is not taken for a key the run stored', async () => {
      const store = make();
      const names = pairNames();
      const pair = newPair();
      const first = await storeKeyPair(store, names, pair, 'run-a');
      await storeKeyPair(store, names, newPair(), 'run-b');
      await restoreVersion(store, names.privateKey, first.privateKeyRef.version, 'run-b');
      await restoreVersion(store, names.publicKey, first.publicKeyRef.version, 'run-b');
      const preview = await previewStoreKeyPair(store, names, 'run-b', pair.fingerprint);
      assert.equal(
        preview.privateKey.wouldCreate,
        true,
        'the restore carries the old fingerprint, not a new key',
      );
    });

    it('previews storing a pair without writing', async () => {
      const store = make();
      const names = pairNames();
      const pair = newPair();
      const before = await previewStoreKeyPair(store, names, 'run-p', pair.fingerprint);
      assert.deepEqual(before.privateKey, {
        store: store.name,
        name: names.privateKey,
        currentVersion: null,
        wouldCreate: true,
      });
      assert.equal(before.publicKey.wouldCreate, true);
      assert.deepEqual(await store.listVersions(names.privateKey), [], 'preview wrote nothing');

      const stored = await storeKeyPair(store, names, pair, 'run-p');
      const after = await previewStoreKeyPair(store, names, 'run-p', pair.fingerprint);
      assert.deepEqual(after.privateKey, {
        store: store.name,
        name: names.privateKey,
        currentVersion: stored.privateKeyRef.version,
        wouldCreate: false,
        reusedVersion: stored.privateKeyRef.version,
      });
      const next = await previewStoreKeyPair(store, names, 'run-q');
      assert.equal(next.publicKey.wouldCreate, true);
      assert.equal(next.publicKey.currentVersion, stored.publicKeyRef.version);
      assert.equal((await store.listVersions(names.privateKey)).length, 1);
      assert.equal((await store.listVersions(names.publicKey)).length, 1);
    });

    it('names the store and the missing secret or version', async () => {
      const store = make();
      const name = unique();
      await assert.rejects(
        store.get(name),
        namedFailure('NotFound', new RegExp(`^store ${store.name}: secret ${name} not found`)),
      );
      await store.set(name, 'x', {});
      await assert.rejects(
        store.get(name, 'f'.repeat(32)),
        namedFailure('NotFound', new RegExp(`store ${store.name}: secret ${name} version f{32} not found`)),
      );
      await assert.rejects(readKeyPair(store, pairNames()), namedFailure('NotFound', /not found/));
      assert.deepEqual(await store.listVersions(unique()), []);
    });

    it('reads the current pair, none only where the private key has no version at all', async () => {
      const store = make();
      const names = pairNames();
      assert.equal(await readCurrentPair(store, names), null);
      const stored = await storeKeyPair(store, names, newPair(), 'run-c');
      const pair = await readCurrentPair(store, names);
      assert.deepEqual(pair?.ref, { privateKeyRef: stored.privateKeyRef, publicKeyRef: stored.publicKeyRef });
      // A private key without its public half is not "no pair": it fails as a read does.
      const half = pairNames();
      await store.set(half.privateKey, newPair().privatePem, {});
      await assert.rejects(readCurrentPair(store, half), namedFailure('NotFound', /not found/));
      // A disabled newest version: Key Vault refuses to read it (and the read fails, it is not
      // "no pair"); the file store still reads it.
      await store.disable?.(names.privateKey, stored.privateKeyRef.version);
      if (kind === 'Azure Key Vault')
        await assert.rejects(readCurrentPair(store, names), namedFailure('NotFound', /is disabled/));
      else assert.deepEqual((await readCurrentPair(store, names))?.ref, pair?.ref);
    });

    it('a key the caller has just made: its private half is written without a look, its public half looked for', async () => {
      const store = make();
      const names = pairNames();
      const pair = newPair();
      // A retry that took the key over from the private write has written the public half.
      const tags = { rekeyRunId: 'run-f', fingerprint: pair.fingerprint };
      const pub = await store.set(names.publicKey, pair.publicPem, { ...tags, role: 'public' });
      const ref = await storeKeyPair(store, names, pair, 'run-f', true);
      assert.equal(ref.publicKeyRef.version, pub.version);
      assert.equal((await store.listVersions(names.privateKey)).length, 1);
      assert.equal((await store.listVersions(names.publicKey)).length, 1, 'no second public version');
    });

    it("a current-pair read whose listing fails fails with the listing's error (a throttled one is retried)", async () => {
      const store = make();
      const throttled = new Error('throttled');
      const failing = Object.assign(Object.create(store) as SecretStore, {
        listVersions: async () => {
          throw throttled;
        },
      });
      await assert.rejects(readCurrentPair(failing, pairNames()), (err) => err === throttled);
    });

    it('refuses one name for both halves of a pair', async () => {
      const store = make();
      const name = unique();
      await assert.rejects(
        storeKeyPair(store, { privateKey: name, publicKey: name }, newPair(), 'run-x'),
        namedFailure('BadInput', /different secret names/),
      );
      assert.deepEqual(await store.listVersions(name), []);
    });
  });
}

describe('file store on disk', () => {
  it('keeps one file per secret, mode 0600 in a 0700 directory, no temp files left', async () => {
    const store = stores['file store']?.() as SecretStore;
    const dir = fileDirs.at(-1) as string;
    const names = pairNames();
    await storeKeyPair(store, names, newPair(), 'run-f');
    await storeKeyPair(store, names, newPair(), 'run-g');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(dir).sort(), [`${names.privateKey}.json`, `${names.publicKey}.json`]);
    for (const f of readdirSync(dir)) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
  });
});

describe('Azure Key Vault errors', () => {
  const vault = () => testEnv().keyVault.vaults.dev;
  const hook = async (p: string, body?: unknown) => {
    const r = await fetch(
      `${vault()}/_standin/${p}`,
      body ? { method: 'POST', body: JSON.stringify(body) } : {},
    );
    assert.equal(r.status, 200, `stand-in hook ${p}`);
    return r.json();
  };
  const requestsFor = async (secret: string) =>
    (await hook(`requests?secret=${secret}`)) as { method: string; status: number; at: number }[];

  it('a refused credential (401) is StoreUnauthorized and writes nothing', async () => {
    const name = unique();
    const bad = createSecretStore('kv-dev', kvConfig(vault()), { credential: credential('not-the-token') });
    await assert.rejects(
      bad.set(name, 'x', {}),
      namedFailure(
        'StoreUnauthorized',
        new RegExp(`^store kv-dev: Key Vault refused the credential \\(401\\) for ${name}`),
      ),
    );
    await assert.rejects(bad.get(name), namedFailure('StoreUnauthorized', /\(401\)/));
    await assert.rejects(bad.listVersions(name), namedFailure('StoreUnauthorized', /\(401\)/));
    assert.deepEqual(await keyVault('dev').listVersions(name), []);
  });

  it('checking the challenge resource against a vault not under vault.azure.net is BadInput', async () => {
    const strict = createSecretStore(
      'kv-dev',
      { ...kvConfig(vault()), verifyChallengeResource: true },
      { credential: goodCredential() },
    );
    await assert.rejects(
      strict.listVersions(unique()),
      namedFailure('BadInput', /verifyChallengeResource: false/),
    );
  });

  it("retries 429 past its Retry-After, by the vault's clock, and then succeeds", async () => {
    const store = keyVault('dev');
    const name = unique();
    await store.set(name, 'warm-up', {}); // the auth challenge is done; what follows is one call
    const seen = (await requestsFor(name)).length;
    await hook('faults', { status: 429, count: 2, retryAfterSeconds: 1, secret: name });
    const v = await store.set(name, 'after throttling', {});
    const reqs = (await requestsFor(name)).slice(seen);
    assert.deepEqual(
      reqs.map((r) => [r.method, r.status]),
      [
        ['PUT', 429],
        ['PUT', 429],
        ['PUT', 200],
      ],
      'two throttled attempts, then the one that wrote',
    );
    const [a, b, c] = reqs as { at: number }[];
    // Retry-After is 1 s; a timer of exactly that came back up to a few ms before it, by the
    // stand-in's clock (retry-after.ts). Lower bounds only: the log has millisecond timestamps.
    const gaps = [(b?.at ?? 0) - (a?.at ?? 0), (c?.at ?? 0) - (b?.at ?? 0)];
    for (const gap of gaps) assert.ok(gap >= 1240, `waited ${gap} ms after a Retry-After of 1 s`);
    const versions = await store.listVersions(name);
    assert.equal(versions.length, 2, 'exactly one version written by the throttled call');
    assert.ok((await store.get(name, v.version)).value === 'after throttling');
  });

  it('throttling that outlasts the retries stays retryable and does not carry the value', async () => {
    const store = keyVault('dev');
    const name = unique();
    await store.set(name, 'warm-up', {});
    await hook('faults', { status: 503, count: 20, retryAfterSeconds: 0, secret: name });
    const value = `secret-value-${unique()}`;
    await assert.rejects(store.set(name, value, {}), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.ok(!(err instanceof ApplicationFailure && err.nonRetryable), 'a 503 is not a named failure');
      assert.match(err.message, new RegExp(`^store kv-dev: Key Vault 503 for ${name}`));
      const shown = JSON.stringify({ ...err, message: err.message, stack: err.stack });
      assert.ok(!shown.includes(value), 'the error does not carry the value');
      return true;
    });
    await hook('faults', { status: 503, count: 0, secret: name });
    const tried = (await requestsFor(name)).filter((r) => r.method === 'PUT' && r.status === 503).length;
    assert.ok(tried > 1, 'the pipeline retried before giving up');
  });

  it('the stand-in serves the SDK the calls rekey does not use itself (list, update)', async () => {
    const client = new SecretClient(vault(), goodCredential(), {
      disableChallengeResourceVerification: true,
    });
    const name = unique();
    const s = await client.setSecret(name, 'x', { tags: { a: '1' }, contentType: 'text/plain' });
    const updated = await client.updateSecretProperties(name, s.properties.version ?? '', {
      tags: { a: '2' },
      enabled: false,
    });
    assert.deepEqual(updated.tags, { a: '2' });
    assert.equal(updated.enabled, false);
    await assert.rejects(client.getSecret(name), (err: { statusCode?: number }) => err.statusCode === 403);
    const names: string[] = [];
    for await (const p of client.listPropertiesOfSecrets()) names.push(p.name);
    assert.ok(names.includes(name), 'GET /secrets lists the new secret');
  });
});
