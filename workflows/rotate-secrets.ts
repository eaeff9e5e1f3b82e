// Every secret of an environment that is due (or all of them) in one run, as the parameter-store
// runbook does it by hand: update every value, then one deploy restarts everything. One plan
// listing them all, one gate, one set of locks, the writes side by side, each consumer restarted
// once for all of its secrets, every probe, then the old values revoked. A failure (or a cancel)
// before the probes pass puts every secret back, each one's locations in reverse, and restarts
// the consumers on the old values. Recipes a person issues or that keep a key list are rotated
// on their own (rotateSecret).
import { CancellationScope, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { RotateSecretActivities } from '../activities/rotate-secret';
import type { BatchWritten, RotateSecretsActivities, SecretBatchPlan } from '../activities/rotate-secrets';
import type { SecretPlan } from '../activities/secret-recipe';
import { atOnce, SECRETS_AT_ONCE } from '../shared/at-once';
import { FailureType, fail } from '../shared/failures';
import { serviceActivity, summarized } from './activity-options';
import { Gates } from './approvals';
import { mustBeFree, withLocks } from './environment-lock';
import { errorText, parseInput, runFailure, withMore } from './errors';
import { RotateSecretsInput } from './inputs';
import { ProgressTracker } from './progress';
import { claimSignedRequest } from './requests';
import { passGate, putBack, revokeUnused, settled, undoOptions } from './secret-steps';
import { checkStarterConfig } from './starter-config';

type Activities = RotateSecretsActivities & RotateSecretActivities;
// The plan reads every recipe's places: minutes, not seconds, where a store throttles.
const reads = proxyActivities<Activities>({ ...serviceActivity, heartbeatTimeout: undefined });
// A cancel waits for writes or restarts in flight to end before it puts things back.
const changing = summarized<Activities>({ ...serviceActivity, ...settled });
// The writes of every secret: one activity, heartbeating all along, as long as they take.
const writing = summarized<Activities>({ ...serviceActivity, ...settled, startToCloseTimeout: '1h' });
const probing = summarized<Activities>(serviceActivity);
const undoing = summarized<Activities>(undoOptions);

export interface RotateSecretsResult {
  dryRun: boolean;
  /** A scheduled run started outside its window, told to skip: it ran as a dry run. */
  skipped?: string;
  plan: SecretBatchPlan;
  /** Each rotated secret's version written at each of its locations, in its plan's order. */
  written: Record<string, string[]>;
  /** The secrets whose old value was revoked. */
  revoked: string[];
  approvedBy: string[];
  startedAt: string;
  finishedAt: string;
}

const names = (ps: { secret: string }[]) => ps.map((p) => p.secret).join(', ');

export async function rotateSecrets(rawInput: RotateSecretsInput): Promise<RotateSecretsResult> {
  const input = parseInput(RotateSecretsInput, rawInput);
  const env = input.environment;
  const startedAt = new Date().toISOString();
  const tracker = new ProgressTracker(
    ['plan', 'approval', 'write', 'restart', 'verify', 'revoke'],
    `${input.dryRun ? 'plan a rotation of' : 'rotate'} every secret ${input.select === 'due' ? 'due ' : ''}in ${env}`,
  );
  const gates = new Gates(tracker, { type: 'rotateSecrets', input: rawInput as Record<string, unknown> });
  const approvedBy: string[] = [];
  const ended = (plan: SecretBatchPlan, written: Record<string, string[]>, revoked: string[]) => ({
    dryRun: input.dryRun,
    plan,
    written,
    revoked,
    approvedBy,
    startedAt,
    finishedAt: new Date().toISOString(),
  });

  /** Writes, restart, probes and revokes of `plan`'s secrets, holding every lock. */
  const rotateAll = async (plan: SecretBatchPlan) => {
    const approved = gates.approved;
    const runId = workflowInfo().runId;
    let outcomes: BatchWritten[] | undefined;
    let restarted = false;
    const versions = () => Object.fromEntries((outcomes ?? []).map((o) => [o.secret, o.written]));
    try {
      outcomes = await tracker.run(
        'write',
        () =>
          writing(`write ${plan.secrets.length} secrets`).writeSecretBatch({
            env,
            runId,
            secrets: plan.secrets.map((s) => ({
              secret: s.secret,
              recipe: s.recipe,
              locations: s.locations,
              ...(s.alternate ? { alternateTo: s.alternate.to } : {}),
            })),
            ...approved,
          }),
        (os) => `${os.length} of ${plan.secrets.length} secrets written`,
      );
      const failed = outcomes.filter((o) => o.failure);
      const first = failed[0]?.failure;
      if (first)
        throw fail(
          (first.type as FailureType | undefined) ?? FailureType.CommandFailed,
          `${first.message}${failed.length > 1 ? ` (${names(failed.slice(1))} failed too)` : ''}`,
        );
      const written = versions();
      if (plan.consumers.length) {
        restarted = true;
        await tracker.run(
          'restart',
          () =>
            changing(`restart ${plan.consumers.join(', ')}`).restartSecretsConsumers({
              env,
              secrets: plan.secrets.map((s) => ({
                secret: s.secret,
                recipe: s.recipe,
                values: [written[s.secret]?.[0] as string, s.locations[0]?.current as string],
              })),
              ...approved,
            }),
          () => `${plan.consumers.join(', ')} restarted once`,
        );
      } else tracker.set('restart', 'skipped', 'no consumers');
      const probes = plan.secrets.flatMap((s) => s.probes.map((probe, index) => ({ s, probe, index })));
      if (probes.length)
        await tracker.run('verify', async () => {
          const results = await atOnce(probes, SECRETS_AT_ONCE, ({ s, probe, index }) =>
            probing(`verify ${s.secret}: ${probe}`).probeSecret({
              secret: s.secret,
              env,
              recipe: s.recipe,
              index,
              source: written[s.secret]?.[0] as string,
              ...approved,
            }),
          );
          const failure = results.find((r) => r.status === 'rejected');
          if (failure) throw failure.reason;
        });
      else tracker.set('verify', 'skipped', 'no probes');
    } catch (err) {
      await CancellationScope.nonCancellable(async () => {
        // The write failed as a whole (its attempts spent, or cancelled): what it wrote is read
        // back from each secret's first location, which every secret is written to first.
        const left =
          outcomes ??
          (await undoing('what the writes left').secretsWrittenBy({
            env,
            runId,
            secrets: plan.secrets.map((s) => ({
              secret: s.secret,
              first: s.locations[0] as SecretPlan['locations'][number],
              locations: s.locations.length,
            })),
          }));
        await undo(plan, left, restarted, err);
      });
      throw err;
    }
    const written = versions();
    // Every new value is in place and verified: each old one goes where the recipe revokes it.
    const toRevoke = plan.secrets.filter((s) => s.revoke);
    if (!toRevoke.length) {
      tracker.set('revoke', 'skipped', 'no recipe has a revoke');
      return { written, revoked: [] };
    }
    const revokes = await tracker.run('revoke', () =>
      atOnce(toRevoke, SECRETS_AT_ONCE, (s) =>
        changing(`revoke the old value of ${s.secret}`).revokeOldSecret({
          secret: s.secret,
          env,
          recipe: s.recipe,
          index: 0,
          expect: s.locations[0] as SecretPlan['locations'][number],
          ...approved,
        }),
      ),
    );
    const notRevoked = toRevoke.flatMap((s, i) => {
      const r = revokes[i];
      return r?.status === 'rejected' ? [`${s.secret} (${errorText(r.reason)})`] : [];
    });
    if (notRevoked.length)
      throw fail(
        FailureType.CommandFailed,
        `every new value is in place and verified, but the old value of ${notRevoked.join('; ')} was NOT revoked`,
      );
    return { written, revoked: toRevoke.map((s) => s.secret) };
  };

  /** Puts every secret this run wrote back (each one's locations in reverse, several secrets at
   * a time), restarts the consumers on the old values, retires each issued value put back
   * everywhere; then says so on `err`. */
  const undo = async (plan: SecretBatchPlan, outcomes: BatchWritten[], restarted: boolean, err: unknown) => {
    const approved = gates.approved;
    const outcome = (s: SecretPlan) => outcomes.find((o) => o.secret === s.secret);
    const touched = plan.secrets.filter((s) => (outcome(s)?.reached ?? 0) > 0);
    const putBacks = await atOnce(touched, SECRETS_AT_ONCE, (s) =>
      putBack(s, approved, 'write', s.locations, outcome(s)?.reached ?? 0),
    );
    const problems = putBacks.flatMap((r, i) =>
      r.status === 'fulfilled'
        ? r.value.map((p) => `${touched[i]?.secret}: ${p}`)
        : [`${touched[i]?.secret}: ${errorText(r.reason)}`],
    );
    let consumersBack = true;
    if (restarted)
      try {
        await undoing('restart on the old values').restartSecretsConsumers({
          env,
          secrets: plan.secrets.map((s) => {
            const fresh = outcome(s)?.written[0];
            return {
              secret: s.secret,
              recipe: s.recipe,
              values: [s.locations[0]?.current as string, ...(fresh ? [fresh] : [])],
            };
          }),
          ...approved,
        });
      } catch (undoErr) {
        consumersBack = false;
        problems.push(`consumers NOT restarted on the old values (${errorText(undoErr)})`);
      }
    // An issued value put back everywhere (and no consumer left on it) is nobody's: it is retired
    // at its issuer too.
    let unrevoked = '';
    for (const [i, s] of touched.entries()) {
      const fresh = outcome(s)?.written[0];
      const back = putBacks[i]?.status === 'fulfilled' && putBacks[i].value.length === 0;
      if (!s.revokeUnused || !fresh || !back || !consumersBack) continue;
      const problem = await revokeUnused(s, approved, fresh);
      if (problem) unrevoked += `; ${s.secret}:${problem.slice(1)}`;
    }
    tracker.set('revoke', 'skipped', problems.length ? 'the undo failed' : 'every secret was put back');
    if (problems.length)
      throw fail(FailureType.RestoreFailed, `${errorText(err)}; the undo failed: ${problems.join('; ')}`);
    throw withMore(
      err,
      touched.length
        ? `every secret written (${names(touched)}) was put back${restarted ? ' and the consumers restarted on the old values' : ''}${unrevoked}`
        : 'nothing was written',
    );
  };

  try {
    await claimSignedRequest(rawInput as Record<string, unknown>);
    const skipped = await checkStarterConfig({ kind: 'secrets', environment: env }, input.starterConfig, {
      overrideFreeze: input.overrideFreeze,
      dryRun: input.dryRun,
      tracker,
      window: input.window,
    });
    // Outside its window and told to skip: it plans as a dry run does, changes nothing, says why.
    if (skipped) input.dryRun = true;
    const plan = await tracker.run(
      'plan',
      () => reads.planSecretBatch({ env, select: input.select }),
      (p) => p.text.join('\n'),
    );
    if (input.dryRun || !plan.secrets.length) {
      tracker.skipRest(input.dryRun ? 'dry run' : `nothing ${input.select === 'due' ? 'due' : 'to rotate'}`);
      tracker.finish('completed');
      return { ...ended(plan, {}, []), ...skipped };
    }
    // The gate before the locks: a wait of hours for an approver holds no secret of the
    // environment (a compromise response goes on meanwhile); each write still finds its place as
    // the plan had it, or changes nothing.
    approvedBy.push(...(await passGate(gates, tracker, plan, env)));
    // The run holds the environment's secrets (no secret's own rotation starts meanwhile) and,
    // when it restarts consumers, the environment; none of its secrets' own rotations may be going.
    const result = await withLocks(
      () => [`secrets/${env}`, ...(plan.consumers.length ? [`env/${env}`] : [])],
      async () => {
        await mustBeFree(plan.secrets.map((s) => `secret/${s.secret}/${env}`));
        const done = await rotateAll(plan);
        return ended(plan, done.written, done.revoked);
      },
    );
    tracker.finish('completed');
    return result;
  } catch (err) {
    tracker.fail(err);
    throw runFailure(err);
  }
}
