// `npm run bench:promote`: promotions of prod's data to test through rekey against the same
// work done by hand, on the same data and hosts, side by side in one run. Every time is on this
// machine's clock (the client's, and the Temporal server's history on the same machine).
// 1. 4 GiB (a large segment and 512 files of 1 MiB): rekey's copy step (its syncData) against the
//    bare rsync an operator would run on prod (`ssh prod rsync -aHAX --delete ... test:`), into an
//    empty data dir; then rekey's hop again with nothing changed, against its full hop.
// 2. Many small files (BENCH_SMALL_FILES, 100,000 of 1-16 KiB): rekey's hop from its start to the
//    end of its copy (plan, gate skipped, destination stopped, re-check, snapshot, copy) against
//    the guide's procedure by hand (stop the destination, `rsync -n` to preview, then the copy with
//    the same options); then again with nothing changed.
// 3. The exact snapshot's cost: the small files in test already, a tenth of them changed at prod,
//    a hop with test's data dir on ext4 (no reflinks: a full copy), on a loop-mounted XFS with
//    reflinks (a reflink per file), and on a loop-mounted btrfs with the data dir a subvolume (the
//    subvolume's snapshot), both made here as root: each hop against itself without its snapshot.
// BENCH_PROMOTE_CASES (default big,small,snapshot) picks the cases; the ratios of a case left out
// print as n/a.
// Last line: promote throughput_ratio=<bare / rekey copy> noop_ratio=<no-change hop / full hop>
// small_files_ratio=<rekey's hop / by hand> small_noop_ratio=<no-change hop / full hop>
// snapshot_ratio=<hop on btrfs / the same without its snapshot> (XFS's and ext4's beside it).
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { startPromotion } from '../client/runs/promote';
import type { ServiceConfig } from '../config/schema';
import { shellQuote } from '../hosts/shell';
import { createServiceDriver } from '../services/service';
import { temporalFixture } from '../test/helpers';
import { testEnv } from '../test/infra/env';
import { buildTopology, onHost, seed, stopServices, type Topology } from '../test/infra/topology';
import { stepLine } from './history-steps';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** A database-shaped data dir: one large segment and many small files. */
const BIG_MB = Number(process.env.BENCH_BIG_MB ?? 3584);
const SMALL_FILES = 512;
const SMALL_KB = 1024;
/** The many-small-files case: files of 1-16 KiB, 1,000 to a directory. */
const SMALL_N = Number(process.env.BENCH_SMALL_FILES ?? 100_000);
const SMALL_ROUNDS = Number(process.env.BENCH_SMALL_ROUNDS ?? 3);
const SNAPSHOT_ROUNDS = Number(process.env.BENCH_SNAPSHOT_ROUNDS ?? 3);
const CASES = new Set((process.env.BENCH_PROMOTE_CASES ?? 'big,small,snapshot').split(','));
const SMALL_TREE = [
  'import os, random, sys',
  'n = int(sys.argv[1]); random.seed(7)',
  'for i in range(n):',
  '    d = f"db/small/{i // 1000:03d}"',
  '    os.makedirs(d, exist_ok=True)',
  '    with open(f"{d}/{i}.bin", "wb") as f: f.write(os.urandom(random.randint(1, 16) * 1024))',
].join('\n');
/** A tenth of the small files rewritten (those whose number ends in the round's digit). */
const CHANGE_TENTH = [
  'import os, sys',
  'n, r = int(sys.argv[1]), int(sys.argv[2])',
  'for i in range(r % 10, n, 10):',
  '    p = f"db/small/{i // 1000:03d}/{i}.bin"',
  '    with open(p, "r+b") as f: f.write(os.urandom(1024))',
].join('\n');

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)] as number;

/** Server-clock times (ms) of the first activity `name` in the hop's latest run: when it was
 * scheduled, and when it completed (undefined: not scheduled, or not completed). */
async function activityTimes(
  client: Client,
  hopId: string,
  name: string,
): Promise<{ scheduled?: number; completed?: number }> {
  const events = (await client.workflow.getHandle(hopId).fetchHistory()).events ?? [];
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === name);
  const completed = events.find(
    (e) =>
      String(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') ===
      String(scheduled?.eventId ?? '-'),
  );
  const ms = (e: typeof scheduled) =>
    e ? Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6) : undefined;
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

interface HopTimes {
  /** From the client's start to the end of the copy (the re-sign's scheduling: a hop with
   * nothing to copy skips the copy). */
  hop: number;
  /** The copy step (syncData), and the snapshot step, when the hop made them. */
  copy?: number;
  snapshot?: number;
}

/** One real `rekey promote prod test` hop, timed from its history. */
async function rekeyHop(client: Client, t: Topology, taskQueue: string): Promise<HopTimes> {
  const started = Date.now();
  const handle = await startPromotion(client, t.config, { chain: ['prod', 'test'] }, { taskQueue });
  await handle.result();
  const hopId = `${handle.workflowId}/prod..test`;
  const end = (await activityTimes(client, hopId, 'resignDestinationToken')).scheduled;
  if (end === undefined) throw new Error(`${hopId}: no re-sign in the history`);
  const step = async (name: string) => {
    const { scheduled, completed } = await activityTimes(client, hopId, name);
    return scheduled !== undefined && completed !== undefined ? completed - scheduled : undefined;
  };
  if (process.env.BENCH_VERBOSE) console.log(`${hopId}: ${await stepLine(client, hopId, started)}`);
  return { hop: end - started, copy: await step('syncData'), snapshot: await step('snapshot') };
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

/** prod's data dir replaced by the small files (the token's config kept): made here, or copied
 * from another topology's prod. Every file gets one old mtime: seed() writes each host's token
 * file in the same second with the same size, which rsync's quick check would rightly skip. */
const smallFilesAtProd = (t: Topology, from?: string) =>
  onHost(t, 'prod', (h) =>
    h.exec(
      `cd ${shellQuote(h.dataDir)} && rm -rf db && ${from ? `cp -a ${shellQuote(`${from}/db`)} db` : `python3 -c ${shellQuote(SMALL_TREE)} ${SMALL_N}`} && find . -exec touch -h -d '2026-01-01 00:00:00' {} + && sync`,
      { timeoutMs: 1_200_000 },
    ),
  );

/** The snapshot's cost in a hop that changes a tenth of the files of a full destination. */
async function snapshotCost(client: Client, t: Topology, taskQueue: string): Promise<HopTimes[]> {
  const times: HopTimes[] = [];
  await rekeyHop(client, t, taskQueue); // test holds the small files; not counted
  for (let r = 0; r < SNAPSHOT_ROUNDS; r++) {
    await onHost(t, 'prod', (h) =>
      h.exec(
        `cd ${shellQuote(h.dataDir)} && python3 -c ${shellQuote(CHANGE_TENTH)} ${SMALL_N} ${r} && sync`,
        {
          timeoutMs: 600_000,
        },
      ),
    );
    const hop = await rekeyHop(client, t, taskQueue);
    if (hop.snapshot === undefined || hop.copy === undefined)
      throw new Error('the hop made no snapshot or copy');
    times.push(hop);
  }
  return times;
}

/** test's app dir for topology `name` on a loop-mounted image (as root): XFS with reflinks, or
 * btrfs (whose data dir the caller makes a subvolume, after seed() made it anew). */
function loopAppDir(name: string, fs: 'xfs' | 'btrfs'): () => void {
  const env = testEnv();
  const mount = join(env.hosts.test.appDir, name);
  const image = join(env.root, `${name}.img`);
  mkdirSync(mount, { recursive: true });
  try {
    execFileSync('umount', [mount], { stdio: 'ignore' });
  } catch {
    /* not mounted */
  }
  rmSync(image, { force: true });
  execFileSync('truncate', ['-s', '8G', image]);
  if (fs === 'xfs') execFileSync('mkfs.xfs', ['-q', '-m', 'reflink=1', image]);
  else execFileSync('mkfs.btrfs', ['-q', image]);
  execFileSync('mount', ['-o', 'loop', image, mount]);
  // The test host's login owns its app dirs.
  execFileSync('chown', [`${env.hosts.test.user}:`, mount]);
  return () => {
    execFileSync('umount', [mount]);
    rmSync(image, { force: true });
  };
}

/** test's (empty) data dir made a btrfs subvolume of its own, owned by the test host's login. */
const subvolumeDataDir = (t: Topology) =>
  onHost(t, 'test', async (h) => {
    const d = shellQuote(h.dataDir);
    const res = await h.exec(`rm -rf ${d} && btrfs subvolume create ${d} >/dev/null`);
    if (res.code !== 0) throw new Error(`btrfs subvolume create: ${res.stderr}`);
  });

async function main() {
  const fx = await temporalFixture('bench');
  const t = buildTopology('bench-promote', 3202);
  await seed(t);
  const bytes = BIG_MB * 2 ** 20 + SMALL_FILES * SMALL_KB * 2 ** 10;
  const big = {
    rekeyCopy: [] as number[],
    bareCopy: [] as number[],
    rekeyHop: [] as number[],
    rekeyNoop: [] as number[],
  };
  const small = {
    rekeyFull: [] as number[],
    rekeyNoop: [] as number[],
    manualFull: [] as number[],
    manualNoop: [] as number[],
  };
  const snapshots: Record<'ext4' | 'xfs' | 'btrfs', HopTimes[]> = { ext4: [], xfs: [], btrfs: [] };
  const loops = {
    xfs: buildTopology('bench-promote-xfs', 3204),
    btrfs: buildTopology('bench-promote-btrfs', 3205),
  };
  const unmount: (() => void)[] = [];
  try {
    if (CASES.has('big')) {
      await onHost(t, 'prod', (h) =>
        h.exec(
          `cd ${shellQuote(h.dataDir)} && mkdir -p db/small && head -c ${BIG_MB}M /dev/urandom > db/segment.bin && ` +
            `for i in $(seq ${SMALL_FILES}); do head -c ${SMALL_KB}K /dev/urandom > db/small/$i.bin; done && ` +
            `find . -exec touch -h -d '2026-01-01 00:00:00' {} + && sync`,
          { timeoutMs: 600_000 },
        ),
      );
      await fx.withWorker(t.config, async () => {
        // Round 0 is a warm-up, not counted: the first copy after the data was written runs
        // markedly slower whichever side makes it.
        for (let i = 0; i <= ROUNDS; i++) {
          // Alternate the order so neither side always runs first.
          const sides = i % 2 === 0 ? (['rekey', 'bare'] as const) : (['bare', 'rekey'] as const);
          for (const side of sides) {
            await emptyTestData(t);
            if (side === 'bare') {
              const copy = await bareRsync(t);
              if (i > 0) big.bareCopy.push(copy);
              continue;
            }
            const full = await rekeyHop(fx.client, t, fx.taskQueue);
            const noop = await rekeyHop(fx.client, t, fx.taskQueue);
            if (i === 0) continue;
            big.rekeyCopy.push(full.copy as number);
            big.rekeyHop.push(full.hop);
            big.rekeyNoop.push(noop.hop);
          }
        }
      });
    }
    await smallFilesAtProd(t);
    await fx.withWorker(t.config, async () => {
      for (let i = 0; CASES.has('small') && i <= SMALL_ROUNDS; i++) {
        const sides = i % 2 === 0 ? (['rekey', 'manual'] as const) : (['manual', 'rekey'] as const);
        for (const side of sides) {
          await emptyTestData(t);
          const [full, noop] =
            side === 'rekey'
              ? [
                  (await rekeyHop(fx.client, t, fx.taskQueue)).hop,
                  (await rekeyHop(fx.client, t, fx.taskQueue)).hop,
                ]
              : [await manualHop(t), await manualHop(t)];
          if (i === 0) continue;
          small[`${side}Full`].push(full);
          small[`${side}Noop`].push(noop);
        }
      }
      // The snapshot's cost on ext4 (this machine's root filesystem: no reflinks).
      if (CASES.has('snapshot')) snapshots.ext4 = await snapshotCost(fx.client, t, fx.taskQueue);
    });
    // The same with test's app dir on XFS with reflinks, and on btrfs with the data dir a subvolume.
    for (const fs of CASES.has('snapshot') ? (['xfs', 'btrfs'] as const) : []) {
      const lt = loops[fs];
      unmount.push(loopAppDir(`bench-promote-${fs}`, fs));
      await seed(lt);
      if (fs === 'btrfs') await subvolumeDataDir(lt);
      await smallFilesAtProd(lt, (t.config.hosts['vm-prod'] as { dataDir: string }).dataDir);
      await fx.withWorker(lt.config, async () => {
        snapshots[fs] = await snapshotCost(fx.client, lt, fx.taskQueue);
      });
      await stopServices(lt);
    }
  } finally {
    await stopServices(t);
    for (const lt of Object.values(loops)) await stopServices(lt).catch(() => undefined);
    for (const u of unmount) u();
    await fx.close();
  }
  /** A figure of a case that ran, else n/a. */
  const fixed = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
  const mbps = (ms: number) => fixed((bytes / 2 ** 20 / ms) * 1000, 0);
  const m = Object.fromEntries(Object.entries(big).map(([k, v]) => [k, median(v)])) as Record<
    keyof typeof big,
    number
  >;
  if (CASES.has('big')) {
    console.log(
      `data: ${(bytes / 2 ** 20).toFixed(0)} MiB in ${SMALL_FILES + 1} files; rounds: ${ROUNDS} (median of each)`,
    );
    console.log(`rekey copy step, full copy:  ${m.rekeyCopy.toFixed(0)} ms (${mbps(m.rekeyCopy)} MiB/s)`);
    console.log(`bare rsync, full copy:       ${m.bareCopy.toFixed(0)} ms (${mbps(m.bareCopy)} MiB/s)`);
    console.log(
      `rekey hop to its copy's end: ${m.rekeyHop.toFixed(0)} ms full, ${m.rekeyNoop.toFixed(0)} ms with nothing changed`,
    );
  }
  const sm = Object.fromEntries(Object.entries(small).map(([k, v]) => [k, median(v)])) as Record<
    keyof typeof small,
    number
  >;
  if (CASES.has('small')) {
    console.log(`small files: ${SMALL_N} of 1-16 KiB; rounds: ${SMALL_ROUNDS} (median of each)`);
    console.log(`rekey hop to the end of its copy, full:  ${sm.rekeyFull.toFixed(0)} ms`);
    console.log(`manual (stop, rsync -n, rsync), full:    ${sm.manualFull.toFixed(0)} ms`);
    console.log(`rekey hop, no change:                    ${sm.rekeyNoop.toFixed(0)} ms`);
    console.log(`manual, no change:                       ${sm.manualNoop.toFixed(0)} ms`);
  }
  // Each hop against itself without its snapshot step; the median over the rounds.
  const snapshotRatio = (hops: HopTimes[]) =>
    hops.length ? median(hops.map((h) => h.hop / (h.hop - (h.snapshot as number)))) : Number.NaN;
  for (const fs of CASES.has('snapshot') ? (['ext4', 'xfs', 'btrfs'] as const) : []) {
    const hops = snapshots[fs];
    console.log(
      `snapshot on ${fs} (a tenth of ${SMALL_N} files changed, test full): hop ${median(hops.map((h) => h.hop)).toFixed(0)} ms, snapshot ${median(hops.map((h) => h.snapshot as number)).toFixed(0)} ms, copy ${median(hops.map((h) => h.copy as number)).toFixed(0)} ms; ratio ${snapshotRatio(hops).toFixed(3)}`,
    );
  }
  console.log(
    `promote throughput_ratio=${fixed(m.bareCopy / m.rekeyCopy, 2)} noop_ratio=${fixed(m.rekeyNoop / m.rekeyHop, 3)} small_files_ratio=${fixed(sm.rekeyFull / sm.manualFull, 2)} small_noop_ratio=${fixed(sm.rekeyNoop / sm.rekeyFull, 3)} snapshot_ratio=${fixed(snapshotRatio(snapshots.btrfs), 3)} snapshot_ratio_xfs=${fixed(snapshotRatio(snapshots.xfs), 3)} snapshot_ratio_ext4=${fixed(snapshotRatio(snapshots.ext4), 3)}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
