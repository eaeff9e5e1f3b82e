// Login roles' passwords on a PostgreSQL server, for secret recipes. PostgreSQL keeps one
// password per role: a new one takes effect for new logins at once, while sessions already open
// live on. The password is sent as a SCRAM-SHA-256 verifier computed here (as psql's \password
// does), so the plaintext never reaches the server, its statement log or pg_stat_activity.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from 'pg';
import { FailureType, fail } from '../../shared/failures';
import type { PostgresConfig } from './config';
import { OpenedSocket, type Via } from './tunnel';

const ITERATIONS = 4096;

/** The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677). Generated
 * passwords are ASCII, which SASLprep leaves as they are. */
export function scramVerifier(password: string, salt = randomBytes(16)): string {
  const salted = pbkdf2Sync(password, salt, ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** A login that failed (before any statement): named apart from the work that follows it. */
class LoginFailed extends Error {
  constructor(readonly reason: unknown) {
    super('login failed');
  }
}

export class PostgresServer {
  constructor(
    readonly name: string,
    private readonly cfg: PostgresConfig,
    private readonly adminPassword: () => Promise<string>,
    /** Through a host (`through:`), a stream per connection; else TCP to host:port. */
    private readonly via?: Via,
  ) {}

  /** `fn` on a connection as `user`, closed after it. */
  private async session<T>(
    user: string,
    password: string,
    database: string,
    fn: (c: Client) => Promise<T>,
  ): Promise<T> {
    const { Client } = await import('pg');
    const open = async (stream?: Duplex): Promise<T> => {
      const client = new Client({
        // Through a host the stream is the connection; `host` still names the server (TLS checks
        // its certificate against it).
        ...(stream ? { stream: () => new OpenedSocket(stream) } : {}),
        host: this.cfg.host,
        port: this.cfg.port,
        database,
        user,
        password,
        ssl: this.cfg.ssl ? { rejectUnauthorized: true } : false,
        connectionTimeoutMillis: 10_000,
      });
      // A dropped connection must not crash the worker: the query in flight fails instead.
      client.on('error', () => undefined);
      try {
        await client.connect();
      } catch (err) {
        stream?.destroy();
        throw new LoginFailed(err);
      }
      try {
        return await fn(client);
      } finally {
        await client.end().catch(() => undefined);
      }
    };
    return this.via ? this.via(open) : open();
  }

  /** `fn` on a connection as the store's user (to `database`, default the store's); an error
   * names the store and `what` was being done. */
  async asAdmin<T>(fn: (c: Client) => Promise<T>, what = 'change a role', database?: string): Promise<T> {
    try {
      return await this.session(this.cfg.user, await this.adminPassword(), database ?? this.cfg.database, fn);
    } catch (err) {
      if (err instanceof LoginFailed) throw this.mapError(err.reason, `log in as ${this.cfg.user}`);
      throw this.mapError(err, what);
    }
  }

  private mapError(err: unknown, what: string): unknown {
    // Already named by the caller (a row that does not open): as it is.
    if (err instanceof ApplicationFailure) return err;
    const e = err as { code?: string; message?: string };
    // 28P01 bad password, 28000 no such role or not allowed, 42501 not permitted.
    if (e?.code === '28P01' || e?.code === '28000' || e?.code === '42501')
      return fail(FailureType.StoreUnauthorized, `store ${this.name}: ${what}: ${e.message} (${e.code})`);
    if (e?.code?.startsWith('42'))
      return fail(FailureType.BadInput, `store ${this.name}: ${what}: ${e.message} (${e.code})`);
    return new Error(`store ${this.name}: ${what}: ${e?.message ?? String(err)}`);
  }

  async roleCanLogin(role: string): Promise<boolean> {
    return this.asAdmin(async (c) => {
      const r = await c.query('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [role]);
      return r.rows[0]?.rolcanlogin === true;
    });
  }

  /** Sets `role`'s password (new logins need it from now on). */
  async setPassword(role: string, password: string): Promise<void> {
    // SASLprep (which PostgreSQL applies) leaves printable ASCII as it is; other characters it may
    // change, and the verifier would then not match.
    if (!/^[\x21-\x7e]+$/.test(password))
      throw fail(
        FailureType.BadInput,
        `store ${this.name}: role ${role}: the new password is not printable ASCII (not shown)`,
      );
    await this.asAdmin(async (c) => {
      // ALTER ROLE takes no parameters: the name and the verifier are quoted by the client library.
      await c.query(
        `ALTER ROLE ${c.escapeIdentifier(role)} PASSWORD ${c.escapeLiteral(scramVerifier(password))}`,
      );
    });
  }

  /** Logs in as `role` with a new connection; the error says why not (never the password). */
  async tryLogin(role: string, password: string, database?: string): Promise<string> {
    try {
      await this.session(role, password, database ?? this.cfg.database, (c) => c.query('SELECT 1'));
      return '';
    } catch (err) {
      const e = (err instanceof LoginFailed ? err.reason : err) as { code?: string; message?: string };
      return `login as ${role} failed: ${e.code ?? ''} ${e.message ?? ''}`.trim();
    }
  }
}
