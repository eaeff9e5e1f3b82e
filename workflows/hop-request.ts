// Who asked for a hop of a promotion: the promotion that started it (its parent, whose chain has
// the hop and whose options are the hop's), checked against the server's word, or the hop itself
// when started on its own. The hop's gates verify a signed request against what this returns.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ScheduleActivities } from '../activities/schedules';
import { FailureType, fail } from '../shared/failures';
import { shortActivity } from './activity-options';
import { type HopInput, type HopOptions, PromoteInput } from './inputs';

const temporalReads = proxyActivities<ScheduleActivities>(shortActivity);

/** When the promotion that started this hop began, from the server; refused unless that run is a
 * rekey promotion on this task queue (any client may start a workflow that starts a hop). */
export async function promotionStart(from: string, to: string): Promise<number> {
  const { parent, taskQueue } = workflowInfo();
  const facts =
    parent && (await temporalReads.runFacts({ workflowId: parent.workflowId, runId: parent.runId }));
  if (!facts || facts.type !== 'promote' || facts.taskQueue !== taskQueue)
    throw fail(
      FailureType.BadInput,
      `promotion: ${from} -> ${to} was started by ${parent?.workflowId ?? 'no run'}${facts ? ` (a ${facts.type} on task queue ${facts.taskQueue})` : ''}, not by a rekey promotion on ${taskQueue}; nothing was changed`,
    );
  return Date.parse(facts.startTime);
}

/** What the starter of a hop asked for: the promotion that started it (its parent, whose chain
 * has this hop and whose options are the hop's), or the hop itself when started on its own. */
export function hopRequest(
  raw: HopInput,
  input: HopOptions,
): { type: string; input: Record<string, unknown>; startedAt?: number } {
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
