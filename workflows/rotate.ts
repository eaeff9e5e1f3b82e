// JWT signing-key rotation (SpacetimeDB style): new ES256 pair per key group, stored as new
// secret versions, installed on every host, publisher token re-signed with the same identity,
// service restarted and its publish gate checked; an environment failing its gate is rolled back.

import { CancellationScope, CancelledFailure, patched, workflowInfo } from '@temporalio/workflow';
import type { StagedGroup } from '../activities/rotate';
import type { EnvPlan, RotationPlan } from '../activities/rotate-plan';
import type { Approved } from '../shared/approval-proof';
import { Gates, notApproved } from './approvals';
import { withLocks } from './environment-lock';
import { errorText, parseInput, runFailure } from './errors';
import { RotateInput, type RotateOptions } from './inputs';
import { ProgressTracker } from './progress';
import { claimSignedRequest } from './requests';
import { onEnv, rotation } from './rotate-activities';
import { type EnvOutcome, rollBackSplitGroups, rotateEnvironment, stageAndVerify } from './rotate-steps';
import { checkExpectedGate, checkStarterConfig } from './starter-config';

export interface RotateResult {
  dryRun: boolean;
  /** A scheduled run started outside its window, told to skip: it ran as a dry run. */
  skipped?: string;
  plan: RotationPlan;
  staged: StagedGroup[];
  environments: EnvOutcome[];
  ok: boolean;
  /** keys install: the stores' current pair was put on the hosts. */
  installOnly?: boolean;
}

/** What the run does with an environment's publisher token, in words. */
function tokenText(e: EnvPlan, input: RotateOptions, cleanSlate: boolean): string {
  if (e.token && e.tokenExternal)
    return `publisher token issued by ${e.token.iss}: not re-signed, not affected by this rotation (OIDC-backed identity)`;
  if (cleanSlate)
    return e.token
      ? `CLEAN SLATE: publisher token of sub=${e.token.sub} cleared; the next publish gets a NEW owner identity, and databases owned by sub=${e.token.sub} can no longer be published to (recreate them)`
      : 'CLEAN SLATE: no cached publisher token; the next publish gets a new owner identity';
  if (!e.token) return 'no token to re-sign';
  return input.preserveToken
    ? `publisher token re-signed keeping identity sub=${e.token.sub} iss=${e.token.iss}`
    : `publisher token of sub=${e.token.sub} NOT re-signed: it stops working with the new key`;
}

function planSummary(plan: RotationPlan, input: RotateOptions, cleanSlate: boolean): string {
  return plan.environments
    .map((e) => {
      const token =
        e.tokenExternal || cleanSlate
          ? `, ${tokenText(e, input, cleanSlate)}`
          : e.token
            ? `, re-sign token of ${e.token.sub}`
            : '';
      return `${e.env}: ${input.installOnly ? 'the current key of' : 'new key for'} group ${e.group} in ${e.store}, install on ${e.host}${token}`;
    })
    .join('; ');
}

const short = (fp: string | null | undefined) => (fp ? fp.slice(0, 16) : 'none');

/** What an approver is asked to allow: every key, host and token identity the run changes. */
function gatePlan(plan: RotationPlan, input: RotateOptions, cleanSlate: boolean): string {
  return plan.environments
    .map(
      (e) =>
        (input.installOnly
          ? `${e.env}: the current pair ${short(e.current?.fingerprint)} of key group ${e.group} from store ${e.store} (no new version); `
          : `${e.env}: new ES256 pair for key group ${e.group} in store ${e.store} (replacing ${short(e.current?.fingerprint)}); `) +
        (input.syncMountedKeys
          ? `key files on host ${e.host} (now ${short(e.hostFingerprint)}), service restarted; `
          : `host ${e.host} NOT changed (stores only); `) +
        tokenText(e, input, cleanSlate),
    )
    .join('\n');
}

export async function rotateJwtKeys(rawInput: RotateInput): Promise<RotateResult> {
  const input = parseInput(RotateInput, rawInput);
  const tracker = new ProgressTracker(
    input.installOnly ? ['plan', 'approval', 'current keys'] : ['plan', 'approval', 'stage', 'verify'],
    input.installOnly
      ? `${input.dryRun ? 'plan installing' : 'install'} the stores' current keys on ${input.environments.join(', ')}`
      : `${input.dryRun ? 'plan a rotation' : 'rotate JWT signing keys'} of ${input.environments.join(', ')}`,
  );
  const gates = new Gates(tracker, { type: 'rotateJwtKeys', input: rawInput as Record<string, unknown> });
  try {
    await claimSignedRequest(rawInput as Record<string, unknown>);
    const skipped = await checkStarterConfig(
      { kind: 'rotate', environments: input.environments },
      input.starterConfig,
      { overrideFreeze: input.overrideFreeze, dryRun: input.dryRun, tracker, window: input.window },
    );
    // Outside its window and told to skip: it plans as a dry run does, changes nothing, says why.
    if (skipped) input.dryRun = true;
    // A dry run changes nothing and takes no lock; a rotation holds every environment of its key
    // groups from the plan to the end.
    if (input.dryRun) return { ...(await rotate(tracker, gates, input)), ...skipped };
    return await withLocks(
      async () => (await rotation.rotationScope({ environments: input.environments })).map((e) => `env/${e}`),
      () => rotate(tracker, gates, input),
    );
  } catch (err) {
    tracker.fail(err);
    throw runFailure(err);
  }
}

async function rotate(tracker: ProgressTracker, gates: Gates, input: RotateOptions): Promise<RotateResult> {
  // Secret versions and host backups are tagged with the first run of this workflow, so a run
  // reset by an operator finds its own staged keys and backups again.
  const runId = workflowInfo().firstExecutionRunId;
  // Without preserveToken, runs recorded before clean-slate rotation cleared the token (they left
  // it to fail with the new key) replay as they were.
  const cleanSlate = !input.preserveToken && patched('clean-slate-clears-token');
  // Runs recorded before old keys were retired replay as they were.
  const retireOld =
    !input.dryRun && !input.installOnly && input.syncMountedKeys && patched('retire-old-keys');
  const plan = await tracker.run(
    'plan',
    () =>
      rotation.planRotation({
        environments: input.environments,
        preserveToken: input.preserveToken,
        ...(input.installOnly ? { installOnly: true } : {}),
      }),
    (p) => planSummary(p, input, cleanSlate),
  );
  for (const e of plan.environments) tracker.set(`rotate ${e.env}`, 'pending');

  if (input.dryRun) {
    tracker.skipRest('dry run');
    tracker.finish('completed');
    return {
      dryRun: true,
      plan,
      staged: [],
      environments: plan.environments.map((e) => ({ env: e.env, status: 'untouched', reason: 'dry run' })),
      ok: true,
    };
  }

  await approve(tracker, gates, plan, input, cleanSlate, retireOld);
  // Every step that changes an environment carries the gate's approvals and checks them itself.
  const approved = gates.approved;
  // keys install: the stores' current pair, where a rotation stages a new one.
  const staged = input.installOnly
    ? await tracker.run(
        'current keys',
        () =>
          rotation.currentKeys({
            groups: plan.groups,
            approved: Object.fromEntries(plan.environments.map((e) => [e.env, e.current])),
          }),
        (s) => s.map((g) => `${g.group}: ${g.fingerprint.slice(0, 16)}`).join(', '),
      )
    : await stageAndVerify(tracker, plan, runId, approved);
  // Runs recorded before a cancel waited for the host work in flight replay as they were.
  const settle = patched('settle-host-work-on-cancel');
  const outcomes = await Promise.all(
    plan.environments.map((e) =>
      rotateEnvironment(tracker, input, runId, e, staged, settle, cleanSlate, approved),
    ),
  );
  await CancellationScope.nonCancellable(() =>
    rollBackSplitGroups(tracker, runId, plan, outcomes, input.installOnly, approved),
  );
  // A cancelled run has rolled back what it had changed; it ends cancelled, not completed.
  if (CancellationScope.current().consideredCancelled) {
    throw new CancelledFailure(`cancelled; ${outcomes.map((o) => `${o.env}: ${o.status}`).join(', ')}`);
  }
  if (retireOld) await retire(tracker, runId, outcomes, plan.retention, approved);
  const ok = outcomes.every((o) => o.status === 'rotated');
  tracker.finish(ok ? 'completed' : 'failed');
  return {
    dryRun: false,
    plan,
    staged,
    environments: outcomes,
    ok,
    ...(input.installOnly ? { installOnly: true } : {}),
  };
}

/** Old keys retire once an environment has passed its gates: host backups and store versions
 * beyond the configured retention. A failure here is reported, not a failed rotation. */
async function retire(
  tracker: ProgressTracker,
  runId: string,
  outcomes: EnvOutcome[],
  retention: RotationPlan['retention'],
  approved: Approved,
): Promise<void> {
  await Promise.all(
    outcomes
      .filter((o) => o.status === 'rotated')
      .map(async ({ env }) => {
        const step = `retire old keys of ${env}`;
        await tracker
          .run(
            step,
            () =>
              onEnv(`retire ${env}'s old backups and key versions`).retireOldKeys({
                env,
                runId,
                ...(retention ? { retention } : {}),
                ...approved,
              }),
            (r) =>
              `${r.removedBackups.length} backup(s) removed, ${r.disabledVersions.length} version(s) disabled${r.storeKeepsAll ? ' (the store cannot disable versions)' : ''}`,
          )
          .catch((err) => tracker.set(step, 'failed', `${errorText(err)}; the rotation itself passed`));
      }),
  );
}

/** The approval gate, when any environment of the plan requires one. */
async function approve(
  tracker: ProgressTracker,
  gates: Gates,
  plan: RotationPlan,
  input: RotateOptions,
  cleanSlate: boolean,
  retireOld: boolean,
) {
  const needsApproval = plan.environments.filter((e) => e.approvalRequired).map((e) => e.env);
  checkExpectedGate(
    input.expectApproval,
    needsApproval.length > 0,
    plan.environments.map((e) => e.env).join(', '),
    needsApproval.join(', '),
  );
  if (needsApproval.length > 0) {
    const outcome = await gates.approval({
      name: 'approval',
      policy: gates.policyOf(plan.approval, { approvers: plan.approvers, timeoutMs: plan.approvalTimeoutMs }),
      ...(plan.scope ? { scope: plan.scope } : {}),
      plan:
        (plan.approval ? gatePlan(plan, input, cleanSlate) : planSummary(plan, input, cleanSlate)) +
        (retireOld && plan.retention
          ? `\nthen, once each environment passed: host backups kept for the last ${plan.retention.backups} runs, store versions beyond the newest ${plan.retention.versions} disabled`
          : ''),
    });
    if (!outcome.approved) throw notApproved(outcome, 'nothing was changed');
  } else {
    tracker.set('approval', 'skipped', 'no environment requires approval');
  }
}
