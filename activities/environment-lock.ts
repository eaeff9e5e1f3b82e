// Who holds a rekey lock (see workflows/environment-lock.ts): the run that started the lock's
// workflow, read from Temporal so that a refused run can name it.
import { Context } from '@temporalio/activity';
import { typesThat } from '../shared/workflow-types';

/** The workflow types that take rekey's locks. */
const REKEY_TYPES = typesThat('locks');

export function createEnvironmentLockActivities() {
  return {
    /**
     * The run holding the lock `workflowId`, or null when it is free. A lock whose holder has
     * ended (its parent close policy not yet applied, or a server that does not apply it) can
     * never be released by it: it is terminated here, and the lock is free.
     */
    async lockHolder(input: { workflowId: string }): Promise<string | null> {
      const { client, info } = Context.current();
      const workflows = client.workflow;
      const lock = await workflows.getHandle(input.workflowId).describe();
      if (lock.status.name !== 'RUNNING') return null;
      const ours = lock.taskQueue === info.taskQueue;
      const notRekeys = (what: string) =>
        `${what} that is not rekey's (workflow id ${input.workflowId}): end it with temporal workflow terminate --workflow-id ${input.workflowId}`;
      // Deployments sharing a namespace (task-queue.ts) share lock ids: never advise ending theirs.
      const otherDeployment = (queue: string) =>
        `${input.workflowId}, a lock of another rekey deployment on task queue ${queue} (deployments sharing a namespace need environment names of their own)`;
      // A run holding its own lock (a secret's rotation under its business id).
      if (lock.type === 'rotateSecret' && ours && input.workflowId.startsWith('rotate-secret/'))
        return input.workflowId;
      if ((lock.type === 'environmentLock' || lock.type === 'rotateSecret') && !ours)
        return otherDeployment(lock.taskQueue);
      // Anything else under a lock's id is not rekey's: named, with what ends it.
      if (lock.type !== 'environmentLock')
        return notRekeys(`a ${lock.type} run on task queue ${lock.taskQueue}`);
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
        .getHandle(input.workflowId, lock.runId)
        .terminate(`its holder ${holder || '(unknown)'} has ended`)
        .catch(() => undefined); // ended meanwhile
      return null;
    },
  };
}

export type EnvironmentLockActivities = ReturnType<typeof createEnvironmentLockActivities>;
