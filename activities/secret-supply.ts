// Values a person issues elsewhere (`generator: manual`: a SaaS console, a dashboard). The run
// waits at its `supply` step until the first location holds a new version: one `rekey secret
// supply` wrote from the operator's machine (tagged with the run, so the run's put-back treats it
// as its own), or one written there by other means, which the run then writes again as its own.
// The value never passes through Temporal; the run sees versions.
import { asyncLocalStorage } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { gatePolicy } from '../config/approvals';
import type { Config } from '../config/schema';
import { fieldsOf, type SecretRecipe } from '../config/secret-recipes';
import type { GatePolicy } from '../shared/approval-proof';
import { supplyCommand } from '../shared/cli-hints';
import { FailureType, fail } from '../shared/failures';
import type { SecretStore } from '../stores/types';
import { credentialOf } from './generators';
import { NO_VALUE, type Phase } from './secret-recipe';

/** How often the first location is read while the run waits (one read each time): often while
 * the operator is likely at the console, then every half minute (a day's wait is some 3,000 reads,
 * not 30,000: each is a call the store bills or logs). */
const pollDelay = (waitedMs: number) => (waitedMs < 120_000 ? 3000 : 30_000);

/** What a plan of a manual recipe says about its value (SecretPlan.manual). */
export interface ManualPlan {
  /** Where the value is issued and the old one revoked. */
  issuer: string;
  /** How long the run waits for it. */
  within: string;
  /** Who confirms the old value revoked at the issuer: the environment's gate policy, asked
   * whether or not the environment requires an approval before the change. */
  confirm: GatePolicy;
}

/** A plan's `manual`, for a recipe whose value a person issues. */
export function manualOf(config: Config, recipe: SecretRecipe, env: string): ManualPlan | undefined {
  const g = recipe.generator;
  if (g.type !== 'manual') return undefined;
  return { issuer: g.issuer, within: g.within, confirm: gatePolicy(config, [env]) };
}

/** How the plan names where a new value comes from. */
export const generatorText = (g: SecretRecipe['generator']) =>
  g.type === 'manual' ? `issued by hand at ${g.issuer}` : g.type;

/** The plan's lines for the wait: where the value is made, how it reaches the run. */
export function supplyLines(
  recipe: SecretRecipe,
  t: { secret: string; env: string },
  first: string,
): string[] {
  const g = recipe.generator;
  if (g.type !== 'manual') return [];
  const fields = fieldsOf(g);
  return [
    `  0. wait up to ${g.within} for a new value issued at ${g.issuer}: \`${supplyCommand(t.secret, t.env)}\` reads it from standard input${fields ? ` (a JSON object with ${fields.join(', ')})` : ''} and writes it to ${first} (or write it there yourself); the value does not pass through Temporal`,
  ];
}

/** Why `value` cannot be the new value of a manual recipe (`old`: the one in use, if any). */
export function suppliedProblem(
  recipe: SecretRecipe,
  value: string,
  old: string | undefined,
): string | undefined {
  if (!value.trim()) return 'it is empty';
  const fields = fieldsOf(recipe.generator);
  if (fields)
    try {
      credentialOf(value, fields, 'it');
    } catch (err) {
      return (err as Error).message.replace(/; output not shown.*$/, ' (value not shown)');
    }
  if (old !== undefined && value === old) return 'it is the value in use now, not a new one';
  return undefined;
}

/** The tags of a supplied version: the waiting run's, as if it had written it. */
export const suppliedTags = (secret: string, runId: string, phase: Phase, by: string) => ({
  rekeyRunId: runId,
  step: phase,
  secret,
  suppliedBy: by,
});

/**
 * Waits until `name` in `store` holds a version other than `expect` and returns the run's own
 * (supplied for `runId`, or the newer one written again under the run's tags), checked. Fails
 * (nothing changed by the run) at `until`.
 */
export async function awaitSupplied(o: {
  store: SecretStore;
  name: string;
  recipe: SecretRecipe;
  secret: string;
  runId: string;
  phase: Phase;
  expect: string;
  until: number;
  within: string;
  beat: (detail: string) => void;
}): Promise<string> {
  const where = `${o.store.name}:${o.name}`;
  const signal = asyncLocalStorage.getStore()?.cancellationSignal;
  const started = Date.now();
  // A first value has no value in use (a failed init's may be handed over again).
  const old =
    o.expect === NO_VALUE || o.phase === 'init' ? undefined : (await o.store.get(o.name, o.expect)).value;
  const check = (value: string, what: string) => {
    const problem = suppliedProblem(o.recipe, value, old);
    if (problem)
      throw fail(
        FailureType.BadInput,
        `${where}: ${what} cannot be the new value: ${problem}; nothing else was changed`,
      );
  };
  for (;;) {
    signal?.throwIfAborted();
    // A store's bad minute (a 503, throttling) is waited out like the value, while there is time.
    const newest = await o.store.current(o.name).catch((err: unknown) => {
      if ((err instanceof ApplicationFailure && err.nonRetryable) || Date.now() >= o.until) throw err;
      o.beat(`${where} did not answer (${err instanceof Error ? err.message : String(err)}); trying again`);
      return undefined;
    });
    if (newest && newest.version !== o.expect) {
      // The newest is the run's own (rekey secret supply): taken.
      if (newest.tags.rekeyRunId === o.runId && newest.tags.step === o.phase) {
        check((await o.store.get(o.name, newest.version)).value, `version ${newest.version}`);
        return newest.version;
      }
      // Written by other means (the store's console, its CLI): taken as the supply, under the
      // run's tags so that a failure puts the plan's version back.
      const value = (await o.store.get(o.name, newest.version)).value;
      check(value, `version ${newest.version} (written outside rekey)`);
      const tags = { ...suppliedTags(o.secret, o.runId, o.phase, 'outside rekey'), adopted: newest.version };
      return (await o.store.set(o.name, value, tags)).version;
    }
    if (Date.now() >= o.until)
      throw fail(
        FailureType.NotApproved,
        `no new value reached ${where} within ${o.within}; nothing was changed`,
      );
    if (newest !== undefined) o.beat(`waiting for a new value at ${where}`);
    await new Promise((r) => setTimeout(r, pollDelay(Date.now() - started)));
  }
}
