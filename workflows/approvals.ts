// Gates decided by Workflow Updates. A decision is checked by the Update's validator before
// anything is recorded: a gate must be open, `by` a configured approver who has not decided at
// this gate yet and who did not start the run (where so configured), the decision must name the
// digest of the plan shown at this gate, and on signed gates carry the approver's SSH signature
// over "<decision> <digest>", verified here against the configured key (never the client's word).
// A refused decision leaves no trace in the history; an accepted one keeps its signature.

import { type ApplicationFailure, condition, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { type ApprovalProof, type Approved, type GatePolicy, gateDigest } from '../shared/approval-proof';
import { plainFailure } from '../shared/failure-converter';
import { FailureType, fail } from '../shared/failures';
import { APPROVAL_NAMESPACE, parseSshPublicKey, verifySshSignature } from '../shared/sshsig';
import { legacyApprovalGate, legacyExpeditableWait } from './legacy-gate';
import type { DecisionKind, GateOutcome, PendingGate } from './messages';
import {
  approveUpdate,
  type DecisionInput,
  type DecisionResult,
  expediteUpdate,
  rejectUpdate,
} from './messages';
import { emit } from './notify';
import { gateCommand, type ProgressTracker } from './progress';
import { REQUEST_WINDOW_MS, type RequestedBy, requestMessage } from './requests';
import { startingSchedule } from './scheduled';

/** The longest comment a decision may carry (it is shown in the progress and the Web UI). */
const MAX_COMMENT = 500;

/** The failure that ends a run whose gate was not passed; `consequence` says what was left as is. */
export function notApproved(
  outcome: GateOutcome & { approved: false },
  consequence: string,
): ApplicationFailure {
  const why = outcome.reason === 'timeout' ? 'approval timed out' : `rejected by ${outcome.by}`;
  return fail(FailureType.NotApproved, `${why}; ${consequence}`);
}

interface OpenGate {
  kind: 'approval' | 'expedite';
  name: string;
  /** Its place among the run's gates, and the plan shown: with the run, what the digest binds. */
  ordinal: number;
  plan: string;
  digest: string;
  /** The accepted approvals, each with its signature on signed gates. */
  approvals: { by: string; signature?: string }[];
  policy: GatePolicy;
  starter?: string;
  approvedBy: string[];
  decided: boolean;
  outcome?: GateOutcome;
}

const DESCRIPTIONS: Record<DecisionKind, string> = {
  approve:
    'Approve the pending gate. Input: {"by": NAME, "digest": the plan digest shown in the current details, "signature": on signed gates, the output of ssh-keygen -Y sign -n rekey-approval over "approve <digest>", "comment": optional}.',
  reject:
    'Refuse the pending gate: the run ends and changes nothing more. Same input as approve (sign "reject <digest>").',
  expedite:
    'End a rollover’s wait early: the old key is removed next. Same input as approve (sign "expedite <digest>"); only while the wait runs.',
};

/** The gates of one run. Create it at the start of the workflow, before anything can wait. */
export class Gates {
  /** Runs recorded before approvals became Updates decide their gates by signal. */
  private readonly legacy = !patched('approval-updates');
  private open?: OpenGate;
  private opened = 0;
  private passed?: ApprovalProof;

  /** `request`: what the starter asked for: a workflow type and its raw input, whose
   * `requestedBy` names (and on signed gates signs) the starter. */
  constructor(
    private readonly tracker: ProgressTracker,
    private readonly request?: { type: string; input: Record<string, unknown>; startedAt?: number },
  ) {
    if (this.legacy) return;
    for (const [update, kind] of [
      [approveUpdate, 'approve'],
      [rejectUpdate, 'reject'],
      [expediteUpdate, 'expedite'],
    ] as const) {
      setHandler(update, (d) => this.decide(kind, d), {
        // A refusal goes back to the sender as it is (shared/failure-converter.ts).
        validator: (d) => {
          try {
            this.validate(kind, d);
          } catch (err) {
            throw plainFailure(err);
          }
        },
        description: DESCRIPTIONS[kind],
      });
    }
  }

  /**
   * The gate's policy, from a plan or gate activity. Results recorded before activities returned
   * one (runs of an older rekey) mean one named approver of those listed; a new run given none (an
   * older worker answered its activity during an upgrade) fails rather than decide by weaker rules.
   */
  policyOf(policy: GatePolicy | undefined, listed: { approvers: string[]; timeoutMs: number }): GatePolicy {
    if (policy) return policy;
    if (this.legacy)
      return {
        mode: 'named',
        approvers: Object.fromEntries(listed.approvers.map((a) => [a, null])),
        required: 1,
        separateFromStarter: false,
        timeoutMs: listed.timeoutMs,
      };
    throw fail(
      FailureType.PolicyViolation,
      'the gate has no approval policy (an older worker planned this run); nothing was changed: start it again',
    );
  }

  /** What the steps that change an environment are given once the gate has passed: its approvals
   * and plan, so that each checks them itself (shared/approval-proof.ts); nothing before. */
  get approved(): Approved {
    return this.passed ? { approval: this.passed } : {};
  }

  /**
   * Waits for the gate's quorum of approvals, a rejection, or the timeout. `scope`: what the plan
   * was made from (fingerprints of its environments' configuration), handed on with the approvals.
   */
  async approval(gate: {
    name: string;
    policy: GatePolicy;
    plan: string;
    scope?: Record<string, string>;
  }): Promise<GateOutcome> {
    if (this.legacy)
      return legacyApprovalGate(this.tracker, {
        name: gate.name,
        approvers: Object.keys(gate.policy.approvers),
        timeoutMs: gate.policy.timeoutMs,
        summary: gate.plan,
      });
    const open = this.openGate(
      'approval',
      gate.name,
      gate.policy,
      gate.plan,
      gate.policy.timeoutMs,
      gate.scope,
    );
    this.tracker.progress.state = 'waiting-approval';
    this.tracker.set(
      gate.name,
      'running',
      `waiting for ${gate.policy.required} of ${Object.keys(gate.policy.approvers).join(', ')}`,
    );
    const decided = await condition(() => open.outcome !== undefined, gate.policy.timeoutMs, {
      summary: `${gate.name}: waiting for ${gate.policy.required} approval(s)`,
    });
    const outcome: GateOutcome =
      decided && open.outcome ? open.outcome : { approved: false, reason: 'timeout' };
    this.open = undefined;
    if (outcome.approved)
      this.passed = {
        gate: open.name,
        ordinal: open.ordinal,
        plan: open.plan,
        scope: gate.scope ?? {},
        approvals: open.approvals,
      };
    this.tracker.closeGate(gate.name, outcome);
    return outcome;
  }

  /** A durable wait of `ms` that approvers may end early. Returns who ended it, if anyone. */
  async expeditableWait(wait: {
    name: string;
    policy: GatePolicy;
    plan: string;
    ms: number;
  }): Promise<{ by: string; comment?: string } | undefined> {
    if (this.legacy) return legacyExpeditableWait(this.tracker, Object.keys(wait.policy.approvers), wait.ms);
    const open = this.openGate('expedite', wait.name, wait.policy, wait.plan, wait.ms);
    await condition(() => open.outcome !== undefined, wait.ms, { summary: `${wait.name}: may be expedited` });
    this.open = undefined;
    this.tracker.closeGate(wait.name);
    if (!open.outcome?.approved) return undefined;
    const last = this.tracker.progress.decisions.at(-1);
    return { by: open.outcome.by.join(', '), ...(last?.comment ? { comment: last.comment } : {}) };
  }

  private openGate(
    kind: OpenGate['kind'],
    name: string,
    policy: GatePolicy,
    plan: string,
    ms: number,
    /** What the plan was made from: signed with it (see gateDigest). */
    scope: Record<string, string> = {},
  ): OpenGate {
    const ordinal = ++this.opened;
    const digest = gateDigest(workflowInfo(), name, ordinal, plan, scope);
    const starter = policy.separateFromStarter ? this.starter(policy) : undefined;
    this.open = {
      kind,
      name,
      ordinal,
      plan,
      digest,
      approvals: [],
      policy,
      starter,
      approvedBy: [],
      decided: false,
    };
    const now = Date.now();
    const pending: PendingGate = {
      name,
      kind,
      approvers: Object.keys(policy.approvers),
      since: new Date(now).toISOString(),
      timeoutAt: new Date(now + ms).toISOString(),
      summary: plan,
      digest,
      mode: policy.mode,
      required: policy.required,
      approvedBy: [],
      ...(starter ? { starter } : {}),
    };
    this.tracker.progress.pendingGate = pending;
    this.tracker.show();
    emit('gate.opened', {
      gate: {
        name,
        kind,
        plan,
        digest,
        approvers: pending.approvers,
        required: policy.required,
        signed: policy.mode === 'signed',
        timeoutAt: pending.timeoutAt,
        command: gateCommand(pending),
      },
    });
    return this.open;
  }

  /** The workflow id a request for this run names: a hop's request is its promotion's. */
  private requestedRun(): string {
    const info = workflowInfo();
    return this.request?.type === 'promote' ? (info.parent?.workflowId ?? info.workflowId) : info.workflowId;
  }

  /**
   * The run's starter, for a gate that must be passed by someone else. Fails the run (nothing has
   * changed yet: gates come before changes) when the input names none or, on signed gates, when
   * the request's signature does not verify.
   */
  private starter(policy: GatePolicy): string {
    const req = this.request?.input.requestedBy as RequestedBy | undefined;
    if (!this.request || !req?.name)
      throw fail(
        FailureType.BadInput,
        'this run needs an approver other than its starter, but its input names no starter (requestedBy): start it with rekey and --as NAME; nothing was changed',
      );
    if (policy.mode === 'named') return req.name;
    const key = Object.hasOwn(policy.approvers, req.name) ? policy.approvers[req.name] : undefined;
    if (!key || !req.signature)
      throw fail(
        FailureType.BadInput,
        `requestedBy: ${key ? `${req.name} did not sign the request` : `${req.name} is not a configured approver with a key`}; nothing was changed`,
      );
    // The binding: a request signed for this run's start, or for the schedule that started it
    // (the server sets TemporalScheduledById; a client cannot).
    if (req.schedule !== undefined) {
      const by = startingSchedule();
      if (by !== req.schedule)
        throw fail(
          FailureType.BadInput,
          `requestedBy: signed for schedule ${req.schedule}, but ${by ? `schedule ${by}` : 'no schedule'} started this run; nothing was changed`,
        );
    } else {
      // A request that names its run (every rekey client's since it could) is good for that run
      // only; the signature covers the name, so it cannot be taken off.
      const run = this.requestedRun();
      if (req.workflowId !== undefined && req.workflowId !== run)
        throw fail(
          FailureType.BadInput,
          `requestedBy: ${req.name} signed a request for ${req.workflowId}, not for ${run}; nothing was changed`,
        );
      // The run the request started: a hop's is its promotion, which may have begun hours ago.
      const started = this.request.startedAt ?? workflowInfo().startTime.getTime();
      const at = Date.parse(req.at ?? '');
      if (!(Math.abs(at - started) <= REQUEST_WINDOW_MS))
        throw fail(
          FailureType.BadInput,
          `requestedBy: the request was signed at ${req.at ?? '(no time)'}, the run started at ${new Date(started).toISOString()}: a signed request is good for ${REQUEST_WINDOW_MS / 60_000} minutes; nothing was changed`,
        );
    }
    try {
      verifySshSignature(
        req.signature,
        parseSshPublicKey(key),
        APPROVAL_NAMESPACE,
        requestMessage(this.request.type, this.request.input, req),
      );
    } catch (err) {
      throw fail(
        FailureType.BadInput,
        `requestedBy: the signature of ${req.name} does not verify: ${(err as Error).message}; nothing was changed`,
      );
    }
    return req.name;
  }

  /** Throws (refusing the Update, nothing recorded) unless `d` may decide the open gate. */
  private validate(kind: DecisionKind, d: DecisionInput): void {
    const gate = this.open;
    const wanted = kind === 'expedite' ? 'expedite' : 'approval';
    if (!gate || gate.kind !== wanted || gate.decided) {
      const at = this.tracker.progress.current;
      throw new Error(
        `${workflowInfo().workflowId}: no ${kind === 'expedite' ? 'wait to expedite' : 'approval pending'}${at ? ` (the run is at step "${at}")` : ''}: nothing was recorded`,
      );
    }
    if (typeof d?.by !== 'string' || typeof d?.digest !== 'string')
      throw new Error('a decision needs "by" (an approver) and "digest" (the plan digest shown at the gate)');
    if (d.signature !== undefined && typeof d.signature !== 'string')
      throw new Error('"signature" must be text');
    if (d.comment !== undefined && (typeof d.comment !== 'string' || d.comment.length > MAX_COMMENT))
      throw new Error(`"comment" must be text of at most ${MAX_COMMENT} characters`);
    const approvers = Object.keys(gate.policy.approvers);
    if (!approvers.includes(d.by))
      throw new Error(`"${d.by}" is not an approver (approvers: ${approvers.join(', ')})`);
    if (gate.approvedBy.includes(d.by)) throw new Error(`${d.by} has already approved at this gate`);
    if (gate.starter === d.by)
      throw new Error(`${d.by} started this run and may not approve it (separateFromStarter)`);
    if (d.digest !== gate.digest)
      throw new Error(
        `the decision names plan ${d.digest} but the plan at this gate is ${gate.digest}: read it (rekey status) and decide on that one`,
      );
    if (gate.policy.mode === 'signed') {
      const key = Object.hasOwn(gate.policy.approvers, d.by) ? gate.policy.approvers[d.by] : undefined;
      if (!d.signature)
        throw new Error(`this gate needs ${d.by}'s SSH signature over "${kind} ${gate.digest}"`);
      if (!key) throw new Error(`${d.by} has no configured key`);
      try {
        verifySshSignature(d.signature, parseSshPublicKey(key), APPROVAL_NAMESPACE, `${kind} ${gate.digest}`);
      } catch (err) {
        throw new Error(`${d.by}'s signature is refused: ${(err as Error).message}`);
      }
    }
  }

  private decide(kind: DecisionKind, d: DecisionInput): DecisionResult {
    const gate = this.open;
    // The validator ran in this same activation: the gate is open and the decision valid.
    if (!gate) throw new Error('no gate is open');
    this.tracker.progress.decisions.push({
      decision: kind,
      by: d.by,
      ...(d.comment ? { comment: d.comment } : {}),
      at: new Date(Date.now()).toISOString(),
      accepted: true,
      digest: d.digest,
      ...(gate.policy.mode === 'signed' && d.signature ? { signature: d.signature.trim() } : {}),
    });
    if (kind === 'reject') {
      gate.decided = true;
      gate.outcome = {
        approved: false,
        reason: 'rejected',
        by: d.by,
        ...(d.comment ? { comment: d.comment } : {}),
      };
    } else {
      gate.approvedBy.push(d.by);
      gate.approvals.push({
        by: d.by,
        ...(gate.policy.mode === 'signed' && d.signature ? { signature: d.signature.trim() } : {}),
      });
      if (this.tracker.progress.pendingGate)
        this.tracker.progress.pendingGate.approvedBy = [...gate.approvedBy];
      if (gate.approvedBy.length >= gate.policy.required) {
        gate.decided = true;
        gate.outcome = { approved: true, by: [...gate.approvedBy] };
      }
    }
    this.tracker.show();
    const outcome = gate.outcome ? (gate.outcome.approved ? 'passed' : 'rejected') : 'waiting';
    emit('gate.decided', {
      decision: { decision: kind, by: d.by, ...(d.comment ? { comment: d.comment } : {}), outcome },
    });
    return {
      gate: gate.name,
      outcome,
      approvedBy: [...gate.approvedBy],
      required: gate.policy.required,
    };
  }
}
