// Overlap ("kid") rollover for services that accept several keys: add v(N+1) beside vN, roll
// out, flip active, wait out the longest token lifetime (a durable timer: days or months), remove
// vN, roll out. No token is ever rejected while it could still be valid.

import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { KeyringActivities, RingFacts } from '../activities/keyring';
import type { ScheduleActivities } from '../activities/schedules';
import { parseDuration } from '../config/duration';
import { FailureType, fail } from '../shared/failures';
import { quickActivity, serviceActivity, summarized } from './activity-options';
import { Gates, notApproved } from './approvals';
import { withLocks } from './environment-lock';
import { parseInput, runFailure } from './errors';
import { RolloverInput } from './inputs';
import { ProgressTracker } from './progress';
import { startingSchedule } from './scheduled';

const ring = proxyActivities<KeyringActivities>(quickActivity);
const rollout = summarized<KeyringActivities>(serviceActivity);
const schedules = proxyActivities<ScheduleActivities>(quickActivity);

export interface RolloverResult {
  keyring: string;
  dryRun: boolean;
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
  const next = scheduleId ? await schedules.nextScheduledStart({ scheduleId }) : null;
  return next ? { nextRotation: next } : {};
}

export async function rolloverSigningKey(rawInput: RolloverInput): Promise<RolloverResult> {
  const input = parseInput(RolloverInput, rawInput);
  const { runId } = workflowInfo();
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
  const oneBatchAtATime = patched('roll-out-in-batches');
  const rollOutAll = async (replicas: number, maxUnavailable = 1) => {
    const all = Array.from({ length: replicas }, (_, replica) => replica);
    const size = oneBatchAtATime ? maxUnavailable : replicas;
    for (let i = 0; i < all.length; i += size) {
      await Promise.all(
        all.slice(i, i + size).map((replica) =>
          rollout(`roll out ${input.keyring} to replica ${replica}: restart, check its JWKS`).rollOut({
            keyring: input.keyring,
            replica,
          }),
        ),
      );
    }
  };
  const body = async (): Promise<RolloverResult> => {
    const before = await tracker.run(
      'plan',
      () => ring.readKeyring({ keyring: input.keyring }),
      (f) => `kids ${f.kids.join(', ') || 'none'}, active ${f.active ?? 'none'}`,
    );
    const ttl = input.ttl ?? before.tokenLifetime;
    if (parseDuration(ttl) < parseDuration(before.tokenLifetime)) {
      throw fail(
        FailureType.BadInput,
        `a ${ttl} wait is shorter than keyring ${input.keyring}'s token lifetime ${before.tokenLifetime}: tokens signed by the old key could outlive it; nothing was changed`,
      );
    }
    if (!before.active) {
      throw fail(FailureType.BadInput, `keyring ${input.keyring} has no active key to roll over`);
    }
    const old = before.active;
    // Before any change: a run that cannot know its gate's rules must not add a key first.
    const policy = gates.policyOf(before.approval, {
      approvers: before.approvers,
      timeoutMs: parseDuration(before.approvalTimeout),
    });
    if (input.dryRun) {
      tracker.skipRest('dry run');
      tracker.finish('completed');
      return { keyring: input.keyring, dryRun: true, before };
    }

    const added = (
      await tracker.run(
        'add',
        () => ring.addKey({ keyring: input.keyring, runId }),
        (f) => `added ${f.added}`,
      )
    ).added;
    const replicas = before.replicas.length;
    await tracker.run('roll out new key', () => rollOutAll(replicas, before.maxUnavailable));

    if (input.requireApproval) {
      const outcome = await gates.approval({
        name: 'approval',
        policy,
        plan: `keyring ${input.keyring}: make ${added} the active signing key (replacing ${old}, which stays accepted until the wait ends); ${replicas} replica(s) restarted in batches of ${before.maxUnavailable}`,
      });
      if (!outcome.approved) throw notApproved(outcome, `${old} stays active`);
    } else {
      tracker.set('approval', 'skipped', 'not required');
    }

    await tracker.run(
      'activate',
      () => ring.activate({ keyring: input.keyring, runId, kid: added }),
      () => `active ${added}`,
    );
    await tracker.run('roll out flip', () => rollOutAll(replicas, before.maxUnavailable));

    // The durable wait: tokens signed by the old key may live this long.
    const ttlMs = parseDuration(ttl);
    const waitStart = Date.now();
    tracker.set(
      'wait',
      'running',
      `until ${new Date(waitStart + ttlMs).toISOString()} (${ttl}); ${old} still accepted`,
    );
    const ended = await gates.expeditableWait({
      name: 'wait',
      policy,
      plan: `keyring ${input.keyring}: end the ${ttl} wait now and remove ${old}; tokens it signed stop working at once`,
      ms: ttlMs,
    });
    const expedited: RolloverResult['expedited'] = ended && {
      ...ended,
      cutShortMs: Math.max(0, waitStart + ttlMs - Date.now()),
    };
    tracker.set('wait', 'done', expedited ? `expedited by ${expedited.by}` : `waited ${ttl}`);

    await tracker.run(
      'remove',
      () => ring.removeKey({ keyring: input.keyring, runId, kid: old }),
      () => `removed ${old}`,
    );
    await tracker.run('roll out removal', () => rollOutAll(replicas, before.maxUnavailable));
    tracker.finish('completed');
    return {
      keyring: input.keyring,
      dryRun: false,
      before,
      added,
      removed: old,
      active: added,
      ...(expedited ? { expedited } : {}),
      ...(await nextRotation()),
    };
  };
  try {
    // A dry run changes nothing and takes no lock.
    return await (input.dryRun ? body() : withLocks(() => [`keyring/${input.keyring}`], body));
  } catch (err) {
    tracker.finish('failed');
    throw runFailure(err);
  }
}
