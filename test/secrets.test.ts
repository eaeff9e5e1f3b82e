// Secret recipes (rotateSecret, `replace`) against moto_server's SSM Parameter Store, a file
// store and a consumer app on the local host that reads its token from SSM when deployed: the
// new value reaches every location and the app, a failed probe or a refused write puts every
// location back, throttling is ridden out, and no value reaches the history or the output.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetParameterCommand, GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Client } from 'pg';
import { parse, stringify } from 'yaml';
import { createRotateSecretActivities } from '../activities/rotate-secret';
import type { SecretPlan } from '../activities/secret-recipe';
import { runHistory } from '../client/history';
import { startSecretRotation } from '../client/runs/secret';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { openHost } from '../hosts/connect';
import { SsmStore } from '../stores/aws-ssm/driver';
import { createSecretStore, storeRegistry } from '../stores/drivers';
import { PostgresServer } from '../stores/postgres/server';
import { progressQuery } from '../workflows/messages';
import { namedFailure } from './assertions';
import {
  assertNoSecrets,
  failureOf,
  historyText,
  rekeyAsync,
  type TemporalFixture,
  temporalFixture,
} from './helpers';
import { type AwsFaults, awsFaults } from './infra/aws-faults';
import { testEnv } from './infra/env';
import { assertMatchesSchema } from './infra/json-schemas';
import { portOf } from './infra/ports';
import { type PostgresCluster, startPostgres } from './infra/postgres';
import { buildTopology, type Topology } from './infra/topology';
import { until } from './infra/until';

process.env.AWS_ACCESS_KEY_ID ??= 'testing';
process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const CONSUMER = join(__dirname, 'infra', 'secret-consumer.js');
const PG_PORT = 15440;
/** Python with cryptography (the test venv); `args` reach it as sys.argv[1:]. */
const py = (code: string, ...args: string[]) =>
  execFileSync(testEnv().python, [
    '-c',
    `import sys\nfrom cryptography.fernet import Fernet, MultiFernet\n${code}`,
    ...args,
  ])
    .toString()
    .trim();
const FIRST = {
  webhookKey: '',
  db: 'first-db-password-abcdefghij0123',
  legacy: 'first-legacy-password-abcdef0123',
  appA: 'first-app-a-password-abcdefgh0123',
};

describe('secret recipes: rotateSecret (replace) on SSM Parameter Store', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let faults: AwsFaults;
  let config: Config;
  let configFile: string;
  let ssm: SsmStore;
  let pg: PostgresCluster;
  let vmPg: PostgresCluster;
  const values: string[] = [];
  // Parameters of this run only: moto keeps state as long as the test servers run.
  const prefix = `/secrets-${randomBytes(3).toString('hex')}`;
  const param = (what: string) => `${prefix}/local/${what}`;

  /** A command service: the consumer app in its own dir under the local host's app dir. */
  const consumer = (dir: string, port: number, what: string, extra = '') => {
    const run = (cmd: string) =>
      `mkdir -p ${dir} && cd ${dir} && SSM_ENDPOINT=${testEnv().aws.endpoint} PARAM=${param(what)} PORT=${port} ${extra} node ${CONSUMER} ${cmd}`;
    return {
      driver: 'command',
      start: run('deploy'),
      restart: run('deploy'),
      stop: run('stop'),
      logs: run('logs'),
    };
  };
  const probe = (dir: string, port: number) => `cd ${dir} && PORT=${port} node ${CONSUMER} probe`;

  before(async () => {
    FIRST.webhookKey = py('print(Fernet.generate_key().decode())');
    fx = await temporalFixture('secrets');
    faults = await awsFaults(testEnv().aws.endpoint);
    t = buildTopology('secrets', portOf('secrets'));
    // An earlier run's apps are stopped; its local store would change the version counts.
    await stopApps();
    for (const d of ['local-secrets', 'local-app']) rmSync(join(t.dir, d), { recursive: true, force: true });
    pg = startPostgres(join(t.dir, 'pg'), PG_PORT);
    process.env.REKEY_TEST_PG_ADMIN = pg.adminPassword;
    // The runbook's database inside the VM: a Unix socket only, reached through vm-prod's sshd.
    vmPg = startPostgres(join(t.dir, 'pg-vm'), PG_PORT + 1, { socketOnly: true });
    process.env.REKEY_TEST_PG_VM_ADMIN = vmPg.adminPassword;
    vmPg.psql(`CREATE ROLE app NOLOGIN;
      CREATE ROLE vm_a LOGIN IN ROLE app PASSWORD '${FIRST.appA}';
      CREATE ROLE vm_b LOGIN IN ROLE app PASSWORD 'unused-until-rotated-0123456789'`);
    // One role for `replace`, and two with the same grants (a group) taking turns for `alternating`.
    pg.psql(`CREATE TABLE notes (body text); INSERT INTO notes VALUES ('hello');
      CREATE ROLE musehub LOGIN PASSWORD '${FIRST.db}'; GRANT SELECT ON notes TO musehub;
      CREATE ROLE legacy LOGIN PASSWORD '${FIRST.legacy}';
      CREATE ROLE app NOLOGIN; GRANT SELECT ON notes TO app;
      CREATE ROLE app_a LOGIN IN ROLE app PASSWORD '${FIRST.appA}';
      CREATE ROLE app_b LOGIN IN ROLE app PASSWORD 'unused-until-rotated-0123456789';
      CREATE ROLE fresh_a LOGIN IN ROLE app PASSWORD 'set-by-the-dba-0123456789abcdef';
      CREATE ROLE fresh_b LOGIN IN ROLE app PASSWORD 'set-by-the-dba-0123456789abcdef'`);
    // From here on the server logs every statement: a password sent as text would show.
    pg.psql("ALTER SYSTEM SET log_statement = 'all'");
    pg.psql('SELECT pg_reload_conf()');
    const doc = parse(readFileSync(t.configFile, 'utf8'));
    doc.stores.ssm = {
      type: 'aws-ssm',
      region: testEnv().aws.region,
      endpoint: faults.endpoint,
      // The CloudTrail stand-in in the same proxy: it saw every SSM call the worker made.
      cloudTrailEndpoint: faults.endpoint,
    };
    doc.stores.pg = pg.storeConfig('REKEY_TEST_PG_ADMIN');
    doc.stores['pg-vm'] = {
      type: 'postgres',
      through: { host: 'vm-prod', socket: vmPg.socket },
      port: vmPg.port,
      user: 'postgres',
      password: { env: 'REKEY_TEST_PG_VM_ADMIN' },
      ssl: false,
    };
    doc.services['db-app'] = consumer('db', portOf('secrets') + 3, 'PG_PASSWORD');
    doc.services['hook-app'] = consumer('hook', portOf('secrets') + 6, 'WEBHOOK_KEYS');
    doc.services['cred-app'] = consumer('cred', portOf('secrets') + 4, 'PG_CREDENTIAL');
    // The runner token is shared by the app and the runner: both restarted together, both probed.
    doc.services['runner-app'] = consumer('runner', portOf('secrets') + 1, 'RUNNER_TOKEN');
    doc.services['runner-worker'] = consumer('runner-worker', portOf('secrets') + 5, 'RUNNER_TOKEN');
    doc.services['fussy-app'] = consumer('fussy', portOf('secrets') + 2, 'APP_TOKEN', 'FAIL_ON_NEW=1');
    // A new environment's app: not deployed until its secret has a first value (secret init).
    doc.services['new-app'] = consumer('new', portOf('secrets') + 7, 'NEW_TOKEN');
    doc.secrets = {
      'runner-token': {
        description: 'shared by the app and the runner',
        environments: ['local'],
        generator: { type: 'random', bytes: 32, encoding: 'hex' },
        locations: [{ store: 'ssm', name: `${prefix}/{env}/RUNNER_TOKEN` }, { name: 'runner-token' }],
        consumers: ['runner-app', 'runner-worker'],
        verify: [
          {
            command: probe('runner', portOf('secrets') + 1),
            secretOnStdin: true,
            expect: 'status 200',
            within: '20s',
          },
          {
            command: probe('runner-worker', portOf('secrets') + 5),
            secretOnStdin: true,
            expect: 'status 200',
            within: '20s',
          },
          { http: `http://127.0.0.1:${portOf('secrets') + 1}/health` },
        ],
        revoke: { command: 'sha256sum | cut -d" " -f1 > revoked.sha256' },
        rotateEvery: '90d',
      },
      'webhook-key': {
        environments: ['local'],
        generator: { type: 'fernet' },
        locations: [{ store: 'ssm', name: `${prefix}/{env}/WEBHOOK_KEY` }],
        verify: [{ command: 'exit 3', within: '2s' }],
      },
      'db-password': {
        environments: ['local'],
        generator: { type: 'password', length: 24, classes: ['lower', 'upper', 'digit'], exclude: 'lIO0' },
        locations: [{ name: 'db-password' }, { store: 'ssm', name: `${prefix}/{env}/DB_PASSWORD` }],
      },
      'app-token': {
        environments: ['local'],
        generator: { type: 'random', bytes: 24, encoding: 'base64url' },
        locations: [{ store: 'ssm', name: `${prefix}/{env}/APP_TOKEN` }],
        consumers: ['fussy-app'],
      },
      'slow-token': {
        environments: ['local'],
        generator: { type: 'random', bytes: 16, encoding: 'hex' },
        locations: [{ store: 'ssm', name: `${prefix}/{env}/SLOW_TOKEN` }],
        verify: [{ command: 'sleep 1; exit 1', within: '5m' }],
      },
      'webhook-keys': {
        environments: ['local'],
        strategy: 'keyring',
        generator: { type: 'fernet' },
        keyring: { overlap: '6s' },
        locations: [{ store: 'ssm', name: `${prefix}/{env}/WEBHOOK_KEYS` }],
        consumers: ['hook-app'],
        verify: [{ http: `http://127.0.0.1:${portOf('secrets') + 6}/health` }],
      },
      'pg-password': {
        environments: ['local'],
        generator: { type: 'password', length: 32 },
        locations: [
          { store: 'ssm', name: `${prefix}/{env}/PG_PASSWORD` },
          { store: 'pg', name: 'musehub' },
        ],
        consumers: ['db-app'],
        verify: [{ postgresLogin: 'pg', user: 'musehub' }],
      },
      'pg-legacy': {
        environments: ['local'],
        generator: { type: 'password', length: 32 },
        locations: [
          { store: 'ssm', name: `${prefix}/{env}/PG_LEGACY` },
          { store: 'pg', name: 'legacy' },
        ],
        verify: [{ command: 'exit 4', within: '2s' }],
      },
      // No first value yet (secret init): a token read by an app, a login of two roles taking turns,
      // and one whose probe passes only once a marker file is there.
      'new-token': {
        environments: ['local'],
        generator: { type: 'random', bytes: 32, encoding: 'hex' },
        locations: [{ store: 'ssm', name: `${prefix}/{env}/NEW_TOKEN` }, { name: 'new-token' }],
        consumers: ['new-app'],
        verify: [
          {
            command: probe('new', portOf('secrets') + 7),
            secretOnStdin: true,
            expect: 'status 200',
            within: '20s',
          },
        ],
      },
      'fresh-login': {
        environments: ['local'],
        strategy: 'alternating',
        generator: { type: 'password', length: 32 },
        alternate: { store: 'pg', users: ['fresh_a', 'fresh_b'] },
        locations: [{ store: 'ssm', name: `${prefix}/{env}/FRESH_CREDENTIAL` }],
        verify: [{ postgresLogin: 'pg' }],
      },
      'marked-token': {
        environments: ['local'],
        generator: { type: 'random', bytes: 16, encoding: 'hex' },
        locations: [{ store: 'ssm', name: `${prefix}/{env}/MARKED_TOKEN` }, { name: 'marked-token' }],
        verify: [{ command: `test -f ${join(t.dir, 'init-marker')}`, within: '2s' }],
      },
      'vm-login': {
        environments: ['local'],
        strategy: 'alternating',
        generator: { type: 'password', length: 32 },
        alternate: { store: 'pg-vm', users: ['vm_a', 'vm_b'] },
        locations: [{ store: 'ssm', name: `${prefix}/{env}/VM_CREDENTIAL` }],
        verify: [{ postgresLogin: 'pg-vm' }],
      },
      'pg-login': {
        environments: ['local'],
        strategy: 'alternating',
        generator: { type: 'password', length: 32 },
        alternate: { store: 'pg', users: ['app_a', 'app_b'] },
        locations: [{ store: 'ssm', name: `${prefix}/{env}/PG_CREDENTIAL` }],
        consumers: ['cred-app'],
        verify: [{ postgresLogin: 'pg' }],
      },
    };
    configFile = join(t.dir, 'rekey-secrets.yaml');
    writeFileSync(configFile, stringify(doc));
    config = loadConfig(configFile);
    // The first values, written by hand (rekey never creates a location).
    ssm = new SsmStore('ssm', {
      type: 'aws-ssm',
      region: testEnv().aws.region,
      endpoint: testEnv().aws.endpoint,
    });
    const file = createSecretStore('kv-local', config.stores['kv-local'] as never);
    for (const [what, value] of [
      ['RUNNER_TOKEN', 'first-runner-token-0123456789abcdef'],
      ['WEBHOOK_KEY', 'first-webhook-key-0123456789abcdefXYZ='],
      ['DB_PASSWORD', 'first-db-password-0123456789'],
      ['APP_TOKEN', 'first-app-token-0123456789abcdef'],
      ['SLOW_TOKEN', 'first-slow-token-0123456789abcdef'],
      ['WEBHOOK_KEYS', FIRST.webhookKey],
      ['PG_PASSWORD', FIRST.db],
      ['PG_LEGACY', FIRST.legacy],
      ['PG_CREDENTIAL', JSON.stringify({ username: 'app_a', password: FIRST.appA })],
      ['VM_CREDENTIAL', JSON.stringify({ username: 'vm_a', password: FIRST.appA })],
    ] as const) {
      await ssm.set(param(what), value, {});
      values.push(value);
    }
    await file.set('runner-token', 'first-runner-token-0123456789abcdef', {});
    await file.set('db-password', 'first-db-password-0123456789', {});
    // The fussy app deployed on its first value: it refuses any other at start.
    const local = await openHost('workstation', config.hosts.workstation as never);
    mkdirSync(local.appDir, { recursive: true });
    for (const [dir, port, what] of [
      ['db', portOf('secrets') + 3, 'PG_PASSWORD'],
      ['cred', portOf('secrets') + 4, 'PG_CREDENTIAL'],
      ['hook', portOf('secrets') + 6, 'WEBHOOK_KEYS'],
    ] as const) {
      const r = await local.exec(consumer(dir, port, what).start, { cwd: local.appDir });
      assert.equal(r.code, 0, r.stderr);
    }
    const deployed = await local.exec(
      consumer('fussy', portOf('secrets') + 2, 'APP_TOKEN', 'FAIL_ON_NEW=1').start,
      {
        cwd: local.appDir,
      },
    );
    assert.equal(deployed.code, 0, deployed.stderr);
  });
  after(async () => {
    await stopApps();
    pg?.stop();
    vmPg?.stop();
    await Promise.allSettled([faults?.close(), fx?.close()]);
  });

  async function stopApps() {
    const dir = join(t.dir, 'local-app');
    if (!existsSync(dir)) return;
    const local = await openHost('workstation', { type: 'local', appDir: dir, dataDir: dir });
    for (const [app, port] of [
      ['runner', portOf('secrets') + 1],
      ['fussy', portOf('secrets') + 2],
      ['db', portOf('secrets') + 3],
      ['cred', portOf('secrets') + 4],
      ['runner-worker', portOf('secrets') + 5],
      ['hook', portOf('secrets') + 6],
      ['new', portOf('secrets') + 7],
    ] as const)
      await local.exec(consumer(app, port, '').stop, { cwd: dir });
  }

  /** bin/rekey with this suite's config, on its namespace and task queue. */
  const rekey = (...args: string[]) =>
    rekeyAsync([...args, '--config', configFile], {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: testEnv().temporal.address,
        TEMPORAL_NAMESPACE: 'secrets',
        REKEY_TASK_QUEUE: fx.taskQueue,
      },
    });
  const rotate = (secret: string, dryRun = false) =>
    startSecretRotation(
      fx.client,
      config,
      { secret, environment: 'local', dryRun },
      { taskQueue: fx.taskQueue },
    );
  const file = () => createSecretStore('kv-local', config.stores['kv-local'] as never);

  it('a dry run shows the plan and changes nothing', async () => {
    await fx.withWorker(config, async () => {
      const r = await rekey('secret', 'rotate', 'runner-token', '--env', 'local', '--dry-run');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /1\. write ssm:\/secrets-\w+\/local\/RUNNER_TOKEN \(now version 1\)/);
      assert.match(r.stdout, /2\. write kv-local:runner-token/);
      assert.match(r.stdout, /restart: runner-app, runner-worker/);
      assert.match(r.stdout, /dry run: nothing was changed/);
    });
    assert.equal((await ssm.listVersions(param('RUNNER_TOKEN'))).length, 1);
  });

  it('writes every location in order, restarts the consumer, verifies, revokes the old value', async () => {
    const old = (await ssm.get(param('RUNNER_TOKEN'))).value;
    await fx.withWorker(config, async () => {
      // The app runs on the old token first.
      const h = await rotate('runner-token');
      const result = await h.result();
      assert.deepEqual(result.written.length, 2);
      const now = (await ssm.get(param('RUNNER_TOKEN'))).value;
      assert.notEqual(now, old);
      assert.match(now, /^[0-9a-f]{64}$/);
      assert.equal((await file().get('runner-token')).value, now, 'both locations hold the new value');
      for (const app of ['runner', 'runner-worker'])
        assert.equal(
          readFileSync(join(t.dir, 'local-app', app, '.env'), 'utf8'),
          `TOKEN=${now}\n`,
          `${app} was redeployed with it`,
        );
      assert.equal(
        readFileSync(join(t.dir, 'local-app', 'revoked.sha256'), 'utf8').trim(),
        sha(old),
        'the old value was revoked',
      );
      const labels = await ssm.labels(param('RUNNER_TOKEN'));
      assert.deepEqual(labels[result.written[0] as string], ['current']);
      assert.deepEqual(labels[result.plan.locations[0]?.current as string], ['previous']);
      assertNoSecrets(JSON.stringify(result) + (await historyText(fx.client, h.workflowId)), [old, now]);
      // The audit trail names the versions written and the revoke, never a value.
      const record = (await runHistory(fx.client, { since: new Date(Date.now() - 3600_000) })).find(
        (r) => r.runId === h.firstExecutionRunId,
      );
      assert.ok(record);
      assertMatchesSchema('history', { schema: 'rekey/history/1', ...record });
      assert.equal(record.secret, 'runner-token');
      assert.match(
        record.changes[0] ?? '',
        new RegExp(`:${param('RUNNER_TOKEN')}: \\S+ -> ${result.written[0]}$`),
      );
      assert.equal(record.changes.at(-1), 'old value revoked');
      assertNoSecrets(JSON.stringify(record), [old, now]);
    });
  });

  it('a probe that fails puts every location back', async () => {
    const before = (await ssm.get(param('WEBHOOK_KEY'))).value;
    await fx.withWorker(config, async () => {
      const h = await rotate('webhook-key');
      const f = await failureOf(h.result());
      assert.equal(f.type, 'VerifyFailed');
      assert.match(f.message, /exit 3 did not pass within 2s: exit 3; every location was put back$/);
      // The audit trail says why, as the run did (its failure is sealed in the history).
      const record = (await runHistory(fx.client, { since: new Date(Date.now() - 3600_000) })).find(
        (r) => r.runId === h.firstExecutionRunId,
      );
      assert.match(record?.failure ?? '', /did not pass within 2s: exit 3; every location was put back$/);
    });
    const versions = await ssm.listVersions(param('WEBHOOK_KEY'));
    assert.equal(versions.length, 3, 'the first value, the tried one, the first value again');
    assert.equal((await ssm.get(param('WEBHOOK_KEY'))).value, before);
    // The put-back version is current again; the one tried keeps no label.
    assert.deepEqual(await ssm.labels(param('WEBHOOK_KEY')), {
      '1': ['previous'],
      '2': [],
      '3': ['current'],
    });
  });

  it('rides out SSM throttling: the SDK retries, then the activity', async () => {
    // Six: more than the SDK's own five attempts, so the activity's retry takes the last one.
    faults.inject('PutParameter', 'ThrottlingException', 6);
    const injected = faults.injected;
    const old = (await ssm.get(param('DB_PASSWORD'))).value;
    await fx.withWorker(config, async () => {
      await (await rotate('db-password')).result();
    });
    assert.equal(faults.injected - injected, 6, 'six throttled writes, all retried');
    const now = (await ssm.get(param('DB_PASSWORD'))).value;
    assert.notEqual(now, old);
    assert.equal((await file().get('db-password')).value, now);
    assert.match(now, /^[A-Za-z1-9]{24}$/);
    assert.doesNotMatch(now, /[lIO0]/);
  });

  it('a refused write (AccessDenied) fails naming the store, with every location as it was', async () => {
    const before = [(await file().get('db-password')).value, (await ssm.get(param('DB_PASSWORD'))).value];
    faults.inject('PutParameter', 'AccessDeniedException', 1);
    await fx.withWorker(config, async () => {
      const h = await rotate('db-password');
      const f = await failureOf(h.result());
      // The value tried at the first location (written, then put back) is nowhere in the run.
      const versions = await file().listVersions('db-password');
      const tried = (await file().get('db-password', versions.at(-2)?.version)).value;
      assert.notEqual(tried, before[0]);
      assertNoSecrets(f.message + (await historyText(fx.client, h.workflowId)), [...before, tried]);
      assert.equal(f.type, 'StoreUnauthorized');
      assert.match(
        f.message,
        /store ssm: SSM refused the credential for \/secrets-\w+\/local\/DB_PASSWORD.*every location was put back/,
      );
      assertNoSecrets(f.message, before);
    });
    assert.deepEqual(
      [(await file().get('db-password')).value, (await ssm.get(param('DB_PASSWORD'))).value],
      before,
    );
  });

  it('a consumer that refuses the new value: put back and restarted on the old one', async () => {
    await fx.withWorker(config, async () => {
      const f = await failureOf((await rotate('app-token')).result());
      assert.equal(f.type, 'CommandFailed');
      assert.match(
        f.message,
        /restart failed .*every location was put back and the consumers restarted on the old value$/,
      );
    });
    const now = (await ssm.get(param('APP_TOKEN'))).value;
    assert.equal(now, 'first-app-token-0123456789abcdef');
    assert.equal(readFileSync(join(t.dir, 'local-app', 'fussy', '.env'), 'utf8'), `TOKEN=${now}\n`);
  });

  /** Logs in every 50 ms with the credential the app was deployed with (its .env), as a client
   * of the app would, until stopped; counts the logins that failed. */
  function loginLoop(app: string, user?: string) {
    let stop = false;
    const seen = { ok: 0, failed: 0, errors: new Set<string>() };
    const done = (async () => {
      const server = new PostgresServer('pg', config.stores.pg as never, async () => '');
      while (!stop) {
        const token =
          /^TOKEN=(.*)$/m.exec(readFileSync(join(t.dir, 'local-app', app, '.env'), 'utf8'))?.[1] ?? '';
        const login = user ? { username: user, password: token } : JSON.parse(token);
        const why = await server.tryLogin(login.username, login.password);
        if (why) {
          seen.failed++;
          seen.errors.add(why);
        } else seen.ok++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    return {
      seen,
      stop: async () => {
        stop = true;
        await done;
        return seen;
      },
    };
  }

  it('PostgreSQL, replace: the role takes the new password, the app is redeployed, a new login works', async (ctx) => {
    const loop = loginLoop('db', 'musehub');
    await fx.withWorker(config, async () => {
      await (await rotate('pg-password')).result();
    });
    const seen = await loop.stop();
    const now = (await ssm.get(param('PG_PASSWORD'))).value;
    const server = new PostgresServer('pg', config.stores.pg as never, async () => '');
    assert.equal(await server.tryLogin('musehub', now), '');
    assert.match(await server.tryLogin('musehub', FIRST.db), /password authentication failed/);
    // One password per role: between ALTER ROLE and the redeploy, the app's logins fail.
    ctx.diagnostic(`replace: ${seen.ok} logins, ${seen.failed} failed (${[...seen.errors].join('; ')})`);
    assert.ok(seen.ok > 0);
    // The control for the alternating case's "no login fails": the same loop, given the password
    // an app that was not redeployed would still hold, does report every login failing.
    const stale = join(t.dir, 'local-app', 'db-stale');
    mkdirSync(stale, { recursive: true });
    writeFileSync(join(stale, '.env'), `TOKEN=${FIRST.db}\n`, { mode: 0o600 });
    const control = loginLoop('db-stale', 'musehub');
    await until('the loop to try the stale password', async () =>
      control.seen.failed >= 3 ? true : undefined,
    );
    const stopped = await control.stop();
    assert.equal(stopped.ok, 0, 'no login with the old password succeeds');
    assert.match([...stopped.errors].join('; '), /password authentication failed/);
  });

  it("PostgreSQL, replace: a failed probe sets the role's old password back", async () => {
    await fx.withWorker(config, async () => {
      const f = await failureOf((await rotate('pg-legacy')).result());
      assert.match(f.message, /exit 4 did not pass within 2s.*every location was put back$/);
    });
    const server = new PostgresServer('pg', config.stores.pg as never, async () => '');
    assert.equal(await server.tryLogin('legacy', FIRST.legacy), '', 'the old password works again');
    assert.equal((await ssm.get(param('PG_LEGACY'))).value, FIRST.legacy);
    // The tried password and the old one put back reached the server as SCRAM verifiers only.
    const log = readFileSync(join(t.dir, 'pg', 'log'), 'utf8');
    assert.equal(log.match(/ALTER ROLE "legacy" PASSWORD 'SCRAM-SHA-256\$4096:/g)?.length, 2);
    assert.doesNotMatch(log, /PASSWORD E?'(?!SCRAM-SHA-256\$)/);
    const tried = (await ssm.get(param('PG_LEGACY'), '2')).value;
    assert.notEqual(tried, FIRST.legacy);
    assertNoSecrets(log, [FIRST.legacy, FIRST.db, tried]);
  });

  it('PostgreSQL, alternating: the other role takes a fresh password and no login fails', async () => {
    const loop = loginLoop('cred');
    await fx.withWorker(config, async () => {
      const h = await rotate('pg-login');
      const r = await h.result();
      assert.deepEqual(r.plan.alternate, { from: 'app_a', to: 'app_b' });
    });
    const seen = await loop.stop();
    assert.equal(seen.failed, 0, [...seen.errors].join('; '));
    assert.ok(seen.ok > 0);
    const cred = JSON.parse((await ssm.get(param('PG_CREDENTIAL'))).value);
    assert.equal(cred.username, 'app_b');
    const server = new PostgresServer('pg', config.stores.pg as never, async () => '');
    assert.equal(await server.tryLogin('app_b', cred.password), '');
    assert.equal(await server.tryLogin('app_a', FIRST.appA), '', 'app_a keeps its password until its turn');
    // The next rotation goes back to app_a.
    await fx.withWorker(config, async () => {
      const r = await (await rotate('pg-login')).result();
      assert.deepEqual(r.plan.alternate, { from: 'app_b', to: 'app_a' });
    });
    assert.match(await server.tryLogin('app_a', FIRST.appA), /password authentication failed/);
  });

  it('PostgreSQL inside the VM (a Unix socket only), reached through its host: alternating, no login fails', async () => {
    // Nothing listens on TCP: only the socket, which this test (on the same machine) logs in at
    // directly, reading the credential where the app would, before each login.
    await assert.rejects(
      new Promise((resolve, reject) => {
        const c = createConnection({ host: '127.0.0.1', port: vmPg.port }, () => resolve(c.end()));
        c.on('error', reject);
      }),
      /ECONNREFUSED/,
    );
    let stop = false;
    const seen = { ok: 0, failed: [] as string[] };
    const loop = (async () => {
      while (!stop) {
        const login = JSON.parse((await ssm.get(param('VM_CREDENTIAL'))).value);
        const c = new Client({
          host: join(t.dir, 'pg-vm'),
          port: vmPg.port,
          user: login.username,
          password: login.password,
          database: 'postgres',
        });
        c.on('error', () => undefined);
        try {
          await c.connect();
          await c.query('SELECT 1');
          seen.ok++;
        } catch (err) {
          seen.failed.push((err as Error).message);
        } finally {
          await c.end().catch(() => undefined);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const r = await fx.withWorker(config, async () => (await rotate('vm-login')).result());
    stop = true;
    await loop;
    assert.deepEqual(r.plan.alternate, { from: 'vm_a', to: 'vm_b' });
    const now = JSON.parse((await ssm.get(param('VM_CREDENTIAL'))).value);
    assert.equal(now.username, 'vm_b');
    values.push(now.password);
    assert.ok(seen.ok > 0);
    assert.deepEqual(seen.failed, [], 'no login failed');
    // The server's log: the connections came over the socket ([local]), none over TCP.
    const log = readFileSync(join(t.dir, 'pg-vm', 'log'), 'utf8');
    assert.doesNotMatch(log, new RegExp(now.password));
  });

  it("an alternating write gives a password only to its environment's role out of use: any other role named is refused", async () => {
    const acts = createRotateSecretActivities({ config, store: storeRegistry(config.stores) });
    const target = { secret: 'pg-login', env: 'local' };
    const plan = (await new MockActivityEnvironment().run(acts.planSecretRotation, target)) as SecretPlan;
    const server = new PostgresServer('pg', config.stores.pg as never, async () => '');
    const musehub = (await ssm.get(param('PG_PASSWORD'))).value;
    const inUse = JSON.parse((await ssm.get(param('PG_CREDENTIAL'))).value) as {
      username: string;
      password: string;
    };
    // Another app's role on the same server, and the role the app logs in as right now.
    for (const role of ['musehub', inUse.username]) {
      await assert.rejects(
        new MockActivityEnvironment().run(acts.writeSecretLocation, {
          ...target,
          runId: `forged-${role}`,
          index: 0,
          expect: plan.locations[0] as SecretPlan['locations'][number],
          alternateTo: role,
        }),
        new RegExp(`role "${role}" is not the one of app_a, app_b out of use .*; nothing was changed`),
      );
    }
    assert.equal(await server.tryLogin('musehub', musehub), '', "musehub's password is as it was");
    assert.equal(await server.tryLogin(inUse.username, inUse.password), '', 'the role in use too');
  });

  it('Fernet keyring: a new key in front, webhooks sealed under the old one open through the overlap, then it goes', async () => {
    // A webhook registration sealed under the first key, by Python's cryptography.
    const sealed = py('print(Fernet(sys.argv[1]).encrypt(b"hook-1").decode())', FIRST.webhookKey);
    const opens = (keys: string) => {
      try {
        return py(
          'print(MultiFernet([Fernet(k) for k in sys.argv[1].split(",")]).decrypt(sys.argv[2].encode()).decode())',
          keys,
          sealed,
        );
      } catch {
        return 'InvalidToken';
      }
    };
    const deployed = () =>
      /^TOKEN=(.*)$/m.exec(readFileSync(join(t.dir, 'local-app', 'hook', '.env'), 'utf8'))?.[1] ?? '';
    await fx.withWorker(config, async () => {
      const h = await rotate('webhook-keys');
      await until('the old key to be kept for the overlap', async () => {
        const p = await h.query(progressQuery);
        return p.steps.find((s) => s.name === 'overlap')?.status === 'running' || undefined;
      });
      const during = deployed().split(',');
      assert.equal(during.length, 2);
      assert.equal(during[1], FIRST.webhookKey, 'the old key stays, second');
      assert.equal(opens(deployed()), 'hook-1', 'what the old key sealed still opens');
      const r = await h.result();
      assert.equal(r.plan.keyring?.keys, 1);
      const after = deployed();
      assert.equal(after, during[0], 'only the new key is left');
      assert.equal((await ssm.get(param('WEBHOOK_KEYS'))).value, after);
      assert.equal(opens(after), 'InvalidToken', 'the old key is gone');
      assertNoSecrets(JSON.stringify(r) + (await historyText(fx.client, h.workflowId)), [
        FIRST.webhookKey,
        after,
      ]);
    });
  });

  it('one run per secret and environment, under any id; a cancel during the probes puts every location back', async () => {
    const before = (await ssm.get(param('SLOW_TOKEN'))).value;
    const input = { secret: 'slow-token', environment: 'local' };
    await fx.withWorker(config, async () => {
      // Started as the Web UI would, under an id of its own: it takes the secret's lock, which is
      // the id the CLI starts the secret's rotation with.
      const h = await fx.client.workflow.start('rotateSecret', {
        taskQueue: fx.taskQueue,
        workflowId: 'web-ui-slow-token',
        args: [input],
      });
      await until('the run to probe', async () => {
        const { raw } = await h.describe();
        return raw.pendingActivities?.some((a) => a.activityType?.name === 'probeSecret') || undefined;
      });
      await assert.rejects(
        rotate('slow-token'),
        /already running \(web-ui-slow-token\); see rekey status web-ui-slow-token/,
      );
      const other = await fx.client.workflow.start('rotateSecret', {
        taskQueue: fx.taskQueue,
        workflowId: 'another-slow-token',
        args: [input],
      });
      const busy = await failureOf(other.result());
      assert.equal(busy.type, 'EnvironmentBusy');
      assert.match(
        busy.message,
        /^secret slow-token\/local is in use by web-ui-slow-token; nothing was changed/,
      );
      await h.cancel();
      const f = await h.result().then(
        () => assert.fail('cancelled'),
        (e: unknown) => e as Error,
      );
      assert.match(String((f as { cause?: Error }).cause?.name ?? f), /CancelledFailure/);

      // Under the CLI's id the run is the lock itself (no child): another id is refused, naming it.
      const cli = await rotate('slow-token');
      await until('the CLI run to probe', async () => {
        const { raw } = await cli.describe();
        return raw.pendingActivities?.some((a) => a.activityType?.name === 'probeSecret') || undefined;
      });
      const refused = await failureOf(
        fx.client.workflow
          .start('rotateSecret', { taskQueue: fx.taskQueue, workflowId: 'web-ui-again', args: [input] })
          .then((r) => r.result()),
      );
      assert.equal(refused.type, 'EnvironmentBusy');
      assert.match(
        refused.message,
        /^secret slow-token\/local is in use by rotate-secret\/slow-token\/local;/,
      );
      assert.equal((await cli.describe()).status.name, 'RUNNING', 'the holder runs on');
      await cli.cancel();
      await assert.rejects(cli.result());
    });
    assert.equal((await ssm.get(param('SLOW_TOKEN'))).value, before);
    // Each run wrote a version and put the old value back as another.
    assert.equal((await ssm.listVersions(param('SLOW_TOKEN'))).length, 5);
  });

  it("respond: rotated now, a key list's old keys dropped at once (no overlap), an incident record written", async () => {
    const oldRunner = (await ssm.get(param('RUNNER_TOKEN'))).value;
    const oldKeys = (await ssm.get(param('WEBHOOK_KEYS'))).value.split(',');
    const out = join(t.dir, 'incidents');
    rmSync(out, { recursive: true, force: true });
    // The leak: a CI runner's key read the token (through the proxy, so CloudTrail saw it).
    faults.trail.users.AKIAEXFILTRATE0001 = 'ci-runner';
    const leaked = new SSMClient({
      region: testEnv().aws.region,
      endpoint: faults.endpoint,
      credentials: { accessKeyId: 'AKIAEXFILTRATE0001', secretAccessKey: 'not-a-real-secret-key' },
    });
    await leaked.send(new GetParameterCommand({ Name: param('RUNNER_TOKEN'), WithDecryption: true }));
    // And the whole environment's parameters at once, as an app loading its config does.
    await leaked.send(new GetParametersByPathCommand({ Path: `${prefix}/local`, WithDecryption: true }));
    leaked.destroy();
    const replaced = (await ssm.listVersions(param('RUNNER_TOKEN'))).at(-1);
    const r = await fx.withWorker(config, () =>
      rekey(
        'respond',
        '--env',
        'local',
        '--secret',
        'runner-token',
        '--secret',
        'webhook-keys',
        '--reason',
        'token printed in a CI log',
        '--yes',
        '--out',
        out,
      ),
    );
    assert.equal(r.code, 0, r.out);
    assert.match(r.stdout, /contained: every secret rotated, old values revoked/);
    const keys = (await ssm.get(param('WEBHOOK_KEYS'))).value.split(',');
    assert.equal(keys.length, 1, 'the old keys are gone without waiting out the 6s overlap');
    assert.ok(!oldKeys.includes(keys[0] as string));
    const newRunner = (await ssm.get(param('RUNNER_TOKEN'))).value;
    assert.notEqual(newRunner, oldRunner);
    assert.equal(readFileSync(join(t.dir, 'local-app', 'revoked.sha256'), 'utf8').trim(), sha(oldRunner));
    const files = readdirSync(out).sort();
    assert.equal(files.length, 2);
    assert.match(files[0] as string, /^incident-local-\d{8}T\d{6}Z\.json$/);
    const json = readFileSync(join(out, files[0] as string), 'utf8');
    const md = readFileSync(join(out, files[1] as string), 'utf8');
    const record = JSON.parse(json);
    assert.equal(record.contained, true);
    assert.equal(record.reason, 'token printed in a CI log');
    assert.deepEqual(
      record.secrets.map((e: { secret: string; status: string; revoked: boolean }) => [
        e.secret,
        e.status,
        e.revoked,
      ]),
      [
        ['runner-token', 'rotated', true],
        ['webhook-keys', 'rotated', true],
      ],
    );
    assert.match(md, new RegExp(`- runner-token: ssm:${prefix}/local/RUNNER_TOKEN \\d+ -> \\d+`));
    assert.match(md, /\| webhook-keys \| rotated \| yes \| - \| rotate-secret\/webhook-keys\/local \|/);
    // Who read it while exposed: CloudTrail's GetParameter calls naming it; the file store has no log.
    const [ssmReads, fileReads] = record.secrets[0].reads;
    assert.equal(ssmReads.place, `ssm:${prefix}/local/RUNNER_TOKEN`);
    const mallory = ssmReads.reads.filter(
      (x: { accessKeyId?: string }) => x.accessKeyId === 'AKIAEXFILTRATE0001',
    );
    assert.deepEqual(
      mallory.map((x: { event: string; who: string; from: string }) => [x.event, x.who, x.from]),
      [
        ['GetParameter', 'arn:aws:iam::123456789012:user/ci-runner', '127.0.0.1'],
        ['GetParametersByPath', 'arn:aws:iam::123456789012:user/ci-runner', '127.0.0.1'],
      ],
      JSON.stringify(ssmReads),
    );
    assert.equal(
      ssmReads.since,
      new Date(replaced?.createdOn ?? 0).toISOString(),
      'from when the replaced value was written',
    );
    assert.deepEqual(fileReads, {
      place: 'kv-local:runner-token',
      unavailable: 'file store: no access log: a file store records no reads',
    });
    assert.match(
      md,
      /## Who read them[\s\S]*- runner-token: ssm:\S+RUNNER_TOKEN, \S+ to \S+: \d+ read\(s\)[^\n]*\n[\s\S]*GetParameter by arn:aws:iam::123456789012:user\/ci-runner \(key AKIAEXFILTRATE0001\) from 127\.0\.0\.1/,
    );
    assertNoSecrets(r.out + json + md, [oldRunner, newRunner, ...oldKeys, ...keys]);
  });

  it('a schedule every 90 days; triggered, it rotates', async () => {
    const create = ['schedule', 'create', 'secret', 'db-password', '--env', 'local', '--every', '90d'];
    const unattended = await rekey(...create);
    assert.equal(unattended.code, 2);
    assert.match(unattended.stderr, /would change it unattended: pass --yes/);
    const created = await rekey(...create, '--yes');
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^rotate-secret\/db-password\/local: active\n {2}every: 90 days;/);
    assert.match(created.stdout, /next: \d{4}-\d\d-\d\dT06:00:00\.000Z/);
    const id = 'rotate-secret/db-password/local';
    try {
      const before = (await ssm.listVersions(param('DB_PASSWORD'))).length;
      await fx.withWorker(config, async () => {
        assert.equal((await rekey('schedule', 'trigger', id)).code, 0);
        const started = await until(
          'the schedule to start a run',
          async () =>
            (await fx.client.schedule.getHandle(id).describe()).info.recentActions.at(-1)?.action.workflow,
        );
        // The run ends before the worker stops: a run left open would hold its lock.
        await fx.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId).result();
        const versions = await ssm.listVersions(param('DB_PASSWORD'));
        assert.ok(versions.length > before && versions.at(-1)?.tags.rekeyRunId, 'a new version, by rekey');
      });
    } finally {
      await rekey('schedule', 'delete', id);
    }
  });

  it('a step refuses what the plan did not approve: a changed recipe, another place, a newer version', async () => {
    const a = createRotateSecretActivities({ config, store: storeRegistry(config.stores) });
    const target = { secret: 'db-password', env: 'local' };
    const plan = await a.planSecretRotation(target);
    const step = { ...target, recipe: plan.recipe, runId: 'refusals', index: 1, source: '1' };
    const second = plan.locations[1] as (typeof plan.locations)[number];
    await assert.rejects(
      a.writeSecretLocation({ ...step, recipe: 'another-recipe', expect: second }),
      namedFailure(
        'PolicyViolation',
        /its recipe in the worker's config is not the one the plan was made with/,
      ),
    );
    await assert.rejects(
      a.writeSecretLocation({ ...step, expect: { ...second, name: '/elsewhere' } }),
      namedFailure('PolicyViolation', /location 2 is ssm:.* but the plan had ssm:\/elsewhere/),
    );
    // Someone wrote a version after the plan: nothing is written over it.
    await ssm.set(second.name, 'written-by-someone-else-0123456789', {});
    await assert.rejects(
      a.writeSecretLocation({ ...step, expect: second }),
      namedFailure('PolicyViolation', /changed since the plan .*wrote nothing there now/),
    );
    // A put-back is not refused for a changed recipe: here it has nothing of this run's to undo.
    assert.equal(
      await a.restoreSecretLocation({
        ...step,
        recipe: 'another-recipe',
        expect: second,
        firstPrevious: '1',
      }),
      second.current,
    );
    await assert.rejects(
      a.restartConsumers({ secret: 'runner-token', env: 'local', recipe: plan.recipe, values: [] }),
      namedFailure('PolicyViolation', /not the one the plan was made with/),
    );
  });

  it('secret init refuses, naming them, locations that hold a value; nothing is written', async () => {
    const before = (await ssm.listVersions(param('RUNNER_TOKEN'))).length;
    const r = await fx.withWorker(config, () =>
      rekey('secret', 'init', 'runner-token', '--env', 'local', '--yes', '--wait'),
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /secret runner-token in local: ssm:\/secrets-\w+\/local\/RUNNER_TOKEN \(version \d+\), kv-local:runner-token \(version \S+\) already hold a value; secret init writes only where there is none yet \(rotate it instead: rekey secret rotate runner-token --env local\); nothing was changed/,
    );
    assert.equal((await ssm.listVersions(param('RUNNER_TOKEN'))).length, before);
  });

  it('secret init that fails half way leaves the first value where it wrote it, says so, and is run again', async () => {
    const marker = join(t.dir, 'init-marker');
    rmSync(marker, { force: true });
    const start = () =>
      startSecretRotation(
        fx.client,
        config,
        { secret: 'marked-token', environment: 'local', init: true },
        { taskQueue: fx.taskQueue },
      );
    const failure = await fx.withWorker(config, async () => failureOf((await start()).result()));
    assert.match(
      failure.message,
      /the first value was sent to ssm:\/secrets-\w+\/local\/MARKED_TOKEN, kv-local:marked-token; fix the cause and run rekey secret init marked-token --env local again/,
    );
    const first = await ssm.listVersions(param('MARKED_TOKEN'));
    assert.deepEqual(
      first.map((v) => v.tags.step),
      ['init'],
    );
    // Fixed: init again writes both anew (only an init of this secret wrote what is there).
    writeFileSync(marker, '');
    const r = await fx.withWorker(config, () =>
      rekey('secret', 'init', 'marked-token', '--env', 'local', '--yes', '--wait'),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /1\. write ssm:\S+MARKED_TOKEN \(holds version 1 from a secret init that did not finish: written anew\)/,
    );
    assert.match(r.stdout, /first value written: ssm:\S+MARKED_TOKEN 2, kv-local:marked-token /);
    const value = (await ssm.get(param('MARKED_TOKEN'))).value;
    assert.equal((await file().get('marked-token')).value, value, 'both locations hold the same first value');
    values.push(value);
  });

  it('secret init --all: every secret of the environment with no value gets its first one, its app deployed on it', async () => {
    const plan = await fx.withWorker(config, () =>
      rekey('secret', 'init', '--all', '--env', 'local', '--dry-run'),
    );
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(
      plan.stdout,
      /new-token:\n.*\nsecret new-token in local: FIRST value \(random\), strategy replace/,
    );
    assert.match(
      plan.stdout,
      /fresh-login:\n.*\nsecret fresh-login in local: FIRST value \(password\), strategy alternating\n {2}role fresh_a gets a fresh password/,
    );
    assert.doesNotMatch(plan.stdout, /runner-token|marked-token/, 'only those with no value');
    assert.deepEqual(await ssm.listVersions(param('NEW_TOKEN')), [], 'the dry run wrote nothing');

    const r = await fx.withWorker(config, () => rekey('secret', 'init', '--all', '--env', 'local', '--yes'));
    assert.equal(r.code, 0, r.stderr);
    const token = (await ssm.get(param('NEW_TOKEN'))).value;
    assert.match(token, /^[0-9a-f]{64}$/);
    assert.equal((await file().get('new-token')).value, token);
    assert.equal(
      readFileSync(join(t.dir, 'local-app', 'new', '.env'), 'utf8'),
      `TOKEN=${token}\n`,
      'the app was deployed on it',
    );
    const cred = JSON.parse((await ssm.get(param('FRESH_CREDENTIAL'))).value);
    assert.equal(cred.username, 'fresh_a');
    const server = new PostgresServer('pg', config.stores.pg as never, async () => '');
    assert.equal(await server.tryLogin('fresh_a', cred.password), '', 'the role took the first password');
    values.push(token, cred.password);
    // Nothing left to initialize; and no value in the output.
    const again = await rekey('secret', 'init', '--all', '--env', 'local', '--yes');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /every secret of local holds a value: nothing to initialize/);
    // A finished init's value is in use: init again is refused, not a silent new value.
    const twice = await fx.withWorker(config, () =>
      rekey('secret', 'init', 'new-token', '--env', 'local', '--yes', '--wait'),
    );
    assert.equal(twice.code, 2, twice.out);
    assert.match(
      twice.stderr,
      /ssm:\S+NEW_TOKEN \(version 1\), kv-local:new-token \(version \S+\) already hold a value/,
    );
    assert.equal((await ssm.get(param('NEW_TOKEN'))).value, token);
    assertNoSecrets(plan.out + r.out + again.out, values);
  });

  it('secret status: version, age, who wrote it, when it is due', async () => {
    const r = await rekeyAsync(['secret', 'status', '--config', configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /runner-token local: ssm:\/secrets-\w+\/local\/RUNNER_TOKEN version 3, changed \d{4}-\d\d-\d\d \(0d ago, rotated by rekey\); every 90d: next due/,
    );
    assert.match(
      r.stdout,
      /app-token local: ssm:\/secrets-\w+\/local\/APP_TOKEN version 3, changed \d{4}-\d\d-\d\d \(0d ago, put back by rekey after a failed rotation\)$/m,
    );
    assertNoSecrets(r.out, values);
  });
});
