// Overlap rollover on the dev server with three replicas (sshd hosts) of the stand-in in keyring
// mode: no token is rejected while it may be valid, and the old key is gone at the end.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRolloverActivities } from '../activities/rollover';
import { runHistory } from '../client/history';
import { lockHolderOf } from '../shared/lock-holder';
import { rolloverSigningKey } from '../workflows';
import { rolloverWorkflowId } from '../workflows/inputs';
import { progressQuery } from '../workflows/messages';
import type { RolloverResult } from '../workflows/rollover';
import { foreignCaller } from './foreign/workflows';
import { activitySteps, type TemporalFixture, temporalFixture } from './helpers';
import { decide } from './infra/approvers';
import { assertMatchesSchema } from './infra/json-schemas';
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

describe('rolloverSigningKey', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let v1: string;
  const port = portOf('rollover');
  const urls = () => t.config.keyrings.api?.replicas.map((r) => r.url) ?? [];

  before(async () => {
    fx = await temporalFixture('rollover');
    t = keyringTopology('rollover', port, '6s');
    v1 = await seedKeyring(t, port);
  });
  after(async () => {
    await stopReplicas(t);
    await fx.close();
  });

  it('refuses a --ttl shorter than the token lifetime and changes nothing', async () => {
    const beforeRing = await keyringActivities(t).readKeyring({ keyring: 'api' });
    const error = await fx.withWorker(t.config, async () => {
      const h = await fx.client.workflow.start(rolloverSigningKey, {
        taskQueue: fx.taskQueue,
        workflowId: `${rolloverWorkflowId('api')}-short`,
        args: [{ keyring: 'api', ttl: '2s' }],
      });
      return h.result().then(
        () => undefined,
        (e: Error) => e,
      );
    });
    const cause = (error as { cause?: Error & { type?: string } } | undefined)?.cause;
    assert.equal(cause?.type, 'BadInput');
    assert.match(cause?.message ?? '', /a 2s wait is shorter than keyring api's token lifetime 6s/);
    assert.deepEqual(await keyringActivities(t).readKeyring({ keyring: 'api' }), beforeRing);
  });

  it('policy comes from the config: a start asking for an approval the config does not require is refused', async () => {
    const beforeRing = await keyringActivities(t).readKeyring({ keyring: 'api' });
    const [ended, error] = await fx.withWorker(t.config, async () => {
      const h = await fx.client.workflow.start(rolloverSigningKey, {
        taskQueue: fx.taskQueue,
        workflowId: `${rolloverWorkflowId('api')}-asks-approval`,
        args: [{ keyring: 'api', ttl: '10s', requireApproval: true }],
      });
      // A run that took the client's word would wait at a gate of its own making.
      const how = await until('the run to end or wait at a gate', async () => {
        if ((await h.describe()).status.name !== 'RUNNING') return 'ended';
        return (await h.query(progressQuery)).pendingGate ? 'at a gate' : undefined;
      });
      if (how !== 'ended') await h.terminate('test: waited at a gate');
      return [
        how,
        await h.result().then(
          () => undefined,
          (e: Error) => e,
        ),
      ] as const;
    });
    assert.equal(ended, 'ended');
    const cause = (error as { cause?: Error & { type?: string } } | undefined)?.cause;
    assert.equal(cause?.type, 'BadInput');
    assert.match(cause?.message ?? '', /requireApproval: the config requires no approval for keyring api/);
    assert.deepEqual(await keyringActivities(t).readKeyring({ keyring: 'api' }), beforeRing);
  });

  it('keeps old tokens valid through the overlap, issues new ones with the new kid, then drops the old key', async () => {
    const old = await mint(urls()[0] as string, 'client-a');
    assert.equal(old.kid, v1);
    let during: { oldStatus: number[]; newKid: string } | undefined;
    const result: RolloverResult = await fx.withWorker(t.config, async () => {
      const h = await fx.client.workflow.start(rolloverSigningKey, {
        taskQueue: fx.taskQueue,
        workflowId: rolloverWorkflowId('api'),
        args: [{ keyring: 'api' }],
      });
      for (let i = 0; i < 400 && !during; i++) {
        const p = await h.query(progressQuery);
        if (p.steps.find((s) => s.name === 'wait')?.status === 'running') {
          const fresh = await mint(urls()[1] as string, 'client-b');
          during = {
            oldStatus: await Promise.all(urls().map((u) => accepted(u, old.token))),
            newKid: fresh.kid,
          };
        } else {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      return h.result();
    });
    assert.ok(during, 'observed the overlap wait');
    assert.deepEqual(
      during.oldStatus,
      [200, 200, 200],
      'old tokens accepted on every replica during the wait',
    );
    assert.equal(during.newKid, result.added, 'tokens issued after the flip carry the new kid');
    assert.equal(result.removed, v1);
    assert.deepEqual(await Promise.all(urls().map((u) => accepted(u, old.token))), [401, 401, 401]);
    const fresh = await mint(urls()[2] as string, 'client-c');
    assert.deepEqual(await Promise.all(urls().map((u) => accepted(u, fresh.token))), [200, 200, 200]);
    assert.deepEqual((await keyringActivities(t).readKeyring({ keyring: 'api' })).kids, [result.added]);

    // One replica at a time (maxUnavailable 1): each restart is scheduled only after the previous
    // one came back listing the ring, so the service never went down as a whole.
    const events =
      (await fx.client.workflow.getHandle(rolloverWorkflowId('api')).fetchHistory()).events ?? [];
    const rollOuts = new Set<string>();
    let inFlight = 0;
    for (const e of events) {
      if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'rollOut') {
        rollOuts.add(String(e.eventId));
        inFlight++;
        assert.ok(inFlight <= 1, `event ${e.eventId}: a second replica restarting while one is`);
      }
      const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
      if (done && rollOuts.has(String(done.scheduledEventId))) inFlight--;
    }
    assert.equal(rollOuts.size, 9, 'three roll-outs of three replicas');

    // The audit trail: kids added and removed, no key.
    // With the config, a keyring's runs are placed in the environments it serves.
    const record = (
      await runHistory(fx.client, { since: new Date(Date.now() - 3600_000), env: 'prod', config: t.config })
    ).find((r) => r.workflowId === rolloverWorkflowId('api') && r.changes.length > 0);
    assert.ok(record);
    assertMatchesSchema('history', { schema: 'rekey/history/1', ...record });
    assert.deepEqual(record.changes, [
      `keyring api: added ${result.added}, active ${result.active ?? result.added}, removed ${v1}`,
    ]);
  });

  it('stops before the flip when a replica does not come back; the old key stays active', async () => {
    const ring = await keyringActivities(t).readKeyring({ keyring: 'api' });
    const token = await mint(urls()[0] as string, 'client-d');
    // Something else holds dev's port: its replica cannot start again.
    const { createServer } = await import('node:net');
    const host = await t.host('dev');
    const blocker = createServer();
    try {
      const { createServiceDriver } = await import('../services/service');
      await createServiceDriver(host, t.config.services.api as never).stop();
      await new Promise<void>((r) => blocker.listen(port, t.env.hosts.dev.address, () => r()));
      const error = await fx.withWorker(t.config, async () => {
        const h = await fx.client.workflow.start(rolloverSigningKey, {
          taskQueue: fx.taskQueue,
          workflowId: `${rolloverWorkflowId('api')}-broken`,
          args: [{ keyring: 'api' }],
        });
        return h.result().then(
          () => undefined,
          (e: Error) => e,
        );
      });
      assert.ok(error, 'the run failed');
      const steps = (await activitySteps(fx.client, `${rolloverWorkflowId('api')}-broken`)).map(
        (s) => s.name,
      );
      assert.ok(steps.includes('addKey'), `the new key was added: ${steps.join(', ')}`);
      assert.ok(!steps.includes('activate'), `the run stopped before the flip: ${steps.join(', ')}`);
      const after = await keyringActivities(t).readKeyring({ keyring: 'api' });
      assert.equal(after.active, ring.active, 'the old key is still active');
      assert.equal((await mint(urls()[0] as string, 'client-e')).kid, ring.active);
      assert.equal(await accepted(urls()[0] as string, token.token), 200);
      assert.equal(await accepted(urls()[1] as string, token.token), 200);
    } finally {
      blocker.close();
      await host.close();
    }
  });

  it('a keyring secret that is not a ring fails as BadInput without echoing any of its value', async () => {
    const api = t.config.keyrings.api;
    assert.ok(api);
    const config = {
      ...t.config,
      keyrings: { ...t.config.keyrings, broken: { ...api, secret: 'rollover-broken-ring' } },
    };
    await t.store('prod').set('rollover-broken-ring', 'oops {"kid": "SECRET-MATERIAL-123"', {});
    const activities = createRolloverActivities({ config, store: () => t.store('prod') });
    await assert.rejects(activities.readKeyring({ keyring: 'broken' }), (err: Error) => {
      assert.match(
        err.message,
        /^keyring broken: rollover-broken-ring: the secret's value is not JSON \(value not shown\)$/,
      );
      assert.doesNotMatch(err.message, /SECRET|oops|kid/);
      return true;
    });
  });

  it('a keyring serving a gated environment waits for its approvers before any change; roll-outs hold the environments; a foreign workflow is refused', async () => {
    // prod requires approval: the ring is in prod's store and a replica runs on prod's host.
    const gated = { ...t.config, approvals: { ...t.config.approvals, requiredFor: ['prod'] } };
    const id = `${rolloverWorkflowId('api')}-gated`;
    const ringBefore = await keyringActivities(t).readKeyring({ keyring: 'api' });
    const { result, copied } = await fx.withWorker(gated, async () => {
      const h = await fx.client.workflow.start(rolloverSigningKey, {
        taskQueue: fx.taskQueue,
        workflowId: id,
        // The starter asked for no gate: the config's is the one that counts.
        args: [{ keyring: 'api', requireApproval: false }],
      });
      for (let i = 0; i < 400 && !(await h.query(progressQuery)).pendingGate; i++)
        await new Promise((r) => setTimeout(r, 50));
      const gate = (await h.query(progressQuery)).pendingGate;
      assert.match(gate?.summary ?? '', /keyring api \(serving prod, test, dev\): a new key added beside/);
      assert.deepEqual(
        (await keyringActivities(t).readKeyring({ keyring: 'api' })).kids,
        ringBefore.kids,
        'nothing added before the gate',
      );
      await decide(fx.client, gated, id, 'approve', 'alice');
      const result = await h.result();
      const events = (await h.fetchHistory()).events ?? [];
      const add = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'addKey');
      const data = add?.activityTaskScheduledEventAttributes?.input?.payloads?.[0]?.data;
      // Each lock's last run was taken by this run and released.
      const locks = ['lock/env/dev', 'lock/env/prod', 'lock/env/test', 'lock/keyring/api'];
      for (const lock of locks) {
        const d = await fx.client.workflow.getHandle(lock).describe();
        assert.deepEqual(
          [d.status.name, lockHolderOf(d)?.workflowId],
          ['TERMINATED', id],
          `each roll-out held the environments the ring serves: ${lock}`,
        );
      }
      return { result, copied: JSON.parse(Buffer.from(data ?? []).toString()).approval };
    });
    assert.equal(result.removed, ringBefore.active);
    assert.ok(copied, 'the ring’s steps carried the approval');

    const ringAfter = await keyringActivities(t).readKeyring({ keyring: 'api' });
    const outcomes = await fx.withWorker(gated, async () => {
      return fx.withForeignWorker('foreign', (queue) =>
        fx.client.workflow.execute(foreignCaller, {
          taskQueue: queue,
          workflowId: `foreign/${id}`,
          args: [
            fx.taskQueue,
            [
              { activity: 'addKey', input: { keyring: 'api', runId: 'foreign' } },
              { activity: 'rollOut', input: { keyring: 'api', replica: 0 } },
              {
                activity: 'removeKey',
                input: { keyring: 'api', runId: 'foreign', kid: ringAfter.active, approval: copied },
              },
            ],
          ],
        }),
      );
    });
    assert.deepEqual(
      outcomes.map((o) => [o.activity, o.ok, o.type]),
      [
        ['addKey', false, 'PolicyViolation'],
        ['rollOut', false, 'PolicyViolation'],
        ['removeKey', false, 'PolicyViolation'],
      ],
    );
    assert.match(outcomes[2]?.message ?? '', /the approval it was given is not one for this run/);
    assert.deepEqual(
      await keyringActivities(t).readKeyring({ keyring: 'api' }),
      ringAfter,
      'the ring as it was',
    );
  });
});
