// Secret stores behind one interface: Azure Key Vault (the real SDK), AWS SSM Parameter Store
// (ssm-store.ts) and a file store for the `local` environment. Versions are immutable; the
// current version is the newest one, as in Key Vault. Values stay inside activities: workflows
// get SecretRefs.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TokenCredential } from '@azure/core-auth';
import type { AdditionalPolicyConfig } from '@azure/core-client';
import {
  AzureCliCredential,
  DefaultAzureCredential,
  EnvironmentCredential,
  ManagedIdentityCredential,
} from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { ApplicationFailure } from '@temporalio/common';
import type { StoreConfig } from '../config/schema';
import { writeFileAtomicSync } from '../hosts/local-files';
import { FailureType, fail } from '../shared/failures';
import { SsmStore } from './ssm-store';

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

export interface PairRef {
  privateKey: SecretRef;
  publicKey: SecretRef;
  fingerprint: string;
}

export interface SecretNames {
  privateKey: string;
  publicKey: string;
}

// ---------------------------------------------------------------------------------------------
// Azure Key Vault

function credentialFor(kind: string): TokenCredential {
  switch (kind) {
    case 'azure-cli':
      return new AzureCliCredential();
    case 'environment':
      return new EnvironmentCredential();
    case 'managed-identity':
      return new ManagedIdentityCredential();
    default:
      return new DefaultAzureCredential();
  }
}

function restStatus(err: unknown): number | undefined {
  return (err as { statusCode?: number } | null)?.statusCode;
}

export interface SecretStoreOptions {
  /** Instead of the one the config names (tests pass one returning the stand-in's token). */
  credential?: TokenCredential;
  /** Extra pipeline policies for the SecretClient (e.g. to observe or shape requests). */
  additionalPolicies?: AdditionalPolicyConfig[];
}

class KeyVaultStore implements SecretStore {
  private readonly client: SecretClient;

  constructor(
    readonly name: string,
    cfg: Extract<StoreConfig, { type: 'azure-keyvault' }>,
    opts: SecretStoreOptions,
  ) {
    this.client = new SecretClient(cfg.vaultUrl, opts.credential ?? credentialFor(cfg.credential), {
      // Key Vault's 401 challenge names the resource to get a token for; the SDK checks that it
      // matches the vault's host. Off only when the config says so (an emulator on 127.0.0.x).
      disableChallengeResourceVerification: !cfg.verifyChallengeResource,
      ...(opts.additionalPolicies ? { additionalPolicies: opts.additionalPolicies } : {}),
      // The pipeline retries 429 and 503 after Retry-After, and other transient failures with
      // backoff; what is left after that is retried by the workflow's activity retry policy.
      retryOptions: { maxRetries: 4, retryDelayInMs: 500, maxRetryDelayInMs: 10_000 },
      ...(cfg.serviceVersion ? { serviceVersion: cfg.serviceVersion as never } : {}),
    });
  }

  private mapError(err: unknown, secret: string, version?: string): unknown {
    const status = restStatus(err);
    const what = `${secret}${version ? ` version ${version}` : ''}`;
    // A disabled (retired) version answers 403 SecretDisabled: not a credential problem.
    const e403 = (err ?? {}) as {
      message?: string;
      details?: { error?: { innererror?: { code?: string } } };
    };
    if (
      status === 403 &&
      (e403.details?.error?.innererror?.code === 'SecretDisabled' ||
        /disabled secret/.test(e403.message ?? ''))
    )
      return fail(
        FailureType.NotFound,
        `store ${this.name}: secret ${what} is disabled (retired); enable it in the vault to read it`,
      );
    if (status === 401 || status === 403) {
      return fail(
        FailureType.StoreUnauthorized,
        `store ${this.name}: Key Vault refused the credential (${status}) for ${what}`,
      );
    }
    if (status === 404) return fail(FailureType.NotFound, `store ${this.name}: secret ${what} not found`);
    if (status === 429) {
      // Still throttled after the pipeline's retries: the activity's next attempt waits as long
      // as the vault asked, not the retry policy's shorter interval, and up to a second more at
      // random, so that the many requests a fleet has waiting do not all come back at once.
      const retryAfter = Number(
        (err as { response?: { headers?: { get(n: string): string | undefined } } }).response?.headers?.get(
          'retry-after',
        ),
      );
      return ApplicationFailure.create({
        type: 'Throttled',
        message: `store ${this.name}: Key Vault throttled the request for ${what} (429)`,
        nonRetryable: false,
        nextRetryDelay: (retryAfter > 0 ? retryAfter * 1000 : 10_000) + Math.random() * 1000,
      });
    }
    const e = err as { name?: string; message?: string; code?: string } | null;
    if (e?.name === 'AuthenticationError' || e?.name === 'AggregateAuthenticationError') {
      return fail(
        FailureType.StoreUnauthorized,
        `store ${this.name}: could not get a Key Vault token for ${what}: ${e.message ?? ''}`,
      );
    }
    if (/challenge resource .* does not match/.test(e?.message ?? '')) {
      // Permanent: the vault's auth challenge names another host (an emulator on 127.0.0.x).
      return fail(
        FailureType.BadInput,
        `store ${this.name}: ${e?.message} (for an emulator set verifyChallengeResource: false) [${what}]`,
      );
    }
    // Retryable (throttling that outlasted the pipeline's retries, 5xx, network, no credential
    // yet). Re-thrown as a plain Error: a RestError carries its request, whose body holds the
    // value on a write, and that must not reach a log line or a failure's details.
    const out = new Error(
      `store ${this.name}: Key Vault ${status ?? e?.code ?? e?.name ?? 'error'} for ${what}: ${e?.message ?? String(err)}`,
    );
    out.name = status ? 'KeyVaultError' : (e?.name ?? 'Error');
    return out;
  }

  async set(name: string, value: string, tags: Record<string, string>) {
    try {
      const s = await this.client.setSecret(name, value, { tags });
      return info(name, s.properties);
    } catch (err) {
      throw this.mapError(err, name);
    }
  }

  async get(name: string, version?: string) {
    try {
      const s = await this.client.getSecret(name, version ? { version } : {});
      return { ...info(name, s.properties), value: s.value ?? '' };
    } catch (err) {
      throw this.mapError(err, name, version);
    }
  }

  async listVersions(name: string) {
    const out: SecretVersionInfo[] = [];
    try {
      for await (const p of this.client.listPropertiesOfSecretVersions(name)) out.push(info(name, p));
    } catch (err) {
      if (restStatus(err) === 404) return [];
      throw this.mapError(err, name);
    }
    // Key Vault lists versions in no promised order (by version id, as seen): oldest first by
    // `created`, whose resolution is a second; within one, a put-back after what it restores.
    return out.sort(
      (a, b) =>
        a.createdOn.localeCompare(b.createdOn) ||
        Number('restoredFrom' in a.tags) - Number('restoredFrom' in b.tags),
    );
  }

  async disable(name: string, version: string) {
    try {
      await this.client.updateSecretProperties(name, version, { enabled: false });
    } catch (err) {
      throw this.mapError(err, name, version);
    }
  }

  /** The unversioned GET: the version Key Vault itself serves as current. */
  async current(name: string) {
    try {
      const s = await this.client.getSecret(name);
      return info(name, s.properties);
    } catch (err) {
      if (restStatus(err) === 404) return null;
      throw this.mapError(err, name);
    }
  }
}

function info(
  name: string,
  p: { version?: string; tags?: Record<string, string>; createdOn?: Date; enabled?: boolean },
): SecretVersionInfo {
  return {
    name,
    version: p.version ?? '',
    tags: p.tags ?? {},
    createdOn: (p.createdOn ?? new Date(0)).toISOString(),
    enabled: p.enabled ?? true,
  };
}

// ---------------------------------------------------------------------------------------------
// File store: one JSON file per secret holding every version, written atomically, mode 0600.

interface FileSecret {
  versions: (SecretVersionInfo & { value: string })[];
}

class FileStore implements SecretStore {
  constructor(
    readonly name: string,
    private readonly dir: string,
  ) {}

  private path(secret: string): string {
    if (!/^[A-Za-z0-9-]+$/.test(secret))
      throw fail(FailureType.BadInput, `store ${this.name}: bad secret name "${secret}"`);
    return join(this.dir, `${secret}.json`);
  }

  private load(secret: string): FileSecret {
    const path = this.path(secret);
    let doc: FileSecret;
    try {
      doc = JSON.parse(readFileSync(path, 'utf8')) as FileSecret;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { versions: [] };
      throw fail(FailureType.BadInput, `store ${this.name}: ${path} is unreadable or not JSON`);
    }
    if (!Array.isArray(doc?.versions))
      throw fail(FailureType.BadInput, `store ${this.name}: ${path} has no "versions" list`);
    return doc;
  }

  async set(name: string, value: string, tags: Record<string, string>) {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const doc = this.load(name);
    const v = {
      name,
      version: randomBytes(16).toString('hex'),
      tags,
      createdOn: new Date().toISOString(),
      enabled: true,
      value,
    };
    doc.versions.push(v);
    writeFileAtomicSync(this.path(name), JSON.stringify(doc, null, 2), 0o600);
    const { value: _value, ...rest } = v;
    return rest;
  }

  async get(name: string, version?: string) {
    const versions = this.load(name).versions;
    const v = version ? versions.find((x) => x.version === version) : versions.at(-1);
    if (!v)
      throw fail(
        FailureType.NotFound,
        `store ${this.name}: secret ${name}${version ? ` version ${version}` : ''} not found`,
      );
    return v;
  }

  async listVersions(name: string) {
    return this.load(name).versions.map(({ value: _value, ...rest }) => rest);
  }

  async current(name: string) {
    return (await this.listVersions(name)).at(-1) ?? null;
  }

  async disable(name: string, version: string) {
    const doc = this.load(name);
    const v = doc.versions.find((x) => x.version === version);
    if (!v?.enabled) return;
    v.enabled = false;
    writeFileAtomicSync(this.path(name), JSON.stringify(doc, null, 2), 0o600);
  }
}

export function createSecretStore(
  storeName: string,
  cfg: StoreConfig,
  opts: SecretStoreOptions = {},
): SecretStore {
  switch (cfg.type) {
    case 'file':
      return new FileStore(storeName, cfg.dir);
    case 'aws-ssm':
      return new SsmStore(storeName, cfg);
    case 'postgres':
    case 'github-actions':
    case 'command':
    case 'kubernetes':
      throw fail(
        FailureType.BadInput,
        `store ${storeName} (${cfg.type}) ${cfg.type === 'kubernetes' ? 'keeps no versions' : 'is write-only: rekey sets values there but cannot read them back'} (use it as a secret recipe's location after the first)`,
      );
    default:
      return new KeyVaultStore(storeName, cfg, opts);
  }
}

/** Where a store's own access secret is: another store's secret, or an environment variable. */
export type AccessSecret = { env: string } | { store: string; name: string };

/** A secret a store's own access needs (an admin password, an API token), read when used. */
export const referencedSecret =
  (store: string, from: AccessSecret, storeOf: (name: string) => SecretStore) =>
  async (): Promise<string> => {
    if ('env' in from) {
      const v = process.env[from.env];
      if (v === undefined) throw fail(FailureType.BadInput, `store ${store}: $${from.env} is not set`);
      return v;
    }
    return (await storeOf(from.store).get(from.name)).value;
  };

// ---------------------------------------------------------------------------------------------
// Pairs

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
 * retry after a crash between the two writes only adds the missing public key). A retry that
 * brings a different key (another fingerprint) writes new versions for it.
 */
export async function storeKeyPair(
  store: SecretStore,
  names: SecretNames,
  pair: { privatePem: string; publicPem: string; fingerprint: string },
  runId: string,
): Promise<PairRef> {
  checkNames(store, names);
  const ref = async (name: string, value: string, role: Role): Promise<SecretRef> => {
    const existing = (await store.listVersions(name)).find(mineFor(runId, role, pair.fingerprint));
    const v =
      existing ?? (await store.set(name, value, { rekeyRunId: runId, fingerprint: pair.fingerprint, role }));
    return { store: store.name, name, version: v.version };
  };
  const privateKey = await ref(names.privateKey, pair.privatePem, 'private');
  const publicKey = await ref(names.publicKey, pair.publicPem, 'public');
  return { privateKey, publicKey, fingerprint: pair.fingerprint };
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
      privateKey: { store: store.name, name: names.privateKey, version: priv.version },
      publicKey: { store: store.name, name: names.publicKey, version: pub.version },
    },
  };
}

/** Makes `version` current again by writing its value as the newest version; once per run. */
export async function restoreVersion(
  store: SecretStore,
  name: string,
  version: string,
  runId: string,
): Promise<SecretRef> {
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
