// Key groups: the environments that share one key pair (and so rotate together).
import type { Config } from './schema';

/** Environment -> key group, once per config: a fleet has thousands of each. */
const groupIndex = new WeakMap<Config, Map<string, string>>();

function groupsOf(cfg: Config): Map<string, string> {
  let index = groupIndex.get(cfg);
  if (!index) {
    index = new Map();
    for (const [group, envs] of Object.entries(cfg.keyGroups))
      for (const env of envs) if (!index.has(env)) index.set(env, group);
    groupIndex.set(cfg, index);
  }
  return index;
}

/** The key group `env` belongs to (every environment is in exactly one: config/cross-checks.ts). */
export function keyGroupOf(cfg: Config, env: string): string {
  const group = groupsOf(cfg).get(env);
  if (group === undefined) throw new Error(`environment "${env}" is in no key group`);
  return group;
}

/** `environments` plus every environment sharing a key group with one of them (known ones). */
export function keyGroupMembers(cfg: Config, environments: string[]): string[] {
  const groups = new Set(environments.map((e) => keyGroupOf(cfg, e)));
  return Object.keys(cfg.environments).filter((e) => groups.has(groupsOf(cfg).get(e) as string));
}

/** The secret names of `env`'s key pair: `{group}` in the configured names is its key group's
 * name (many key sets in one vault, each under its own names). */
export function secretNamesOf(cfg: Config, env: string): { privateKey: string; publicKey: string } {
  const group = keyGroupOf(cfg, env);
  return {
    privateKey: cfg.secretNames.privateKey.replaceAll('{group}', group),
    publicKey: cfg.secretNames.publicKey.replaceAll('{group}', group),
  };
}
