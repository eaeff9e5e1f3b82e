// What rekey does with a store, whatever its type: a store of versions (SecretStore), or a place it
// only writes (WriteOnlyPlace). Values stay inside activities: workflows get SecretRefs.

import type { TokenCredential } from '@azure/core-auth';
import type { AdditionalPolicyConfig } from '@azure/core-client';
import type { Host } from '../hosts/types';
import type { AccessSecret } from './access-secret';

export interface SecretVersionInfo {
  name: string;
  version: string;
  tags: Record<string, string>;
  /** ISO timestamp. */
  createdOn: string;
  enabled: boolean;
}

export interface SecretStore {
  /** The config's store name. */
  readonly name: string;
  set(name: string, value: string, tags: Record<string, string>): Promise<SecretVersionInfo>;
  /** The newest version when `version` is omitted; a missing one fails with NotFound. */
  get(name: string, version?: string): Promise<SecretVersionInfo & { value: string }>;
  /** Oldest first; [] when the secret doesn't exist. Versions written in the same second may
   * be listed in either order (Key Vault): ask `current` which one readers get. */
  listVersions(name: string): Promise<SecretVersionInfo[]>;
  /** The version readers get now (what `get` without a version returns); null when none. */
  current(name: string): Promise<SecretVersionInfo | null>;
  /** Disables an old version (kept, not readable until enabled again); absent where the store
   * cannot (SSM parameter versions). */
  disable?(name: string, version: string): Promise<void>;
}

export interface SecretRef {
  store: string;
  name: string;
  version: string;
}

/** Where a key pair's two halves are (references: the Web UI shows these, never a key). */
export interface PairRef {
  privateKeyRef: SecretRef;
  publicKeyRef: SecretRef;
  fingerprint: string;
}

/** A PairRef as runs started before the fields were named ...Ref recorded it in their histories:
 * an activity given one by such a run still reads it. */
export type RecordedPairRef = PairRef | { privateKey: SecretRef; publicKey: SecretRef; fingerprint: string };

export const pairRef = (r: RecordedPairRef): PairRef =>
  'privateKeyRef' in r
    ? r
    : { privateKeyRef: r.privateKey, publicKeyRef: r.publicKey, fingerprint: r.fingerprint };

export interface SecretNames {
  privateKey: string;
  publicKey: string;
}

export interface SecretStoreOptions {
  /** Instead of the one the config names (tests pass one returning the stand-in's token). */
  credential?: TokenCredential;
  /** Extra pipeline policies for the SecretClient (e.g. to observe or shape requests). */
  additionalPolicies?: AdditionalPolicyConfig[];
}

/** A place rekey writes but cannot read back (a role's password, a GitHub Actions secret, a
 * command's): set from a recipe's first location's value, put back from its old version. */
export interface WriteOnlyPlace {
  /** The plan's `current` for it: "role" for a PostgreSQL role, else "write-only". */
  marker: 'role' | 'write-only';
  /** What a write does, for the plan. */
  text: string;
  /** It is there (and may be written: the plan checks before any change). */
  exists(): Promise<boolean>;
  set(value: string): Promise<void>;
}

/** What a write-only place needs from the run around it. */
export interface PlaceContext {
  /** The environment the value is for. */
  env: string;
  /** A store's access secret (another store's secret, or an environment variable), read when used. */
  secret(from: AccessSecret): () => Promise<string>;
  /** Runs `fn` on the environment's host (a command store's command). */
  onEnvHost<T>(fn: (host: Host) => Promise<T>): Promise<T>;
  /** Runs `fn` on host `name` of `hosts:` (a database reached through it). */
  onHost<T>(name: string, fn: (host: Host) => Promise<T>): Promise<T>;
}

export type StoreDriver<C> =
  | { open(storeName: string, cfg: C, opts: SecretStoreOptions): SecretStore }
  | { place(storeName: string, cfg: C, name: string, ctx: PlaceContext): WriteOnlyPlace };
