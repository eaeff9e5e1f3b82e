// rekey's workflow types and what each does, in one list: the CLI (which runs show steps, which
// open gates), the lock activities (which runs take locks) and the tests read it; a fast test
// checks it against what workflows/index.ts registers.
export const WORKFLOW_TYPES = {
  rotateJwtKeys: { progress: true, gates: true, locks: true, changes: true },
  promote: { progress: true, gates: false, locks: false, changes: true },
  promoteHop: { progress: true, gates: true, locks: true, changes: true },
  rotateSecret: { progress: true, gates: true, locks: true, changes: true },
  rotateSecrets: { progress: true, gates: true, locks: true, changes: true },
  rolloverSigningKey: { progress: true, gates: true, locks: true, changes: true },
  rotateCodecKey: { progress: true, gates: false, locks: true, changes: true },
  reencryptRows: { progress: false, gates: false, locks: false, changes: false },
  environmentLock: { progress: false, gates: false, locks: false, changes: false },
  requestClaim: { progress: false, gates: false, locks: false, changes: false },
  deliverEvent: { progress: false, gates: false, locks: false, changes: false },
  // Reads the secrets' states and announces those due: in no audit trail.
  watchSecrets: { progress: true, gates: false, locks: false, changes: false },
} as const;

/** The workflow types that answer the progress query, open approval gates, take rekey's locks, or
 * change something (the runs of the audit trail, `rekey history`). */
export const typesThat = (what: 'progress' | 'gates' | 'locks' | 'changes'): ReadonlySet<string> =>
  new Set(
    Object.entries(WORKFLOW_TYPES)
      .filter(([, t]) => t[what])
      .map(([name]) => name),
  );

/** Workflow types that hold a lock by running under the lock's own id, and that id's prefix: a
 * secret's rotation (`rotate-secret/NAME/E`, the lock `secret/NAME/E`). Any other run under such
 * an id holds nothing. */
export const SELF_HELD: Readonly<Record<string, string>> = { rotateSecret: 'rotate-secret/' };
