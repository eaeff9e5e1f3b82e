// `npm run bench:rotate`: the four-environment rotation through rekey (Temporal workflow, hosts
// in parallel) against the same activity functions called one after another without Temporal,
// measured side by side in one run on the same servers. The direct side times its parts: the
// staging (plan, stage every group, verify), each environment's own steps (install, re-sign,
// restart and markers) and the retirement of old keys after them, so the critical path (staging,
// the slowest environment alone, the retirement) is what no run can beat. Last line: rotate
// ratio=<rekey / direct> overhead_ratio=<rekey / the same activities with the environments side
// by side, no Temporal: the like-for-like one> critical_path_ratio=<rekey / critical path>.
import { performance } from 'node:perf_hooks';
import { createRotateActivities } from '../activities/rotate';
import { startRotation } from '../client/runs/rotate';
import { closeIdleSessions } from '../hosts/connect';
import { temporalFixture } from '../test/helpers';
import { buildTopology, ENVS, seed, stopServices, type Topology } from '../test/infra/topology';
import { stepLine } from './history-steps';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

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
  const fx = await temporalFixture('bench');
  const t = buildTopology('bench-rotate', 3201);
  await seed(t);
  const times = {
    rekey: [] as number[],
    direct: [] as number[],
    critical: [] as number[],
    parallel: [] as number[],
  };
  try {
    await fx.withWorker(t.config, async () => {
      for (let i = 0; i < ROUNDS; i++) {
        // Alternate the order so neither side always runs on a warmer machine.
        const order =
          i % 2 === 0
            ? (['rekey', 'direct', 'parallel'] as const)
            : (['parallel', 'direct', 'rekey'] as const);
        for (const side of order) {
          // No side starts on SSH sessions the other one opened.
          await closeIdleSessions();
          const start = performance.now();
          if (side === 'direct') {
            // Backups are kept per run id on the hosts: a fresh id each run of the benchmark.
            const d = await direct(t, `bench-direct-${Date.now()}-${i}`);
            times.direct.push(d.total);
            times.critical.push(d.critical);
          } else if (side === 'parallel') {
            times.parallel.push((await direct(t, `bench-parallel-${Date.now()}-${i}`, true)).total);
          } else {
            const h = await startRotation(
              fx.client,
              t.config,
              { environments: [...ENVS] },
              { taskQueue: fx.taskQueue },
            );
            const r = await h.result();
            if (!r.ok) throw new Error('rotation through rekey failed');
            times.rekey.push(performance.now() - start);
            if (process.env.BENCH_VERBOSE)
              console.log(
                `  rekey: ${await stepLine(fx.client, h.workflowId, Date.now() - (performance.now() - start))}`,
              );
          }
        }
      }
    });
  } finally {
    await stopServices(t);
    await fx.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const rekey = median(times.rekey);
  const seq = median(times.direct);
  console.log(`rounds: ${ROUNDS} (median of each side)`);
  console.log(`rekey (Temporal workflow, environments in parallel): ${rekey.toFixed(0)} ms`);
  console.log(`direct (same activities in sequence, no Temporal):   ${seq.toFixed(0)} ms`);
  const critical = median(times.critical);
  console.log(`critical path (staging + the slowest environment alone): ${critical.toFixed(0)} ms`);
  const parallel = median(times.parallel);
  console.log(
    `direct with the environments side by side (no Temporal): ${parallel.toFixed(0)} ms (rekey / this: ${(rekey / parallel).toFixed(2)})`,
  );
  console.log(
    `rotate ratio=${(rekey / seq).toFixed(2)} overhead_ratio=${(rekey / parallel).toFixed(2)} critical_path_ratio=${(rekey / critical).toFixed(2)}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
