// rekey's side of the trust boundary at its activities: anyone who may start workflows in the
// namespace can schedule activities on rekey's task queue from a workflow of their own. So every
// activity that changes an environment checks, before it acts, that it was given the approval of
// the run the server says scheduled it (shared/approval-proof.ts) wherever the worker's own config
// requires one, and that the environment's configuration is still the one that plan was made from.
// Every activity is listed here as changing something or as a read: a new one that is in neither
// list fails the worker's start (and a fast test).
import { Context } from '@temporalio/activity';
import { schedulingRun } from '../activities/scheduling-run';
import { environmentFingerprint, gatedOf, gatePolicy, keyringEnvironments } from '../config/approvals';
import { keyPlaces } from '../config/key-places';
import type { Config } from '../config/schema';
import { type ApprovalProof, approvalProblem } from '../shared/approval-proof';
import { FailureType, fail } from '../shared/failures';
import { lockProblem, locksOf } from './held-locks';

type Input = Record<string, unknown>;
const env = (i: Input) => [String(i.env)];
const to = (i: Input) => [String(i.to)];
/** A copy changes its destination and hands the source's data to it: both are covered. */
const fromTo = (i: Input) => [String(i.from), String(i.to)];
/** A keyring's steps change the environments it serves. */
const ring = (i: Input, config: Config) => keyringEnvironments(config, String(i.keyring));

/** The environments each changing activity changes, from its input. */
const CHANGES: Record<string, (input: Input, config: Config) => string[]> = {
  stageKeyPair: (i) => (Array.isArray(i.environments) ? i.environments.map(String) : []),
  installKeyFiles: env,
  resignPublisherToken: env,
  clearPublisherToken: env,
  retireOldKeys: env,
  restartAndVerify: env,
  restoreSecrets: env,
  restoreHost: env,
  snapshot: to,
  syncData: fromTo,
  resignDestinationToken: fromTo,
  restoreSnapshot: to,
  dropSnapshot: to,
  stopService: env,
  writeSecretLocation: env,
  // Writes the first location only where a value appeared there by other means (taken as the run's).
  awaitSuppliedValue: env,
  restoreSecretLocation: env,
  restartConsumers: env,
  revokeOldSecret: env,
  writeSecretBatch: env,
  restartSecretsConsumers: env,
  addKey: ring,
  activate: ring,
  removeKey: ring,
  rollOut: ring,
};

/** Steps that check the approvals but not the configuration's fingerprint: those that put things
 * back or start a service again (a rekey.yaml edited during a run must not leave an environment
 * stopped or half-changed), and a rollover's removal of the old key and its roll-out, which come
 * after a wait of months in which the environments' configuration may well change. */
const UNDO = new Set([
  'restoreHost',
  'restoreSecrets',
  'restoreSnapshot',
  'restoreSecretLocation',
  'restartAndVerify',
  'stopService',
  'removeKey',
  'rollOut',
]);

/** Environments whose host or key pair (store and secret name) `env` shares: a change of one is a
 * change of the others. Key places are indexed once per config: every changing activity asks,
 * and a fleet has thousands of environments. */
function sharing(config: Config, env: string): string[] {
  const own = config.environments[env];
  if (!own) return [env];
  const places = keyPlaces(config).of;
  const place = places.get(env);
  return Object.entries(config.environments)
    .filter(([name, c]) => name === env || c.host === own.host || places.get(name) === place)
    .map(([name]) => name);
}

/** Activities that change no environment, and why they need no approval. */
const READS: Record<string, string> = {
  rotationScope: 'reads the config',
  planRotation: 'reads stores and hosts',
  currentKeys: 'reads stores',
  verifyKeys: 'reads stores',
  preflightHop: 'reads hosts',
  planSync: 'a dry run',
  promotionGate: 'reads the config',
  secretConsumers: 'reads the config',
  planSecretRotation: 'reads stores',
  planSecretInit: 'reads stores',
  planSecretBatch: 'reads stores',
  secretsWrittenBy: 'reads stores',
  probeSecret: 'runs the recipe’s read-only probe',
  lockHolder: 'reads Temporal',
  lockHolders: 'reads Temporal',
  // Rekey's locks in the calling run's own name, as a child workflow would be: no environment.
  takeLocks: 'starts lock workflows held by the calling run',
  releaseLocks: 'ends lock workflows held by the calling run',
  nextScheduledStart: 'reads Temporal',
  scheduleStartedRun: 'reads Temporal',
  runFacts: 'reads Temporal',
  checkStarterConfig: 'compares configs',
  notificationSinks: 'reads the config',
  notifyRouting: 'reads the config',
  scheduleFailures: 'reads Temporal',
  secretsDue: 'reads stores',
  // Changes no environment; sends only an event a rekey run emitted, as its history records it.
  deliverNotification: 'sends a run’s event to a notify sink',
  readKeyring: 'reads the store',
  // Not an environment: the codec's own keyring, where a new key is added and made active and
  // every older key stays (everything sealed still opens).
  rotateCodecKeyring: 'adds a codec key, removes none',
  // Seals rows again with the front key of the recipe's current list only (checked there), which
  // the app itself seals with: it cannot make a row unreadable.
  reencryptRows: 'seals rows with the current key only',
};

/** Refuses (nothing changed) unless `proof` approves changing `environments` for this run. */
export function checkApproval(
  config: Config,
  activity: string,
  environments: string[],
  proof: ApprovalProof | undefined,
  run: { workflowId: string; runId: string; workflowType: string },
): void {
  const gated = gatedOf(config, [...new Set(environments.flatMap((e) => sharing(config, e)))]);
  if (gated.length === 0) return;
  const where = gated.join(', ');
  const nothing = 'nothing was changed';
  if (!proof || typeof proof !== 'object')
    throw fail(
      FailureType.PolicyViolation,
      `${activity} changes ${where}, which ${gated.length > 1 ? 'require' : 'requires'} approval, but was given none: only a rekey run whose gate passed may change it (scheduled by ${run.workflowType} ${run.workflowId}); ${nothing}`,
    );
  const problem = approvalProblem(gatePolicy(config, gated), proof, run);
  if (problem)
    throw fail(
      FailureType.PolicyViolation,
      `${activity} on ${where}: the approval it was given is not one for this run: ${problem} (scheduled by ${run.workflowType} ${run.workflowId}); ${nothing}`,
    );
  for (const e of gated) {
    const approved = proof.scope?.[e];
    if (approved === undefined)
      throw fail(
        FailureType.PolicyViolation,
        `${activity}: the approved plan does not cover ${e}; ${nothing}`,
      );
    if (!UNDO.has(activity) && approved !== environmentFingerprint(config, e))
      throw fail(
        FailureType.PolicyViolation,
        `${activity}: the configuration of ${e} (its store, host, service or paths) changed since the plan was approved: this worker's rekey.yaml is not the one the plan was made from; ${nothing}: start a new run`,
      );
  }
}

/** `activities`, each changing one checking first its approval (see `checkApproval`) and that
 * its run holds the locks on what it changes (worker/held-locks.ts). */
export function guarded<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  config: Config,
  activities: T,
): T {
  const out: Record<string, (input: Input) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities)) {
    const changes = CHANGES[name];
    if (!changes) {
      if (!(name in READS))
        throw new Error(`activity ${name} is neither a read nor a change in worker/guard.ts: list it`);
      out[name] = fn as (input: Input) => Promise<unknown>;
      continue;
    }
    out[name] = async (input: Input) => {
      const run = schedulingRun();
      // An activity no workflow run scheduled holds no lock and no approval.
      if (!run)
        throw fail(FailureType.PolicyViolation, `${name}: no workflow run scheduled it; nothing was changed`);
      const environments = changes(input ?? {}, config);
      checkApproval(config, name, environments, input?.approval as ApprovalProof | undefined, run);
      const unlocked = await lockProblem(
        Context.current().client.workflow,
        locksOf(name, input ?? {}, environments),
        run,
      );
      if (unlocked) throw fail(FailureType.PolicyViolation, `${name}: ${unlocked}; nothing was changed`);
      return (fn as (input: Input) => Promise<unknown>)(input);
    };
  }
  return out as unknown as T;
}

export const ACTIVITY_KINDS = { changes: Object.keys(CHANGES), reads: Object.keys(READS) };
