// The part of activities/ that runs outside a workflow too: what the CLI (client/) calls directly,
// for read-only checks (verify, sync-status, a promotion hop's pre-start check), the local
// token re-sign, and the quickstart's seeding. The client imports activities only from here.

export { openHost, withHost } from '../hosts/connect';
export { writeFileAtomicSync } from '../hosts/local-files';
export { shellQuote } from '../hosts/shell';
export { createServiceDriver } from '../services/service';
export { addCodecKey, codecKeyringOf } from './codec-keyring';
export { hopProblem } from './hop-checks';
export { fingerprint, generateKeyPair, normalizePem, parsePrivateKey, publicPemOf } from './keys';
export { createRotationActivities, type VerifyReport } from './rotation';
export { createSecretStore, storeKeyPair } from './secret-store';
export { resignCliToml } from './tokens';
