// Progress reporting and approval gates shared by every rekey workflow.
// Deterministic code only: no Node imports, time from the workflow clock.
import {
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { errorText } from './errors';
import type { TransferProgress } from './inputs';

export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface Step {
  name: string;
  status: StepStatus;
  detail?: string;
}

export interface Decision {
  signal: 'approve' | 'reject' | 'expedite';
  by: string;
  comment?: string;
  at: string;
  /** false when `by` is not a configured approver: recorded, then ignored. */
  accepted: boolean;
}

export interface PendingGate {
  name: string;
  approvers: string[];
  since: string;
  timeoutAt: string;
  /** What the approver is asked to allow, e.g. the plan summary. */
  summary: string;
}

export interface Progress {
  workflow: string;
  state: 'running' | 'waiting-approval' | 'completed' | 'failed';
  current?: string;
  steps: Step[];
  pendingGate?: PendingGate;
  decisions: Decision[];
  /** While a data copy runs: rsync's last report. */
  transfer?: TransferProgress;
  /** The child workflow doing the current step (a promotion's hop); its progress has the detail. */
  childWorkflowId?: string;
  /** Ignored decisions beyond the ones recorded in `decisions`. */
  ignoredDecisions?: number;
}

export interface GateSignal {
  by: string;
  comment?: string;
}

export const progressQuery = defineQuery<Progress>('progress');
export const approveSignal = defineSignal<[GateSignal]>('approve');
export const rejectSignal = defineSignal<[GateSignal]>('reject');

/** Tracks steps for the `progress` query. One per workflow run. */
export class ProgressTracker {
  readonly progress: Progress;

  constructor(stepNames: string[]) {
    this.progress = {
      workflow: workflowInfo().workflowType,
      state: 'running',
      steps: stepNames.map((name) => ({ name, status: 'pending' })),
      decisions: [],
    };
    setHandler(progressQuery, () => this.progress);
  }

  private step(name: string): Step {
    let step = this.progress.steps.find((s) => s.name === name);
    if (!step) {
      step = { name, status: 'pending' };
      this.progress.steps.push(step);
    }
    return step;
  }

  set(name: string, status: StepStatus, detail?: string): void {
    const step = this.step(name);
    step.status = status;
    if (detail !== undefined) step.detail = detail;
    if (status === 'running') this.progress.current = name;
  }

  /** Runs `fn` as step `name`, marking it running, then done or failed. */
  async run<T>(name: string, fn: () => Promise<T>, detail?: (r: T) => string): Promise<T> {
    this.set(name, 'running');
    try {
      const result = await fn();
      this.set(name, 'done', detail?.(result));
      return result;
    } catch (err) {
      this.set(name, 'failed', errorText(err));
      throw err;
    }
  }

  finish(state: 'completed' | 'failed'): void {
    this.progress.state = state;
    this.progress.current = undefined;
  }
}

export type GateOutcome =
  | { approved: true; by: string; comment?: string }
  | { approved: false; reason: 'rejected'; by: string; comment?: string }
  | { approved: false; reason: 'timeout' };

/** The failure that ends a run whose gate was not passed; `consequence` says what was left as is. */
export function notApproved(
  outcome: GateOutcome & { approved: false },
  consequence: string,
): ApplicationFailure {
  const why = outcome.reason === 'timeout' ? 'approval timed out' : `rejected by ${outcome.by}`;
  return ApplicationFailure.create({
    type: 'NotApproved',
    message: `${why}; ${consequence}`,
    nonRetryable: true,
  });
}

/** At most this many ignored decisions are kept, so that anyone able to signal cannot grow a
 * run's state without bound; later ones are only counted. */
const MAX_IGNORED_DECISIONS = 20;

/** Whether an ignored decision is still recorded (true) or only counted (false). */
export function recordIgnored(progress: Progress): boolean {
  if (progress.decisions.filter((d) => !d.accepted).length < MAX_IGNORED_DECISIONS) return true;
  progress.ignoredDecisions = (progress.ignoredDecisions ?? 0) + 1;
  return false;
}

/**
 * Waits for an `approve` or `reject` signal from one of `approvers`. Signals from anyone else are
 * recorded in the progress and ignored. Nothing else happens while waiting.
 */
export async function approvalGate(
  tracker: ProgressTracker,
  gate: { name: string; approvers: string[]; timeoutMs: number; summary: string },
): Promise<GateOutcome> {
  const now = Date.now();
  const progress = tracker.progress;
  progress.pendingGate = {
    name: gate.name,
    approvers: gate.approvers,
    since: new Date(now).toISOString(),
    timeoutAt: new Date(now + gate.timeoutMs).toISOString(),
    summary: gate.summary,
  };
  progress.state = 'waiting-approval';
  tracker.set(gate.name, 'running', `waiting for one of ${gate.approvers.join(', ')}`);

  let outcome: GateOutcome | undefined;
  const decide = (signal: Decision['signal']) => (input: GateSignal) => {
    const by = String(input?.by ?? '');
    const accepted = gate.approvers.includes(by) && outcome === undefined;
    if (!accepted && !recordIgnored(progress)) return;
    progress.decisions.push({
      signal,
      by,
      comment: input?.comment,
      at: new Date(Date.now()).toISOString(),
      accepted,
    });
    if (!accepted) return;
    outcome =
      signal === 'approve'
        ? { approved: true, by, comment: input.comment }
        : { approved: false, reason: 'rejected', by, comment: input.comment };
  };
  setHandler(approveSignal, decide('approve'));
  setHandler(rejectSignal, decide('reject'));

  const decided = await condition(() => outcome !== undefined, gate.timeoutMs);
  const result: GateOutcome = decided && outcome ? outcome : { approved: false, reason: 'timeout' };
  progress.pendingGate = undefined;
  progress.state = 'running';
  tracker.set(
    gate.name,
    result.approved ? 'done' : 'failed',
    result.approved
      ? `approved by ${result.by}`
      : result.reason === 'timeout'
        ? 'no decision before the timeout'
        : `rejected by ${result.by}`,
  );
  return result;
}
