// Fast tier: one promotion hop against mocked activities on the time-skipping test server. What a
// failure leaves behind is the point: a copy that fails restores the destination's snapshot and
// starts it; a snapshot that is gone fails RestoreFailed; a source that does not start again after
// a --consistent final pass fails SourceNotStarted, and the destination is still put back; a
// cancel while a stop runs waits for it before the undo starts the service again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { SyncPlan } from '../../activities/rsync-output';
import { formatHops } from '../../client/format';
import { FailureType, fail } from '../../shared/failures';
import { EVENT_TYPES, type RekeyEvent } from '../../shared/notify-events';
import { promoteHop } from '../../workflows';
import type { HopInput } from '../../workflows/inputs';
import { failureOf } from '../helpers';
import { until } from '../infra/until';
import { recording, timeSkipping, withWorker } from './harness';

type Activity = (...args: never[]) => Promise<unknown>;

const plan: SyncPlan = { add: 3, change: 1, delete: 0, deletions: [], bytes: 1000, deletionsDigest: 'none' };

function mocks(overrides: Record<string, Activity> = {}) {
  return recording({
    lockHolder: async () => null,
    preflightHop: async () => ({ sourceBytes: 1000, freeBytes: 10_000 }),
    planSync: async () => plan,
    promotionGate: async () => ({ required: false, approvers: [], timeoutMs: 3600_000 }),
    stopService: async () => undefined,
    snapshot: async () => ({ snapshot: '/data.snap' }),
    syncData: async () => ({ bytes: 1000, matchedBytes: 0, literalBytes: 1000, attempt: 1 }),
    resignDestinationToken: async () => ({ after: { iss: 'localhost', sub: 'publisher' } }),
    restartAndVerify: async () => ({ marker: 'PUBLISH_SUCCESS' }),
    restoreSnapshot: async () => ({ restored: true }),
    dropSnapshot: async () => undefined,
    ...overrides,
  });
}

describe('promoteHop against mocked activities', () => {
  let env: TestWorkflowEnvironment;
  let n = 0;
  before(async () => {
    env = await timeSkipping();
  });
  after(() => env?.teardown());

  const execute = (activities: Record<string, Activity>, input: Partial<HopInput> = {}) =>
    withWorker(env, activities, (taskQueue) =>
      env.client.workflow.execute(promoteHop, {
        taskQueue,
        workflowId: `hop-${++n}`,
        args: [{ from: 'prod', to: 'test', ...input }],
      }),
    );
  const hop = (activities: Record<string, Activity>, input: Partial<HopInput> = {}) =>
    failureOf(execute(activities, input));

  it('a failed copy restores the snapshot and starts the destination on its old data', async () => {
    const { calls, inputs, activities } = mocks({
      syncData: async () => {
        throw fail(FailureType.CommandFailed, 'rsync: connection unexpectedly closed');
      },
    });
    const failure = await hop(activities);
    assert.equal(failure.type, 'CommandFailed');
    assert.match(failure.message, /connection unexpectedly closed/);
    assert.deepEqual(calls.slice(calls.indexOf('syncData')), [
      'syncData',
      'stopService',
      'restoreSnapshot',
      'restartAndVerify',
      // The restore's marks, once the destination runs on its old data again.
      'dropSnapshot',
    ]);
    assert.deepEqual(inputs.at(-2), { name: 'restartAndVerify', input: { env: 'test' } });
  });

  it('a snapshot that is gone fails RestoreFailed, saying the data dir was not restored', async () => {
    const { calls, activities } = mocks({
      syncData: async () => {
        throw fail(FailureType.CommandFailed, 'rsync: connection unexpectedly closed');
      },
      restoreSnapshot: async () => ({ restored: false }),
    });
    const failure = await hop(activities);
    assert.equal(failure.type, 'RestoreFailed');
    assert.match(
      failure.message,
      /connection unexpectedly closed; then restore of test failed: .*NOT restored/,
    );
    assert.ok(!calls.includes('restartAndVerify'), 'not started on data that is not the old data');
  });

  it('a source that does not start again after the final pass fails SourceNotStarted; the destination is put back', async () => {
    const { calls, inputs, activities } = mocks({
      restartAndVerify: async (input: { env: string }) => {
        if (input.env === 'prod')
          throw fail(FailureType.MarkerTimeout, 'host vm-prod: no PUBLISH_SUCCESS within 90s');
        return { marker: 'PUBLISH_SUCCESS' };
      },
    });
    const failure = await hop(activities as Record<string, Activity>, { consistent: true });
    assert.equal(failure.type, 'SourceNotStarted');
    assert.match(failure.message, /prod did not start again: host vm-prod: no PUBLISH_SUCCESS/);
    const stops = inputs.filter((c) => c.name === 'stopService').map((c) => c.input);
    assert.deepEqual(
      stops,
      [{ env: 'test' }, { env: 'prod' }, { env: 'test' }],
      'test stopped again before its restore',
    );
    assert.equal(calls.filter((c) => c === 'syncData').length, 2, 'the live pass and the final pass');
    assert.deepEqual(calls.slice(-3), ['restoreSnapshot', 'restartAndVerify', 'dropSnapshot']);
    assert.deepEqual(inputs.at(-2)?.input, { env: 'test' });
  });

  it('a run cancelled while its destination stops waits for the stop before starting it again', async () => {
    const events: string[] = [];
    const { activities } = mocks({
      stopService: async () => {
        events.push('stop begins');
        await new Promise((r) => setTimeout(r, 1500));
        events.push('stop ends');
      },
      restartAndVerify: async (input: { env: string }) => {
        events.push(`start ${input.env}`);
        return { marker: 'PUBLISH_SUCCESS' };
      },
    });
    const failure = await withWorker(env, activities as Record<string, Activity>, async (taskQueue) => {
      const h = await env.client.workflow.start(promoteHop, {
        taskQueue,
        workflowId: `hop-${++n}`,
        args: [{ from: 'prod', to: 'test' }],
      });
      await until('the stop to begin', () => (events.includes('stop begins') ? true : undefined));
      await h.cancel();
      return failureOf(h.result());
    });
    assert.match(failure.message, /cancel/i);
    assert.deepEqual(events, ['stop begins', 'stop ends', 'start test']);
  });

  it('announces its gate where its worker routes gate events, and reports no outcome of its own', async () => {
    const delivered: RekeyEvent[] = [];
    const { activities } = mocks({
      notifyRouting: async () => ({ notify: { types: [...EVENT_TYPES], environments: ['prod', 'test'] } }),
      promotionGate: async () => ({
        required: true,
        approvers: ['alice'],
        timeoutMs: 60_000,
        policy: {
          mode: 'named',
          approvers: { alice: null },
          required: 1,
          separateFromStarter: false,
          timeoutMs: 60_000,
        },
      }),
      notificationSinks: async () => ['hook'],
      deliverNotification: async (input: never) => {
        delivered.push((input as { event: RekeyEvent }).event);
        return 'sent';
      },
    });
    const failure = await withWorker(env, activities, async (taskQueue) => {
      const f = await failureOf(
        env.client.workflow.execute(promoteHop, {
          taskQueue,
          workflowId: `hop-${++n}`,
          args: [{ from: 'prod', to: 'test' }],
        }),
      );
      // Delivered by its own workflow, which the hop did not wait for.
      await until('the gate announced', () => delivered.find((e) => e.type === 'gate.opened'));
      return f;
    });
    // Nobody approves: the gate times out (time skips) and the hop fails NotApproved.
    assert.equal(failure.type, FailureType.NotApproved);
    const gate = delivered.find((e) => e.type === 'gate.opened');
    assert.ok(gate, JSON.stringify(delivered));
    assert.equal(gate.workflowType, 'promoteHop');
    assert.match(gate.gate?.plan ?? '', /^prod -> test: add 3, change 1, delete 0/);
    assert.match(gate.gate?.command ?? '', /^rekey approve hop-\d+ --by NAME --digest sha256:/);
    assert.deepEqual(
      delivered.map((e) => e.type),
      ['gate.opened'],
      'its promotion, not the hop, reports how it ended',
    );
  });

  it('a hop with nothing to copy (or only the token file) saves the token file alone and makes no copy', async () => {
    const empty: SyncPlan = { ...plan, add: 0, change: 0, bytes: 0 };
    const ok = mocks({ planSync: async () => empty });
    const done = await execute(ok.activities);
    assert.equal(done.copied, undefined);
    assert.ok(!ok.calls.includes('syncData'), ok.calls.join(', '));
    const input = (m: typeof ok, name: string) =>
      (m.inputs.find((c) => c.name === name)?.input ?? {}) as Record<string, unknown>;
    assert.deepEqual(input(ok, 'snapshot'), {
      to: 'test',
      runId: input(ok, 'snapshot').runId,
      tokenOnly: true,
    });
    assert.deepEqual(
      input(ok, 'resignDestinationToken'),
      { from: 'prod', to: 'test' },
      'the copy would bring nothing',
    );
    assert.ok(ok.calls.includes('dropSnapshot'), 'the saved token file goes after the hop passed');

    // Only the token file differs: it is taken from the source's when re-signed.
    const token = mocks({
      planSync: async () => ({ ...plan, add: 0, change: 2, bytes: 300, tokenOnly: true }),
    });
    await execute(token.activities);
    assert.ok(!token.calls.includes('syncData'), token.calls.join(', '));
    assert.deepEqual(input(token, 'resignDestinationToken'), {
      from: 'prod',
      to: 'test',
      fromSource: true,
    });

    // Changes while the destination ran, none but the token file once it stopped: the result
    // and the CLI's line say what the hop did, not what the first plan showed.
    let plans = 0;
    const settled = mocks({
      planSync: async () => (++plans === 1 ? plan : { ...plan, add: 0, change: 1, tokenOnly: true }),
    });
    const result = await execute(settled.activities);
    assert.deepEqual(result.notCopied, { tokenFile: true });
    assert.match(formatHops([result]), /; nothing to copy \(test held prod's data, but for the token file\)/);

    // A failed publish puts the token file back and starts the destination on the same data.
    let publishes = 0;
    const failing = mocks({
      planSync: async () => empty,
      restartAndVerify: async () => {
        if (++publishes === 1)
          throw fail(FailureType.MarkerTimeout, 'host vm-test: no PUBLISH_SUCCESS within 90s');
        return { marker: 'PUBLISH_SUCCESS' };
      },
    });
    const failure = await hop(failing.activities);
    assert.equal(failure.type, FailureType.MarkerTimeout);
    assert.deepEqual(failing.calls.slice(failing.calls.indexOf('resignDestinationToken')), [
      'resignDestinationToken',
      'restartAndVerify',
      'stopService',
      'restoreSnapshot',
      'restartAndVerify',
      'dropSnapshot',
    ]);
    assert.equal(input(failing, 'restoreSnapshot').tokenOnly, true);

    // With --consistent the source may change until it is stopped: the copy is made.
    const consistent = mocks({ planSync: async () => empty });
    await execute(consistent.activities, { consistent: true });
    assert.ok(consistent.calls.includes('syncData'));
    assert.equal(input(consistent, 'snapshot').tokenOnly, undefined);
  });

  it("the destination's space is checked against the plan: room for a copy and its snapshot only when it copies", async () => {
    // 1,000 bytes at the source, a full-copy snapshot of the destination's 5,000: 6,100 needed.
    const tight = {
      sourceBytes: 1000,
      freeBytes: 3000,
      snapshot: { method: 'copy', bytes: 5000 },
      host: 'vm-test',
    };
    const empty: SyncPlan = { ...plan, add: 0, change: 0, bytes: 0 };
    const noCopy = mocks({ preflightHop: async () => tight, planSync: async () => empty });
    assert.equal((await execute(noCopy.activities)).copied, undefined);
    assert.ok(!noCopy.calls.includes('syncData'));
    assert.deepEqual(noCopy.inputs.find((c) => c.name === 'preflightHop')?.input, {
      from: 'prod',
      to: 'test',
      spaceAfterPlan: true,
    });

    const copy = mocks({ preflightHop: async () => tight });
    const refused = await hop(copy.activities);
    assert.equal(refused.type, FailureType.PolicyViolation);
    assert.equal(
      refused.message,
      "test: 3000 bytes free on host vm-test, the hop needs 6100: prod holds 1000 (+10% margin) and the snapshot is a full copy of test's 5000 bytes (its filesystem has no reflinks); nothing was changed",
    );
    assert.ok(!copy.calls.includes('stopService'), `refused before the stop: ${copy.calls.join(', ')}`);
    // A dry run says so too.
    const dry = mocks({ preflightHop: async () => tight });
    assert.equal((await hop(dry.activities, { dryRun: true })).type, FailureType.PolicyViolation);
    // With reflinks the snapshot costs no room up front: 1,100 needed.
    const reflink = mocks({
      preflightHop: async () => ({ ...tight, snapshot: { method: 'reflink', bytes: 5000 } }),
    });
    assert.ok((await execute(reflink.activities)).copied);
    // A btrfs subvolume's snapshot neither.
    const subvolume = mocks({
      preflightHop: async () => ({ ...tight, snapshot: { method: 'subvolume', bytes: 5000 } }),
    });
    assert.ok((await execute(subvolume.activities)).copied);

    // Nothing to copy while the destination ran, something once it stopped: refused then, and
    // the destination started again.
    let plans = 0;
    const changed = mocks({
      preflightHop: async () => tight,
      planSync: async () => (++plans === 1 ? empty : plan),
    });
    const late = await hop(changed.activities);
    assert.equal(late.type, FailureType.PolicyViolation, late.message);
    assert.deepEqual(changed.calls.slice(changed.calls.indexOf('stopService')), [
      'stopService',
      'planSync',
      'restartAndVerify',
    ]);
  });

  it('locks: taken before anything, released after; a refusal or a failed take releases what was taken', async () => {
    // Recorded here (the harness's own lock mocks are not).
    const locking = {
      takeLocks: async (i: { locks: { workflowId: string }[] }) => ({
        held: i.locks.map((l) => ({ workflowId: l.workflowId, runId: 'r' })),
      }),
      releaseLocks: async () => undefined,
    };
    const ok = mocks(locking);
    await execute(ok.activities);
    assert.equal(ok.calls[0], 'takeLocks');
    assert.equal(ok.calls.at(-1), 'releaseLocks');
    assert.deepEqual(ok.inputs[0]?.input, {
      locks: [
        { resource: 'env/prod', workflowId: 'lock/env/prod' },
        { resource: 'env/test', workflowId: 'lock/env/test' },
      ],
    });

    // test is held by another run: refused, prod's lock (taken) released, nothing else run.
    const busy = mocks({
      ...locking,
      takeLocks: async () => ({
        held: [{ workflowId: 'lock/env/prod', runId: 'p1' }],
        busy: { resource: 'env/test', workflowId: 'lock/env/test', owner: 'rotate-jwt/test' },
      }),
    });
    const refused = await hop(busy.activities);
    assert.equal(refused.type, FailureType.EnvironmentBusy);
    assert.match(refused.message, /^env test is in use by rotate-jwt\/test; nothing was changed/);
    assert.deepEqual(busy.calls, ['takeLocks', 'releaseLocks']);
    assert.deepEqual(busy.inputs[1]?.input, { locks: [{ workflowId: 'lock/env/prod', runId: 'p1' }] });

    // The take itself fails: whatever its attempts took for this run goes.
    const failed = mocks({
      ...locking,
      takeLocks: async () => {
        throw fail(FailureType.BadInput, 'the server refused');
      },
    });
    assert.equal((await hop(failed.activities)).type, FailureType.BadInput);
    assert.deepEqual(failed.calls, ['takeLocks', 'releaseLocks']);
    assert.deepEqual(failed.inputs[1]?.input, {
      locks: [{ workflowId: 'lock/env/prod' }, { workflowId: 'lock/env/test' }],
    });
  });

  it('a dry run plans and changes nothing', async () => {
    const { calls, activities } = mocks();
    const result = await withWorker(env, activities, (taskQueue) =>
      env.client.workflow.execute(promoteHop, {
        taskQueue,
        workflowId: `hop-${++n}`,
        args: [{ from: 'prod', to: 'test', dryRun: true }],
      }),
    );
    assert.equal(result.dryRun, true);
    assert.deepEqual(calls, ['preflightHop', 'planSync']);
  });
});
