// What a command that starts a run reports (rotate, secret rotate, rollover, promote): the run's
// id, the gate it waits at (once the run has opened it: the worker's gate, with its plan's
// digest), and with --wait or a dry run its result; as text, or with --json as one document
// (schemas/run.schema.json).
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Workflow, WorkflowResultType } from '@temporalio/common';
import { errorText } from '../../workflows/errors';
import type { PendingGate } from '../../workflows/messages';
import { printJson } from '../json';
import { decideHint, followRun } from '../runs/common';
import { refusedBeforeAnyChange } from '../runs/errors';
import { openedGate } from '../runs/gates';

export interface StartOptions {
  dryRun: boolean;
  /** The config gates the run: its gate is looked for and announced. */
  gated: boolean;
  wait: boolean;
  json: boolean;
  /** What the run waits for at its gate, in words ("waiting for approval before the ring changes"). */
  waitingFor?: string;
  /** What else the run will wait for, said when it starts (a value a person issues). */
  alsoWaits?: string;
}

/** The gate as a script reads it. */
const gateOf = (workflowId: string, g: PendingGate) => ({
  name: g.name,
  digest: g.digest,
  approvers: g.approvers,
  required: g.required ?? 1,
  timeoutAt: g.timeoutAt,
  command: decideHint(workflowId, g),
});

/**
 * Reports a started run and, with --wait or for a dry run, follows it to its result: `report`
 * words the result and says whether it is a success. Exit 0 started, or done and ok; 1 the run
 * failed (or, done, is not ok).
 */
export async function reportRun<W extends Workflow>(
  client: Client,
  handle: WorkflowHandle<W>,
  opts: StartOptions,
  report: (result: WorkflowResultType<W>) => { text: string; ok: boolean },
): Promise<number> {
  const { workflowId } = handle;
  const doc = (state: string, more: Record<string, unknown> = {}) =>
    printJson('run', { workflowId, dryRun: opts.dryRun, state, ...more });
  if (!opts.json) console.log(`started ${workflowId}${opts.dryRun ? ' (dry run)' : ''}`);
  if (!opts.json && !opts.dryRun && opts.alsoWaits) console.log(opts.alsoWaits);
  const opened = opts.gated && !opts.dryRun ? await openedGate(client, workflowId) : undefined;
  if (opts.gated && !opts.dryRun && !opts.json)
    console.log(
      opened
        ? `${opts.waitingFor ?? 'waiting for approval'}: ${decideHint(workflowId, opened.gate)}`
        : `not waiting at a gate yet: rekey status ${workflowId}`,
    );
  const gate = opened ? { gate: gateOf(workflowId, opened.gate) } : {};
  if (!opts.wait && !opts.dryRun) {
    if (opts.json) doc(opened ? 'waiting-approval' : 'started', gate);
    else console.log(`follow it: rekey status ${workflowId}`);
    return 0;
  }
  let result: WorkflowResultType<W>;
  try {
    result = await followRun(client, handle, { quiet: opts.json });
  } catch (err) {
    if (!opts.json) throw err;
    const refused = refusedBeforeAnyChange(err);
    doc('failed', { ...gate, failure: errorText(err), ...(refused ? { refused } : {}) });
    return refused ? 2 : 1;
  }
  const { text, ok } = report(result);
  if (opts.json) doc('completed', { ...gate, ok, result });
  else console.log(text);
  return ok ? 0 : 1;
}
