// A secret recipe as the activities of its rotation see it: the recipe in the worker's config
// (checked against the digest the plan approved), where its values live (stores, and places rekey
// only writes), the values themselves (made, projected, listed), and the commands that issue and
// revoke them. rotate-secret.ts lists the activities that use these.
import { createHash } from 'node:crypto';
import type { Config } from '../config/schema';
import { fieldsOf, placeIn, type SecretRecipe } from '../config/secret-recipes';
import { withHost } from '../hosts/connect';
import type { Host } from '../hosts/types';
import type { Approved, GatePolicy } from '../shared/approval-proof';
import { FailureType, fail } from '../shared/failures';
import type { AccessSecret } from '../stores/access-secret';
import { referencedSecret, writeOnlyPlace } from '../stores/drivers';
import { PostgresServer } from '../stores/postgres/server';
import { viaOf } from '../stores/postgres/tunnel';
import type { SecretStore, WriteOnlyPlace } from '../stores/types';
import { fernetDecrypt, fernetEncrypt, parseFernetKey } from './fernet';
import { generate } from './generators';
import type { ManualPlan } from './secret-supply';

export interface SecretTarget {
  secret: string;
  env: string;
  /** The recipe as the approved plan saw it (a digest): every later step refuses a recipe that
   * changed since (other consumers, commands or probes than the ones approved). */
  recipe?: string;
}

export interface LocationPlan {
  store: string;
  name: string;
  /** A store's version consumers read now (every store location has one: a rotation never
   * creates a location, so a failed one can always put each one back; only `secret init` writes
   * where there is none, NO_VALUE); "role" for a PostgreSQL role, whose password is set from the
   * first location's value. */
  current: string;
}

/** A store location that holds no value yet: what `secret init` expects to find. */
export const NO_VALUE = 'none';

export interface SecretPlan extends SecretTarget {
  /** `secret init`: a first value, where there is none (nothing to put back or revoke). */
  init?: true;
  /** The recipe's digest: later steps carry it and refuse a changed recipe. */
  recipe: string;
  locations: LocationPlan[];
  /** `alternating`: the role in use now, and the one the rotation gives a fresh password. */
  alternate?: { from: string; to: string };
  /** `keyring`: how many keys the list holds now, and how long the old ones are kept; the table
   * whose rows are re-encrypted under the new key before the old ones go. */
  keyring?: { keys: number; overlap: string; reencrypt?: { table: string; rows: number } };
  consumers: string[];
  probes: string[];
  revoke: boolean;
  /** `generator: manual`: a person issues the value at `issuer`, the run waits for it (`supply`)
   * and ends at a gate where an approver confirms the old value revoked there. */
  manual?: ManualPlan;
  /** The new value is issued elsewhere (a command generator) and revoked there too when the
   * rotation fails after making it (put back everywhere, it is nobody's). */
  revokeUnused?: boolean;
  approvalRequired: boolean;
  approval?: GatePolicy;
  /** What the plan was made from (see config/approvals.ts scopeOf). */
  scope?: Record<string, string>;
  /** Lines for the dry run, the gate and the Web UI. */
  text: string[];
}

/** A rotation's writes (`write`), a keyring rotation's second ones after the overlap (`drop`: the
 * old keys dropped), and a first value's (`init`). Each write is tagged with its phase. */
export type Phase = 'write' | 'drop' | 'init';

/** One location's step: where the approved plan had it (its store, name and the version the step
 * starts from), and the phase. */
/** `approval`: a step that changes the environment checks it (worker/guard.ts). */
export interface LocationStep extends SecretTarget, Approved {
  index: number;
  expect: LocationPlan;
  phase?: Phase;
}

export interface SecretDeps {
  config: Config;
  store(name: string): SecretStore;
}

/** A place rekey writes but cannot read back (a role's password, a GitHub Actions secret, a
 * command's): set from the first location's value, put back from its old version. */
export type Sink = WriteOnlyPlace & { kind: 'sink'; store: string; name: string };
export type Location = { kind: 'store'; store: string; name: string; secrets: SecretStore } | Sink;

export const fill = (template: string, env: string) => template.replaceAll('{env}', env);

/** A recipe's digest: what the plan approved (consumers, commands, probes, locations). */
export const recipeDigest = (recipe: SecretRecipe) =>
  createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 16);

export function probeText(p: SecretRecipe['verify'][number]): string {
  if ('http' in p) return `GET ${p.http} -> ${p.status}`;
  if ('postgresLogin' in p)
    return `log in to ${p.postgresLogin} as ${p.user ?? 'the new user'} with the new value`;
  if ('s3' in p) return `S3 HeadBucket ${p.s3}${p.endpoint ? ` at ${p.endpoint}` : ''} with the new key pair`;
  return `${p.command}${p.expect ? ` prints /${p.expect}/` : ''}${p.secretOnStdin ? ' (new value on stdin)' : ''}`;
}

/** Field `field` of a `fields` credential, if the value is one that has it. Quiet: a parse
 * error would quote the value. */
export function fieldOf(value: string, field: string): string | undefined {
  try {
    const v = JSON.parse(value)?.[field];
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** One field of a `fields` credential (a location's `field`), or the whole value. */
export function project(value: string, field: string | undefined, where: string): string {
  if (field === undefined) return value;
  const v = fieldOf(value, field);
  if (v === undefined)
    throw fail(FailureType.BadInput, `${where}: the credential has no field "${field}" (value not shown)`);
  return v;
}

/** An alternating recipe's value: the role to log in as and its password. */
export function credential(value: string, where: string): { username: string; password: string } {
  let c: { username?: unknown; password?: unknown };
  try {
    c = JSON.parse(value);
  } catch {
    throw fail(FailureType.BadInput, `${where}: not {"username", "password"} (value not shown)`);
  }
  if (typeof c?.username !== 'string' || typeof c.password !== 'string')
    throw fail(FailureType.BadInput, `${where}: not {"username", "password"} (value not shown)`);
  return { username: c.username, password: c.password };
}

/** `text` with every part of a value cut out (the longest first: a part may hold a shorter one). */
export function redact(text: string, parts: string[]): string {
  return [...parts].sort((a, b) => b.length - a.length).reduce((t, p) => t.replaceAll(p, '[secret]'), text);
}

/** The recipe helpers over the worker's config and stores. */
export function secretRecipes(deps: SecretDeps) {
  const { config } = deps;

  function recipeOf({ secret, env, recipe: approved }: SecretTarget): SecretRecipe {
    const recipe = config.secrets[secret];
    if (!recipe)
      throw fail(
        FailureType.BadInput,
        `unknown secret "${secret}" (secrets: ${Object.keys(config.secrets).join(', ') || 'none'})`,
      );
    if (!recipe.environments.includes(env))
      throw fail(
        FailureType.BadInput,
        `secret ${secret} is not rotated in environment "${env}" (its environments: ${recipe.environments.join(', ')})`,
      );
    if (approved !== undefined && approved !== recipeDigest(recipe))
      throw fail(
        FailureType.PolicyViolation,
        `secret ${secret}: its recipe in the worker's config is not the one the plan was made with; the config changed since the plan`,
      );
    return recipe;
  }

  const reference = (store: string, from: AccessSecret) => referencedSecret(store, from, deps.store);

  /** A `postgres` store as a server whose roles' passwords rekey sets. */
  function postgresServer(name: string): PostgresServer {
    const cfg = config.stores[name];
    if (cfg?.type !== 'postgres') throw fail(FailureType.BadInput, `store "${name}" is not a postgres store`);
    return new PostgresServer(name, cfg, reference(name, cfg.password), viaOf(cfg, onHost));
  }

  function sinkOf(env: string, store: string, name: string): Sink | undefined {
    const cfg = config.stores[store];
    const place =
      cfg &&
      writeOnlyPlace(store, cfg, name, {
        env,
        secret: (from) => reference(store, from),
        onEnvHost: (fn) => onEnvHost(env, fn),
        onHost,
      });
    return place && { ...place, kind: 'sink', store, name };
  }

  function locationsOf(t: SecretTarget): Location[] {
    const envCfg = config.environments[t.env];
    if (!envCfg) throw fail(FailureType.BadInput, `unknown environment "${t.env}"`);
    return recipeOf(t).locations.map((l): Location => {
      const { store, name } = placeIn(l, t.env, envCfg.store);
      return sinkOf(t.env, store, name) ?? { kind: 'store', store, name, secrets: deps.store(store) };
    });
  }

  /** The first location: always a store (the config check makes sure). */
  function firstOf(t: SecretTarget) {
    const first = locationsOf(t)[0];
    if (first?.kind !== 'store')
      throw fail(FailureType.BadInput, `secret ${t.secret}: its first location is not a store`);
    return first;
  }

  /** The value of version `version` at the first location. */
  async function valueAt(t: SecretTarget, opts: { version: string }): Promise<string> {
    const first = firstOf(t);
    return (await first.secrets.get(first.name, opts.version)).value;
  }

  /** What location `index` holds of version `version` of the first location: all of it, or its
   * `field`. */
  async function fieldAt(t: LocationStep, version: string): Promise<string> {
    const l = recipeOf(t).locations[t.index];
    return project(await valueAt(t, { version }), l?.field, `${t.expect.store}:${t.expect.name}`);
  }

  function onEnvHost<T>(env: string, fn: (h: Host) => Promise<T>): Promise<T> {
    return onHost(config.environments[env]?.host as string, fn);
  }

  function onHost<T>(name: string, fn: (h: Host) => Promise<T>): Promise<T> {
    const cfg = config.hosts[name];
    if (!cfg) throw fail(FailureType.BadInput, `unknown host "${name}"`);
    return withHost(name, cfg, fn);
  }

  /** Location `index` of the recipe, checked against where the approved plan had it: a config
   * changed since the plan must not send a write (or a put-back) somewhere nobody approved. */
  function planned(input: LocationStep): Location {
    const l = locationsOf(input)[input.index];
    if (!l || l.store !== input.expect.store || l.name !== input.expect.name)
      throw fail(
        FailureType.PolicyViolation,
        `secret ${input.secret} in ${input.env}: location ${input.index + 1} is ${l ? `${l.store}:${l.name}` : 'gone'} in the worker's config, but the plan had ${input.expect.store}:${input.expect.name}; the config changed since the plan`,
      );
    return l;
  }

  function sourceOf(input: LocationStep & { source?: string }): string {
    if (!input.source)
      throw fail(
        FailureType.BadInput,
        `secret ${input.secret}: no source version for location ${input.index + 1}`,
      );
    return input.source;
  }

  /** A fresh value; only a `command` generator needs the environment's host. */
  async function newValue(t: SecretTarget, recipe: SecretRecipe): Promise<string> {
    const gen = recipe.generator;
    if (gen.type === 'command')
      return onEnvHost(t.env, (host) => generate(gen, { host, env: t.env, secret: t.secret }));
    return generate(gen, { env: t.env, secret: t.secret });
  }

  /** What a consumer might print of a value: all of it, an alternating value's password, each
   * key of a list (empty and very short pieces left out: they would mangle the message). */
  function secretParts(recipe: SecretRecipe, value: string): string[] {
    const parts = [value];
    if (recipe.strategy === 'alternating') {
      try {
        parts.push(credential(value, '').password);
      } catch {}
    }
    if (recipe.strategy === 'keyring') parts.push(...value.split(recipe.keyring?.separator ?? ','));
    for (const f of fieldsOf(recipe.generator) ?? []) parts.push(fieldOf(value, f) ?? '');
    return parts.map((p) => p.trim()).filter((p) => p.length >= 8);
  }

  /** The version this run wrote at `name`, if it did. */
  async function writtenBy(secrets: SecretStore, name: string, runId: string, step: Phase = 'write') {
    return (await secrets.listVersions(name)).find(
      (v) => v.tags.rekeyRunId === runId && v.tags.step === step,
    );
  }

  /** Runs the recipe's revoke command with `value` on stdin. */
  function revokeValue(t: SecretTarget, recipe: SecretRecipe, value: string, which: string): Promise<void> {
    const command = recipe.revoke?.command as string;
    return onEnvHost(t.env, async (host) => {
      const r = await host.exec(`REKEY_ENV=${t.env} REKEY_SECRET=${t.secret} ${command}`, {
        cwd: host.appDir,
        stdin: value,
      });
      // Its stderr may echo the value it was given: that is cut out before it is quoted.
      if (r.code !== 0)
        throw fail(
          FailureType.CommandFailed,
          `secret ${t.secret} in ${t.env}: the revoke command (${which}) exited ${r.code}: ${redact(r.stderr, secretParts(recipe, value)).trim().slice(-300)}`,
        );
    });
  }

  /** A keyring recipe's key list, checked: no empty key, and for Fernet keys, each one a key. */
  function keyList(recipe: SecretRecipe, value: string, where: string): string[] {
    const sep = recipe.keyring?.separator ?? ',';
    const keys = value.split(sep).map((k) => k.trim());
    if (keys.some((k) => !k))
      throw fail(FailureType.BadInput, `${where}: an empty key in the list (value not shown)`);
    if (recipe.generator.type === 'fernet')
      keys.forEach((k, i) => {
        try {
          parseFernetKey(k);
        } catch {
          throw fail(
            FailureType.BadInput,
            `${where}: key ${i + 1} of the list is not a Fernet key (value not shown)`,
          );
        }
      });
    return keys;
  }

  /** The list a keyring rotation writes: the new key first, then the old ones. For Fernet keys,
   * checked before it is written: what each old key sealed opens with the new list. */
  function withNewKey(recipe: SecretRecipe, key: string, old: string[], where: string): string {
    const sep = recipe.keyring?.separator ?? ',';
    if (key.includes(sep))
      throw fail(
        FailureType.BadInput,
        `${where}: the new key holds the list's separator "${sep}" (key not shown)`,
      );
    const joined = [key, ...old].join(sep);
    // What consumers will parse: the same keys, in order, and (Fernet) opening what each old one sealed.
    const parsed = keyList(recipe, joined, where);
    if (parsed.length !== old.length + 1 || parsed[0] !== key)
      throw fail(
        FailureType.BadInput,
        `${where}: the new list does not read back as written (value not shown)`,
      );
    if (recipe.generator.type === 'fernet')
      for (const k of old)
        if (fernetDecrypt(parsed, fernetEncrypt(k, 'rekey')).toString() !== 'rekey')
          throw fail(FailureType.BadInput, `${where}: the new list does not open what the old keys sealed`);
    return joined;
  }

  return {
    recipeOf,
    reference,
    postgresServer,
    sinkOf,
    locationsOf,
    firstOf,
    valueAt,
    fieldAt,
    onEnvHost,
    planned,
    sourceOf,
    newValue,
    secretParts,
    writtenBy,
    revokeValue,
    keyList,
    withNewKey,
  };
}

export type SecretRecipes = ReturnType<typeof secretRecipes>;
