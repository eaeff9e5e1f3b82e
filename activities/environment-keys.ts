// An environment's key pair as a rotation sees it: the store it is read from (a staged pair's
// reference checked against it), its host (key files, backups, the publisher token), the pair now
// current, and the guide's checklist of an environment that has one.
import { posix } from 'node:path';
import { secretNamesOf } from '../config/key-groups';
import type { Config } from '../config/schema';
import { withHost } from '../hosts/connect';
import { type Host, resolveOnHost } from '../hosts/types';
import { FailureType, fail } from '../shared/failures';
import { readCurrentPair, readKeyPair } from '../stores/pairs';
import type { PairRef, SecretStore, SecretVersionInfo } from '../stores/types';
import { keyFileProblems } from './key-file-checks';
import { assertPairMatches, keyFacts, publicPemOf } from './keys';

export interface RotationDeps {
  config: Config;
  /** The secret store an environment uses, built by the worker from config. */
  store(name: string): SecretStore;
}

/** Versions of an environment's pair current now (null: it has none yet). */
export type CurrentPair = { privateKeyVersion: string; publicKeyVersion: string; fingerprint: string } | null;

/** Versions of a pair as plans of runs started before the fields were named ...Version recorded
 * them: a rollback of such a run still reads them. */
export type RecordedVersions =
  | { privateKeyVersion: string; publicKeyVersion: string }
  | { privateKey: string; publicKey: string };

export const versionsOf = (v: RecordedVersions) =>
  'privateKeyVersion' in v ? v : { privateKeyVersion: v.privateKey, publicKeyVersion: v.publicKey };

/** Where a run keeps what it replaced on a host, per run: relative to the host's app dir. */
export const BACKUP_DIR = '.rekey/backup';

export function environmentKeys(deps: RotationDeps) {
  const { config } = deps;
  const paths = config.paths;
  const names = (env: string) => secretNamesOf(config, env);

  /** The store an environment's key pair is read from: its own. A staged pair's reference that
   * names another store (another environment's key) is refused. */
  function pairStore(env: string, ref: PairRef): SecretStore {
    const own = envConfig(env).store;
    if (ref.privateKeyRef.store !== own || ref.publicKeyRef.store !== own)
      throw fail(
        FailureType.PolicyViolation,
        `${env}: the key pair to install is referenced in store ${ref.privateKeyRef.store}, not ${env}'s store ${own}; nothing was changed`,
      );
    return deps.store(own);
  }

  function envConfig(env: string) {
    const e = config.environments[env];
    if (!e) throw fail(FailureType.BadInput, `unknown environment "${env}"`);
    const host = config.hosts[e.host];
    const service = config.services[e.service];
    if (!host || !service) throw fail(FailureType.BadInput, `environment "${env}": host or service missing`);
    return { ...e, hostConfig: host, serviceConfig: service };
  }

  function onHost<T>(env: string, fn: (h: Host) => Promise<T>): Promise<T> {
    const e = envConfig(env);
    return withHost(e.host, e.hostConfig, fn);
  }

  const keyFile = (h: Host, file: string) => resolveOnHost(h, posix.join(paths.keyDir, file));
  const backupFile = (h: Host, runId: string, file: string) =>
    resolveOnHost(h, posix.join(BACKUP_DIR, runId, file));
  const cliToml = (h: Host) => resolveOnHost(h, paths.cliToml);

  async function currentPair(env: string): Promise<CurrentPair> {
    const store = deps.store(envConfig(env).store);
    const pair = await readCurrentPair(store, names(env));
    if (!pair) return null;
    assertPairMatches(pair, `${env}: current secrets in store ${store.name}`);
    return {
      privateKeyVersion: pair.ref.privateKeyRef.version,
      publicKeyVersion: pair.ref.publicKeyRef.version,
      fingerprint: (await keyFacts(pair.publicPem)).fingerprint,
    };
  }

  /** The pair an earlier attempt of this run already stored, so a retry doesn't make another. */
  async function pairFromEarlierAttempt(stores: SecretStore[], envs: string[], runId: string) {
    for (const [i, store] of stores.entries()) {
      const name = names(envs[i] as string).privateKey;
      const mine = (await store.listVersions(name)).find(
        (v: SecretVersionInfo) =>
          v.tags.rekeyRunId === runId && v.tags.role === 'private' && !v.tags.restoredFrom,
      );
      if (mine) {
        const { value } = await store.get(name, mine.version);
        return { privatePem: value, publicPem: publicPemOf(value) };
      }
    }
    return undefined;
  }

  /** The guide's checklist for an environment with a current pair (see key-file-checks.ts). */
  async function checklist(env: string): Promise<string[]> {
    const e = envConfig(env);
    const store = deps.store(e.store);
    const pair = await readKeyPair(store, names(env));
    return onHost(env, (h) =>
      keyFileProblems(h, {
        paths,
        service: e.serviceConfig,
        stored: {
          store: e.store,
          privateName: names(env).privateKey,
          publicName: names(env).publicKey,
          privatePem: pair.privatePem,
          publicPem: pair.publicPem,
        },
        ...(e.url ? { url: e.url } : {}),
      }),
    );
  }

  async function hostFingerprint(h: Host): Promise<string | null> {
    const pub = await h.readFile(keyFile(h, paths.publicKeyFile));
    return pub ? (await keyFacts(pub.toString())).fingerprint : null;
  }

  return {
    paths,
    names,
    pairStore,
    envConfig,
    onHost,
    keyFile,
    backupFile,
    cliToml,
    currentPair,
    pairFromEarlierAttempt,
    checklist,
    hostFingerprint,
  };
}

export type EnvironmentKeys = ReturnType<typeof environmentKeys>;
