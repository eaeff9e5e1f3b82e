// Named, non-retryable failures. Anything else thrown from an activity is treated as transient
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
