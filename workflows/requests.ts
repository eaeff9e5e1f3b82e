// Signed requests: who asked for a run, the text a requester signs (bound to the run's start, its
// id and a nonce, or to the schedule that starts it), and the claim that makes one request start
// one run. The signature itself is checked at the gate (approvals.ts).
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { patched, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { ScheduleActivities } from '../activities/schedules';
import { FailureType, fail } from '../shared/failures';
import { canonicalJson, digestOf } from '../shared/sshsig';
import { shortActivity } from './activity-options';

const temporalReads = proxyActivities<ScheduleActivities>(shortActivity);

/** Who asked for a run, as its input names them: signed over the request on signed gates. */
export interface RequestedBy {
  name: string;
  signature?: string;
  /** When the request was signed (ISO time), or the schedule it was signed for. */
  at?: string;
  schedule?: string;
  /** A time-bound request names the run it starts (its workflow id) and a nonce: it starts one
   * run, once (see `claimRequest`). */
  workflowId?: string;
  nonce?: string;
}

/** How far a signed request's `at` may be from the run's start. */
export const REQUEST_WINDOW_MS = 10 * 60_000;

/** The text a requester signs: the workflow type, its input without `requestedBy`, and what the
 * request is bound to (`at=<ISO time>` or `schedule=<id>`), so that it cannot be replayed later. */
export function requestMessage(
  workflowType: string,
  input: Record<string, unknown>,
  binding: Pick<RequestedBy, 'at' | 'schedule' | 'workflowId' | 'nonce'>,
): string {
  const { requestedBy: _, ...rest } = input;
  const bound =
    binding.schedule !== undefined
      ? `schedule=${binding.schedule}`
      : `at=${binding.at}${binding.workflowId !== undefined ? ` workflow=${binding.workflowId} nonce=${binding.nonce}` : ''}`;
  return `request ${workflowType} ${digestOf([canonicalJson(rest)])} ${bound}`;
}

/** A trivial run whose id records that a signed request was used: started once per request and
 * run (the id is refused a second time), so a copied request starts nothing. */
export async function requestClaim(): Promise<void> {}

/**
 * At the start of a run (its first workflow task): a time-bound signed request that names its run
 * and a nonce is claimed, once, by starting `request/<nonce>/<workflow id>` (the server refuses
 * the id a second time), and must be fresh now, not only at the recorded start (a delayed start).
 * A copied request then starts nothing again. The signature itself is checked at the gate.
 */
export async function claimSignedRequest(input: Record<string, unknown>): Promise<void> {
  const req = input.requestedBy as RequestedBy | undefined;
  // A request signed for a schedule is good for the runs that schedule started, as the schedule
  // records them (a client may set TemporalScheduledById itself). Runs recorded before replay
  // without the check.
  if (req?.schedule !== undefined && req.signature && patched('schedule-request-checked')) {
    const { workflowId, firstExecutionRunId: runId } = workflowInfo();
    if (!(await temporalReads.scheduleStartedRun({ scheduleId: req.schedule, workflowId, runId })))
      throw fail(
        FailureType.BadInput,
        `requestedBy: ${req.name} signed a request for schedule ${req.schedule}, but that schedule did not start ${workflowId} (the schedule's own record of its runs); nothing was changed`,
      );
    return;
  }
  if (!req?.nonce || req.schedule !== undefined) return;
  const { workflowId } = workflowInfo();
  if (req.workflowId !== workflowId)
    throw fail(
      FailureType.BadInput,
      `requestedBy: ${req.name} signed a request for ${req.workflowId ?? '(no run)'}, not for ${workflowId}; nothing was changed`,
    );
  const at = Date.parse(req.at ?? '');
  if (!(Math.abs(at - Date.now()) <= REQUEST_WINDOW_MS))
    throw fail(
      FailureType.BadInput,
      `requestedBy: the request was signed at ${req.at ?? '(no time)'}, it is now ${new Date().toISOString()}: a signed request is good for ${REQUEST_WINDOW_MS / 60_000} minutes; nothing was changed`,
    );
  const id = `request/${req.nonce}/${workflowId}`;
  try {
    await startChild(requestClaim, {
      workflowId: id,
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      parentClosePolicy: 'ABANDON',
    });
  } catch (err) {
    throw fail(
      FailureType.BadInput,
      err instanceof WorkflowExecutionAlreadyStartedError
        ? `requestedBy: this signed request of ${req.name} was used before (${id}; or this run was reset to its start): a request starts one run; sign a new one; nothing was changed`
        : `requestedBy: the request of ${req.name} could not be recorded as used (${id}): ${(err as Error).message}; nothing was changed`,
    );
  }
}
