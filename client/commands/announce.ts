// What a command that starts a run says once it started (rotate, secret rotate, rollover, promote).
import type { Client } from '@temporalio/client';
import { decideHint } from '../runs/common';
import { openedGate } from '../runs/gates';

/** What a command says once its run started: the run's id, the gate it waits at (announced once
 * the run has opened it: the worker's gate, with its plan's digest), and how to follow it. Returns
 * whether the command goes on to follow the run to its end (--wait, or a dry run). */
export async function announceStart(
  client: Client,
  workflowId: string,
  opts: { dryRun: boolean; gated: boolean; wait: boolean; waitingFor?: string },
): Promise<boolean> {
  console.log(`started ${workflowId}${opts.dryRun ? ' (dry run)' : ''}`);
  if (opts.gated && !opts.dryRun) {
    const opened = await openedGate(client, workflowId);
    console.log(
      opened
        ? `${opts.waitingFor ?? 'waiting for approval'}: ${decideHint(workflowId, opened.gate)}`
        : `not waiting at a gate yet: rekey status ${workflowId}`,
    );
  }
  if (opts.wait || opts.dryRun) return true;
  console.log(`follow it: rekey status ${workflowId}`);
  return false;
}
