// What the CLI's library refuses or cannot reach, as typed errors: the CLI maps each to its exit
// code (client/cli.ts), and any other caller (a script, a test, the quickstart) tells them apart
// without reading the message.
import { ApplicationFailure } from '@temporalio/common';

/** Refused before anything changed: bad input, a run already running, no worker polling, no such
 * gate, no key to sign with. The CLI exits 2. */
export class RequestRefused extends Error {
  override readonly name = 'RequestRefused';
}

/** The Temporal server did not answer. The CLI exits 1 (try again later; nothing was asked). */
export class TemporalUnreachable extends Error {
  override readonly name = 'TemporalUnreachable';
}

/** A run that ended at its first checks: bad input (a freeze, a config that differs), or its
 * environments held by another run. Exit 2, as a refusal before any change. */
export function refusedBeforeAnyChange(err: unknown): boolean {
  let cause: unknown = err;
  while (cause instanceof Error && cause.cause) cause = cause.cause;
  return cause instanceof ApplicationFailure && ['BadInput', 'EnvironmentBusy'].includes(cause.type ?? '');
}
