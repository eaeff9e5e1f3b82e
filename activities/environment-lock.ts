// Who holds a rekey lock (see workflows/environment-lock.ts): the run that started the lock's
// workflow, read from Temporal so that a refused run can name it.
import { Context } from '@temporalio/activity';
import { SELF_HELD, typesThat } from '../shared/workflow-types';

/** The workflow types that take rekey's locks. */
const REKEY_TYPES = typesThat('locks');

/** The run holding the lock `workflowId`, or null when it is free (see `lockHolder`). */
async function holderOf(workflowId: string): Promise<string | null> {
  const { client, info } = Context.current();
  const workflows = client.workflow;
  const lock = await workflows
    .getHandle(workflowId)
    .describe()
    .catch((err: Error) => {
      // Never taken: free.
      if (err.name === 'WorkflowNotFoundError') return undefined;
      throw err;
    });
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
  const holder = lock.parentExecution?.workflowId ?? '';
  const parent = holder
    ? await workflows.getHandle(holder, lock.parentExecution?.runId ?? undefined).describe()
    : undefined;
  // A lock held by a run that is no rekey run (another type) is named as such.
  if (parent?.status.name === 'RUNNING' && !REKEY_TYPES.has(parent.type))
    return notRekeys(`a lock held by a ${parent.type} run ${holder} on task queue ${parent.taskQueue}`);
  if (parent?.status.name === 'RUNNING' && parent.taskQueue !== info.taskQueue)
    return otherDeployment(parent.taskQueue);
  if (parent?.status.name === 'RUNNING') return holder;
  // By its run id: the id may be a secret rotation's CLI id, taken by a new run meanwhile.
  await workflows
    .getHandle(workflowId, lock.runId)
    .terminate(`its holder ${holder || '(unknown)'} has ended`)
    .catch(() => undefined); // ended meanwhile
  return null;
}

/** Locks looked up at once: a run over many secrets checks each one's. */
const LOOKUPS_AT_ONCE = 50;

export function createEnvironmentLockActivities() {
  return {
    /**
     * The run holding the lock `workflowId`, or null when it is free. A lock whose holder has
     * ended (its parent close policy not yet applied, or a server that does not apply it) can
     * never be released by it: it is terminated here, and the lock is free.
     */
    lockHolder(input: { workflowId: string }): Promise<string | null> {
      return holderOf(input.workflowId);
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
