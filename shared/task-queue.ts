// The task queue rekey's workers poll and its runs are started on: "rekey", or $REKEY_TASK_QUEUE
// (several deployments sharing one namespace). Not for workflow code: it reads the environment.

export const DEFAULT_TASK_QUEUE = 'rekey';

export function taskQueue(explicit?: string): string {
  return explicit ?? process.env.REKEY_TASK_QUEUE ?? DEFAULT_TASK_QUEUE;
}
