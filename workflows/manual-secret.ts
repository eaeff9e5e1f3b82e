// A value a person issues (generator: manual), in a secret's rotation (workflows/rotate-secret.ts):
// the wait for it at the first location, and the approver's confirmation that the old one was
// revoked where it was issued.
import { CancellationScope, workflowInfo } from '@temporalio/workflow';
import type { RotateSecretActivities } from '../activities/rotate-secret';
import type { SecretPlan } from '../activities/secret-recipe';
import type { ManualPlan } from '../activities/secret-supply';
import { parseDuration } from '../config/duration';
import type { Approved } from '../shared/approval-proof';
import { supplyCommand } from '../shared/cli-hints';
import { FailureType, fail } from '../shared/failures';
import { serviceActivity, summarized } from './activity-options';
import { type Gates, notApproved } from './approvals';
import { errorText, withMore } from './errors';
import { emit } from './notify';
import type { ProgressTracker } from './progress';
import { settled, undoOptions } from './secret-steps';

const { maximumAttempts: _, ...unboundedRetry } = serviceActivity.retry ?? {};
const undoing = summarized<RotateSecretActivities>(undoOptions);

/** A manual recipe's new value: the run waits (up to the recipe's `within`) until the first
 * location holds one (rekey secret supply, or a write there by other means), telling who needs to
 * know; the Web UI and `rekey status` show where to issue it and how to hand it over. */
export async function supply(
  tracker: ProgressTracker,
  plan: SecretPlan,
  approved: Approved,
  phase: 'write' | 'init',
): Promise<string> {
  const manual = plan.manual as ManualPlan;
  const first = plan.locations[0] as SecretPlan['locations'][number];
  const location = `${first.store}:${first.name}`;
  const ms = parseDuration(manual.within);
  const until = Date.now() + ms;
  const untilText = new Date(until).toISOString();
  const command = supplyCommand(plan.secret, plan.env);
  tracker.progress.supply = {
    secret: plan.secret,
    environment: plan.env,
    store: first.store,
    name: first.name,
    current: first.current,
    phase,
    issuer: manual.issuer,
    until: untilText,
    command,
  };
  tracker.set('supply', 'running', `waiting for a new value issued at ${manual.issuer}: ${command}`);
  emit('secret.wanted', {
    supply: { issuer: manual.issuer, location, until: untilText, command },
  });
  // The wait is one activity: it outlasts `within` by a margin, and heartbeats all along; a cancel
  // waits for a write it may be making (a value taken from outside, written under the run's tags).
  const waiting = summarized<RotateSecretActivities>({
    ...serviceActivity,
    ...settled,
    startToCloseTimeout: ms + 5 * 60_000,
    // Bounded by `until`, not by attempts: a worker restarted during a week's wait is no failure.
    retry: unboundedRetry,
  });
  const target = { secret: plan.secret, env: plan.env, recipe: plan.recipe, ...approved };
  const runId = workflowInfo().runId;
  try {
    const version = await tracker.run(
      'supply',
      () =>
        waiting(`wait for a new value at ${location}`).awaitSuppliedValue({
          ...target,
          runId,
          index: 0,
          expect: first,
          phase,
          until,
        }),
      (v) => `version ${v} at ${location}`,
    );
    // `rekey secret supply` waits for this: the run took the version it wrote.
    tracker.progress.suppliedVersion = version;
    return version;
  } catch (err) {
    // A first value stays where it was handed over (init writes it anew).
    if (phase === 'init')
      throw withMore(
        err,
        `a value handed over to ${location} stays there (rekey secret init writes it anew); revoke an unused one at ${manual.issuer}`,
      );
    // A version of the run's at the first location (handed over, or taken from outside, as the
    // wait failed or was cancelled) goes: the location is on the plan's version again.
    let undoErr: unknown;
    await CancellationScope.nonCancellable(() =>
      undoing(`put back ${location}`)
        .restoreSecretLocation({
          ...target,
          runId,
          index: 0,
          expect: first,
          phase,
          firstPrevious: first.current,
        })
        .catch((e: unknown) => {
          undoErr = e;
        }),
    );
    if (undoErr)
      throw fail(
        FailureType.RestoreFailed,
        `${errorText(err)}; ${location} NOT put back (${errorText(undoErr)}); revoke a value handed over at ${manual.issuer}, if one was`,
      );
    throw withMore(
      err,
      `no version of the run's is left at ${location}; revoke a value handed over at ${manual.issuer}, if one was`,
    );
  } finally {
    tracker.progress.supply = undefined;
    tracker.show();
  }
}

/** A manual recipe's last step: an approver confirms (an Update at a gate) that the old value
 * was revoked where it was issued. Returns who did; a rejection or the timeout fails the run,
 * saying the new value is in place. */
export async function confirmRevoked(plan: SecretPlan, gates: Gates): Promise<string[]> {
  const manual = plan.manual as ManualPlan;
  const first = plan.locations[0] as SecretPlan['locations'][number];
  const outcome = await gates.approval({
    name: 'revoke',
    policy: manual.confirm,
    plan: [
      `revoke the old value of secret ${plan.secret} in ${plan.env} at ${manual.issuer}`,
      `  (the value ${first.store}:${first.name} held at version ${first.current}; every location now holds the new value, verified)`,
      '  confirm here once it is revoked there: the run records who confirmed',
    ].join('\n'),
    ...(plan.scope ? { scope: plan.scope } : {}),
  });
  if (!outcome.approved)
    throw notApproved(
      outcome,
      `the new value is in place and verified, but nobody confirmed the old one revoked at ${manual.issuer}: revoke it there`,
    );
  return outcome.by;
}
