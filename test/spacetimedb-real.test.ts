// rekey against the REAL SpacetimeDB server (spacetimedb-standalone 1.2.0, built into the test
// cache) in the guide's Docker mode on a REAL Docker engine: prod and test are SSH hosts whose
// `docker` is the real CLI with the compose plugin, talking to a dockerd this suite starts. Each
// runs the server in a container from a locally built image (it stands for
// clockworklabs/spacetime; no registry is reachable here) with the guide's layout:
// ./.generated/docker-compose.yaml, the key dir bound read-only at /etc/spacetimedb, the data dir
// bound at the image user's data path, `up -d --force-recreate`, `logs --no-color --tail=200`.
// Containers use the host network (each server on its own loopback address): the tests send
// traffic only to loopback. The publisher tokens are the ones the server itself issued (POST
// /v1/identity). Publishing a module cannot be done here (no wasm32 target), so the service's
// publish step asks the server whether the cached token is valid for its identity
// (test/infra/spacetimedb-probe.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, SignJWT } from 'jose';
import { fingerprint, generateKeyPair, parsePrivateKey } from '../activities/keys';
import { startPromotion } from '../client/runs/promote';
import { startRotation } from '../client/runs/rotate';
import { resolveOnHost } from '../hosts/types';
import { createServiceDriver } from '../services/service';
import { storeKeyPair } from '../stores/pairs';
import { rekeyAsync, type TemporalFixture, temporalFixture } from './helpers';
import { type Docker, ensureImage, startDocker } from './infra/docker';
import { testEnv } from './infra/env';
import { portOf } from './infra/ports';
import { startHosts, stopHosts } from './infra/sshd';
import { buildTopology, cliToken, dataManifest, onHost, stopServices, type Topology } from './infra/topology';
import { until } from './infra/until';

type Env = 'prod' | 'test';
const ENVS: Env[] = ['prod', 'test'];
const PORT = portOf('stdb-real');
/** The SSH port of this suite's hosts (the usual test hosts, whose docker is the shim, use 2222). */
const DOCKER_HOSTS_PORT = 2223;
const COMPOSE = 'docker compose -f ./.generated/docker-compose.yaml';

/** The guide's Docker-mode compose file (its --pg-port is left out: 1.2.0 has no PostgreSQL wire protocol). */
function composeFile(project: string, image: string, address: string): string {
  return [
    // One engine serves both "VMs" here: a project name each keeps their containers apart.
    `name: ${project}`,
    'services:',
    '  spacetimedb:',
    `    image: ${image}`,
    '    network_mode: host',
    '    command:',
    '      - start',
    `      - --listen-addr=${address}:${PORT}`,
    '      - --jwt-priv-key-path=/etc/spacetimedb/id_ecdsa',
    '      - --jwt-pub-key-path=/etc/spacetimedb/id_ecdsa.pub',
    '    volumes:',
    // Relative to this file's directory (.generated/), as compose resolves them.
    '      - "../.config/spacetimedb/data:/home/spacetime/.local/share/spacetime/data"',
    '      - "./spacetimedb-keys:/etc/spacetimedb:ro"',
    '',
  ].join('\n');
}

/** Asks a server whether `token` is valid for `identity`: 204, 400 or 401. */
async function verify(server: string, identity: string, token?: string): Promise<number> {
  const res = await fetch(`${server}/v1/identity/${identity}/verify`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  await res.arrayBuffer();
  return res.status;
}

const publicKeyOf = async (server: string) =>
  (await (await fetch(`${server}/v1/identity/public-key`)).text()).trim();
const identityOf = (token: string) => String(decodeJwt(token).hex_identity);

describe('the real SpacetimeDB server in Docker', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let docker: Docker;
  const hostsRoot = join(testEnv().root, 'docker-hosts');
  const url = {} as Record<Env, string>;
  /** The publisher tokens each server issued at the start. */
  const issued = {} as Record<Env, string>;

  before(async () => {
    fx = await temporalFixture('spacetimedb');
    docker = await startDocker(join(testEnv().root, 'docker'));
    const image = ensureImage(docker, 'spacetimedb');
    const hosts = await startHosts(
      hostsRoot,
      { PATH: '/usr/local/bin:/usr/bin:/bin', ...docker.env },
      DOCKER_HOSTS_PORT,
    );
    t = buildTopology(
      'stdb-real',
      PORT,
      {
        services: {
          spacetimedb: {
            driver: 'compose',
            composeFile: './.generated/docker-compose.yaml',
            logTail: 200,
            publish: `node ${join(__dirname, 'infra/spacetimedb-probe.js')}`,
            markerTimeout: '40s',
          },
        },
      },
      {},
      '.config/spacetimedb/data',
      hosts,
    );
    for (const e of ENVS) {
      url[e] = t.serviceUrl[e];
      const pair = generateKeyPair();
      await storeKeyPair(
        t.store(e),
        t.config.secretNames,
        { ...pair, fingerprint: fingerprint(pair.publicPem) },
        'seed',
      );
      issued[e] = await onHost(t, e, async (h) => {
        const p = t.config.paths;
        await h.writeFileAtomic(resolveOnHost(h, `${p.keyDir}/${p.privateKeyFile}`), pair.privatePem, 0o600);
        await h.writeFileAtomic(resolveOnHost(h, `${p.keyDir}/${p.publicKeyFile}`), pair.publicPem, 0o644);
        await h.writeFileAtomic(
          resolveOnHost(h, './.generated/docker-compose.yaml'),
          composeFile(`stdb-real-${e}`, image, new URL(url[e]).hostname),
          0o644,
        );
        await h.exec(`cd ${h.appDir} && rm -f .fail-publish && mkdir -p ${t.dataDir}/db`);
        await createServiceDriver(h, t.config.services.spacetimedb as never).restart();
        // The server's own identity and token, as `spacetime login` would cache it.
        const { token } = await until(`${e}'s server to issue an identity`, async () => {
          const res = await fetch(`${url[e]}/v1/identity`, { method: 'POST' });
          return res.ok ? ((await res.json()) as { identity: string; token: string }) : undefined;
        });
        await h.writeFileAtomic(resolveOnHost(h, p.cliToml), `spacetimedb_token = "${token}"\n`, 0o600);
        return token;
      });
    }
    // prod holds data worth promoting; test has its own.
    await onHost(t, 'prod', (h) =>
      h.exec(
        `cd ${h.dataDir} && for i in 1 2 3; do echo prod-$i > db/segment-$i.bin; done && touch -d '2026-01-01' db/*`,
      ),
    );
    await onHost(t, 'test', (h) => h.exec(`cd ${h.dataDir} && echo test-1 > db/segment-1.bin`));
  });
  after(async () => {
    try {
      if (t) await stopServices(t);
    } finally {
      docker?.stop();
      await stopHosts(hostsRoot);
      await fx?.close();
    }
  });

  /** The id of an environment's spacetimedb container, as its host's docker reports it. */
  const containerOf = (e: Env, all = false) =>
    onHost(t, e, async (h) =>
      (await h.exec(`${COMPOSE} ps ${all ? '-a ' : ''}-q spacetimedb`, { cwd: h.appDir })).stdout.trim(),
    );

  it('a rotation keeps the publisher identity: the re-signed token verifies (204), the old one gets 401', async () => {
    const old = await cliToken(t, 'prod');
    const before = await containerOf('prod');
    assert.match(before, /^[0-9a-f]{12,}$/, 'a container runs the server');
    const result = await fx.withWorker(t.config, async () =>
      (
        await startRotation(fx.client, t.config, { environments: ['prod'] }, { taskQueue: fx.taskQueue })
      ).result(),
    );
    assert.equal(result.environments[0]?.status, 'rotated', JSON.stringify(result.environments[0]));
    const log = await onHost(t, 'prod', (h) =>
      createServiceDriver(h, t.config.services.spacetimedb as never).logs(),
    );
    assert.match(log, /spacetimedb-standalone version: 1\.2\.0/, 'the real server, not the stand-in');
    const token = await cliToken(t, 'prod');
    assert.notEqual(token, old);
    assert.equal(identityOf(token), identityOf(issued.prod), 'the identity the server issued');
    assert.equal(await verify(url.prod, identityOf(token), token), 204);
    assert.equal(await verify(url.prod, identityOf(old), old), 401, 'the old key is gone from the server');
    const stored = (await t.store('prod').get(t.config.secretNames.publicKey))?.value ?? '';
    assert.equal(await publicKeyOf(url.prod), stored.trim(), "the server serves the store's new public key");
    const after = await containerOf('prod');
    assert.match(after, /^[0-9a-f]{12,}$/);
    assert.notEqual(after, before, 'up -d --force-recreate made a new container');
  });

  it('the key dir is mounted read-only in the container, at the paths the server was started with', async () => {
    const id = await containerOf('prod');
    const [inspected] = JSON.parse(docker.run(['inspect', id])) as {
      Mounts: { Destination: string; RW: boolean }[];
      Args: string[];
      Config: { Image: string };
    }[];
    assert.ok(inspected);
    assert.deepEqual(inspected.Mounts.map((m) => `${m.Destination} ${m.RW ? 'rw' : 'ro'}`).sort(), [
      '/etc/spacetimedb ro',
      '/home/spacetime/.local/share/spacetime/data rw',
    ]);
    assert.ok(
      inspected.Args.includes('--jwt-priv-key-path=/etc/spacetimedb/id_ecdsa'),
      inspected.Args.join(' '),
    );
    const write = await onHost(t, 'prod', (h) =>
      h.exec(`${COMPOSE} exec -T spacetimedb sh -c 'echo x > /etc/spacetimedb/id_ecdsa'`, { cwd: h.appDir }),
    );
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /Read-only file system/);
  });

  it("a bind relative to the app dir mounts another directory (compose resolves it against the file's own): verify says so", async () => {
    const file = './.generated/docker-compose.yaml';
    const guide = await onHost(
      t,
      'prod',
      async (h) => (await h.readFile(resolveOnHost(h, file)))?.toString() ?? '',
    );
    const appRelative = guide.replace('"./spacetimedb-keys:', '"./.generated/spacetimedb-keys:');
    assert.notEqual(appRelative, guide);
    await onHost(t, 'prod', (h) => h.writeFileAtomic(resolveOnHost(h, file), appRelative, 0o644));
    try {
      const cli = await rekeyAsync(['verify', '--config', t.configFile]);
      assert.equal(cli.code, 1, cli.out);
      assert.match(
        cli.stdout,
        /problem: prod: \S+docker-compose\.yaml: \/etc\/spacetimedb is mounted from \.\/\.generated\/spacetimedb-keys, which compose resolves against the file's directory: \S+\/\.generated\/\.generated\/spacetimedb-keys, not the key dir \S+\/\.generated\/spacetimedb-keys/,
      );
      // What Docker does with it: a directory that is not the key dir.
      await onHost(t, 'prod', (h) =>
        h.exec(`${COMPOSE} create --force-recreate spacetimedb`, { cwd: h.appDir }),
      );
      const [inspected] = JSON.parse(docker.run(['inspect', await containerOf('prod', true)])) as {
        Mounts: { Source: string; Destination: string }[];
      }[];
      const source = inspected?.Mounts.find((m) => m.Destination === '/etc/spacetimedb')?.Source ?? '';
      assert.match(source, /\/\.generated\/\.generated\/spacetimedb-keys$/);
    } finally {
      await onHost(t, 'prod', async (h) => {
        await h.writeFileAtomic(resolveOnHost(h, file), guide, 0o644);
        await createServiceDriver(h, t.config.services.spacetimedb as never).restart();
      });
      await until(
        "prod's server back",
        async () => (await fetch(`${url.prod}/v1/identity/public-key`)).ok || undefined,
      );
    }
  });

  it("a promotion: test's server accepts prod's publisher token re-signed with test's key", async () => {
    const prodToken = await cliToken(t, 'prod');
    await fx.withWorker(t.config, async () =>
      (
        await startPromotion(fx.client, t.config, { chain: ['prod', 'test'] }, { taskQueue: fx.taskQueue })
      ).result(),
    );
    // The server's data dir itself is promoted; each server then writes its own log into it.
    const promoted = async (e: Env) => (await dataManifest(t, e)).replace(/^.*\.\/logs\/.*\n/gm, '');
    assert.match(await promoted('prod'), /db\/segment-3\.bin/);
    assert.equal(await promoted('test'), await promoted('prod'));
    const token = await cliToken(t, 'test');
    assert.equal(identityOf(token), identityOf(issued.prod), "prod's publisher identity");
    assert.equal(await verify(url.test, identityOf(token), token), 204, "test's server accepts it");
    assert.equal(
      await verify(url.test, identityOf(prodToken), prodToken),
      401,
      "prod's own token is not test's",
    );
    assert.equal(await verify(url.prod, identityOf(prodToken), prodToken), 204, 'prod is untouched');
  });

  it('a rotation that fails its publish is rolled back: the server accepts the old token again', async () => {
    const old = await cliToken(t, 'prod');
    const oldKey = await publicKeyOf(url.prod);
    await onHost(t, 'prod', (h) => h.exec(`touch ${h.appDir}/.fail-publish`));
    const result = await fx.withWorker(t.config, async () =>
      (
        await startRotation(fx.client, t.config, { environments: ['prod'] }, { taskQueue: fx.taskQueue })
      ).result(),
    );
    assert.equal(result.environments[0]?.status, 'rolled-back');
    assert.equal(await cliToken(t, 'prod'), old);
    assert.equal(await publicKeyOf(url.prod), oldKey, 'the old key is served again');
    assert.equal(await verify(url.prod, identityOf(old), old), 204);
  });

  it('a clean-slate rotation clears the token: the next publish logs in as a NEW identity that verifies (204)', async () => {
    const old = await cliToken(t, 'prod');
    const result = await fx.withWorker(t.config, async () =>
      (
        await startRotation(
          fx.client,
          t.config,
          { environments: ['prod'], preserveToken: false },
          { taskQueue: fx.taskQueue },
        )
      ).result(),
    );
    assert.equal(result.environments[0]?.status, 'rotated', JSON.stringify(result.environments[0]));
    const token = await cliToken(t, 'prod');
    assert.notEqual(identityOf(token), identityOf(old), 'a new owner identity');
    assert.equal(await verify(url.prod, identityOf(token), token), 204, 'the new identity verifies');
    assert.equal(await verify(url.prod, identityOf(old), old), 401, 'the old token is dead with the old key');
    const stored = (await t.store('prod').get(t.config.secretNames.publicKey))?.value ?? '';
    assert.equal(await publicKeyOf(url.prod), stored.trim(), "the server serves the store's new public key");
    assert.equal(
      result.plan.environments[0]?.token?.sub,
      decodeJwt(old).sub,
      'the plan named the identity given up',
    );
  });

  it('the stand-in answers the identity endpoints as the real server does', async () => {
    // The stand-in, started on prod's key files beside prod's real server.
    const dir = join(testEnv().root, 'suites', 'stdb-parity');
    const keys = await onHost(t, 'prod', async (h) => ({
      priv: (await h.readFile(resolveOnHost(h, '.generated/spacetimedb-keys/id_ecdsa')))?.toString() ?? '',
      pub: (await h.readFile(resolveOnHost(h, '.generated/spacetimedb-keys/id_ecdsa.pub')))?.toString() ?? '',
    }));
    mkdirSync(join(dir, '.generated/spacetimedb-keys'), { recursive: true });
    writeFileSync(join(dir, '.generated/spacetimedb-keys/id_ecdsa'), keys.priv, { mode: 0o600 });
    writeFileSync(join(dir, '.generated/spacetimedb-keys/id_ecdsa.pub'), keys.pub);
    const standin = `http://127.0.0.1:${PORT + 1}`;
    const child = spawn(
      process.execPath,
      [
        join(__dirname, '../quickstart/spacetimedb-standin.js'),
        'serve',
        '--app-dir',
        dir,
        '--listen',
        `127.0.0.1:${PORT + 1}`,
      ],
      { stdio: 'ignore' },
    );
    try {
      await until('the stand-in to listen', () =>
        fetch(`${standin}/v1/identity`).then((r) => r.ok || undefined),
      );
      const { token, identity } = (await (
        await fetch(`${url.prod}/v1/identity`, { method: 'POST' })
      ).json()) as {
        token: string;
        identity: string;
      };
      const [header, payload] = token.split('.');
      const otherKey = parsePrivateKey(generateKeyPair().privatePem);
      const foreign = await new SignJWT(decodeJwt(token))
        .setProtectedHeader({ typ: 'JWT', alg: 'ES256' })
        .sign(otherKey);
      const tampered = `${header}.${payload}.${Buffer.from(randomBytes(64)).toString('base64url')}`;
      const cases: [string, string, string | undefined][] = [
        ['valid for its identity', identity, token],
        ['valid, another identity', randomBytes(32).toString('hex'), token],
        ['signed by another key', identity, foreign],
        ['altered signature', identity, tampered],
        ['not a token', identity, 'abc'],
        ['no token', identity, undefined],
        ['not a hex identity', 'zzz', token],
      ];
      const statuses = async (server: string) =>
        Promise.all(cases.map(async ([what, id, tok]) => `${what}: ${await verify(server, id, tok)}`));
      const real = await statuses(url.prod);
      assert.deepEqual(real, [
        'valid for its identity: 204',
        'valid, another identity: 400',
        'signed by another key: 401',
        'altered signature: 401',
        'not a token: 401',
        'no token: 401',
        'not a hex identity: 400',
      ]);
      assert.deepEqual(await statuses(standin), real);
      assert.equal(await publicKeyOf(standin), await publicKeyOf(url.prod), 'the same public key served');
    } finally {
      child.kill();
    }
  });
});
