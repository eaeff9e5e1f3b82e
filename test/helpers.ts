// Shared test helpers: an in-process worker on the real Temporal dev server, history scans.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { Config } from '../config/schema';
import { createRekeyWorker } from '../worker/worker';
import { type TEST_NAMESPACES, testEnv } from './infra/env';

// Workers in tests log warnings and errors only; INFO lines (bundling, state changes) drown
// the test report.
Runtime.install({ logger: new DefaultLogger('WARN') });

export interface TemporalFixture {
  client: Client;
  taskQueue: string;
  /** Runs `fn` while a rekey worker for `config` polls this fixture's task queue. */
  withWorker<T>(config: Config, fn: (worker: Worker) => Promise<T>): Promise<T>;
  /** Runs `fn` while a worker of workflows rekey never wrote (test/foreign/workflows.ts) polls
   * task queue `<this fixture's>-<suffix>`, which `fn` is given. */
  withForeignWorker<T>(suffix: string, fn: (taskQueue: string) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function temporalFixture(namespace: (typeof TEST_NAMESPACES)[number]): Promise<TemporalFixture> {
  const { temporal } = testEnv();
  const connection = await Connection.connect({ address: temporal.address });
  const native = await NativeConnection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace });
  const taskQueue = `rekey-test-${randomUUID()}`;
  return {
    client,
    taskQueue,
    async withWorker(config, fn) {
      const worker = await createRekeyWorker({
        config,
        connection: native,
        namespace,
        taskQueue,
      });
      return worker.runUntil(() => fn(worker));
    },
    async withForeignWorker(suffix, fn) {
      const queue = `${taskQueue}-${suffix}`;
      const worker = await Worker.create({
        connection: native,
        namespace,
        taskQueue: queue,
        workflowsPath: require.resolve('./foreign/workflows'),
      });
      return worker.runUntil(() => fn(queue));
    },
    async close() {
      await connection.close();
      await native.close();
    },
  };
}

/** The full event history of a run as JSON text, every payload's data decoded to text, for leak
 * checks. (JSON.stringify of a history turns payload bytes into base64 before a replacer sees
 * them, so the decoding is done on the JSON form.) */
export async function historyText(client: Client, workflowId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return JSON.stringify(JSON.parse(JSON.stringify(history)), (k, v) =>
    k === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
  );
}

/** The activities a run scheduled, in order, each with its parsed result once it completed and
 * whether it failed: what a test reads to tell which steps really ran. */
export async function activitySteps(
  client: Client,
  workflowId: string,
): Promise<{ name: string; result?: unknown; failed?: boolean }[]> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const byId = new Map<string, { name: string; result?: unknown; failed?: boolean }>();
  const order: { name: string; result?: unknown; failed?: boolean }[] = [];
  for (const e of events) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const entry = { name: scheduled.activityType?.name ?? '' };
      byId.set(String(e.eventId), entry);
      order.push(entry);
    }
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const entry = byId.get(String(done.scheduledEventId));
      const data = done.result?.payloads?.[0]?.data;
      // A void result is a binary/null payload with no data.
      if (entry) entry.result = data?.length ? JSON.parse(Buffer.from(data).toString()) : null;
    }
    const failed = e.activityTaskFailedEventAttributes;
    const entry = failed && byId.get(String(failed.scheduledEventId));
    if (entry) entry.failed = true;
  }
  return order;
}

/** The failure a run ended with: the ApplicationFailure under WorkflowFailedError. */
export async function failureOf(run: Promise<unknown>): Promise<{ type?: string; message: string }> {
  const err = await run.then(
    () => assert.fail('the run was expected to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  const cause = err.cause as (Error & { type?: string }) | undefined;
  return { type: cause?.type, message: cause?.message ?? '' };
}

export { assertNoSecrets } from './assertions';

/**
 * bin/rekey in a child process without blocking this one (a worker running here keeps polling):
 * its exit code, what it printed, and both together as `out`. `input` is its standard input (a
 * pipe, closed after it; empty when not given).
 */
export function rekeyAsync(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string; out: string }> {
  const { input, ...options } = opts;
  return new Promise((res) => {
    const child = execFile(
      process.execPath,
      [join(__dirname, '../../bin/rekey'), ...args],
      { ...options, timeout: 120_000 },
      (err, stdout, stderr) =>
        res({
          code: err ? (typeof err.code === 'number' ? err.code : 1) : 0,
          stdout,
          stderr,
          out: stdout + stderr,
        }),
    );
    child.stdin?.end(input ?? '');
  });
}
