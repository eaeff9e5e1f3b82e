// Workers as separate processes (`rekey worker`), so a test can SIGKILL one mid-run as a crash
// would, and helpers to time the kill.
import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import { type TEST_NAMESPACES, testEnv } from './env';
import type { Topology } from './topology';

const repo = resolve(__dirname, '../../..');

export function startWorker(
  t: Topology,
  namespace: (typeof TEST_NAMESPACES)[number],
  taskQueue: string,
  extraArgs: string[] = [],
): ChildProcess {
  const env = testEnv();
  const child = spawn(
    process.execPath,
    [join(repo, 'bin/rekey'), 'worker', '--config', t.configFile, ...extraArgs],
    {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: env.temporal.address,
        TEMPORAL_NAMESPACE: namespace,
        REKEY_TASK_QUEUE: taskQueue,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return child;
}

export function kill(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res();
    child.once('exit', () => res());
    child.kill('SIGKILL');
  });
}

/**
 * Resolves once an attempt of `activity` is running (the moment to kill the worker), or, should
 * every attempt have finished between two polls, once one has completed: the kill then lands on
 * a later step, which is still a crash mid-run.
 */
export async function activityStarted(client: Client, workflowId: string, activity: string): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  for (let i = 0; i < 2400; i++) {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    if (pending.some((a) => a.activityType?.name === activity && a.lastStartedTime)) return;
    if (i % 20 === 19) {
      const events = (await handle.fetchHistory()).events ?? [];
      if (events.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity)) {
        const scheduled = new Set(
          events
            .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity)
            .map((e) => String(e.eventId)),
        );
        if (
          events.some((e) => scheduled.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)))
        )
          return;
      }
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${activity} never started in ${workflowId}`);
}
