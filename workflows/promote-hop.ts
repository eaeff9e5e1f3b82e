// One hop of a promotion (prod -> test): it holds the locks of both environments and runs
// preflight (real paths checked on the hosts), a dry run on the running destination, the shrink
// guard, the approval showing the plan, stop the destination, re-check the plan, snapshot, the
// copy bounded by the approved deletions (with --consistent: the source stopped for a final
// pass), re-sign the destination's token with its own key, start, publish, markers. A failure
// starts the destination again on its old data (restoring the snapshot once the copy began).
// The copy heartbeats rsync's progress (shown with the pending activity, kept out of history).

import { CancellationScope, CancelledFailure, patched, workflowInfo } from '@temporalio/workflow';
import type { CopyStats, PromoteHopActivities } from '../activities/promote-hop';
import type { SyncPlan } from '../activities/rsync-output';
import { FailureType, fail } from '../shared/failures';
import { type HopPreflight, spaceProblem } from '../shared/hop-space';
import { Gates, notApproved } from './approvals';
import { withLocks } from './environment-lock';
import { errorText, parseInput, runFailure } from './errors';
import {
  changingDataDir,
  copying,
  onDataDir,
  onService,
  promotion,
  settledCopying,
  settledPromotion,
  settledService,
} from './hop-activities';
import { copiesAfter, copyText, type HopResult, planText, savedText, snapshotText } from './hop-plan';
import { hopRequest, promotionStart } from './hop-request';
import { HopInput, type HopOptions } from './inputs';
import { ProgressTracker } from './progress';
import { hopNotifications } from './starter-config';

type GateRules = Awaited<ReturnType<PromoteHopActivities['promotionGate']>>;

export async function promoteHop(raw: HopInput): Promise<HopResult> {
  const input = parseInput(HopInput, raw);
  // Runs recorded before the destination stayed up through the approval wait replay as they were.
  const gateFirst = patched('gate-before-stop');
  const tracker = new ProgressTracker(
    [
      'preflight',
      ...(gateFirst ? ['dry run', 'approval', 'stop', 're-check'] : ['stop', 'dry run', 'approval']),
      'snapshot',
      'copy',
      ...(input.consistent ? ['stop source', 'final pass', 'start source'] : []),
      're-sign token',
      'start and publish',
    ],
    `${input.dryRun ? 'plan copying' : 'copy'} the data of ${input.from} to ${input.to}`,
  );
  // Runs recorded before a cancel waited for the host work in flight replay as they were.
  const settle = patched('settle-host-work-on-cancel');
  const request = hopRequest(raw, input);
  const hop = new Hop(tracker, new Gates(tracker, request), input, gateFirst, settle);
  try {
    // The request's window runs from the promotion's start as the server reports it, not as the
    // hop's input says (runs recorded before replay with the input's). The gate reads it later.
    if (input.promotion && patched('hop-window-from-parent'))
      request.startedAt = await promotionStart(input.from, input.to);
    // A dry run changes nothing, announces nothing and takes no lock.
    if (input.dryRun) return await hop.run();
    await hopNotifications(input.from, input.to);
    return await withLocks(
      () => [`env/${input.from}`, `env/${input.to}`],
      () => hop.run(),
    );
  } catch (err) {
    tracker.fail(err);
    throw runFailure(err);
  }
}

/** The steps of one hop, in the order `run` takes them; each throws to end the hop. */
class Hop {
  private readonly from: string;
  private readonly to: string;
  /** Snapshots are named by the first run of this workflow, so a reset run finds them again. */
  private readonly runId = workflowInfo().firstExecutionRunId;
  /** What a failure puts back: the data dir (with the token file), or the token file alone. */
  private snapshotTaken: 'data' | 'token' | undefined;
  private preflight: HopPreflight | undefined;
  /** The space is checked against the plan, not before it (runs recorded before: in preflight). */
  private spaceAfterPlan = false;

  constructor(
    private readonly tracker: ProgressTracker,
    private readonly gates: Gates,
    private readonly input: HopOptions,
    /** Runs recorded before the destination stayed up through the approval wait replay as they were. */
    private readonly gateFirst: boolean,
    /** The steps that change a host (stop, snapshot, copy, re-sign, start) are waited for when the
     * run is cancelled while they run; then the undo runs. */
    private readonly settle: boolean,
  ) {
    this.from = input.from;
    this.to = input.to;
  }

  /** The proxy for a step that stops a service or writes a data dir. */
  private changing(summary: string) {
    return (this.settle ? changingDataDir : onDataDir)(summary);
  }

  async run(): Promise<HopResult> {
    const { from, to, tracker } = this;
    this.spaceAfterPlan = patched('space-after-plan');
    const hop = { from, to, ...(this.spaceAfterPlan ? { spaceAfterPlan: true } : {}) };
    this.preflight = await tracker.run(
      'preflight',
      () => onDataDir(`preflight ${from} -> ${to}: paths, space, machines`).preflightHop(hop),
      (r) =>
        `${r.sourceBytes} bytes to copy, ${r.freeBytes} free${r.snapshot ? `; ${snapshotText(r.snapshot)}` : ''}`,
    );
    if (this.input.dryRun) {
      const plan = await this.dryRun();
      this.checkSpace(plan);
      tracker.skipRest('dry run');
      tracker.finish('completed');
      return { from, to, dryRun: true, plan };
    }
    // The destination keeps serving while the plan waits for its approval.
    const approved = this.gateFirst ? await this.approvedPlan() : undefined;
    const gate = this.gateFirst ? undefined : await promotion.promotionGate({ from, to });
    let result: HopResult;
    try {
      result = await this.replaceData(approved, gate);
    } catch (err) {
      // Also when the run is being cancelled: the destination must not stay stopped or half-copied.
      await CancellationScope.nonCancellable(() => this.undo(err));
      throw err;
    }
    // The hop has passed; a snapshot left behind only takes space.
    if (this.snapshotTaken) await this.drop(`drop ${to}'s snapshot`);
    tracker.finish('completed');
    return result;
  }

  /** From the stop on: a failure here leaves the destination running again (see `undo`). */
  private async replaceData(approved: SyncPlan | undefined, gate: GateRules | undefined): Promise<HopResult> {
    const { from, to, tracker, runId } = this;
    await tracker.run('stop', () =>
      this.changing(`stop ${to}`).stopService({ env: to, ...this.gates.approved }),
    );
    const plan = gate ? await this.approvedPlan(gate) : approved;
    if (!plan) throw new Error('unreachable: no plan');
    // The plan made with the destination stopped (runs recorded before gate-before-stop made
    // only that one).
    const stoppedPlan = this.gateFirst ? await this.recheck(plan) : plan;
    // Nothing to copy, or nothing but the token file (the guide's layout keeps it in the data
    // dir, and every hop re-signs it): the destination holds the source's data as of that plan.
    // Only the token file is saved, to put back on a failure (the destination then starts on the
    // same data), and the token is taken from the source's file as the copy would have brought
    // it. With --consistent the source may change until its final pass: the hop copies.
    const tokenOnly = stoppedPlan.tokenOnly === true;
    // The destination changed while it stopped: a copy after all needs its room too.
    this.checkSpace(stoppedPlan, `nothing was copied; ${to} is started again`);
    if (!this.copies(stoppedPlan) && patched('skip-empty-copy')) {
      const saved = await tracker.run(
        'snapshot',
        () =>
          (this.settle ? settledCopying : copying)(`save ${to}'s token file`).snapshot({
            to,
            runId,
            tokenOnly: true,
            ...this.gates.approved,
          }),
        (r) =>
          r.kind === 'data'
            ? "an earlier attempt's full snapshot kept"
            : 'the token file only: nothing else changes',
      );
      // An earlier attempt of this run (reset since) made the full snapshot: that one is restored.
      this.snapshotTaken = saved.kind === 'data' ? 'data' : 'token';
      tracker.set(
        'copy',
        'skipped',
        `nothing to copy: ${to} holds ${from}'s data${tokenOnly ? ` (but the token file, written from ${from}'s when re-signed)` : ''}`,
      );
      return this.publish(plan, { notCopied: { tokenFile: tokenOnly } }, tokenOnly);
    }
    // A full copy of a large data dir may take hours, like the copy itself.
    await tracker.run('snapshot', () =>
      (this.settle ? settledCopying : copying)(`snapshot ${to}'s data dir`).snapshot({
        to,
        runId,
        ...this.gates.approved,
      }),
    );
    this.snapshotTaken = 'data';
    // The copy deletes no more than the approved plan showed (rsync exit 25 otherwise).
    const copied = await this.copy('copy', plan.delete);
    const final = this.input.consistent ? await this.finalPass() : {};
    return this.publish(plan, { copied, ...final });
  }

  /** After the copy (or none): the destination's token re-signed, then it starts and publishes. */
  private async publish(
    plan: SyncPlan,
    copy: Pick<HopResult, 'copied' | 'notCopied' | 'finalPass' | 'sourceDowntimeMs'>,
    tokenFromSource = false,
  ): Promise<HopResult> {
    const { from, to, tracker } = this;
    const token = await tracker.run(
      're-sign token',
      () =>
        (this.settle ? settledPromotion : promotion).resignDestinationToken({
          from,
          to,
          ...(tokenFromSource ? { fromSource: true } : {}),
          ...this.gates.approved,
        }),
      (r) =>
        `iss=${r.after.iss} sub=${r.after.sub}${r.carried ? ` (carried from ${from}: its token file is outside the data dir)` : ''}`,
    );
    const started = await tracker.run(
      'start and publish',
      () =>
        (this.settle ? settledService : onService)(`start ${to} and publish`).restartAndVerify({
          env: to,
          ...this.gates.approved,
        }),
      (r) => r.marker,
    );
    // A cancel that came while the last step ran (waited for) still puts the old data back.
    if (this.settle && CancellationScope.current().consideredCancelled)
      throw new CancelledFailure('cancelled');
    return { from, to, dryRun: false, plan, ...copy, identity: token.after, marker: started.marker };
  }

  private copies = (plan: SyncPlan) => copiesAfter(plan, this.input.consistent === true);

  /** Removes what the run kept beside the destination's data dir (a failure is shown, not thrown). */
  private drop(summary: string): Promise<void> {
    return onDataDir(summary)
      .dropSnapshot({ to: this.to, runId: this.runId, ...this.gates.approved })
      .catch((err) => this.tracker.set('drop snapshot', 'failed', `${errorText(err)}; remove it by hand`));
  }

  /** Refuses a plan whose copy and snapshot the destination has no room for. */
  private checkSpace(plan: SyncPlan, state?: string): void {
    const problem =
      this.spaceAfterPlan && this.preflight
        ? spaceProblem({ from: this.from, to: this.to }, this.preflight, this.copies(plan), state)
        : undefined;
    if (problem) throw fail(FailureType.PolicyViolation, problem);
  }

  private dryRun(): Promise<SyncPlan> {
    const { from, to } = this;
    return this.tracker.run(
      'dry run',
      () => onDataDir(`dry run: rsync -n ${from} -> ${to}`).planSync({ from, to }),
      planText,
    );
  }

  /** The dry run's plan, refused if it empties the destination (unless allowed), then approved
   * under the destination's gate rules (read here unless read before the stop). */
  private async approvedPlan(rules?: GateRules): Promise<SyncPlan> {
    const { from, to, input } = this;
    const plan = await this.dryRun();
    if (plan.shrink && !input.allowShrink)
      throw fail(
        FailureType.PolicyViolation,
        `${from} -> ${to}: ${plan.shrink}; nothing was changed (allowShrink / --allow-shrink if this is intended)`,
      );
    this.checkSpace(plan);
    const gate = rules ?? (await promotion.promotionGate({ from, to }));
    if (!gate.required) {
      this.tracker.set('approval', 'skipped', `no approval required for ${from} or ${to}`);
      return plan;
    }
    const outcome = await this.gates.approval({
      name: 'approval',
      policy: this.gates.policyOf(gate.policy, gate),
      ...(gate.scope ? { scope: gate.scope } : {}),
      plan: `${from} -> ${to}: ${planText(plan)}${savedText(this.spaceAfterPlan ? this.copies(plan) : true, to, this.preflight)}${input.consistent ? `; then ${from} is STOPPED for a final pass and started again` : ''}`,
    });
    if (!outcome.approved) throw notApproved(outcome, `${to} data unchanged`);
    return plan;
  }

  /** The destination ran during the approval wait: the copy may delete only what was approved. */
  private recheck(approved: SyncPlan) {
    const { from, to } = this;
    return this.tracker.run(
      're-check',
      async () => {
        const now = await onDataDir(`re-check: rsync -n ${from} -> ${to}, ${to} stopped`).planSync({
          from,
          to,
        });
        if (now.deletionsDigest === approved.deletionsDigest) return now;
        throw fail(
          FailureType.PolicyViolation,
          `${from} -> ${to}: with ${to} stopped the copy would delete other files than the approved plan (approved: ${planText(approved)}; now: ${planText(now)}); nothing was deleted: start the promotion again for a new plan`,
        );
      },
      () => 'deletions as approved',
    );
  }

  private copy(step: string, maxDelete: number | null): Promise<CopyStats> {
    const { from, to } = this;
    const copy = { from, to, maxDelete, ...this.gates.approved };
    return this.tracker.run(
      step,
      () => (this.settle ? settledCopying : copying)(`${step}: rsync ${from} -> ${to}`).syncData(copy),
      copyText,
    );
  }

  /** --consistent: the source stopped for a final pass, then started again whatever happened. */
  private async finalPass(): Promise<Pick<HopResult, 'finalPass' | 'sourceDowntimeMs'>> {
    const { from, tracker } = this;
    const stoppedAt = Date.now();
    let passed: CopyStats | undefined;
    let passError: unknown;
    try {
      await tracker.run('stop source', () =>
        this.changing(`stop ${from} (source)`).stopService({ env: from, ...this.gates.approved }),
      );
      // Unbounded: after the bounded live pass, the destination holds only what the source
      // held, so this pass deletes only what the source itself removed meanwhile.
      passed = await this.copy('final pass', null);
    } catch (err) {
      passError = err;
    }
    try {
      // Also when the run is being cancelled: the source must not stay stopped.
      await CancellationScope.nonCancellable(() =>
        tracker.run(
          'start source',
          () =>
            onService(`start ${from} (source) again`).restartAndVerify({ env: from, ...this.gates.approved }),
          () => `${from} was down ${Date.now() - stoppedAt} ms`,
        ),
      );
    } catch (err) {
      throw fail(
        FailureType.SourceNotStarted,
        `${passError ? `${errorText(passError)}; then ` : ''}${from} did not start again: ${errorText(err)}`,
      );
    }
    if (passError) throw passError;
    return { finalPass: passed, sourceDowntimeMs: Date.now() - stoppedAt };
  }

  /** After a failure: the destination's old data back (if the copy had begun) and it running. */
  private async undo(err: unknown): Promise<void> {
    const { to, tracker, snapshotTaken } = this;
    const step = snapshotTaken ? 'restore' : 'start again';
    tracker.set(step, 'running');
    try {
      if (snapshotTaken) {
        // The destination may be running (a failed publish starts it) and writing its data dir:
        // stopped first, so nothing it writes lands in the restored data.
        if (patched('stop-before-restore'))
          await onDataDir(`stop ${to} before the restore`).stopService({ env: to, ...this.gates.approved });
        const tokenOnly = snapshotTaken === 'token';
        const { restored } = await copying(
          tokenOnly ? `put back ${to}'s token file` : `restore ${to}'s snapshot`,
        ).restoreSnapshot({
          to,
          runId: this.runId,
          ...(tokenOnly ? { tokenOnly } : {}),
          ...this.gates.approved,
        });
        if (!restored)
          throw fail(
            FailureType.RestoreFailed,
            tokenOnly
              ? `the token file of ${to} saved by this run is gone: it was NOT put back`
              : `the snapshot of ${to} made by this run is gone: its data dir was NOT restored`,
          );
      }
      await onService(`start ${to} on its old data`).restartAndVerify({ env: to, ...this.gates.approved });
    } catch (failure) {
      tracker.set(step, 'failed', errorText(failure));
      throw fail(
        FailureType.RestoreFailed,
        `${errorText(err)}; then ${step} of ${to} failed: ${errorText(failure)}`,
      );
    }
    // What the restore kept for a retry of its own (marks that it was done) is no longer needed.
    if (snapshotTaken && patched('drop-restore-marks')) await this.drop(`drop ${to}'s restore marks`);
    tracker.set(
      step,
      'done',
      snapshotTaken === 'data'
        ? 'snapshot restored, service running on the old data'
        : snapshotTaken === 'token'
          ? 'token file put back, service running on the same data'
          : 'service running, data unchanged',
    );
  }
}
