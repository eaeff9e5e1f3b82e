// The patch ledger: every patched() id in workflows/, what it changed, the recorded histories that
// take its new path (they hold its marker; the same workflow's histories without it take the old
// one), and the commit it first appears in. test/fast/patches.test.ts checks the list against the
// code and against test/histories, so it cannot drift.
//
// A patch's life (Temporal's patching API): patched(ID) keeps runs started before a change on the
// old path. When no run started before ID shipped is open in any namespace rekey ran in (finished,
// and the namespace's retention past), the old branch goes and the call becomes
// deprecatePatch(ID); when no run started before that is open either, deprecatePatch(ID) goes too.
// A recorded history that takes a removed branch is removed with it (replay.test.ts would fail on
// it). Nothing here is read by a workflow: it is a record for the people who remove patches.

export interface Patch {
  /** The workflow files that call patched(ID). */
  in: string[];
  /** What the new path does that the old one did not. */
  change: string;
  /** The first commit with ID in workflows/ (`git log --reverse -S"'ID'" -- workflows`). */
  since: string;
  /** Recorded histories (test/histories, without .json) holding its marker. Empty: no recorded
   * history covers the new path yet; the old one is covered by every history of those
   * workflows. */
  recordedIn: string[];
}

const SECRET_RUNS = [
  'rotate-secret-cancelled',
  'rotate-secret-coupled-worker-killed',
  'rotate-secret-keyring-compromised',
  'rotate-secret-keyring-kubernetes',
  'rotate-secret-probe-failed-unused-revoked',
  'rotate-secret-reencrypt-again',
  'rotate-secret-reencrypt-worker-killed',
  'rotate-secret-respond-consumers',
];

/** A secret run recorded after its reads became activities again (reads-not-local). */
const NEW_SECRET_RUNS = ['rotate-secret-manual-supplied', 'rotate-secret-secrets-lock-free'];

/** Runs over an environment's secrets (rotateSecrets). */
const SECRET_BATCH_RUNS = ['rotate-secrets-probe-failed', 'rotate-secrets-refused-secret-busy'];
/** Hops with nothing to copy but the token file (skip-empty-copy), passed and put back. */
const TOKEN_ONLY_HOPS = ['promote-hop-token-only', 'promote-hop-token-put-back'];
/** The same re-run hop recorded after locks were taken by an activity (locks-taken-by-activity). */
const ACTIVITY_LOCK_HOPS = ['promote-hop-locks-by-activity'];
/** A hop whose publish failed, restored, its restore's marks removed (drop-restore-marks). */
const RESTORED_HOPS = ['promote-hop-restore-marks-dropped'];
/** A rotation of four environments recorded after locks were taken by an activity. */
const ACTIVITY_LOCK_ROTATIONS = ['rotate-jwt-locks-by-activity'];

export const PATCHES: Record<string, Patch> = {
  'approval-updates': {
    in: ['approvals.ts', 'legacy-gate.ts'],
    change: 'decisions are Updates with validators (legacy-gate.ts keeps the signals of older runs)',
    since: '81b8338',
    recordedIn: [
      'rotate-jwt-notify-rejected',
      'promote-hop-approved-from-web-ui',
      'rollover-kubernetes',
      'rotate-jwt-signed-update-not-starter',
      ...SECRET_RUNS,
      ...NEW_SECRET_RUNS,
      ...SECRET_BATCH_RUNS,
      ...TOKEN_ONLY_HOPS,
      ...ACTIVITY_LOCK_HOPS,
      ...RESTORED_HOPS,
      ...ACTIVITY_LOCK_ROTATIONS,
    ],
  },
  'clean-slate-clears-token': {
    in: ['rotate.ts'],
    change: 'without preserveToken, the cached publisher token is cleared (not left to fail)',
    since: '700b7ca',
    recordedIn: ['rotate-jwt-notify-rejected'],
  },
  'clean-slate-without-token': {
    in: ['rotate-steps.ts'],
    change: 'a clean-slate rotation clears a host that holds no token too',
    since: '7fb26e1',
    recordedIn: [],
  },
  'environment-locks': {
    in: ['environment-lock.ts'],
    change: 'runs take a lock child per environment',
    since: '6d9f521',
    recordedIn: [
      'rotate-jwt-notify-rejected',
      'promote-hop-approved-from-web-ui',
      'promote-hop-gate-first',
      'promote-hop-plan-changed',
      'rollover-batches',
      'rollover-kubernetes',
      'rotate-jwt-group-rollback',
      'rotate-jwt-signed-update-not-starter',
      ...SECRET_RUNS,
      ...NEW_SECRET_RUNS,
      ...SECRET_BATCH_RUNS,
      ...TOKEN_ONLY_HOPS,
    ],
  },
  'gate-before-stop': {
    in: ['promote-hop.ts'],
    change: 'the destination stays up through the approval wait',
    since: '6d9f521',
    recordedIn: [
      'promote-hop-approved-from-web-ui',
      'promote-hop-gate-first',
      'promote-hop-plan-changed',
      ...TOKEN_ONLY_HOPS,
      ...ACTIVITY_LOCK_HOPS,
      ...RESTORED_HOPS,
    ],
  },
  'hop-ids-and-cancel-on-close': {
    in: ['promote.ts'],
    change: 'hop ids that names with "-" cannot make collide; a closed promotion cancels its hop',
    since: '6d9f521',
    recordedIn: [],
  },
  'reads-not-local': {
    in: ['rotate-secret.ts', 'starter-config.ts'],
    change:
      "reads are activities again, not local ones (a local activity's result recorded in a workflow task of its own replayed the code after it in another task: a nondeterminism error)",
    since: '797a639',
    recordedIn: [...NEW_SECRET_RUNS, ...TOKEN_ONLY_HOPS, ...ACTIVITY_LOCK_HOPS, ...RESTORED_HOPS],
  },
  'event-id-from-seed': {
    in: ['notify.ts'],
    change:
      "an event's id is unique by the workflow's seeded random numbers, not its clock (replayed after a local activity, the clock read another time)",
    since: '56d0c7e',
    recordedIn: [],
  },
  'hop-notify-routing': {
    in: ['starter-config.ts'],
    change: 'a hop asks its worker which events to emit (notifyRouting) and announces its gates',
    since: '7332ecc',
    recordedIn: [...TOKEN_ONLY_HOPS, ...ACTIVITY_LOCK_HOPS, ...RESTORED_HOPS],
  },
  'hop-window-from-parent': {
    in: ['promote-hop.ts'],
    change: "the request's window runs from the promotion's start as the server reports it",
    since: 'dba4fe0',
    recordedIn: [],
  },
  'next-rotation-from-schedule': {
    in: ['rollover.ts'],
    change: "the next rotation is the schedule's next start",
    since: '9630b84',
    recordedIn: ['rollover-kubernetes'],
  },
  'refused-place-unchanged': {
    in: ['secret-steps.ts'],
    change: 'a write-only place whose write was refused is not put back',
    since: '22a5eb4',
    recordedIn: [],
  },
  'release-locks-by-signal': {
    in: ['environment-lock.ts'],
    change: 'locks are released by a signal, not by cancelling the lock child',
    since: 'aeca08f',
    recordedIn: ['rotate-jwt-notify-rejected', ...NEW_SECRET_RUNS, ...SECRET_BATCH_RUNS, ...TOKEN_ONLY_HOPS],
  },
  'retire-old-keys': {
    in: ['rotate.ts'],
    change: 'old key versions are retired once the rotation is done',
    since: '757a1c3',
    recordedIn: ACTIVITY_LOCK_ROTATIONS,
  },
  'roll-back-whole-key-group': {
    in: ['rotate-steps.ts'],
    change: "a failed environment rolls back its key group's other environments too",
    since: '6d9f521',
    recordedIn: ['rotate-jwt-group-rollback'],
  },
  'roll-out-in-batches': {
    in: ['rollover.ts'],
    change: 'replicas restart in batches of maxUnavailable, each checked',
    since: '341c9e7',
    recordedIn: ['rollover-batches', 'rollover-kubernetes'],
  },
  'rollover-policy-from-config': {
    in: ['rollover.ts'],
    change: 'the gate comes from the config and is passed before any change',
    since: 'aeca08f',
    recordedIn: [],
  },
  'schedule-request-checked': {
    in: ['requests.ts'],
    change: 'a request signed for a schedule is checked against the runs that schedule started',
    since: 'dba4fe0',
    recordedIn: [],
  },
  'secret-batches': {
    in: ['rotate-secret.ts'],
    change:
      "a secret's rotation refuses to start while a run over its environment's secrets (rotateSecrets, which holds `secrets/E`) goes",
    since: 'fbab4a1',
    recordedIn: ['rotate-secret-secrets-lock-free'],
  },
  'secret-reads-local': {
    in: ['rotate-secret.ts'],
    change: 'reads that change nothing are local activities',
    since: '79bdd24',
    recordedIn: SECRET_RUNS,
  },
  'secret-run-holds-its-lock': {
    in: ['environment-lock.ts'],
    change: "a secret rotation is its own secret's lock (no child for it)",
    since: '79bdd24',
    recordedIn: [
      'rotate-jwt-notify-rejected',
      'rollover-kubernetes',
      ...SECRET_RUNS,
      ...NEW_SECRET_RUNS,
      ...SECRET_BATCH_RUNS,
      ...TOKEN_ONLY_HOPS,
    ],
  },
  'settle-host-work-on-cancel': {
    in: ['promote-hop.ts', 'rotate.ts'],
    change: 'a cancel waits for the host work in flight before undoing',
    since: '840aecb',
    recordedIn: [...TOKEN_ONLY_HOPS, ...ACTIVITY_LOCK_HOPS, ...RESTORED_HOPS, ...ACTIVITY_LOCK_ROTATIONS],
  },
  'skip-empty-copy': {
    in: ['promote-hop.ts'],
    change:
      'a hop whose plan (destination stopped) changes nothing but the token file saves that file alone and makes no copy',
    since: '87b513c',
    recordedIn: [...TOKEN_ONLY_HOPS, ...ACTIVITY_LOCK_HOPS],
  },
  'starter-config-checked': {
    in: ['starter-config.ts'],
    change: "the run refuses a worker whose config differs from the starter's",
    since: 'b426391',
    recordedIn: [
      'rotate-jwt-notify-rejected',
      ...NEW_SECRET_RUNS,
      ...SECRET_BATCH_RUNS,
      ...ACTIVITY_LOCK_ROTATIONS,
    ],
  },
  'drop-restore-marks': {
    in: ['promote-hop.ts'],
    change:
      'after a restore, the marks it kept for a retry of its own are removed (they were left beside the data dir)',
    since: '1fc7811',
    recordedIn: RESTORED_HOPS,
  },
  'env-locks-last': {
    in: ['environment-lock.ts'],
    change:
      "a run takes a secret's lock before its environment's, as a secret's rotation under its own id does (they were taken in name order, env/ first)",
    since: 'fd88046',
    recordedIn: [],
  },
  'locks-taken-by-activity': {
    in: ['environment-lock.ts'],
    change:
      'a run takes its locks through an activity that starts each lock workflow with a start delay (no worker runs it) and terminates it at release, instead of a child workflow per lock',
    since: 'b07f6ad',
    recordedIn: [...ACTIVITY_LOCK_HOPS, ...RESTORED_HOPS, ...ACTIVITY_LOCK_ROTATIONS],
  },
  'space-after-plan': {
    in: ['promote-hop.ts'],
    change:
      "the destination's space is checked against the plan (a hop that copies nothing needs no room for a copy and a snapshot), not in the preflight",
    since: '1fc7811',
    recordedIn: [...ACTIVITY_LOCK_HOPS, ...RESTORED_HOPS],
  },
  'stop-before-restore': {
    in: ['promote-hop.ts'],
    change: 'the destination is stopped before its data is restored',
    since: '700b7ca',
    recordedIn: ['promote-hop-token-put-back', ...RESTORED_HOPS],
  },
  'unstage-after-failed-stage': {
    in: ['rotate-steps.ts'],
    change: 'a failed stage is undone',
    since: '6d9f521',
    recordedIn: [
      'rotate-jwt-group-rollback',
      'rotate-jwt-signed-update-not-starter',
      ...ACTIVITY_LOCK_ROTATIONS,
    ],
  },
};
