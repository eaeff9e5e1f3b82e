// docker-compose.temporal.yaml started for real on a Docker engine, following docs/deployment.md's "Run it
// for real" steps in a copy of this checkout: PostgreSQL, the schema job, the Temporal server
// 1.30.1, the namespace job, the Web UI and the rekey worker built from the project's Dockerfile.
// No image registry is reachable here, so an override file (docker-compose.test.yaml, written
// below) maps each upstream image to one built locally with the same role (test/infra/images: the
// same server, UI and SQL tool binaries, built from their module sources; Debian's PostgreSQL 15 for
// postgres:16.6; this machine's Node 20 for node:20-bookworm-slim), puts every service on the host
// network and moves its ports off the defaults (the tests send traffic only to loopback). A rotation
// runs through the worker container against a test host; the worker is restarted mid-run.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { parse, stringify } from 'yaml';
import { toJson } from '../client/codec-server';
import { loadConfig } from '../config/load';
import { ENCODING } from '../temporal/codec';
import { dataConverterOf } from '../temporal/codec-keys';
import { rekeyAsync } from './helpers';
import { type Docker, ensureImage, startDocker } from './infra/docker';
import { testEnv } from './infra/env';
import { type Issuer, startIssuer } from './infra/jwks';
import { portOf } from './infra/ports';
import { buildTopology, cliToken, seed, stopServices, type Topology } from './infra/topology';
import { until } from './infra/until';

const repo = resolve(__dirname, '../..');
const FRONTEND = '127.0.0.1:27233';
const PORTS = {
  FRONTEND_GRPC_PORT: '27233',
  FRONTEND_HTTP_PORT: '27243',
  FRONTEND_MEMBERSHIP_PORT: '26933',
  HISTORY_GRPC_PORT: '27234',
  HISTORY_MEMBERSHIP_PORT: '26934',
  MATCHING_GRPC_PORT: '27235',
  MATCHING_MEMBERSHIP_PORT: '26935',
  WORKER_GRPC_PORT: '27239',
  WORKER_MEMBERSHIP_PORT: '26939',
  INTERNAL_FRONTEND_GRPC_PORT: '27236',
  INTERNAL_FRONTEND_HTTP_PORT: '27246',
  INTERNAL_FRONTEND_MEMBERSHIP_PORT: '26936',
};
const PG_PORT = '25432';
const UI_PORT = '28080';
const CODEC_PORT = '28888';
const ISSUER_PORT = 27490;

/** The override: local images for the upstream ones, the host network, ports off the defaults. */
function override(tags: Record<string, string>): string {
  const host = { network_mode: 'host' };
  const temporalAt = { TEMPORAL_ADDRESS: FRONTEND };
  return stringify({
    services: {
      postgresql: {
        image: tags.postgres,
        ...host,
        command: ['postgres', '-p', PG_PORT, '-c', 'listen_addresses=127.0.0.1'],
        healthcheck: { test: ['CMD-SHELL', `pg_isready -h 127.0.0.1 -p ${PG_PORT} -U "$$POSTGRES_USER"`] },
      },
      'temporal-schema': {
        image: tags['temporal-admin-tools'],
        ...host,
        environment: { POSTGRES_SEEDS: '127.0.0.1', DB_PORT: PG_PORT },
      },
      temporal: {
        image: tags['temporal-server'],
        ...host,
        ports: [],
        environment: { POSTGRES_SEEDS: '127.0.0.1', DB_PORT: PG_PORT, BIND_ON_IP: '127.0.0.1', ...PORTS },
        healthcheck: { test: ['CMD', 'nc', '-z', '127.0.0.1', PORTS.FRONTEND_GRPC_PORT] },
      },
      'temporal-namespace': { image: tags['temporal-admin-tools'], ...host, environment: temporalAt },
      'temporal-ui': {
        image: tags['temporal-ui'],
        ...host,
        ports: [],
        environment: {
          ...temporalAt,
          TEMPORAL_UI_PORT: UI_PORT,
          TEMPORAL_CODEC_ENDPOINT: `http://localhost:${CODEC_PORT}`,
        },
      },
      'rekey-worker': {
        build: { network: 'host' },
        ...host,
        environment: temporalAt,
        // The file store of this test's rekey.yaml (a VM's worker would use Key Vault).
        volumes: ['./deploy/secrets:/etc/rekey/deploy/secrets'],
      },
      'rekey-codec': {
        ...host,
        ports: [],
        command: [
          'codec-server',
          '--insecure-no-auth',
          '--host',
          '127.0.0.1',
          '--port',
          CODEC_PORT,
          '--origin',
          `http://localhost:${UI_PORT}`,
          '--config',
          '/etc/rekey/rekey.yaml',
        ],
      },
    },
  }).replace(/ports: \[\]/g, 'ports: !reset []');
}

describe('docker-compose.temporal.yaml on a real Docker engine', () => {
  let docker: Docker;
  let t: Topology;
  let client: Client | undefined;
  let issuer: Issuer | undefined;
  let operatorToken = '';
  const root = join(testEnv().root, 'compose-deployment');
  const dir = join(root, 'rekey');
  const compose = (...args: string[]) =>
    docker.run(['compose', '-f', 'docker-compose.temporal.yaml', '-f', 'docker-compose.test.yaml', ...args], {
      cwd: dir,
    });
  const ps = () =>
    compose('ps', '-a', '--format', 'json')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { Service: string; State: string; Health: string; ExitCode: number });

  before(async () => {
    docker = await startDocker(join(root, 'engine')); // (stops an engine a killed run left first)
    rmSync(dir, { recursive: true, force: true });
    const tags: Record<string, string> = {};
    for (const name of ['postgres', 'temporal-server', 'temporal-admin-tools', 'temporal-ui', 'node'])
      tags[name] = ensureImage(docker, name);

    // A copy of this checkout: what a user clones (the build context is the checkout itself).
    for (const f of execFileSync('git', ['ls-files'], { cwd: repo }).toString().split('\n')) {
      if (!f || /^(test|bench)\//.test(f)) continue;
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      copyFileSync(join(repo, f), join(dir, f));
    }
    chmodSync(join(dir, 'bin/rekey'), 0o755);

    // A test host with a service to rotate, seeded as an operator would have it.
    t = buildTopology('compose-deploy', portOf('compose-deploy'), {
      keyGroups: { prod: ['prod'] },
      stores: { files: { type: 'file', dir: join(dir, 'deploy/secrets') } },
      environments: { prod: { store: 'files', host: 'vm-prod', service: 'spacetimedb' } },
    });
    await seed(t);
    const vm = t.config.hosts['vm-prod'] as {
      address: string;
      port: number;
      user: string;
      appDir: string;
      dataDir: string;
    };
    const composeLine = (what: string) =>
      `docker compose -f ./.generated/docker-compose.yaml ${what} spacetimedb`;

    // The identity provider (a stand-in on loopback): its JWKS for the server, tokens for the
    // worker, the namespace job and the CLI, and an OIDC login for the Web UI.
    const uiSecret = randomBytes(12).toString('hex');
    issuer = await startIssuer(ISSUER_PORT, {
      clientId: 'temporal-ui',
      clientSecret: uiSecret,
      subject: 'alice',
      permissions: ['default:write'],
    });
    operatorToken = await issuer.token(['default:write'], 'alice');
    const envFile = (name: string, values: Record<string, string>) => {
      let text = readFileSync(join(dir, `deploy/${name}.env.example`), 'utf8');
      for (const [k, v] of Object.entries(values)) {
        assert.match(text, new RegExp(`^${k}=`, 'm'), `deploy/${name}.env.example names ${k}`);
        text = text.replace(new RegExp(`^${k}=.*$`, 'm'), `${k}=${v}`);
      }
      writeFileSync(join(dir, `deploy/${name}.env`), text, { mode: 0o600 });
    };

    // The deployment guide's steps, in order.
    const pw = randomBytes(12).toString('hex');
    envFile('temporal', {
      POSTGRES_PASSWORD: pw,
      POSTGRES_PWD: pw,
      TEMPORAL_JWT_KEY_SOURCE1: issuer.jwksUrl,
    });
    envFile('worker', { TEMPORAL_API_KEY: await issuer.token(['default:write'], 'rekey-worker') });
    envFile('temporal-admin', {
      TEMPORAL_API_KEY: await issuer.token(['temporal-system:admin'], 'temporal-admin'),
    });
    envFile('ui', {
      TEMPORAL_AUTH_PROVIDER_URL: issuer.url,
      TEMPORAL_AUTH_CLIENT_ID: 'temporal-ui',
      TEMPORAL_AUTH_CLIENT_SECRET: uiSecret,
      TEMPORAL_AUTH_CALLBACK_URL: `http://localhost:${UI_PORT}/auth/sso/callback`,
    });
    mkdirSync(join(dir, 'deploy/ssh'), { recursive: true });
    mkdirSync(join(dir, 'deploy/codec'), { recursive: true });
    const env = testEnv();
    copyFileSync(env.hosts.prod.identityFile, join(dir, 'deploy/ssh/id_ed25519'));
    copyFileSync(env.hosts.prod.knownHosts, join(dir, 'deploy/ssh/known_hosts'));
    execFileSync('sh', ['-c', '(umask 077 && openssl rand -base64 32 > deploy/codec/k1.key)'], { cwd: dir });
    // The internode CA and certificate: the deployment guide's own lines, run as written.
    const readme = readFileSync(join(dir, 'docs/deployment.md'), 'utf8');
    const tls = readme.slice(
      readme.indexOf('mkdir -p deploy/temporal/tls'),
      readme.indexOf('\n', readme.indexOf('rm ca.key internode.csr')),
    );
    assert.ok(tls.includes('openssl x509 -req'), 'the deployment guide makes the internode certificate');
    execFileSync('bash', ['-euc', tls], { cwd: dir, stdio: 'pipe' });
    execFileSync('chown', ['-R', '1000', 'deploy/temporal/tls'], { cwd: dir });
    // cp rekey.compose.example.yaml rekey.yaml, then what an operator changes: the VM's address
    // and user (the test host), the store (Key Vault is out of reach here: a file store the
    // override mounts), one environment, no approvers (theirs are placeholders). The SSH and codec
    // paths stay the example's: they are what compose mounts.
    const doc = parse(readFileSync(join(dir, 'rekey.compose.example.yaml'), 'utf8'));
    const { sync: _, ...example } = doc.hosts.azvmprod;
    doc.secretNames = t.config.secretNames;
    doc.keyGroups = { prod: ['prod'] };
    doc.stores = { files: { type: 'file', dir: './deploy/secrets' } };
    doc.hosts = {
      azvmprod: {
        ...example,
        address: vm.address,
        port: vm.port,
        user: vm.user,
        appDir: vm.appDir,
        dataDir: vm.dataDir,
      },
    };
    doc.services.spacetimedb = {
      driver: 'command',
      start: composeLine('up -d'),
      stop: composeLine('stop'),
      // Slow on purpose: the worker container is restarted while this step runs.
      // (stop, then start: the shim keeps the log, so rekey tells this start's markers apart.)
      restart: `sleep 8 && ${composeLine('stop')} && ${composeLine('up -d')}`,
      logs: composeLine('logs --no-color --tail=200'),
      markerTimeout: '30s',
    };
    doc.environments = { prod: { store: 'files', host: 'azvmprod', service: 'spacetimedb' } };
    delete doc.approvals;
    writeFileSync(join(dir, 'rekey.yaml'), stringify(doc));
    execFileSync('chown', ['-R', '10001', 'deploy/ssh', 'deploy/codec', 'deploy/secrets'], { cwd: dir });
    writeFileSync(join(dir, 'docker-compose.test.yaml'), override(tags));

    try {
      compose('--profile', 'codec', 'up', '-d', '--build');
    } catch (err) {
      // What went wrong, from the services themselves.
      throw new Error(
        `${(err as Error).message}\n${compose('ps', '-a')}\n${compose('logs', '--no-color', '--tail=20')}`,
      );
    }
    await until(
      'the stack to be up (schema and namespace jobs done, server healthy, worker running)',
      () => {
        const s = Object.fromEntries(ps().map((c) => [c.Service, c]));
        for (const job of ['temporal-schema', 'temporal-namespace'])
          if (s[job]?.State === 'exited' && s[job]?.ExitCode !== 0)
            throw new Error(`${job} failed: ${compose('logs', '--no-color', job)}`);
        const up =
          s['temporal-namespace']?.State === 'exited' &&
          s.temporal?.Health === 'healthy' &&
          s['rekey-worker']?.State === 'running' &&
          s['rekey-codec']?.State === 'running' &&
          s['temporal-ui']?.State === 'running';
        return up || undefined;
      },
      { timeoutMs: 300_000, everyMs: 2000 },
    );
    // The CLI's view: the same rekey.yaml, so the same codec key.
    client = new Client({
      // TLS off: loopback only (with an API key the SDK would turn it on).
      connection: await Connection.connect({ address: FRONTEND, apiKey: operatorToken, tls: false }),
      namespace: 'default',
      ...(await dataConverterOf(loadConfig(join(dir, 'rekey.yaml')))),
    });
    const c = client;
    await until(
      "the worker container's worker to poll task queue rekey",
      async () => {
        const res = await c.workflowService.describeTaskQueue({
          namespace: 'default',
          taskQueue: { name: 'rekey' },
          taskQueueType: 1, // workflow tasks
        });
        return (res.pollers ?? []).length > 0 || undefined;
      },
      { timeoutMs: 60_000, everyMs: 500 },
    );
  });

  after(async () => {
    await client?.connection.close();
    issuer?.stop();
    if (t) await stopServices(t);
    docker?.stop();
  });

  it('the worker runs as the image user rekey (uid 10001), not root, with fewer malloc arenas', () => {
    assert.equal(compose('exec', '-T', 'rekey-worker', 'id', '-u').trim(), '10001');
    // The worker process itself (PID 1, the image's entrypoint), as docs/deployment.md says.
    const environ = compose('exec', '-T', 'rekey-worker', 'cat', '/proc/1/environ').split('\0');
    assert.ok(environ.includes('MALLOC_ARENA_MAX=2'), 'MALLOC_ARENA_MAX=2 in the worker process');
  });

  it('a rotation runs through the worker container and resumes after the worker container restarts mid-run', async () => {
    const old = await cliToken(t, 'prod');
    const cliEnv = {
      ...process.env,
      TEMPORAL_ADDRESS: FRONTEND,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_API_KEY: operatorToken,
      TEMPORAL_TLS: 'false', // loopback only
    };
    const started = await rekeyAsync(
      ['rotate', '--env', 'prod', '--yes', '--config', join(dir, 'rekey.yaml')],
      {
        env: cliEnv,
      },
    );
    assert.equal(started.code, 0, started.out);
    const handle = client?.workflow.getHandle('rotate-jwt/prod');
    assert.ok(handle);
    // Mid-run: the slow restart step is running on the worker.
    await until(
      'the restart step to run',
      async () => {
        const d = await handle.describe();
        const pending = (d.raw.pendingActivities ?? []).map((a) => a.activityType?.name);
        return pending.includes('restartAndVerify') || undefined;
      },
      { timeoutMs: 60_000, everyMs: 200 },
    );
    const startedAt = () =>
      (
        JSON.parse(docker.run(['inspect', compose('ps', '-q', 'rekey-worker').trim()])) as {
          State: { StartedAt: string };
        }[]
      )[0]?.State.StartedAt;
    const before = startedAt();
    compose('restart', 'rekey-worker');
    const restarted = startedAt() ?? '';
    assert.notEqual(restarted, before, 'a new worker process');
    const result = (await handle.result()) as { environments: { status: string }[] };
    // The old worker finished the step in flight (SIGTERM lets it drain) and is gone: the run's
    // later workflow tasks were done by the new one.
    const after = (await handle.fetchHistory()).events?.filter(
      (e) =>
        e.workflowTaskCompletedEventAttributes &&
        Number(e.eventTime?.seconds ?? 0) * 1000 > Date.parse(restarted),
    );
    assert.ok((after ?? []).length > 0, 'workflow tasks completed after the restart, by the new worker');
    assert.equal(result.environments[0]?.status, 'rotated', JSON.stringify(result));
    assert.notEqual(await cliToken(t, 'prod'), old, 'the token was re-signed');
    // The worker sealed the run's payloads with the example's codec key; the codec server opens them.
    const { events } = await handle.fetchHistory();
    const input = events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0] as Payload;
    assert.equal(new TextDecoder().decode(input.metadata?.encoding ?? new Uint8Array()), ENCODING);
    const opened = await fetch(`http://localhost:${CODEC_PORT}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default' },
      body: JSON.stringify({ payloads: [toJson(input)] }),
    });
    assert.equal(opened.status, 200);
    const [plain] = ((await opened.json()) as { payloads: { data: string }[] }).payloads;
    assert.match(Buffer.from(plain?.data ?? '', 'base64').toString(), /"environments":\["prod"\]/);
    const status = await rekeyAsync(['status', 'rotate-jwt/prod', '--config', join(dir, 'rekey.yaml')], {
      env: cliEnv,
    });
    assert.match(status.stdout, /completed/i, status.out);
  });

  /** Asks a server for the default namespace with these connection options: 'described' or why not. */
  const describeAt = (options: ConnectionOptions) =>
    Connection.connect({ tls: false, connectTimeout: '5s', ...options })
      .then(async (connection) => {
        try {
          await connection.workflowService.describeNamespace({ namespace: 'default' });
          return 'described';
        } catch (err) {
          return (err as Error).message;
        } finally {
          await connection.close();
        }
      })
      .catch((err: Error) => err.message);

  it('the frontend asks who is calling: no token, or a token for another namespace, is refused', async () => {
    assert.match(await describeAt({ address: FRONTEND }), /Request unauthorized/);
    assert.match(
      await describeAt({ address: FRONTEND, apiKey: await issuer?.token(['other:write']) }),
      /Request unauthorized/,
    );
    assert.equal(await describeAt({ address: FRONTEND, apiKey: operatorToken }), 'described');
  });

  it("the internal frontend takes no token, so no caller without the server's client certificate", async () => {
    const address = `127.0.0.1:${PORTS.INTERNAL_FRONTEND_GRPC_PORT}`;
    const tlsFile = (f: string) => readFileSync(join(dir, 'deploy/temporal/tls', f));
    const serverOnly = {
      serverNameOverride: 'temporal-internode',
      serverRootCACertificate: tlsFile('ca.pem'),
    };
    assert.notEqual(await describeAt({ address }), 'described', 'plain gRPC');
    assert.notEqual(
      await describeAt({ address, tls: serverOnly }),
      'described',
      'TLS without a client certificate',
    );
    // The same port with the server's own certificate answers: it is the internal frontend, gated by mTLS.
    const clientCertPair = { crt: tlsFile('internode.pem'), key: tlsFile('internode.key') };
    assert.equal(await describeAt({ address, tls: { ...serverOnly, clientCertPair } }), 'described');
    // The server's own worker service, which runs schedules, still reaches it: a triggered
    // schedule starts its workflow.
    const c = client as Client;
    const schedule = await c.schedule.create({
      scheduleId: 'compose-internode-check',
      spec: { intervals: [{ every: '365d' }] },
      action: { type: 'startWorkflow', workflowType: 'noSuchWorkflow', taskQueue: 'nobody', args: [] },
    });
    try {
      await schedule.trigger();
      await until(
        'the schedule to start its workflow',
        async () => ((await schedule.describe()).info.recentActions.length > 0 ? true : undefined),
        { timeoutMs: 60_000, everyMs: 500 },
      );
    } finally {
      await schedule.delete();
    }
  });

  it('the Web UI signs in through OIDC and then reads the runs; without signing in it reads nothing', async () => {
    const ui = `http://localhost:${UI_PORT}`;
    const runs = (authorization?: string) =>
      fetch(`${ui}/api/v1/namespaces/default/workflows?query=`, {
        headers: authorization ? { authorization } : {},
      });
    assert.equal((await runs()).status, 401, 'no token: the UI server refuses');
    // The browser's path: /auth/sso -> the provider -> the callback, cookies carried along.
    const jar = new Map<string, string>();
    const step = async (url: string) => {
      const res = await fetch(url, {
        redirect: 'manual',
        headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      for (const c of res.headers.getSetCookie()) {
        const [pair = ''] = c.split(';');
        const at = pair.indexOf('=');
        jar.set(pair.slice(0, at), pair.slice(at + 1));
      }
      return res;
    };
    const toProvider = await step(`${ui}/auth/sso`);
    assert.equal(toProvider.status, 302);
    const authorize = toProvider.headers.get('location') ?? '';
    assert.ok(authorize.startsWith(`${issuer?.url}/authorize?`), authorize);
    const back = await step(authorize);
    const callback = back.headers.get('location') ?? '';
    assert.ok(callback.startsWith(`${ui}/auth/sso/callback?`), callback);
    const signedIn = await step(callback);
    assert.equal(signedIn.status, 303, await signedIn.text());
    // The UI's page reads the user cookies and sends the access token with each API call.
    const user = JSON.parse(
      Buffer.from(
        [...jar]
          .filter(([k]) => /^user\d+$/.test(k))
          .sort(([a], [b]) => Number(a.slice(4)) - Number(b.slice(4)))
          .map(([, v]) => v)
          .join(''),
        'base64',
      ).toString(),
    ) as { AccessToken: string; Email: string };
    assert.equal(user.Email, 'alice@example.com');
    const listed = await runs(`Bearer ${user.AccessToken}`);
    assert.equal(listed.status, 200);
    assert.match(await listed.text(), /rotate-jwt\/prod/);
    const other = await runs(`Bearer ${await issuer?.token(['other:write'], 'mallory')}`);
    assert.equal(other.status, 403, 'a token without write on default reads nothing');
  });

  it('rekey audit image on images this engine built: the rekey image is clean, one with a token in a layer and in ENV is not', async () => {
    // The parameter-store runbook's step 5, after every build: docker save, then the audit.
    const saved = join(root, 'rekey-image.tar');
    docker.run(['save', '-o', saved, 'rekey:local']);
    const clean = await rekeyAsync(['audit', 'image', saved]);
    assert.equal(clean.code, 0, clean.out);
    assert.match(clean.stdout, /no secret found/);

    // Tokens made here and now: a build argument that lands in a RUN line, and an ENV value.
    const base62 = (n: number) =>
      Array.from(
        randomBytes(n),
        (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'[b % 62],
      ).join('');
    const npmToken = `npm_${base62(36)}`;
    const githubToken = `ghp_${base62(36)}`;
    const ctx = join(root, 'leaky');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(
      join(ctx, 'Dockerfile'),
      [
        'FROM rekey-test/debian:bookworm',
        'ARG NPM_TOKEN',
        'RUN echo "//registry.npmjs.org/:_authToken=$NPM_TOKEN" > /root/.npmrc',
        `ENV GITHUB_TOKEN=${githubToken}`,
        '',
      ].join('\n'),
    );
    docker.run([
      'build',
      '--network',
      'host',
      '--build-arg',
      `NPM_TOKEN=${npmToken}`,
      '-t',
      'rekey-test/leaky:1',
      ctx,
    ]);
    const leakyTar = join(root, 'leaky.tar');
    docker.run(['save', '-o', leakyTar, 'rekey-test/leaky:1']);
    const leaky = await rekeyAsync(['audit', 'image', leakyTar, '--json']);
    for (const tar of [saved, leakyTar]) rmSync(tar, { force: true }); // hundreds of MB
    assert.equal(leaky.code, 1, leaky.out);
    assert.ok(!leaky.out.includes(npmToken) && !leaky.out.includes(githubToken), 'no value printed');
    const where = JSON.stringify(JSON.parse(leaky.stdout));
    assert.match(where, /npm/i, 'the build argument in the RUN line');
    assert.match(where, /GITHUB_TOKEN/, 'the Env entry');
  });

  it('docker compose --profile codec down leaves no container running', () => {
    // Without the profile, down leaves the codec server running (seen here): docs/deployment.md says so.
    compose('--profile', 'codec', 'down');
    assert.equal(docker.run(['ps', '-q']).trim(), '');
  });
});
