// Staged data promotion down a chain (prod -> test -> dev), one child workflow per hop, in order.
// A hop holds the locks of both its environments and runs: preflight (real paths checked on the
// hosts), dry run on the running destination, shrink guard, approval showing the plan, stop the
// destination, snapshot, copy bounded by the plan's deletions (with --consistent: then stop the
// source for a final pass), re-sign the destination's token with its own key, start, publish,
// markers. A failure starts the destination again on its old data (restoring the snapshot once
// the copy began). A hop that succeeded is not redone when a later one fails. The copy activity
// heartbeats rsync's progress (shown with the pending activity, not added to the history).

import {
  CancellationScope,
  executeChild,
  ParentClosePolicy,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { CopyStats, PromotionActivities, SyncPlan } from '../activities/promotion';
import type { RotationActivities } from '../activities/rotation';
import type { TokenIdentity } from '../activities/tokens';
import { FailureType, fail } from '../shared/failures';
import { quickActivity, serviceActivity, summarized } from './activity-options';
import { Gates, notApproved } from './approvals';
import { withLocks } from './environment-lock';
import { errorText, parseInput, runFailure } from './errors';
import { HopInput, type HopOptions, PromoteInput, promoteHopWorkflowId } from './inputs';
import { ProgressTracker } from './progress';

const quick = proxyActivities<PromotionActivities>(quickActivity);
// Work on a data dir (du, dry run, snapshot, restore) takes as long as the dir is large; it
// heartbeats, so a lost worker is noticed within seconds all the same.
const hostWork = summarized<PromotionActivities>({ ...serviceActivity, startToCloseTimeout: '1h' });
// A copy may take hours.
const copy = summarized<PromotionActivities>({ ...serviceActivity, startToCloseTimeout: '6h' });
const service = summarized<RotationActivities>(serviceActivity);

export interface HopResult {
  from: string;
  to: string;
  dryRun: boolean;
  plan: SyncPlan;
  /** The copy (with --consistent: the live pass). */
  copied?: CopyStats;
  /** --consistent: the pass made while the source was stopped, and how long it was down. */
  finalPass?: CopyStats;
  sourceDowntimeMs?: number;
  identity?: TokenIdentity;
  marker?: string;
}

function planText(p: SyncPlan): string {
  const del =
    p.delete > 0
      ? `, DELETE ${p.delete}${p.deletions.length ? ` (${p.deletions.join(', ')}${p.delete > p.deletions.length ? ', ...' : ''})` : ''}`
      : ', delete 0';
  const shrink = p.shrink ? `; SHRINK: ${p.shrink}` : '';
  return `add ${p.add}, change ${p.change}${del}; ${p.bytes} bytes to move${shrink}`;
}

const copyText = (c: CopyStats) =>
  `${c.bytes} bytes (${c.matchedBytes} matched at the destination)${c.attempt > 1 ? `, attempt ${c.attempt}` : ''}` +
  (c.vanished ? '; some source files vanished while they were read (live source)' : '');

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
  const gates = new Gates(tracker, hopRequest(raw, input));
  try {
    // A dry run changes nothing and takes no lock.
    if (input.dryRun) return await hop(tracker, gates, input, gateFirst);
    return await withLocks(
      () => [`env/${input.from}`, `env/${input.to}`],
      () => hop(tracker, gates, input, gateFirst),
    );
  } catch (err) {
    tracker.finish('failed');
    throw runFailure(err);
  }
}

/** What the starter of a hop asked for: the promotion that started it (its parent, whose chain
 * has this hop and whose options are the hop's), or the hop itself when started on its own. */
function hopRequest(raw: HopInput, input: HopOptions) {
  const promotion = input.promotion;
  if (!promotion) return { type: 'promoteHop', input: raw as Record<string, unknown> };
  const parsed = PromoteInput.safeParse(promotion);
  const chain = parsed.success ? parsed.data.chain : [];
  const at = chain.indexOf(input.from);
  const ours =
    parsed.success &&
    at >= 0 &&
    chain[at + 1] === input.to &&
    // Only `promote` starts hops as children: a hop started on its own cannot borrow a request.
    workflowInfo().parent !== undefined &&
    (['dryRun', 'consistent', 'allowShrink'] as const).every((k) => parsed.data[k] === input[k]);
  if (!ours)
    throw fail(
      FailureType.BadInput,
      `promotion: ${input.from} -> ${input.to} was not started by the promotion its input names; nothing was changed`,
    );
  // The parent (checked above) names its own start: the request was made for that.
  return {
    type: 'promote',
    input: promotion,
    startedAt: Date.parse(input.promotionStartedAt ?? '') || undefined,
  };
}

async function hop(
  tracker: ProgressTracker,
  gates: Gates,
  input: HopOptions,
  gateFirst: boolean,
): Promise<HopResult> {
  const { from, to } = input;
  // Snapshots are named by the first run of this workflow, so a reset run finds them again.
  const runId = workflowInfo().firstExecutionRunId;
  const copyStep = (name: string, maxDelete: number | null) =>
    tracker.run(
      name,
      () => copy(`${name}: rsync ${from} -> ${to}`).syncData({ from, to, maxDelete }),
      copyText,
    );

  /** --consistent: the source stopped for a final pass, then started again whatever happened. */
  const finalPass = async (): Promise<Pick<HopResult, 'finalPass' | 'sourceDowntimeMs'>> => {
    const stoppedAt = Date.now();
    let passed: CopyStats | undefined;
    let passError: unknown;
    try {
      await tracker.run('stop source', () => hostWork(`stop ${from} (source)`).stopService({ env: from }));
      // Unbounded: after the bounded live pass, the destination holds only what the source
      // held, so this pass deletes only what the source itself removed meanwhile.
      passed = await copyStep('final pass', null);
    } catch (err) {
      passError = err;
    }
    try {
      // Also when the run is being cancelled: the source must not stay stopped.
      await CancellationScope.nonCancellable(() =>
        tracker.run(
          'start source',
          () => service(`start ${from} (source) again`).restartAndVerify({ env: from }),
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
  };

  /** After a failure: the destination's old data back (if the copy had begun) and it running. */
  const undo = async (err: unknown, snapshotTaken: boolean) => {
    const step = snapshotTaken ? 'restore' : 'start again';
    tracker.set(step, 'running');
    try {
      if (snapshotTaken) {
        const { restored } = await hostWork(`restore ${to}'s snapshot`).restoreSnapshot({ to, runId });
        if (!restored)
          throw fail(
            FailureType.RestoreFailed,
            `the snapshot of ${to} made by this run is gone: its data dir was NOT restored`,
          );
      }
      await service(`start ${to} on its old data`).restartAndVerify({ env: to });
    } catch (failure) {
      tracker.set(step, 'failed', errorText(failure));
      throw fail(
        FailureType.RestoreFailed,
        `${errorText(err)}; then ${step} of ${to} failed: ${errorText(failure)}`,
      );
    }
    tracker.set(
      step,
      'done',
      snapshotTaken
        ? 'snapshot restored, service running on the old data'
        : 'service running, data unchanged',
    );
  };

  await tracker.run(
    'preflight',
    () => hostWork(`preflight ${from} -> ${to}: paths, space, machines`).preflightHop({ from, to }),
    (r) => `${r.sourceBytes} bytes to copy, ${r.freeBytes} free`,
  );
  const dryRun = () =>
    tracker.run(
      'dry run',
      () => hostWork(`dry run: rsync -n ${from} -> ${to}`).planSync({ from, to }),
      planText,
    );
  /** Refuses a plan that empties or mostly empties the destination, unless allowed. */
  const guardShrink = (plan: SyncPlan) => {
    if (!plan.shrink || input.allowShrink) return;
    throw fail(
      FailureType.PolicyViolation,
      `${from} -> ${to}: ${plan.shrink}; nothing was changed (allowShrink / --allow-shrink if this is intended)`,
    );
  };
  const approve = async (plan: SyncPlan, gate: Awaited<ReturnType<typeof quick.promotionGate>>) => {
    if (gate.required) {
      const outcome = await gates.approval({
        name: 'approval',
        policy: gates.policyOf(gate.policy, gate),
        plan: `${from} -> ${to}: ${planText(plan)}${input.consistent ? `; then ${from} is STOPPED for a final pass and started again` : ''}`,
      });
      if (!outcome.approved) throw notApproved(outcome, `${to} data unchanged`);
    } else {
      tracker.set('approval', 'skipped', `no approval required for ${to}`);
    }
  };
  if (input.dryRun) {
    const plan = await dryRun();
    tracker.skipRest('dry run');
    tracker.finish('completed');
    return { from, to, dryRun: true, plan };
  }
  let plan: SyncPlan | undefined;
  if (gateFirst) {
    // The destination keeps serving while the plan waits for its approval.
    plan = await dryRun();
    guardShrink(plan);
    await approve(plan, await quick.promotionGate({ to }));
  }
  const gate = gateFirst ? undefined : await quick.promotionGate({ to });
  // From here on a failure leaves the destination running again: on its old data, put back from
  // the snapshot once the copy had begun.
  let snapshotTaken = false;
  let result: HopResult;
  try {
    await tracker.run('stop', () => hostWork(`stop ${to}`).stopService({ env: to }));
    if (gate) {
      plan = await dryRun();
      guardShrink(plan);
      await approve(plan, gate);
    }
    if (!plan) throw new Error('unreachable: no plan');
    if (gateFirst) {
      // The destination ran during the approval wait: the copy may delete only what was approved.
      const approved = plan;
      await tracker.run(
        're-check',
        async () => {
          const now = await hostWork(`re-check: rsync -n ${from} -> ${to}, ${to} stopped`).planSync({
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
    await tracker.run('snapshot', () => hostWork(`snapshot ${to}'s data dir`).snapshot({ to, runId }));
    snapshotTaken = true;
    // The copy deletes no more than the approved plan showed (rsync exit 25 otherwise).
    const copied = await copyStep('copy', plan.delete);
    const final = input.consistent ? await finalPass() : {};
    const token = await tracker.run(
      're-sign token',
      () => quick.resignDestinationToken({ from, to }),
      (r) => `iss=${r.after.iss} sub=${r.after.sub}`,
    );
    const started = await tracker.run(
      'start and publish',
      () => service(`start ${to} and publish`).restartAndVerify({ env: to }),
      (r) => r.marker,
    );
    result = {
      from,
      to,
      dryRun: false,
      plan,
      copied,
      ...final,
      identity: token.after,
      marker: started.marker,
    };
  } catch (err) {
    // Also when the run is being cancelled: the destination must not stay stopped or half-copied.
    await CancellationScope.nonCancellable(() => undo(err, snapshotTaken));
    throw err;
  }
  // The hop has passed; a snapshot left behind only takes space.
  await hostWork(`drop ${to}'s snapshot`)
    .dropSnapshot({ to, runId })
    .catch((err) => tracker.set('drop snapshot', 'failed', `${errorText(err)}; remove it by hand`));
  tracker.finish('completed');
  return result;
}

export async function promote(raw: PromoteInput): Promise<HopResult[]> {
  const input = parseInput(PromoteInput, raw);
  const hops = input.chain.slice(1).map((to, i) => ({ from: input.chain[i] as string, to }));
  const tracker = new ProgressTracker(
    hops.map((h) => `${h.from} -> ${h.to}`),
    `${input.dryRun ? 'plan a promotion' : 'promote data'} ${input.chain.join(' -> ')}`,
  );
  const { workflowId } = workflowInfo();
  // Hop ids that names with "-" cannot make collide; a terminated promotion asks its running hop
  // to cancel, so the hop's undo (restore, destination started again) still runs.
  const newHops = patched('hop-ids-and-cancel-on-close');
  const results: HopResult[] = [];
  try {
    for (const hop of hops) {
      const childId = newHops
        ? promoteHopWorkflowId(workflowId, hop.from, hop.to)
        : `${workflowId}/${hop.from}-${hop.to}`;
      tracker.progress.childWorkflowId = childId;
      const r = await tracker.run(`${hop.from} -> ${hop.to}`, () =>
        executeChild(promoteHop, {
          workflowId: childId,
          args: [
            {
              ...hop,
              dryRun: input.dryRun,
              consistent: input.consistent,
              allowShrink: input.allowShrink,
              ...(newHops && input.requestedBy
                ? {
                    promotion: raw,
                    promotionStartedAt: workflowInfo().startTime.toISOString(),
                    requestedBy: input.requestedBy,
                  }
                : {}),
            },
          ],
          ...(newHops ? { parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL } : {}),
        }),
      );
      tracker.progress.childWorkflowId = undefined;
      results.push(r);
    }
    tracker.finish('completed');
    return results;
  } catch (err) {
    tracker.finish('failed');
    throw runFailure(err);
  }
}
