// Every message a rekey run takes or answers, defined once: workflows register handlers for
// these, the CLI and the tests send them through the same definitions (never by string name).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

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

// What the progress query answers: a run's steps, its pending gate and the decisions taken.
export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped' | 'cancelled';

export interface Step {
  name: string;
  status: StepStatus;
  detail?: string;
}

export type DecisionKind = 'approve' | 'reject' | 'expedite';

export interface Decision {
  decision: DecisionKind;
  by: string;
  comment?: string;
  at: string;
  /** Always true for Update decisions (a refused one is never recorded); signals from runs before
   * approvals were Updates: false when `by` was not an approver (recorded, then ignored). */
  accepted: boolean;
  /** The plan digest the decision named. */
  digest?: string;
  /** Signed gates: the SSHSIG the worker verified against the approver's key (the evidence). */
  signature?: string;
}

export interface PendingGate {
  name: string;
  kind: 'approval' | 'expedite';
  approvers: string[];
  since: string;
  timeoutAt: string;
  /** What the approver is asked to allow: the plan, as shown. */
  summary: string;
  /** SHA-256 over this run, this gate and `summary`: a decision must name it (and sign it). */
  digest?: string;
  mode?: 'signed' | 'named';
  /** Distinct approvals needed, and who has approved so far. */
  required?: number;
  approvedBy?: string[];
  /** The run's starter, who may not approve it (separateFromStarter). */
  starter?: string;
}

export type GateOutcome =
  | { approved: true; by: string[] }
  | { approved: false; reason: 'rejected'; by: string; comment?: string }
  | { approved: false; reason: 'timeout' };

/** A run waiting for a value a person issues elsewhere (generator: manual), and how to give it. */
export interface SupplyWait {
  secret: string;
  environment: string;
  /** The first location, where `rekey secret supply` writes the value, and the version it holds
   * now (or "none": a first value). */
  store: string;
  name: string;
  current: string;
  /** The tag the supplied version carries (see activities/secret-supply.ts). */
  phase: 'write' | 'init';
  issuer: string;
  until: string;
  command: string;
}

export interface Progress {
  workflow: string;
  state: 'running' | 'waiting-approval' | 'completed' | 'failed' | 'cancelled';
  current?: string;
  steps: Step[];
  pendingGate?: PendingGate;
  /** Waiting for a value issued elsewhere: `rekey secret supply` hands it over. */
  supply?: SupplyWait;
  /** The version of the first location the run took as that value, once it has. */
  suppliedVersion?: string;
  decisions: Decision[];
  /** The child workflow doing the current step (a promotion's hop); its progress has the detail. */
  childWorkflowId?: string;
  /** Ignored decisions beyond the ones recorded in `decisions` (signals of older runs). */
  ignoredDecisions?: number;
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
