// The Temporal servers a benchmark runs rekey on: the test servers' dev server (SQLite), and the
// production test's topology (the Temporal server 1.30.1 on PostgreSQL, from real binaries), each
// with the CPU its processes have spent so far.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { TEST_ROOT, testEnv } from '../test/infra/env';
import { startTemporalOnPostgres } from '../test/infra/temporal-postgres';
import { until } from '../test/infra/until';
import { processCpuMs, treeCpuMs } from './cpu';

export interface Server {
  name: 'postgres' | 'dev';
  /** How a figure names it. */
  label: string;
  address: string;
  namespace: string;
  cpuMs(): number;
  stop(): Promise<void>;
}

export function devServer(): Server {
  const pid = readFileSync(join(TEST_ROOT, 'temporal', 'pid'), 'utf8').trim();
  return {
    name: 'dev',
    label: 'dev server (SQLite)',
    address: testEnv().temporal.address,
    namespace: 'bench',
    cpuMs: () => processCpuMs(pid),
    stop: async () => undefined,
  };
}

/** Started under the test root's `suites/<dir>`, namespace default; its own ports. */
export async function postgresServer(dir: string): Promise<Server> {
  const root = join(TEST_ROOT, 'suites', dir);
  const t = await startTemporalOnPostgres(root, { pg: 15442, frontend: 17410 });
  const postmaster = readFileSync(join(root, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0] as string;
  try {
    // A new namespace reaches the frontend's cache within seconds.
    const connection = await Connection.connect({ address: t.address });
    try {
      await until('the namespace to be served', () =>
        new Client({ connection, namespace: 'default' }).workflow
          .count()
          .then(() => true)
          .catch(() => undefined),
      );
    } finally {
      await connection.close();
    }
  } catch (err) {
    await t.stop();
    throw err;
  }
  return {
    name: 'postgres',
    label: 'Temporal 1.30.1 on PostgreSQL',
    address: t.address,
    namespace: 'default',
    // The server and every PostgreSQL backend serving it.
    cpuMs: () => processCpuMs(t.server.pid as number) + treeCpuMs(postmaster),
    stop: () => t.stop(),
  };
}
