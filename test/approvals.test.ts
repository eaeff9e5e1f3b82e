// Approvals that cannot be forged, on the real dev server with the real hosts: decisions are
// Updates whose validator refuses (leaving no trace) a decision before the gate, by a
// non-approver, naming another plan, without the approver's SSH signature or with another key's,
// twice by the same approver, or by the run's own starter; a quorum needs distinct approvers.

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { decideGate } from '../client/runs/gates';
import { startRotation } from '../client/runs/rotate';
import { createRotationSchedule } from '../client/schedules';
import { lockHolderOf } from '../shared/lock-holder';
import { rotateJwtKeys } from '../workflows';
import type { RotateInput } from '../workflows/inputs';
import type { Progress } from '../workflows/messages';
import {
  approveUpdate,
  type DecisionInput,
  expediteUpdate,
  legacyApproveSignal,
  progressQuery,
} from '../workflows/messages';
import { requestMessage } from '../workflows/requests';
import { foreignCaller, foreignLockHolder, foreignParent } from './foreign/workflows';
import { failureOf, historyText, rekeyAsync, type TemporalFixture, temporalFixture } from './helpers';
import { type ApproverName, approversConfig, assertRefused, decide, keyFile, sign } from './infra/approvers';
import { testEnv } from './infra/env';
import { portOf } from './infra/ports';
import {
  buildTopology,
  cliToken,
  hostFile,
  type Seeded,
  seed,
  stopServices,
  type Topology,
  whoami,
} from './infra/topology';
import { until } from './infra/until';

const gateOf = (h: WorkflowHandle) =>
  until(`${h.workflowId} to reach its gate`, async () => {
    const p = await h.query(progressQuery);
    return p.pendingGate ? p : undefined;
  });

/** A signed decision as the Web UI would send it: no client-side checks at all. */
function raw(by: ApproverName, digest: string, kind = 'approve', signer: ApproverName = by): DecisionInput {
  return { by, digest, signature: sign(signer, `${kind} ${digest}`) };
}

describe('approvals', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let seeded: Seeded;
  const versions = async (e: 'prod' | 'test') =>
    (await t.store(e).listVersions(t.config.secretNames.privateKey)).length;
  /** A rotation of prod (two signed approvals needed), waiting at its gate. */
  const prodAtGate = async () => {
    const h = await startRotation(
      fx.client,
      t.config,
      { environments: ['prod'] },
      { taskQueue: fx.taskQueue },
    );
    await gateOf(h);
    return h;
  };

  before(async () => {
    fx = await temporalFixture('approvals');
    t = buildTopology('approvals', portOf('approvals'), {
      environments: {
        prod: {
          store: 'kv-prod',
          host: 'vm-prod',
          service: 'spacetimedb',
          approvals: { mode: 'signed', required: 2 },
        },
        test: {
          store: 'kv-test',
          host: 'vm-test',
          service: 'spacetimedb',
          approvals: { mode: 'signed', separateFromStarter: true },
        },
        dev: { store: 'kv-dev', host: 'vm-dev', service: 'spacetimedb' },
        local: { store: 'kv-local', host: 'workstation', service: 'spacetimedb' },
      },
      // dev and local (one key group) take the name on trust.
      approvals: {
        requiredFor: ['prod', 'test', 'dev'],
        approvers: approversConfig(),
        timeout: '1h',
        mode: 'named',
      },
    });
    seeded = await seed(t);
  });
  after(async () => {
    await stopServices(t);
    await fx.close();
  });

  it('before the gate an Update is refused and a signal ignored; the quorum needs two distinct signed approvals', async () => {
    const prodBefore = await versions('prod');
    // Started with no worker polling: the decisions below reach the run before its plan exists.
    const h = await startRotation(
      fx.client,
      t.config,
      { environments: ['prod'] },
      { taskQueue: fx.taskQueue },
    );
    await h.signal(legacyApproveSignal, { by: 'alice' }); // an older rekey's approval, by name
    const early = h.executeUpdate(approveUpdate, { args: [raw('alice', 'sha256:guessed')] });
    const result = await fx.withWorker(t.config, async () => {
      await assertRefused(early, /^rotate-jwt\/prod: no approval pending.*: nothing was recorded$/);
      const p: Progress = await gateOf(h);
      assert.equal(p.state, 'waiting-approval', 'the early signal did not open the gate');
      assert.deepEqual(p.decisions, []);
      const digest = p.pendingGate?.digest ?? '';
      assert.match(digest, /^sha256:[0-9a-f]{64}$/);
      assert.equal(p.pendingGate?.required, 2);

      // The Web UI's view: current details carry the plan, its digest and how to decide.
      const meta = (await h.query('__temporal_workflow_metadata')) as {
        currentDetails?: string;
        definition?: { updateDefinitions?: { name: string; description?: string }[] };
      };
      assert.match(meta.currentDetails ?? '', /Waiting for approval: approval/);
      assert.ok(meta.currentDetails?.includes(digest), 'the details show the digest');
      assert.match(meta.currentDetails ?? '', /prod: new ES256 pair for key group prod in store kv-prod/);
      assert.match(meta.currentDetails ?? '', /ssh-keygen -Y sign -n rekey-approval/);
      assert.deepEqual(meta.definition?.updateDefinitions?.map((u) => [u.name, !!u.description]).sort(), [
        ['approve', true],
        ['expedite', true],
        ['reject', true],
      ]);

      const refused: [DecisionInput, RegExp][] = [
        [{ by: 'alice', digest }, /this gate needs alice's SSH signature over "approve sha256:/],
        [raw('alice', digest, 'approve', 'bob'), /alice's signature is refused: signed by another key/],
        [raw('alice', digest, 'reject'), /alice's signature is refused: the signature does not match/],
        [raw('alice', 'sha256:0000'), /names plan sha256:0000 but the plan at this gate is sha256:/],
        [raw('mallory', digest), /"mallory" is not an approver \(approvers: alice, bob, carol\)/],
        // Any client may send any JSON: odd fields are refused, not a crashed workflow task.
        [
          { ...raw('alice', digest), comment: 'x'.repeat(501) },
          /"comment" must be text of at most 500 characters/,
        ],
        [
          { ...raw('alice', digest), comment: { toString: 1 } } as unknown as DecisionInput,
          /"comment" must be text/,
        ],
        [{ ...raw('alice', digest), signature: 42 } as unknown as DecisionInput, /"signature" must be text/],
      ];
      for (const [input, message] of refused)
        await assertRefused(h.executeUpdate(approveUpdate, { args: [input] }), message);
      await assertRefused(
        h.executeUpdate(expediteUpdate, { args: [raw('alice', digest, 'expedite')] }),
        /no wait to expedite \(the run is at step "approval"\)/,
      );

      const first = await decide(fx.client, t.config, h.workflowId, 'approve', 'alice', 'looks right');
      assert.deepEqual(first.result, {
        gate: 'approval',
        outcome: 'waiting',
        approvedBy: ['alice'],
        required: 2,
      });
      await assertRefused(
        h.executeUpdate(approveUpdate, { args: [raw('alice', digest)] }),
        /alice has already approved at this gate/,
      );
      assert.equal(await versions('prod'), prodBefore, 'one approval of two changes nothing');
      const second = await decide(fx.client, t.config, h.workflowId, 'approve', 'bob');
      assert.equal(second.result?.outcome, 'passed');
      const r = await h.result();
      return { r, decisions: (await h.query(progressQuery)).decisions };
    });
    assert.equal(result.r.environments[0]?.status, 'rotated');
    const decisions = result.decisions;
    assert.deepEqual(
      decisions.map((d) => [
        d.decision,
        d.by,
        d.digest?.slice(0, 7),
        /BEGIN SSH SIGNATURE/.test(d.signature ?? ''),
      ]),
      [
        ['approve', 'alice', 'sha256:', true],
        ['approve', 'bob', 'sha256:', true],
      ],
      'only the accepted decisions are recorded, each with its signature as evidence',
    );
    const history = await historyText(fx.client, h.workflowId);
    assert.match(history, /looks right/, 'the history was decoded (the accepted decision is in it)');
    assert.doesNotMatch(
      history,
      /mallory|sha256:0000|guessed/,
      'refused decisions left no trace in the history',
    );
    const accepted = (await h.fetchHistory()).events?.filter(
      (e) => e.workflowExecutionUpdateAcceptedEventAttributes,
    );
    assert.equal(accepted?.length, 2, 'two Updates accepted: alice and bob');
  });

  it('a decision names the plan of its own run: a signature for an earlier run is refused', async () => {
    const start = () =>
      startRotation(fx.client, t.config, { environments: ['prod'] }, { taskQueue: fx.taskQueue });
    const prodBefore = await versions('prod');
    await fx.withWorker(t.config, async () => {
      const h1 = await start();
      const old = (await gateOf(h1)).pendingGate?.digest ?? '';
      await decide(fx.client, t.config, h1.workflowId, 'reject', 'carol', 'not today');
      assert.match((await failureOf(h1.result())).message, /rejected by carol; nothing was changed/);

      // The same plan again: a new run, a new digest; alice's and bob's signatures of the old one
      // do not carry over.
      const h2 = await start();
      const now = (await gateOf(h2)).pendingGate?.digest ?? '';
      assert.notEqual(now, old);
      await assertRefused(
        h2.executeUpdate(approveUpdate, { args: [raw('alice', old)] }),
        /names plan sha256:/,
      );
      await assertRefused(
        h2.executeUpdate(approveUpdate, { args: [{ ...raw('alice', old), digest: now }] }),
        /the signature does not match/,
      );
      await decide(fx.client, t.config, h2.workflowId, 'reject', 'alice');
      await failureOf(h2.result());
    });
    assert.equal(await versions('prod'), prodBefore);
  });

  it('separateFromStarter: the starter must be named and signed, and may not approve', async () => {
    const testBefore = await versions('test');
    const input = { environments: ['test'] };
    const start = (args: RotateInput, id: string) =>
      fx.client.workflow.start(rotateJwtKeys, { taskQueue: fx.taskQueue, workflowId: id, args: [args] });
    await fx.withWorker(t.config, async () => {
      const anonymous = await failureOf((await start(input, 'rotate-jwt/anon')).result());
      assert.equal(anonymous.type, 'BadInput');
      assert.match(anonymous.message, /names no starter \(requestedBy\).*--as NAME; nothing was changed/);

      // bob signs a request in alice's name, so that he could approve it himself.
      const at = new Date().toISOString();
      const nonce = () => randomBytes(16).toString('hex');
      const forgedBinding = { at, workflowId: 'rotate-jwt/forged', nonce: nonce() };
      const forgedRequest = {
        ...input,
        requestedBy: {
          name: 'alice',
          ...forgedBinding,
          signature: sign('bob', requestMessage('rotateJwtKeys', input, forgedBinding)),
        },
      };
      const forged = await failureOf((await start(forgedRequest, 'rotate-jwt/forged')).result());
      assert.match(
        forged.message,
        /requestedBy: the signature of alice does not verify: signed by another key/,
      );
      // alice's own request, signed an hour ago (say, read from an old run's history).
      const old = new Date(Date.now() - 3600_000).toISOString();
      const oldBinding = { at: old, workflowId: 'rotate-jwt/replayed', nonce: nonce() };
      const replayed = {
        ...input,
        requestedBy: {
          name: 'alice',
          ...oldBinding,
          signature: sign('alice', requestMessage('rotateJwtKeys', input, oldBinding)),
        },
      };
      const late = await failureOf((await start(replayed, 'rotate-jwt/replayed')).result());
      assert.match(late.message, /the request was signed at .*: a signed request is good for 10 minutes/);
      assert.equal(await versions('test'), testBefore);

      const h = await startRotation(fx.client, t.config, input, {
        taskQueue: fx.taskQueue,
        as: { name: 'alice', keyFile: keyFile('alice') },
      });
      const p = await gateOf(h);
      assert.equal(p.pendingGate?.starter, 'alice');
      await assertRefused(
        decide(fx.client, t.config, h.workflowId, 'approve', 'alice'),
        /alice started this run and may not approve it/,
      );
      await decide(fx.client, t.config, h.workflowId, 'approve', 'carol');
      assert.equal((await h.result()).environments[0]?.status, 'rotated');

      // alice's request copied from that run's input: it starts nothing a second time...
      const { events } = await fx.client.workflow.getHandle(h.workflowId).fetchHistory();
      const copied = JSON.parse(
        Buffer.from(
          events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data ?? [],
        ).toString(),
      ) as RotateInput;
      const again = await failureOf((await start(copied, h.workflowId)).result());
      assert.equal(again.type, 'BadInput');
      assert.match(
        again.message,
        /this signed request of alice was used before .*: a request starts one run/,
      );
      // ...nor another run: it names the run it was signed for.
      const elsewhere = await failureOf((await start(copied, 'rotate-jwt/elsewhere')).result());
      assert.match(
        elsewhere.message,
        /alice signed a request for rotate-jwt\/test, not for rotate-jwt\/elsewhere/,
      );
    });
    assert.equal(await versions('test'), testBefore + 1);
  });

  it('named gates take an approver by name, without a signature', async () => {
    const result = await fx.withWorker(t.config, async () => {
      const h = await startRotation(
        fx.client,
        t.config,
        { environments: ['dev'] },
        { taskQueue: fx.taskQueue },
      );
      const p = await gateOf(h);
      assert.equal(p.pendingGate?.mode, 'named');
      await assertRefused(
        h.executeUpdate(approveUpdate, { args: [{ by: 'mallory', digest: p.pendingGate?.digest ?? '' }] }),
        /"mallory" is not an approver/,
      );
      await h.executeUpdate(approveUpdate, { args: [{ by: 'bob', digest: p.pendingGate?.digest ?? '' }] });
      return h.result();
    });
    assert.deepEqual(
      result.environments.map((e) => [e.env, e.status]),
      [
        ['dev', 'rotated'],
        ['local', 'rotated'],
      ],
    );
    assert.equal((await whoami(t, 'dev', seeded.tokens.dev)).status, 401, 'the old key is gone from dev');
  });

  it('a schedule made --as alice starts runs naming alice as their starter', async () => {
    const schedule = await createRotationSchedule(fx.client, t.config, {
      environments: ['test'],
      every: 'quarter',
      as: { name: 'alice', keyFile: keyFile('alice') },
      taskQueue: fx.taskQueue,
    });
    try {
      await fx.withWorker(t.config, async () => {
        await schedule.trigger();
        const runId = await until('the scheduled run', async () => {
          const d = await schedule.describe();
          return (d.info.runningActions[0] ?? d.info.recentActions[0]?.action)?.workflow.workflowId;
        });
        const h = fx.client.workflow.getHandle(runId);
        assert.equal((await gateOf(h)).pendingGate?.starter, 'alice');
        await assertRefused(decide(fx.client, t.config, runId, 'approve', 'alice'), /alice started this run/);
        await decide(fx.client, t.config, runId, 'reject', 'carol');
        await failureOf(h.result());

        // The schedule's signed request, copied into a run a client starts with the schedule's id
        // set as TemporalScheduledById by hand: the schedule's own record says it did not start it.
        const { action } = await schedule.describe();
        const args = (action as { args?: unknown[] }).args ?? [];
        const forged = await fx.client.workflow.start(rotateJwtKeys, {
          taskQueue: fx.taskQueue,
          workflowId: 'rotate-jwt/test-not-scheduled',
          args: args as [RotateInput],
          typedSearchAttributes: [
            {
              key: defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD),
              value: schedule.scheduleId,
            },
          ],
        });
        const refused = await failureOf(forged.result());
        assert.equal(refused.type, 'BadInput');
        assert.match(
          refused.message,
          /alice signed a request for schedule .*, but that schedule did not start rotate-jwt\/test-not-scheduled .*nothing was changed/,
        );
        // The same under the scheduled run's own workflow id, once that run has closed: the
        // schedule's record names that id, but not this run.
        const replayed = await fx.client.workflow.start(rotateJwtKeys, {
          taskQueue: fx.taskQueue,
          workflowId: runId,
          args: args as [RotateInput],
          typedSearchAttributes: [
            {
              key: defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD),
              value: schedule.scheduleId,
            },
          ],
        });
        const how = await until('the replayed run to end or wait at its gate', async () => {
          if ((await replayed.describe()).status.name !== 'RUNNING') return 'ended';
          return (await replayed.query(progressQuery)).pendingGate ? 'at its gate' : undefined;
        });
        if (how !== 'ended') await replayed.terminate('test: a replayed request reached its gate');
        assert.equal(how, 'ended', 'the replayed request was refused before its gate');
        assert.match(
          (await failureOf(replayed.result())).message,
          /but that schedule did not start .* \(the schedule's own record of its runs\); nothing was changed/,
        );
      });
    } finally {
      await schedule.delete();
    }
  });

  it("rekey's activities refuse a workflow that is not an approved rekey run: none given, or decisions copied from a real run", async () => {
    const keyPath = `${t.config.paths.keyDir}/${t.config.paths.privateKeyFile}`;
    await fx.withWorker(t.config, async () => {
      // A real, approved rotation of prod: the decisions a forger would copy from its history.
      const h = await prodAtGate();
      await decide(fx.client, t.config, h.workflowId, 'approve', 'alice');
      await decide(fx.client, t.config, h.workflowId, 'approve', 'bob');
      assert.equal((await h.result()).environments[0]?.status, 'rotated');
      const install = await scheduledInput(h, 'installKeyFiles');
      const copied = install.approval;
      assert.ok(copied, 'the real run gave its destructive steps the approval');
      const runId = install.runId as string;

      const before = {
        versions: await versions('prod'),
        keyFile: (await hostFile(t, 'prod', keyPath)).text,
        token: await cliToken(t, 'prod'),
      };
      // Another task queue, another worker, a workflow rekey never wrote.
      const outcomes = await fx.withForeignWorker('foreign', (queue) =>
        fx.client.workflow.execute(foreignCaller, {
          taskQueue: queue,
          workflowId: `foreign/${runId}`,
          args: [
            fx.taskQueue,
            [
              {
                activity: 'stageKeyPair',
                input: { runId: 'foreign', group: 'prod', environments: ['prod'] },
              },
              { activity: 'stopService', input: { env: 'prod' } },
              { activity: 'restartAndVerify', input: { env: 'prod' } },
              { activity: 'syncData', input: { from: 'test', to: 'prod', maxDelete: null } },
              // The real run's own steps and its approvers' signatures, replayed from its history.
              { activity: 'restoreHost', input: { env: 'prod', runId, approval: copied } },
              { activity: 'installKeyFiles', input: { ...install, approval: copied } },
              {
                activity: 'stageKeyPair',
                input: { runId, group: 'prod', environments: ['prod'], approval: copied },
              },
            ],
          ],
        }),
      );
      for (const [i, o] of outcomes.entries()) {
        assert.equal(o.ok, false, `${o.activity} was refused`);
        assert.equal(o.type, 'PolicyViolation', `${o.activity}: ${o.message}`);
        assert.match(
          o.message ?? '',
          i < 4
            ? /changes (test, )?prod, which requires? approval, but was given none: .*nothing was changed$/
            : /the approval it was given is not one for this run: .*nothing was changed$/,
        );
      }
      assert.deepEqual(
        {
          versions: await versions('prod'),
          keyFile: (await hostFile(t, 'prod', keyPath)).text,
          token: await cliToken(t, 'prod'),
        },
        before,
        'no version staged, key files and token as they were',
      );
      assert.equal((await whoami(t, 'prod', before.token)).status, 200, 'prod still serves its token');
    });
  });

  it('a hop started by a workflow that is not a rekey promotion is refused before anything runs', async () => {
    const at = new Date().toISOString();
    const promotion = {
      chain: ['prod', 'test'],
      requestedBy: {
        name: 'alice',
        at,
        workflowId: 'promote/prod-test',
        nonce: randomBytes(16).toString('hex'),
      },
    };
    const outcome = await fx.withWorker(t.config, async () => {
      return fx.withForeignWorker('foreign-parent', (queue) =>
        fx.client.workflow.execute(foreignParent, {
          taskQueue: queue,
          workflowId: 'foreign/promote',
          args: [
            fx.taskQueue,
            {
              from: 'prod',
              to: 'test',
              promotion,
              // What the promotion would say of its start: chosen by this parent.
              promotionStartedAt: at,
              requestedBy: promotion.requestedBy,
            },
          ],
        }),
      );
    });
    assert.equal(outcome.ok, false);
    assert.equal(outcome.type, 'BadInput');
    assert.match(
      outcome.message ?? '',
      /promotion: prod -> test was started by foreign\/promote \(a foreignParent on task queue .*-foreign-parent\), not by a rekey promotion on .*; nothing was changed/,
    );
  });

  it('a run whose lock was ended while it waited stops before its first change; a workflow taking no lock changes nothing', async () => {
    await fx.withWorker(t.config, async () => {
      const before = await versions('prod');
      const h = await prodAtGate();
      // Anyone with write on the namespace can end a lock: the run must not go on as if it held it.
      await fx.client.workflow.getHandle('lock/env/prod').terminate('test: an operator ends the lock');
      await decide(fx.client, t.config, h.workflowId, 'approve', 'alice');
      await decide(fx.client, t.config, h.workflowId, 'approve', 'bob');
      // Its first change is refused, and so is its undo (another run may hold prod now).
      const refused = await failureOf(h.result());
      assert.match(
        refused.message,
        /^restoreSecrets: rotate-jwt\/prod does not hold the lock on env prod \(workflow lock\/env\/prod\)/,
      );
      assert.match(
        await historyText(fx.client, h.workflowId),
        /stageKeyPair: rotate-jwt\/prod does not hold the lock on env prod \(workflow lock\/env\/prod\): it was ended \(terminated\?\)/,
      );
      assert.equal(await versions('prod'), before, 'no version staged');
      // A workflow of someone else's, on an environment no approval guards, takes no lock.
      const [outcome] = await fx.withForeignWorker('foreign-unlocked', (queue) =>
        fx.client.workflow.execute(foreignCaller, {
          taskQueue: queue,
          workflowId: 'foreign/unlocked',
          args: [fx.taskQueue, [{ activity: 'restartAndVerify', input: { env: 'local' } }]],
        }),
      );
      assert.equal(outcome?.ok, false, 'restartAndVerify was refused');
      assert.match(
        outcome?.message ?? '',
        /foreign\/unlocked does not hold the lock on env local .*nothing was changed$/,
      );
    });
  });

  it("a run ended without releasing its lock leaves it to the next run, which ends it; no workflow of someone else's can release it", async () => {
    await fx.withWorker(t.config, async () => {
      const first = await prodAtGate();
      const lock = fx.client.workflow.getHandle('lock/env/prod');
      const taken = await lock.describe();
      assert.equal(lockHolderOf(taken)?.runId, first.firstExecutionRunId);
      // A workflow of someone else's asks rekey's worker to release the lock: refused, silently.
      const [outcome] = await fx.withForeignWorker('foreign-release', (queue) =>
        fx.client.workflow.execute(foreignCaller, {
          taskQueue: queue,
          workflowId: 'foreign/release',
          args: [
            fx.taskQueue,
            [
              {
                activity: 'releaseLocks',
                input: { locks: [{ workflowId: 'lock/env/prod', runId: taken.runId }] },
              },
            ],
          ],
        }),
      );
      assert.equal(outcome?.ok, true);
      assert.equal((await lock.describe()).status.name, 'RUNNING', 'still held by the run at its gate');
      // The run is terminated: nothing releases its lock then; the next run finds its holder gone.
      await first.terminate('test: an operator ends the run');
      const second = await prodAtGate();
      const ended = await fx.client.workflow.getHandle('lock/env/prod', taken.runId).describe();
      assert.equal(ended.status.name, 'TERMINATED');
      assert.equal(lockHolderOf(await lock.describe())?.runId, second.firstExecutionRunId);
      await second.cancel();
      await second.result().catch(() => undefined);
      assert.equal((await lock.describe()).status.name, 'TERMINATED', 'released when the run ended');
      // A lock whose holder's history is gone (past the namespace's retention) is free too.
      const ghost = await fx.client.workflow.start('environmentLock', {
        taskQueue: fx.taskQueue,
        workflowId: 'lock/env/prod',
        args: [{ resource: 'env/prod', holder: 'rotate-jwt/gone' }],
        startDelay: '365 days',
        memo: { holder: 'rotate-jwt/gone', holderRunId: randomUUID() },
      });
      const third = await prodAtGate();
      const ghostRun = fx.client.workflow.getHandle('lock/env/prod', ghost.firstExecutionRunId);
      assert.equal((await ghostRun.describe()).status.name, 'TERMINATED');
      // `rekey status` of an id that is a lock (a secret's CLI id taken by a run under another
      // id) acts on its holder and says so on stderr: stdout stays one JSON document.
      const cliId = 'rotate-secret/api-token/prod';
      const held = await fx.client.workflow.start('environmentLock', {
        taskQueue: fx.taskQueue,
        workflowId: cliId,
        args: [{ resource: 'secret/api-token/prod', holder: third.workflowId }],
        startDelay: '365 days',
        memo: { holder: third.workflowId, holderRunId: third.firstExecutionRunId },
      });
      const cliEnv = {
        ...process.env,
        TEMPORAL_ADDRESS: testEnv().temporal.address,
        TEMPORAL_NAMESPACE: 'approvals',
        REKEY_TASK_QUEUE: fx.taskQueue,
      };
      const status = () => rekeyAsync(['status', cliId, '--json'], { env: cliEnv });
      const res = await status();
      assert.equal(res.code, 0, res.out);
      assert.equal(JSON.parse(res.stdout).workflowId, third.workflowId, res.stdout);
      assert.match(res.stderr, new RegExp(`${cliId} is held as a lock by ${third.workflowId}: showing it`));
      await held.terminate('test: released');
      const released = await status();
      assert.equal(JSON.parse(released.stdout).workflowId, third.workflowId, released.stdout);
      assert.match(
        released.stderr,
        new RegExp(`${cliId} is a lock, released, last held by ${third.workflowId}: showing it`),
      );
      // Shown, not acted on: the run under that id now may be another.
      const cancel = await rekeyAsync(['cancel', cliId], { env: cliEnv });
      assert.notEqual(cancel.code, 0, cancel.out);
      assert.match(
        cancel.stderr,
        new RegExp(
          `${cliId} is a lock, released: its last holder \\(${third.workflowId}, run ${third.firstExecutionRunId}\\) holds it no more; name a run by its own id`,
        ),
      );
      assert.equal((await third.describe()).status.name, 'RUNNING', 'the last holder was not cancelled');
      await third.cancel();
      await third.result().catch(() => undefined);
    });
  });

  it("rekey approve signs only for rekey's runs on its task queue: a look-alike serving a real gate gets nothing", async () => {
    await fx.withWorker(t.config, async () => {
      const real = await startRotation(
        fx.client,
        t.config,
        { environments: ['prod'] },
        { taskQueue: fx.taskQueue },
      );
      const progress = await gateOf(real);
      await fx.withForeignWorker('look-alike', async (queue) => {
        for (const type of ['foreignGate', 'rotateJwtKeys']) {
          const fake = await fx.client.workflow.start(type, {
            taskQueue: queue,
            workflowId: `foreign/gate-${type}`,
            args: [progress],
          });
          await assert.rejects(
            decideGate(fx.client, t.config, fake.workflowId, 'approve', {
              by: 'alice',
              keyFile: keyFile('alice'),
              taskQueue: fx.taskQueue,
            }),
            new RegExp(
              `foreign/gate-${type} is a ${type} on task queue .*-look-alike, not a rekey run on ${fx.taskQueue}: nothing was signed`,
            ),
          );
          assert.deepEqual(await fake.query('received'), [], 'no signed decision reached it');
          await fake.terminate('test done');
        }
      });
      await real.terminate('test done');
    });
  });

  it("a run squatting on an environment's lock id is named as not rekey's, with how to end it", async () => {
    const rotateDev = () =>
      fx.withWorker(t.config, async () =>
        failureOf(
          (
            await startRotation(fx.client, t.config, { environments: ['dev'] }, { taskQueue: fx.taskQueue })
          ).result(),
        ),
      );
    const end =
      'end it with temporal workflow terminate --workflow-id lock\\/env\\/dev; nothing was changed$';
    // Another type under the lock's id; rekey's lock type on another task queue; rekey's own lock
    // taken by a run of another type under a rekey run's name.
    await fx.withForeignWorker('squatter', async (queue) => {
      for (const type of ['foreignSquatter', 'environmentLock']) {
        const squatter = await fx.client.workflow.start(type, {
          taskQueue: queue,
          workflowId: 'lock/env/dev',
        });
        try {
          const refused = await rotateDev();
          assert.equal(refused.type, 'EnvironmentBusy');
          assert.match(
            refused.message,
            // A lock of rekey's type on another task queue may be another deployment's own: named,
            // never with advice to end it.
            type === 'environmentLock'
              ? /^env dev is in use by lock\/env\/dev, a lock of another rekey deployment on task queue .*-squatter \(deployments sharing a namespace need environment names of their own\); nothing was changed$/
              : new RegExp(
                  `^env dev is in use by a ${type} run on task queue .*-squatter that is not rekey's \\(workflow id lock\\/env\\/dev\\): ${end}`,
                ),
          );
        } finally {
          await squatter.terminate('test done');
        }
      }
      const holder = await fx.client.workflow.start(foreignLockHolder, {
        taskQueue: queue,
        workflowId: 'rotate-jwt/prod',
        args: [fx.taskQueue, 'env/dev'],
      });
      try {
        await until(
          'the look-alike to hold lock/env/dev',
          async () =>
            (await fx.client.workflow.getHandle('lock/env/dev').describe()).status.name === 'RUNNING' ||
            undefined,
        );
        const refused = await rotateDev();
        assert.match(
          refused.message,
          new RegExp(
            `^env dev is in use by a lock held by a foreignLockHolder run rotate-jwt\\/prod on task queue .*-squatter that is not rekey's \\(workflow id lock\\/env\\/dev\\): ${end}`,
          ),
        );
      } finally {
        await holder.terminate('test done');
      }
    });
  });
});

/** The input an activity of a run was scheduled with (the first such activity). */
async function scheduledInput(h: WorkflowHandle, activity: string): Promise<Record<string, unknown>> {
  const events = (await h.fetchHistory()).events ?? [];
  const e = events.find((x) => x.activityTaskScheduledEventAttributes?.activityType?.name === activity);
  const data = e?.activityTaskScheduledEventAttributes?.input?.payloads?.[0]?.data;
  assert.ok(data, `${h.workflowId} scheduled ${activity}`);
  return JSON.parse(Buffer.from(data).toString()) as Record<string, unknown>;
}
