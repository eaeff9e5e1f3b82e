// The fast tier's harness: workflows from the prebuilt bundle on the time-skipping test server,
// against activities that record their calls.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../worker/bundle';
// helpers also installs the quiet worker logger.
import '../helpers';

type Activity = (...args: never[]) => Promise<unknown>;

const server = join(process.env.REKEY_CACHE ?? join(homedir(), '.cache/rekey'), 'bin/temporal-test-server');

export function timeSkipping(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: server } },
  });
}

let queues = 0;

/** Runs `fn` while a worker with `activities` polls a task queue of its own. */
export async function withWorker<T>(
  env: TestWorkflowEnvironment,
  activities: Record<string, Activity>,
  fn: (taskQueue: string) => Promise<T>,
): Promise<T> {
  const taskQueue = `fast-${++queues}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: workflowBundle(),
    activities,
  });
  return worker.runUntil(() => fn(taskQueue));
}

/** `activities` that also record each call: `calls` its names in order, `inputs` its arguments. */
export function recording(activities: Record<string, Activity>) {
  const calls: string[] = [];
  const inputs: { name: string; input: unknown }[] = [];
  const recorded = Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (...args: never[]) => {
        calls.push(name);
        inputs.push({ name, input: args[0] });
        return fn(...args);
      },
    ]),
  );
  // Every run's first step compares configs (activities/starter-config.ts): they agree here, and
  // the check is not among the calls a test reads; nor is a hop's question which events to emit
  // (none here, unless a test routes some); nor is the look at locks that must be free.
  return {
    calls,
    inputs,
    activities: {
      checkStarterConfig: async () => undefined,
      notifyRouting: async () => ({}),
      // Locks that must be free are, locks are taken and released (a test of who holds them
      // passes its own; the real locks are the real tier's).
      lockHolders: async (i: { workflowIds: string[] }) => i.workflowIds.map(() => null),
      takeLocks: async (i: { locks: { workflowId: string }[] }) => ({
        held: i.locks.map((l) => ({ workflowId: l.workflowId, runId: 'fast' })),
      }),
      releaseLocks: async () => undefined,
      ...recorded,
    },
  };
}
