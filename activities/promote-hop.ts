// Activities of a promotion hop (source -> destination): the destination's data dir becomes a
// copy of the source's, made by rsync running on the source host straight to the destination
// over SSH (StrictHostKeyChecking=yes with a pinned known_hosts, BatchMode), after a dry run, an
// approval and an exact snapshot (activities/hop-snapshot.ts) that a failure restores.
import { posix } from 'node:path';
import { Context } from '@temporalio/activity';
import { gatedOf, gatePolicy, scopeOf } from '../config/approvals';
import type { Config } from '../config/schema';
import { withHost } from '../hosts/connect';
import { shellQuote } from '../hosts/shell';
import { type Host, resolveOnHost } from '../hosts/types';
import { heartbeating } from '../services/heartbeat';
import { createServiceDriver, durationMs, serviceProblems } from '../services/service';
import type { Approved } from '../shared/approval-proof';
import { FailureType, fail } from '../shared/failures';
import { type HopPreflight, spaceProblem } from '../shared/hop-space';
import type { TransferProgress } from '../shared/transfer';
import { dataDirProblems, hopProblem, shrinkProblem } from './hop-checks';
import { hopData } from './hop-data';
import { SNAPSHOT_FNS, SUBVOLUME_TAKEN, snapshotCommand, snapshotMethod } from './hop-snapshot';
import { followRsync, parseItemized, parseStats, type SyncPlan, type SyncStats } from './rsync-output';
import { resignCliToml, type TokenIdentity, tokenIdentity, withToken } from './tokens';
import { exclusive } from './transfer-lock';

/** Both results, waiting for both; a failure is the first one's if it failed, else the second's
 * (the same error whichever finished first). */
async function inOrder<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
  return [ra.value, rb.value];
}

/** Saved in place of a token file that did not exist (restored by removing the file). */
const ABSENT = '# rekey: no cli.toml here before the hop\n';

/** What one copy did: rsync's --stats, the attempt that made it, whether source files vanished
 * while it ran (a live source). */
export type CopyStats = SyncStats & { attempt: number; vanished?: boolean };

export function createPromoteHopActivities(deps: { config: Config }) {
  const { config } = deps;
  const {
    env,
    beside,
    snapshotPath,
    snapshotMark,
    tokenBackupPath,
    tokenRestoredPath,
    rsync,
    run,
    hostPaths,
    tokenInData,
    travellingToken,
    sourceToken,
  } = hopData(deps);

  return {
    /** Both hosts reachable (pinned keys), rsync on both, data dirs safe to copy into (real
     * paths: no symlink, no overlap, not holding the app dir or home), and the figures of the
     * space check (shared/hop-space.ts): the data, the free space, and the snapshot: a btrfs
     * snapshot or a reflink where the destination has them (sharing nothing writable with the
     * live files, costing no space until they change), else a full copy of its data.
     * The run checks the space against its plan (`spaceAfterPlan`); older runs' preflight did. */
    async preflightHop(input: { from: string; to: string; spaceAfterPlan?: boolean }): Promise<HopPreflight> {
      const problem = hopProblem(config, input.from, input.to);
      if (problem) throw fail(FailureType.BadInput, problem);
      const s = env(input.from);
      const d = env(input.to);
      // The two hosts are read side by side; a problem is reported as if one after the other
      // (the source's first), whichever came back first.
      const [source, destination] = await inOrder(
        withHost(s.hostName, s.host, async (h) => {
          await run(h, 'rsync --version >/dev/null', `host ${s.hostName}: rsync`);
          await run(h, 'command -v flock >/dev/null', `host ${s.hostName}: flock (util-linux)`);
          const paths = await hostPaths(h, s.hostName);
          const du = await run(h, `du -sb ${shellQuote(h.dataDir)}`, `host ${s.hostName}: du`);
          return { bytes: Number(du.stdout.split(/\s/)[0]), paths };
        }),
        withHost(d.hostName, d.host, async (h) => {
          await run(h, 'rsync --version >/dev/null', `host ${d.hostName}: rsync`);
          // A workstation pulls: the copy (and its lock) runs there.
          if (d.host.type === 'local')
            await run(h, 'command -v flock >/dev/null', `host ${d.hostName}: flock (util-linux)`);
          const svc = config.services[config.environments[input.to]?.service ?? ''];
          return {
            paths: await hostPaths(h, d.hostName),
            serviceIssues: svc ? await serviceProblems(h, svc) : [],
          };
        }),
      );
      const sourceBytes = source.bytes;
      const problems = dataDirProblems(s, d, source.paths, destination.paths);
      if (problems.length > 0)
        throw fail(FailureType.BadInput, `${problems.join('; ')}; nothing was changed`);
      if (destination.serviceIssues.length > 0)
        throw fail(
          FailureType.BadInput,
          `${input.to}: ${destination.serviceIssues.join('; ')}; nothing was changed`,
        );
      // The token the hop will re-sign is checked now, not after the copy; beside the
      // destination's space and how its snapshot will be made.
      const [dest] = await inOrder(
        withHost(d.hostName, d.host, async (h) => {
          await run(h, `mkdir -p ${shellQuote(h.dataDir)}`, `host ${d.hostName}: mkdir`);
          const out = (
            await run(
              h,
              `du -sb ${shellQuote(h.dataDir)} | cut -f1 && df -B1 --output=avail ${shellQuote(h.dataDir)} | tail -n1`,
              `host ${d.hostName}: du, df`,
            )
          ).stdout
            .trim()
            .split(/\s+/)
            .map(Number);
          return { bytes: out[0] ?? 0, free: out[1] ?? 0, method: await snapshotMethod(h, d.hostName) };
        }),
        travellingToken(s, d).then((token) => sourceToken(s, token !== null)),
      );
      const pre: HopPreflight = {
        sourceBytes,
        freeBytes: dest.free,
        snapshot: { method: dest.method, bytes: dest.bytes },
        host: d.hostName,
      };
      // Runs recorded before space-after-plan check it here, before their plan: as if it copied.
      const space = input.spaceAfterPlan ? undefined : spaceProblem(input, pre, true);
      if (space) throw fail(FailureType.PolicyViolation, space);
      return pre;
    },

    /** What the copy would do: files to add, change and delete, bytes to move, and whether it
     * would empty or mostly empty the destination. Changes nothing. */
    async planSync(input: { from: string; to: string }): Promise<SyncPlan> {
      const { runner, command } = rsync(input.from, input.to, ['--dry-run', '--itemize-changes', '--stats']);
      const d = env(input.to);
      // The destination's file count (for the shrink guard) and where the token file lies (the
      // copy brings it and the hop rewrites it anyway: a plan changing only it is told apart,
      // tokenOnly), read beside the dry run.
      const [[destinationFiles, token], out] = await inOrder(
        inOrder(
          withHost(d.hostName, d.host, async (h) => {
            const count = await run(
              h,
              `if [ -d ${shellQuote(h.dataDir)} ]; then find ${shellQuote(h.dataDir)} -mindepth 1 ! -type d | wc -l; else echo 0; fi`,
              `host ${d.hostName}: count files`,
            );
            return Number(count.stdout.trim());
          }),
          travellingToken(env(input.from), d),
        ),
        withHost(runner.hostName, runner.host, async (h) =>
          run(h, command, `rsync dry run ${input.from} -> ${input.to}`),
        ),
      );
      const plan = parseItemized(out.stdout, token);
      plan.destinationFiles = destinationFiles;
      const shrink = shrinkProblem(plan, config.promotion.maxDeleteShare);
      return shrink ? { ...plan, shrink } : plan;
    },

    /** An exact copy of the destination's data dir, once per run: what a failure restores. A
     * btrfs snapshot where the data dir is a subvolume of its own, a reflink copy where the
     * filesystem has them, else a full one (`cp -a`: content, modes, owners, times, hard links,
     * xattrs); never hard links, which share every later in-place write (an appended log,
     * rsync's chmod) with the live files. It carries a mark of the run, so that a restore can
     * tell it is back; the mark keeps the directory's own mtime. `subvolume`: this attempt took
     * a btrfs snapshot. */
    async snapshot(input: { to: string; runId: string; tokenOnly?: boolean } & Approved) {
      const d = env(input.to);
      return withHost(d.hostName, d.host, async (h) => {
        const saved = tokenBackupPath(h, input.runId);
        const saveToken = async () => {
          if (!(await h.stat(saved)))
            await h.writeFileAtomic(
              saved,
              (await h.readFile(resolveOnHost(h, config.paths.cliToml))) ?? ABSENT,
              0o600,
            );
        };
        // Nothing but the token file to change: it alone is saved, wherever it lies. Unless an
        // earlier attempt of this run (reset since) made the full snapshot: that one stays the
        // one a failure restores (its data dir may hold that attempt's copy by now).
        if (input.tokenOnly && !(await h.stat(snapshotPath(h, input.runId)))) {
          await saveToken();
          return { snapshot: saved, kind: 'token' as const };
        }
        // The token file, when it lies outside the data dir (a carried token is written there),
        // is saved with the snapshot, before anything changes; once per run.
        if (tokenInData(h) === null) await saveToken();
        // A retry after a lost attempt starts the copy again rather than adding to its leftovers.
        const res = await run(
          h,
          snapshotCommand(h.dataDir, snapshotPath(h, input.runId), snapshotMark(input.runId)),
          `host ${d.hostName}: snapshot`,
          { pty: true },
        );
        return {
          snapshot: snapshotPath(h, input.runId),
          kind: 'data' as const,
          ...(res.stdout.split(/\r?\n/).includes(SUBVOLUME_TAKEN) ? { subvolume: true } : {}),
        };
      });
    },

    /**
     * The copy itself. `maxDelete` bounds deletions by the approved plan (null: unbounded). It
     * heartbeats rsync's progress (the heartbeat details `rekey status` and the Web UI show). A
     * retry after a lost worker picks up the partial file the broken attempt left. Files that
     * vanished from a live source while it was read (rsync exit 24) are reported, not fatal.
     */
    async syncData(
      input: { from: string; to: string; maxDelete: number | null } & Approved,
    ): Promise<CopyStats> {
      const ctx = Context.current();
      const { attempt, workflowExecution } = ctx.info;
      const { runner, command } = rsync(input.from, input.to, [
        // No option means no limit: rsync reads 0 and negative numbers as "no deletions".
        ...(input.maxDelete === null ? [] : [`--max-delete=${input.maxDelete}`]),
        '--partial-dir=.rsync-partial',
        '--info=progress2,name1',
        '--stats',
      ]);
      let latest: TransferProgress | undefined;
      const follow = followRsync((p) => {
        latest = { ...p, attempt };
      });
      const owner = workflowExecution?.workflowId ?? `${input.from}-${input.to}`;
      return withHost(runner.hostName, runner.host, async (h) => {
        const res = await run(h, exclusive(input.to, owner, command), `rsync ${input.from} -> ${input.to}`, {
          onStdout: follow,
          pty: true,
          details: () => latest,
          ok: [24],
        });
        return { ...parseStats(res.stdout), attempt, ...(res.code === 24 ? { vanished: true } : {}) };
      });
    },

    /** Re-signs the publisher token the destination will publish with (its paths.cliToml) with
     * the destination's own private key, keeping the source's identity: the copied database's
     * owner. A token file both hosts keep at the same place inside their data dirs came with the
     * copy; otherwise (the guide's default ./data/.config/spacetime/cli.toml beside a data dir
     * elsewhere) the source's token is carried: put into the destination's file, whose other
     * settings stay (the snapshot step saved that file for a restore). A token from an
     * OIDC provider is carried unchanged: no server key signed it. */
    async resignDestinationToken(
      input: {
        from: string;
        to: string;
        /** The copy was skipped (nothing but the token to change): the source's file is taken
         * as the copy would have brought it. */
        fromSource?: boolean;
      } & Approved,
    ): Promise<{ before: TokenIdentity; after: TokenIdentity; carried?: boolean }> {
      const d = env(input.to);
      const s = env(input.from);
      const field = config.paths.tokenField;
      const copied = (await travellingToken(s, d)) !== null;
      const source = await sourceToken(s, copied);
      return withHost(d.hostName, d.host, async (h) => {
        const keyPath = resolveOnHost(h, posix.join(config.paths.keyDir, config.paths.privateKeyFile));
        const key = await h.readFile(keyPath);
        if (!key) throw fail(FailureType.BadInput, `${input.to}: no private key at ${keyPath}`);
        const tomlPath = resolveOnHost(h, config.paths.cliToml);
        const where = `${input.to}: ${tomlPath}`;
        const own = await h.readFile(tomlPath);
        if (copied && !own) throw fail(FailureType.BadInput, `${input.to}: no ${tomlPath} after the copy`);
        const text = copied
          ? input.fromSource
            ? source.text
            : (own as Buffer).toString()
          : withToken(own?.toString() ?? '', field, source.token, where);
        if (source.external) {
          if (text !== own?.toString())
            await h.writeFileAtomic(tomlPath, text, (await h.stat(tomlPath))?.mode ?? 0o600);
          const id = tokenIdentity(source.token, where);
          return { before: id, after: id, ...(copied ? {} : { carried: true }) };
        }
        const r = await resignCliToml(text, key.toString(), field, where, source.key ? [source.key] : []);
        if (r.text !== own?.toString())
          await h.writeFileAtomic(tomlPath, r.text, (await h.stat(tomlPath))?.mode ?? 0o600);
        return { before: r.before, after: r.after, ...(copied ? {} : { carried: true }) };
      });
    },

    /** Puts the snapshot back as the destination's data dir. `restored` is true only when the
     * data dir is the snapshot again (its mark found there, then removed). `tokenOnly`: the hop
     * saved only the token file (it had nothing else to copy), which goes back. */
    async restoreSnapshot(input: { to: string; runId: string; tokenOnly?: boolean } & Approved) {
      const d = env(input.to);
      return withHost(d.hostName, d.host, async (h) => {
        // The saved token file back; then a mark, then the copy goes: a retry finds the mark.
        const putTokenBack = async () => {
          const saved = tokenBackupPath(h, input.runId);
          const restoredMark = tokenRestoredPath(h, input.runId);
          const original = await h.readFile(saved);
          if (!original) return (await h.stat(restoredMark)) !== null;
          const tomlPath = resolveOnHost(h, config.paths.cliToml);
          if (original.toString() === ABSENT) await h.remove(tomlPath);
          else await h.writeFileAtomic(tomlPath, original, (await h.stat(tomlPath))?.mode ?? 0o600);
          await h.writeFileAtomic(restoredMark, '', 0o600);
          await h.remove(saved);
          return true;
        };
        if (input.tokenOnly) return { restored: await putTokenBack() };
        const snap = shellQuote(snapshotPath(h, input.runId));
        const data = shellQuote(h.dataDir);
        const mark = shellQuote(`${h.dataDir.replace(/\/+$/, '')}/${snapshotMark(input.runId)}`);
        // Where the mark goes once the data dir is back: outside it, so it is never copied on. It
        // carries the data dir's mtime from the snapshot, which the move out changed.
        const done = shellQuote(beside(h, 'restored', input.runId));
        const failed = shellQuote(beside(h, 'failed', input.runId));
        // Renames first, deletions last: a retry of an interrupted restore finds either the
        // snapshot still to move in, or the data dir already back (the moved mark) and leftovers.
        // A snapshot taken before snapshots were marked counts as restored once it is moved in.
        // Once the data is back, a moved-aside data dir that cannot be removed is left behind
        // rather than failing every retry of a restore that is done.
        const res = await run(
          h,
          `${SNAPSHOT_FNS}; if [ -e ${snap} ]; then { [ ! -e ${data} ] || { drop ${failed} && mv ${data} ${failed}; }; } && mv ${snap} ${data} && echo moved; fi && { drop ${failed} || true; } && { [ ! -e ${mark} ] || mv ${mark} ${done}; } && if [ -e ${done} ]; then touch -m -r ${done} ${data} && echo restored; fi`,
          `host ${d.hostName}: restore`,
          { pty: true },
        );
        const restored = /restored|moved/.test(res.stdout);
        // A carried token was written outside the data dir: its saved original goes back too.
        if (restored) await putTokenBack();
        return { restored };
      });
    },

    /** After a hop passed its gates the snapshot is no longer needed; after a restore, its marks. */
    async dropSnapshot(input: { to: string; runId: string } & Approved) {
      const d = env(input.to);
      const restoredMark = (h: Host, runId: string) => beside(h, 'restored', runId);
      await withHost(d.hostName, d.host, (h) =>
        run(
          h,
          `${SNAPSHOT_FNS}; drop ${[snapshotPath, tokenBackupPath, tokenRestoredPath, restoredMark].map((p) => shellQuote(p(h, input.runId))).join(' ')}`,
          `host ${d.hostName}: drop snapshot`,
          {
            pty: true,
          },
        ),
      );
    },

    /** Whether config asks for an approval before data lands in `to`, or leaves `from` (prod's
     * data going to an ungated environment is prod's business too): one gate under the stricter
     * policy of the two. */
    async promotionGate(input: { to: string; from?: string }) {
      const gated = gatedOf(config, [input.from, input.to]);
      return {
        required: gated.length > 0,
        approvers: Object.keys(config.approvals.approvers),
        timeoutMs: durationMs(config.approvals.timeout),
        policy: gatePolicy(config, gated.length > 0 ? gated : [input.to]),
        ...(gated.length > 0 ? { gatedBy: gated } : {}),
        // What the plan is made from: the steps refuse an environment configured otherwise since.
        scope: scopeOf(
          config,
          [input.from, input.to].filter((e): e is string => e !== undefined),
        ),
      };
    },

    async stopService(input: { env: string } & Approved) {
      const d = env(input.env);
      const svc = config.services[config.environments[input.env]?.service ?? ''];
      if (!svc) throw fail(FailureType.BadInput, `${input.env}: no service`);
      await heartbeating(() => withHost(d.hostName, d.host, (h) => createServiceDriver(h, svc).stop()));
    },
  };
}

export type PromoteHopActivities = ReturnType<typeof createPromoteHopActivities>;
