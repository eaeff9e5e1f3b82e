// The activities of a run over an environment's secrets (rotateSecrets) on the paths a workflow
// test mocks away: the write attempt cancelled part way, the read-back after a write whose answer
// was lost, and a failed restart whose output holds a value that cannot be read to cut it out.
// Real activities over a file store and a local host; MockActivityEnvironment for the context.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import {
  type BatchWritten,
  createRotateSecretsActivities,
  type SecretBatchPlan,
} from '../../activities/rotate-secrets';
import { parseConfig } from '../../config/load';
import { createSecretStore } from '../../stores/drivers';

const NAMES = Array.from({ length: 12 }, (_, i) => `token-${i}`);

describe('rotateSecrets activities: cancelled writes, the read-back, the restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-batch-acts-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const storeDir = join(dir, 'store');
  const config = parseConfig(
    {
      stores: { files: { type: 'file', dir: storeDir } },
      hosts: { local: { type: 'local', appDir: join(dir, 'app'), dataDir: join(dir, 'app', 'd') } },
      services: {
        none: { driver: 'command', start: 'true', stop: 'true', restart: 'true', logs: 'true' },
        // Prints what it loaded, then fails: the run's failure must not carry the value.
        talkative: {
          driver: 'command',
          start: 'true',
          stop: 'true',
          restart: `cat ${join(storeDir, 'token-0.json')}; exit 3`,
          logs: 'true',
        },
      },
      environments: { local: { store: 'files', host: 'local', service: 'none' } },
      keyGroups: { local: ['local'] },
      secrets: Object.fromEntries(
        NAMES.map((n, i) => [
          n,
          {
            environments: ['local'],
            generator: { type: 'random', bytes: 16, encoding: 'hex' },
            locations: [
              { store: 'files', name: n },
              { store: 'files', name: `${n}-copy` },
            ],
            ...(i === 0 ? { consumers: ['talkative'] } : {}),
          },
        ]),
      ),
    },
    join(dir, 'rekey.yaml'),
  );
  const store = createSecretStore('files', config.stores.files as never);
  const acts = createRotateSecretsActivities({ config, store: () => store });
  const run = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A) =>
    new MockActivityEnvironment().run(fn, ...args);
  let plan: SecretBatchPlan;
  const versions = async (name: string) => (await store.listVersions(name)).length;

  before(async () => {
    for (const n of NAMES) {
      await store.set(n, `first-${n}`, {});
      await store.set(`${n}-copy`, `first-${n}`, {});
    }
    plan = (await run(acts.planSecretBatch, { env: 'local', select: 'all' })) as SecretBatchPlan;
    assert.equal(plan.secrets.length, NAMES.length);
  });

  const writes = () =>
    plan.secrets.map((s) => ({ secret: s.secret, recipe: s.recipe, locations: s.locations }));

  it('the read-back after a lost answer: written, not written, and unreadable (put back everywhere)', async () => {
    const runId = 'run-lost';
    const [a] = writes();
    assert.ok(a);
    // token-0 written by this run; token-1 not; token-2's first location cannot be read.
    const [written] = (await run(acts.writeSecretBatch, {
      env: 'local',
      runId,
      secrets: [a],
    })) as BatchWritten[];
    assert.equal(written?.written.length, 2);
    writeFileSync(join(storeDir, 'token-2.json'), 'not json');
    const left = await run(acts.secretsWrittenBy, {
      env: 'local',
      runId,
      secrets: plan.secrets.slice(0, 3).map((s) => ({
        secret: s.secret,
        first: s.locations[0] as SecretBatchPlan['secrets'][number]['locations'][number],
        locations: s.locations.length,
      })),
    });
    assert.deepEqual(left, [
      { secret: 'token-0', written: [written?.written[0]], reached: 2 },
      { secret: 'token-1', written: [], reached: 0 },
      // Not known: every location is put back (a put-back finds nothing of the run's where it
      // wrote nothing), rather than the undo skipped.
      { secret: 'token-2', written: [], reached: 2 },
    ]);
  });

  it('a write attempt cancelled part way starts no more secrets', async () => {
    const env = new MockActivityEnvironment();
    // token-3 to token-11: nine secrets no other case writes.
    const secrets = writes().slice(3);
    const attempt = env.run(acts.writeSecretBatch, { env: 'local', runId: 'run-cancelled', secrets });
    // The first secrets are under way (8 at a time); the attempt is cancelled before they end.
    env.cancel();
    await attempt.catch(() => undefined);
    const started = [];
    for (const n of NAMES.slice(3)) if ((await versions(n)) > 1) started.push(n);
    assert.ok(started.length > 0 && started.length <= 8, `started: ${started.join(', ')}`);
    assert.equal(await versions('token-11'), 1, 'the ninth secret was not started');
  });

  it('a failed restart whose value cannot be read to cut out leaves the output out', async () => {
    const t = plan.secrets[0];
    assert.ok(t);
    const printed = (await store.get('token-0')).value;
    const failure = await run(acts.restartSecretsConsumers, {
      env: 'local',
      // A version that is not there: the value the consumer prints cannot be known to cut it out.
      secrets: [{ secret: t.secret, recipe: t.recipe, values: ['no-such-version'] }],
    }).then(
      () => assert.fail('the restart exits 3'),
      (err: Error) => err,
    );
    assert.ok(!failure.message.includes(printed), 'the value is not in the failure');
    assert.match(failure.message, /restarting talkative failed \(its output not shown/);
  });
});
