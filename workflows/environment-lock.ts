// One run at a time per environment (and per keyring), whoever starts it: the CLI, a schedule, the
// Web UI with any workflow id. The lock is a child workflow whose id names the environment
// (`lock/env/test`): Temporal refuses a second running workflow with that id, so holding the lock
// is having that child running. It ends when the run releases it, and Temporal terminates it if
// the run is terminated or reset (parent close policy), so a lock is never left behind.

import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  type ChildWorkflowHandle,
  condition,
  ParentClosePolicy,
  patched,
  proxyActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { LockActivities } from '../activities/locks';
import { quickActivity } from './activity-options';

const locks = proxyActivities<LockActivities>(quickActivity);

export const lockWorkflowId = (resource: string) => `lock/${resource}`;

/** Holds a lock until cancelled (released) by the run that started it. */
export async function environmentLock(input: { resource: string; holder: string }): Promise<void> {
  await condition(() => false);
  void input;
}

/**
 * Runs `fn` holding the locks on the resources `resourcesOf` names (`env/prod`, `keyring/api`), taken in sorted order so
 * that of two runs wanting overlapping sets one always gets all of its locks. A resource held by
 * another run refuses this run (`EnvironmentBusy`, naming the holder) before it changed anything.
 */
export async function withLocks<T>(
  resourcesOf: () => Promise<string[]> | string[],
  fn: () => Promise<T>,
): Promise<T> {
  // Runs recorded before locks existed replay without them.
  if (!patched('environment-locks')) return fn();
  const resources = await resourcesOf();
  const holder = workflowInfo().workflowId;
  const held: ChildWorkflowHandle<typeof environmentLock>[] = [];
  const scope = new CancellationScope();
  const release = async () => {
    scope.cancel();
    await CancellationScope.nonCancellable(() => Promise.allSettled(held.map((h) => h.result())));
  };
  try {
    for (const resource of [...new Set(resources)].sort()) {
      const workflowId = lockWorkflowId(resource);
      try {
        held.push(
          await scope.run(() =>
            startChild(environmentLock, {
              workflowId,
              args: [{ resource, holder }],
              parentClosePolicy: ParentClosePolicy.TERMINATE,
              cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
              staticSummary: `lock on ${resource} held by ${holder}`,
            }),
          ),
        );
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        const owner = await locks.lockHolder({ workflowId });
        throw ApplicationFailure.create({
          type: 'EnvironmentBusy',
          message: `${resource.replace('/', ' ')} is in use by ${owner ?? 'another run'}; nothing was changed (see rekey status ${owner ?? workflowId})`,
          nonRetryable: true,
        });
      }
    }
  } catch (err) {
    await release();
    throw err;
  }
  try {
    return await fn();
  } finally {
    await release();
  }
}
