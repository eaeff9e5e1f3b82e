// One run at a time per environment (and per keyring), whoever starts it: the CLI, a schedule, the
// Web UI with any workflow id. A lock is a workflow (`environmentLock`) whose id names the
// environment (`lock/env/test`): Temporal refuses a second running workflow with that id, so
// holding the lock is having that workflow running. A run takes its locks through an activity
// (activities/environment-lock.ts) that starts each one with a start delay, so that no
// worker ever runs it, and the run in its memo; it releases them (terminates them) before it
// closes, also after a failure or a cancellation. A run that ends without releasing (terminated,
// reset) leaves them to the next run that wants one: it finds the holder closed and ends the lock.
// Runs recorded before that took each lock as a child workflow (its parent the holder, released
// by a signal, ended by the parent close policy); they replay as they were.
//
// A secret's lock (`secret/<name>/<env>`) has the id of that secret's rotation run
// (`rotate-secret/<name>/<env>`, the id the CLI starts it with): a run
// started with that id holds it by running, without a lock workflow; a run started with any other
// id takes it under that id, which Temporal refuses while such a run is going (and the other way
// round). It is the same exclusion at a fraction of the cost, which many secrets rotated side by
// side notice. A run over an environment's secrets takes `secrets/<env>` and needs each of its
// secrets' free; a secret's rotation needs `secrets/<env>` free (mustBeFree).

import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  CancellationScope,
  ChildWorkflowCancellationType,
  type ChildWorkflowHandle,
  condition,
  defineSignal,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { EnvironmentLockActivities } from '../activities/environment-lock';
import { FailureType, fail } from '../shared/failures';
import { retry, shortActivity } from './activity-options';
import { lockWorkflowId, lockWorkflowIds } from './inputs';

const locks = proxyActivities<EnvironmentLockActivities>(shortActivity);
// A fleet's key group takes many locks, one after another.
const lockTaking = proxyActivities<EnvironmentLockActivities>({
  ...shortActivity,
  startToCloseTimeout: '2m',
});
// A release is retried for a week (every 30 s at most): a lock left running refuses every other
// run. A bound, not maximumAttempts 0: the time-skipping test server hangs on that.
const lockReleasing = proxyActivities<EnvironmentLockActivities>({
  startToCloseTimeout: '2m',
  scheduleToCloseTimeout: '7 days',
  retry: { ...retry, maximumAttempts: 7 * 24 * 120 },
});

/** Sent by the holder to end its lock. */
export const releaseLockSignal = defineSignal('release');

/** Holds a lock until its holder releases it: a lock taken by an activity is terminated (and runs
 * this only when held past its start delay), a lock child gets a signal (holders recorded before
 * that cancel it). It wakes once a day, which costs a few events a day and bounds how far a
 * time-skipping test server can jump while a release is in flight. */
export async function environmentLock(input: { resource: string; holder: string }): Promise<void> {
  void input;
  let released = false;
  setHandler(releaseLockSignal, () => {
    released = true;
  });
  while (!released) await condition(() => released, '1 day');
}

/**
 * Runs `fn` holding the locks on the resources `resourcesOf` names (`env/prod`, `keyring/api`),
 * taken in one order (by name; a secret's before its environment's) so that of two runs wanting
 * overlapping sets one always gets all of its locks. A resource held by another run refuses this
 * run (`EnvironmentBusy`, naming the holder) before it changed anything.
 */
export async function withLocks<T>(
  resourcesOf: () => Promise<string[]> | string[],
  fn: () => Promise<T>,
  /** What a refusal says of the run's state (a run taking its locks again has changed things). */
  state = 'nothing was changed',
): Promise<T> {
  if (patched('locks-taken-by-activity')) return withStartedLocks(resourcesOf, fn, state);
  // Runs recorded before locks existed replay without them.
  if (!patched('environment-locks')) return fn();
  // Runs recorded before a rotation could be its own secret's lock took a child for it.
  const selfHeld = patched('secret-run-holds-its-lock');
  // Runs recorded before locks were released by a signal cancelled them. A signal lets a run take
  // the same lock again later (a rollover's roll-outs): a second cancel of one child id is refused
  // by some servers.
  const bySignal = patched('release-locks-by-signal');
  const resources = await resourcesOf();
  const holder = workflowInfo().workflowId;
  // Detached from the run's own cancellation: a cancelled run keeps its locks through its undo.
  const scope = await CancellationScope.nonCancellable(async () => new CancellationScope());
  const held: ChildWorkflowHandle<typeof environmentLock>[] = [];
  const release = async () => {
    if (bySignal)
      await CancellationScope.nonCancellable(() =>
        Promise.allSettled(held.map((h) => h.signal(releaseLockSignal))),
      );
    else scope.cancel();
    await CancellationScope.nonCancellable(() => Promise.allSettled(held.map((h) => h.result())));
  };
  try {
    for (const resource of [...new Set(resources)].sort()) {
      const workflowId = lockWorkflowId(resource, selfHeld);
      // Held by this run's being: Temporal runs one workflow per id at a time.
      if (workflowId !== holder) held.push(await acquire(scope, resource, workflowId, holder, state));
    }
    return await fn();
  } finally {
    await release();
  }
}

/** `withLocks` with locks no worker runs: an activity starts each lock's workflow with a start
 * delay and the run in its memo, another terminates it at release: no child workflow to start,
 * signal and wait for, and no workflow of the lock's own for a worker to run (a local activity
 * would save two workflow tasks more, but its result can land in a workflow task of its own,
 * which replay does not repeat: see the patch reads-not-local). A run that ends without
 * releasing (terminated, reset) leaves its locks to the next run that wants them, which finds
 * their holder closed and ends them (activities/environment-lock.ts). */
async function withStartedLocks<T>(
  resourcesOf: () => Promise<string[]> | string[],
  fn: () => Promise<T>,
  state: string,
): Promise<T> {
  const holder = workflowInfo().workflowId;
  const wanted = [...new Set(await resourcesOf())]
    .sort()
    .map((resource) => ({ resource, workflowId: lockWorkflowId(resource) }))
    // Held by this run's being: Temporal runs one workflow per id at a time.
    .filter((l) => l.workflowId !== holder);
  // A secret's lock comes before its environment's (a secret's rotation under its own id holds
  // its secret from its start, then takes the environment): of two runs for one secret, one is
  // refused before it takes the environment, not each by the other. Only a secret's: a run over an
  // environment's secrets holding `secrets/E` while refused at `env/E` could make a secret's run
  // refuse too. Asked only where the order changes (runs recorded before env-locks-last took
  // them in name order).
  const isSecret = (l: { resource: string }) => l.resource.startsWith('secret/');
  if (wanted.some(isSecret) && wanted.some((l) => l.resource.startsWith('env/')) && patched('env-locks-last'))
    wanted.sort((a, b) => Number(isSecret(b)) - Number(isSecret(a)));
  if (wanted.length === 0) return fn();
  // Detached from the run's own cancellation: a cancelled run keeps its locks through its undo.
  const taken = await CancellationScope.nonCancellable(() =>
    lockTaking.takeLocks({ locks: wanted }).catch(async (err) => {
      // Its attempts may have taken some: those naming this run go (the others are not its).
      await releaseHeld(wanted);
      throw err;
    }),
  );
  try {
    if (taken.busy) throw busy(taken.busy.resource, taken.busy.owner, taken.busy.workflowId, state);
    return await fn();
  } finally {
    if (taken.held.length > 0) await releaseHeld(taken.held);
  }
}

/** Ends the locks this run took. Retried for as long as the server may be away: a lock left
 * running names a live run and refuses every other one (its next holder ends it only once this run
 * has closed). */
function releaseHeld(held: { workflowId: string; runId?: string }[]): Promise<void> {
  return CancellationScope.nonCancellable(() =>
    lockReleasing.releaseLocks({ locks: held.map((l) => ({ workflowId: l.workflowId, runId: l.runId })) }),
  );
}

/** Refuses the run (`EnvironmentBusy`, naming the holder) if another run holds any of `resources`,
 * which it does not take: a run over an environment's secrets holds `secrets/E` and needs each of
 * its secrets' free; a secret's own rotation holds its own and needs `secrets/E` free. Each side
 * looks only once it holds its own lock, so of two that start together at least one sees the
 * other. */
export async function mustBeFree(resources: string[], state = 'nothing was changed'): Promise<void> {
  const wanted = resources.flatMap((r) => lockWorkflowIds(r).map((id) => ({ r, id })));
  const owners = await locks.lockHolders({ workflowIds: wanted.map((w) => w.id) });
  const i = owners.findIndex((o) => o !== null);
  const w = wanted[i];
  if (w) throw busy(w.r, owners[i] as string, w.id, state);
}

async function acquire(
  scope: CancellationScope,
  resource: string,
  workflowId: string,
  holder: string,
  state: string,
): Promise<ChildWorkflowHandle<typeof environmentLock>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await scope.run(() =>
        startChild(environmentLock, {
          workflowId,
          args: [{ resource, holder }],
          parentClosePolicy: ParentClosePolicy.TERMINATE,
          cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
          staticSummary: `lock on ${resource} held by ${holder}`,
        }),
      );
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    const owner = await locks.lockHolder({ workflowId });
    if (owner || attempt >= 5) throw busy(resource, owner, workflowId, state);
    // Free now: its holder had closed and the lock was removed.
  }
}

/** The refusal of a run that found `resource` held by `owner` (a run's id, or a sentence naming a
 * run of something else: see activities/environment-lock.ts). */
function busy(resource: string, owner: string | null, workflowId: string, state: string) {
  return fail(
    FailureType.EnvironmentBusy,
    owner && / on task queue /.test(owner)
      ? `${resource.replace('/', ' ')} is in use by ${owner}; ${state}`
      : `${resource.replace('/', ' ')} is in use by ${owner ?? 'another run'}; ${state} (see rekey status ${owner ?? workflowId})`,
  );
}
