// Activities of a secret recipe's rotation (rotateSecret): plan, write each location, restart the
// consumers, probe, put locations back, revoke the old value. The new value is made inside the
// write of the first location (a store rekey can read back) and copied from there to the others
// (stores, or PostgreSQL roles whose password is set); workflows see store names, parameter
// names, versions and role names only. Every store write is tagged with the run, so a retried
// write finds its own version instead of writing again; setting a role's password twice to the
// same value is harmless.
//
// `alternating` (two login roles with the same grants, taking turns): the first write gives the
// role not in use a fresh password and then stores {"username", "password"} naming it; the role
// in use keeps its password, so the consumers log in all along, before and after their restart.
import { createHash } from 'node:crypto';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { asyncLocalStorage } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { gatedOf, gatePolicy, scopeOf } from '../config/approvals';
import { parseDuration } from '../config/duration';
import type { Config } from '../config/schema';
import type { SecretRecipe } from '../config/secret-recipes';
import { withHost } from '../hosts/connect';
import type { Host } from '../hosts/types';
import { beat, heartbeating } from '../services/heartbeat';
import { createServiceDriver } from '../services/service';
import type { Approved, GatePolicy } from '../shared/approval-proof';
import { FailureType, fail } from '../shared/failures';
import type { AccessSecret } from '../stores/access-secret';
import { SsmStore } from '../stores/aws-ssm/driver';
import { referencedSecret, writeOnlyPlace } from '../stores/drivers';
import { restoreVersion } from '../stores/pairs';
import { PostgresServer } from '../stores/postgres/server';
import type { SecretStore, WriteOnlyPlace } from '../stores/types';
import { fernetDecrypt, fernetEncrypt, parseFernetKey } from './fernet';
import { generate } from './generators';
import { aesKey, checkFirstRow, describeTable, keyTypeOf, reencryptPage } from './reencrypt';

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
  /** A store's version consumers read now (every store location has one: rekey never creates a
   * location, so a failed rotation can always put each one back); "role" for a PostgreSQL role,
   * whose password is set from the first location's value. */
  current: string;
}

export interface SecretPlan extends SecretTarget {
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

/** A rotation's writes (`write`), and a keyring rotation's second ones after the overlap
 * (`drop`: the old keys dropped). Each write is tagged with its phase. */
export type Phase = 'write' | 'drop';

/** One location's step: where the approved plan had it (its store, name and the version the step
 * starts from), and the phase. */
/** `approval`: a step that changes the environment checks it (worker/guard.ts). */
export interface LocationStep extends SecretTarget, Approved {
  index: number;
  expect: LocationPlan;
  phase?: Phase;
}

/** Pages per call of reencryptRows: the activity's round trip is paid once per ten pages. */
const PAGES_PER_CALL = 10;

/** What a re-encryption's calls did so far: where the next page starts, and the counts. */
export interface RowsDone {
  last: string | null;
  rows: number;
  reencrypted: number;
  pages: number;
  /** The table's end was reached. */
  end: boolean;
}

/** The running activity's cancellation (a lost worker's attempt is cancelled at its heartbeat). */
const signal = () => asyncLocalStorage.getStore()?.cancellationSignal;
const errorMessage = (err: unknown) => (err instanceof Error ? err.message : String(err));
const typeOf = (err: unknown) => (err as { type?: FailureType } | null)?.type;

export interface SecretDeps {
  config: Config;
  store(name: string): SecretStore;
}

const fill = (template: string, env: string) => template.replaceAll('{env}', env);

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
function fieldOf(value: string, field: string): string | undefined {
  try {
    const v = JSON.parse(value)?.[field];
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** One field of a `fields` credential (a location's `field`), or the whole value. */
function project(value: string, field: string | undefined, where: string): string {
  if (field === undefined) return value;
  const v = fieldOf(value, field);
  if (v === undefined)
    throw fail(FailureType.BadInput, `${where}: the credential has no field "${field}" (value not shown)`);
  return v;
}

/** An alternating recipe's value: the role to log in as and its password. */
function credential(value: string, where: string): { username: string; password: string } {
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

export function createRotateSecretActivities(deps: SecretDeps) {
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
    return new PostgresServer(name, cfg, reference(name, cfg.password));
  }

  /** A place rekey writes but cannot read back (a role's password, a GitHub Actions secret, a
   * command's): set from the first location's value, put back from its old version. */
  type Sink = WriteOnlyPlace & { kind: 'sink'; store: string; name: string };
  type Location = { kind: 'store'; store: string; name: string; secrets: SecretStore } | Sink;

  function sinkOf(env: string, store: string, name: string): Sink | undefined {
    const cfg = config.stores[store];
    const place =
      cfg &&
      writeOnlyPlace(store, cfg, name, {
        env,
        secret: (from) => reference(store, from),
        onEnvHost: (fn) => onEnvHost(env, fn),
      });
    return place && { ...place, kind: 'sink', store, name };
  }

  function locationsOf(t: SecretTarget): Location[] {
    const envCfg = config.environments[t.env];
    if (!envCfg) throw fail(FailureType.BadInput, `unknown environment "${t.env}"`);
    return recipeOf(t).locations.map((l): Location => {
      const store = l.store ?? envCfg.store;
      const name = fill(l.name, t.env);
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
    const hostName = config.environments[env]?.host as string;
    return withHost(hostName, config.hosts[hostName] as never, fn);
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
    if (recipe.generator.type === 'command' && recipe.generator.fields)
      for (const f of recipe.generator.fields) parts.push(fieldOf(value, f) ?? '');
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
    /** The services a rotation of this secret restarts (what its lock covers depends on it). */
    async secretConsumers(t: SecretTarget): Promise<string[]> {
      return recipeOf(t).consumers;
    },

    /** `compromised`: a compromise response's plan (a keyring's old keys dropped at once). */
    async planSecretRotation(t: SecretTarget & { compromised?: boolean }): Promise<SecretPlan> {
      const recipe = recipeOf(t);
      const locations: LocationPlan[] = [];
      const sinks: (string | undefined)[] = [];
      for (const l of locationsOf(t)) {
        sinks.push(l.kind === 'sink' ? l.text : undefined);
        if (l.kind === 'sink') {
          if (!(await l.exists()))
            throw fail(
              FailureType.BadInput,
              `secret ${t.secret} in ${t.env}: ${l.marker === 'role' ? `${l.store} has no login role "${l.name}"` : `${l.store} has no secret ${l.name} yet; set a first value by hand (rekey never creates a location)`}; nothing was changed`,
            );
          locations.push({ store: l.store, name: l.name, current: l.marker });
          continue;
        }
        const current = await l.secrets.current(l.name);
        if (!current)
          throw fail(
            FailureType.BadInput,
            `secret ${t.secret} in ${t.env}: location ${l.store}:${l.name} has no value yet; write a first one by hand (rekey never creates a location, so that a failed rotation can always put each one back); nothing was changed`,
          );
        locations.push({ store: l.store, name: l.name, current: current.version });
      }
      // A credential of several fields: the value now in place must have them (a put-back of a
      // field location reads it), or nothing starts.
      const fields = recipe.generator.type === 'command' ? recipe.generator.fields : undefined;
      const first = locations[0];
      if (fields && first) {
        const value = await valueAt(t, { version: first.current });
        if (fields.some((f) => fieldOf(value, f) === undefined))
          throw fail(
            FailureType.BadInput,
            `secret ${t.secret} in ${t.env}: the value at ${first.store}:${first.name} (version ${first.current}) is not a credential with the fields ${fields.join(', ')} (value not shown); nothing was changed`,
          );
      }
      let alternate: SecretPlan['alternate'];
      if (recipe.strategy === 'alternating' && recipe.alternate) {
        const { store } = recipe.alternate;
        // `{env}` in the role names gives each environment its own pair.
        const users = recipe.alternate.users.map((u) => fill(u, t.env));
        const first = locations[0] as LocationPlan;
        const from = credential(
          await valueAt(t, { version: first.current }),
          `${first.store}:${first.name}`,
        ).username;
        if (!users.includes(from))
          throw fail(
            FailureType.BadInput,
            `secret ${t.secret} in ${t.env}: ${first.store}:${first.name} names role "${from}", not one of ${users.join(', ')}; nothing was changed`,
          );
        const to = (users[0] === from ? users[1] : users[0]) as string;
        if (!(await postgresServer(store).roleCanLogin(to)))
          throw fail(
            FailureType.BadInput,
            `secret ${t.secret} in ${t.env}: ${store} has no login role "${to}"; nothing was changed`,
          );
        alternate = { from, to };
      }
      let keyring: SecretPlan['keyring'];
      if (recipe.strategy === 'keyring' && recipe.keyring) {
        const first = locations[0] as LocationPlan;
        const where = `${first.store}:${first.name}`;
        const keys = keyList(recipe, await valueAt(t, { version: first.current }), where);
        keyring = { keys: keys.length, overlap: t.compromised ? '0s' : recipe.keyring.overlap };
        const rows = recipe.keyring.reencrypt;
        // The table is there, its columns text, and what it holds opens with the list now.
        if (rows)
          keyring.reencrypt = await postgresServer(rows.store).asAdmin(
            async (c) => {
              const facts = await describeTable(c, rows);
              await checkFirstRow(
                c,
                rows,
                keys.map((k) => aesKey(k, where)),
              );
              return { table: rows.table, rows: facts.rows };
            },
            `read table ${rows.table}`,
            rows.database,
          );
      }
      const approvalRequired = gatedOf(config, [t.env]).length > 0;
      const revokeUnused = recipe.generator.type === 'command' && recipe.revoke !== undefined;
      const fieldNote = (i: number) => {
        const f = recipe.locations[i]?.field;
        return f ? ` (field ${f})` : '';
      };
      const probes = recipe.verify.map(probeText);
      const text = [
        `secret ${t.secret} in ${t.env}: new value (${recipe.generator.type}), strategy ${recipe.strategy}`,
        ...(alternate
          ? [`  role ${alternate.to} gets a fresh password; ${alternate.from} (in use now) keeps its own`]
          : []),
        ...(t.compromised
          ? ['  COMPROMISE RESPONSE: rotated now, the old value revoked (or dropped) at once']
          : []),
        ...(keyring
          ? [
              `  a new key in front of the ${keyring.keys} in the list; ${t.compromised ? 'then at once' : `after ${keyring.overlap}`} the old ones are dropped (a second write, restart and verify)`,
              ...(keyring.reencrypt && recipe.keyring?.reencrypt
                ? [
                    `  ${recipe.consumers.length ? 'once the consumers read with the new list' : 'right after the write (no consumers are restarted: whatever reads these rows must read the list anew, or it fails on a row sealed with the new key)'}: UPDATE ${keyring.reencrypt.table} (${keyring.reencrypt.rows} rows now; columns ${recipe.keyring.reencrypt.columns.join(', ')} on ${recipe.keyring.reencrypt.store}), each value sealed again with the new key, ${recipe.keyring.reencrypt.pageSize} rows a transaction; swept again just before the drop`,
                  ]
                : []),
            ]
          : []),
        ...locations.map((l, i) =>
          sinks[i]
            ? `  ${i + 1}. ${sinks[i]}${fieldNote(i)}`
            : `  ${i + 1}. write ${l.store}:${l.name}${fieldNote(i)} (now version ${l.current})${alternate ? ` naming ${alternate.to}` : ''}`,
        ),
        `  restart: ${recipe.consumers.join(', ') || 'none'}`,
        `  verify: ${probes.join('; ') || 'none'}`,
        `  then ${recipe.revoke ? 'revoke the old value' : 'keep no copy of the old value beyond the stores'}; on a failure every location is put back${recipe.consumers.length ? ' and the consumers restarted' : ''}${revokeUnused ? ', then the unused new value revoked' : ''}`,
      ];
      const { compromised: _, ...target } = t;
      return {
        ...target,
        recipe: recipeDigest(recipe),
        locations,
        ...(alternate ? { alternate } : {}),
        ...(keyring ? { keyring } : {}),
        consumers: recipe.consumers,
        probes,
        revoke: recipe.revoke !== undefined,
        ...(revokeUnused ? { revokeUnused } : {}),
        approvalRequired,
        ...(approvalRequired ? { approval: gatePolicy(config, [t.env]) } : {}),
        scope: scopeOf(config, [t.env]),
        text,
      };
    },

    /** Writes location `index` (in the recipe's order; `expect` is where the approved plan put
     * it): the first gets a fresh value (for `alternating`, the role `alternateTo` gets it as its
     * password first), the others the value this run wrote to the first (`source`, its version).
     * Once per run and location. The new version is labelled `current` on SSM, the one it
     * replaces `previous`. */
    async writeSecretLocation(
      input: LocationStep & { runId: string; source?: string; alternateTo?: string },
    ): Promise<string> {
      const l = planned(input);
      return heartbeating(async () => {
        if (l.kind === 'sink') {
          await l.set(await fieldAt(input, sourceOf(input)));
          return l.marker;
        }
        const phase = input.phase ?? 'write';
        const label = async (version: string) => {
          if (!(l.secrets instanceof SsmStore)) return;
          await l.secrets.label(l.name, version, ['current']);
          await l.secrets.label(l.name, input.expect.current, ['previous']);
        };
        const done = await writtenBy(l.secrets, l.name, input.runId, phase);
        if (done) {
          // A retry after the write: the labels may not have followed.
          await label(done.version);
          return done.version;
        }
        // The place is as the plan (or the first phase) left it, or nobody approved this write.
        const newest = (await l.secrets.current(l.name))?.version;
        if (newest !== input.expect.current)
          throw fail(
            FailureType.PolicyViolation,
            `${l.store}:${l.name} changed since the plan (now version ${newest}, the plan had ${input.expect.current}); nothing was written there`,
          );
        let value: string;
        const recipe = recipeOf(input);
        const where = `${l.store}:${l.name}`;
        if (input.index === 0 && recipe.strategy === 'keyring') {
          // The new key in front of the list as the plan found it; after the overlap, alone.
          const old = keyList(recipe, await valueAt(input, { version: input.expect.current }), where);
          value =
            phase === 'drop'
              ? (old[0] as string)
              : withNewKey(recipe, await newValue(input, recipe), old, where);
        } else if (input.index === 0) {
          value = await newValue(input, recipe);
          if (recipe.alternate && input.alternateTo) {
            // Only one of this environment's two roles, the one the plan found not in use (the
            // first location names the other): no other role of the server gets a password here.
            const users = recipe.alternate.users.map((u) => fill(u, input.env));
            const inUse = credential(await valueAt(input, { version: input.expect.current }), where).username;
            if (!users.includes(input.alternateTo) || input.alternateTo === inUse)
              throw fail(
                FailureType.PolicyViolation,
                `secret ${input.secret} in ${input.env}: role "${input.alternateTo}" is not the one of ${users.join(', ')} out of use (${where} names ${inUse}); nothing was changed`,
              );
            // The role not in use takes the password before any location names it.
            signal()?.throwIfAborted();
            await postgresServer(recipe.alternate.store).setPassword(input.alternateTo, value);
            value = JSON.stringify({ username: input.alternateTo, password: value });
          }
        } else value = await fieldAt(input, sourceOf(input));
        const issued = input.index === 0 && phase === 'write' && recipe.generator.type === 'command';
        const v = await l.secrets
          .set(l.name, value, { rekeyRunId: input.runId, step: phase, secret: input.secret })
          .catch(async (err: unknown) => {
            // A credential issued for a write that did not happen is nobody's: retired at once, or
            // every retry would leave one more live key behind (and IAM allows two per user).
            if (!issued || !recipe.revoke) throw err;
            const revoked = await revokeValue(input, recipe, value, 'issued value, not stored').then(
              () => 'the value issued for it was revoked',
              (e: unknown) => `the value issued for it could NOT be revoked: ${errorMessage(e)}`,
            );
            throw withText(err, revoked);
          });
        if (l.secrets instanceof SsmStore) {
          await l.secrets.label(l.name, v.version, ['current']);
          await l.secrets.label(l.name, input.expect.current, ['previous']);
        }
        return v.version;
      });
    },

    /** Puts location `index` back as the plan found it: a store's version made current again if
     * this run wrote one (nothing else is touched: a version written meanwhile by someone else
     * stays), a role's password set back to the first location's old value (`firstPrevious`).
     * Once per run. */
    async restoreSecretLocation(
      input: LocationStep & { runId: string; firstPrevious: string },
    ): Promise<string> {
      // Putting back what this run wrote is what the approved plan implies, even if the recipe
      // changed since (only the place itself must still be the plan's).
      const open = { ...input, recipe: undefined };
      const l = planned(open);
      return heartbeating(async () => {
        if (l.kind === 'sink') {
          await l.set(await fieldAt(open, input.firstPrevious));
          return l.marker;
        }
        const mine = await writtenBy(l.secrets, l.name, input.runId, input.phase);
        if (!mine) return input.expect.current;
        // Someone else's value written after ours stays: it is theirs to put back.
        const newest = await l.secrets.current(l.name);
        if (newest && newest.version !== mine.version && newest.tags.rekeyRunId !== input.runId)
          throw fail(
            FailureType.RestoreFailed,
            `${l.store}:${l.name}: version ${newest.version} was written by someone else after this run's ${mine.version}; left as it is`,
          );
        const ref = await restoreVersion(l.secrets, l.name, input.expect.current, input.runId);
        if (l.secrets instanceof SsmStore) await l.secrets.label(l.name, ref.version, ['current']);
        return ref.version;
      });
    },

    /** Restarts every consumer at once (they share the value: none may run with the old one
     * while another has the new), and waits for all of them even when one fails: a restart
     * still running must not finish after a rollback's. `values` (versions of the first
     * location) are cut out of a failure's text: a consumer may print what it loaded. */
    async restartConsumers(t: SecretTarget & Approved & { values: string[] }): Promise<void> {
      const recipe = recipeOf(t);
      const results = await heartbeating(() =>
        onEnvHost(t.env, (host) =>
          Promise.allSettled(
            recipe.consumers.map(async (name) => {
              await createServiceDriver(host, config.services[name] as never).restart();
              beat(`restarted ${name}`);
            }),
          ),
        ),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (!failed) return;
      let message = errorMessage(failed.reason);
      for (const version of t.values)
        message = redact(message, secretParts(recipe, await valueAt(t, { version }).catch(() => '')));
      throw fail(typeOf(failed.reason) ?? FailureType.CommandFailed, message);
    },

    /** Tries probe `index` until it passes or its `within` ends. */
    async probeSecret(input: SecretTarget & { index: number; source: string }): Promise<string> {
      const recipe = recipeOf(input);
      const probe = recipe.verify[input.index];
      if (!probe) throw fail(FailureType.BadInput, `secret ${input.secret}: no probe ${input.index + 1}`);
      const ctx = asyncLocalStorage.getStore();
      // A cancelled run stops probing at once (its undo is waiting for nothing else).
      const signal = ctx?.cancellationSignal;
      // From the first attempt: a retried attempt (a lost SSH session) does not get a fresh `within`.
      const firstTry = ctx?.info.scheduledTimestampMs ?? Date.now();
      const deadline = firstTry + parseDuration(probe.within);
      const needsValue =
        ('command' in probe && probe.secretOnStdin) || 'postgresLogin' in probe || 's3' in probe;
      const value = needsValue ? await valueAt(input, { version: input.source }) : undefined;
      return heartbeating(async () => {
        let last = '';
        for (;;) {
          signal?.throwIfAborted();
          last = await tryProbe(probe, input.env, value);
          if (!last) return probeText(probe);
          beat(last);
          if (Date.now() > deadline)
            throw fail(
              FailureType.VerifyFailed,
              `secret ${input.secret} in ${input.env}: ${probeText(probe)} did not pass within ${probe.within}: ${last}`,
            );
          await new Promise((r) => setTimeout(r, 1000));
        }
      });

      async function tryProbe(
        p: NonNullable<typeof probe>,
        env: string,
        secret: string | undefined,
      ): Promise<string> {
        if ('postgresLogin' in p) {
          const login = p.user
            ? { username: p.user, password: secret ?? '' }
            : credential(secret ?? '', `secret ${input.secret}`);
          return postgresServer(p.postgresLogin).tryLogin(login.username, login.password, p.database);
        }
        if ('s3' in p) return tryS3(p, secret ?? '', signal);
        if ('http' in p) {
          const url = fill(p.http, env);
          try {
            const res = await fetch(url, {
              signal: signal
                ? AbortSignal.any([signal, AbortSignal.timeout(10_000)])
                : AbortSignal.timeout(10_000),
            });
            await res.body?.cancel();
            return res.status === p.status ? '' : `status ${res.status}`;
          } catch (err) {
            return `${(err as Error).message}`;
          }
        }
        return onEnvHost(env, async (host) => {
          const r = await host.exec(fill(p.command, env), {
            cwd: host.appDir,
            ...(signal ? { signal } : {}),
            ...(secret === undefined ? {} : { stdin: secret }),
          });
          if (r.code !== 0) return `exit ${r.code}`;
          if (p.expect && !new RegExp(p.expect).test(r.stdout)) return 'output did not match';
          return '';
        });
      }
    },

    /** Pages of a keyring recipe's `reencrypt` (up to PAGES_PER_CALL, one transaction each): the
     * rows after `after` sealed again with the first key of the list this run wrote (`version` of
     * the first location). Each page's end is heartbeated: a retried call goes on from there. */
    async reencryptRows(input: SecretTarget & { version: string; after: string | null }): Promise<RowsDone> {
      const recipe = recipeOf(input);
      const rows = recipe.keyring?.reencrypt;
      if (!rows) throw fail(FailureType.BadInput, `secret ${input.secret} has no keyring.reencrypt`);
      const first = firstOf(input);
      const where = `${first.store}:${first.name} version ${input.version}`;
      const resumed = asyncLocalStorage.getStore()?.info.heartbeatDetails as RowsDone | undefined;
      const done: RowsDone = resumed ?? { last: input.after, rows: 0, reencrypted: 0, pages: 0, end: false };
      // Alive from the start: a throttled store read or a slow connect is not a lost worker.
      return heartbeating(
        async () => {
          // Only the newest list: one changed since (another run) is not this run's to finish.
          const newest = (await first.secrets.current(first.name))?.version;
          if (newest !== input.version)
            throw fail(
              FailureType.PolicyViolation,
              `secret ${input.secret} in ${input.env}: ${first.store}:${first.name} is at version ${newest}, not the list this run wrote (${input.version}); another change since: the rows are left as they are`,
            );
          const keys = keyList(recipe, await valueAt(input, input), where).map((k) => aesKey(k, where));
          return postgresServer(rows.store).asAdmin(
            async (c) => {
              const keyType = await keyTypeOf(c, rows);
              for (let i = 0; i < PAGES_PER_CALL && !done.end; i++) {
                const page = await reencryptPage(c, rows, keyType, keys, done.last);
                done.rows += page.rows;
                done.reencrypted += page.reencrypted;
                done.pages += 1;
                done.end = page.done || page.last === null;
                done.last = page.last ?? done.last;
                beat(done);
              }
              return done;
            },
            `re-encrypt rows of ${rows.table}`,
            rows.database,
          );
        },
        () => done,
      );
    },

    /** Retires the old value (the first location's version the plan found; with `unused`, the
     * failed run's new one, `expect.current` then its version): the revoke command with it on
     * stdin. */
    async revokeOldSecret(input: LocationStep & { unused?: boolean }): Promise<void> {
      const recipe = recipeOf(input);
      if (!recipe.revoke) return;
      planned(input);
      const old = await valueAt(input, { version: input.expect.current });
      await heartbeating(() =>
        revokeValue(input, recipe, old, input.unused ? 'unused new value' : 'old value'),
      );
    },
  };
}

export type RotateSecretActivities = ReturnType<typeof createRotateSecretActivities>;

/** `err` with `more` added to its message, keeping its type, whether it is retried and when. */
function withText(err: unknown, more: string): unknown {
  if (err instanceof ApplicationFailure)
    return ApplicationFailure.create({
      type: err.type ?? undefined,
      message: `${err.message}; ${more}`,
      nonRetryable: err.nonRetryable ?? false,
      ...(err.nextRetryDelay == null ? {} : { nextRetryDelay: err.nextRetryDelay }),
    });
  return new Error(`${errorMessage(err)}; ${more}`);
}

/** `text` with every part of a value cut out (the longest first: a part may hold a shorter one). */
function redact(text: string, parts: string[]): string {
  return [...parts].sort((a, b) => b.length - a.length).reduce((t, p) => t.replaceAll(p, '[secret]'), text);
}

/** HeadBucket signed with the access key pair in `value` ({accessKeyId, secretAccessKey}): ''
 * when it answers 200, else what the store said (an error name, never the key). */
async function tryS3(
  p: { s3: string; endpoint?: string | undefined; region: string },
  value: string,
  signal: AbortSignal | undefined,
): Promise<string> {
  const [accessKeyId, secretAccessKey] = [fieldOf(value, 'accessKeyId'), fieldOf(value, 'secretAccessKey')];
  if (!accessKeyId || !secretAccessKey) return 'the value has no accessKeyId and secretAccessKey';
  const client = new S3Client({
    region: p.region,
    credentials: { accessKeyId: accessKeyId ?? '', secretAccessKey: secretAccessKey ?? '' },
    maxAttempts: 1,
    ...(p.endpoint ? { endpoint: p.endpoint, forcePathStyle: true } : {}),
  });
  try {
    await client.send(new HeadBucketCommand({ Bucket: p.s3 }), {
      abortSignal: signal
        ? AbortSignal.any([signal, AbortSignal.timeout(10_000)])
        : AbortSignal.timeout(10_000),
    });
    return '';
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    return `${e.name ?? 'error'}${e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : ''}`;
  } finally {
    client.destroy();
  }
}
