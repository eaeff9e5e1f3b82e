// Who holds a rekey lock (see workflows/environment-lock.ts): the run that started the lock's
// workflow, read from Temporal so that a refused run can name it.
import { Context } from '@temporalio/activity';

export function createLockActivities() {
  return {
    /** The workflow id of the run holding the lock `workflowId`, or null if it is free again. */
    async lockHolder(input: { workflowId: string }): Promise<string | null> {
      const description = await Context.current().client.workflow.getHandle(input.workflowId).describe();
      if (description.status.name !== 'RUNNING') return null;
      return description.parentExecution?.workflowId ?? null;
    },
  };
}

export type LockActivities = ReturnType<typeof createLockActivities>;
