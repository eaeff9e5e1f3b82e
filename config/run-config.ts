// What a starter and a worker compare before a run changes anything: the parts of rekey.yaml the
// run uses, each as a short digest. A worker reads rekey.yaml once, at start; the CLI reads its
// own copy at every command. Where the two differ (approvals added on the laptop, a worker still
// running last week's file, a second worker with another config on the task queue), the run
// refuses at its start and names the parts that differ, rather than skip a gate the CLI
// announced or act on another host than the one the starter meant.
//
// Paths to local files (key files, known_hosts, a file store's directory) are left out: they
// name files on each machine, and legitimately differ between an approver's laptop and the
// worker's host.

import { z } from 'zod';
import { canonicalJson, digestOf } from '../shared/sshsig';
import { gatedOf, gatePolicy, keyringEnvironments } from './approvals';
import { keyGroupMembers } from './key-groups';
import { type Config, Config as ConfigSchema } from './schema';

/** What a run uses of the config: its environments, and the recipe or keyring it rotates. */
export interface RunScope {
  environments: string[];
  /** The secret recipes it rotates. */
  secrets?: string[];
  keyring?: string;
  promotion?: boolean;
}

/** A run as its input names it; each side works out the scope from its own config. */
export type RunKind =
  | { kind: 'rotate'; environments: string[] }
  | { kind: 'rollover'; keyring: string }
  | { kind: 'secret'; secret: string; environment: string }
  /** Every secret of an environment (rotateSecrets): each recipe rotated there. */
  | { kind: 'secrets'; environment: string }
  | { kind: 'promote'; chain: string[]; consistent?: boolean };

export function runScopeOf(config: Config, run: RunKind): RunScope {
  switch (run.kind) {
    case 'rotate':
      return { environments: keyGroupMembers(config, run.environments) };
    case 'rollover':
      return { environments: keyringEnvironments(config, run.keyring), keyring: run.keyring };
    case 'secret':
      return { environments: [run.environment], secrets: [run.secret] };
    case 'secrets':
      return {
        environments: [run.environment],
        secrets: Object.keys(config.secrets).filter((s) =>
          config.secrets[s]?.environments.includes(run.environment),
        ),
      };
    case 'promote':
      return { environments: run.chain, promotion: true };
  }
}

/** The environments a run changes, which a freeze (config/freezes.ts) holds: a promotion's
 * destinations, and its source only when --consistent stops it for the final pass. */
export function changedBy(config: Config, run: RunKind): string[] {
  if (run.kind === 'promote')
    return [...run.chain.slice(1), ...(run.consistent ? run.chain.slice(0, 1) : [])];
  return runScopeOf(config, run).environments;
}

/** What a starter puts in a run's input (`starterConfig`). */
export const starterConfigOf = (config: Config, run: RunKind) => configParts(config, runScopeOf(config, run));

/** Settings that name things on the machine reading the config, not what a run acts on: key
 * files, known_hosts, a file store's directory, how this machine authenticates or reaches an API
 * (an Azure credential kind, an SSM endpoint, a Kubernetes API server). */
const LOCAL = /^(dir|knownHosts|credential|endpoint|server|\w*File)$/;

/** `value` without machine-local settings, at any depth. */
function withoutLocal(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutLocal);
  if (value === null || typeof value !== 'object') return value ?? null;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([k]) => !LOCAL.test(k))
      .map(([k, v]) => [k, withoutLocal(v)]),
  );
}

/** A host as it is on the network: a local host's dirs are resolved against each machine's
 * config location and home directory, an SSH host's are paths on the host itself. */
function hostPart(host: Config['hosts'][string] | undefined): unknown {
  if (!host) return null;
  const { appDir: _a, dataDir: _d, ...rest } = host;
  return withoutLocal(host.type === 'local' ? rest : host);
}

const short = (value: unknown) => digestOf([canonicalJson(value ?? null)]).slice(7, 23);

/** The config schema this rekey reads: configs of two versions are not compared part by part. */
let schemaDigest: string | undefined;
const schemaPart = () => {
  schemaDigest ??= short(z.toJSONSchema(ConfigSchema, { io: 'input' }));
  return schemaDigest;
};

/** The parts of `config` a run of `scope` uses, by name ("prod approvals", "keyring api"). */
export function configParts(config: Config, scope: RunScope): Record<string, string> {
  const parts: Record<string, string> = { 'config schema': schemaPart() };
  for (const env of [...new Set(scope.environments)].sort()) {
    const e = config.environments[env];
    parts[`${env} environment`] = short(withoutLocal(e));
    parts[`${env} store`] = short(withoutLocal(e ? config.stores[e.store] : null));
    parts[`${env} host`] = short(hostPart(e ? config.hosts[e.host] : undefined));
    parts[`${env} service`] = short(withoutLocal(e ? config.services[e.service] : null));
    // Approver names and keys as they are (no key here names a local file).
    parts[`${env} approvals`] = short(
      e ? { required: gatedOf(config, [env]).length > 0, policy: gatePolicy(config, [env]) } : null,
    );
  }
  const store = (s: string) => {
    parts[`store ${s}`] = short(withoutLocal(config.stores[s] ?? null));
  };
  for (const secret of scope.secrets ?? []) {
    const recipe = config.secrets[secret];
    parts[`secret ${secret}`] = short(withoutLocal(recipe));
    // Where it is written and who is restarted, beyond the environment's own store and service.
    for (const l of recipe?.locations ?? []) if (l.store) store(l.store);
    if (recipe?.alternate) store(recipe.alternate.store);
    for (const c of recipe?.consumers ?? [])
      parts[`service ${c}`] = short(withoutLocal(config.services[c] ?? null));
  }
  if (scope.keyring !== undefined) {
    const ring = config.keyrings[scope.keyring];
    parts[`keyring ${scope.keyring}`] = short(withoutLocal(ring));
    if (ring) store(ring.store);
    if (ring?.kubernetes) store(ring.kubernetes.store);
    for (const r of ring?.replicas ?? []) {
      parts[`host ${r.host}`] = short(hostPart(config.hosts[r.host]));
      parts[`service ${r.service}`] = short(withoutLocal(config.services[r.service] ?? null));
    }
  }
  if (scope.promotion) parts.promotion = short(config.promotion);
  return parts;
}

/** The parts in which `theirs` and `ours` differ (present in one only, or with other digests). */
export function differingParts(theirs: Record<string, string>, ours: Record<string, string>): string[] {
  return [...new Set([...Object.keys(theirs), ...Object.keys(ours)])]
    .filter((k) => theirs[k] !== ours[k])
    .sort();
}
