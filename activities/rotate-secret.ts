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
import { asyncLocalStorage, Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { parseDuration } from '../config/duration';
import { beat, heartbeating } from '../services/heartbeat';
import type { Approved } from '../shared/approval-proof';
import { FailureType, fail } from '../shared/failures';
import { SsmStore } from '../stores/aws-ssm/driver';
import { restoreVersion } from '../stores/pairs';
import { aesKey, keyTypeOf, reencryptPage } from './reencrypt';
import { planSecretInit } from './secret-init-plan';
import { planSecretRotation } from './secret-plan';
import { tryProbe } from './secret-probes';
import {
  credential,
  fill,
  type LocationStep,
  NO_VALUE,
  probeText,
  type SecretDeps,
  type SecretPlan,
  type SecretTarget,
  secretRecipes,
} from './secret-recipe';
import { restartTogether } from './secret-restart';
import { awaitSupplied } from './secret-supply';

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

/** How a run ends that did not finish what it started. */
const UNFINISHED = new Set(['FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']);

export function createRotateSecretActivities(deps: SecretDeps) {
  const { config } = deps;
  const recipes = secretRecipes(deps);
  const {
    recipeOf,
    postgresServer,
    firstOf,
    valueAt,
    fieldAt,
    onEnvHost,
    planned,
    sourceOf,
    newValue,
    writtenBy,
    revokeValue,
    keyList,
    withNewKey,
  } = recipes;

  return {
    /** The services a rotation of this secret restarts (what its lock covers depends on it). */
    async secretConsumers(t: SecretTarget): Promise<string[]> {
      return recipeOf(t).consumers;
    },

    /** `compromised`: a compromise response's plan (a keyring's old keys dropped at once). */
    async planSecretRotation(t: SecretTarget & { compromised?: boolean }): Promise<SecretPlan> {
      return planSecretRotation(config, recipes, t);
    },

    async planSecretInit(t: SecretTarget): Promise<SecretPlan> {
      return planSecretInit(config, recipes, t, async (runId) => {
        try {
          // Runs of one secret in one environment share the workflow id (one at a time).
          const { client, info } = Context.current();
          const run = client.workflow.getHandle(info.workflowExecution?.workflowId ?? '', runId);
          return UNFINISHED.has((await run.describe()).status.name);
        } catch {
          // Not found (past retention) or not readable: not known to be unfinished.
          return false;
        }
      });
    },

    /** Writes location `index` (in the recipe's order; `expect` is where the approved plan put
     * it): the first gets a fresh value (for `alternating`, the role `alternateTo` gets it as its
     * password first), the others the value this run wrote to the first (`source`, its version).
     * Once per run and location. The new version is labelled `current` on SSM, the one it
     * replaces `previous`. A manual recipe's first location holds the version its supply step
     * took (`supplied`), which must still be the newest. */
    async writeSecretLocation(
      input: LocationStep & { runId: string; source?: string; alternateTo?: string; supplied?: string },
    ): Promise<string> {
      const l = planned(input);
      return heartbeating(async () => {
        if (l.kind === 'sink') {
          await l.set(await fieldAt(input, sourceOf(input)));
          return l.marker;
        }
        const phase = input.phase ?? 'write';
        // A first value (`init`) has nothing before it: no old value to label, read or keep.
        const initial = phase === 'init';
        const label = async (version: string) => {
          if (!(l.secrets instanceof SsmStore)) return;
          await l.secrets.label(l.name, version, ['current']);
          if (input.expect.current !== NO_VALUE)
            await l.secrets.label(l.name, input.expect.current, ['previous']);
        };
        // A manual recipe's value (the version its supply step took): still the newest, or
        // written over since. It is the run's write at this location.
        if (input.supplied !== undefined) {
          const newest = (await l.secrets.current(l.name))?.version;
          if (newest !== input.supplied)
            throw fail(
              FailureType.PolicyViolation,
              `${l.store}:${l.name}: the value handed over (version ${input.supplied}) is no longer the newest (now ${newest ?? 'none'}): written over since; nothing else was written`,
            );
          await label(input.supplied);
          return input.supplied;
        }
        // One read: the newest version is this run's (a retry after the write; the labels may not
        // have followed), or the place is as the plan (or the first phase) left it, or nobody
        // approved this write (a version written over this run's since counts as that too).
        const current = await l.secrets.current(l.name);
        // (A put-back carries the run's id too, and the step of the version it restored.)
        const ours = current?.tags.rekeyRunId === input.runId && !current.tags.restoredFrom;
        if (current && ours && current.tags.step === phase) {
          await label(current.version);
          return current.version;
        }
        const newest = current?.version ?? NO_VALUE;
        if (newest !== input.expect.current)
          throw fail(
            FailureType.PolicyViolation,
            `${l.store}:${l.name} changed since the plan (now version ${newest}, the plan had ${input.expect.current}); this run writes only over the version the plan found, and wrote nothing there now`,
          );
        let value: string;
        const recipe = recipeOf(input);
        const where = `${l.store}:${l.name}`;
        if (input.index === 0 && recipe.strategy === 'keyring') {
          // The new key in front of the list as the plan found it; after the overlap, alone.
          const old = initial
            ? []
            : keyList(recipe, await valueAt(input, { version: input.expect.current }), where);
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
            // A first value names the first role (none is in use yet).
            const inUse = initial
              ? (users[1] as string)
              : credential(await valueAt(input, { version: input.expect.current }), where).username;
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
        const issued = input.index === 0 && phase !== 'drop' && recipe.generator.type === 'command';
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
        await label(v.version);
        return v.version;
      });
    },

    /** A manual recipe's new value: waits until the first location holds a version other than
     * the plan's (`rekey secret supply`, or written there by other means) and returns the one
     * that is this run's; fails at `until` (epoch ms, from the workflow's clock). Heartbeats
     * while it waits: a lost worker's wait is taken up by another within seconds. */
    async awaitSuppliedValue(input: LocationStep & { runId: string; until: number }): Promise<string> {
      const recipe = recipeOf(input);
      const l = planned({ ...input, index: 0 });
      if (l.kind !== 'store' || recipe.generator.type !== 'manual')
        throw fail(
          FailureType.BadInput,
          `secret ${input.secret}: its value is not supplied (generator: manual)`,
        );
      const within = recipe.generator.within;
      return heartbeating(() =>
        awaitSupplied({
          store: l.secrets,
          name: l.name,
          recipe,
          secret: input.secret,
          runId: input.runId,
          phase: input.phase ?? 'write',
          expect: input.expect.current,
          until: input.until,
          within,
          beat,
        }),
      );
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

    /** Restarts every consumer of the recipe at once (see restartTogether); `values` (versions of
     * the first location) are cut out of a failure's text. */
    async restartConsumers(t: SecretTarget & Approved & { values: string[] }): Promise<void> {
      await restartTogether(config, recipes, t.env, recipeOf(t).consumers, [{ t, versions: t.values }]);
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
          last = await tryProbe(probe, input.env, value, {
            secret: input.secret,
            signal,
            postgresServer,
            onEnvHost,
          });
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
