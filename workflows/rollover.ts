// Overlap ("kid") rollover for services that accept several keys: add v(N+1) beside vN, roll
// out, flip active, wait out the longest token lifetime (a durable timer: days or months), remove
// vN, roll out. No token is ever rejected while it could still be valid.

import { patched, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { RingFacts } from '../activities/keyring-list';
import type { RolloverActivities } from '../activities/rollover';
import type { ScheduleActivities } from '../activities/schedules';
import { parseDuration } from '../config/duration';
import type { GatePolicy } from '../shared/approval-proof';
import { FailureType, fail, isFailure } from '../shared/failures';
import { serviceActivity, shortActivity, summarized } from './activity-options';
import { Gates, notApproved } from './approvals';
import { withLocks } from './environment-lock';
import { parseInput, runFailure } from './errors';
import { RolloverInput } from './inputs';
import { ProgressTracker } from './progress';
import { claimSignedRequest } from './requests';
import { startingSchedule } from './scheduled';
import { checkExpectedGate, checkStarterConfig } from './starter-config';

const keyrings = proxyActivities<RolloverActivities>(shortActivity);
/** A keyring as the plan reads it: its keys, replicas, token lifetime and gate rules. */
type Ring = Awaited<ReturnType<RolloverActivities['readKeyring']>>;
const rollout = summarized<RolloverActivities>(serviceActivity);
const schedules = proxyActivities<ScheduleActivities>(shortActivity);

export interface RolloverResult {
  keyring: string;
  dryRun: boolean;
  /** A scheduled run started outside its window, told to skip: it ran as a dry run. */
  skipped?: string;
  before: RingFacts;
  added?: string;
  removed?: string;
  active?: string;
  /** When the TTL wait ended early: who ended it and how much of it was cut short. */
  expedited?: { by: string; comment?: string; cutShortMs: number };
  /** When the schedule that started this run starts the next one (absent: not scheduled). */
  nextRotation?: string;
}

/** The schedule's next start (runs recorded before this said "a quarter from now" whatever
 * started them; a run no schedule started has no next rotation). */
async function nextRotation(): Promise<Pick<RolloverResult, 'nextRotation'>> {
  if (!patched('next-rotation-from-schedule'))
    return { nextRotation: new Date(Date.now() + 91 * 86400e3).toISOString() };
  const scheduleId = startingSchedule();
  if (!scheduleId) return {};
  try {
    const next = await schedules.nextScheduledStart({ scheduleId });
    return next ? { nextRotation: next } : {};
  } catch {
    // Only a note in the result: the rollover itself is done and must not end failed over it.
    return {};
  }
}

export async function rolloverSigningKey(rawInput: RolloverInput): Promise<RolloverResult> {
  const input = parseInput(RolloverInput, rawInput);
  const tracker = new ProgressTracker(
    [
      'plan',
      'add',
      'roll out new key',
      'approval',
      'activate',
      'roll out flip',
      'wait',
      'remove',
      'roll out removal',
    ],
    `${input.dryRun ? 'plan a rollover' : 'roll over the signing key'} of keyring ${input.keyring}`,
  );
  const gates = new Gates(tracker, {
    type: 'rolloverSigningKey',
    input: rawInput as Record<string, unknown>,
  });
  // A batch of at most maxUnavailable replicas at a time, each checked (its JWKS lists the ring)
  // before the next restarts: the service never goes down as a whole. Runs recorded before this
  // restarted every replica at once.
  const rollover = new Rollover(tracker, gates, input, patched('roll-out-in-batches'));
  try {
    await claimSignedRequest(rawInput as Record<string, unknown>);
    const skipped = await checkStarterConfig(
      { kind: 'rollover', keyring: input.keyring },
      input.starterConfig,
      {
        overrideFreeze: input.overrideFreeze,
        dryRun: input.dryRun,
        tracker,
        window: input.window,
      },
    );
    // Outside its window and told to skip: it plans as a dry run does, changes nothing, says why.
    if (skipped) input.dryRun = true;
    // A dry run changes nothing and takes no lock.
    return await (input.dryRun
      ? rollover.run().then((r) => ({ ...r, ...skipped }))
      : withLocks(
          () => [`keyring/${input.keyring}`],
          () => rollover.run(),
        ));
  } catch (err) {
    tracker.fail(err);
    throw runFailure(err);
  }
}

/** The steps of one rollover, in the order `run` takes them. */
class Rollover {
  private readonly runId = workflowInfo().runId;
  private readonly keyring: string;
  /** The environments whose locks each roll-out holds. */
  private rolloutLocks: string[] = [];

  constructor(
    private readonly tracker: ProgressTracker,
    private readonly gates: Gates,
    private readonly input: RolloverInput,
    private readonly oneBatchAtATime: boolean,
  ) {
    this.keyring = input.keyring;
  }

  async run(): Promise<RolloverResult> {
    const { keyring, tracker } = this;
    const before = await tracker.run(
      'plan',
      () => keyrings.readKeyring({ keyring }),
      (f) => `kids ${f.kids.join(', ') || 'none'}, active ${f.active ?? 'none'}`,
    );
    const ttl = this.checkedTtl(before);
    const old = before.active;
    if (!old) throw fail(FailureType.BadInput, `keyring ${keyring} has no active key to roll over`);
    // Before any change: a run that cannot know its gate's rules must not add a key first.
    const policy = this.gates.policyOf(before.approval, {
      approvers: before.approvers,
      timeoutMs: parseDuration(before.approvalTimeout),
    });
    if (this.input.dryRun) {
      tracker.skipRest('dry run');
      tracker.finish('completed');
      return { keyring, dryRun: true, before };
    }
    // The gate comes from the config (the rules of the environments the ring serves) and is passed
    // before any change, so that every step carries its approvals (worker/guard.ts); runs recorded
    // before took it from the input, after the new key was added and rolled out.
    const fromConfig = patched('rollover-policy-from-config');
    this.rolloutLocks = fromConfig ? (before.environments ?? []) : [];
    const gated = fromConfig ? this.gated(before) : (this.input.requireApproval ?? false);
    if (fromConfig) {
      if (gated) await this.approve(before, old, ttl, policy);
      else tracker.set('approval', 'skipped', 'not required');
    }
    const added = await this.addAndActivate(before, old, policy, !fromConfig && gated);
    const expedited = await this.waitOut(old, ttl, policy);
    await tracker.run(
      'remove',
      () => keyrings.removeKey({ keyring, runId: this.runId, kid: old, ...this.gates.approved }),
      () => `removed ${old}`,
    );
    await tracker.run('roll out removal', () => this.rollOut(before));
    tracker.finish('completed');
    return {
      keyring,
      dryRun: false,
      before,
      added,
      removed: old,
      active: added,
      ...(expedited ? { expedited } : {}),
      ...(await nextRotation()),
    };
  }

  /** Whether the ring's environments require approval (plans of an older worker: the input's
   * word); a starter whose config says otherwise is refused, as for a rotation. */
  private gated(before: Ring): boolean {
    const gated = before.approvalRequired ?? this.input.requireApproval ?? false;
    // An approval asked for in the input (the Web UI, an older script) that the config does not
    // require is refused, not silently dropped: the gate is the config's.
    if (this.input.requireApproval && !gated)
      throw fail(
        FailureType.BadInput,
        `requireApproval: the config requires no approval for keyring ${this.keyring} (environments ${(before.environments ?? []).join(', ') || 'none'}): add one of them to approvals.requiredFor, or start the rollover without requireApproval; nothing was changed`,
      );
    checkExpectedGate(
      this.input.expectApproval,
      gated,
      `keyring ${this.keyring}`,
      `keyring ${this.keyring} (environments ${(before.environments ?? []).join(', ')})`,
    );
    return gated;
  }

  /** The gate, before the ring changes: what the whole rollover will do. */
  private async approve(before: Ring, old: string, ttl: string, policy: GatePolicy): Promise<void> {
    const outcome = await this.gates.approval({
      name: 'approval',
      policy,
      plan: `keyring ${this.keyring} (serving ${(before.environments ?? []).join(', ') || 'no environment'}): a new key added beside ${old} and rolled out, then made the active signing key; ${old} stays accepted ${ttl}, then is removed and rolled out again; ${before.replicas.length} replica(s) restarted in batches of ${before.maxUnavailable} at each roll-out`,
      ...(before.scope ? { scope: before.scope } : {}),
    });
    if (!outcome.approved) throw notApproved(outcome, `keyring ${this.keyring} unchanged`);
  }

  /** The wait asked for, refused when tokens signed by the old key could outlive it. */
  private checkedTtl(before: Ring): string {
    const ttl = this.input.ttl ?? before.tokenLifetime;
    if (parseDuration(ttl) < parseDuration(before.tokenLifetime)) {
      throw fail(
        FailureType.BadInput,
        `a ${ttl} wait is shorter than keyring ${this.keyring}'s token lifetime ${before.tokenLifetime}: tokens signed by the old key could outlive it; nothing was changed`,
      );
    }
    return ttl;
  }

  /** The new key added and rolled out beside the old, approved (if required), made active. */
  private async addAndActivate(
    before: Ring,
    old: string,
    policy: GatePolicy,
    /** Runs recorded before the gate came first: it came here, after the new key was out. */
    gateHere: boolean,
  ): Promise<string> {
    const { keyring, tracker, runId } = this;
    const { added } = await tracker.run(
      'add',
      () => keyrings.addKey({ keyring, runId, ...this.gates.approved }),
      (f) => `added ${f.added}`,
    );
    await tracker.run('roll out new key', () => this.rollOut(before));
    if (gateHere) {
      const outcome = await this.gates.approval({
        name: 'approval',
        policy,
        plan: `keyring ${keyring}: make ${added} the active signing key (replacing ${old}, which stays accepted until the wait ends); ${before.replicas.length} replica(s) restarted in batches of ${before.maxUnavailable}`,
      });
      if (!outcome.approved) throw notApproved(outcome, `${old} stays active`);
    } else if (!this.gates.approved.approval) {
      tracker.set('approval', 'skipped', 'not required');
    }
    await tracker.run(
      'activate',
      () => keyrings.activate({ keyring, runId, kid: added, ...this.gates.approved }),
      () => `active ${added}`,
    );
    await tracker.run('roll out flip', () => this.rollOut(before));
    return added;
  }

  /** The durable wait: tokens signed by the old key may live this long. An approver may end it. */
  private async waitOut(old: string, ttl: string, policy: GatePolicy): Promise<RolloverResult['expedited']> {
    const ttlMs = parseDuration(ttl);
    const waitStart = Date.now();
    this.tracker.set(
      'wait',
      'running',
      `until ${new Date(waitStart + ttlMs).toISOString()} (${ttl}); ${old} still accepted`,
    );
    const ended = await this.gates.expeditableWait({
      name: 'wait',
      policy,
      plan: `keyring ${this.keyring}: end the ${ttl} wait now and remove ${old}; tokens it signed stop working at once`,
      ms: ttlMs,
    });
    const expedited = ended && { ...ended, cutShortMs: Math.max(0, waitStart + ttlMs - Date.now()) };
    this.tracker.set('wait', 'done', expedited ? `expedited by ${expedited.by}` : `waited ${ttl}`);
    return expedited;
  }

  /** Every replica restarted, each checked (its JWKS lists the ring), in batches, holding the
   * locks of the environments the ring serves (no rotation restarts them meanwhile). */
  private async rollOut(ring: Ring): Promise<void> {
    if (this.rolloutLocks.length === 0) return this.rollOutBatches(ring);
    // The ring has changed already: a roll-out waits (up to an hour) for another run of these
    // environments to end rather than leave the replicas behind the ring.
    for (let attempt = 1; ; attempt++) {
      try {
        return await withLocks(
          () => this.rolloutLocks.map((e) => `env/${e}`),
          () => this.rollOutBatches(ring),
          `keyring ${this.keyring} changed but not rolled out to every replica: run the rollover again`,
        );
      } catch (err) {
        if (!(isFailure(err, FailureType.EnvironmentBusy) && attempt < 60)) throw err;
        this.tracker.set(
          this.tracker.progress.current ?? 'roll out',
          'running',
          `waiting: ${(err as Error).message}`,
        );
        await sleep('1 minute');
      }
    }
  }

  private async rollOutBatches(ring: Ring): Promise<void> {
    const replicas = ring.replicas.length;
    const size = this.oneBatchAtATime ? ring.maxUnavailable : replicas;
    for (let first = 0; first < replicas; first += size) {
      const batch = Array.from({ length: Math.min(size, replicas - first) }, (_, i) => first + i);
      await Promise.all(
        batch.map((replica) =>
          rollout(`roll out ${this.keyring} to replica ${replica}: restart, check its JWKS`).rollOut({
            keyring: this.keyring,
            replica,
            // The environments this run locked for its roll-outs (worker/held-locks.ts checks them).
            environments: this.rolloutLocks,
            ...this.gates.approved,
          }),
        ),
      );
    }
  }
}
