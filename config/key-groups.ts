// Key groups: the environments that share one key pair (and so rotate together).
import type { Config } from './schema';

/** The key group `env` belongs to (every environment is in exactly one: config/cross-checks.ts). */
export function keyGroupOf(cfg: Config, env: string): string {
  const group = Object.entries(cfg.keyGroups).find(([, envs]) => envs.includes(env));
  if (!group) throw new Error(`environment "${env}" is in no key group`);
  return group[0];
}

/** `environments` plus every environment sharing a key group with one of them (known ones). */
export function keyGroupMembers(cfg: Config, environments: string[]): string[] {
  const groups = new Set(environments.map((e) => keyGroupOf(cfg, e)));
  return Object.keys(cfg.environments).filter((e) => groups.has(keyGroupOf(cfg, e)));
}
