// Activity options shared by the workflows: one retry policy, two kinds of activity.
import {
  type ActivityInterfaceFor,
  type ActivityOptions,
  type LocalActivityOptions,
  proxyActivities,
  type RetryPolicy,
} from '@temporalio/workflow';

/** Transient failures (network, throttling, a dropped SSH session) back off up to 30s; named
 * ApplicationFailures are non-retryable and end the attempt at once. */
export const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 5,
};

/** Store and host reads/writes: seconds each; a lost worker's attempt is retried after 30s. */
export const shortActivity: ActivityOptions = { startToCloseTimeout: '30s', retry };

/** Key pair reads and writes in the stores: a vault at its service limit answers 429 for as long
 * as a fleet keeps it busy, so more attempts, each no sooner than the vault's Retry-After (the
 * store's failure carries it). */
export const vaultActivity: ActivityOptions = {
  // The SDK's own retries of a 429 each wait its Retry-After (up to 10 s): room for four.
  startToCloseTimeout: '2m',
  retry: { ...retry, maximumAttempts: 10 },
};

/** Reads that change nothing (a recipe's consumers, a plan), run by the worker that runs the
 * workflow task: no round trip through the server's activity queue; a lost worker's read is
 * simply made again by the next one. */
export const localRead: LocalActivityOptions = { startToCloseTimeout: '30s', retry };

/** Restarts, roll-outs and marker waits: they heartbeat, so a killed worker's attempt is retried
 * within seconds rather than at the start-to-close timeout. */
export const serviceActivity: ActivityOptions = {
  startToCloseTimeout: '10m',
  heartbeatTimeout: '20s',
  retry: { ...retry, maximumAttempts: 3 },
};

/** Proxies whose calls carry `summary`: the Web UI's event history then reads as the runbook
 * ("stop test", "copy prod -> test") instead of activity type names. */
export function summarized<A>(options: ActivityOptions): (summary: string) => ActivityInterfaceFor<A> {
  return (summary) => proxyActivities<A>({ ...options, summary });
}
