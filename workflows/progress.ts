// What a run reports while it runs: its steps for the `progress` query, and the same as markdown
// for the Web UI's "current details" (with the pending gate's plan and how to decide it).
// Deterministic code only: no Node imports, time from the workflow clock.
import { isCancellation, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import { errorText } from './errors';
import {
  type GateOutcome,
  type PendingGate,
  type Progress,
  progressQuery,
  type Step,
  type StepStatus,
} from './messages';
import { trackedBy } from './notify';
import { stepDuration } from './run-metrics';

/** Tracks steps for the `progress` query and the Web UI. One per workflow run. */
export class ProgressTracker {
  readonly progress: Progress;

  /** `title` heads the Web UI's current details, e.g. "rotate JWT keys of prod, test". */
  constructor(
    stepNames: string[],
    private heading = workflowInfo().workflowType,
  ) {
    this.progress = {
      workflow: workflowInfo().workflowType,
      state: 'running',
      steps: stepNames.map((name) => ({ name, status: 'pending' })),
      decisions: [],
    };
    setHandler(progressQuery, () => this.progress, {
      description:
        'Steps of this run with their state, the pending gate (plan, digest, approvers) and the decisions so far.',
    });
    trackedBy(this);
    this.show();
  }

  get title(): string {
    return this.heading;
  }

  retitle(title: string): void {
    this.heading = title;
    this.show();
  }

  private step(name: string): Step {
    let step = this.progress.steps.find((s) => s.name === name);
    if (!step) {
      step = { name, status: 'pending' };
      this.progress.steps.push(step);
    }
    return step;
  }

  /** Adds step `name` just before `before` (a step only some runs have), if it is not there. */
  insertBefore(name: string, before: string): void {
    if (this.progress.steps.some((s) => s.name === name)) return;
    const at = this.progress.steps.findIndex((s) => s.name === before);
    this.progress.steps.splice(at < 0 ? this.progress.steps.length : at, 0, { name, status: 'pending' });
  }

  set(name: string, status: StepStatus, detail?: string): void {
    const step = this.step(name);
    step.status = status;
    if (detail !== undefined) step.detail = detail;
    if (status === 'running') this.progress.current = name;
    this.show();
  }

  /** Runs `fn` as step `name`, marking it running, then done or failed. */
  async run<T>(name: string, fn: () => Promise<T>, detail?: (r: T) => string): Promise<T> {
    this.set(name, 'running');
    const started = Date.now();
    const took = (status: string) => stepDuration(name, (Date.now() - started) / 1000, status);
    try {
      const result = await fn();
      this.set(name, 'done', detail?.(result));
      took('done');
      return result;
    } catch (err) {
      if (isCancellation(err)) this.set(name, 'cancelled');
      else this.set(name, 'failed', errorText(err));
      took(isCancellation(err) ? 'cancelled' : 'failed');
      throw err;
    }
  }

  /** Marks every step not yet reached as skipped (a dry run stops after its plan). */
  skipRest(why: string): void {
    for (const s of this.progress.steps)
      if (s.status === 'pending') Object.assign(s, { status: 'skipped', detail: why });
    this.show();
  }

  /** The pending gate is over; with an outcome, its step says how it ended. */
  closeGate(name: string, outcome?: GateOutcome): void {
    const since = this.progress.pendingGate?.since;
    if (since)
      stepDuration(
        name,
        (Date.now() - Date.parse(since)) / 1000,
        !outcome ? 'done' : outcome.approved ? 'done' : outcome.reason,
      );
    this.progress.pendingGate = undefined;
    this.progress.state = 'running';
    if (!outcome) {
      this.show();
      return;
    }
    this.set(
      name,
      outcome.approved ? 'done' : 'failed',
      outcome.approved
        ? `approved by ${outcome.by.join(', ')}`
        : outcome.reason === 'timeout'
          ? 'no decision before the timeout'
          : `rejected by ${outcome.by}`,
    );
  }

  /** The run is over: a gate still open is closed, and a step still running reads as the run
   * ended (a cancelled run's gate step: cancelled, not "running: waiting"). */
  finish(state: 'completed' | 'failed' | 'cancelled'): void {
    this.progress.state = state;
    this.progress.current = undefined;
    this.progress.pendingGate = undefined;
    this.progress.supply = undefined;
    for (const s of this.progress.steps)
      if (s.status === 'running') s.status = state === 'cancelled' ? 'cancelled' : 'failed';
    this.show();
  }

  /** `finish` for a run that ended with `err`: cancelled or failed. */
  fail(err: unknown): void {
    this.finish(isCancellation(err) ? 'cancelled' : 'failed');
  }

  /** Publishes the progress as markdown to the Web UI (current details). */
  show(): void {
    setCurrentDetails(progressMarkdown(this.title, this.progress));
  }
}

const ICON: Record<StepStatus, string> = {
  pending: '·',
  running: '▶',
  done: '✓',
  failed: '✗',
  skipped: '–',
  cancelled: '⊘',
};

/** The command that decides the pending gate `g` of this run. */
export function gateCommand(g: PendingGate): string {
  const verb = g.kind === 'expedite' ? 'expedite' : 'approve';
  return `rekey ${verb} ${workflowInfo().workflowId} --by NAME${g.digest ? ` --digest ${g.digest.slice(0, 23)}` : ''}`;
}

/** The run as the Web UI shows it: where it is, the gate waiting for a decision, the steps. */
export function progressMarkdown(title: string, p: Progress): string {
  const lines = [`### ${title}`, '', `**${p.state}**${p.current ? ` at step *${p.current}*` : ''}`, ''];
  if (p.childWorkflowId)
    lines.push(
      `The current step runs as child workflow \`${p.childWorkflowId}\`: its page shows the plan and takes the decision.`,
      '',
    );
  const g = p.pendingGate;
  if (g) {
    const verb = g.kind === 'expedite' ? 'expedite' : 'approve';
    const signed = g.mode === 'signed';
    // A fence longer than any run of backticks in the plan (file names come from a host).
    const fence = '`'.repeat(Math.max(3, ...(g.summary.match(/`+/g) ?? []).map((r) => r.length + 1)));
    lines.push(
      `#### ${g.kind === 'expedite' ? 'Waiting; may be ended early' : 'Waiting for approval'}: ${g.name}`,
      '',
      fence,
      g.summary,
      fence,
      '',
      `- plan digest: \`${g.digest}\``,
      `- approvers: ${g.approvers.join(', ')} (${signed ? 'signed: each decision carries an SSH signature by the approver’s configured key' : 'named: taken on trust'})`,
      `- needed: ${g.required ?? 1} distinct${g.approvedBy?.length ? `; so far ${g.approvedBy.join(', ')}` : ''}${g.starter ? `; not ${g.starter} (started this run)` : ''}`,
      `- until: ${g.timeoutAt}`,
      '',
      `From the CLI: \`${gateCommand(g)}\`${signed ? ' (signs with ssh-agent, or `--key FILE`)' : ''}`,
      '',
      `From this page: Update \`${verb}\` with`,
      '```json',
      JSON.stringify(
        {
          by: 'NAME',
          digest: g.digest,
          ...(signed ? { signature: 'SIGNATURE' } : {}),
          comment: 'optional',
        },
        null,
        2,
      ),
      '```',
      ...(signed
        ? [
            `where SIGNATURE is the output of \`printf %s '${verb} ${g.digest}' | ssh-keygen -Y sign -n rekey-approval -f ~/.ssh/id_ed25519\` (its base64 lines are enough).`,
          ]
        : []),
      ...(g.kind === 'approval' ? ['', `To refuse: Update \`reject\` with the same fields.`] : []),
      '',
    );
  }
  const s = p.supply;
  if (s)
    lines.push(
      `#### Waiting for a new value: ${s.secret} in ${s.environment}`,
      '',
      `1. Issue a new value at **${s.issuer}**.`,
      `2. On your machine: \`${s.command}\` reads it from standard input and writes it to ${s.store}:${s.name} (the value does not pass through Temporal), or write a new version there yourself.`,
      '',
      `- until: ${s.until}`,
      '',
    );
  lines.push('| step | state | detail |', '|---|---|---|');
  for (const s of p.steps)
    lines.push(
      `| ${s.name} | ${ICON[s.status]} ${s.status} | ${(s.detail ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`,
    );
  if (p.decisions.length > 0) {
    lines.push('', '#### Decisions');
    for (const d of p.decisions)
      lines.push(
        `- ${d.decision} by ${d.by} at ${d.at}${d.accepted ? '' : ' (ignored: not an approver)'}${d.signature ? ' (signed)' : ''}${d.comment ? `: ${d.comment.replace(/\s+/g, ' ')}` : ''}`,
      );
  }
  return lines.join('\n');
}
