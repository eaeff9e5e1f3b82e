// Failure messages for people, shared by the workflows and the CLI (no workflow APIs here).
import { ApplicationFailure } from '@temporalio/common';

/**
 * The message that says what went wrong: the first ApplicationFailure (or innermost error) under
 * the wrappers Temporal adds ("Child Workflow execution failed", "Activity task failed").
 */
export function errorText(err: unknown): string {
  let e = err;
  while (e instanceof Error && !(e instanceof ApplicationFailure) && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
