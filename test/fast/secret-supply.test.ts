// Fast tier: a manual recipe's wait for its value (activities/secret-supply.ts) against a real file
// store: the run's own supplied version is taken, a version written by other means is written
// again under the run's tags, a value that is not a new one is refused, and the wait ends at its
// deadline having changed nothing.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { awaitSupplied, suppliedProblem, suppliedTags } from '../../activities/secret-supply';
import { SecretRecipe } from '../../config/secret-recipes';
import { createSecretStore } from '../../stores/drivers';

/** The failure `p` ends with (an activity's ApplicationFailure, as thrown). */
const failureOf = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail('expected a failure'),
    (err: { type?: string; message: string }) => err,
  );

const recipe = SecretRecipe.parse({
  environments: ['prod'],
  generator: { type: 'manual', issuer: 'Neon console' },
  locations: [{ store: 'kv', name: 'neon-api-key' }],
});
const pair = SecretRecipe.parse({
  environments: ['prod'],
  generator: { type: 'manual', issuer: 'Cloudflare dashboard', fields: ['accessKeyId', 'secretAccessKey'] },
  locations: [{ store: 'kv', name: 'r2' }],
});

async function storeWithOld() {
  const store = createSecretStore('kv', { type: 'file', dir: mkdtempSync(join(tmpdir(), 'rekey-supply-')) });
  const old = await store.set('neon-api-key', 'napi_old_value_0123456789', {});
  return { store, old: old.version };
}

const waitFor = (store: ReturnType<typeof createSecretStore>, expect: string, until = Date.now() + 60_000) =>
  awaitSupplied({
    store,
    name: 'neon-api-key',
    recipe,
    secret: 'neon',
    runId: 'run-1',
    phase: 'write',
    expect,
    until,
    within: '1h',
    beat: () => undefined,
  });

describe('a value issued by hand: the wait for it', () => {
  it('takes the version supplied for this run', async () => {
    const { store, old } = await storeWithOld();
    const v = await store.set(
      'neon-api-key',
      'napi_new_value_0123456789',
      suppliedTags('neon', 'run-1', 'write', 'ops'),
    );
    assert.equal(await waitFor(store, old), v.version);
    assert.equal((await store.listVersions('neon-api-key')).length, 2, 'nothing written again');
  });

  it('writes a version made by other means again as the run’s (so a failure puts the old one back)', async () => {
    const { store, old } = await storeWithOld();
    const outside = await store.set('neon-api-key', 'napi_made_by_hand_0123456', {});
    const taken = await waitFor(store, old);
    assert.notEqual(taken, outside.version);
    const mine = (await store.listVersions('neon-api-key')).find((v) => v.version === taken);
    assert.deepEqual(
      [mine?.tags.rekeyRunId, mine?.tags.step, mine?.tags.adopted],
      ['run-1', 'write', outside.version],
    );
    assert.equal((await store.get('neon-api-key', taken)).value, 'napi_made_by_hand_0123456');
  });

  it('refuses the value in use written again, and an empty one', async () => {
    const { store, old } = await storeWithOld();
    await store.set('neon-api-key', 'napi_old_value_0123456789', {});
    const f = await failureOf(waitFor(store, old));
    assert.equal(f.type, 'BadInput');
    assert.match(f.message, /cannot be the new value: it is the value in use now, not a new one/);
    assert.equal(suppliedProblem(recipe, ' \n', undefined), 'it is empty');
  });

  it('takes a value handed over while it waits; a later write by other means wins over the handed-over one', async () => {
    const { store, old } = await storeWithOld();
    setTimeout(
      () =>
        void store.set(
          'neon-api-key',
          'napi_new_value_0123456789',
          suppliedTags('neon', 'run-1', 'write', 'ops'),
        ),
      300,
    );
    const taken = await waitFor(store, old);
    assert.equal((await store.get('neon-api-key', taken)).value, 'napi_new_value_0123456789');
    // Handed over, then written over by someone else before the run looked: the newest is taken.
    const second = await storeWithOld();
    await second.store.set(
      'neon-api-key',
      'napi_new_value_0123456789',
      suppliedTags('neon', 'run-1', 'write', 'ops'),
    );
    await second.store.set('neon-api-key', 'napi_later_by_hand_012345', {});
    const v = await waitFor(second.store, second.old);
    assert.equal((await second.store.get('neon-api-key', v)).value, 'napi_later_by_hand_012345');
  });

  it('rides out a store that does not answer for a while', async () => {
    const { store, old } = await storeWithOld();
    let failures = 2;
    const flaky = Object.assign(Object.create(store), {
      current: (name: string) => {
        if (failures-- > 0) return Promise.reject(new Error('503 Service Unavailable'));
        return store.current(name);
      },
    });
    await store.set(
      'neon-api-key',
      'napi_new_value_0123456789',
      suppliedTags('neon', 'run-1', 'write', 'ops'),
    );
    const beats: string[] = [];
    const v = await awaitSupplied({
      store: flaky,
      name: 'neon-api-key',
      recipe,
      secret: 'neon',
      runId: 'run-1',
      phase: 'write',
      expect: old,
      until: Date.now() + 60_000,
      within: '1h',
      beat: (d) => beats.push(d),
    });
    assert.equal((await store.get('neon-api-key', v)).value, 'napi_new_value_0123456789');
    assert.equal(
      beats.filter((b) => /did not answer \(503 Service Unavailable\); trying again/.test(b)).length,
      2,
    );
  });

  it('ends at its deadline with nothing written', async () => {
    const { store, old } = await storeWithOld();
    const f = await failureOf(waitFor(store, old, Date.now() - 1));
    assert.equal(f.type, 'NotApproved');
    assert.match(f.message, /no new value reached kv:neon-api-key within 1h; nothing was changed/);
    assert.equal((await store.listVersions('neon-api-key')).length, 1);
  });

  it('a credential of several fields must be a JSON object with exactly those fields', () => {
    assert.equal(
      suppliedProblem(pair, '{"accessKeyId":"AKIA1","secretAccessKey":"s3cr3t-value"}', undefined),
      undefined,
    );
    assert.match(
      suppliedProblem(pair, '{"accessKeyId":"AKIA1"}', undefined) ?? '',
      /did not print a JSON object with the string fields accessKeyId, secretAccessKey \(missing or empty: secretAccessKey\)/,
    );
  });
});
