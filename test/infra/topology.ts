// The guide's topology on the test servers: prod, test and dev on the three sshd hosts with a
// Key Vault (stand-in) each, local on this machine with a file store. Each test suite gets its own
// app dirs, secret names and service port, so suites can run side by side.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { stringify } from 'yaml';
import { fingerprint, generateKeyPair, type KeyPairPem, parsePrivateKey } from '../../activities/keys';
import { readTokenFromToml } from '../../activities/tokens';
import { loadConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import { openHost } from '../../hosts/connect';
import { shellQuote } from '../../hosts/shell';
import { type Host, resolveOnHost } from '../../hosts/types';
import { createServiceDriver } from '../../services/service';
import { createSecretStore } from '../../stores/drivers';
import { storeKeyPair } from '../../stores/pairs';
import type { SecretStore } from '../../stores/types';
import { HOST_NAMES, type HostName, type TestEnv, type TestHost, testEnv } from './env';

export const ENVS = ['prod', 'test', 'dev', 'local'] as const;
export type Env = (typeof ENVS)[number];

export interface Topology {
  name: string;
  dir: string;
  configFile: string;
  config: Config;
  env: TestEnv;
  servicePort: number;
  /** Each host's data dir, relative to its app dir (the stand-in's database lives there). */
  dataDir: string;
  /** Address the stand-in of each environment listens on. */
  serviceUrl: Record<Env, string>;
  store(env: Env): SecretStore;
  host(env: Env): Promise<Host>;
}

/**
 * `extra` replaces top-level sections of the generated rekey.yaml; `hostSync` is merged into
 * every SSH host's `sync` (e.g. a bandwidth limit); `dataDir` is each host's data dir relative to
 * its app dir (the example config's is `.config/spacetimedb/data`); `hosts` are the SSH hosts of
 * prod, test and dev (by default the test servers' sshd hosts, whose docker is the shim).
 */
export function buildTopology(
  name: string,
  servicePort: number,
  extra: Partial<Record<string, unknown>> = {},
  hostSync: Record<string, unknown> = {},
  dataDir = 'data',
  hosts: Record<HostName, TestHost> = testEnv().hosts,
): Topology {
  const env = testEnv();
  // The local host runs `docker compose` like the SSH hosts do: through the shim.
  if (!process.env.PATH?.startsWith(env.shimBin)) process.env.PATH = `${env.shimBin}:${process.env.PATH}`;
  const dir = join(env.root, 'suites', name);
  mkdirSync(dir, { recursive: true });
  const localApp = join(dir, 'local-app');
  const addr: Record<Env, string> = {
    prod: hosts.prod.address,
    test: hosts.test.address,
    dev: hosts.dev.address,
    local: '127.0.0.1',
  };
  const doc = {
    secretNames: { privateKey: `${name}-jwt-private-key`, publicKey: `${name}-jwt-public-key` },
    keyGroups: { prod: ['prod'], test: ['test'], shared: ['dev', 'local'] },
    stores: {
      ...Object.fromEntries(
        HOST_NAMES.map((h) => [
          `kv-${h}`,
          { type: 'azure-keyvault', vaultUrl: env.keyVault.vaults[h], verifyChallengeResource: false },
        ]),
      ),
      'kv-local': { type: 'file', dir: join(dir, 'local-secrets') },
    },
    hosts: {
      ...Object.fromEntries(
        HOST_NAMES.map((h) => {
          const th = hosts[h];
          return [
            `vm-${h}`,
            {
              type: 'ssh',
              address: th.address,
              port: th.port,
              user: th.user,
              identityFile: th.identityFile,
              knownHosts: th.knownHosts,
              appDir: join(th.appDir, name),
              dataDir: join(th.appDir, name, dataDir),
              // The hosts reach each other (for promotion) with the same pinned keys.
              sync: { identityFile: th.identityFile, knownHosts: th.knownHosts, ...hostSync },
            },
          ];
        }),
      ),
      workstation: { type: 'local', appDir: localApp, dataDir: join(localApp, dataDir) },
    },
    services: {
      spacetimedb: { driver: 'compose', markerTimeout: '20s' },
    },
    environments: {
      prod: { store: 'kv-prod', host: 'vm-prod', service: 'spacetimedb' },
      test: { store: 'kv-test', host: 'vm-test', service: 'spacetimedb' },
      dev: { store: 'kv-dev', host: 'vm-dev', service: 'spacetimedb' },
      local: { store: 'kv-local', host: 'workstation', service: 'spacetimedb' },
    },
    ...extra,
  };
  const configFile = join(dir, 'rekey.yaml');
  writeFileSync(configFile, stringify(doc));
  const config = loadConfig(configFile);
  const stores = new Map<string, SecretStore>();
  const hostNameOf = (e: Env) => config.environments[e]?.host as string;
  return {
    name,
    dir,
    configFile,
    config,
    env,
    dataDir,
    servicePort,
    serviceUrl: Object.fromEntries(ENVS.map((e) => [e, `http://${addr[e]}:${servicePort}`])) as Record<
      Env,
      string
    >,
    store(e) {
      const storeName = config.environments[e]?.store as string;
      let s = stores.get(storeName);
      if (!s) {
        s = createSecretStore(storeName, config.stores[storeName] as never);
        stores.set(storeName, s);
      }
      return s;
    },
    host: (e) => openHost(hostNameOf(e), config.hosts[hostNameOf(e)] as never),
  };
}

/**
 * A topology whose `local` environment is a key group of its own with a service that does
 * nothing: store-only rotations of local (syncMountedKeys: false, preserveToken: false) run there
 * without hosts or services, seeded by `seedLocalPair`. `extra` adds or replaces top-level settings.
 */
export function storeOnlyLocal(name: string, port: number, extra: Record<string, unknown>): Topology {
  const t = buildTopology(name, port, {
    keyGroups: { prod: ['prod'], test: ['test'], dev: ['dev'], local: ['local'] },
    services: {
      spacetimedb: { driver: 'compose' },
      idle: { driver: 'command', start: 'true', stop: 'true', restart: 'true', logs: 'true' },
    },
    environments: {
      prod: { store: 'kv-prod', host: 'vm-prod', service: 'spacetimedb' },
      test: { store: 'kv-test', host: 'vm-test', service: 'spacetimedb' },
      dev: { store: 'kv-dev', host: 'vm-dev', service: 'spacetimedb' },
      local: { store: 'kv-local', host: 'workstation', service: 'idle' },
    },
    ...extra,
  });
  mkdirSync(join(t.dir, 'local-app'), { recursive: true });
  return t;
}

/** A first key pair in local's store. */
export async function seedLocalPair(t: Topology): Promise<void> {
  const pair = generateKeyPair();
  await storeKeyPair(
    t.store('local'),
    t.config.secretNames,
    { ...pair, fingerprint: fingerprint(pair.publicPem) },
    'seed',
  );
}

export async function publisherToken(privatePem: string, sub: string): Promise<string> {
  return new SignJWT({ hex_identity: `c200${sub}` })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .setIssuer('localhost')
    .setSubject(sub)
    .setAudience('spacetimedb')
    .setIssuedAt()
    .setExpirationTime('30d')
    .sign(parsePrivateKey(privatePem));
}

function composeFile(address: string, port: number, dataDir: string): string {
  return [
    '# Run through the docker compose shim: starts the SpacetimeDB stand-in.',
    'services:',
    '  spacetimedb:',
    '    command:',
    '      - start',
    `      - --listen-addr=${address}:${port}`,
    '      - --jwt-priv-key-path=/etc/spacetimedb/id_ecdsa',
    '      - --jwt-pub-key-path=/etc/spacetimedb/id_ecdsa.pub',
    '    volumes:',
    // Relative to the file's own directory (.generated/), as compose resolves them.
    `      - "../${dataDir}:/home/spacetime/.local/share/spacetime/data"`,
    '      - "./spacetimedb-keys:/etc/spacetimedb:ro"',
    '',
  ].join('\n');
}

export interface Seeded {
  pairs: Record<string, KeyPairPem>;
  tokens: Record<Env, string>;
}

/**
 * The state before a rotation, as an operator would have it: a pair per key group in each store
 * and on each host, a publisher token per environment, each service running with its database
 * owned by that publisher.
 */
export async function seed(t: Topology): Promise<Seeded> {
  const pairs: Record<string, KeyPairPem> = {};
  const tokens = {} as Record<Env, string>;
  for (const [group, members] of Object.entries(t.config.keyGroups)) {
    const pair = generateKeyPair();
    pairs[group] = pair;
    for (const e of members as Env[]) {
      await storeKeyPair(
        t.store(e),
        t.config.secretNames,
        { ...pair, fingerprint: fingerprint(pair.publicPem) },
        'seed',
      );
    }
  }
  await Promise.all(
    ENVS.filter((e) => e in t.config.environments).map(async (e) => {
      const group = Object.entries(t.config.keyGroups).find(([, m]) => m.includes(e))?.[0] as string;
      const pair = pairs[group] as KeyPairPem;
      tokens[e] = await publisherToken(pair.privatePem, `publisher-${e}`);
      const host = await t.host(e);
      try {
        const p = t.config.paths;
        // A fresh topology: data an earlier, failed run of the suite left (a database promoted
        // from another environment, owned by that one's publisher) would refuse this publisher.
        const dataDir = shellQuote(host.dataDir);
        const fresh = await host.exec(`rm -rf ${dataDir} && mkdir -p ${dataDir}`);
        if (fresh.code !== 0) throw new Error(`seed: cannot empty ${host.dataDir}: ${fresh.stderr}`);
        await host.writeFileAtomic(
          resolveOnHost(host, `${p.keyDir}/${p.privateKeyFile}`),
          pair.privatePem,
          0o600,
        );
        await host.writeFileAtomic(
          resolveOnHost(host, `${p.keyDir}/${p.publicKeyFile}`),
          pair.publicPem,
          0o644,
        );
        await host.writeFileAtomic(
          resolveOnHost(host, p.cliToml),
          `spacetimedb_token = "${tokens[e]}"\n`,
          0o600,
        );
        const address = new URL(t.serviceUrl[e]).hostname;
        await host.writeFileAtomic(
          resolveOnHost(host, './.generated/docker-compose.yaml'),
          composeFile(address, t.servicePort, t.dataDir),
          0o644,
        );
        const service = createServiceDriver(host, t.config.services.spacetimedb as never);
        await service.restart();
        await service.waitForMarkers({});
      } finally {
        await host.close();
      }
    }),
  );
  return { pairs, tokens };
}

/** Stops every environment's stand-in started by this topology. */
export async function stopServices(t: Topology): Promise<void> {
  await Promise.all(
    ENVS.filter((e) => e in t.config.environments).map(async (e) => {
      const host = await t.host(e);
      try {
        await createServiceDriver(host, t.config.services.spacetimedb as never).stop();
      } catch {
        /* already stopped */
      } finally {
        await host.close();
      }
    }),
  );
}

/** Runs `fn` with a connection to an environment's host. */
export async function onHost<T>(t: Topology, e: Env, fn: (h: Host) => Promise<T>): Promise<T> {
  const h = await t.host(e);
  try {
    return await fn(h);
  } finally {
    await h.close();
  }
}

/** A file on an environment's host (relative to its app dir): text and mode, null if absent. */
export function hostFile(t: Topology, e: Env, rel: string) {
  return onHost(t, e, async (h) => {
    const path = resolveOnHost(h, rel);
    return {
      text: (await h.readFile(path))?.toString() ?? null,
      mode: (await h.stat(path))?.mode ?? null,
    };
  });
}

/** The publisher token in an environment's cli.toml. */
export async function cliToken(t: Topology, e: Env): Promise<string> {
  const { text } = await hostFile(t, e, t.config.paths.cliToml);
  return readTokenFromToml(text ?? '', t.config.paths.tokenField, e);
}

/** sha256 and hard-link count of every file in a data dir but the (re-signed) cli.toml. */
export function dataManifest(t: Topology, e: Env): Promise<string> {
  return onHost(t, e, async (h) => {
    const files = `find . -type f ! -path './.config/spacetime/cli.toml' ! -path './.rsync-partial/*'`;
    const res = await h.exec(
      `cd ${h.dataDir} && ${files} -printf '%p %n\\n' | sort && ${files} -print0 | sort -z | xargs -0 sha256sum`,
    );
    if (res.code !== 0) throw new Error(`manifest of ${e}: ${res.stderr}`);
    return res.stdout;
  });
}

/** What a hop keeps beside an environment's data dir (`<data>.rekey-<what>-<runId>`) and left. */
export function besideData(t: Topology, e: Env): Promise<string[]> {
  return onHost(t, e, async (h) => {
    const data = h.dataDir.replace(/\/+$/, '');
    const res = await h.exec(`ls -a ${data}/..`);
    if (res.code !== 0) throw new Error(`ls beside ${e}'s data dir: ${res.stderr}`);
    const name = data.split('/').at(-1) ?? '';
    return res.stdout.split('\n').filter((f) => f.startsWith(`${name}.rekey-`));
  });
}

/** Asks an environment's stand-in whether it accepts a token: 200, 401 or 403. */
export async function whoami(
  t: Topology,
  e: Env,
  token: string,
): Promise<{ status: number; identity?: string }> {
  const res = await fetch(`${t.serviceUrl[e]}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
  const body = res.status === 200 ? ((await res.json()) as { identity?: string }) : {};
  return { status: res.status, ...(body.identity ? { identity: body.identity } : {}) };
}
