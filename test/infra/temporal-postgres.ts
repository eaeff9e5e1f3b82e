// The compose file's Temporal topology from real binaries, without Docker: Debian's PostgreSQL
// (initdb as the postgres user, scram-sha-256, loopback), the schema job's script
// (deploy/temporal/setup-postgres.sh) with temporal-sql-tool and the schemas from Go's module
// cache, the Temporal server 1.30.1 with the compose file's dynamic config, and the namespace
// job's script. All under one directory, stopped (and removed) by `stop()`.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { type PostgresCluster, startPostgres, stopStalePostgres } from './postgres';
import { until } from './until';

const repo = resolve(__dirname, '../../..');
const cache = process.env.REKEY_CACHE ?? join(homedir(), '.cache/rekey');

export interface TemporalOnPostgres {
  address: string;
  /** The server process (its log is `${dir}/server.log`). */
  server: ChildProcess;
  stop(): Promise<void>;
}

/** Temporal's own authorization: the default JWT claim mapper and authorizer, keys from `jwksUrl`,
 * and an internal frontend for the server's own worker service (which presents no token). */
export interface ServerAuth {
  jwksUrl: string;
  /** A token with temporal-system:admin (the default claim mapper's system scope), for the health check and the namespace job. */
  adminToken: string;
}

export async function startTemporalOnPostgres(
  dir: string,
  ports: { pg: number; frontend: number },
  auth?: ServerAuth,
) {
  stopStalePostgres(join(dir, 'pg'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let server: ChildProcess | undefined;
  let pg: PostgresCluster | undefined;
  // Stops whatever was started (also after a failed start); the directory's log stays on failure.
  const stop = async (): Promise<void> => {
    const s = server;
    if (s && s.exitCode === null && s.signalCode === null)
      await new Promise<void>((res) => {
        s.once('exit', () => res());
        s.kill('SIGTERM');
      });
    pg?.stop();
  };
  try {
    pg = startPostgres(join(dir, 'pg'), ports.pg);
    const { psql } = pg;
    // A fresh password per run.
    const temporalPw = randomBytes(12).toString('hex');
    psql(`CREATE ROLE temporal LOGIN CREATEDB PASSWORD '${temporalPw}'`);

    // The schema job, as the compose file runs it.
    const gomod = execFileSync('go', ['env', 'GOMODCACHE']).toString().trim();
    execFileSync('sh', [join(repo, 'deploy/temporal/setup-postgres.sh')], {
      env: {
        ...process.env,
        PATH: `${join(cache, 'bin')}:${process.env.PATH}`,
        POSTGRES_SEEDS: '127.0.0.1',
        DB_PORT: String(ports.pg),
        POSTGRES_USER: 'temporal',
        POSTGRES_PWD: temporalPw,
        SCHEMA_DIR: join(gomod, 'go.temporal.io/server@v1.30.1/schema/postgresql/v12'),
      },
      stdio: 'pipe',
    });

    const configFile = join(dir, 'server.yaml');
    writeFileSync(configFile, serverConfig(ports, temporalPw, auth), { mode: 0o600 });
    const log = openSync(join(dir, 'server.log'), 'a');
    server = spawn(
      join(cache, 'bin/temporal-server'),
      [
        '--config-file',
        configFile,
        '--allow-no-auth',
        'start',
        ...(auth
          ? ['frontend', 'internal-frontend', 'history', 'matching', 'worker'].flatMap((s) => [
              '--service',
              s,
            ])
          : []),
      ],
      {
        stdio: ['ignore', log, log],
        cwd: dir,
      },
    );
    const address = `127.0.0.1:${ports.frontend}`;
    const temporalCli = join(cache, 'bin/temporal');
    // The operator's tools present the admin token where the server wants one.
    const cliEnv = auth ? { TEMPORAL_API_KEY: auth.adminToken, TEMPORAL_TLS: 'false' } : {};
    await until(
      'the Temporal server to answer',
      () => {
        try {
          execFileSync(temporalCli, ['operator', 'cluster', 'health', '--address', address], {
            stdio: 'pipe',
            env: { ...process.env, ...cliEnv },
          });
          return true;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 120_000, everyMs: 1000 },
    );
    // The namespace job, as the compose file runs it.
    execFileSync('sh', [join(repo, 'deploy/temporal/create-namespace.sh')], {
      env: {
        ...process.env,
        PATH: `${join(cache, 'bin')}:${process.env.PATH}`,
        TEMPORAL_ADDRESS: address,
        NAMESPACE: 'default',
        ...cliEnv,
      },
      stdio: 'pipe',
    });
    const started = server;
    return {
      address,
      server: started,
      async stop() {
        await stop();
        rmSync(dir, { recursive: true, force: true });
      },
    } satisfies TemporalOnPostgres;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The server's static config: PostgreSQL for both stores, every service on loopback. */
function serverConfig(ports: { pg: number; frontend: number }, password: string, auth?: ServerAuth): string {
  const store = (db: string, conns: number) => `
      sql:
        pluginName: postgres12
        databaseName: ${db}
        connectAddr: "127.0.0.1:${ports.pg}"
        connectProtocol: tcp
        user: temporal
        password: "${password}"
        maxConns: ${conns}
        maxIdleConns: ${conns}
        maxConnLifetime: 1h`;
  const svc = (offset: number) => `
    rpc:
      grpcPort: ${ports.frontend + offset}
      membershipPort: ${ports.frontend + 100 + offset}
      bindOnLocalHost: true`;
  return `log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
    default:${store('temporal', 20)}
    visibility:${store('temporal_visibility', 4)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1${
      auth
        ? `
  authorization:
    jwtKeyProvider:
      keySourceURIs: ["${auth.jwksUrl}"]
      refreshInterval: 1m
    permissionsClaimName: permissions
    authorizer: default
    claimMapper: default`
        : ''
    }
services:
  frontend:${svc(0)}${
    auth
      ? `
  internal-frontend:${svc(3)}`
      : ''
  }
  history:${svc(1)}
  matching:${svc(2)}
  worker:${svc(6)}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:${ports.frontend}"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: ${join(repo, 'deploy/temporal/dynamicconfig.yaml')}
  pollInterval: 10s
`;
}
