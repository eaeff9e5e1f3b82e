// Who a rekey lock names as its holder (see workflows/environment-lock.ts), for the lock
// activities, the approval guard and the CLI alike.

/** The run a lock names as its holder: the parent of a lock child (runs recorded before locks
 * were started by an activity), else the run its memo names (`takeLocks`). */
export function lockHolderOf(lock: {
  parentExecution?: { workflowId?: string | null; runId?: string | null };
  memo?: Record<string, unknown>;
}): { workflowId: string; runId: string } | undefined {
  const parent = lock.parentExecution;
  const { holder, holderRunId } = parent
    ? { holder: parent.workflowId, holderRunId: parent.runId }
    : (lock.memo ?? {});
  // A lock naming no run (or an empty one) is held by nobody.
  return typeof holder === 'string' && holder && typeof holderRunId === 'string' && holderRunId
    ? { workflowId: holder, runId: holderRunId }
    : undefined;
}

/** Whether `lock` is a running rekey lock that names `run` as its holder. */
export function isHeldBy(
  lock: Parameters<typeof lockHolderOf>[0] & { status: { name: string }; type: string },
  run: { workflowId: string; runId: string },
): boolean {
  const holder = lock.status.name === 'RUNNING' && lock.type === 'environmentLock' && lockHolderOf(lock);
  return !!holder && holder.workflowId === run.workflowId && holder.runId === run.runId;
}
