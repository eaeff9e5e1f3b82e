// Fast tier: a rollover against mocked keyring activities on the time-skipping test server. Its
// roll-outs hold the locks of the environments the ring serves; one held by another run makes a
// roll-out wait (the ring has changed already), not fail.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { rolloverSigningKey } from '../../workflows';
import { progressQuery } from '../../workflows/messages';
import { until } from '../infra/until';
import { recording, withWorker as run, timeSkipping } from './harness';

describe('rolloverSigningKey against mocked activities', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await timeSkipping();
  });
  after(() => env?.teardown());

  it('a roll-out waits while another run holds an environment the ring serves', async () => {
    const ring = (kids: string[], active: string) => ({ kids, active, version: 'v' });
    let holder: string | null = 'rotate-jwt/prod';
    const { calls, activities } = recording({
      readKeyring: async () => ({
        ...ring(['k1'], 'k1'),
        environments: ['prod'],
        approvalRequired: false,
        scope: {},
        tokenLifetime: '1d',
        replicas: ['https://api.example'],
        maxUnavailable: 1,
        approvers: [],
        approvalTimeout: '1h',
        approval: { mode: 'named', approvers: {}, required: 1, separateFromStarter: false, timeoutMs: 1 },
      }),
      addKey: async () => ({ ...ring(['k1', 'k2'], 'k1'), added: 'k2' }),
      activate: async () => ring(['k1', 'k2'], 'k2'),
      removeKey: async () => ring(['k2'], 'k2'),
      rollOut: async () => ({ url: 'https://api.example', kids: [] }),
      // Another run holds prod until the test lets it go.
      takeLocks: async (i: { locks: { resource: string; workflowId: string }[] }) => {
        const prod = i.locks.find((l) => l.resource === 'env/prod');
        return holder && prod
          ? { held: [], busy: { ...prod, owner: holder } }
          : { held: i.locks.map((l) => ({ workflowId: l.workflowId, runId: 'fast' })) };
      },
      nextScheduledStart: async () => null,
    });
    const result = await run(env, activities, async (taskQueue) => {
      const h = await env.client.workflow.start(rolloverSigningKey, {
        taskQueue,
        workflowId: 'rollover/api',
        args: [{ keyring: 'api' }],
      });
      const waiting = await until('the roll-out to wait for the lock', async () => {
        const p = await h.query(progressQuery);
        return p.steps.find((s) => /waiting: env prod is in use by rotate-jwt\/prod/.test(s.detail ?? ''));
      });
      assert.equal(waiting.name, 'roll out new key');
      // The keyring's lock, the plan, the new key, then the roll-out's locks (refused): no replica
      // restarted meanwhile.
      assert.deepEqual(calls, ['takeLocks', 'readKeyring', 'addKey', 'takeLocks']);
      holder = null;
      return h.result();
    });
    assert.equal(result.removed, 'k1');
    assert.equal(calls.filter((c) => c === 'rollOut').length, 3, 'all three roll-outs ran');
  });
});
