// Activities of a run over an environment's secrets (rotateSecrets: `rekey secret rotate --due`):
// one plan for every recipe that is due (or all), the writes of all of them side by side in one
// activity, one restart of every consumer. The put-backs, probes and revokes are a single
// secret's own activities (rotate-secret.ts), called once per secret.
import { asyncLocalStorage } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { gatedOf, gatePolicy, scopeOf } from '../config/approvals';
import { heartbeating } from '../services/heartbeat';
import type { Approved, GatePolicy } from '../shared/approval-proof';
import { atOnce, SECRETS_AT_ONCE } from '../shared/at-once';
import { FailureType, fail } from '../shared/failures';
import { secretStates } from '../stores/secret-states';
import { createRotateSecretActivities } from './rotate-secret';
import { planSecretRotation } from './secret-plan';
import { type LocationPlan, type SecretDeps, type SecretPlan, secretRecipes } from './secret-recipe';
import { restartTogether } from './secret-restart';

export interface SecretBatchPlan {
  env: string;
  select: 'due' | 'all';
  /** Each secret's own plan, in the config's order. */
  secrets: SecretPlan[];
  /** The environment's recipes this run leaves alone, and why. */
  left: { secret: string; why: string }[];
  /** Every consumer of those secrets, each restarted once. */
  consumers: string[];
  approvalRequired: boolean;
  approval?: GatePolicy;
  scope?: Record<string, string>;
  text: string[];
}

/** One secret of the batch as the write needs it: its recipe's digest, and where the plan had
 * each location. */
export interface BatchWrite {
  secret: string;
  recipe: string;
  locations: LocationPlan[];
  alternateTo?: string;
}

/** What the write did for one secret: the version written at each location it reached (the
 * last may have been written although its answer was lost), and why it stopped. */
export interface BatchWritten {
  secret: string;
  written: string[];
  reached: number;
  failure?: { type?: string; message: string };
}

export function createRotateSecretsActivities(deps: SecretDeps) {
  const { config } = deps;
  const recipes = secretRecipes(deps);
  const one = createRotateSecretActivities(deps);

  return {
    /** Which of the environment's recipes are rotated (`due`: past their rotateEvery; `all`),
     * each one's plan, and the batch's lines for the dry run, the gate and the Web UI. */
    async planSecretBatch(t: { env: string; select: 'due' | 'all' }): Promise<SecretBatchPlan> {
      if (!config.environments[t.env]) throw fail(FailureType.BadInput, `unknown environment "${t.env}"`);
      const left: SecretBatchPlan['left'] = [];
      let names: string[] = [];
      for (const [secret, recipe] of Object.entries(config.secrets)) {
        if (!recipe.environments.includes(t.env)) continue;
        if (recipe.generator.type === 'manual')
          left.push({ secret, why: 'a person issues its value: rotated on its own' });
        else if (recipe.strategy === 'keyring')
          left.push({ secret, why: 'a key list kept through an overlap: rotated on its own' });
        else names.push(secret);
      }
      if (t.select === 'due') {
        const states = new Map((await secretStates(config, t.env)).map((s) => [s.secret, s]));
        // Whether a secret is due is known, or the run says why not: it rotates nothing.
        const unreadable = names.flatMap((n) => {
          const u = states.get(n)?.unreadable;
          return u ? [`${n} (${u})`] : [];
        });
        if (unreadable.length)
          throw fail(
            FailureType.StoreUnauthorized,
            `cannot tell which secrets of ${t.env} are due: ${unreadable.join('; ')}; nothing was changed`,
          );
        names = names.filter((secret) => {
          const s = states.get(secret);
          const why = !s
            ? 'not found'
            : s.version === null
              ? `no value yet: rekey secret init ${secret} --env ${t.env}`
              : !s.due
                ? 'no rotateEvery: never due'
                : !s.overdue
                  ? `not due until ${s.due.slice(0, 10)}`
                  : undefined;
          if (why) left.push({ secret, why });
          return !why;
        });
      }
      const planned = await atOnce(names, SECRETS_AT_ONCE, (secret) =>
        planSecretRotation(config, recipes, { secret, env: t.env }),
      );
      const secrets = planned.map((p) => {
        if (p.status !== 'fulfilled') throw p.reason;
        return p.value;
      });
      const consumers = [...new Set(secrets.flatMap((s) => s.consumers))].sort();
      const approvalRequired = gatedOf(config, [t.env]).length > 0;
      const revoked = secrets.filter((s) => s.revoke).map((s) => s.secret);
      // Each secret's own lines, but its restart and its ending: those are the batch's.
      const own = (s: SecretPlan) => s.text.filter((l) => !/^ {2}(restart:|then )/.test(l));
      const text = [
        `${secrets.length} secret(s) of ${t.env} in one run (${t.select === 'due' ? 'those due' : 'all of them'}): one gate, written side by side (${SECRETS_AT_ONCE} at a time), each consumer restarted once`,
        ...secrets.flatMap(own),
        `restart once: ${consumers.join(', ') || 'none'}`,
        `then ${revoked.length ? `revoke the old value of ${revoked.join(', ')}` : 'nothing to revoke'}; on any failure before that, every secret is put back${consumers.length ? ' and the consumers restarted on the old values' : ''}`,
        ...left.map((l) => `left alone: ${l.secret} (${l.why})`),
      ];
      return {
        env: t.env,
        select: t.select,
        secrets,
        left,
        consumers,
        approvalRequired,
        ...(approvalRequired ? { approval: gatePolicy(config, [t.env]) } : {}),
        scope: scopeOf(config, [t.env]),
        text,
      };
    },

    /** Writes every secret of the batch, SECRETS_AT_ONCE at a time, each one's locations in its
     * recipe's order (writeSecretLocation: once per run and location). A failure stops the
     * batch: nothing new starts and what started ends. A secret refused for good (a named
     * failure) comes back with the others' outcomes, for the workflow to put each back; anything
     * else (a store's bad minute) fails the attempt, and the retry finds each write already
     * made. */
    async writeSecretBatch(
      input: Approved & { env: string; runId: string; secrets: BatchWrite[] },
    ): Promise<BatchWritten[]> {
      const { env, runId, approval } = input;
      let stopped = false;
      let transient: unknown;
      let written = 0;
      // Alive from the start (each write is seconds; the batch may be minutes), with the count.
      // A cancelled or timed-out attempt starts no more secrets (its retry may be running).
      const cancelled = asyncLocalStorage.getStore()?.cancellationSignal;
      const outcomes = await heartbeating(
        () =>
          atOnce(input.secrets, SECRETS_AT_ONCE, async (s) => {
            if (stopped || cancelled?.aborted) return undefined;
            const done: BatchWritten = { secret: s.secret, written: [], reached: 0 };
            for (const [index, l] of s.locations.entries()) {
              done.reached = index + 1;
              try {
                done.written.push(
                  await one.writeSecretLocation({
                    secret: s.secret,
                    env,
                    recipe: s.recipe,
                    runId,
                    index,
                    expect: l,
                    phase: 'write',
                    ...(index > 0 ? { source: done.written[0] } : {}),
                    ...(s.alternateTo ? { alternateTo: s.alternateTo } : {}),
                    ...(approval ? { approval } : {}),
                  }),
                );
              } catch (err) {
                stopped = true;
                if (!(err instanceof ApplicationFailure && err.nonRetryable)) transient ??= err;
                else {
                  // A write-only place that refused the write outright is as it was (see replace()).
                  if (l.current === 'write-only' || l.current === 'role') done.reached = index;
                  const named = err.message.startsWith(`secret ${s.secret}`);
                  done.failure = {
                    ...(err.type ? { type: err.type } : {}),
                    message: named ? err.message : `secret ${s.secret}: ${err.message}`,
                  };
                }
                break;
              }
            }
            written++;
            return done;
          }),
        () => `${written} of ${input.secrets.length} secrets written`,
      );
      if (transient) throw transient;
      return outcomes.flatMap((o) => (o?.status === 'fulfilled' && o.value ? [o.value] : []));
    },

    /** The version this run wrote at each secret's first location (`first`, where the plan had
     * it), read back after the write failed as a whole: a secret with none was not written
     * anywhere (its first location is written first); one with a version may have reached every
     * location. */
    async secretsWrittenBy(input: {
      env: string;
      runId: string;
      secrets: { secret: string; first: LocationPlan; locations: number }[];
    }): Promise<BatchWritten[]> {
      const read = await heartbeating(() =>
        atOnce(input.secrets, SECRETS_AT_ONCE, async (s) => {
          const first = recipes.planned({ secret: s.secret, env: input.env, index: 0, expect: s.first });
          if (first.kind !== 'store') throw new Error(`${s.first.store}:${s.first.name} is not a store`);
          return recipes.writtenBy(first.secrets, first.name, input.runId, 'write');
        }),
      );
      // One that cannot be read back is put back everywhere: a put-back finds nothing of the
      // run's where it wrote nothing (only an issued value is not known, so not revoked).
      return input.secrets.map((s, i) => {
        const r = read[i];
        if (r?.status !== 'fulfilled') return { secret: s.secret, written: [], reached: s.locations };
        const mine = r.value;
        return { secret: s.secret, written: mine ? [mine.version] : [], reached: mine ? s.locations : 0 };
      });
    },

    /** Restarts every consumer of the batch's secrets once, all at once (see restartTogether);
     * each secret's `values` (versions of its first location) are cut out of a failure's text. */
    async restartSecretsConsumers(
      input: Approved & { env: string; secrets: { secret: string; recipe: string; values: string[] }[] },
    ): Promise<void> {
      const values = input.secrets.map((s) => ({
        t: { secret: s.secret, env: input.env, recipe: s.recipe },
        versions: s.values,
      }));
      const consumers = [...new Set(values.flatMap(({ t }) => recipes.recipeOf(t).consumers))].sort();
      await restartTogether(config, recipes, input.env, consumers, values);
    },
  };
}

export type RotateSecretsActivities = ReturnType<typeof createRotateSecretsActivities>;
