// Who may decide a gate, and how, for the environments a run changes.
import type { GatePolicy } from '../shared/approval-proof';
import { canonicalJson, digestOf } from '../shared/sshsig';
import { parseDuration } from './duration';
import { keyGroupMembers } from './key-groups';
import type { Config } from './schema';

/** The strictest policy of `environments` (signed over named, the largest quorum); the config's
 * defaults for a gate that changes no environment (a keyring). */
export function gatePolicy(config: Config, environments: string[]): GatePolicy {
  const own = environments.map((e) => config.environments[e]?.approvals);
  const modes = own.map((a) => a?.mode ?? config.approvals.mode);
  return {
    mode: modes.length === 0 ? config.approvals.mode : modes.includes('signed') ? 'signed' : 'named',
    approvers: config.approvals.approvers,
    required: Math.max(1, ...own.map((a) => a?.required ?? 1)),
    separateFromStarter: own.some((a) => a?.separateFromStarter === true),
    timeoutMs: parseDuration(config.approvals.timeout),
  };
}

/** The environments that require approval, of `environments`. A run waits at a gate when one of
 * the environments it changes (or, for a promotion hop, reads from) is one: the rule, written once
 * for the CLI, the activities that plan a run and the guard that checks its steps. */
export function gatedOf(config: Config, environments: readonly (string | undefined)[]): string[] {
  return environments.filter((e): e is string => e !== undefined && config.approvals.requiredFor.includes(e));
}

/** Whether every run of a start waits at a gate (each entry: the environments of one run). A start
 * that changes something without one needs the operator's --yes. */
export const gatesCover = (config: Config, runs: readonly (readonly string[])[]): boolean =>
  runs.every((envs) => gatedOf(config, envs).length > 0);

/** A fingerprint of everything an environment's steps act on (its store, host, service, paths,
 * key group, promotion rules): an approved plan carries it, and a step refuses an environment
 * whose configuration changed since. A hash, so no credential reference shows in a history. */
export function environmentFingerprint(config: Config, env: string): string {
  const e = config.environments[env];
  return digestOf([
    canonicalJson({
      environment: e ?? null,
      store: (e && config.stores[e.store]) ?? null,
      host: (e && config.hosts[e.host]) ?? null,
      service: (e && config.services[e.service]) ?? null,
      paths: config.paths,
      secretNames: config.secretNames,
      group: e ? keyGroupMembers(config, [env]) : null,
      promotion: config.promotion,
    }),
  ]);
}

/** What an approved plan of `environments` was made from (see `environmentFingerprint`). */
export function scopeOf(config: Config, environments: string[]): Record<string, string> {
  return Object.fromEntries(environments.map((e) => [e, environmentFingerprint(config, e)]));
}

/** The environments a keyring serves, whose approval rules its rollovers follow: those whose
 * store holds the ring (or its Kubernetes Secret), or whose host runs one of its replicas. */
export function keyringEnvironments(config: Config, keyring: string): string[] {
  const ring = config.keyrings[keyring];
  if (!ring) return [];
  const stores = [ring.store, ring.kubernetes?.store];
  const hosts = ring.replicas.map((r) => r.host);
  return Object.entries(config.environments)
    .filter(([, e]) => stores.includes(e.store) || hosts.includes(e.host))
    .map(([name]) => name);
}
