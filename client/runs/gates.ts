// Decisions at a run's gate: the approve, reject and expedite Updates (signed when the gate says so),
// and the hint the CLI prints for them.
import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Config } from '../../config/schema';
import { typesThat } from '../../shared/workflow-types';
import { errorText } from '../../workflows/errors';
import type { DecisionKind, PendingGate } from '../../workflows/messages';
import {
  approveUpdate,
  type DecisionInput,
  type DecisionResult,
  expediteUpdate,
  legacyApproveSignal,
  legacyExpediteSignal,
  legacyRejectSignal,
  rejectUpdate,
} from '../../workflows/messages';
import { signAs } from '../sign';
import { progressOf } from './common';
import { RequestRefused } from './errors';

const UPDATES = { approve: approveUpdate, reject: rejectUpdate, expedite: expediteUpdate } as const;
const LEGACY_SIGNALS = {
  approve: legacyApproveSignal,
  reject: legacyRejectSignal,
  expedite: legacyExpediteSignal,
} as const;
/** The gate a just-started run opens, once its plan is done: undefined when the run ended or
 * moved on first (a refusal, a skipped gate), or `waitMs` passed. */
export async function openedGate(
  client: Client,
  workflowId: string,
  waitMs = 60_000,
): Promise<{ id: string; gate: PendingGate } | undefined> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    const { status } = await client.workflow.getHandle(workflowId).describe();
    if (status.name !== 'RUNNING') return undefined;
    const p = await progressOf(client, workflowId).catch(() => undefined);
    if (p?.pendingGate) return { id: workflowId, gate: p.pendingGate };
    if (p?.steps.some((s) => s.name === 'approval' && s.status !== 'pending' && s.status !== 'running'))
      return undefined;
    await new Promise((r) => setTimeout(r, 300));
  }
  return undefined;
}
/** Where a decision goes: the run itself, or the child it waits on (a promotion's hop). */
async function gateHolder(client: Client, workflowId: string, kind: DecisionKind) {
  const { status } = await client.workflow.getHandle(workflowId).describe();
  const what = kind === 'expedite' ? 'in a wait that can be expedited' : 'waiting for an approval';
  if (status.name !== 'RUNNING')
    throw new RequestRefused(`${workflowId} is not ${what}: it is ${status.name.toLowerCase()}`);
  const progress = await progressOf(client, workflowId);
  if (progress.pendingGate) return { id: workflowId, gate: progress.pendingGate };
  const child = progress.childWorkflowId
    ? await progressOf(client, progress.childWorkflowId).catch(() => undefined)
    : undefined;
  if (child?.pendingGate && progress.childWorkflowId)
    return { id: progress.childWorkflowId, gate: child.pendingGate };
  throw new RequestRefused(`${workflowId} is not ${what} (see rekey status ${workflowId})`);
}
/**
 * Decides the pending gate of `workflowId` (or of its running hop) as `by`: reads the plan's digest,
 * signs "<decision> <digest>" on signed gates (`keyFile`, else ssh-agent) and sends the Update. A
 * refusal by the run's validator (wrong approver, digest, signature, no gate) is a RequestRefused.
 */
export async function decideGate(
  client: Client,
  config: Config,
  workflowId: string,
  kind: DecisionKind,
  decision: {
    by: string;
    comment?: string;
    keyFile?: string;
    confirm?: (gate: PendingGate) => Promise<void>;
    /** The task queue rekey's workers poll: a run on another one is not rekey's to decide. */
    taskQueue?: string;
  },
): Promise<{ id: string; result?: DecisionResult; summary: string }> {
  const { id, gate } = await gateHolder(client, workflowId, kind);
  // Anyone who may start workflows can start one that shows a gate and its digest: an approver
  // signs only for a rekey run on rekey's task queue, whose activities check the signature.
  const run = await client.workflow.getHandle(id).describe();
  if (!typesThat('gates').has(run.type) || (decision.taskQueue && run.taskQueue !== decision.taskQueue))
    throw new RequestRefused(
      `${id} is a ${run.type} on task queue ${run.taskQueue}, not a rekey run${decision.taskQueue ? ` on ${decision.taskQueue}` : ''}: nothing was signed`,
    );
  if (gate.kind !== (kind === 'expedite' ? 'expedite' : 'approval'))
    throw new RequestRefused(
      `${id} is waiting for ${gate.kind === 'expedite' ? 'its wait to end' : 'an approval'}, not ${kind}`,
    );
  // The approver decides on the plan they read: `confirm` refuses a gate other than theirs.
  await decision.confirm?.(gate);
  if (!gate.digest) {
    // A run started by an older rekey: its gates take decisions by signal, by name.
    await client.workflow.getHandle(id).signal(LEGACY_SIGNALS[kind], {
      by: decision.by,
      ...(decision.comment ? { comment: decision.comment } : {}),
    });
    return { id, summary: gate.summary };
  }
  const input: DecisionInput = {
    by: decision.by,
    digest: gate.digest,
    ...(gate.mode === 'signed'
      ? { signature: signAs(config, decision.by, `${kind} ${gate.digest}`, decision.keyFile) }
      : {}),
    ...(decision.comment ? { comment: decision.comment } : {}),
  };
  try {
    const result = await client.workflow.getHandle(id).executeUpdate(UPDATES[kind], { args: [input] });
    return { id, result, summary: gate.summary };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError)
      throw new RequestRefused(`${id} refused the ${kind}: ${errorText(err)}`);
    throw err;
  }
}
