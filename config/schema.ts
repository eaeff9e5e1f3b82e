// The schema of rekey.yaml. Every type the rest of rekey uses for configuration comes from here.
import { z } from 'zod';

const name = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'use letters, digits, "-" and "_"');
const duration = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 90s, 10m, 2h or 90d');

export const AzureKeyVaultStore = z.strictObject({
  type: z.literal('azure-keyvault'),
  vaultUrl: z.url({ protocol: /^https$/ }),
  /** Pin the Key Vault REST API version (emulators may support an older one). */
  serviceVersion: z.string().optional(),
  /** How to get a token: the Azure CLI's login (`az login`, as the guide does), the
   * AZURE_* environment variables, a managed identity, or DefaultAzureCredential's chain. */
  credential: z.enum(['azure-cli', 'environment', 'managed-identity', 'default']).default('azure-cli'),
  /** Check that Key Vault's auth challenge names a Key Vault resource. Turn off only for an
   * emulator served under another host name. */
  verifyChallengeResource: z.boolean().default(true),
});

export const FileStore = z.strictObject({
  type: z.literal('file'),
  /** Directory holding one JSON file per secret, all versions inside. Relative to rekey.yaml. */
  dir: z.string().min(1),
});

export const Store = z.discriminatedUnion('type', [AzureKeyVaultStore, FileStore]);

export const SshHost = z.strictObject({
  type: z.literal('ssh'),
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().min(1),
  identityFile: z.string().min(1),
  /** known_hosts file holding the pinned host key; an unknown or changed key is refused. */
  knownHosts: z.string().min(1),
  appDir: z.string().min(1),
  dataDir: z.string().min(1),
  /** How this host reaches the others when it is the source of a promotion (paths on it). */
  sync: z
    .strictObject({
      identityFile: z.string().min(1),
      knownHosts: z.string().min(1),
      /** rsync --bwlimit for copies out of this host, e.g. "40M" (per second; K, M, G; plain = KiB). */
      bandwidthLimit: z
        .string()
        .regex(/^\d+(\.\d+)?[KMG]?$/i, 'a rate such as 40M, 500K or 1G (per second)')
        .optional(),
    })
    .optional(),
});

export const LocalHost = z.strictObject({
  type: z.literal('local'),
  appDir: z.string().min(1),
  dataDir: z.string().min(1),
});

export const Host = z.discriminatedUnion('type', [SshHost, LocalHost]);

export const Markers = z.strictObject({
  success: z.array(z.string().min(1)).min(1).default(['PUBLISH_SUCCESS']),
  failure: z.array(z.string().min(1)).default(['PUBLISH_FAILED', 'InvalidSignature', 'not authorized']),
});

const serviceCommon = {
  /** Command that publishes the module; run in the host's app dir. */
  publish: z.string().min(1).optional(),
  markers: Markers.prefault({}),
  markerTimeout: duration.default('90s'),
  logTail: z.number().int().min(1).default(200),
};

export const ComposeService = z.strictObject({
  driver: z.literal('compose'),
  composeFile: z.string().min(1).default('./.generated/docker-compose.yaml'),
  service: z.string().min(1).default('spacetimedb'),
  ...serviceCommon,
});

export const CommandService = z.strictObject({
  driver: z.literal('command'),
  start: z.string().min(1),
  stop: z.string().min(1),
  restart: z.string().min(1),
  logs: z.string().min(1),
  ...serviceCommon,
});

export const Service = z.discriminatedUnion('driver', [ComposeService, CommandService]);

export const Environment = z.strictObject({
  store: name,
  host: name,
  service: name,
});

export const Paths = z.strictObject({
  keyDir: z.string().default('./.generated/spacetimedb-keys'),
  privateKeyFile: z.string().default('id_ecdsa'),
  publicKeyFile: z.string().default('id_ecdsa.pub'),
  mountTarget: z.string().default('/etc/spacetimedb'),
  cliToml: z.string().default('./data/.config/spacetime/cli.toml'),
  tokenField: z.string().default('spacetimedb_token'),
});

export const SecretNames = z.strictObject({
  privateKey: z.string().default('spacetimedb-jwt-private-key'),
  publicKey: z.string().default('spacetimedb-jwt-public-key'),
});

export const Replica = z.strictObject({
  host: name,
  service: name,
  /** Where the service answers, for the JWKS check (`<url>/.well-known/jwks.json`). */
  url: z.url(),
});

/** A set of signing keys that services accept all at once (JWKS style), one of them active. */
export const Keyring = z.strictObject({
  store: name,
  /** The secret holding the ring (every key and which one is active), one version per change. */
  secret: z.string().regex(/^[A-Za-z0-9-]+$/),
  /** The longest a token signed by this ring can live: a rollover never waits less. */
  tokenLifetime: duration.default('90d'),
  /** Where the ring is installed on each replica's host, relative to its app dir. */
  file: z.string().default('./.generated/keyring.json'),
  replicas: z.array(Replica).min(1),
});

export const Approvals = z.strictObject({
  /** Environments whose rotation waits for an approver before the first change. */
  requiredFor: z.array(name).default([]),
  approvers: z.array(z.string().min(1)).default([]),
  timeout: duration.default('24h'),
});

export const Config = z
  .strictObject({
    paths: Paths.prefault({}),
    secretNames: SecretNames.prefault({}),
    /** Key group -> environments sharing one key pair. Every environment is in exactly one group. */
    keyGroups: z.record(name, z.array(name).min(1)),
    stores: z.record(name, Store),
    hosts: z.record(name, Host),
    services: z.record(name, Service),
    environments: z.record(name, Environment),
    keyrings: z.record(name, Keyring).default({}),
    approvals: Approvals.prefault({}),
  })
  .superRefine((cfg, ctx) => {
    const refs = [
      ['store', cfg.stores],
      ['host', cfg.hosts],
      ['service', cfg.services],
    ] as const;
    for (const [envName, env] of Object.entries(cfg.environments)) {
      for (const [field, table] of refs) {
        if (!(env[field] in table)) {
          ctx.addIssue({
            code: 'custom',
            path: ['environments', envName, field],
            message: `unknown ${field} "${env[field]}"`,
          });
        }
      }
    }
    const groupOf = new Map<string, string>();
    for (const [group, envs] of Object.entries(cfg.keyGroups)) {
      envs.forEach((envName, i) => {
        if (!(envName in cfg.environments)) {
          ctx.addIssue({
            code: 'custom',
            path: ['keyGroups', group, i],
            message: `unknown environment "${envName}"`,
          });
        }
        const other = groupOf.get(envName);
        if (other) {
          ctx.addIssue({
            code: 'custom',
            path: ['keyGroups', group, i],
            message: `environment "${envName}" is already in key group "${other}"`,
          });
        }
        groupOf.set(envName, group);
      });
    }
    for (const envName of Object.keys(cfg.environments)) {
      if (!groupOf.has(envName)) {
        ctx.addIssue({
          code: 'custom',
          path: ['environments', envName],
          message: `environment "${envName}" is in no key group`,
        });
      }
    }
    for (const [ringName, ring] of Object.entries(cfg.keyrings)) {
      if (!(ring.store in cfg.stores)) {
        ctx.addIssue({
          code: 'custom',
          path: ['keyrings', ringName, 'store'],
          message: `unknown store "${ring.store}"`,
        });
      }
      ring.replicas.forEach((r, i) => {
        for (const [field, table] of [
          ['host', cfg.hosts],
          ['service', cfg.services],
        ] as const) {
          if (!(r[field] in table)) {
            ctx.addIssue({
              code: 'custom',
              path: ['keyrings', ringName, 'replicas', i, field],
              message: `unknown ${field} "${r[field]}"`,
            });
          }
        }
      });
    }
    cfg.approvals.requiredFor.forEach((envName, i) => {
      if (!(envName in cfg.environments)) {
        ctx.addIssue({
          code: 'custom',
          path: ['approvals', 'requiredFor', i],
          message: `unknown environment "${envName}"`,
        });
      }
    });
    if (cfg.approvals.requiredFor.length > 0 && cfg.approvals.approvers.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['approvals', 'approvers'],
        message: 'approval is required for some environments but no approver is configured',
      });
    }
  });

export type Config = z.infer<typeof Config>;
export type StoreConfig = z.infer<typeof Store>;
export type HostConfig = z.infer<typeof Host>;
export type SshHostConfig = z.infer<typeof SshHost>;
export type ServiceConfig = z.infer<typeof Service>;
export type EnvironmentConfig = z.infer<typeof Environment>;
export type KeyringConfig = z.infer<typeof Keyring>;
export type PathsConfig = z.infer<typeof Paths>;
export type SecretNamesConfig = z.infer<typeof SecretNames>;
