// Fast tier: the secret rotation workflow against mocked activities on the time-skipping test
// server: a failed probe puts every location back in the reverse order and restarts the
// consumers, trying every location even when one cannot be put back; a value issued by hand
// (generator: manual) is waited for before the writes and ends at a gate confirming the revoke.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { SecretPlan } from '../../activities/secret-recipe';
import { FailureType, fail } from '../../shared/failures';
import { workflowBundle } from '../../worker/bundle';
import { rotateSecret } from '../../workflows';
import { approveUpdate, progressQuery, rejectUpdate } from '../../workflows/messages';
import { failureOf } from '../helpers';
import { until } from '../infra/until';
import { recording, withWorker as run, timeSkipping } from './harness';

function plan(extra: Partial<SecretPlan> = {}): SecretPlan {
  return {
    secret: 'token',
    env: 'prod',
    recipe: 'digest',
    locations: ['a', 'b', 'c'].map((name) => ({ store: 'ssm', name, current: `${name}1` })),
    consumers: ['app'],
    probes: ['GET /health -> 200'],
    revoke: false,
    approvalRequired: false,
    text: ['the plan'],
    ...extra,
  };
}

function mocks(p: SecretPlan, overrides: Record<string, (...args: never[]) => Promise<unknown>> = {}) {
  return recording({
    secretConsumers: async () => p.consumers,
    planSecretRotation: async () => p,
    writeSecretLocation: async (input: { index: number; phase?: string }) =>
      `${input.phase ?? 'write'}-${input.index}`,
    restartConsumers: async () => undefined,
    probeSecret: async () => 'ok',
    restoreSecretLocation: async () => 'restored',
    revokeOldSecret: async () => undefined,
    ...overrides,
  } as Record<string, (...args: never[]) => Promise<unknown>>);
}

describe('rotateSecret workflow (mocked activities)', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await timeSkipping();
  });
  after(async () => {
    await env?.teardown();
  });

  it("takes its secret's lock before its environment's, as a run under the secret's own id holds them", async () => {
    const m = mocks(plan(), {
      takeLocks: async (i: { locks: { workflowId: string }[] }) => ({
        held: i.locks.map((l) => ({ workflowId: l.workflowId, runId: 'fast' })),
      }),
    });
    await run(env, m.activities, (taskQueue) =>
      env.client.workflow.execute(rotateSecret, {
        taskQueue,
        // Not the secret's own id (a schedule's, the Web UI's): both locks are taken.
        workflowId: 'fast-secret-lock-order',
        args: [{ secret: 'token', environment: 'prod' }],
      }),
    );
    const taken = m.inputs.find((i) => i.name === 'takeLocks')?.input as { locks: { resource: string }[] };
    assert.deepEqual(
      taken.locks.map((l) => l.resource),
      ['secret/token/prod', 'env/prod'],
    );
  });

  it('a failed probe: every location tried in reverse, one that cannot be put back named, consumers restarted', async () => {
    const m = mocks(plan(), {
      probeSecret: async () => {
        throw fail(FailureType.VerifyFailed, 'GET /health -> 200 did not pass');
      },
      restoreSecretLocation: async (input: { index: number }) => {
        if (input.index === 1) throw fail(FailureType.StoreUnauthorized, 'denied');
        return 'restored';
      },
    });
    const f = await run(env, m.activities, (taskQueue) =>
      failureOf(
        env.client.workflow.execute(rotateSecret, {
          taskQueue,
          workflowId: 'fast-secret-undo',
          args: [{ secret: 'token', environment: 'prod' }],
        }),
      ),
    );
    assert.equal(f.type, 'RestoreFailed');
    assert.match(f.message, /did not pass; the undo failed: ssm:b NOT put back \(denied\)$/);
    const restores = m.inputs
      .filter((i) => i.name === 'restoreSecretLocation')
      .map((i) => (i.input as { index: number }).index);
    assert.deepEqual(restores, [2, 1, 0], 'every location, the last written first');
    assert.deepEqual(
      m.calls.slice(-1),
      ['restartConsumers'],
      'the consumers restarted on the old value last',
    );
    assert.equal(m.calls.filter((c) => c === 'revokeOldSecret').length, 0);
  });

  describe('a value issued by hand (generator: manual)', () => {
    const manual = {
      issuer: 'Neon console, API Keys',
      within: '2h',
      confirm: {
        mode: 'named' as const,
        approvers: { alice: null },
        required: 1,
        separateFromStarter: false,
        timeoutMs: 3_600_000,
      },
    };
    /** Starts a run whose supply step waits until `release` is called. */
    const start = async (
      id: string,
      overrides: Record<string, (...args: never[]) => Promise<unknown>> = {},
    ) => {
      let release: (v: string) => void = () => undefined;
      const supplied = new Promise<string>((r) => {
        release = r;
      });
      const m = mocks(plan({ manual }), { awaitSuppliedValue: () => supplied, ...overrides });
      return {
        m,
        release,
        run: (fn: (h: Awaited<ReturnType<typeof env.client.workflow.start>>) => Promise<unknown>) =>
          run(env, m.activities, async (q) => {
            const h = await env.client.workflow.start(rotateSecret, {
              taskQueue: q,
              workflowId: id,
              args: [{ secret: 'token', environment: 'prod' }],
            });
            return fn(h);
          }),
      };
    };

    it('waits at supply (shown, with the command), writes from the supplied version, then waits for the revoke to be confirmed', async () => {
      const { m, release, run: go } = await start('fast-secret-manual');
      const { result, waiting, gate } = (await go(async (h) => {
        const waiting = await until('the supply wait', async () => (await h.query(progressQuery)).supply);
        const steps = (await h.query(progressQuery)).steps.map((s) => s.name);
        assert.deepEqual(
          steps.slice(0, 4),
          ['plan', 'approval', 'supply', 'write'],
          'supply comes before the writes',
        );
        assert.ok(!m.calls.includes('writeSecretLocation'), 'nothing written before the value is there');
        release('v7');
        const gate = await until('the revoke gate', async () => (await h.query(progressQuery)).pendingGate);
        assert.equal((await h.query(progressQuery)).supply, undefined, 'the wait is over');
        await h.executeUpdate(approveUpdate, { args: [{ by: 'alice', digest: gate.digest ?? '' }] });
        return { result: await h.result(), waiting, gate };
      })) as {
        result: { revokeConfirmedBy?: string[]; revoked: boolean; startedAt: string };
        waiting: { command: string; issuer: string; current: string; phase: string; until: string };
        gate: { name: string; summary: string };
      };
      assert.equal(waiting.command, 'rekey secret supply token --env prod');
      assert.equal(waiting.issuer, manual.issuer);
      assert.deepEqual([waiting.current, waiting.phase], ['a1', 'write']);
      const wait = m.inputs.find((i) => i.name === 'awaitSuppliedValue')?.input as {
        until: number;
        expect: { name: string };
      };
      assert.equal(wait.expect.name, 'a');
      // `within` (2h) from the workflow's clock, as the Web UI shows it.
      assert.equal(Date.parse(waiting.until), wait.until);
      assert.ok(Math.abs(wait.until - Date.parse(result.startedAt) - 2 * 3_600_000) < 60_000, waiting.until);
      const first = m.inputs.find((i) => i.name === 'writeSecretLocation')?.input as { supplied?: string };
      assert.equal(first.supplied, 'v7', 'the first write checks the version the wait took');
      assert.equal(gate.name, 'revoke');
      assert.match(gate.summary, /revoke the old value of secret token in prod at Neon console, API Keys/);
      assert.deepEqual(result.revokeConfirmedBy, ['alice']);
      assert.deepEqual(
        m.calls.filter((c) => c !== 'secretConsumers' && c !== 'planSecretRotation'),
        [
          'awaitSuppliedValue',
          'writeSecretLocation',
          'writeSecretLocation',
          'writeSecretLocation',
          'restartConsumers',
          'probeSecret',
        ],
      );
      assert.ok(!m.calls.includes('revokeOldSecret'), 'rekey revokes nothing itself');
    });

    it('a revoke nobody confirms fails the run saying the new value is in place; nothing is put back', async () => {
      const { m, release, run: go } = await start('fast-secret-manual-rejected');
      const f = (await go(async (h) => {
        release('v7');
        const gate = await until('the revoke gate', async () => (await h.query(progressQuery)).pendingGate);
        await h.executeUpdate(rejectUpdate, { args: [{ by: 'alice', digest: gate.digest ?? '' }] });
        return failureOf(h.result());
      })) as { type: string; message: string };
      assert.equal(f.type, 'NotApproved');
      assert.match(
        f.message,
        /new value is in place and verified, but nobody confirmed the old one revoked at Neon console, API Keys/,
      );
      assert.ok(!m.calls.includes('restoreSecretLocation'));
    });

    it('a wait that ends without a value puts the first location back (a version taken meanwhile goes) and writes nothing else', async () => {
      const { m, run: go } = await start('fast-secret-manual-timeout', {
        awaitSuppliedValue: async () => {
          throw fail(FailureType.NotApproved, 'no new value reached ssm:a within 2h; nothing was changed');
        },
      });
      const f = (await go((h) => failureOf(h.result()))) as { type: string; message: string };
      assert.equal(f.type, 'NotApproved');
      assert.match(
        f.message,
        /no version of the run's is left at ssm:a; revoke a value handed over at Neon console, API Keys, if one was/,
      );
      const restores = m.inputs
        .filter((i) => i.name === 'restoreSecretLocation')
        .map((i) => (i.input as { index: number }).index);
      assert.deepEqual(restores, [0]);
      assert.ok(!m.calls.includes('writeSecretLocation'));
    });

    it('a failed probe after the supply puts every location back and asks for no confirmation', async () => {
      const {
        m,
        release,
        run: go,
      } = await start('fast-secret-manual-probe', {
        probeSecret: async () => {
          throw fail(FailureType.VerifyFailed, 'GET /health -> 200 did not pass');
        },
      });
      const f = (await go(async (h) => {
        release('v7');
        return failureOf(h.result());
      })) as { type: string; message: string };
      assert.equal(f.type, 'VerifyFailed');
      assert.match(f.message, /every location was put back/);
      assert.equal(m.calls.filter((c) => c === 'restoreSecretLocation').length, 3);
    });
  });
});

describe('events a run emits replay as they were recorded', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await timeSkipping();
  });
  after(async () => {
    await env?.teardown();
  });

  it('a run that emits events after its local activities replays', async () => {
    // A guard, not a reproduction: the nondeterminism the event ids had (their clock, read after a
    // local activity whose result came in a workflow task of its own) needs a timing this server
    // does not make; the dev server made it once in the notify suite (see workflows/notify.ts).
    const slow = async <T>(v: T) => {
      await new Promise((r) => setTimeout(r, 300));
      return v;
    };
    const p = plan({ consumers: [] });
    const m = mocks(p, {
      secretConsumers: () => slow([]),
      planSecretRotation: () => slow(p),
      checkStarterConfig: async () => ({
        notify: { types: ['run.completed', 'gate.opened'], environments: ['prod'] },
      }),
      notificationSinks: async () => ['hook'],
      deliverNotification: async () => 'sent',
    });
    const workflowId = 'fast-secret-events-replay';
    await run(env, m.activities, (taskQueue) =>
      env.client.workflow.execute(rotateSecret, {
        taskQueue,
        workflowId,
        args: [{ secret: 'token', environment: 'prod' }],
      }),
    );
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    assert.ok(
      history.events?.some((e) =>
        e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId?.startsWith('notify/'),
      ),
      'the run emitted an event',
    );
    await Worker.runReplayHistory({ workflowBundle: workflowBundle() }, history, workflowId);
  });
});
