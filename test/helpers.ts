// Shared test helpers: an in-process worker on the real Temporal dev server, history scans.
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
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
    async close() {
      await connection.close();
      await native.close();
    },
  };
}

/** The full event history of a run as JSON text, payloads decoded, for leak checks. */
export async function historyText(client: Client, workflowId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const decode = (_k: string, v: unknown) => {
    if (v && typeof v === 'object' && 'data' in v && (v as { data: unknown }).data instanceof Uint8Array) {
      return { ...v, data: Buffer.from((v as { data: Uint8Array }).data).toString('utf8') };
    }
    return v;
  };
  return JSON.stringify(history, decode);
}

export { assertNoSecrets } from './assertions';
