// Named, non-retryable failures, one registry for activities and workflows (no Node imports: the
// workflow bundle uses it too). Anything else thrown from an activity is treated as transient
// (network, throttling, dropped SSH) and retried by the workflow's retry policy.
import { ApplicationFailure } from '@temporalio/common';

export const FailureType = {
  /** Input that can never work: malformed PEM, wrong curve, missing token, bad path. */
  BadInput: 'BadInput',
  /** The environments' keys break the configured sharing policy. */
  PolicyViolation: 'PolicyViolation',
  /** A re-signed token would carry (or carries) a different identity. */
  IdentityDrift: 'IdentityDrift',
  /** The SSH host key is unknown or differs from the pinned one. */
  HostKeyMismatch: 'HostKeyMismatch',
  /** The secret store refused our credentials (401/403). */
  StoreUnauthorized: 'StoreUnauthorized',
  /** A secret or version that must exist does not. */
  NotFound: 'NotFound',
  /** The service printed a failure marker (PUBLISH_FAILED, InvalidSignature, not authorized). */
  PublishFailed: 'PublishFailed',
  /** No success marker appeared within the configured bound. */
  MarkerTimeout: 'MarkerTimeout',
  /** A command on a host exited non-zero where that can't be fixed by retrying. */
  CommandFailed: 'CommandFailed',
  /** Another run holds one of the run's environments (or keyrings). */
  EnvironmentBusy: 'EnvironmentBusy',
  /** A gate was rejected or timed out. */
  NotApproved: 'NotApproved',
  /** Writing the new pair failed for a key group; the stores were put back. */
  StageFailed: 'StageFailed',
  /** A promotion could not put the destination's old data back or start it again. */
  RestoreFailed: 'RestoreFailed',
  /** A secret's consumers did not pass a verify probe with the new value. */
  VerifyFailed: 'VerifyFailed',
  /** A consistent promotion could not start its source again. */
  SourceNotStarted: 'SourceNotStarted',
  /** A notification sink never took an event (notify:); the run that emitted it is not affected. */
  NotDelivered: 'NotDelivered',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

export function fail(type: FailureType, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: true,
    details: details === undefined ? undefined : [details],
  });
}

export function isFailure(err: unknown, type: FailureType): boolean {
  return err instanceof ApplicationFailure && err.type === type;
}
