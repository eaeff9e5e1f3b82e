// The steps of a rotation that change each environment (workflows/rotate.ts runs them): stage and
// verify a key group's new pair, install and restart each environment with its publish gate, and
// roll back an environment (or the rest of its key group) that failed.
import { ApplicationFailure, CancellationScope, CancelledFailure, patched } from '@temporalio/workflow';
import type { StagedGroup } from '../activities/rotate';
import type { EnvPlan, RotationPlan } from '../activities/rotate-plan';
import type { TokenIdentity } from '../activities/tokens';
import type { Approved } from '../shared/approval-proof';
import { FailureType, fail } from '../shared/failures';
import { errorText } from './errors';
import type { RotateOptions } from './inputs';
import type { ProgressTracker } from './progress';
import { onEnv, onEnvSettled, onService, onServiceSettled, rotation, staging } from './rotate-activities';

export type EnvOutcome =
  | {
      env: string;
      status: 'rotated';
      fingerprintBefore: string | null;
      fingerprintAfter: string;
      identity: TokenIdentity | null;
      marker?: string;
    }
  | {
      env: string;
      status: 'rolled-back';
      reason: string;
      fingerprintBefore: string | null;
      restored: string[];
    }
  | { env: string; status: 'rollback-failed'; reason: string; rollbackError: string }
  | { env: string; status: 'untouched'; reason: string };

/** The new key pair of every group staged in its stores and read back from every store; until
 * the hosts change, a failure puts the previous versions back in every store. */
export async function stageAndVerify(
  tracker: ProgressTracker,
  plan: RotationPlan,
  runId: string,
  approved: Approved,
): Promise<StagedGroup[]> {
  // Nothing depends on staged keys until the hosts change: a failure up to there puts the
  // previous versions back in every store (those this run did not write stay as they are).
  // Also when the run is being cancelled.
  const unstage = () =>
    CancellationScope.nonCancellable(() =>
      Promise.all(
        plan.environments.flatMap((e) =>
          e.current ? [rotation.restoreSecrets({ env: e.env, runId, previous: e.current, ...approved })] : [],
        ),
      ),
    );
  // Runs recorded before a failed stage was undone replay as they were.
  const unstageOnFailure = patched('unstage-after-failed-stage');
  let staged: StagedGroup[];
  try {
    staged = await tracker.run(
      'stage',
      async () => {
        const writes = Object.entries(plan.groups).map(([group, environments]) =>
          (unstageOnFailure ? staging : rotation).stageKeyPair({ runId, group, environments, ...approved }),
        );
        if (!unstageOnFailure) return Promise.all(writes);
        // Every group's stage settles before a failure is acted on: putting a store back while
        // another group's write is still in flight could leave that write current.
        const settled = await Promise.allSettled(writes);
        const failed = settled.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
        return settled.map((r) => (r as PromiseFulfilledResult<StagedGroup>).value);
      },
      (s) => s.map((g) => `${g.group}: ${g.fingerprint.slice(0, 16)}`).join(', '),
    );
  } catch (err) {
    if (!unstageOnFailure) throw err;
    await unstage();
    throw ApplicationFailure.create({
      type: FailureType.StageFailed,
      message: `${errorText(err)}; the previous keys are current again`,
      nonRetryable: true,
      cause: err as Error,
    });
  }

  const expect: Record<string, string> = {};
  for (const g of staged) for (const env of Object.keys(g.refs)) expect[env] = g.fingerprint;
  const environments = plan.environments.map((e) => e.env);
  const report = await tracker.run('verify', () => rotation.verifyKeys({ expect, environments }));
  if (!report.ok) {
    tracker.set('verify', 'failed', report.problems.join('; '));
    await unstage();
    throw fail(
      FailureType.PolicyViolation,
      `${report.problems.join('; ')}; the previous keys are current again`,
    );
  }
  return staged;
}

/**
 * A key group moves as a whole: when one of its environments failed and was rolled back, the
 * ones that rotated are rolled back too, so that dev and local never end on different keys.
 */
export async function rollBackSplitGroups(
  tracker: ProgressTracker,
  runId: string,
  plan: RotationPlan,
  outcomes: EnvOutcome[],
  installOnly: boolean,
  approved: Approved,
): Promise<void> {
  const failedGroups = new Map<string, string>();
  for (const o of outcomes) {
    const group = plan.environments.find((e) => e.env === o.env)?.group;
    if (group && (o.status === 'rolled-back' || o.status === 'rollback-failed'))
      failedGroups.set(group, o.env);
  }
  const toUndo = plan.environments.filter(
    (e) => failedGroups.has(e.group) && outcomes.find((o) => o.env === e.env)?.status === 'rotated',
  );
  if (toUndo.length === 0 || !patched('roll-back-whole-key-group')) return;
  await Promise.all(
    toUndo.map(async (e) => {
      const reason = `key group ${e.group} moves as a whole and ${failedGroups.get(e.group)} failed`;
      const i = outcomes.findIndex((o) => o.env === e.env);
      outcomes[i] = await rollBack(tracker, runId, e, reason, approved, installOnly);
    }),
  );
}

/** Puts an environment's previous secret versions, key files and token back and restarts it. */
export async function rollBack(
  tracker: ProgressTracker,
  runId: string,
  plan: EnvPlan,
  reason: string,
  approved: Approved,
  /** keys install wrote no version: nothing to put back in the store. */
  installOnly = false,
): Promise<EnvOutcome> {
  const { env } = plan;
  const step = `rotate ${env}`;
  tracker.set(step, 'running', `rolling back: ${reason}`);
  try {
    const restored: string[] = [];
    if (plan.current && !installOnly) {
      const r = await onEnv(`roll back ${env}: previous versions current again`).restoreSecrets({
        env,
        runId,
        previous: plan.current,
        ...approved,
      });
      restored.push(`secrets in ${r.store}`);
    }
    restored.push(
      ...(
        await onService(`roll back ${env}: key files and token back, restart`).restoreHost({
          env,
          runId,
          ...approved,
        })
      ).restored,
    );
    tracker.set(step, 'failed', `rolled back: ${reason}`);
    return {
      env,
      status: 'rolled-back',
      reason,
      fingerprintBefore: plan.current?.fingerprint ?? plan.hostFingerprint,
      restored,
    };
  } catch (rbErr) {
    tracker.set(step, 'failed', `rollback failed: ${errorText(rbErr)}`);
    return { env, status: 'rollback-failed', reason, rollbackError: errorText(rbErr) };
  }
}

export async function rotateEnvironment(
  tracker: ProgressTracker,
  input: RotateOptions,
  runId: string,
  plan: EnvPlan,
  staged: StagedGroup[],
  /** A cancel waits for the install, re-sign or restart in flight before the rollback. */
  settle: boolean,
  /** The token is cleared, not re-signed: the next publish gets a new identity. */
  cleanSlate: boolean,
  approved: Approved,
): Promise<EnvOutcome> {
  const { env } = plan;
  const onHost = settle ? onEnvSettled : onEnv;
  const service = settle ? onServiceSettled : onService;
  const step = `rotate ${env}`;
  const group = staged.find((g) => g.refs[env]);
  const ref = group?.refs[env];
  if (!group || !ref) return { env, status: 'untouched', reason: 'no staged key' };
  tracker.set(step, 'running', 'installing key files');
  let identity: TokenIdentity | null = null;
  try {
    if (input.syncMountedKeys)
      await onHost(`install the new key files on ${env}`).installKeyFiles({ env, runId, ref, ...approved });
    // keys install on a host without a cached token: nothing to re-sign.
    if (input.preserveToken && !plan.tokenExternal && !(input.installOnly && plan.token === null)) {
      tracker.set(step, 'running', 're-signing publisher token');
      const token = await onHost(`re-sign ${env}'s publisher token, same identity`).resignPublisherToken({
        env,
        runId,
        ref,
        ...approved,
      });
      identity = token.after;
      if (plan.token && (plan.token.iss !== token.after.iss || plan.token.sub !== token.after.sub)) {
        throw fail(
          FailureType.IdentityDrift,
          `${env}: token identity changed from ${plan.token.sub} to ${token.after.sub}`,
        );
      }
    } else if (
      cleanSlate &&
      !plan.tokenExternal &&
      // Runs recorded before a host without a token was cleared too replay as they were.
      (plan.token !== null || patched('clean-slate-without-token'))
    ) {
      tracker.set(step, 'running', 'clearing the publisher token (clean slate)');
      await onHost(`clear ${env}'s publisher token: a new identity at the next publish`).clearPublisherToken({
        env,
        runId,
        ...approved,
      });
    }
    let marker: string | undefined;
    if (input.syncMountedKeys) {
      tracker.set(step, 'running', 'restarting and waiting for publish markers');
      marker = (
        await service(`restart ${env}, publish, wait for markers`).restartAndVerify({ env, ...approved })
      ).marker;
    }
    // A cancel that came while the last step ran (waited for, see `settle`) still undoes it.
    if (settle && CancellationScope.current().consideredCancelled) throw new CancelledFailure('cancelled');
    tracker.set(step, 'done', `now ${group.fingerprint.slice(0, 16)}`);
    return {
      env,
      status: 'rotated',
      // keys install replaced what the host had, not what the store holds.
      fingerprintBefore: input.installOnly
        ? plan.hostFingerprint
        : (plan.current?.fingerprint ?? plan.hostFingerprint),
      fingerprintAfter: group.fingerprint,
      identity,
      ...(marker ? { marker } : {}),
    };
  } catch (err) {
    // Also when the run is being cancelled: the environment must not stay half-rotated.
    return CancellationScope.nonCancellable(() =>
      rollBack(tracker, runId, plan, errorText(err), approved, input.installOnly),
    );
  }
}
