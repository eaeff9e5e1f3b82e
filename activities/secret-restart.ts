// The consumers of one or several secrets restarted together (a secret's rotation, a run over an
// environment's secrets), with every value they may print cut out of a failure.
import type { Config } from '../config/schema';
import { beat, heartbeating } from '../services/heartbeat';
import { createServiceDriver } from '../services/service';
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
    // Every value's parts, read side by side (a run over many secrets restarts once for all).
    const parts = await Promise.all(
      values.flatMap(({ t, versions }) =>
        versions.map(async (version) =>
          secretParts(recipeOf(t), await valueAt(t, { version }).catch(() => '')),
        ),
      ),
    );
    throw fail(
      reason?.type ?? FailureType.CommandFailed,
      redact(reason?.message ?? String(reason), parts.flat()),
    );
  });
}
