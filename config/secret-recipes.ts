// Secret recipes (`secrets:` in rekey.yaml): how one secret is made, where it lives, who reads it,
// how a new value is proved, and what becomes of the old one. One generic workflow
// (rotateSecret) runs every recipe.
import { z } from 'zod';
import { duration, parseDuration } from './duration';
import { entryName } from './names';

/** How long a probe is tried: at most 9 minutes, inside its activity's 10-minute attempt. */
const within = duration
  .refine((d) => parseDuration(d) <= 9 * 60_000, 'at most 9m (a probe runs inside one 10-minute step)')
  .default('60s');
const name = entryName;

export const CHARACTER_CLASSES = {
  lower: 'abcdefghijklmnopqrstuvwxyz',
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  digit: '0123456789',
  symbol: '!#$%&()*+,-./:;<=>?@[]^_{|}~',
} as const;
export type CharacterClass = keyof typeof CHARACTER_CLASSES;

/** The characters a password policy leaves in each class it asks for. */
export function policyAlphabets(classes: CharacterClass[], exclude: string): Record<string, string> {
  return Object.fromEntries(
    classes.map((c) => [c, [...CHARACTER_CLASSES[c]].filter((ch) => !exclude.includes(ch)).join('')]),
  );
}

/** A credential of several parts issued together (an access key pair: accessKeyId,
 * secretAccessKey), kept as one JSON object with exactly these string fields; a location with
 * `field` holds one of them. */
const Fields = z
  .array(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'letters, digits and _'))
  .min(1)
  .optional();

const Password = z
  .strictObject({
    type: z.literal('password'),
    length: z.number().int().min(12).max(256).default(32),
    /** Every class listed appears at least once. */
    classes: z
      .array(z.enum(Object.keys(CHARACTER_CLASSES) as [CharacterClass, ...CharacterClass[]]))
      .min(1)
      .default(['lower', 'upper', 'digit']),
    /** Characters never used (say, quotes a connection string would need escaped). */
    exclude: z.string().default(''),
  })
  .superRefine((p, ctx) => {
    for (const [cls, chars] of Object.entries(policyAlphabets(p.classes, p.exclude)))
      if (!chars)
        ctx.addIssue({ code: 'custom', path: ['exclude'], message: `leaves no character of class ${cls}` });
    if (p.classes.length > p.length)
      ctx.addIssue({
        code: 'custom',
        path: ['classes'],
        message: `${p.classes.length} classes cannot all fit in ${p.length} characters`,
      });
  });

export const Generator = z.discriminatedUnion('type', [
  /** Random bytes, as hex or base64url (`openssl rand -hex 24` is bytes: 24, encoding: hex). */
  z.strictObject({
    type: z.literal('random'),
    bytes: z.number().int().min(16).max(1024).default(32),
    encoding: z.enum(['hex', 'base64url']).default('hex'),
  }),
  Password,
  /** A Fernet key: base64url of 32 random bytes (signing half, encryption half). */
  z.strictObject({ type: z.literal('fernet') }),
  /** An externally issued credential: the command prints the new value on stdout (run on the
   * environment's host, in its app dir; REKEY_ENV and REKEY_SECRET are set). */
  z.strictObject({
    type: z.literal('command'),
    run: z.string().min(1),
    /** The command prints a JSON object with these fields. */
    fields: Fields,
  }),
  /** A value a person issues elsewhere (a SaaS console, a dashboard): the run waits (`within`)
   * until `rekey secret supply` writes it to the first location (or a new version appears there
   * by other means), copies it on, and ends at a gate where an approver confirms the old value
   * revoked at `issuer`. */
  z.strictObject({
    type: z.literal('manual'),
    /** Where the value is issued and the old one revoked, as the operator finds it ("Neon
     * console, Account Settings, API Keys"). */
    issuer: z.string().min(1).max(200),
    within: duration
      .refine((d) => parseDuration(d) >= 60_000 && parseDuration(d) <= 7 * 86_400_000, 'from 1m to 7d')
      .default('24h'),
    /** `rekey secret supply` then reads a JSON object with these fields. */
    fields: Fields,
  }),
]);

/** The fields of a credential of several parts, if the generator makes (or takes) one. */
export const fieldsOf = (g: GeneratorConfig): string[] | undefined =>
  g.type === 'command' || g.type === 'manual' ? g.fields : undefined;

/** Where a secret's value is written. `{env}` in `name` is the environment's name. */
export const SecretLocation = z.strictObject({
  /** A store of `stores:` (an aws-ssm store, a Key Vault, a file store); default: the
   * environment's own store. */
  store: name.optional(),
  name: z.string().min(1),
  /** Only this field of a `fields` credential (R2_ACCESS_KEY_ID beside R2_SECRET_ACCESS_KEY);
   * not on the first location, which holds the whole credential. */
  field: z.string().min(1).optional(),
});

/** Where location `l` is in environment `env`: its store (the environment's, `envStore`, when it
 * names none) and its name with `{env}` filled in. */
export const placeIn = (l: SecretLocationConfig, env: string, envStore: string | undefined) => ({
  store: l.store ?? (envStore as string),
  name: l.name.replaceAll('{env}', env),
});

/** A check that the consumers work with the new value, tried until it passes or `within` ends. */
export const Probe = z.union([
  z.strictObject({
    /** GET this URL (`{env}` substituted); passes on this status. */
    http: z.url(),
    status: z.number().int().min(100).max(599).default(200),
    within,
  }),
  z.strictObject({
    /** Log in to this PostgreSQL server (a `postgres` store) with a new connection, as `user`
     * with the new value as its password; without `user`, as the username in the value (an
     * `alternating` recipe's {"username", "password"}). */
    postgresLogin: name,
    user: z.string().min(1).optional(),
    database: z.string().min(1).default('postgres'),
    within,
  }),
  z.strictObject({
    /** An S3 call (HeadBucket on this bucket) signed with the new access key pair: the value's
     * `accessKeyId` and `secretAccessKey` fields. `endpoint` for an S3-compatible store (R2,
     * MinIO); path-style addressing then. */
    s3: z.string().min(3),
    endpoint: z.url().optional(),
    region: z.string().min(1).default('us-east-1'),
    within,
  }),
  z.strictObject({
    /** A shell command on the environment's host, in its app dir; with `secretOnStdin` the new
     * value is its standard input (never an argument or a variable). */
    command: z.string().min(1),
    /** A regular expression its stdout must match; without one, exit 0 passes. */
    expect: z.string().optional(),
    secretOnStdin: z.boolean().default(false),
    within,
  }),
]);

/** A table name (optionally schema.table) or a column name. */
const sqlName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'letters, digits and _');

/** Rows sealed with a keyring's keys (AES-256-GCM, each value the base64 of a 12-byte nonce, the
 * ciphertext and the 16-byte tag: the app reads with the list, new key first), re-encrypted under
 * the new key once the consumers read with the new list, and swept again before the old keys are
 * dropped. */
export const Reencrypt = z.strictObject({
  /** The PostgreSQL server: a `postgres` store whose user may read and update the table. */
  store: name,
  /** Default: the store's database. */
  database: z.string().min(1).optional(),
  table: z
    .string()
    .regex(/^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$/, 'a table name, or schema.table (letters, digits and _)'),
  /** A unique column the pages are taken in the order of (the primary key). */
  key: sqlName,
  /** The sealed columns (text). */
  columns: z.array(sqlName).min(1),
  /** Rows per page: one transaction each. */
  pageSize: z.number().int().min(1).max(10_000).default(1000),
});

export const SecretRecipe = z.strictObject({
  /** What it is, for the plan and the Web UI. */
  description: z.string().optional(),
  /** The environments it is rotated in, one run each. */
  environments: z.array(name).min(1),
  generator: Generator,
  /** `replace`: write every location in order, redeploy, verify, then revoke the old value; a
   * failure puts every location back and redeploys. `alternating`: two login roles take turns
   * (see `alternate`): the one not in use gets a fresh password, then the locations name it.
   * `keyring`: the value is a key list, new key first (see `keyring`). */
  strategy: z.enum(['replace', 'alternating', 'keyring']).default('replace'),
  /** For `keyring`: the locations hold keys joined by `separator`, the newest first (a Fernet
   * MultiFernet list, Airflow's `fernet_key`). A rotation puts a fresh key in front, keeps the
   * old ones for `overlap` (a durable wait, so what they sealed still opens), then drops them. */
  keyring: z
    .strictObject({
      overlap: duration,
      separator: z.string().min(1).default(','),
      reencrypt: Reencrypt.optional(),
    })
    .optional(),
  /** For `alternating`: the PostgreSQL server (a `postgres` store) and its two login roles with
   * the same grants (members of one group role). The locations hold {"username", "password"}. */
  alternate: z
    .strictObject({ store: name, users: z.tuple([z.string().min(1), z.string().min(1)]) })
    .optional(),
  /** Written in this order; put back in the reverse order. */
  locations: z.array(SecretLocation).min(1),
  /** Services that read it, restarted together on the environment's host after the writes. */
  consumers: z.array(name).default([]),
  verify: z.array(Probe).default([]),
  /** Retires the old value once the new one is verified (at its issuer, say): a command on the
   * environment's host with the old value on stdin. */
  revoke: z.strictObject({ command: z.string().min(1) }).optional(),
  /** How often it should be rotated, for `rekey secret status`. */
  rotateEvery: duration.optional(),
});

export type SecretRecipe = z.infer<typeof SecretRecipe>;
export type SecretLocationConfig = z.infer<typeof SecretLocation>;
export type ProbeConfig = z.infer<typeof Probe>;
export type Reencrypt = z.infer<typeof Reencrypt>;
export type GeneratorConfig = z.infer<typeof Generator>;
