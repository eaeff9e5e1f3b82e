// Fast tier: the run over an environment's secrets (rotateSecrets) against mocked activities on
// the time-skipping test server: one plan, one write of them all, one restart of every consumer,
// each secret's probes, then the revokes; a failure puts every secret back (each one's locations in
// reverse) and restarts the consumers on the old values; a secret's own run going refuses it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { BatchWritten, SecretBatchPlan } from '../../activities/rotate-secrets';
import type { SecretPlan } from '../../activities/secret-recipe';
import { FailureType, fail } from '../../shared/failures';
import { rotateSecrets } from '../../workflows';
import { failureOf } from '../helpers';
import { recording, withWorker as run, timeSkipping } from './harness';

function secret(name: string, extra: Partial<SecretPlan> = {}): SecretPlan {
  return {
    secret: name,
    env: 'prod',
    recipe: `digest-${name}`,
    locations: ['a', 'b'].map((l) => ({ store: 'ssm', name: `/${name}/${l}`, current: '1' })),
    consumers: ['app'],
    probes: [`probe ${name}`],
    revoke: false,
    approvalRequired: false,
    text: [`secret ${name}`, '  restart: app', '  then nothing'],
    ...extra,
  };
}

function batch(secrets: SecretPlan[]): SecretBatchPlan {
  return {
    env: 'prod',
    select: 'due',
    secrets,
    left: [],
    consumers: [...new Set(secrets.flatMap((s) => s.consumers))].sort(),
    approvalRequired: false,
    text: ['the batch'],
  };
}

type Fn = (...args: never[]) => Promise<unknown>;
type WriteInput = { secrets: { secret: string; locations: unknown[] }[] };

const allWritten = async (input: WriteInput): Promise<BatchWritten[]> =>
  input.secrets.map((s) => ({
    secret: s.secret,
    written: s.locations.map(() => '2'),
    reached: s.locations.length,
  }));

function mocks(plan: SecretBatchPlan, overrides: Record<string, Fn> = {}) {
  return recording({
    planSecretBatch: async () => plan,
    writeSecretBatch: allWritten,
    restartSecretsConsumers: async () => undefined,
    probeSecret: async () => 'ok',
    restoreSecretLocation: async () => 'restored',
    revokeOldSecret: async () => undefined,
    ...overrides,
  } as Record<string, Fn>);
}

const PLAN = batch([
  secret('db', { revoke: true }),
  secret('token'),
  secret('queue', { consumers: ['app', 'worker'] }),
]);

describe('rotateSecrets workflow (mocked activities)', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await timeSkipping();
  });
  after(async () => {
    await env?.teardown();
  });

  const execute = (m: ReturnType<typeof mocks>, id: string) =>
    run(env, m.activities, (taskQueue) =>
      env.client.workflow.execute(rotateSecrets, {
        taskQueue,
        workflowId: id,
        args: [{ environment: 'prod' }],
      }),
    );
  const fails = (m: ReturnType<typeof mocks>, id: string) =>
    run(env, m.activities, (taskQueue) =>
      failureOf(
        env.client.workflow.execute(rotateSecrets, {
          taskQueue,
          workflowId: id,
          args: [{ environment: 'prod' }],
        }),
      ),
    );

  it('one write of every secret, one restart of every consumer, each probe, then the revokes', async () => {
    const m = mocks(PLAN);
    const r = await execute(m, 'fast-secrets-all');
    assert.deepEqual(
      m.calls.filter((c) => c !== 'probeSecret'),
      ['planSecretBatch', 'writeSecretBatch', 'restartSecretsConsumers', 'revokeOldSecret'],
    );
    assert.equal(m.calls.filter((c) => c === 'probeSecret').length, 3, 'each secret probed');
    const restart = m.inputs.find((i) => i.name === 'restartSecretsConsumers')?.input as {
      secrets: { secret: string; values: string[] }[];
    };
    assert.deepEqual(
      restart.secrets.map((s) => [s.secret, s.values]),
      [
        ['db', ['2', '1']],
        ['token', ['2', '1']],
        ['queue', ['2', '1']],
      ],
      "every secret's new and old version, to cut out of a consumer's output",
    );
    assert.deepEqual(r.written, { db: ['2', '2'], token: ['2', '2'], queue: ['2', '2'] });
    assert.deepEqual(r.revoked, ['db']);
  });

  it('takes the environment before its secrets (refused there, it holds nothing a secret’s run looks at)', async () => {
    const m = mocks(PLAN, {
      takeLocks: async (i: { locks: { workflowId: string }[] }) => ({
        held: i.locks.map((l) => ({ workflowId: l.workflowId, runId: 'fast' })),
      }),
    });
    // Not under its own id: it takes its `secrets/prod` lock as well.
    await execute(m, 'fast-secrets-lock-order');
    const taken = m.inputs.find((i) => i.name === 'takeLocks')?.input as { locks: { resource: string }[] };
    assert.deepEqual(
      taken.locks.map((l) => l.resource),
      ['env/prod', 'secrets/prod'],
    );
  });

  it('a secret refused at its write: every secret written is put back, in reverse, none restarted', async () => {
    const m = mocks(PLAN, {
      writeSecretBatch: async (input: WriteInput): Promise<BatchWritten[]> => [
        { secret: 'db', written: ['2', '2'], reached: 2 },
        {
          secret: 'token',
          written: ['2'],
          reached: 2,
          failure: { type: 'PolicyViolation', message: 'secret token: ssm:/token/b changed since the plan' },
        },
        // queue was not started: the batch stopped.
        ...input.secrets.slice(3).map((s) => ({ secret: s.secret, written: [], reached: 0 })),
      ],
    });
    const f = await fails(m, 'fast-secrets-refused');
    assert.equal(f.type, 'PolicyViolation');
    assert.match(
      f.message,
      /^secret token: ssm:\/token\/b changed since the plan; every secret written \(db, token\) was put back$/,
    );
    const restores = m.inputs
      .filter((i) => i.name === 'restoreSecretLocation')
      .map((i) => {
        const x = i.input as { secret: string; index: number };
        return `${x.secret}/${x.index}`;
      })
      .sort();
    assert.deepEqual(restores, ['db/0', 'db/1', 'token/0', 'token/1'], 'queue was never written');
    assert.ok(!m.calls.includes('restartSecretsConsumers'), 'nothing restarted: nothing ran on a new value');
    assert.ok(!m.calls.includes('revokeOldSecret'));
  });

  it('the write failing as a whole: what it wrote is read back, only that is put back, an issued value revoked', async () => {
    const m = mocks(batch([secret('db', { revokeUnused: true }), secret('token'), secret('queue')]), {
      writeSecretBatch: async () => {
        throw fail(FailureType.StoreUnauthorized, 'store ssm: denied');
      },
      secretsWrittenBy: async (input: { secrets: { secret: string; locations: number }[] }) =>
        input.secrets.map((s) =>
          s.secret === 'db'
            ? { secret: s.secret, written: ['2'], reached: s.locations }
            : { secret: s.secret, written: [], reached: 0 },
        ),
    });
    const f = await fails(m, 'fast-secrets-write-lost');
    assert.equal(f.type, 'StoreUnauthorized');
    assert.match(f.message, /store ssm: denied; every secret written \(db\) was put back$/);
    const restored = m.inputs
      .filter((i) => i.name === 'restoreSecretLocation')
      .map((i) => (i.input as { secret: string }).secret);
    assert.deepEqual(restored, ['db', 'db'], 'only what the run wrote');
    const revoked = m.inputs.find((i) => i.name === 'revokeOldSecret')?.input as {
      unused: boolean;
      expect: { current: string };
    };
    assert.deepEqual([revoked.unused, revoked.expect.current], [true, '2'], "db's unused value, read back");
  });

  it('a failed probe: every secret put back, the consumers restarted on the old values, the undo failure named', async () => {
    const m = mocks(PLAN, {
      probeSecret: async (input: { secret: string }) => {
        if (input.secret === 'queue') throw fail(FailureType.VerifyFailed, 'probe queue did not pass');
        return 'ok';
      },
      restoreSecretLocation: async (input: { secret: string; index: number }) => {
        if (input.secret === 'db' && input.index === 1) throw fail(FailureType.StoreUnauthorized, 'denied');
        return 'restored';
      },
    });
    const f = await fails(m, 'fast-secrets-probe');
    assert.equal(f.type, 'RestoreFailed');
    assert.match(
      f.message,
      /probe queue did not pass; the undo failed: db: ssm:\/db\/b NOT put back \(denied\)$/,
    );
    const dbRestores = m.inputs
      .filter((i) => i.name === 'restoreSecretLocation' && (i.input as { secret: string }).secret === 'db')
      .map((i) => (i.input as { index: number }).index);
    assert.deepEqual(dbRestores, [1, 0], "each secret's locations in reverse, trying every one");
    const restarts = m.inputs.filter((i) => i.name === 'restartSecretsConsumers');
    assert.equal(restarts.length, 2, 'restarted on the new values, then on the old');
    const back = restarts[1]?.input as { secrets: { values: string[] }[] };
    assert.deepEqual(back.secrets[0]?.values, ['1', '2'], 'the old version first');
    assert.ok(!m.calls.includes('revokeOldSecret'));
  });

  it("a secret's own rotation going refuses the run before any change, naming it", async () => {
    const m = mocks(PLAN, {
      lockHolders: async (i: { workflowIds: string[] }) =>
        i.workflowIds.map((id) => (id === 'rotate-secret/token/prod' ? id : null)),
    });
    const f = await fails(m, 'fast-secrets-busy');
    assert.equal(f.type, 'EnvironmentBusy');
    assert.match(
      f.message,
      /secret token\/prod is in use by rotate-secret\/token\/prod; nothing was changed/,
    );
    assert.deepEqual(
      m.calls.filter((c) => c !== 'lockHolders'),
      ['planSecretBatch'],
    );
  });

  it("a secret's run from before runs held their own lock (lock/secret/...) refuses it too", async () => {
    const m = mocks(PLAN, {
      lockHolders: async (i: { workflowIds: string[] }) =>
        i.workflowIds.map((id) => (id === 'lock/secret/queue/prod' ? 'web-ui-queue' : null)),
    });
    const f = await fails(m, 'fast-secrets-busy-old-lock');
    assert.equal(f.type, 'EnvironmentBusy');
    assert.match(f.message, /secret queue\/prod is in use by web-ui-queue; nothing was changed/);
    assert.ok(!m.calls.includes('writeSecretBatch'));
  });

  it('nothing due: the plan, and no lock beyond its own, no write', async () => {
    const m = mocks(batch([]));
    const r = await execute(m, 'fast-secrets-none');
    assert.deepEqual(m.calls, ['planSecretBatch']);
    assert.deepEqual(r.written, {});
  });
});
