// The workflow run that scheduled the current activity, as the server told the worker (never
// from the activity's input): the run whose locks an activity takes and releases, and whose
// approval and locks the guard checks (worker/guard.ts).
import { Context } from '@temporalio/activity';

export interface SchedulingRun {
  workflowId: string;
  runId: string;
  workflowType: string;
}

/** undefined for an activity that no workflow run scheduled (no run identity): such an activity
 * holds no lock and no approval. */
export function schedulingRun(): SchedulingRun | undefined {
  const { workflowExecution: run, workflowType } = Context.current().info;
  return run?.workflowId && run.runId
    ? { workflowId: run.workflowId, runId: run.runId, workflowType: workflowType ?? '(unknown type)' }
    : undefined;
}
