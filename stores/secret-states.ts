// Each secret recipe's state in each environment, read from its first location: which version is
// current, when it changed, who wrote it, when it falls due. `rekey secret status` prints it; the
// worker's metrics (worker/metrics.ts) export it.
import { parseDuration } from '../config/duration';
import type { Config } from '../config/schema';
import { placeIn } from '../config/secret-recipes';
import { createSecretStore } from './drivers';
import type { SecretStore } from './types';

/** A secret's state in one environment: its first location's current version, when it changed
 * (a put-back counts from the version it restored), who wrote it, when it is due. */
export interface SecretState {
  secret: string;
  env: string;
  store: string;
  name: string;
  /** null: the location holds no value yet. */
  version: string | null;
  changed?: string;
  ageDays?: number;
  writtenBy?: 'rekey' | 'rekey put-back' | 'outside rekey';
  rotateEvery?: string;
  due?: string;
  overdue: boolean;
  /** Why the location could not be read (its store's answer); the other fields then say nothing. */
  unreadable?: string;
}

export async function secretStates(config: Config, env?: string, now = Date.now()): Promise<SecretState[]> {
  const out: SecretState[] = [];
  for (const [secret, recipe] of Object.entries(config.secrets)) {
    for (const e of recipe.environments) {
      if (env && e !== env) continue;
      const first = recipe.locations[0] as (typeof recipe.locations)[number];
      const { store: storeName, name } = placeIn(first, e, config.environments[e]?.store);
      const where = { secret, env: e, store: storeName, name };
      let versions: Awaited<ReturnType<SecretStore['listVersions']>>;
      let current: Awaited<ReturnType<SecretStore['current']>>;
      try {
        const store = createSecretStore(storeName, config.stores[storeName] as never);
        versions = await store.listVersions(name);
        current = await store.current(name);
      } catch (err) {
        // One store that cannot be read does not hide the others.
        out.push({ ...where, version: null, overdue: false, unreadable: (err as Error).message });
        continue;
      }
      if (!current) {
        out.push({ ...where, version: null, overdue: false });
        continue;
      }
      // A value put back after a failed rotation is as old as the version it restored.
      const origin = versions.find((v) => v.version === current.tags.restoredFrom) ?? current;
      const changed = Date.parse(origin.createdOn);
      const next = recipe.rotateEvery ? changed + parseDuration(recipe.rotateEvery) : undefined;
      out.push({
        ...where,
        version: current.version,
        changed: origin.createdOn,
        // A store's clock a little ahead of this one is not a negative age.
        ageDays: Math.max(0, Math.floor((now - changed) / 86_400_000)),
        writtenBy: current.tags.restoredFrom
          ? 'rekey put-back'
          : current.tags.rekeyRunId
            ? 'rekey'
            : 'outside rekey',
        ...(recipe.rotateEvery && next !== undefined
          ? { rotateEvery: recipe.rotateEvery, due: new Date(next).toISOString() }
          : {}),
        overdue: next !== undefined && next < now,
      });
    }
  }
  return out;
}
