// Rotation of one secret recipe in one environment (`replace`): plan, the gate where the config
// asks for one, a new value written to every location in order, the consumers restarted together,
// every probe passed, then the old value revoked. A failure (or a cancel) before the probes pass
// puts every location back, in the reverse order, and restarts the consumers on the old value.
import {
  ActivityCancellationType,
  CancellationScope,
  proxyActivities,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { Phase, SecretActivities, SecretPlan } from '../activities/secret-rotation';
import { parseDuration } from '../config/duration';
import { FailureType, fail } from '../shared/failures';
import { serviceActivity, shortActivity, summarized } from './activity-options';
import { Gates, notApproved } from './approvals';
import { withLocks } from './environment-lock';
import { errorText, parseInput, runFailure, withMore } from './errors';
import { RotateSecretInput } from './inputs';
import { ProgressTracker } from './progress';

// A cancel waits for a write or a restart in flight to end before it puts things back.
const settled = { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
const secrets = proxyActivities<SecretActivities>(shortActivity);
// Writes, restarts and revokes heartbeat: a step that takes long is alive, a lost worker's is
// retried within seconds, and no second attempt runs beside a first that is still going.
const writing = summarized<SecretActivities>({ ...serviceActivity, ...settled });
const consumers = summarized<SecretActivities>({ ...serviceActivity, ...settled });
const probing = summarized<SecretActivities>(serviceActivity);
// The undo outlasts a store's or a host's bad half hour; a refusal (non-retryable) ends it at once.
const undoing = summarized<SecretActivities>({
  ...serviceActivity,
  retry: { ...serviceActivity.retry, maximumInterval: '1m', maximumAttempts: 40 },
});

export interface RotateSecretResult {
  dryRun: boolean;
  plan: SecretPlan;
  /** The version written at each location, in the plan's order. */
  written: string[];
  revoked: boolean;
}

export async function rotateSecret(rawInput: RotateSecretInput): Promise<RotateSecretResult> {
  const input = parseInput(RotateSecretInput, rawInput);
  const target = { secret: input.secret, env: input.environment };
  const tracker = new ProgressTracker(
    ['plan', 'approval', 'write', 'restart', 'verify', 'revoke'],
    `${input.dryRun ? 'plan a rotation of' : 'rotate'} secret ${input.secret} in ${input.environment}`,
  );
  const gates = new Gates(tracker, { type: 'rotateSecret', input: rawInput as Record<string, unknown> });
  const run = async (): Promise<RotateSecretResult> => {
    const plan = await tracker.run(
      'plan',
      () => secrets.planSecretRotation(target),
      (p) => p.text.join('\n'),
    );
    if (input.dryRun) {
      tracker.skipRest('dry run');
      tracker.finish('completed');
      return { dryRun: true, plan, written: [], revoked: false };
    }
    if (plan.approvalRequired) {
      const outcome = await gates.approval({
        name: 'approval',
        policy: gates.policyOf(plan.approval, { approvers: [], timeoutMs: 0 }),
        plan: plan.text.join('\n'),
      });
      if (!outcome.approved) throw notApproved(outcome, 'nothing was changed');
    } else tracker.set('approval', 'skipped', `${input.environment} requires no approval`);
    const written = await replace(tracker, plan);
    if (plan.keyring) {
      // What the old keys sealed still opens while they stay; then they go. A cancel during the
      // wait leaves the list with every key (the run ends there, safe).
      const overlap = plan.keyring.overlap;
      await tracker.run('overlap', () =>
        sleep(parseDuration(overlap), { summary: `keep the old keys ${overlap}` }),
      );
      const phase1 = plan.locations.map((l, i) => ({ ...l, current: written[i] as string }));
      written.splice(0, written.length, ...(await replace(tracker, plan, 'drop', phase1)));
    }
    let revoked = false;
    if (plan.revoke) {
      await tracker.run('revoke', async () => {
        try {
          await writing('revoke the old value').revokeOldSecret({
            ...target,
            index: 0,
            expect: plan.locations[0] as SecretPlan['locations'][number],
          });
        } catch (err) {
          throw fail(
            FailureType.CommandFailed,
            `the new value is in place and verified, but the old one was NOT revoked: ${errorText(err)}`,
          );
        }
      });
      revoked = true;
    } else tracker.set('revoke', 'skipped', 'the recipe has no revoke');
    tracker.finish('completed');
    return { dryRun: false, plan, written, revoked };
  };
  try {
    // A dry run changes nothing and takes no lock. A rotation that restarts services holds its
    // environment (no other run restarts or changes it meanwhile); one without consumers changes
    // only its own places (one recipe's in one environment, the config check makes sure), so it
    // holds just those: many such secrets of one environment rotate side by side.
    const locks = async () =>
      (await secrets.secretConsumers(target)).length
        ? [`env/${input.environment}`]
        : [`secret/${input.secret}/${input.environment}`];
    return await (input.dryRun ? run() : withLocks(locks, run));
  } catch (err) {
    tracker.finish('failed');
    throw runFailure(err);
  }
}

/** Writes, restarts and probes; on a failure or a cancel, puts every location back (reverse
 * order) and restarts the consumers on the old value before failing. */
async function replace(
  tracker: ProgressTracker,
  plan: SecretPlan,
  phase: Phase = 'write',
  from: SecretPlan['locations'] = plan.locations,
): Promise<string[]> {
  const runId = workflowInfo().runId;
  const target = { secret: plan.secret, env: plan.env };
  const firstPrevious = from[0]?.current ?? '';
  // A keyring's second phase has steps of its own.
  const step = (name: 'write' | 'restart' | 'verify') =>
    phase === 'write'
      ? name
      : ({ write: 'drop', restart: 'restart after drop', verify: 'verify after drop' } as const)[name];
  const written: string[] = [];
  // Locations a write was sent to (the last may have been written although its answer was lost).
  let reached = 0;
  let restarted = false;
  try {
    await tracker.run(step('write'), async () => {
      for (const [index, l] of from.entries()) {
        reached = index + 1;
        written.push(
          await writing(`write ${l.store}:${l.name}`).writeSecretLocation({
            ...target,
            runId,
            index,
            expect: l,
            phase,
            ...(index > 0 ? { source: written[0] } : {}),
            ...(plan.alternate ? { alternateTo: plan.alternate.to } : {}),
          }),
        );
      }
    });
    if (plan.consumers.length) {
      restarted = true;
      await tracker.run(step('restart'), () =>
        consumers(`restart ${plan.consumers.join(', ')}`).restartConsumers({
          ...target,
          values: [written[0] as string, firstPrevious],
        }),
      );
    } else tracker.set(step('restart'), 'skipped', 'no consumers');
    if (plan.probes.length)
      await tracker.run(step('verify'), async () => {
        for (const [index, probe] of plan.probes.entries())
          await probing(`verify: ${probe}`).probeSecret({ ...target, index, source: written[0] as string });
      });
    else tracker.set(step('verify'), 'skipped', 'no probes');
  } catch (err) {
    // Every location is tried, whatever failed before it; then the consumers, if restarted.
    const problems: string[] = [];
    await CancellationScope.nonCancellable(async () => {
      for (let index = reached - 1; index >= 0; index--) {
        const l = from[index] as SecretPlan['locations'][number];
        try {
          await undoing(`put back ${l.store}:${l.name}`).restoreSecretLocation({
            ...target,
            runId,
            index,
            expect: l,
            phase,
            firstPrevious,
          });
        } catch (undoErr) {
          problems.push(`${l.store}:${l.name} NOT put back (${errorText(undoErr)})`);
        }
      }
      if (restarted)
        try {
          await undoing('restart on the old value').restartConsumers({ ...target, values: [firstPrevious] });
        } catch (undoErr) {
          problems.push(`consumers NOT restarted on the old value (${errorText(undoErr)})`);
        }
    });
    tracker.set('revoke', 'skipped', problems.length ? 'the undo failed' : 'every location was put back');
    if (problems.length)
      throw fail(FailureType.RestoreFailed, `${errorText(err)}; the undo failed: ${problems.join('; ')}`);
    throw withMore(
      err,
      `every location was put back${restarted ? ' and the consumers restarted on the old value' : ''}`,
    );
  }
  return written;
}
