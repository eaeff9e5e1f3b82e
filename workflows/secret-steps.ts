// The steps of a secret's rotation that change its places (workflows/rotate-secret.ts runs them,
// and the run over an environment's secrets some of them): the gate, the writes in order, the
// consumers' restart and the probes, with the undo that puts every location back; the old value's
// revoke; the rows sealed again under a new key. A value a person issues: manual-secret.ts.
import {
  ActivityCancellationType,
  ActivityFailure,
  type ActivityOptions,
  ApplicationFailure,
  CancellationScope,
  executeChild,
  patched,
  workflowInfo,
} from '@temporalio/workflow';
import type { RotateSecretActivities } from '../activities/rotate-secret';
import type { Phase, SecretPlan } from '../activities/secret-recipe';
import type { Approved, GatePolicy } from '../shared/approval-proof';
import { FailureType, fail } from '../shared/failures';
import { serviceActivity, summarized } from './activity-options';
import { type Gates, notApproved } from './approvals';
import { errorText, withMore } from './errors';
import type { ProgressTracker } from './progress';
import { reencryptRows } from './reencrypt-rows';

// A cancel waits for a write or a restart in flight to end before it puts things back.
export const settled = { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
// Writes, restarts and revokes heartbeat: a step that takes long is alive, a lost worker's is
// retried within seconds, and no second attempt runs beside a first that is still going.
const writing = summarized<RotateSecretActivities>({ ...serviceActivity, ...settled });
const consumers = summarized<RotateSecretActivities>({ ...serviceActivity, ...settled });
const probing = summarized<RotateSecretActivities>(serviceActivity);
// The undo outlasts a store's or a host's bad half hour; a refusal (non-retryable) ends it at once.
export const undoOptions: ActivityOptions = {
  ...serviceActivity,
  retry: { ...serviceActivity.retry, maximumInterval: '1m', maximumAttempts: 40 },
};
const undoing = summarized<RotateSecretActivities>(undoOptions);

/** The recipe's rows sealed again with the first key of `version`'s list (a child run of its own,
 * continuing as new page after page); a failure says every key is still in the list. */
export async function reencrypt(
  tracker: ProgressTracker,
  plan: SecretPlan,
  version: string,
  pass: 'reencrypt' | 'sweep',
): Promise<void> {
  const table = plan.keyring?.reencrypt?.table;
  await tracker.run(
    pass === 'reencrypt' ? 're-encrypt rows' : 'sweep rows',
    async () => {
      try {
        return await executeChild(reencryptRows, {
          workflowId: `${workflowInfo().workflowId}/${pass}`,
          args: [{ secret: plan.secret, env: plan.env, recipe: plan.recipe, version }],
        });
      } catch (err) {
        throw withMore(
          err,
          `the new key is in front of the list and the old keys are still in it, so every row of ${table} opens; rotate again to finish`,
        );
      }
    },
    (r) => `${r.reencrypted} of ${r.rows} rows of ${table} sealed again with the new key (${r.pages} pages)`,
  );
}

/** The plan's gate, where the environment requires one: who approved it (none where it does
 * not); a rejection or the timeout fails the run with nothing changed. */
export async function passGate(
  gates: Gates,
  tracker: ProgressTracker,
  plan: { approvalRequired: boolean; approval?: GatePolicy; text: string[]; scope?: Record<string, string> },
  env: string,
): Promise<string[]> {
  if (!plan.approvalRequired) {
    tracker.set('approval', 'skipped', `${env} requires no approval`);
    return [];
  }
  const outcome = await gates.approval({
    name: 'approval',
    policy: gates.policyOf(plan.approval, { approvers: [], timeoutMs: 0 }),
    plan: plan.text.join('\n'),
    ...(plan.scope ? { scope: plan.scope } : {}),
  });
  if (!outcome.approved) throw notApproved(outcome, 'nothing was changed');
  return outcome.by;
}

/** Retires the old value; a failure says the new one is in place. */
export async function revoke(tracker: ProgressTracker, plan: SecretPlan, approved: Approved): Promise<void> {
  await tracker.run('revoke', async () => {
    try {
      await writing('revoke the old value').revokeOldSecret({
        secret: plan.secret,
        env: plan.env,
        recipe: plan.recipe,
        index: 0,
        expect: plan.locations[0] as SecretPlan['locations'][number],
        ...approved,
      });
    } catch (err) {
      throw fail(
        FailureType.CommandFailed,
        `the new value is in place and verified, but the old one was NOT revoked: ${errorText(err)}`,
      );
    }
  });
}

/** Puts locations `reached - 1` down to 0 of `from` back as the plan found them, each tried
 * whatever failed before it; what could not be put back, in words. */
export async function putBack(
  plan: SecretPlan,
  approved: Approved,
  phase: Phase,
  from: SecretPlan['locations'],
  reached: number,
): Promise<string[]> {
  const target = { secret: plan.secret, env: plan.env, recipe: plan.recipe, ...approved };
  const runId = workflowInfo().runId;
  const firstPrevious = from[0]?.current ?? '';
  const problems: string[] = [];
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
  return problems;
}

/** Retires at its issuer a new value (`fresh`, its version at the first location) that was put
 * back everywhere: nobody uses it. Returns what went wrong, in words ('' when it was revoked). */
export async function revokeUnused(plan: SecretPlan, approved: Approved, fresh: string): Promise<string> {
  try {
    await undoing('revoke the unused new value').revokeOldSecret({
      secret: plan.secret,
      env: plan.env,
      recipe: plan.recipe,
      ...approved,
      index: 0,
      expect: { ...(plan.locations[0] as SecretPlan['locations'][number]), current: fresh },
      unused: true,
    });
    return '';
  } catch (undoErr) {
    return `; the unused new value was NOT revoked (${errorText(undoErr)})`;
  }
}

/** Writes, restarts and probes; on a failure or a cancel, puts every location back (reverse
 * order) and restarts the consumers on the old value before failing. */
export async function replace(
  tracker: ProgressTracker,
  plan: SecretPlan,
  /** The gate's approvals: every step here changes the environment. */
  approved: Approved,
  phase: Phase = 'write',
  from: SecretPlan['locations'] = plan.locations,
  /** A manual recipe's value: the version its supply step took at the first location. */
  supplied?: string,
): Promise<string[]> {
  const runId = workflowInfo().runId;
  // Every step carries the recipe's digest: a recipe changed since the plan is refused.
  const target = { secret: plan.secret, env: plan.env, recipe: plan.recipe, ...approved };
  const firstPrevious = from[0]?.current ?? '';
  // A keyring's second phase has steps of its own.
  const step = (name: 'write' | 'restart' | 'verify') =>
    phase === 'drop'
      ? ({ write: 'drop', restart: 'restart after drop', verify: 'verify after drop' } as const)[name]
      : name;
  const written: string[] = [];
  // Locations a write was sent to (the last may have been written although its answer was lost).
  let reached = 0;
  let restarted = false;
  try {
    await tracker.run(step('write'), async () => {
      for (const [index, l] of from.entries()) {
        reached = index + 1;
        try {
          written.push(
            await writing(`write ${l.store}:${l.name}`).writeSecretLocation({
              ...target,
              runId,
              index,
              expect: l,
              phase,
              ...(index > 0 ? { source: written[0] } : {}),
              ...(index === 0 && supplied !== undefined ? { supplied } : {}),
              ...(plan.alternate ? { alternateTo: plan.alternate.to } : {}),
            }),
          );
        } catch (err) {
          // A write-only place (a GitHub secret, a role) that refused the write outright (401, a
          // permission) is as it was: putting it back would be refused too and hide the old
          // value's being intact behind a failed undo.
          const refused =
            err instanceof ActivityFailure &&
            err.cause instanceof ApplicationFailure &&
            err.cause.nonRetryable;
          if (
            refused &&
            (l.current === 'write-only' || l.current === 'role') &&
            patched('refused-place-unchanged')
          )
            reached = index;
          throw err;
        }
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
    // A first value has nothing to go back to: what was written stays, and says where.
    if (phase === 'init') {
      const wrote = from.slice(0, reached);
      const names = (ls: typeof from) => ls.map((l) => `${l.store}:${l.name}`).join(', ');
      const unreadable = wrote.filter((l) => l.current === 'write-only');
      // An issued credential nobody will use is retired at its issuer (the next init issues one).
      let revoked = '';
      const fresh = written[0];
      if (plan.revokeUnused && fresh)
        await CancellationScope.nonCancellable(() =>
          undoing('revoke the unused first value')
            .revokeOldSecret({
              ...target,
              index: 0,
              expect: { ...(from[0] as SecretPlan['locations'][number]), current: fresh },
              unused: true,
            })
            .then(
              () => {
                revoked = '; the value issued for it was revoked';
              },
              (undoErr) => {
                revoked = `; the value issued for it was NOT revoked (${errorText(undoErr)})`;
              },
            ),
        );
      throw withMore(
        err,
        `${wrote.length ? `the first value was sent to ${names(wrote)}${reached < from.length ? ' (not to the others)' : ''}` : 'nothing was written'}${revoked}; fix the cause and run rekey secret init ${plan.secret} --env ${plan.env} again: it writes the store locations anew${unreadable.length ? ` (delete ${names(unreadable)} by hand first: a place rekey cannot read is not written over)` : ''}`,
      );
    }
    // Every location is tried, whatever failed before it; then the consumers, if restarted.
    const problems: string[] = [];
    let revokedUnused = false;
    let unrevoked = '';
    await CancellationScope.nonCancellable(async () => {
      problems.push(...(await putBack(plan, approved, phase, from, reached)));
      if (restarted)
        try {
          await undoing('restart on the old value').restartConsumers({
            ...target,
            values: [firstPrevious, ...(written[0] ? [written[0]] : [])],
          });
        } catch (undoErr) {
          problems.push(`consumers NOT restarted on the old value (${errorText(undoErr)})`);
        }
      // Put back everywhere, an issued value is nobody's: it is retired at its issuer too.
      const fresh = written[0];
      if (!problems.length && plan.revokeUnused && fresh) {
        unrevoked = await revokeUnused(plan, approved, fresh);
        revokedUnused = !unrevoked;
      }
    });
    tracker.set('revoke', 'skipped', problems.length ? 'the undo failed' : 'every location was put back');
    if (problems.length)
      throw fail(FailureType.RestoreFailed, `${errorText(err)}; the undo failed: ${problems.join('; ')}`);
    throw withMore(
      err,
      `every location was put back${restarted ? ' and the consumers restarted on the old value' : ''}${revokedUnused ? ', the unused new value revoked' : ''}${unrevoked}${plan.manual ? `; revoke the unused new value at ${plan.manual.issuer}` : ''}`,
    );
  }
  return written;
}
