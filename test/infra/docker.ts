// A real Docker Engine for the suites that need one: Debian's dockerd, started by the suite with its
// own data root, exec root and socket under the test root (never the machine's default socket),
// stopped and removed again at the end. No image registry is reachable here, so every image is
// built locally from test/infra/images/<name>/Dockerfile on a debootstrapped Debian base
// (provision.sh) and kept in the cache as a `docker save` tarball, rebuilt when its Dockerfile or
// the files it copies change.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { stopByPidFile } from './process';
import { until } from './until';

const repo = resolve(__dirname, '../../..');
const cache = process.env.REKEY_CACHE ?? join(homedir(), '.cache/rekey');
/** The compose shim's directory (the quickstart's), put on test hosts' PATH. */
const shimDir = join(repo, 'quickstart/bin');

/** The real docker CLI: the first on PATH that is not the compose shim. */
function dockerCli(): string {
  for (const dir of (process.env.PATH ?? '').split(':'))
    if (dir && resolve(dir) !== shimDir && existsSync(join(dir, 'docker'))) return join(dir, 'docker');
  throw new Error('no docker CLI on PATH (provision.sh installs docker.io)');
}

export interface Docker {
  /** DOCKER_HOST and DOCKER_CONFIG (with the compose plugin) for this engine. */
  env: { DOCKER_HOST: string; DOCKER_CONFIG: string };
  /** Runs the docker CLI against this engine; returns stdout. */
  run(args: string[], opts?: { cwd?: string }): string;
  stop(): void;
}

/**
 * The test images and the upstream image each stands for. `files` are copied into the build
 * context beside the Dockerfile (context name -> file on this machine).
 */
const gomod = () => execFileSync('go', ['env', 'GOMODCACHE']).toString().trim();
const uiSource = () => join(gomod(), 'github.com/temporalio/ui-server/v2@v2.42.1');
const IMAGES: Record<string, { tag: string; standsFor: string; files?: () => Record<string, string> }> = {
  spacetimedb: {
    tag: 'rekey-test/spacetimedb:1.2.0',
    standsFor: 'clockworklabs/spacetime:v1.2.0',
    files: () => ({ 'spacetimedb-standalone': join(cache, 'bin/spacetimedb-standalone') }),
  },
  postgres: { tag: 'rekey-test/postgres:16.6-bookworm', standsFor: 'postgres:16.6-bookworm' },
  'temporal-server': {
    tag: 'rekey-test/temporal-server:1.30.1',
    standsFor: 'temporalio/server:1.30.1',
    files: () => ({
      'temporal-server': join(cache, 'bin/temporal-server'),
      'entrypoint.sh': join(gomod(), 'go.temporal.io/server@v1.30.1/docker/scripts/sh/entrypoint.sh'),
    }),
  },
  'temporal-admin-tools': {
    tag: 'rekey-test/temporal-admin-tools:1.30.1',
    standsFor: 'temporalio/admin-tools:1.30.1',
    files: () => ({
      'temporal-sql-tool': join(cache, 'bin/temporal-sql-tool'),
      temporal: join(cache, 'bin/temporal'),
      schema: join(gomod(), 'go.temporal.io/server@v1.30.1/schema'),
    }),
  },
  'temporal-ui': {
    tag: 'rekey-test/temporal-ui:2.42.1',
    standsFor: 'temporalio/ui:2.42.1',
    files: () => ({
      'ui-server': join(cache, 'bin/temporal-ui-server'),
      'docker.yaml': join(uiSource(), 'config/docker.yaml'),
      'start-ui-server.sh': join(uiSource(), 'docker/start-ui-server.sh'),
    }),
  },
  // Tagged as the upstream name: the project's Dockerfile builds FROM it.
  node: {
    tag: 'node:20-bookworm-slim',
    standsFor: 'node:20-bookworm-slim',
    files: () => ({
      node: process.execPath,
      npm: resolve(dirname(process.execPath), '../lib/node_modules/npm'),
      'ca-certificates.crt': '/etc/ssl/certs/ca-certificates.crt',
    }),
  },
};
const BASE = 'rekey-test/debian:bookworm';

export async function startDocker(dir: string): Promise<Docker> {
  stopDocker(dir);
  mkdirSync(join(dir, 'config'), { recursive: true });
  symlinkSync(join(cache, 'docker/cli-plugins'), join(dir, 'config/cli-plugins'));
  const socket = join(dir, 'docker.sock');
  const env = { DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'config') };
  const out = openSync(join(dir, 'dockerd.log'), 'a');
  const daemon = spawn(
    'dockerd',
    [
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--host',
      env.DOCKER_HOST,
      '--pidfile',
      join(dir, 'dockerd.pid'),
      // Tests keep every container on the host network: no NAT, no bridge rules on this machine.
      '--iptables=false',
      '--ip-masq=false',
    ],
    { detached: true, stdio: ['ignore', out, out] },
  );
  daemon.unref();
  writeFileSync(join(dir, 'daemon.pid'), String(daemon.pid));
  const run = (args: string[], opts: { cwd?: string } = {}) =>
    execFileSync(dockerCli(), args, {
      cwd: opts.cwd,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    }).toString();
  try {
    await waitAndImport();
  } catch (err) {
    // The daemon's own words, before its directory goes.
    const log = readFileSync(join(dir, 'dockerd.log'), 'utf8').trim().split('\n').slice(-5).join('\n');
    stopDocker(dir);
    throw new Error(`${(err as Error).message}\ndockerd's log ends:\n${log}`);
  }
  return { env, run, stop: () => stopDocker(dir) };

  async function waitAndImport() {
    await until(
      'dockerd to answer',
      () => {
        if (daemon.exitCode !== null) throw new Error(`dockerd exited (${daemon.exitCode})`);
        try {
          return run(['version', '--format', '{{.Server.Version}}']).trim() || undefined;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 60_000 },
    );
    run(['import', join(cache, 'docker/debian-bookworm.tar'), BASE]);
  }
}

/** Stops the engine started in `dir` (also one a killed run left) and removes its data. */
export function stopDocker(dir: string): void {
  const socket = join(dir, 'docker.sock');
  if (existsSync(socket)) {
    const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'config') };
    try {
      const ids = execFileSync(dockerCli(), ['ps', '-aq'], { env, timeout: 10_000 }).toString().split('\n');
      if (ids.some(Boolean))
        execFileSync(dockerCli(), ['rm', '-f', ...ids.filter(Boolean)], {
          env,
          timeout: 60_000,
          stdio: 'ignore',
        });
    } catch {
      /* a daemon that does not answer is killed below */
    }
  }
  const pidFile = join(dir, 'daemon.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    stopByPidFile(pidFile);
    for (let i = 0; i < 150 && alive(pid); i++) execFileSync('sleep', ['0.1']);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  // Mounts a killed daemon left behind (overlay layers, its exec root) before the files go.
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
    .reverse();
  for (const m of mounts) execFileSync('umount', ['-l', m], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the test image `name` available in the engine: loaded from the cache, or built (and then
 * saved to the cache) when its Dockerfile or the files it copies changed.
 */
export function ensureImage(docker: Docker, name: keyof typeof IMAGES): string {
  const image = IMAGES[name];
  if (!image) throw new Error(`no test image "${name}"`);
  const dockerfileDir = join(repo, 'test/infra/images', name);
  const files = image.files?.() ?? {};
  const hash = createHash('sha256').update(image.tag);
  for (const f of readdirSync(dockerfileDir).sort())
    hash.update(f).update(readFileSync(join(dockerfileDir, f)));
  // Large files are identified by size and mtime (hashing their bytes would cost each run), a
  // directory by every file in it; the base image by its tarball.
  const stamp = (file: string) => {
    const st = statSync(file);
    return `${st.size}:${st.mtimeMs}`;
  };
  hash.update(stamp(join(cache, 'docker/debian-bookworm.tar')));
  for (const [name, file] of Object.entries(files).sort()) {
    const entries = statSync(file).isDirectory()
      ? readdirSync(file, { recursive: true })
          .map(String)
          .sort()
          .map((f) => `${f}=${stamp(join(file, f))}`)
      : [stamp(file)];
    hash.update(`${name}:${entries.join(',')}`);
  }
  const dir = join(cache, 'docker/images');
  mkdirSync(dir, { recursive: true });
  const saved = join(dir, `${name}-${hash.digest('hex').slice(0, 16)}.tar`);
  if (!existsSync(saved)) {
    const context = join(dir, `${name}.context.${process.pid}`);
    rmSync(context, { recursive: true, force: true });
    mkdirSync(context);
    for (const f of readdirSync(dockerfileDir)) copyFileSync(join(dockerfileDir, f), join(context, f));
    for (const [to, from] of Object.entries(files)) execFileSync('cp', ['-rL', from, join(context, to)]);
    try {
      docker.run(['build', '--network', 'host', '-t', image.tag, context]);
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
    const partial = `${saved}.${process.pid}`;
    try {
      docker.run(['save', '-o', partial, image.tag]);
      execFileSync('mv', [partial, saved]);
    } finally {
      rmSync(partial, { force: true });
    }
    // Older builds of this image, once the new one is in place.
    for (const old of readdirSync(dir).filter((f) => /^(.+)-[0-9a-f]{16}\.tar$/.exec(f)?.[1] === name))
      if (join(dir, old) !== saved) rmSync(join(dir, old), { force: true });
  } else {
    docker.run(['load', '-i', saved]);
  }
  return image.tag;
}
