// Workflow inputs: one JSON object each (the Web UI starts a workflow with a single payload),
// validated by the same zod schema in the CLI and in the workflow.
import { z } from 'zod';
import { RunWindow } from '../config/windows';

/** Who asked for the run. Checked where an environment's gates must be passed by someone else
 * (approvals.separateFromStarter); on signed gates `signature` is the requester's SSHSIG over the
 * request (see requestMessage in approvals.ts), which `rekey ... --as NAME` makes. A request is
 * bound to a time (`at`, good for minutes around the run's start) or to the schedule whose runs
 * it starts (`schedule`, the schedule id). */
const requestedBy = z
  .strictObject({
    name: z.string().min(1),
    signature: z.string().min(1).optional(),
    at: z.iso.datetime().optional(),
    schedule: z.string().min(1).optional(),
    /** The run the request was signed for, and a nonce that makes it good for one start. */
    workflowId: z.string().min(1).optional(),
    nonce: z
      .string()
      .regex(/^[0-9a-f]{32}$/, '32 hex digits')
      .optional(),
  })
  .optional();

export const RotateInput = z
  .strictObject({
    /** Environments to rotate; the rest of each one's key group is rotated with it. */
    environments: z.array(z.string().min(1)).min(1),
    /** Plan only: read everything, change nothing. */
    dryRun: z.boolean().default(false),
    /** Re-sign each host's cached publisher token with the new key, keeping its identity. */
    preserveToken: z.boolean().default(true),
    /** Install the new key files on each host and restart the service. */
    syncMountedKeys: z.boolean().default(true),
    /** `rekey keys install`: put the stores' current pair on the hosts (a rebuilt VM) as a
     * rotation installs a new one (backups, restart, publish gate, rollback); no new version. */
    installOnly: z.boolean().default(false),
    /** What the starter's own rekey.yaml says about the gate (the CLI sets it): a worker whose
     * config says otherwise refuses the run before any change, rather than skip a gate the
     * starter was told about or add one it was not. */
    expectApproval: z.boolean().optional(),
    /** The parts of rekey.yaml the starter used (config/run-config.ts): a worker whose own
     * differ refuses the run at its start. */
    starterConfig: z.record(z.string(), z.string()).optional(),
    /** Go ahead through a freeze (config/freezes.ts): the starter's reason, recorded. */
    overrideFreeze: z.string().min(1).max(500).optional(),
    /** When the run may change anything (a schedule's --window): outside it, it waits or skips. */
    window: RunWindow.optional(),
    requestedBy,
  })
  .refine((i) => !i.installOnly || (i.syncMountedKeys && i.preserveToken), {
    message:
      'installOnly installs the key files and keeps the token: it cannot go with syncMountedKeys: false or preserveToken: false',
    path: ['installOnly'],
  });
export type RotateInput = z.input<typeof RotateInput>;
export type RotateOptions = z.output<typeof RotateInput>;

export function rotateWorkflowId(environments: string[], installOnly = false): string {
  return `${installOnly ? 'keys-install' : 'rotate-jwt'}/${[...new Set(environments)].sort().join('+')}`;
}

export const RolloverInput = z.strictObject({
  keyring: z.string().min(1),
  /** How long tokens signed by the old key may still be presented; default: the keyring's
   * tokenLifetime. Shorter than that is refused. */
  ttl: z
    .string()
    .regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 90d, 12h or 30m')
    .optional(),
  dryRun: z.boolean().default(false),
  /** Read by runs whose plan came from an older worker only: the gate is the config's now (the
   * approval rules of the environments the keyring serves). */
  requireApproval: z.boolean().default(false),
  /** Whether the starter's config gates this keyring: a worker whose config disagrees refuses. */
  expectApproval: z.boolean().optional(),
  /** The parts of rekey.yaml the starter used (config/run-config.ts): a worker whose own differ
   * refuses the run at its start. */
  starterConfig: z.record(z.string(), z.string()).optional(),
  /** Go ahead through a freeze (config/freezes.ts): the starter's reason, recorded. */
  overrideFreeze: z.string().min(1).max(500).optional(),
  /** When the run may change anything (a schedule's --window): outside it, it waits or skips. */
  window: RunWindow.optional(),
  requestedBy,
});
export type RolloverInput = z.input<typeof RolloverInput>;

export function rolloverWorkflowId(keyring: string): string {
  return `rollover/${keyring}`;
}

export const RotateSecretInput = z
  .strictObject({
    /** A recipe of `secrets:` in rekey.yaml. */
    secret: z.string().min(1),
    environment: z.string().min(1),
    dryRun: z.boolean().default(false),
    /** `rekey secret init`: a first value, written only where there is none yet. */
    init: z.boolean().default(false),
    /** A compromise response (rekey respond): a keyring's old keys go at once (no overlap), and an
     * old value that cannot be revoked is recorded in the result rather than failing the run. */
    compromised: z.boolean().default(false),
    /** Why, for the incident record (free text; never a secret). */
    reason: z.string().max(500).optional(),
    /** The parts of rekey.yaml the starter used (config/run-config.ts): a worker whose own differ
     * refuses the run at its start. */
    starterConfig: z.record(z.string(), z.string()).optional(),
    /** Go ahead through a freeze (config/freezes.ts): the starter's reason, recorded. */
    overrideFreeze: z.string().min(1).max(500).optional(),
    /** When the run may change anything (a schedule's --window): outside it, it waits or skips. */
    window: RunWindow.optional(),
    requestedBy,
  })
  .refine((i) => !(i.init && i.compromised), {
    message: 'a first value (init) is not a compromise response: there is no old value',
    path: ['init'],
  });
export type RotateSecretInput = z.input<typeof RotateSecretInput>;

/** One rotation of a secret per environment at a time. */
export function secretWorkflowId(secret: string, environment: string): string {
  return `rotate-secret/${secret}/${environment}`;
}

/** Every secret of an environment that is due (or all of them) in one run: one plan, one gate,
 * one restart of each consumer (`rekey secret rotate --due|--all --env E`). */
export const RotateSecretsInput = z.strictObject({
  environment: z.string().min(1),
  /** `due`: the recipes past their rotateEvery; `all`: every recipe of the environment. Recipes
   * whose value a person issues (generator: manual) or that keep a key list (keyring) are
   * rotated on their own, never here. */
  select: z.enum(['due', 'all']).default('due'),
  dryRun: z.boolean().default(false),
  /** The parts of rekey.yaml the starter used (config/run-config.ts). */
  starterConfig: z.record(z.string(), z.string()).optional(),
  /** Go ahead through a freeze (config/freezes.ts): the starter's reason, recorded. */
  overrideFreeze: z.string().min(1).max(500).optional(),
  /** When the run may change anything (a schedule's --window): outside it, it waits or skips. */
  window: RunWindow.optional(),
  requestedBy,
});
export type RotateSecretsInput = z.input<typeof RotateSecretsInput>;

/** One run over an environment's secrets at a time. */
export function secretsWorkflowId(environment: string): string {
  return `rotate-secrets/${environment}`;
}

/** The workflow id whose running workflow holds `resource`: a secret's rotation holds its own
 * (`secret/NAME/E`) under its id; every other lock is a child `lock/<resource>` (with `selfHeld`
 * false, a secret's too: runs recorded before that took one). */
export function lockWorkflowId(resource: string, selfHeld = true): string {
  const [kind, secret, env] = resource.split('/');
  if (selfHeld && kind === 'secret' && secret && env) return secretWorkflowId(secret, env);
  return `lock/${resource}`;
}

/** Every workflow id that can hold `resource`: a secret's is held under its rotation's id, or by
 * runs recorded before that under `lock/secret/...`. */
export const lockWorkflowIds = (resource: string): string[] => [
  ...new Set([lockWorkflowId(resource), lockWorkflowId(resource, false)]),
];

/** A rotateSecret's re-encryption of its recipe's rows (a child run): the list the run wrote
 * (the first location's version), where the next page starts, and what is done so far. */
export const ReencryptRowsInput = z.strictObject({
  secret: z.string().min(1),
  env: z.string().min(1),
  /** The recipe's digest the plan was approved with. */
  recipe: z.string().min(1),
  version: z.string().min(1),
  after: z.string().nullable().default(null),
  done: z
    .strictObject({ rows: z.number().int(), reencrypted: z.number().int(), pages: z.number().int() })
    .default({ rows: 0, reencrypted: 0, pages: 0 }),
});
export type ReencryptRowsInput = z.input<typeof ReencryptRowsInput>;

/** A codec key rotation takes nothing: the keyring is the worker's config's. A JSON object with
 * any field in it (from the Web UI, say) is refused. */
export const CodecKeyInput = z.strictObject({});
export type CodecKeyInput = z.input<typeof CodecKeyInput>;

/** One codec key rotation at a time per keyring. */
export function codecKeyWorkflowId(store: string, secret: string): string {
  return `rotate-codec-key/${store}/${secret}`;
}

const promotionOptions = {
  dryRun: z.boolean().default(false),
  /** Copy live, then stop the source for a short final pass, then start it again. */
  consistent: z.boolean().default(false),
  /** Allow a plan that empties or mostly empties the destination (see promotion.maxDeleteShare). */
  allowShrink: z.boolean().default(false),
};

export const PromoteInput = z.strictObject({
  /** Environments in order, data flowing from each to the next: prod, test, dev. */
  chain: z.array(z.string().min(1)).min(2),
  ...promotionOptions,
  /** The parts of rekey.yaml the starter used (config/run-config.ts): a worker whose own differ
   * refuses the run at its start. */
  starterConfig: z.record(z.string(), z.string()).optional(),
  /** Go ahead through a freeze (config/freezes.ts): the starter's reason, recorded. */
  overrideFreeze: z.string().min(1).max(500).optional(),
  requestedBy,
});
export type PromoteInput = z.input<typeof PromoteInput>;

export const HopInput = z.strictObject({
  from: z.string().min(1),
  to: z.string().min(1),
  ...promotionOptions,
  /** The promotion's own input, when a promotion started this hop: its requestedBy signed it. */
  promotion: z.record(z.string(), z.unknown()).optional(),
  /** When that promotion started (its request's time window is measured from there). */
  promotionStartedAt: z.iso.datetime().optional(),
  requestedBy,
});
export type HopInput = z.input<typeof HopInput>;
export type HopOptions = z.output<typeof HopInput>;

// Environment names never contain "." (config/schema.ts), so ".." cannot make two chains collide.
export function promoteWorkflowId(chain: string[]): string {
  return `promote/${chain.join('..')}`;
}

export function promoteHopWorkflowId(promotionId: string, from: string, to: string): string {
  return `${promotionId}/${from}..${to}`;
}
