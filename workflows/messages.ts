// Every message a rekey run takes or answers, defined once: workflows register handlers for
// these, the CLI and the tests send them through the same definitions (never by string name).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Progress } from './progress';

/** A decision at a gate, sent as an Update (from `rekey approve` or the Web UI's Update dialog). */
export interface DecisionInput {
  /** A configured approver. */
  by: string;
  /** The digest of the plan shown at this gate (progress query, or the run's current details). */
  digest: string;
  /** Signed gates: the output of `printf %s '<decision> <digest>' | ssh-keygen -Y sign -n
   * rekey-approval -f KEY` (armored, or only its base64 lines). */
  signature?: string;
  comment?: string;
}

export interface DecisionResult {
  gate: string;
  /** passed: the run goes on; rejected: it ends; waiting: more approvals are needed. */
  outcome: 'passed' | 'rejected' | 'waiting';
  approvedBy: string[];
  required: number;
}

export const progressQuery = defineQuery<Progress>('progress');
export const approveUpdate = defineUpdate<DecisionResult, [DecisionInput]>('approve');
export const rejectUpdate = defineUpdate<DecisionResult, [DecisionInput]>('reject');
export const expediteUpdate = defineUpdate<DecisionResult, [DecisionInput]>('expedite');

/** Decisions as signals: only runs started before approvals became Updates listen to them. */
export interface LegacyDecision {
  by: string;
  comment?: string;
}
export const legacyApproveSignal = defineSignal<[LegacyDecision]>('approve');
export const legacyRejectSignal = defineSignal<[LegacyDecision]>('reject');
export const legacyExpediteSignal = defineSignal<[LegacyDecision]>('expedite');
