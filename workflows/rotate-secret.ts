// Rotation of one secret recipe in one environment (`replace`): plan, the gate where the config
// asks for one, a new value written to every location in order, the consumers restarted together,
// every probe passed, then the old value revoked. A failure (or a cancel) before the probes pass
// puts every location back, in the reverse order, and restarts the consumers on the old value.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  executeChild,
  patched,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { RotateSecretActivities } from '../activities/rotate-secret';
import type { Phase, SecretPlan } from '../activities/secret-recipe';
import { parseDuration } from '../config/duration';
import type { Approved } from '../shared/approval-proof';
import { FailureType, fail } from '../shared/failures';
import { localRead, serviceActivity, shortActivity, summarized } from './activity-options';
import { Gates, notApproved } from './approvals';
import { withLocks } from './environment-lock';
import { errorText, parseInput, runFailure, withMore } from './errors';
import { RotateSecretInput } from './inputs';
import { ProgressTracker } from './progress';
import { reencryptRows } from './reencrypt-rows';
import { claimSignedRequest } from './requests';
import { checkStarterConfig } from './starter-config';

// A cancel waits for a write or a restart in flight to end before it puts things back.
const settled = { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
const remoteReads = proxyActivities<RotateSecretActivities>(shortActivity);
const localReads = proxyLocalActivities<RotateSecretActivities>(localRead);
// Writes, restarts and revokes heartbeat: a step that takes long is alive, a lost worker's is
// retried within seconds, and no second attempt runs beside a first that is still going.
const writing = summarized<RotateSecretActivities>({ ...serviceActivity, ...settled });
const consumers = summarized<RotateSecretActivities>({ ...serviceActivity, ...settled });
const probing = summarized<RotateSecretActivities>(serviceActivity);
// The undo outlasts a store's or a host's bad half hour; a refusal (non-retryable) ends it at once.
const undoing = summarized<RotateSecretActivities>({
  ...serviceActivity,
  retry: { ...serviceActivity.retry, maximumInterval: '1m', maximumAttempts: 40 },
});

export interface RotateSecretResult {
  dryRun: boolean;
  /** A scheduled run started outside its window, told to skip: it ran as a dry run. */
  skipped?: string;
  plan: SecretPlan;
  /** The version written at each location, in the plan's order. */
  written: string[];
  revoked: boolean;
  /** A compromise response whose old value could not be revoked: why (the new value is in place). */
  notRevoked?: string;
  /** Who approved the plan at its gate (none where the environment requires no approval). */
  approvedBy: string[];
  startedAt: string;
  finishedAt: string;
  compromised: boolean;
  reason?: string;
}

export async function rotateSecret(rawInput: RotateSecretInput): Promise<RotateSecretResult> {
  const input = parseInput(RotateSecretInput, rawInput);
  // Reads that change nothing (the recipe's consumers, the plan) are local activities: no round
  // trip through the server. Runs recorded before that replay with activities.
  const secrets = patched('secret-reads-local') ? localReads : remoteReads;
  const target = { secret: input.secret, env: input.environment };
  const startedAt = new Date().toISOString();
  const tracker = new ProgressTracker(
    ['plan', 'approval', 'write', 'restart', 'verify', 'revoke'],
    `${input.init ? (input.dryRun ? 'plan the first value of' : 'write the first value of') : input.dryRun ? 'plan a rotation of' : input.compromised ? 'respond to a compromise of' : 'rotate'} secret ${input.secret} in ${input.environment}`,
  );
  const approvedBy: string[] = [];
  let notRevoked: string | undefined;
  const ended = (r: { dryRun: boolean; plan: SecretPlan; written: string[]; revoked: boolean }) => ({
    ...r,
    ...(notRevoked ? { notRevoked } : {}),
    approvedBy,
    startedAt,
    finishedAt: new Date().toISOString(),
    compromised: input.compromised,
    ...(input.reason ? { reason: input.reason } : {}),
  });
  const gates = new Gates(tracker, { type: 'rotateSecret', input: rawInput as Record<string, unknown> });
  // A dry run changes nothing and takes no lock. A rotation always holds its own recipe in its
  // environment (its places are that recipe's only: the config check makes sure); one that
  // restarts services also holds the environment (no other run restarts or changes it
  // meanwhile). Many secrets without consumers of one environment rotate side by side.
  let lockedFor: string[] = [];
  const locked = <T>(fn: () => Promise<T>, state?: string): Promise<T> =>
    input.dryRun
      ? fn()
      : withLocks(
          async () => {
            lockedFor = await secrets.secretConsumers(target);
            return [
              `secret/${input.secret}/${input.environment}`,
              ...(lockedFor.length ? [`env/${input.environment}`] : []),
            ];
          },
          fn,
          state,
        );

  const first = async () => {
    const plan = await tracker.run(
      'plan',
      () =>
        input.init
          ? secrets.planSecretInit(target)
          : secrets.planSecretRotation(input.compromised ? { ...target, compromised: true } : target),
      (p) => p.text.join('\n'),
    );
    if (input.dryRun) return { plan, written: [] as string[] };
    if (plan.consumers.join() !== lockedFor.join())
      throw fail(
        FailureType.PolicyViolation,
        "the recipe's consumers changed while the run took its locks; start it again",
      );
    if (plan.approvalRequired) {
      const outcome = await gates.approval({
        name: 'approval',
        policy: gates.policyOf(plan.approval, { approvers: [], timeoutMs: 0 }),
        plan: plan.text.join('\n'),
        ...(plan.scope ? { scope: plan.scope } : {}),
      });
      if (!outcome.approved) throw notApproved(outcome, 'nothing was changed');
      approvedBy.push(...outcome.by);
    } else tracker.set('approval', 'skipped', `${input.environment} requires no approval`);
    const written = await replace(tracker, plan, gates.approved, plan.init ? 'init' : 'write');
    // The consumers read with the new list: what the old keys sealed is sealed again with the new.
    // Not undone on a failure: the list keeps every key, so every row opens either way.
    if (plan.keyring?.reencrypt) await reencrypt(tracker, plan, written[0] as string, 'reencrypt');
    if (plan.revoke)
      try {
        await revoke(tracker, plan, gates.approved);
      } catch (err) {
        // A compromise response goes on and records it: the incident record lists what is left.
        if (!input.compromised) throw err;
        notRevoked = errorText(err);
      }
    else
      tracker.set(
        'revoke',
        'skipped',
        plan.init
          ? 'a first value: there is no old one'
          : plan.keyring
            ? 'the old keys are dropped after the overlap'
            : 'the recipe has no revoke',
      );
    return { plan, written };
  };

  try {
    await claimSignedRequest(rawInput as Record<string, unknown>);
    const skipped = await checkStarterConfig(
      { kind: 'secret', secret: input.secret, environment: input.environment },
      input.starterConfig,
      { overrideFreeze: input.overrideFreeze, dryRun: input.dryRun, tracker, window: input.window },
    );
    // Outside its window and told to skip: it plans as a dry run does, changes nothing, says why.
    if (skipped) input.dryRun = true;
    const { plan, written } = await locked(first);
    if (input.dryRun) {
      tracker.skipRest('dry run');
      tracker.finish('completed');
      return { ...ended({ dryRun: true, plan, written: [], revoked: false }), ...skipped };
    }
    if (plan.keyring) {
      // What the old keys sealed still opens while they stay; then they go. The wait holds no
      // environment lock (other runs of the environment go on; a run under the CLI's id stays its
      // recipe's lock by running); the drop takes the locks again and writes only
      // where the first phase's version is still the newest. A cancel during the wait leaves the
      // list with every key (safe).
      // A compromise response drops them at once.
      const overlap = plan.keyring.overlap;
      if (input.compromised) tracker.set('overlap', 'skipped', 'compromised: the old keys go at once');
      else
        await tracker.run('overlap', () =>
          sleep(parseDuration(overlap), { summary: `keep the old keys ${overlap}` }),
        );
      const phase1 = plan.locations.map((l, i) => ({ ...l, current: written[i] as string }));
      const dropped = await locked(async () => {
        // Rows written under an old key since (an app not yet restarted) are caught just before.
        if (plan.keyring?.reencrypt) await reencrypt(tracker, plan, written[0] as string, 'sweep');
        return replace(tracker, plan, gates.approved, 'drop', phase1);
      }, 'the new key is in front of the list and the old keys are still in it: rotate again to drop them');
      written.splice(0, written.length, ...dropped);
    }
    tracker.finish('completed');
    return ended({ dryRun: false, plan, written, revoked: plan.revoke && !notRevoked });
  } catch (err) {
    tracker.fail(err);
    throw runFailure(err);
  }
}

/** The recipe's rows sealed again with the first key of `version`'s list (a child run of its own,
 * continuing as new page after page); a failure says every key is still in the list. */
async function reencrypt(
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

/** Retires the old value; a failure says the new one is in place. */
async function revoke(tracker: ProgressTracker, plan: SecretPlan, approved: Approved): Promise<void> {
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

/** Writes, restarts and probes; on a failure or a cancel, puts every location back (reverse
 * order) and restarts the consumers on the old value before failing. */
async function replace(
  tracker: ProgressTracker,
  plan: SecretPlan,
  /** The gate's approvals: every step here changes the environment. */
  approved: Approved,
  phase: Phase = 'write',
  from: SecretPlan['locations'] = plan.locations,
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
          await undoing('restart on the old value').restartConsumers({
            ...target,
            values: [firstPrevious, ...(written[0] ? [written[0]] : [])],
          });
        } catch (undoErr) {
          problems.push(`consumers NOT restarted on the old value (${errorText(undoErr)})`);
        }
      // Put back everywhere, an issued value is nobody's: it is retired at its issuer too.
      const fresh = written[0];
      if (!problems.length && plan.revokeUnused && fresh)
        try {
          await undoing('revoke the unused new value').revokeOldSecret({
            ...target,
            index: 0,
            expect: { ...(from[0] as SecretPlan['locations'][number]), current: fresh },
            unused: true,
          });
          revokedUnused = true;
        } catch (undoErr) {
          unrevoked = `; the unused new value was NOT revoked (${errorText(undoErr)})`;
        }
    });
    tracker.set('revoke', 'skipped', problems.length ? 'the undo failed' : 'every location was put back');
    if (problems.length)
      throw fail(FailureType.RestoreFailed, `${errorText(err)}; the undo failed: ${problems.join('; ')}`);
    throw withMore(
      err,
      `every location was put back${restarted ? ' and the consumers restarted on the old value' : ''}${revokedUnused ? ', the unused new value revoked' : ''}${unrevoked}`,
    );
  }
  return written;
}
