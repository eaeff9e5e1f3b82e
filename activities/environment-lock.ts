// Who holds a rekey lock (see workflows/environment-lock.ts): the run that started the lock's
// workflow, read from Temporal so that a refused run can name it.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { isHeldBy, lockHolderOf } from '../shared/lock-holder';
import { unlessNotFound } from '../shared/not-found';
import { SELF_HELD, typesThat } from '../shared/workflow-types';
import { schedulingRun } from './scheduling-run';

/** The workflow types that take rekey's locks. */
const REKEY_TYPES = typesThat('locks');

/** The run holding the lock `workflowId`, or null when it is free (see `lockHolder`). */
async function holderOf(workflowId: string): Promise<string | null> {
  const { client, info } = Context.current();
  const workflows = client.workflow;
  // Never taken: free.
  const lock = await unlessNotFound(workflows.getHandle(workflowId).describe());
  if (lock?.status.name !== 'RUNNING') return null;
  const ours = lock.taskQueue === info.taskQueue;
  const notRekeys = (what: string) =>
    `${what} that is not rekey's (workflow id ${workflowId}): end it with temporal workflow terminate --workflow-id ${workflowId}`;
  // Deployments sharing a namespace (task-queue.ts) share lock ids: never advise ending theirs.
  const otherDeployment = (queue: string) =>
    `${workflowId}, a lock of another rekey deployment on task queue ${queue} (deployments sharing a namespace need environment names of their own)`;
  const selfHeld = SELF_HELD[lock.type];
  // A run holding its own lock (under its business id).
  if (selfHeld && ours && workflowId.startsWith(selfHeld)) return workflowId;
  if ((lock.type === 'environmentLock' || selfHeld) && !ours) return otherDeployment(lock.taskQueue);
  // Anything else under a lock's id is not rekey's: named, with what ends it.
  if (lock.type !== 'environmentLock') return notRekeys(`a ${lock.type} run on task queue ${lock.taskQueue}`);
  const { workflowId: holder, runId: holderRunId } = lockHolderOf(lock) ?? { workflowId: '', runId: '' };
  // A holder whose history is gone (past the namespace's retention) has long ended.
  const parent = holder
    ? await unlessNotFound(workflows.getHandle(holder, holderRunId || undefined).describe())
    : undefined;
  // A lock held by a run that is no rekey run (another type) is named as such.
  if (parent?.status.name === 'RUNNING' && !REKEY_TYPES.has(parent.type))
    return notRekeys(`a lock held by a ${parent.type} run ${holder} on task queue ${parent.taskQueue}`);
  if (parent?.status.name === 'RUNNING' && parent.taskQueue !== info.taskQueue)
    return otherDeployment(parent.taskQueue);
  if (parent?.status.name === 'RUNNING') return holder;
  // By its run id: the id may be a secret rotation's CLI id, taken by a new run meanwhile.
  await unlessNotFound(
    workflows.getHandle(workflowId, lock.runId).terminate(`its holder ${holder || '(unknown)'} has ended`),
  ); // not found: ended meanwhile
  return null;
}

/** A lock workflow waits this long before it first runs: a lock released (terminated) sooner
 * never costs a worker anything. One held longer (or left by a run that was terminated, until the
 * next run that wants it ends it) runs `environmentLock`, which waits for the same end. */
const LOCK_START_DELAY = '365 days';

type Taken = { workflowId: string; runId: string };

/** The run that scheduled the current activity: the one whose locks it takes or releases. An
 * activity no workflow scheduled holds nothing and may take nothing. */
function callingRun(): Taken {
  const run = schedulingRun();
  if (!run) throw ApplicationFailure.nonRetryable('rekey locks are taken by workflow runs only', 'BadInput');
  return { workflowId: run.workflowId, runId: run.runId };
}

/** Ends the lock runs in `locks` that name the calling run as their holder (terminated: a lock's
 * end is its release); any other is left alone, so that a workflow of someone else's cannot end
 * rekey's locks through this activity. One already ended is released. */
async function release(locks: { workflowId: string; runId?: string }[]): Promise<void> {
  const workflows = Context.current().client.workflow;
  const run = callingRun();
  await Promise.all(
    locks.map(async (l) => {
      const lock = await unlessNotFound(workflows.getHandle(l.workflowId, l.runId).describe());
      if (!lock || !isHeldBy(lock, run)) return;
      // That run, not the id's latest (another run's lock, should this one have ended meanwhile:
      // then it is released already).
      await unlessNotFound(
        workflows.getHandle(l.workflowId, lock.runId).terminate(`released by ${run.workflowId}`),
      );
    }),
  );
}

/** Locks looked up at once: a run over many secrets checks each one's. */
const LOOKUPS_AT_ONCE = 50;

export function createEnvironmentLockActivities() {
  return {
    /**
     * The run holding the lock `workflowId`, or null when it is free. A lock whose holder has
     * ended without releasing it (terminated, reset; or a lock child whose parent close policy
     * was not yet applied) can never be released by it: it is terminated here, and is free.
     */
    lockHolder(input: { workflowId: string }): Promise<string | null> {
      return holderOf(input.workflowId);
    },

    /**
     * Takes the locks `locks` for the calling run, in their order: a lock is a workflow
     * (`environmentLock`) under the lock's id, started with a start delay and the holder in its
     * memo; Temporal refuses a second running workflow with that id, so holding the lock is
     * having that workflow running. A lock held by another run stops there: the locks taken so far
     * are returned with it, for the run to release. A retry (this activity's) finds the locks
     * its earlier attempt took as its own.
     */
    async takeLocks(input: {
      locks: { resource: string; workflowId: string }[];
    }): Promise<{ held: Taken[]; busy?: { resource: string; workflowId: string; owner: string | null } }> {
      const { client, info } = Context.current();
      const holder = callingRun();
      const held: Taken[] = [];
      for (const { resource, workflowId } of input.locks) {
        for (let attempt = 1; ; attempt++) {
          try {
            const h = await client.workflow.start('environmentLock', {
              workflowId,
              taskQueue: info.taskQueue,
              args: [{ resource, holder: holder.workflowId }],
              startDelay: LOCK_START_DELAY,
              memo: { holder: holder.workflowId, holderRunId: holder.runId },
              staticSummary: `lock on ${resource} held by ${holder.workflowId}`,
            });
            held.push({ workflowId, runId: h.firstExecutionRunId });
            break;
          } catch (err) {
            if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          }
          const lock = await unlessNotFound(client.workflow.getHandle(workflowId).describe());
          // Its own, taken by an earlier attempt (a lock child of the run is not this kind).
          if (lock && !lock.parentExecution && isHeldBy(lock, holder)) {
            held.push({ workflowId, runId: lock.runId });
            break;
          }
          const owner = await holderOf(workflowId);
          if (owner || attempt >= 5) return { held, busy: { resource, workflowId, owner } };
          // Free now: its holder had closed and the lock was removed.
        }
      }
      return { held };
    },

    /** Releases locks `takeLocks` took for the calling run (without a run id: the lock's
     * current run, if it names the calling run). */
    releaseLocks(input: { locks: { workflowId: string; runId?: string }[] }): Promise<void> {
      return release(input.locks);
    },

    /** `lockHolder` of each of `workflowIds`, in their order. */
    async lockHolders(input: { workflowIds: string[] }): Promise<(string | null)[]> {
      const out: (string | null)[] = [];
      for (let i = 0; i < input.workflowIds.length; i += LOOKUPS_AT_ONCE)
        out.push(...(await Promise.all(input.workflowIds.slice(i, i + LOOKUPS_AT_ONCE).map(holderOf))));
      return out;
    },
  };
}

export type EnvironmentLockActivities = ReturnType<typeof createEnvironmentLockActivities>;
