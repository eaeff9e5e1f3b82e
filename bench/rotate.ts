// `npm run bench:rotate`: the four-environment rotation through rekey (Temporal workflow, hosts
// in parallel) against the same activity functions called one after another without Temporal,
// measured side by side in one run on the same servers. The direct side times its parts: the
// staging (plan, stage every group, verify), each environment's own steps (install, re-sign,
// restart and markers) and the retirement of old keys after them, so the critical path (staging,
// the slowest environment alone, the retirement) is what no run can beat. Last line: rotate
// ratio=<rekey / direct> overhead_ratio=<rekey / the same activities with the environments side
// by side, no Temporal: the like-for-like one> critical_path_ratio=<rekey / critical path>, one line
// per Temporal server rekey ran on: the Temporal server 1.30.1 on PostgreSQL (the production test's
// topology), then the dev server (`--server postgres|dev` for one of them), each rekey side taking
// its turn in the same rounds as the direct sides.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createRotateActivities } from '../activities/rotate';
import { startRotation } from '../client/runs/rotate';
import { closeIdleSessions } from '../hosts/connect';
import { buildTopology, ENVS, seed, stopServices, type Topology } from '../test/infra/topology';
import { createRekeyWorker } from '../worker/worker';
import { stepLine } from './history-steps';
import { devServer, postgresServer, type Server } from './servers';

// Seven rounds: at three, one machine's medians of the same code read 0.99 to 1.06 from run to run
// (a restart's time varies by half a second), wider than the target's margin.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
Runtime.install({ logger: new DefaultLogger('WARN') });
const { values } = parseArgs({ options: { server: { type: 'string' } } });
const SERVERS = values.server ? [values.server] : ['postgres', 'dev'];
if (SERVERS.some((s) => s !== 'postgres' && s !== 'dev'))
  throw new Error(`--server ${values.server}: use postgres or dev (both when not given)`);

/** rekey on one server: a client, and a worker of its own while the rounds run. */
interface OnServer {
  server: Server;
  client: Client;
  native: NativeConnection;
  taskQueue: string;
  close(): Promise<void>;
}

async function onServer(server: Server): Promise<OnServer> {
  try {
    const connection = await Connection.connect({ address: server.address });
    const native = await NativeConnection.connect({ address: server.address });
    return {
      server,
      client: new Client({ connection, namespace: server.namespace }),
      native,
      taskQueue: `rekey-bench-${server.name}-${Date.now()}`,
      async close() {
        try {
          await connection.close();
          await native.close();
        } finally {
          await server.stop();
        }
      },
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** Runs `fn` with a worker polling on each server (each stops, and lets go of its connection,
 * when `fn` ends or a later one fails to start). */
async function withWorkers<T>(rs: OnServer[], t: Topology, fn: () => Promise<T>): Promise<T> {
  const [first, ...rest] = rs;
  if (!first) return fn();
  const worker = await createRekeyWorker({
    config: t.config,
    connection: first.native,
    namespace: first.server.namespace,
    taskQueue: first.taskQueue,
  });
  return worker.runUntil(() => withWorkers(rest, t, fn));
}

function storeOf(t: Topology) {
  return (name: string) => t.store(ENVS.find((e) => t.config.environments[e]?.store === name) ?? 'local');
}

/** The direct side's time, and its critical path: staging plus the slowest environment. With
 * `parallel`, the environments' steps run side by side as rekey runs them, still without
 * Temporal: what the machine allows for that shape (four environments sharing two cores). */
async function direct(
  t: Topology,
  runId: string,
  parallel = false,
): Promise<{ total: number; critical: number }> {
  const a = createRotateActivities({ config: t.config, store: storeOf(t) });
  const start = performance.now();
  const plan = await a.planRotation({ environments: [...ENVS], preserveToken: true });
  const staged: Awaited<ReturnType<typeof a.stageKeyPair>>[] = [];
  for (const [group, environments] of Object.entries(plan.groups)) {
    staged.push(await a.stageKeyPair({ runId, group, environments }));
  }
  await a.verifyKeys({});
  const stage = performance.now() - start;
  if (process.env.BENCH_VERBOSE) console.log(`  staging: ${stage.toFixed(0)} ms`);
  let slowest = 0;
  const steps = async (env: string, ref: (typeof staged)[number]['refs'][string]) => {
    const envStart = performance.now();
    await a.installKeyFiles({ env, runId, ref });
    await a.resignPublisherToken({ env, runId, ref });
    await a.restartAndVerify({ env });
    slowest = Math.max(slowest, performance.now() - envStart);
    if (process.env.BENCH_VERBOSE)
      console.log(
        `  ${env}: ${(performance.now() - envStart).toFixed(0)} ms ${parallel ? 'side by side' : 'alone'}`,
      );
  };
  const envs = staged.flatMap((g) => Object.entries(g.refs));
  if (parallel) await Promise.all(envs.map(([env, ref]) => steps(env, ref)));
  else for (const [env, ref] of envs) await steps(env, ref);
  // Then, as the workflow does once every environment passed: older backups and key versions
  // retired beyond the retention, side by side.
  const retireStart = performance.now();
  const retention = plan.retention;
  await Promise.all(
    envs.map(([env]) => a.retireOldKeys({ env, runId, ...(retention ? { retention } : {}) })),
  );
  const retired = performance.now() - retireStart;
  if (process.env.BENCH_VERBOSE) console.log(`  retire: ${retired.toFixed(0)} ms`);
  return { total: performance.now() - start, critical: stage + slowest + retired };
}

async function main() {
  const t = buildTopology('bench-rotate', 3201);
  await seed(t);
  const rekeys: OnServer[] = [];
  const times: Record<string, number[]> = { direct: [], critical: [], parallel: [] };
  try {
    for (const name of SERVERS)
      rekeys.push(
        await onServer(name === 'dev' ? devServer() : await postgresServer('bench-rotate-temporal')),
      );
    for (const r of rekeys) times[r.server.name] = [];
    await withWorkers(rekeys, t, async () => {
      const sides = [...rekeys.map((r) => r.server.name), 'direct', 'parallel'];
      for (let i = 0; i < ROUNDS; i++) {
        // Rotate the order so that no side always runs on a warmer machine.
        const order = sides.map((_, k) => sides[(k + i) % sides.length] as string);
        for (const side of order) {
          // No side starts on SSH sessions the other one opened.
          await closeIdleSessions();
          const start = performance.now();
          if (side === 'direct') {
            // Backups are kept per run id on the hosts: a fresh id each run of the benchmark.
            const d = await direct(t, `bench-direct-${Date.now()}-${i}`);
            times.direct?.push(d.total);
            times.critical?.push(d.critical);
          } else if (side === 'parallel') {
            times.parallel?.push((await direct(t, `bench-parallel-${Date.now()}-${i}`, true)).total);
          } else {
            const r = rekeys.find((x) => x.server.name === side) as OnServer;
            const h = await startRotation(
              r.client,
              t.config,
              { environments: [...ENVS] },
              { taskQueue: r.taskQueue },
            );
            const result = await h.result();
            if (!result.ok) throw new Error(`rotation through rekey on the ${r.server.label} failed`);
            times[side]?.push(performance.now() - start);
            if (process.env.BENCH_VERBOSE)
              console.log(
                `  rekey on the ${r.server.label}: ${await stepLine(r.client, h.workflowId, Date.now() - (performance.now() - start))}`,
              );
          }
        }
      }
    });
  } finally {
    await stopServices(t);
    for (const r of rekeys) await r.close().catch((err) => console.error(`closing ${r.server.label}:`, err));
  }
  const median = (xs: number[] = []) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const seq = median(times.direct);
  const critical = median(times.critical);
  const parallel = median(times.parallel);
  console.log(`rounds: ${ROUNDS} (median of each side)`);
  for (const r of rekeys)
    console.log(
      `rekey on the ${r.server.label} (Temporal workflow, environments in parallel): ${median(times[r.server.name]).toFixed(0)} ms`,
    );
  console.log(`direct (same activities in sequence, no Temporal):   ${seq.toFixed(0)} ms`);
  console.log(`critical path (staging + the slowest environment alone): ${critical.toFixed(0)} ms`);
  console.log(`direct with the environments side by side (no Temporal): ${parallel.toFixed(0)} ms`);
  for (const r of rekeys) {
    const rekey = median(times[r.server.name]);
    console.log(
      `rotate ratio=${(rekey / seq).toFixed(2)} overhead_ratio=${(rekey / parallel).toFixed(2)} critical_path_ratio=${(rekey / critical).toFixed(2)} server=${r.server.name}`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
