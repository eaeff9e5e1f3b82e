// rekey's workflow types and what each does, in one list: the CLI (which runs show steps, which
// open gates), the lock activities (which runs take locks) and the tests read it; a fast test
// checks it against what workflows/index.ts registers.
export const WORKFLOW_TYPES = {
  rotateJwtKeys: { progress: true, gates: true, locks: true },
  promote: { progress: true, gates: false, locks: false },
  promoteHop: { progress: true, gates: true, locks: true },
  rotateSecret: { progress: true, gates: true, locks: true },
  rolloverSigningKey: { progress: true, gates: true, locks: true },
  rotateCodecKey: { progress: true, gates: false, locks: true },
  reencryptRows: { progress: false, gates: false, locks: false },
  environmentLock: { progress: false, gates: false, locks: false },
  requestClaim: { progress: false, gates: false, locks: false },
  deliverEvent: { progress: false, gates: false, locks: false },
  watchSecrets: { progress: true, gates: false, locks: false },
} as const;

/** The workflow types that answer the progress query, open approval gates, or take rekey's locks. */
export const typesThat = (what: 'progress' | 'gates' | 'locks'): ReadonlySet<string> =>
  new Set(
    Object.entries(WORKFLOW_TYPES)
      .filter(([, t]) => t[what])
      .map(([name]) => name),
  );
