// `npm run bench:rotate`: the four-environment rotation through rekey (Temporal workflow, hosts
// in parallel) against the same activity functions called one after another without Temporal,
// measured side by side in one run on the same servers. Last line: rotate ratio=<rekey/direct>.
import { performance } from 'node:perf_hooks';
import { createRotationActivities } from '../activities/rotation';
import { startRotation } from '../client/runs';
import { temporalFixture } from '../test/helpers';
import { buildTopology, ENVS, seed, stopServices, type Topology } from '../test/infra/topology';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function storeOf(t: Topology) {
  return (name: string) => t.store(ENVS.find((e) => t.config.environments[e]?.store === name) ?? 'local');
}

async function direct(t: Topology, runId: string): Promise<void> {
  const a = createRotationActivities({ config: t.config, store: storeOf(t) });
  const plan = await a.planRotation({ environments: [...ENVS], preserveToken: true });
  const staged = [];
  for (const [group, environments] of Object.entries(plan.groups)) {
    staged.push(await a.stageKeyPair({ runId, group, environments }));
  }
  await a.verifyKeys({});
  for (const g of staged) {
    for (const [env, ref] of Object.entries(g.refs)) {
      await a.installKeyFiles({ env, runId, ref });
      await a.resignPublisherToken({ env, runId, ref });
      await a.restartAndVerify({ env });
    }
  }
}

async function main() {
  const fx = await temporalFixture('bench');
  const t = buildTopology('bench-rotate', 3201);
  await seed(t);
  const times = { rekey: [] as number[], direct: [] as number[] };
  try {
    await fx.withWorker(t.config, async () => {
      for (let i = 0; i < ROUNDS; i++) {
        // Alternate the order so neither side always runs on a warmer machine.
        const order = i % 2 === 0 ? (['rekey', 'direct'] as const) : (['direct', 'rekey'] as const);
        for (const side of order) {
          const start = performance.now();
          if (side === 'rekey') {
            const h = await startRotation(
              fx.client,
              t.config,
              { environments: [...ENVS] },
              { taskQueue: fx.taskQueue },
            );
            const r = await h.result();
            if (!r.ok) throw new Error('rotation through rekey failed');
          } else {
            await direct(t, `bench-direct-${i}`);
          }
          times[side].push(performance.now() - start);
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
  console.log(`rotate ratio=${(rekey / seq).toFixed(2)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
