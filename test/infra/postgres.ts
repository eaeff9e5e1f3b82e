// A PostgreSQL cluster of Debian's packages for one suite: initdb as the postgres user with
// scram-sha-256 and a fresh admin password, listening on loopback only. A postmaster a failed
// earlier run left in the same directory is stopped first.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PostgresCluster {
  port: number;
  /** A `postgres` store for this cluster in a rekey.yaml: the superuser, its password read from
   * the environment variable `passwordEnv` (set it to adminPassword). */
  storeConfig(passwordEnv: string): Record<string, unknown>;
  /** The `postgres` superuser's password. */
  adminPassword: string;
  /** Its Unix socket (every cluster has one, in its data directory). */
  socket: string;
  /** Runs SQL as the superuser with psql (ON_ERROR_STOP). */
  psql(sql: string): string;
  stop(): void;
}

function pgBin(tool: string): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  return join('/usr/lib/postgresql', versions[0] ?? '', 'bin', tool);
}

const asPostgres = (cmd: string, args: string[]) =>
  execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' });
const postgresUid = () => Number(execFileSync('id', ['-u', 'postgres']).toString());
const postgresGid = () => Number(execFileSync('id', ['-g', 'postgres']).toString());

/** Stops a postmaster a failed earlier run left in `pgData` (it would hold the port). */
export function stopStalePostgres(pgData: string): void {
  if (existsSync(join(pgData, 'postmaster.pid'))) {
    try {
      asPostgres(pgBin('pg_ctl'), ['-D', pgData, '-m', 'immediate', '-w', 'stop']);
    } catch {}
  }
}

/** `socketOnly`: no TCP at all, as a database inside a VM that only its own processes reach. */
export function startPostgres(
  pgData: string,
  port: number,
  opts: { socketOnly?: boolean } = {},
): PostgresCluster {
  stopStalePostgres(pgData);
  rmSync(pgData, { recursive: true, force: true });
  mkdirSync(pgData, { recursive: true });
  chownSync(pgData, postgresUid(), postgresGid());
  const stop = () => {
    if (existsSync(join(pgData, 'postmaster.pid')))
      asPostgres(pgBin('pg_ctl'), ['-D', pgData, '-m', 'fast', '-w', 'stop']);
  };
  try {
    const adminPassword = randomBytes(12).toString('hex');
    const pwFile = `${pgData}.pw`;
    writeFileSync(pwFile, adminPassword, { mode: 0o600 });
    chownSync(pwFile, postgresUid(), 0);
    asPostgres(pgBin('initdb'), [
      '-D',
      pgData,
      '-U',
      'postgres',
      '--auth=scram-sha-256',
      `--pwfile=${pwFile}`,
    ]);
    rmSync(pwFile);
    asPostgres(pgBin('pg_ctl'), [
      '-D',
      pgData,
      '-l',
      join(pgData, 'log'),
      '-o',
      `-p ${port} -c listen_addresses=${opts.socketOnly ? "''" : '127.0.0.1'} -c unix_socket_directories=${pgData}`,
      '-w',
      'start',
    ]);
    const psql = (sql: string) =>
      execFileSync(
        'psql',
        [
          '-h',
          opts.socketOnly ? pgData : '127.0.0.1',
          '-p',
          String(port),
          '-U',
          'postgres',
          '-v',
          'ON_ERROR_STOP=1',
          '-At',
          '-c',
          sql,
        ],
        { env: { ...process.env, PGPASSWORD: adminPassword }, stdio: 'pipe' },
      ).toString();
    const storeConfig = (passwordEnv: string) => ({
      type: 'postgres',
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password: { env: passwordEnv },
      ssl: false,
    });
    return { port, adminPassword, socket: join(pgData, `.s.PGSQL.${port}`), psql, stop, storeConfig };
  } catch (err) {
    stop();
    throw err;
  }
}
