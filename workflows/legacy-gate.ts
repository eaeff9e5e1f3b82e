// Gates as they were before approvals became Updates: decisions by signal, `by` taken on trust.
// Only runs started by an older rekey take this path (they replay as they were recorded, see
// `patched('approval-updates')` in approvals.ts); remove it once no such run is open.
import { condition, setHandler } from '@temporalio/workflow';
import type { DecisionKind, GateOutcome, Progress } from './messages';
import {
  type LegacyDecision,
  legacyApproveSignal,
  legacyExpediteSignal,
  legacyRejectSignal,
} from './messages';
import type { ProgressTracker } from './progress';

/** At most this many ignored decisions are kept; later ones are only counted. */
const MAX_IGNORED_DECISIONS = 20;

/** A signal's field as text; anything else (a client may send any JSON) as empty. */
const text = (v: unknown): string => (typeof v === 'string' ? v.slice(0, 200) : '');

function record(
  progress: Progress,
  decision: DecisionKind,
  input: LegacyDecision,
  accepted: boolean,
): boolean {
  if (!accepted && progress.decisions.filter((d) => !d.accepted).length >= MAX_IGNORED_DECISIONS) {
    progress.ignoredDecisions = (progress.ignoredDecisions ?? 0) + 1;
    return false;
  }
  progress.decisions.push({
    decision,
    by: text(input?.by),
    ...(typeof input?.comment === 'string' ? { comment: input.comment.slice(0, 500) } : {}),
    at: new Date(Date.now()).toISOString(),
    accepted,
  });
  return accepted;
}

export async function legacyApprovalGate(
  tracker: ProgressTracker,
  gate: { name: string; approvers: string[]; timeoutMs: number; summary: string },
): Promise<GateOutcome> {
  const now = Date.now();
  const progress = tracker.progress;
  progress.pendingGate = {
    name: gate.name,
    kind: 'approval',
    approvers: gate.approvers,
    since: new Date(now).toISOString(),
    timeoutAt: new Date(now + gate.timeoutMs).toISOString(),
    summary: gate.summary,
  };
  progress.state = 'waiting-approval';
  tracker.set(gate.name, 'running', `waiting for one of ${gate.approvers.join(', ')}`);

  let outcome: GateOutcome | undefined;
  const decide = (decision: 'approve' | 'reject') => (input: LegacyDecision) => {
    const by = text(input?.by);
    if (!record(progress, decision, input, gate.approvers.includes(by) && outcome === undefined)) return;
    outcome =
      decision === 'approve'
        ? { approved: true, by: [by] }
        : { approved: false, reason: 'rejected', by, comment: input.comment };
  };
  const description = 'Decision of a run started by an older rekey: {"by": NAME, "comment": optional}';
  setHandler(legacyApproveSignal, decide('approve'), { description });
  setHandler(legacyRejectSignal, decide('reject'), { description });

  const decided = await condition(() => outcome !== undefined, gate.timeoutMs);
  const result: GateOutcome = decided && outcome ? outcome : { approved: false, reason: 'timeout' };
  tracker.closeGate(gate.name, result);
  return result;
}

/** A rollover's wait, ended early by an `expedite` signal from an approver. Returns who did. */
export async function legacyExpeditableWait(
  tracker: ProgressTracker,
  approvers: string[],
  ms: number,
): Promise<{ by: string; comment?: string } | undefined> {
  let expedited: { by: string; comment?: string } | undefined;
  setHandler(
    legacyExpediteSignal,
    (s: LegacyDecision) => {
      const by = text(s?.by);
      if (!record(tracker.progress, 'expedite', s, approvers.includes(by) && !expedited)) return;
      expedited = { by, ...(typeof s.comment === 'string' && s.comment ? { comment: s.comment } : {}) };
    },
    { description: 'End the wait of a rollover started by an older rekey: {"by": NAME}' },
  );
  await condition(() => expedited !== undefined, ms);
  return expedited;
}
