// The consumers of one or several secrets restarted together (a secret's rotation, a run over an
// environment's secrets), with every value they may print cut out of a failure.
import type { Config } from '../config/schema';
import { beat, heartbeating } from '../services/heartbeat';
import { createServiceDriver } from '../services/service';
import { atOnce, SECRETS_AT_ONCE } from '../shared/at-once';
import { FailureType, fail } from '../shared/failures';
import { redact, type SecretRecipes, type SecretTarget } from './secret-recipe';

/** Restarts `consumers` of `env` at once (they share the values: none may run with an old one
 * while another has the new) and waits for all of them even when one fails: a restart still
 * running must not finish after a rollback's. Every value of `values` (versions of each secret's
 * first location) is cut out of a failure's text: a consumer may print what it loaded. */
export async function restartTogether(
  config: Config,
  { onEnvHost, recipeOf, valueAt, secretParts }: SecretRecipes,
  env: string,
  consumers: string[],
  values: { t: SecretTarget; versions: string[] }[],
): Promise<void> {
  await heartbeating(async () => {
    const results = await onEnvHost(env, (host) =>
      Promise.allSettled(
        consumers.map(async (name) => {
          await createServiceDriver(host, config.services[name] as never).restart();
          beat(`restarted ${name}`);
        }),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return;
    const reason = failed.reason as { message?: string; type?: FailureType } | null;
    // Every value's parts, several read at a time (a run over many secrets restarts once for all).
    const reads = await atOnce(
      values.flatMap(({ t, versions }) => versions.map((version) => ({ t, version }))),
      SECRETS_AT_ONCE,
      async ({ t, version }) => secretParts(recipeOf(t), await valueAt(t, { version })),
    );
    const type = reason?.type ?? FailureType.CommandFailed;
    // A value that could not be read could not be cut out: the consumer's output is left out.
    if (reads.some((r) => r.status === 'rejected'))
      throw fail(
        type,
        `restarting ${consumers.join(', ')} failed (its output not shown: a value to cut out of it could not be read)`,
      );
    const parts = reads.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    throw fail(type, redact(reason?.message ?? String(reason), parts));
  });
}
