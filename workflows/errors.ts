// Failure messages for people, shared by the workflows and the CLI (no workflow APIs here).

import { ApplicationFailure, CancelledFailure, TemporalFailure } from '@temporalio/common';
import type { z } from 'zod';
import { formatIssues } from '../config/issues';
import { FailureType, fail } from '../shared/failures';

/**
 * The message that says what went wrong: the first ApplicationFailure (or innermost error) under
 * the wrappers Temporal adds ("Child Workflow execution failed", "Activity task failed").
 */
export function errorText(err: unknown): string {
  const e = innermost(err);
  return e instanceof Error ? e.message : String(e);
}

function innermost(err: unknown): unknown {
  let e = err;
  while (e instanceof Error && !(e instanceof ApplicationFailure) && e.cause instanceof Error) e = e.cause;
  return e;
}

/** `err` with `more` added to its message, keeping its failure type; a cancellation passes
 * through unchanged. */
export function withMore(err: unknown, more: string): unknown {
  const inner = innermost(err);
  if (err instanceof CancelledFailure || inner instanceof CancelledFailure) return err;
  return ApplicationFailure.create({
    type: (inner instanceof ApplicationFailure && inner.type) || 'Failed',
    message: `${errorText(err)}; ${more}`,
    nonRetryable: true,
    cause: err instanceof Error ? err : undefined,
  });
}

/**
 * Parses a workflow's input. Bad input (from the CLI, the Web UI or any client) fails the run at
 * once with a non-retryable `BadInput` naming the field; a ZodError thrown instead would fail the
 * workflow task, which Temporal retries forever while the run shows Running.
 */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  throw fail(FailureType.BadInput, `bad input: ${formatIssues(result.error.issues).join('; ')}`);
}

/**
 * What a run fails with: the innermost cause's message and type at the top, so the Web UI and
 * `temporal workflow describe` say `unknown environment "nope"`, not "Activity task failed".
 * Cancellation passes through unchanged.
 */
export function runFailure(err: unknown): unknown {
  if (!(err instanceof TemporalFailure) || err instanceof ApplicationFailure) return err;
  if (err instanceof CancelledFailure) return err;
  const inner = innermost(err);
  if (inner instanceof CancelledFailure) return err;
  return ApplicationFailure.create({
    type: (inner instanceof ApplicationFailure && inner.type) || 'Failed',
    message: errorText(err),
    nonRetryable: true,
    cause: err,
  });
}
