// `npm run bench:promote`: the copy step of a promotion through rekey (the syncData activity of a
// real prod -> test hop, timed from its workflow history) against the bare rsync command an
// operator would run on prod (`ssh prod rsync -aHAX --delete ... test:`), on the same data and
// hosts, side by side in one run: a full copy into an empty data dir, then a re-run with nothing
// changed. Then many small files (BENCH_SMALL_FILES, 100,000 of 1-16 KiB): rekey's hop from its
// start to the end of its copy (plan, gate skipped, destination stopped, snapshot, copy) against
// the guide's manual procedure (stop the destination, `rsync -n` to preview, then the copy with
// the same options), both timed on this machine's clock. Last line: promote
// throughput_ratio=<rekey / bare throughput> noop_ratio=<rekey no-change re-run / rekey full copy>
// small_files_ratio=<rekey's hop / the manual procedure> small_noop_ratio=<its no-change re-run /
// its full hop>.
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { startPromotion } from '../client/runs/promote';
import type { ServiceConfig } from '../config/schema';
import { shellQuote } from '../hosts/shell';
import { createServiceDriver } from '../services/service';
import { temporalFixture } from '../test/helpers';
import { buildTopology, onHost, seed, stopServices, type Topology } from '../test/infra/topology';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** A database-shaped data dir: one large segment and many small files. */
const BIG_MB = Number(process.env.BENCH_BIG_MB ?? 3584);
const SMALL_FILES = 512;
const SMALL_KB = 1024;
/** The many-small-files case: files of 1-16 KiB, 1,000 to a directory. */
const SMALL_N = Number(process.env.BENCH_SMALL_FILES ?? 100_000);
const SMALL_ROUNDS = Number(process.env.BENCH_SMALL_ROUNDS ?? 3);
const SMALL_TREE = [
  'import os, random, sys',
  'n = int(sys.argv[1]); random.seed(7)',
  'for i in range(n):',
  '    d = f"db/small/{i // 1000:03d}"',
  '    os.makedirs(d, exist_ok=True)',
  '    with open(f"{d}/{i}.bin", "wb") as f: f.write(os.urandom(random.randint(1, 16) * 1024))',
].join('\n');

/** When the latest run's syncData was scheduled and completed (server clock, ms), per its history. */
async function copyStepTimes(
  client: Client,
  hopId: string,
): Promise<{ scheduled: number; completed: number }> {
  const events = (await client.workflow.getHandle(hopId).fetchHistory()).events ?? [];
  const scheduled = events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'syncData',
  );
  const completed = events.find(
    (e) =>
      String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') ===
      String(scheduled?.eventId ?? '-'),
  );
  const ms = (e: typeof scheduled) =>
    Number(e?.eventTime?.seconds ?? 0) * 1000 + Math.floor((e?.eventTime?.nanos ?? 0) / 1e6);
  if (!scheduled || !completed) throw new Error(`${hopId}: no completed syncData in the history`);
  return { scheduled: ms(scheduled), completed: ms(completed) };
}

/** The operator's command: ssh to prod, rsync its data dir to test's over ssh (`preview`: -n). */
async function bareRsync(t: Topology, preview = false): Promise<number> {
  const p = t.env.hosts.prod;
  const d = t.env.hosts.test;
  const src = t.config.hosts['vm-prod'];
  const dst = t.config.hosts['vm-test'];
  if (src?.type !== 'ssh' || dst?.type !== 'ssh') throw new Error('bench topology: ssh hosts expected');
  const ssh = `ssh -i ${p.identityFile} -o UserKnownHostsFile=${p.knownHosts} -o StrictHostKeyChecking=yes -o BatchMode=yes -p ${d.port}`;
  const remote = `rsync -aHAX --delete --numeric-ids${preview ? ' -n' : ''} -e ${shellQuote(ssh)} ${shellQuote(`${src.dataDir}/`)} ${shellQuote(`${d.user}@${d.address}:${dst.dataDir}/`)}`;
  const start = performance.now();
  await promisify(execFile)('ssh', [
    '-i',
    p.identityFile,
    '-o',
    `UserKnownHostsFile=${p.knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-p',
    String(p.port),
    `${p.user}@${p.address}`,
    remote,
  ]);
  return performance.now() - start;
}

async function rekeyCopy(client: Client, t: Topology, taskQueue: string): Promise<number> {
  const handle = await startPromotion(
    client,
    t.config,
    { chain: ['prod', 'test'] },
    { taskQueue: taskQueue },
  );
  await handle.result();
  const step = await copyStepTimes(client, `${handle.workflowId}/prod..test`);
  return step.completed - step.scheduled;
}

/** rekey's hop from its start to the end of its copy: the client's clock at the start, the
 * server's (the same machine's) at the copy's completion. */
async function rekeyHop(client: Client, t: Topology, taskQueue: string): Promise<number> {
  const started = Date.now();
  const handle = await startPromotion(client, t.config, { chain: ['prod', 'test'] }, { taskQueue });
  await handle.result();
  return (await copyStepTimes(client, `${handle.workflowId}/prod..test`)).completed - started;
}

/** The guide's procedure by hand: stop the destination, preview with rsync -n, then copy. */
async function manualHop(t: Topology): Promise<number> {
  const start = performance.now();
  await onHost(t, 'test', (h) =>
    createServiceDriver(h, t.config.services.spacetimedb as ServiceConfig).stop(),
  );
  await bareRsync(t, true);
  await bareRsync(t);
  return performance.now() - start;
}

/** Before each full copy: test's service stopped (as the hop and the runbook do before copying),
 * an empty data dir, and no dirty pages left from the last copy, whose writeback would otherwise
 * slow whichever side runs next. */
const emptyTestData = (t: Topology) =>
  onHost(t, 'test', async (h) => {
    await createServiceDriver(h, t.config.services.spacetimedb as ServiceConfig).stop();
    await h.exec(`rm -rf ${shellQuote(h.dataDir)} && mkdir -p ${shellQuote(h.dataDir)} && sync`, {
      timeoutMs: 300_000,
    });
  });

async function main() {
  const fx = await temporalFixture('bench');
  const t = buildTopology('bench-promote', 3202);
  await seed(t);
  await onHost(t, 'prod', (h) =>
    h.exec(
      `cd ${shellQuote(h.dataDir)} && mkdir -p db/small && head -c ${BIG_MB}M /dev/urandom > db/segment.bin && ` +
        `for i in $(seq ${SMALL_FILES}); do head -c ${SMALL_KB}K /dev/urandom > db/small/$i.bin; done && ` +
        `find . -exec touch -h -d '2026-01-01 00:00:00' {} + && sync`,
      { timeoutMs: 600_000 },
    ),
  );
  const bytes = BIG_MB * 2 ** 20 + SMALL_FILES * SMALL_KB * 2 ** 10;
  const small = {
    rekeyFull: [] as number[],
    rekeyNoop: [] as number[],
    manualFull: [] as number[],
    manualNoop: [] as number[],
  };
  const times = {
    rekeyFull: [] as number[],
    rekeyNoop: [] as number[],
    bareFull: [] as number[],
    bareNoop: [] as number[],
  };
  try {
    await fx.withWorker(t.config, async () => {
      // Round 0 is a warm-up, not counted: the first copy after the data was written runs
      // markedly slower whichever side makes it.
      for (let i = 0; i <= ROUNDS; i++) {
        // Alternate the order so neither side always runs first.
        const sides = i % 2 === 0 ? (['rekey', 'bare'] as const) : (['bare', 'rekey'] as const);
        for (const side of sides) {
          await emptyTestData(t);
          const [full, noop] =
            side === 'rekey'
              ? [await rekeyCopy(fx.client, t, fx.taskQueue), await rekeyCopy(fx.client, t, fx.taskQueue)]
              : [await bareRsync(t), await bareRsync(t)];
          if (i === 0) continue;
          times[`${side}Full`].push(full);
          times[`${side}Noop`].push(noop);
        }
      }
    });
    // Many small files: prod's data dir replaced by them (the token's config kept).
    await onHost(t, 'prod', (h) =>
      h.exec(
        `cd ${shellQuote(h.dataDir)} && rm -rf db && python3 -c ${shellQuote(SMALL_TREE)} ${SMALL_N} && find db -exec touch -h -d '2026-01-01 00:00:00' {} + && sync`,
        { timeoutMs: 1_200_000 },
      ),
    );
    await fx.withWorker(t.config, async () => {
      for (let i = 0; i <= SMALL_ROUNDS; i++) {
        const sides = i % 2 === 0 ? (['rekey', 'manual'] as const) : (['manual', 'rekey'] as const);
        for (const side of sides) {
          await emptyTestData(t);
          const [full, noop] =
            side === 'rekey'
              ? [await rekeyHop(fx.client, t, fx.taskQueue), await rekeyHop(fx.client, t, fx.taskQueue)]
              : [await manualHop(t), await manualHop(t)];
          if (i === 0) continue;
          small[`${side}Full`].push(full);
          small[`${side}Noop`].push(noop);
        }
      }
    });
  } finally {
    await stopServices(t);
    await fx.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<
    keyof typeof times,
    number
  >;
  const mbps = (ms: number) => ((bytes / 2 ** 20 / ms) * 1000).toFixed(0);
  console.log(
    `data: ${(bytes / 2 ** 20).toFixed(0)} MiB in ${SMALL_FILES + 1} files; rounds: ${ROUNDS} (median of each)`,
  );
  console.log(`rekey copy step, full copy:  ${m.rekeyFull.toFixed(0)} ms (${mbps(m.rekeyFull)} MiB/s)`);
  console.log(`bare rsync, full copy:       ${m.bareFull.toFixed(0)} ms (${mbps(m.bareFull)} MiB/s)`);
  console.log(`rekey copy step, no change:  ${m.rekeyNoop.toFixed(0)} ms`);
  console.log(`bare rsync, no change:       ${m.bareNoop.toFixed(0)} ms`);
  const sm = Object.fromEntries(Object.entries(small).map(([k, v]) => [k, median(v)])) as Record<
    keyof typeof small,
    number
  >;
  console.log(`small files: ${SMALL_N} of 1-16 KiB; rounds: ${SMALL_ROUNDS} (median of each)`);
  console.log(`rekey hop to the end of its copy, full:  ${sm.rekeyFull.toFixed(0)} ms`);
  console.log(`manual (stop, rsync -n, rsync), full:    ${sm.manualFull.toFixed(0)} ms`);
  console.log(`rekey hop, no change:                    ${sm.rekeyNoop.toFixed(0)} ms`);
  console.log(`manual, no change:                       ${sm.manualNoop.toFixed(0)} ms`);
  console.log(
    `promote throughput_ratio=${(m.bareFull / m.rekeyFull).toFixed(2)} noop_ratio=${(m.rekeyNoop / m.rekeyFull).toFixed(3)} small_files_ratio=${(sm.rekeyFull / sm.manualFull).toFixed(2)} small_noop_ratio=${(sm.rekeyNoop / sm.rekeyFull).toFixed(3)}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
