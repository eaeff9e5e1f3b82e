// The payload codec's own keys as a keyring in a secret store: the secret's value is
// {"active": id, "keys": {id: base64 of 32 bytes}}, one version per change. Rotating adds a key
// and makes it active; the older keys stay, so every payload sealed before still opens.
// Workflows see key ids and the secret's version, never key material.
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/schema';
import { FailureType, fail } from '../shared/failures';
import type { SecretStore } from '../stores/types';

export interface CodecKeyringRef {
  store: string;
  secret: string;
}

/** What a workflow or the CLI may know about the ring. */
export interface CodecKeyringFacts {
  active: string;
  /** Every key id, the active one first. */
  keys: string[];
  version: string;
}

export interface OpenCodecKeyring {
  active: string;
  keys: Map<string, Uint8Array>;
  version: string;
}

/** The keyring in the secret's newest version (or `atVersion`). A value that is not a keyring fails without
 * echoing any of it (it holds the keys). */
export async function readCodecKeyring(
  store: SecretStore,
  secret: string,
  atVersion?: string,
): Promise<OpenCodecKeyring> {
  const where = `codec keyring ${store.name}/${secret}${atVersion ? ` version ${atVersion}` : ''}`;
  const { value, version } = await store.get(secret, atVersion);
  let doc: { active?: unknown; keys?: unknown };
  try {
    doc = JSON.parse(value);
  } catch {
    throw fail(FailureType.BadInput, `${where}: the secret's value is not JSON (value not shown)`);
  }
  if (!doc || typeof doc.active !== 'string' || !doc.keys || typeof doc.keys !== 'object')
    throw fail(FailureType.BadInput, `${where}: not a codec keyring ({"active": id, "keys": {id: base64}})`);
  const keys = new Map<string, Uint8Array>();
  for (const [id, b64] of Object.entries(doc.keys as Record<string, unknown>)) {
    const key = typeof b64 === 'string' ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
    if (key.length !== 32)
      throw fail(FailureType.BadInput, `${where}: key "${id}" is not base64 of 32 bytes`);
    keys.set(id, new Uint8Array(key));
  }
  if (!keys.has(doc.active))
    throw fail(FailureType.BadInput, `${where}: the active key "${doc.active}" is not in the ring`);
  return { active: doc.active, keys, version };
}

const factsOf = (active: string, ids: Iterable<string>, version: string): CodecKeyringFacts => ({
  active,
  keys: [active, ...[...ids].filter((id) => id !== active)],
  version,
});

/** A fresh key id: the day it was made and a random suffix (ids are public; keys are not). */
const newKeyId = () =>
  `c${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;

/** Adds a fresh key and makes it active (the ring is created when `create` and it has no version
 * yet). `runId` tags the version: a retry of the same run finds it instead of adding another. */
export async function addCodecKey(
  store: SecretStore,
  secret: string,
  runId: string,
  opts: { create: boolean },
): Promise<CodecKeyringFacts> {
  const versions = await store.listVersions(secret);
  const mine = versions.find((v) => v.tags.rekeyRunId === runId);
  if (mine) {
    const ring = await readCodecKeyring(store, secret, mine.version);
    return factsOf(ring.active, ring.keys.keys(), ring.version);
  }
  if (!versions.length && !opts.create)
    throw fail(
      FailureType.NotFound,
      `codec keyring ${store.name}/${secret} does not exist: create it with rekey codec-key init`,
    );
  if (versions.length && opts.create)
    throw fail(
      FailureType.BadInput,
      `codec keyring ${store.name}/${secret} already exists (${versions.length} version(s)): rotate it with rekey codec-key rotate`,
    );
  // Every key any version of the ring ever held: a version written by hand (or by a run that
  // overlapped another) must not drop a key some payload is sealed with.
  const keys: Record<string, string> = {};
  const id = newKeyId();
  keys[id] = randomBytes(32).toString('base64');
  for (const v of [...versions].reverse()) {
    const ring = await readCodecKeyring(store, secret, v.version);
    for (const [k, key] of ring.keys) keys[k] ??= Buffer.from(key).toString('base64');
  }
  const written = await store.set(secret, JSON.stringify({ active: id, keys }), {
    rekeyRunId: runId,
    role: 'codec-keyring',
    active: id,
  });
  return factsOf(id, Object.keys(keys), written.version);
}

/** The keyring the config names, or a BadInput saying the codec's keys are not one. */
export function codecKeyringOf(config: Config): CodecKeyringRef {
  const codec = config.codec;
  if (!codec) throw fail(FailureType.BadInput, 'the config has no codec (see codec: in rekey.example.yaml)');
  if (!('store' in codec))
    throw fail(
      FailureType.BadInput,
      'codec keys are listed in rekey.yaml (codec.keys): rotate them by editing it, or keep them in a keyring (codec: {store, secret})',
    );
  return { store: codec.store, secret: codec.secret };
}

export function createCodecKeyActivities(deps: { config: Config; store(name: string): SecretStore }) {
  return {
    /** Adds a fresh codec key to the config's keyring and makes it active; once per run. */
    async rotateCodecKeyring(runId: string): Promise<CodecKeyringFacts> {
      const { store, secret } = codecKeyringOf(deps.config);
      return addCodecKey(deps.store(store), secret, runId, { create: false });
    },
  };
}

export type CodecKeyActivities = ReturnType<typeof createCodecKeyActivities>;
