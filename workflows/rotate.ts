// JWT signing-key rotation (SpacetimeDB style): new ES256 pair per key group, stored as new
// secret versions, installed on every host, publisher token re-signed with the same identity,
// service restarted and its publish gate checked; an environment failing its gate is rolled back.
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { EnvPlan, RotationActivities, RotationPlan, StagedGroup } from '../activities/rotation';
import type { TokenIdentity } from '../activities/tokens';
import { quickActivity, serviceActivity } from './activity-options';
import { errorText } from './errors';
import { approvalGate, notApproved, ProgressTracker } from './gates';
import { RotateInput } from './inputs';

const quick = proxyActivities<RotationActivities>(quickActivity);
const gated = proxyActivities<RotationActivities>(serviceActivity);

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

export interface RotateResult {
  dryRun: boolean;
  plan: RotationPlan;
  staged: StagedGroup[];
  environments: EnvOutcome[];
  ok: boolean;
}

function planSummary(plan: RotationPlan): string {
  return plan.environments
    .map(
      (e) =>
        `${e.env}: new key for group ${e.group} in ${e.store}, install on ${e.host}${e.token ? `, re-sign token of ${e.token.sub}` : ''}`,
    )
    .join('; ');
}

export async function rotateJwtKeys(rawInput: RotateInput): Promise<RotateResult> {
  const input = RotateInput.parse(rawInput);
  const { runId } = workflowInfo();
  const tracker = new ProgressTracker(['plan', 'approval', 'stage', 'verify']);
  try {
    const plan = await tracker.run(
      'plan',
      () => quick.planRotation({ environments: input.environments, preserveToken: input.preserveToken }),
      (p) => planSummary(p),
    );
    for (const e of plan.environments) tracker.set(`rotate ${e.env}`, 'pending');

    if (input.dryRun) {
      for (const step of tracker.progress.steps)
        if (step.status === 'pending') tracker.set(step.name, 'skipped', 'dry run');
      tracker.finish('completed');
      return {
        dryRun: true,
        plan,
        staged: [],
        environments: plan.environments.map((e) => ({ env: e.env, status: 'untouched', reason: 'dry run' })),
        ok: true,
      };
    }

    const needsApproval = plan.environments.filter((e) => e.approvalRequired).map((e) => e.env);
    if (needsApproval.length > 0) {
      const outcome = await approvalGate(tracker, {
        name: 'approval',
        approvers: plan.approvers,
        timeoutMs: plan.approvalTimeoutMs,
        summary: planSummary(plan),
      });
      if (!outcome.approved) throw notApproved(outcome, 'nothing was changed');
    } else {
      tracker.set('approval', 'skipped', 'no environment requires approval');
    }

    const staged = await tracker.run(
      'stage',
      () =>
        Promise.all(
          Object.entries(plan.groups).map(([group, environments]) =>
            quick.stageKeyPair({ runId, group, environments }),
          ),
        ),
      (s) => s.map((g) => `${g.group}: ${g.fingerprint.slice(0, 16)}`).join(', '),
    );

    const expect: Record<string, string> = {};
    for (const g of staged) for (const env of Object.keys(g.refs)) expect[env] = g.fingerprint;
    const report = await tracker.run('verify', () => quick.verifyKeys({ expect }));
    if (!report.ok) {
      // Nothing depends on the staged keys yet: make the previous versions current again.
      tracker.set('verify', 'failed', report.problems.join('; '));
      await Promise.all(
        plan.environments.flatMap((e) =>
          e.current ? [quick.restoreSecrets({ env: e.env, runId, previous: e.current })] : [],
        ),
      );
      throw ApplicationFailure.create({
        type: 'PolicyViolation',
        message: `${report.problems.join('; ')}; the previous keys are current again`,
        nonRetryable: true,
      });
    }

    const outcomes = await Promise.all(
      plan.environments.map((e) => rotateEnvironment(tracker, input, runId, e, staged)),
    );
    const ok = outcomes.every((o) => o.status === 'rotated');
    tracker.finish(ok ? 'completed' : 'failed');
    return { dryRun: false, plan, staged, environments: outcomes, ok };
  } catch (err) {
    tracker.finish('failed');
    throw err;
  }
}

async function rotateEnvironment(
  tracker: ProgressTracker,
  input: ReturnType<typeof RotateInput.parse>,
  runId: string,
  plan: EnvPlan,
  staged: StagedGroup[],
): Promise<EnvOutcome> {
  const { env } = plan;
  const step = `rotate ${env}`;
  const group = staged.find((g) => g.refs[env]);
  const ref = group?.refs[env];
  if (!group || !ref) return { env, status: 'untouched', reason: 'no staged key' };
  tracker.set(step, 'running', 'installing key files');
  let identity: TokenIdentity | null = null;
  try {
    if (input.syncMountedKeys) await quick.installKeyFiles({ env, runId, ref });
    if (input.preserveToken) {
      tracker.set(step, 'running', 're-signing publisher token');
      const token = await quick.resignPublisherToken({ env, runId, ref });
      identity = token.after;
      if (plan.token && (plan.token.iss !== token.after.iss || plan.token.sub !== token.after.sub)) {
        throw ApplicationFailure.create({
          type: 'IdentityDrift',
          message: `${env}: token identity changed from ${plan.token.sub} to ${token.after.sub}`,
          nonRetryable: true,
        });
      }
    }
    let marker: string | undefined;
    if (input.syncMountedKeys) {
      tracker.set(step, 'running', 'restarting and waiting for publish markers');
      marker = (await gated.restartAndVerify({ env })).marker;
    }
    tracker.set(step, 'done', `now ${group.fingerprint.slice(0, 16)}`);
    return {
      env,
      status: 'rotated',
      fingerprintBefore: plan.current?.fingerprint ?? plan.hostFingerprint,
      fingerprintAfter: group.fingerprint,
      identity,
      ...(marker ? { marker } : {}),
    };
  } catch (err) {
    const reason = errorText(err);
    tracker.set(step, 'running', `rolling back: ${reason}`);
    try {
      const restored: string[] = [];
      if (plan.current) {
        const r = await quick.restoreSecrets({ env, runId, previous: plan.current });
        restored.push(`secrets in ${r.store}`);
      }
      restored.push(...(await gated.restoreHost({ env, runId })).restored);
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
}
