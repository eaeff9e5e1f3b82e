// docker-compose.temporal.yaml and the Dockerfile, proved without a Docker engine: the compose
// file loads under the compose specification's reference loader (compose-go, provisioned), its
// services point at each other consistently, every image is pinned, no secret value is in it, and
// the image's build context holds no key material.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_TASK_QUEUE } from '../shared/task-queue';
import { assertNoSecrets } from './assertions';
import { testEnv } from './infra/env';
import { until } from './infra/until';

const repo = resolve(__dirname, '../..');
const composeGo = join(process.env.REKEY_CACHE ?? join(homedir(), '.cache/rekey'), 'bin/compose-go');
const file = join(repo, 'docker-compose.temporal.yaml');

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  ports?: { target: number; published: string; host_ip?: string }[];
  volumes?: { type: string; source: string; target: string; read_only?: boolean }[];
  env_file?: { path: string }[];
  build?: unknown;
  user?: string;
  profiles?: string[];
}

/** The file as compose-go normalizes it (env files need not exist for that). */
function load(path: string): {
  status: number | null;
  model?: { services: Record<string, Service> };
  stderr: string;
} {
  const res = spawnSync(composeGo, ['-format', 'json', path], { encoding: 'utf8', cwd: repo });
  return {
    status: res.status,
    stderr: res.stderr,
    ...(res.status === 0 ? { model: JSON.parse(res.stdout) } : {}),
  };
}

const arg = (s: Service, flag: string) => s.command?.[(s.command?.indexOf(flag) ?? -2) + 1];

describe('docker-compose.temporal.yaml', () => {
  const { status, model, stderr } = load(file);
  const services = model?.services ?? {};
  const svc = (name: string) => {
    const s = services[name];
    assert.ok(s, `service ${name}`);
    return s;
  };

  it('loads under the compose specification, and a broken copy does not', () => {
    assert.equal(status, 0, stderr);
    const dir = mkdtempSync(join(tmpdir(), 'rekey-compose-'));
    const broken = join(dir, 'docker-compose.yaml');
    writeFileSync(
      broken,
      readFileSync(file, 'utf8').replace('condition: service_healthy', 'condition: when_it_feels_like_it'),
    );
    assert.notEqual(load(broken).status, 0, 'compose-go refuses an unknown depends_on condition');
  });

  it('has the production topology, with pinned images and no auto-setup', () => {
    assert.deepEqual(Object.keys(services).sort(), [
      'postgresql',
      'rekey-codec',
      'rekey-worker',
      'temporal',
      'temporal-namespace',
      'temporal-schema',
      'temporal-ui',
    ]);
    for (const [name, s] of Object.entries(services)) {
      assert.ok(s.image, `${name} names its image`);
      assert.match(s.image ?? '', /^[^:]+:(?!latest$)[\w.-]+$/, `${name}: ${s.image} is pinned`);
      assert.doesNotMatch(s.image ?? '', /auto-setup/);
    }
    assert.match(svc('temporal').image ?? '', /^temporalio\/server:1\.30\.\d+$/);
    assert.equal(svc('temporal-schema').image, svc('temporal-namespace').image);
    const [major, minor, patch] = (svc('temporal-ui').image?.split(':')[1] ?? '').split('.').map(Number);
    assert.ok(
      (major ?? 0) * 1e6 + (minor ?? 0) * 1e3 + (patch ?? 0) >= 2_034_004,
      'UI 2.34.4 or later: Updates from the UI',
    );
    assert.match(svc('postgresql').image ?? '', /^postgres:16\./);
    assert.ok(
      svc('postgresql').environment === undefined ||
        !('POSTGRES_PASSWORD' in (svc('postgresql').environment ?? {})),
    );
  });

  it('its services refer to each other consistently', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const target of Object.keys(s.depends_on ?? {}))
        assert.ok(target in services, `${name} depends on ${target}`);
    }
    assert.equal(
      svc('temporal').depends_on?.['temporal-schema']?.condition,
      'service_completed_successfully',
    );
    assert.equal(
      svc('rekey-worker').depends_on?.['temporal-namespace']?.condition,
      'service_completed_successfully',
    );
    const frontend = svc('temporal').ports?.find((p) => p.target === 7233);
    assert.ok(frontend, 'the frontend port is published');
    const worker = svc('rekey-worker');
    assert.equal(worker.environment?.TEMPORAL_ADDRESS, `temporal:${frontend.target}`);
    assert.equal(worker.environment?.TEMPORAL_NAMESPACE, svc('temporal-namespace').environment?.NAMESPACE);
    assert.equal(worker.environment?.REKEY_TASK_QUEUE, DEFAULT_TASK_QUEUE);
    assert.deepEqual(worker.command, ['worker', '--config', '/etc/rekey/rekey.yaml']);
    assert.equal(svc('temporal-ui').environment?.TEMPORAL_ADDRESS, `temporal:${frontend.target}`);
    // The browser calls the codec server at its published port, from the UI's published origin.
    const codec = svc('rekey-codec');
    const codecPort = codec.ports?.find((p) => String(p.target) === arg(codec, '--port'));
    assert.ok(codecPort, 'the codec server publishes the port it listens on');
    assert.equal(
      svc('temporal-ui').environment?.TEMPORAL_CODEC_ENDPOINT,
      `http://localhost:${codecPort.published}`,
    );
    const ui = svc('temporal-ui').ports?.find((p) => p.target === 8080);
    assert.equal(arg(codec, '--origin'), `http://localhost:${ui?.published}`);
    assert.equal(codec.image, worker.image);
    // Everything published listens on loopback only.
    for (const [name, s] of Object.entries(services))
      for (const p of s.ports ?? [])
        assert.equal(p.host_ip, '127.0.0.1', `${name} publishes ${p.published} on loopback`);
    // Mounted repository files exist (not the operator's certificates), operator files are read-only.
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        if (v.type !== 'bind') continue;
        if (
          v.source.startsWith(join(repo, 'deploy/temporal/')) &&
          v.source !== join(repo, 'deploy/temporal/tls')
        )
          assert.ok(existsSync(v.source), `${name}: ${v.source}`);
        assert.equal(v.read_only, true, `${name}: ${v.target} read-only`);
      }
    }
  });

  it("its server's dynamic config passes the server's own validation (known keys, right types)", () => {
    const server = join(composeGo, '..', 'temporal-server');
    const check = (path: string) =>
      spawnSync(server, ['validate-dynamic-config', path], { encoding: 'utf8' }).stdout;
    const mount = svc('temporal').volumes?.find(
      (v) => v.target === svc('temporal').environment?.DYNAMIC_CONFIG_FILE_PATH,
    );
    assert.ok(mount, 'the server mounts the file DYNAMIC_CONFIG_FILE_PATH names');
    const out = check(mount.source);
    assert.match(out, /dynamicconfig\.yaml/);
    assert.doesNotMatch(out, /warning/);
    // The validator does report a misspelt key (it exits 0 all the same).
    const dir = mkdtempSync(join(tmpdir(), 'rekey-dc-'));
    writeFileSync(join(dir, 'dc.yaml'), 'limit.maxIDLenght:\n  - value: 255\n');
    assert.match(check(join(dir, 'dc.yaml')), /warning: unregistered key/);
  });

  it('holds no secret value: passwords and credentials come from env files kept out of git', () => {
    const text = readFileSync(file, 'utf8');
    assert.doesNotMatch(text, /(PASSWORD|PWD|SECRET|TOKEN|API_KEY)[A-Z_]*\s*[:=]\s*\S/);
    for (const s of Object.values(services))
      for (const e of s.env_file ?? [])
        assert.match(e.path, /deploy\/(temporal|worker|temporal-admin|ui)\.env$/);
    const ignored = readFileSync(join(repo, '.gitignore'), 'utf8');
    for (const pattern of ['/deploy/*.env', '/deploy/ssh/', '/deploy/codec/', '/rekey.yaml'])
      assert.ok(ignored.includes(pattern), pattern);
  });

  it("every rekey service starts as docs/deployment.md's recipe configures it (no crash loop)", async () => {
    // The recipe: cp rekey.compose.example.yaml rekey.yaml, the codec key it names made with openssl.
    const dir = mkdtempSync(join(tmpdir(), 'rekey-compose-run-'));
    const config = join(dir, 'rekey.yaml');
    copyFileSync(join(repo, 'rekey.compose.example.yaml'), config);
    mkdirSync(join(dir, 'deploy/codec'), { recursive: true });
    execFileSync('sh', ['-c', '(umask 077 && openssl rand -base64 32 > deploy/codec/k1.key)'], { cwd: dir });
    const rekeyServices = Object.entries(services).filter(([, s]) => s.image === 'rekey:local');
    assert.deepEqual(rekeyServices.map(([n]) => n).sort(), ['rekey-codec', 'rekey-worker']);
    for (const [name, s] of rekeyServices) {
      // The service's own command, with this machine's config path and a free port.
      const args = (s.command ?? []).map((a) =>
        a === '/etc/rekey/rekey.yaml' ? config : a === '8888' ? '0' : a,
      );
      const child = spawn(process.execPath, [join(repo, 'bin/rekey'), ...args], {
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: testEnv().temporal.address,
          TEMPORAL_NAMESPACE: 'default',
          REKEY_TASK_QUEUE: `compose-run-${name}`,
        },
      });
      let out = '';
      child.stdout?.on('data', (d) => {
        out += d;
      });
      child.stderr?.on('data', (d) => {
        out += d;
      });
      const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
      try {
        const started = await Promise.race([
          until(
            `${name} to start`,
            async () => (/^rekey (worker|codec server): /m.test(out) ? true : undefined),
            {
              timeoutMs: 60_000,
            },
          ),
          exited.then((code) =>
            assert.fail(`${name} exited ${code} (a crash loop under restart: unless-stopped): ${out}`),
          ),
        ]);
        assert.equal(started, true);
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(repo, 'Dockerfile'), 'utf8');

  it('runs rekey worker as a non-root user on Node 20 slim, with ssh and rsync', () => {
    const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    assert.match(final, /^\nFROM node:20-[\w-]*slim\b/);
    assert.match(final, /apt-get install -y --no-install-recommends openssh-client rsync/);
    assert.match(final, /\nUSER rekey\n/);
    assert.match(final, /ENTRYPOINT \["node", "\/opt\/rekey\/bin\/rekey"\]/);
    assert.match(final, /CMD \["worker", "--config", "\/etc\/rekey\/rekey\.yaml"\]/);
  });

  it('builds from a context that holds no key material', () => {
    // .dockerignore lists what the build may see; everything else stays out.
    const allowed = readFileSync(join(repo, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('!'))
      .map((l) => join(repo, l.slice(1)));
    assert.ok(
      !allowed.some((p) => /\/(test|deploy|docs|dist|node_modules)\/?$/.test(p)),
      'no fixtures or operator files',
    );
    const walk = (p: string): string[] =>
      !existsSync(p) ? [] : statSync(p).isDirectory() ? readdirSync(p).flatMap((f) => walk(join(p, f))) : [p];
    const files = allowed.flatMap(walk);
    assert.ok(files.length > 50, `${files.length} files in the context`);
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      assert.doesNotThrow(() => assertNoSecrets(text, []), f);
    }
  });
});
