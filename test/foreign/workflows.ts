// A workflow that is not rekey's: started by anyone who may start workflows in the namespace, on
// a task queue of their own, it schedules rekey's activities by name on rekey's task queue (what
// the review's attack did). rekey's worker must refuse every one that changes a gated environment.
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  condition,
  defineQuery,
  defineUpdate,
  executeChild,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';

export interface ForeignCall {
  activity: string;
  input: Record<string, unknown>;
}

export interface ForeignOutcome {
  activity: string;
  ok: boolean;
  type?: string;
  message?: string;
}

export async function foreignCaller(taskQueue: string, calls: ForeignCall[]): Promise<ForeignOutcome[]> {
  const acts = proxyActivities<Record<string, (input: unknown) => Promise<unknown>>>({
    taskQueue,
    startToCloseTimeout: '2m',
    retry: { maximumAttempts: 1 },
  });
  const out: ForeignOutcome[] = [];
  for (const c of calls) {
    try {
      await acts[c.activity]?.(c.input);
      out.push({ activity: c.activity, ok: true });
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : err;
      out.push({
        activity: c.activity,
        ok: false,
        ...(cause instanceof ApplicationFailure && cause.type ? { type: cause.type } : {}),
        message: (cause as Error).message,
      });
    }
  }
  return out;
}

/** A parent that is not a rekey promotion starting a hop on rekey's task queue with a promotion's
 * input (say, copied from a real one's history), to borrow its signed request. */
export async function foreignParent(
  taskQueue: string,
  hop: Record<string, unknown>,
): Promise<ForeignOutcome> {
  try {
    await executeChild('promoteHop', {
      taskQueue,
      args: [hop],
      workflowId: `${workflowInfo().workflowId}/hop`,
    });
    return { activity: 'promoteHop', ok: true };
  } catch (err) {
    const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
    return {
      activity: 'promoteHop',
      ok: false,
      ...(cause instanceof ApplicationFailure && cause.type ? { type: cause.type } : {}),
      message: (cause as Error).message,
    };
  }
}

/** A run that takes a rekey lock's workflow id and never ends. */
export async function foreignSquatter(): Promise<void> {
  await condition(() => false);
}

/** A run that answers rekey's progress query with another run's gate (say, a prod rotation's),
 * to collect an approver's signature over that run's digest through `rekey approve`. */
export async function foreignGate(progress: unknown): Promise<void> {
  const received: unknown[] = [];
  setHandler(defineQuery('progress'), () => progress);
  setHandler(defineQuery<unknown[]>('received'), () => received);
  setHandler(defineUpdate<{ outcome: string }, [unknown]>('approve'), (decision) => {
    received.push(decision);
    return { outcome: 'passed' };
  });
  await condition(() => false);
}

/** The same under rekey's own workflow type name, on a task queue of its own. */
/** A run under a rekey lock's type name, on a task queue of its own. */
export { foreignGate as rotateJwtKeys, foreignSquatter as environmentLock };

/** A run that takes a rekey lock through rekey's own lock workflow on rekey's task queue (as a
 * rekey run would), under a rekey run's workflow id, and holds it. */
export async function foreignLockHolder(taskQueue: string, resource: string): Promise<void> {
  await startChild('environmentLock', {
    taskQueue,
    workflowId: `lock/${resource}`,
    args: [{ resource, holder: workflowInfo().workflowId }],
  });
  await condition(() => false);
}
