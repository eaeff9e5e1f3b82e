// The 90-day overlap wait on the Java time-skipping test server: it finishes in seconds of wall
// time, an approver can expedite it, and a new worker continues a wait an old one started.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { createRekeyWorker } from '../worker/worker';
import { rolloverSigningKey } from '../workflows';
import type { Progress } from '../workflows/messages';
import { progressQuery } from '../workflows/messages';
import type { RolloverResult } from '../workflows/rollover';
import './helpers';
import { expediteUpdate } from '../workflows/messages';
import { assertRefused, decide, sign } from './infra/approvers';
import { testEnv } from './infra/env';
import {
  accepted,
  keyringActivities,
  keyringTopology,
  mint,
  seedKeyring,
  stopReplicas,
} from './infra/keyring-topology';
import { portOf } from './infra/ports';
import type { Topology } from './infra/topology';
import { until } from './infra/until';

const DAY = 86400e3;

describe('rollover TTL wait (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let t: Topology;
  const port = portOf('rollover-ts');
  let n = 0;

  before(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: testEnv().timeSkippingServerPath } },
    });
    t = keyringTopology('rollover-ts', port, '90d');
    await seedKeyring(t, port);
  });
  after(async () => {
    await stopReplicas(t);
    await env?.teardown();
  });

  const url = () => t.config.keyrings.api?.replicas[0]?.url as string;
  const worker = (cache?: number) =>
    createRekeyWorker({
      config: t.config,
      connection: env.nativeConnection,
      taskQueue: 'rollover-ts',
      ...(cache === undefined ? {} : { maxCachedWorkflows: cache }),
    });
  const start = () =>
    env.client.workflow.start(rolloverSigningKey, {
      taskQueue: 'rollover-ts',
      workflowId: `rollover/api-${n++}`,
      args: [{ keyring: 'api' }],
    });

  /** Polls (time stays locked while we are not awaiting a result) until the wait has begun. A
   * worker without a workflow cache replays the whole history for every query: the polls are
   * spaced and given time, or on a busy machine they crowd out the run they wait for. */
  function waiting(h: WorkflowHandle): Promise<Progress> {
    return until(
      'the rollover to start its wait',
      async () => {
        const p = await h.query(progressQuery);
        return p.steps.find((s) => s.name === 'wait')?.status === 'running' ? p : undefined;
      },
      { everyMs: 250, timeoutMs: 120_000 },
    );
  }

  it('waits the default 90 days and then removes the old key', async () => {
    const old = await mint(url(), 'ts-a');
    const result: RolloverResult = await (await worker()).runUntil(async () => (await start()).result());
    assert.equal(result.removed, old.kid);
    assert.equal(result.expedited, undefined);
    assert.equal(await accepted(url(), old.token), 401);
    assert.equal(result.nextRotation, undefined, 'no schedule started it, so none is due');
  });

  it('an approver expedites the wait; a non-approver is refused; the result says what was cut short', async () => {
    const old = await mint(url(), 'ts-b');
    const result: RolloverResult = await (await worker()).runUntil(async () => {
      const h = await start();
      const p = await waiting(h);
      assert.match(
        p.steps.find((s) => s.name === 'wait')?.detail ?? '',
        /until .* \(90d\); .* still accepted/,
      );
      assert.equal(await accepted(url(), old.token), 200, 'old token valid during the wait');
      const digest = p.pendingGate?.digest ?? '';
      await assertRefused(
        h.executeUpdate(expediteUpdate, {
          args: [{ by: 'mallory', digest, signature: sign('mallory', `expedite ${digest}`) }],
        }),
        /"mallory" is not an approver/,
      );
      await decide(env.client, t.config, h.workflowId, 'expedite', 'alice', 'key exposed');
      const r = await h.result();
      const decisions = (await h.query(progressQuery)).decisions.map((d) => [
        d.decision,
        d.by,
        !!d.signature,
      ]);
      assert.deepEqual(decisions, [['expedite', 'alice', true]]);
      return r;
    });
    assert.equal(result.expedited?.by, 'alice');
    assert.ok((result.expedited?.cutShortMs ?? 0) > 89 * DAY, 'almost all of the 90 days were cut short');
    assert.equal(await accepted(url(), old.token), 401);
  });

  it('a worker started during the wait continues it', async () => {
    const old = await mint(url(), 'ts-c');
    // Without a workflow cache the first worker holds no sticky queue the server would wait on.
    const h = await (await worker(0)).runUntil(async () => {
      const handle = await start();
      await waiting(handle);
      return handle;
    });
    const result: RolloverResult = await (await worker()).runUntil(() => h.result());
    assert.equal(result.removed, old.kid);
    const ring = await keyringActivities(t).readKeyring({ keyring: 'api' });
    assert.equal(ring.active, result.added);
    assert.ok(!ring.kids.includes(old.kid), 'the old key is gone from the ring');
    assert.equal(await accepted(url(), old.token), 401);
  });
});
