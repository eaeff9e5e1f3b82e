// The schema of rekey.yaml. Every type the rest of rekey uses for configuration comes from here.
import { posix } from 'node:path';
import { z } from 'zod';
import { parseSshPublicKey } from '../shared/sshsig';
import { Store } from '../stores/kinds';
import { DURATION, duration, parseDuration } from './duration';
import { Freeze } from './freezes';
import { entryName } from './names';
import { Notify } from './notify';
import { SecretRecipe } from './secret-recipes';
import { SecretSource } from './secret-source';

const name = entryName;

/** Top-level directories of a Linux system: never a data or app dir themselves (subdirectories are fine). */
export const SYSTEM_DIRS = [
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/home',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/media',
  '/mnt',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/tmp',
  '/usr',
  '/var',
] as const;

/**
 * Why an absolute, normalised POSIX path must not be a data or app dir (a promotion deletes and
 * replaces what is in a data dir), or undefined when it may be.
 */
export function unsafeDirReason(p: string): string | undefined {
  if (p === '/') return 'is the root directory';
  if ((SYSTEM_DIRS as readonly string[]).includes(p)) return 'is a system directory';
  if (/^\/home\/[^/]+$/.test(p)) return 'is a home directory';
  return undefined;
}

// Values that go into ssh/rsync command lines on a host. rsync splits its `-e` command at
// whitespace with its own quoting rules, and before 3.2.4 its remote arguments are re-split by
// the remote shell: refusing these characters is safer than quoting for every version.
// Shell metacharacters too: rsync before 3.2.4 hands `$()` or `${IFS}` in a remote path to the
// remote shell, which would run it.
const UNSAFE_CHARS = /[\s'"\\$`;|&<>(){}*?!#]/;
const UNSAFE_CHARS_MESSAGE =
  "contains whitespace, a quote, a backslash or a shell metacharacter ($ ` ; | & < > ( ) { } * ? ! #): rekey refuses these in SSH hosts' paths, users and addresses (they go into rsync and ssh command lines, where a remote shell may read them)";

function absolutePathProblems(p: string): string[] {
  if (p === '') return []; // min(1) reports it
  const problems: string[] = [];
  if (p.startsWith('~')) {
    problems.push(
      `${JSON.stringify(p)} starts with ~: write the absolute path (a remote shell and rekey's quoted commands expand ~ differently)`,
    );
  } else if (!p.startsWith('/')) {
    problems.push(`${JSON.stringify(p)} is relative: write the absolute path on the host`);
  }
  if (UNSAFE_CHARS.test(p)) problems.push(`${JSON.stringify(p)} ${UNSAFE_CHARS_MESSAGE}`);
  return problems;
}

/** `/srv/x/../data/` -> `/srv/data`: no `.`, `..`, duplicate or trailing slashes. */
export function normalizePosixPath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** An absolute file path on a host, put in a command line (e.g. rsync's `-e`). */
const hostFilePath = z
  .string()
  .min(1)
  .superRefine((p, ctx) => {
    for (const message of absolutePathProblems(p)) ctx.addIssue({ code: 'custom', message });
  })
  .transform(normalizePosixPath);

/** A directory on an SSH host: absolute, normalised, and not `/`, a system or a home directory. */
const hostDir = z
  .string()
  .min(1)
  .superRefine((p, ctx) => {
    const problems = absolutePathProblems(p);
    if (problems.length === 0) {
      const n = normalizePosixPath(p);
      const reason = unsafeDirReason(n);
      if (reason) {
        const shown = n === p ? JSON.stringify(p) : `${JSON.stringify(p)} (${n})`;
        problems.push(
          `${shown} ${reason}: use a directory of its own below it, e.g. ${n.replace(/\/$/, '')}/stdb/data`,
        );
      }
    }
    for (const message of problems) ctx.addIssue({ code: 'custom', message });
  })
  .transform(normalizePosixPath);

/** A word put in ssh/rsync command lines (user, address). */
function commandWord(what: string) {
  return z
    .string()
    .min(1)
    .superRefine((v, ctx) => {
      if (v.startsWith('-')) {
        ctx.addIssue({
          code: 'custom',
          message: `${JSON.stringify(v)} starts with "-": ssh and rsync would read it as an option, not ${what}`,
        });
      }
      if (UNSAFE_CHARS.test(v))
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} ${UNSAFE_CHARS_MESSAGE}` });
    });
}

export const SshHost = z.strictObject({
  type: z.literal('ssh'),
  address: commandWord('a host address'),
  port: z.number().int().min(1).max(65535).default(22),
  user: commandWord('a user name'),
  identityFile: z.string().min(1),
  /** known_hosts file holding the pinned host key; an unknown or changed key is refused. */
  knownHosts: z.string().min(1),
  /** Absolute path on the host (no ~), normalised; not /, a top-level system dir or /home/USER. */
  appDir: hostDir,
  /** Absolute path on the host (no ~), normalised; not /, a top-level system dir or /home/USER. */
  dataDir: hostDir,
  /** How this host reaches the others when it is the source of a promotion (absolute paths on it). */
  sync: z
    .strictObject({
      identityFile: hostFilePath,
      knownHosts: hostFilePath,
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

/** How a gate is decided: `signed` checks each decision's SSH signature against the approver's
 * configured key; `named` takes the approver's name on trust (anyone who may send Updates in the
 * Temporal namespace can decide as anyone). */
const ApprovalMode = z.enum(['signed', 'named']);

/** Per environment: stricter gates for the environments that matter. */
export const EnvironmentApprovals = z.strictObject({
  mode: ApprovalMode.optional(),
  /** Distinct approvers needed to pass a gate changing this environment. */
  required: z.number().int().min(1).default(1),
  /** The person who started the run cannot approve it (the run names its starter, signed). */
  separateFromStarter: z.boolean().default(false),
});

export const Environment = z.strictObject({
  store: name,
  host: name,
  service: name,
  /** Where the environment's SpacetimeDB answers: `rekey verify` checks that it serves the store's
   * public key (`<url>/v1/identity/public-key`). */
  url: z.url().optional(),
  approvals: EnvironmentApprovals.optional(),
});

export const Paths = z.strictObject({
  keyDir: z.string().default('./.generated/spacetimedb-keys'),
  privateKeyFile: z.string().default('id_ecdsa'),
  publicKeyFile: z.string().default('id_ecdsa.pub'),
  mountTarget: z.string().default('/etc/spacetimedb'),
  cliToml: z.string().default('./data/.config/spacetime/cli.toml'),
  tokenField: z.string().default('spacetimedb_token'),
});

/** The key pair's secret names in each environment's store; `{group}` is replaced by the key
 * group's name (many key sets in one vault, each under its own names). */
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

const kubeName = z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a Kubernetes object name');

/** A keyring installed in a Kubernetes Secret instead of on hosts: the Secret holds `key.<kid>`
 * (that key's private key, PEM) for every key of the ring and `active` (the kid to sign with),
 * edited in place; its other keys, labels and annotations stay. */
export const KeyringOnKubernetes = z.strictObject({
  /** A `kubernetes` store: the API server, the namespace, a token that may get and patch the
   * Secret and the Deployments. */
  store: name,
  secret: kubeName,
  /** Deployments that mount the Secret, restarted (as `kubectl rollout restart`) and awaited
   * (as `kubectl rollout status`) in batches of maxUnavailable after each change of the ring. */
  deployments: z.array(kubeName).min(1),
  /** At most 9m: the roll-out activity's own limit is 10m. */
  rolloutTimeout: duration
    .refine(
      (d) => !DURATION.test(d) || parseDuration(d) <= 9 * 60_000,
      'at most 9m (the roll-out step ends at 10m)',
    )
    .default('5m'),
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
  /** Where it is installed: each replica's host (the `file`), or (instead) a Kubernetes Secret. */
  replicas: z.array(Replica).default([]),
  kubernetes: KeyringOnKubernetes.optional(),
  /** Replicas restarted at once in a roll-out; each batch must list the new ring before the
   * next restarts, so the service never goes down as a whole. */
  maxUnavailable: z.number().int().min(1).default(1),
});

const sshPublicKey = z.string().superRefine((line, ctx) => {
  try {
    parseSshPublicKey(line);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

export const Approvals = z.strictObject({
  /** Environments whose rotation waits for an approver before the first change. */
  requiredFor: z.array(name).default([]),
  /** Approver -> SSH public key ("ssh-ed25519 AAAA... comment"). A plain list of names is only
   * enough where every gate is `named`. */
  approvers: z
    .union([z.array(name), z.record(name, sshPublicKey)])
    .default([])
    .transform(
      (a): Record<string, string | null> =>
        Array.isArray(a) ? Object.fromEntries(a.map((n) => [n, null])) : a,
    ),
  timeout: duration.default('24h'),
  /** The default for environments that set none (see environments.NAME.approvals.mode). */
  mode: ApprovalMode.default('signed'),
});

/** Where a codec key comes from: a file or an environment variable holding base64 of 32 bytes. */
const CodecKeySource = SecretSource;

/** The payload codec (AES-256-GCM), keys named in rekey.yaml: `active` seals new payloads, every
 * key in `keys` opens. */
export const StaticCodec = z
  .strictObject({
    active: name,
    keys: z.record(name, CodecKeySource),
  })
  .refine((c) => c.active in c.keys, { message: 'active must name one of codec.keys', path: ['active'] });

/** The payload codec's keys as a keyring in a secret store (Key Vault, or a file store): which
 * key is active and every key that still opens older payloads, one secret version per change.
 * `rekey codec-key init` makes it, `rekey codec-key rotate` adds a key and makes it active. */
export const KeyringCodec = z.strictObject({
  store: name,
  secret: z.string().regex(/^[A-Za-z0-9-]+$/, 'a Key Vault secret name: letters, digits and "-"'),
});

export const Codec = z.union([StaticCodec, KeyringCodec]);

export const Promotion = z.strictObject({
  /** A hop whose plan deletes more than this share of the destination's files (or whose source
   * is empty) is refused unless run with --allow-shrink. */
  maxDeleteShare: z.number().min(0).max(1).default(0.5),
});

/** How much of the past a rotation keeps once it has passed its gates: the backups on each host
 * (the key files and token a rollback puts back) of the last `backups` runs, and the newest
 * `versions` versions of each key secret enabled in its store (older ones are disabled, never
 * purged: Key Vault keeps them recoverable). */
export const Retention = z.strictObject({
  backups: z.number().int().min(1).default(3),
  versions: z.number().int().min(2).default(3),
});

export const Config = z.strictObject({
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
  promotion: Promotion.prefault({}),
  retention: Retention.prefault({}),
  codec: Codec.optional(),
  secrets: z.record(name, SecretRecipe).default({}),
  notify: Notify.optional(),
  /** Periods in which runs do not change the environments named (config/freezes.ts). */
  freezes: z.record(name, Freeze).default({}),
});
// The checks across sections (references, key groups, approvals): config/cross-checks.ts, added to
// this schema by config/load.ts.

export type Config = z.infer<typeof Config>;
export type { StoreConfig } from '../stores/kinds';
export type HostConfig = z.infer<typeof Host>;
export type SshHostConfig = z.infer<typeof SshHost>;
export type ServiceConfig = z.infer<typeof Service>;
export type EnvironmentConfig = z.infer<typeof Environment>;
export type KeyringConfig = z.infer<typeof Keyring>;
export type CodecConfig = z.infer<typeof Codec>;
export type PathsConfig = z.infer<typeof Paths>;
export type SecretNamesConfig = z.infer<typeof SecretNames>;
