// Staged data promotion down a chain (prod -> test -> dev): one child workflow per hop
// (promote-hop.ts), in order. A hop that succeeded is not redone when a later one fails.

import { executeChild, ParentClosePolicy, patched, workflowInfo } from '@temporalio/workflow';
import { parseInput, runFailure } from './errors';
import type { HopResult } from './hop-plan';
import { PromoteInput, promoteHopWorkflowId } from './inputs';
import { ProgressTracker } from './progress';
import { promoteHop } from './promote-hop';
import { claimSignedRequest } from './requests';
import { checkStarterConfig } from './starter-config';

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
    await claimSignedRequest(raw as Record<string, unknown>);
    await checkStarterConfig(
      { kind: 'promote', chain: input.chain, consistent: input.consistent },
      input.starterConfig,
      {
        overrideFreeze: input.overrideFreeze,
        dryRun: input.dryRun,
        tracker,
      },
    );
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
    tracker.fail(err);
    throw runFailure(err);
  }
}
