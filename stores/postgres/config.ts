// A PostgreSQL server whose login roles' passwords secret recipes set (a location `{store, name:
// ROLE}`, or the two roles of an `alternating` recipe). Not a store of values: rekey never reads a
// password from it.
import { z } from 'zod';
import { accessPlace, SecretReference } from '../access-secret';
import { storeKind } from '../kind';

export const PostgresSection = z
  .strictObject({
    type: z.literal('postgres'),
    /** The server's address (as `through.host` sees it, when set). */
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).default(5432),
    /** Reached through a host of `hosts:` (its pinned SSH connection): at `host`:`port` as that
     * host sees them, or at the Unix socket `socket` there (a database that listens only inside the
     * VM, or only on a socket). */
    through: z
      .strictObject({
        host: z.string().min(1),
        /** The server's socket on that host: /var/run/postgresql/.s.PGSQL.5432 */
        socket: z.string().startsWith('/', 'an absolute path on the host').optional(),
      })
      .optional(),
    database: z.string().min(1).default('postgres'),
    /** A role that may change the rotated roles' passwords (CREATEROLE, or a superuser). */
    user: z.string().min(1),
    /** That role's password: a secret of another store, or an environment variable. */
    password: SecretReference,
    /** TLS to the server, its certificate checked against the system's CAs. */
    ssl: z.boolean().default(true),
  })
  .refine((c) => c.host !== undefined || c.through?.socket !== undefined, {
    message: 'host is required unless the server is reached at through.socket',
    path: ['host'],
  })
  .refine((c) => !(c.through?.socket && c.ssl), {
    message: 'PostgreSQL has no TLS on a Unix socket: set ssl: false with through.socket',
    path: ['ssl'],
  });
export type PostgresConfig = z.infer<typeof PostgresSection>;

export const postgres = storeKind({
  schema: PostgresSection,
  access: 'write-only',
  holdsKeyPairs: false,
  describe: () => 'postgres (write-only)',
  // A role's name is PostgreSQL's to judge (quoted as an identifier when used).
  nameProblem: () => undefined,
  ownPlaces: (storeName, cfg) => [
    ...accessPlace(cfg.password).map((place) => ({ place, what: `the admin password of ${storeName}` })),
    { place: `${storeName}\0${cfg.user}`, what: `the admin role of ${storeName}` },
  ],
});
