// Heartbeats for activities that wait on hosts: restarts, publishes, copies, marker waits. A
// worker that is killed stops heartbeating, so its attempt is retried within the heartbeat
// timeout instead of at the (long) start-to-close timeout.
import { asyncLocalStorage } from '@temporalio/activity';

/** Heartbeats when running as an activity; a no-op when called directly (CLI verify, bench). */
export function beat(details?: unknown): void {
  asyncLocalStorage.getStore()?.heartbeat(details);
}

/** Heartbeats every 5 s while `fn` runs, so that work of any length counts as alive. */
export async function heartbeating<T>(fn: () => Promise<T>, details?: () => unknown): Promise<T> {
  const ctx = asyncLocalStorage.getStore();
  const timer = ctx && setInterval(() => ctx.heartbeat(details?.()), 5000);
  try {
    return await fn();
  } finally {
    if (timer) clearInterval(timer);
  }
}
