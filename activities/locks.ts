// Who holds a rekey lock (see workflows/environment-lock.ts): the run that started the lock's
// workflow, read from Temporal so that a refused run can name it.
import { Context } from '@temporalio/activity';

export function createLockActivities() {
  return {
    /**
     * The run holding the lock `workflowId`, or null when it is free. A lock whose holder has
     * ended (its parent close policy not yet applied, or a server that does not apply it) can
     * never be released by it: it is terminated here, and the lock is free.
     */
    async lockHolder(input: { workflowId: string }): Promise<string | null> {
      const workflows = Context.current().client.workflow;
      const lock = await workflows.getHandle(input.workflowId).describe();
      if (lock.status.name !== 'RUNNING') return null;
      // A run holding its own lock (a secret's rotation under its business id).
      if (lock.type === 'rotateSecret') return input.workflowId;
      // Anything else under a lock's id is not rekey's: named, with what ends it.
      if (lock.type !== 'environmentLock')
        return `a ${lock.type} run that is not a rekey lock (workflow id ${input.workflowId}, task queue ${lock.taskQueue}): end it with temporal workflow terminate --workflow-id ${input.workflowId}`;
      const holder = lock.parentExecution?.workflowId ?? '';
      const parent = holder
        ? await workflows.getHandle(holder, lock.parentExecution?.runId ?? undefined).describe()
        : undefined;
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

export type LockActivities = ReturnType<typeof createLockActivities>;
