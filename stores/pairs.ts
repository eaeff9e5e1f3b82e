// A JWT key pair in a store: written as two versions tagged with the run, so that a retried write
// finds its own versions instead of writing again; read back; and a version made current again.
import { FailureType, fail, isFailure } from '../shared/failures';
import type { PairRef, SecretNames, SecretRef, SecretStore, SecretVersionInfo } from './types';

type Role = 'private' | 'public';

/** A version an earlier attempt of this run stored for `role` (and this key, when given). */
const mineFor = (runId: string, role: Role, fingerprint?: string) => (v: SecretVersionInfo) =>
  v.tags.rekeyRunId === runId &&
  !v.tags.restoredFrom &&
  v.tags.role === role &&
  (fingerprint === undefined || v.tags.fingerprint === fingerprint);

function checkNames(store: SecretStore, names: SecretNames): void {
  if (names.privateKey === names.publicKey)
    throw fail(
      FailureType.BadInput,
      `store ${store.name}: the private and public key need different secret names (both are "${names.privateKey}")`,
    );
}

/**
 * Stores a pair as new versions tagged {rekeyRunId, fingerprint, role}. Idempotent: versions this
 * run already made for this key are returned instead of writing again (private key first, so a
 * retry after a crash between the two writes only adds the missing public key; a key the caller
 * has just made is not looked for before its first write). A retry that brings a different key
 * (another fingerprint) writes new versions for it.
 */
export async function storeKeyPair(
  store: SecretStore,
  names: SecretNames,
  pair: { privatePem: string; publicPem: string; fingerprint: string },
  runId: string,
  /** The caller has just made this key and written it nowhere: its private half's first write
   * need not look for an earlier version of it (a read less). */
  fresh = false,
): Promise<PairRef> {
  checkNames(store, names);
  const ref = async (name: string, value: string, role: Role): Promise<SecretRef> => {
    const existing =
      fresh && role === 'private'
        ? undefined
        : (await store.listVersions(name)).find(mineFor(runId, role, pair.fingerprint));
    const v =
      existing ?? (await store.set(name, value, { rekeyRunId: runId, fingerprint: pair.fingerprint, role }));
    return { store: store.name, name, version: v.version };
  };
  const privateKeyRef = await ref(names.privateKey, pair.privatePem, 'private');
  const publicKeyRef = await ref(names.publicKey, pair.publicPem, 'public');
  return { privateKeyRef, publicKeyRef, fingerprint: pair.fingerprint };
}

export interface StorePreview {
  store: string;
  name: string;
  /** The newest version now (what readers get), null when the secret doesn't exist. */
  currentVersion: string | null;
  /** Whether storeKeyPair would write a new version. */
  wouldCreate: boolean;
  /** The version of this run storeKeyPair would return instead of writing. */
  reusedVersion?: string;
}

/** What storeKeyPair would do, without writing anything. */
export async function previewStoreKeyPair(
  store: SecretStore,
  names: SecretNames,
  runId: string,
  fingerprint?: string,
): Promise<{ privateKey: StorePreview; publicKey: StorePreview }> {
  checkNames(store, names);
  const one = async (name: string, role: Role): Promise<StorePreview> => {
    const mine = (await store.listVersions(name)).find(mineFor(runId, role, fingerprint));
    return {
      store: store.name,
      name,
      currentVersion: (await store.current(name))?.version ?? null,
      wouldCreate: !mine,
      ...(mine ? { reusedVersion: mine.version } : {}),
    };
  };
  return {
    privateKey: await one(names.privateKey, 'private'),
    publicKey: await one(names.publicKey, 'public'),
  };
}

/** A pair's values: the newest versions, or the given ones. */
export async function readKeyPair(
  store: SecretStore,
  names: SecretNames,
  versions: { privateKey?: string; publicKey?: string } = {},
) {
  const priv = await store.get(names.privateKey, versions.privateKey);
  const pub = await store.get(names.publicKey, versions.publicKey);
  return {
    privatePem: priv.value,
    publicPem: pub.value,
    ref: {
      privateKeyRef: { store: store.name, name: names.privateKey, version: priv.version },
      publicKeyRef: { store: store.name, name: names.publicKey, version: pub.version },
    },
  };
}

/** The newest pair, or null when the store has no private key under its name. Two reads where the
 * pair exists: a listing first would be a third, and a fleet's plans are bounded by the vault's
 * reads. */
export async function readCurrentPair(store: SecretStore, names: SecretNames) {
  try {
    return await readKeyPair(store, names);
  } catch (err) {
    // NotFound is also a disabled newest version (Key Vault) or a missing public key: only a
    // private key with no version at all means there is no pair.
    if (!isFailure(err, FailureType.NotFound)) throw err;
    // A listing that fails (throttled) fails the read with its own, retryable error.
    if ((await store.listVersions(names.privateKey)).length === 0) return null;
    throw err;
  }
}

/** Makes `version` current again by writing its value as the newest version; once per run. */
export async function restoreVersion(
  store: SecretStore,
  name: string,
  version: string,
  runId: string,
): Promise<SecretRef> {
  // An empty version would match this run's own staged version below (no restoredFrom tag) and
  // report a put-back that never happened.
  if (!version)
    throw fail(
      FailureType.BadInput,
      `store ${store.name}: no version to put back for ${name} (the run's plan names none); nothing was changed`,
    );
  const done = (await store.listVersions(name)).find(
    (v) => v.tags.rekeyRunId === runId && v.tags.restoredFrom === version,
  );
  if (done) return { store: store.name, name, version: done.version };
  // Still current (this run never wrote a version of it): nothing to put back.
  if ((await store.current(name))?.version === version) return { store: store.name, name, version };
  const old = await store.get(name, version);
  const v = await store.set(name, old.value, { ...old.tags, rekeyRunId: runId, restoredFrom: version });
  return { store: store.name, name, version: v.version };
}
