// The part of activities/ that runs outside a workflow too: what the CLI (client/) calls directly,
// for read-only checks (verify, sync-status, a promotion hop's pre-start check), the local
// token re-sign, and the quickstart's seeding. The client imports activities only from here.

export { addCodecKey, codecKeyringOf } from './codec-keyring';
export { hopProblem } from './hop-checks';
export { openHost, withHost } from './hosts';
export { fingerprint, generateKeyPair, normalizePem, parsePrivateKey, publicPemOf } from './keys';
export { writeFileAtomicSync } from './local-files';
export { createRotationActivities, type VerifyReport } from './rotation';
export { createSecretStore, storeKeyPair } from './secret-store';
export { createServiceDriver } from './service';
export { shellQuote } from './shell';
export { resignCliToml } from './tokens';
