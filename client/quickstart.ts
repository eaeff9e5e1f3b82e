// `rekey quickstart`: the main job on an embedded default. Starts a local Temporal dev server and
// a worker in this process, sets up a `local` environment (file secret store, this machine as the
// host, the SpacetimeDB stand-in behind the docker compose shim, since no real SpacetimeDB or
// Docker is assumed), then rotates its JWT signing key and prints every step.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { SignJWT } from 'jose';
import { fingerprint, generateKeyPair, parsePrivateKey } from '../activities/keys';
import { loadConfig } from '../config/load';
import { openHost } from '../hosts/connect';
import { writeFileAtomicSync } from '../hosts/local-files';
import { shellQuote } from '../hosts/shell';
import { createServiceDriver } from '../services/service';
import { createSecretStore } from '../stores/drivers';
import { storeKeyPair } from '../stores/pairs';
import { createRekeyWorker } from '../worker/worker';
import { progressQuery } from '../workflows/messages';
import { formatRotateResult } from './format';
import { startRotation } from './runs/rotate';

const repo = resolve(__dirname, '../..');
const STANDIN = join(repo, 'dist/quickstart/spacetimedb-standin.js');
const SHIM_BIN = join(repo, 'quickstart/bin');
const TEMPORAL_VERSION = 'v1.5.1';

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

/** A `temporal` CLI: $TEMPORAL_CLI_PATH, one on PATH, rekey's cache, or built once with Go. */
function findTemporalCli(): string | undefined {
  if (process.env.TEMPORAL_CLI_PATH) return process.env.TEMPORAL_CLI_PATH;
  const onPath = spawnSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  const cache = join(process.env.REKEY_CACHE ?? join(homedir(), '.cache', 'rekey'), 'bin');
  const cached = join(cache, 'temporal');
  if (existsSync(cached)) return cached;
  if (spawnSync('go', ['version']).status === 0) {
    console.log(
      `building the Temporal CLI ${TEMPORAL_VERSION} with Go into ${cache} (once; takes a few minutes)`,
    );
    execFileSync('go', ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_VERSION}`], {
      env: { ...process.env, GOBIN: cache },
      stdio: 'inherit',
    });
    return cached;
  }
  return undefined; // the SDK downloads a CLI itself
}

/** The shim's docker compose command line for the stand-in, as a YAML double-quoted string. */
const composeLine = (what: string) =>
  `${shellQuote(join(SHIM_BIN, 'docker'))} compose -f ./.generated/docker-compose.yaml ${what} spacetimedb`;
const compose = (what: string) => JSON.stringify(composeLine(what));

const YAML = (
  dir: string,
  port: number,
) => `# Written by rekey quickstart: one local environment on this machine.
keyGroups:
  local: [local]
stores:
  local-files: { type: file, dir: ${join(dir, 'secrets')} }
hosts:
  workstation: { type: local, appDir: ${join(dir, 'app')}, dataDir: ${join(dir, 'app', 'data')} }
services:
  # No Docker is assumed: rekey's compose shim runs the SpacetimeDB stand-in, named here so that
  # any worker started with this file (rekey worker --config ...) drives the same service.
  spacetimedb:
    driver: command
    start: ${compose('up -d')}
    stop: ${compose('stop')}
    # stop, then start: the log is kept, so rekey tells this start's markers from older ones.
    restart: ${JSON.stringify(`${composeLine('stop')} && ${composeLine('up -d')}`)}
    logs: ${compose('logs --no-color --tail=200')}
    markerTimeout: 30s
environments:
  local: { store: local-files, host: workstation, service: spacetimedb }
# stand-in port ${port}
`;

const COMPOSE = (
  port: number,
) => `# Used through rekey's docker compose shim, which runs the SpacetimeDB stand-in.
services:
  spacetimedb:
    command:
      - start
      - --listen-addr=127.0.0.1:${port}
      - --jwt-priv-key-path=/etc/spacetimedb/id_ecdsa
      - --jwt-pub-key-path=/etc/spacetimedb/id_ecdsa.pub
    volumes:
      - "./spacetimedb-keys:/etc/spacetimedb:ro" # relative to this file, as compose resolves it
`;

/** The deployment a rotation starts from: a key pair in the store and on the host, a publisher
 * token signed by it, the service running and its database owned by that publisher. */
async function seed(dir: string, configFile: string, port: number) {
  const config = loadConfig(configFile);
  const app = join(dir, 'app');
  const pair = generateKeyPair();
  const store = createSecretStore('local-files', config.stores['local-files'] ?? { type: 'file', dir });
  await storeKeyPair(
    store,
    config.secretNames,
    { ...pair, fingerprint: fingerprint(pair.publicPem) },
    'quickstart-seed',
  );
  writeFileAtomicSync(join(app, '.generated/spacetimedb-keys/id_ecdsa'), pair.privatePem, 0o600);
  writeFileAtomicSync(join(app, '.generated/spacetimedb-keys/id_ecdsa.pub'), pair.publicPem, 0o644);
  writeFileAtomicSync(join(app, '.generated/docker-compose.yaml'), COMPOSE(port), 0o644);
  const token = await new SignJWT({ hex_identity: 'c200quickstart' })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .setIssuer('localhost')
    .setSubject('quickstart-publisher')
    .setAudience('spacetimedb')
    .setIssuedAt()
    .sign(parsePrivateKey(pair.privatePem));
  writeFileAtomicSync(
    join(app, 'data/.config/spacetime/cli.toml'),
    `spacetimedb_token = "${token}"\n`,
    0o600,
  );
  const host = await openHost(
    'workstation',
    config.hosts.workstation ?? { type: 'local', appDir: app, dataDir: app },
  );
  try {
    const service = createServiceDriver(host, config.services.spacetimedb as never);
    await service.restart();
    await service.waitForMarkers({});
  } finally {
    await host.close();
  }
  return { config, fingerprint: fingerprint(pair.publicPem) };
}

function stopService(dir: string) {
  spawnSync(
    join(SHIM_BIN, 'docker'),
    ['compose', '-f', './.generated/docker-compose.yaml', 'stop', 'spacetimedb'],
    {
      cwd: join(dir, 'app'),
    },
  );
}

/** Prints each step as its state changes; the returned function prints the last changes. */
function watchProgress(client: Client, workflowId: string): () => Promise<void> {
  const seen = new Map<string, string>();
  const poll = async () => {
    try {
      const p = await client.workflow.getHandle(workflowId).query(progressQuery);
      for (const s of p.steps) {
        const line = `${s.status}${s.detail ? `: ${s.detail}` : ''}`;
        if (seen.get(s.name) !== line && s.status !== 'pending') {
          seen.set(s.name, line);
          console.log(`  ${s.name.padEnd(14)} ${line}`);
        }
      }
    } catch {
      /* not started yet */
    }
  };
  const timer = setInterval(poll, 300);
  return async () => {
    clearInterval(timer);
    await poll();
  };
}

/** `stopped` resolves at SIGINT or SIGTERM; a timer keeps Node alive until then, or until
 * `release` (a failure on the way). */
function untilStopped(): { stopped: Promise<string>; release: () => void } {
  const alive = setInterval(() => {}, 1 << 30);
  let release = () => {};
  const stopped = new Promise<string>((res) => {
    const stop = (signal: string) => {
      release();
      res(signal);
    };
    release = () => {
      clearInterval(alive);
      process.off('SIGINT', stop).off('SIGTERM', stop);
    };
    process.once('SIGINT', stop).once('SIGTERM', stop);
  });
  return { stopped, release };
}

export async function quickstart(opts: { dir?: string; keep?: boolean } = {}): Promise<number> {
  const dir = resolve(opts.dir ?? join('.rekey', 'quickstart'));
  if (!existsSync(STANDIN)) throw new Error(`${STANDIN} missing: run "npm run build" first`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'app'), { recursive: true });

  const port = await freePort();
  const configFile = join(dir, 'rekey.yaml');
  writeFileSync(configFile, YAML(dir, port));
  console.log(`quickstart: local environment in ${dir}`);

  // Keep the SDK's own INFO lines (bundling, worker state) out of the walkthrough.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const uiPort = await freePort();
  const cli = findTemporalCli();
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      ...(cli ? { executable: { type: 'existing-path', path: cli } } : {}),
      ip: '127.0.0.1',
      ui: true,
      uiPort,
      log: { format: 'pretty', level: 'error' },
    },
  });
  // Ctrl-C at any point: the service and the dev server go with this process.
  const interrupted = (signal: NodeJS.Signals) => {
    stopService(dir);
    void env.teardown().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    const { config, fingerprint: before } = await seed(dir, configFile, port);
    console.log(
      `seeded: key ${before.slice(0, 16)} in the file store and on the host; service up, database owned by quickstart-publisher`,
    );
    const worker = await createRekeyWorker({ config, connection: env.nativeConnection, configFile });
    const result = await worker.runUntil(async () => {
      const handle = await startRotation(env.client, config, { environments: ['local'] });
      console.log(`rotating: workflow ${handle.workflowId}`);
      console.log(
        `  watch it in the Temporal Web UI: http://127.0.0.1:${uiPort}/namespaces/default/workflows/${encodeURIComponent(handle.workflowId)}`,
      );
      const stop = watchProgress(env.client, handle.workflowId);
      try {
        return await handle.result();
      } finally {
        await stop();
      }
    });
    console.log(formatRotateResult(result));
    const local = result.environments[0];
    if (local?.status === 'rotated') {
      console.log(`fingerprint before ${before}`);
      console.log(`fingerprint after  ${local.fingerprintAfter}`);
      console.log(`identity preserved: iss=${local.identity?.iss} sub=${local.identity?.sub}`);
    }
    const rekey = `node ${join(repo, 'bin/rekey')}`;
    const cfg = relative(process.cwd(), configFile) || configFile;
    if (!opts.keep) {
      console.log(`
next:
  ${rekey} quickstart --keep      the same, then the dev server, the Web UI and a worker stay up
  with a Temporal server and a worker of your own, this environment works as it is:
    temporal server start-dev             a dev server (the Temporal CLI; or the quickstart --keep's)
    ${rekey} worker --config ${cfg}
    ${rekey} rotate --env local --yes --wait --config ${cfg}
    ${rekey} verify --config ${cfg}
  the stand-in service a worker of yours starts runs until you stop it:
    (cd ${relative(process.cwd(), join(dir, 'app')) || '.'} && ${composeLine('stop')})
  then rekey.example.yaml and docs/deployment.md for a real deployment`);
      return result.ok ? 0 : 1;
    }
    // From here a signal ends the wait below (handlers in place before anything else awaits).
    const wait = untilStopped();
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    console.log(`
the dev server, the Web UI and a worker stay up until Ctrl-C:
  Web UI: http://127.0.0.1:${uiPort}
  in another terminal:
    export TEMPORAL_ADDRESS=${env.address}
    ${rekey} rotate --env local --dry-run --config ${cfg}
    ${rekey} rotate --env local --yes --wait --config ${cfg}
    ${rekey} status rotate-jwt/local`);
    // A worker runs once: a second one serves the runs started from the other terminal.
    try {
      const serving = await createRekeyWorker({ config, connection: env.nativeConnection, configFile });
      await serving.runUntil(wait.stopped);
    } finally {
      wait.release();
    }
    console.log('stopped: the worker, the Web UI and the dev server; the stand-in service stops next');
    return result.ok ? 0 : 1;
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    stopService(dir);
    await env.teardown();
  }
}
