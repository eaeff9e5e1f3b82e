// Fast tier: the secret rotation workflow against mocked activities on the time-skipping test
// server: a failed probe puts every location back in the reverse order and restarts the
// consumers, trying every location even when one cannot be put back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { SecretPlan } from '../../activities/secret-recipe';
import { FailureType, fail } from '../../shared/failures';
import { rotateSecret } from '../../workflows';
import { failureOf } from '../helpers';
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
});
