// Rotation of one secret recipe in one environment (`replace`): plan, the gate where the config
// asks for one, a new value written to every location in order, the consumers restarted together,
// every probe passed, then the old value revoked. A failure (or a cancel) before the probes pass
// puts every location back, in the reverse order, and restarts the consumers on the old value.
import { patched, proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { RotateSecretActivities } from '../activities/rotate-secret';
import type { SecretPlan } from '../activities/secret-recipe';
import { parseDuration } from '../config/duration';
import { FailureType, fail } from '../shared/failures';
import { localRead, shortActivity } from './activity-options';
import { Gates } from './approvals';
import { mustBeFree, withLocks } from './environment-lock';
import { errorText, parseInput, runFailure } from './errors';
import { RotateSecretInput } from './inputs';
import { confirmRevoked, supply } from './manual-secret';
import { ProgressTracker } from './progress';
import { claimSignedRequest } from './requests';
import { passGate, reencrypt, replace, revoke } from './secret-steps';
import { checkStarterConfig } from './starter-config';

const remoteReads = proxyActivities<RotateSecretActivities>(shortActivity);
const localReads = proxyLocalActivities<RotateSecretActivities>(localRead);

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
  /** A value issued by hand (generator: manual): who confirmed the old one revoked at its issuer. */
  revokeConfirmedBy?: string[];
  startedAt: string;
  finishedAt: string;
  compromised: boolean;
  reason?: string;
}

/** A value a person issued (generator: manual), rotated: an approver confirms its revoke. */
const revokedByHand = (plan: SecretPlan) => plan.manual !== undefined && !plan.init;

export async function rotateSecret(rawInput: RotateSecretInput): Promise<RotateSecretResult> {
  const input = parseInput(RotateSecretInput, rawInput);
  // Reads that change nothing (the recipe's consumers, the plan) were local activities for a
  // while (no round trip through the server); runs recorded then replay with them. New runs use
  // activities again: a local activity whose result was recorded in a workflow task of its own (a
  // query came in while it ran) had the code after it replay in another task than it ran in, and
  // the run stopped on a nondeterminism error once its worker lost it.
  const secrets = patched('reads-not-local')
    ? remoteReads
    : patched('secret-reads-local')
      ? localReads
      : remoteReads;
  const target = { secret: input.secret, env: input.environment };
  const startedAt = new Date().toISOString();
  const tracker = new ProgressTracker(
    ['plan', 'approval', 'write', 'restart', 'verify', 'revoke'],
    `${input.init ? (input.dryRun ? 'plan the first value of' : 'write the first value of') : input.dryRun ? 'plan a rotation of' : input.compromised ? 'respond to a compromise of' : 'rotate'} secret ${input.secret} in ${input.environment}`,
  );
  const approvedBy: string[] = [];
  let notRevoked: string | undefined;
  let revokeConfirmedBy: string[] | undefined;
  /** Retires the old value; a compromise response goes on when that fails and records why (the
   * incident record lists what is left). */
  const retiring = async (retire: () => Promise<void>) => {
    try {
      await retire();
    } catch (err) {
      if (!input.compromised) throw err;
      notRevoked = errorText(err);
    }
  };
  const ended = (r: { dryRun: boolean; plan: SecretPlan; written: string[]; revoked: boolean }) => ({
    ...r,
    ...(notRevoked ? { notRevoked } : {}),
    approvedBy,
    ...(revokeConfirmedBy ? { revokeConfirmedBy } : {}),
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
    // Not while a run over the environment's secrets goes (rotateSecrets), which may write this
    // one: recipes a person issues and key lists are never among those.
    if (!plan.manual && !plan.keyring && patched('secret-batches'))
      await mustBeFree([`secrets/${input.environment}`]);
    approvedBy.push(...(await passGate(gates, tracker, plan, input.environment)));
    const phase = plan.init ? 'init' : 'write';
    let supplied: string | undefined;
    // A value a person issues: the run waits for it at the first location, then copies it on.
    if (plan.manual) {
      tracker.insertBefore('supply', 'write');
      supplied = await supply(tracker, plan, gates.approved, phase);
    }
    const written = await replace(tracker, plan, gates.approved, phase, plan.locations, supplied);
    // The consumers read with the new list: what the old keys sealed is sealed again with the new.
    // Not undone on a failure: the list keeps every key, so every row opens either way.
    if (plan.keyring?.reencrypt) await reencrypt(tracker, plan, written[0] as string, 'reencrypt');
    if (plan.revoke) await retiring(() => revoke(tracker, plan, gates.approved));
    // A value issued by hand is revoked by hand: confirmed after the locks are released.
    else if (!revokedByHand(plan))
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
    // The approver confirms at the issuer's pace; other runs of the environment go on.
    if (revokedByHand(plan))
      await retiring(async () => {
        revokeConfirmedBy = await tracker.run(
          'revoke',
          () => confirmRevoked(plan, gates),
          (by) => `confirmed revoked at ${plan.manual?.issuer} by ${by.join(', ')}`,
        );
      });
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
    return ended({
      dryRun: false,
      plan,
      written,
      revoked: (plan.revoke || revokeConfirmedBy !== undefined) && !notRevoked,
    });
  } catch (err) {
    tracker.fail(err);
    throw runFailure(err);
  }
}
