// Fast tier: the rotation workflow against mocked activities on the time-skipping test server
// (no hosts, stores or services): a dry run stops at its plan, a rejected gate stages nothing, a
// failed publish whose rollback also fails is reported as such.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TemporalFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { FailureType, fail } from '../../shared/failures';
import { rotateJwtKeys } from '../../workflows';
import { progressQuery, rejectUpdate } from '../../workflows/messages';
import type { RotateResult } from '../../workflows/rotate';
import { failureOf } from '../helpers';
import { sign } from '../infra/approvers';
import { until } from '../infra/until';
import { withWorker as run, timeSkipping } from './harness';
import { mocks } from './rotation-mocks';

describe('rotateJwtKeys against mocked activities', () => {
  let env: TestWorkflowEnvironment;
  const n = 0;

  before(async () => {
    env = await timeSkipping();
  });
  after(() => env?.teardown());

  const withWorker = <T>(activities: Parameters<typeof run>[1], fn: (taskQueue: string) => Promise<T>) =>
    run(env, activities, fn);

  it('a dry run returns its plan and calls nothing that writes', async () => {
    const { calls, activities } = mocks(false);
    const result: RotateResult = await withWorker(activities, (taskQueue) =>
      env.client.workflow.execute(rotateJwtKeys, {
        taskQueue,
        workflowId: `dry-${n}`,
        args: [{ environments: ['prod'], dryRun: true }],
      }),
    );
    assert.equal(result.dryRun, true);
    assert.deepEqual(calls, ['planRotation']);
  });

  /** The worker's answer while freeze `year-end` holds prod until `until` (then: no freeze). */
  const frozenUntil = (until: number) => async () =>
    Date.now() < until
      ? {
          frozen: {
            name: 'year-end',
            until: new Date(until).toISOString(),
            reason: 'release',
            environments: ['prod'],
          },
        }
      : {};

  it('a freeze refuses a run started by hand before anything, naming it and how to override', async () => {
    const { calls, activities } = mocks(false, { checkStarterConfig: frozenUntil(Date.now() + 3600_000) });
    const failure = await withWorker(activities, (taskQueue) =>
      failureOf(
        env.client.workflow.execute(rotateJwtKeys, {
          taskQueue,
          workflowId: `frozen-${n}`,
          args: [{ environments: ['prod'] }],
        }),
      ),
    );
    assert.equal(failure.type, FailureType.BadInput);
    assert.match(
      failure.message,
      /prod is frozen until .* \(freeze year-end: release\); nothing was changed: .*--override-freeze REASON/,
    );
    assert.deepEqual(calls, ['checkStarterConfig'], 'no plan, no lock, no change');
  });

  it('a freeze overridden with a reason lets the run go ahead and records it in its steps', async () => {
    const { calls, activities } = mocks(false, {
      checkStarterConfig: frozenUntil(Date.now() + 3600_000),
      retireOldKeys: async () => ({ removedBackups: [], disabledVersions: [] }),
    });
    const progress = await withWorker(activities, async (taskQueue) => {
      const h = await env.client.workflow.start(rotateJwtKeys, {
        taskQueue,
        workflowId: `override-${n}`,
        args: [{ environments: ['prod'], overrideFreeze: 'INC-42: key leaked' }],
      });
      await h.result();
      return h.query(progressQuery);
    });
    const freeze = progress.steps.find((s) => s.name === 'freeze');
    assert.equal(freeze?.status, 'done');
    assert.match(
      freeze?.detail ?? '',
      /^freeze year-end until .* \(release\) overridden: INC-42: key leaked$/,
    );
    assert.ok(calls.includes('stageKeyPair'), calls.join(', '));
  });

  it('a run cancelled at its gate reads as cancelled: its state, the gate step, no gate left open', async () => {
    const { calls, activities } = mocks(true);
    const progress = await withWorker(activities, async (taskQueue) => {
      const h = await env.client.workflow.start(rotateJwtKeys, {
        taskQueue,
        workflowId: `cancel-${n}`,
        args: [{ environments: ['prod'] }],
      });
      await until('the gate', async () => (await h.query(progressQuery)).pendingGate);
      await h.cancel();
      await h.result().catch(() => undefined);
      return h.query(progressQuery);
    });
    assert.equal(progress.state, 'cancelled');
    assert.equal(progress.pendingGate, undefined, 'no gate waits in a closed run');
    assert.equal(progress.steps.find((s) => s.name === 'approval')?.status, 'cancelled');
    assert.ok(!progress.steps.some((s) => s.status === 'running'), JSON.stringify(progress.steps));
    assert.ok(!calls.includes('stageKeyPair'), calls.join(', '));
  });

  it('a rejected gate ends the run NotApproved, with nothing staged', async () => {
    const { calls, activities } = mocks(true);
    const failure = await withWorker(activities, async (taskQueue) => {
      const h = await env.client.workflow.start(rotateJwtKeys, {
        taskQueue,
        workflowId: `gate-${n}`,
        args: [{ environments: ['prod'] }],
      });
      // Polling (not awaiting the result) keeps the server from skipping past the gate's timeout.
      const gate = await until('the gate', async () => (await h.query(progressQuery)).pendingGate);
      const digest = gate.digest ?? '';
      // A refused decision goes back to its sender unsealed (the Web UI shows an Update's failure
      // as it comes), unlike the run's own failures (shared/failure-converter.ts).
      const refused = await h.executeUpdate(rejectUpdate, { args: [{ by: 'mallory', digest }] }).then(
        () => assert.fail('a non-approver was accepted'),
        (err: Error & { cause?: TemporalFailure }) => err.cause,
      );
      assert.match(refused?.message ?? '', /"mallory" is not an approver/);
      assert.equal(refused?.failure?.encodedAttributes ?? undefined, undefined, 'not sealed');
      await h.executeUpdate(rejectUpdate, {
        args: [{ by: 'alice', digest, signature: sign('alice', `reject ${digest}`) }],
      });
      return failureOf(h.result());
    });
    assert.equal(failure.type, 'NotApproved');
    assert.match(failure.message, /rejected by alice; nothing was changed/);
    assert.ok(!calls.includes('stageKeyPair'), calls.join(', '));
  });

  it('a failed publish whose rollback fails too is reported as rollback-failed', async () => {
    const { calls, activities } = mocks(false, {
      restartAndVerify: async () => {
        throw fail(FailureType.PublishFailed, 'PUBLISH_FAILED status=401');
      },
      restoreHost: async () => {
        throw fail(FailureType.CommandFailed, 'host vm-prod: cannot restore the key files');
      },
    });
    const result: RotateResult = await withWorker(activities, (taskQueue) =>
      env.client.workflow.execute(rotateJwtKeys, {
        taskQueue,
        workflowId: `rollback-${n}`,
        args: [{ environments: ['prod'] }],
      }),
    );
    assert.equal(result.ok, false);
    const prod = result.environments[0];
    assert.equal(prod?.status, 'rollback-failed');
    assert.match(
      prod?.status === 'rollback-failed' ? prod.rollbackError : '',
      /cannot restore the key files/,
    );
    assert.ok(calls.includes('restoreSecrets'), 'the stores were put back before the host failed');
  });

  /** Cancels a rotation while `step` runs (it takes 1.5 s); returns the order things happened in. */
  async function cancelDuring(step: 'installKeyFiles' | 'restartAndVerify', result: unknown) {
    const events: string[] = [];
    const { calls, activities } = mocks(false, {
      [step]: async () => {
        events.push(`${step} begins`);
        await new Promise((r) => setTimeout(r, 1500));
        events.push(`${step} ends`);
        return result;
      },
      restoreHost: async () => {
        events.push('roll back');
        return { restored: ['key files', 'token'] };
      },
    });
    const failure = await withWorker(activities, async (taskQueue) => {
      const h = await env.client.workflow.start(rotateJwtKeys, {
        taskQueue,
        workflowId: `cancel-${step}`,
        args: [{ environments: ['prod'] }],
      });
      await until(`${step} to begin`, () => (events.includes(`${step} begins`) ? true : undefined));
      await h.cancel();
      return failureOf(h.result());
    });
    assert.match(failure.message, /cancel/i);
    return { events, calls };
  }

  it('a run cancelled while key files are installed waits for the install, then rolls back', async () => {
    const { events, calls } = await cancelDuring('installKeyFiles', {});
    assert.deepEqual(events, ['installKeyFiles begins', 'installKeyFiles ends', 'roll back']);
    assert.ok(
      !calls.includes('resignPublisherToken') && !calls.includes('restartAndVerify'),
      calls.join(', '),
    );
  });

  it('a run cancelled during the restart waits for it, then rolls back all the same', async () => {
    const { events } = await cancelDuring('restartAndVerify', { marker: 'PUBLISH_SUCCESS' });
    assert.deepEqual(events, ['restartAndVerify begins', 'restartAndVerify ends', 'roll back']);
  });
});
