// `npm run bench:fleet [-- --vaults V --workers W]`: a fleet of N key sets (BENCH_FLEET_N,
// default 1,000), each its own key group in its own environment, rotated at once with key-file
// installation off (stage both secrets, verify, re-sign the publisher token on a local host; no
// service restart), so that the vault is the bottleneck: a Key Vault stand-in enforcing the
// service's limit per vault (300 writes and 4,000 reads per 10 s, 429 with Retry-After past it).
// Those are the published figures: "Azure Key Vault service limits"
// (https://learn.microsoft.com/azure/key-vault/general/service-limits), table "Secrets, managed
// storage account keys, and vault transactions", per vault per region in 10 seconds: CREATE
// secret 300 (a new version of a secret is a create: every write a rotation makes), all other
// transactions 4,000 (its reads); a subscription may make 5 times a vault's figure, so the fleet's
// vaults, in one subscription, could not pass 5 x 15 key sets/s together.
// A rotation writes 2 secrets, so a vault's ceiling is 15 key sets/s. The environments are spread
// over V vaults; W worker processes (`rekey worker`) poll one task queue. Last line:
// fleet keysets_per_s=<x> ceiling_ratio=<x / (15 * V)> throttled=<429s> lost=<runs not completed>
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { generateKeyPair, keyFacts } from '../activities/keys';
import { parseConfig } from '../config/load';
import { createSecretStore } from '../stores/drivers';
import { storeKeyPair } from '../stores/pairs';
import { temporalFixture } from '../test/helpers';
import { testEnv } from '../test/infra/env';
import { publisherToken } from '../test/infra/topology';
import { rotateJwtKeys } from '../workflows';

const repo = resolve(__dirname, '../..');
const N = Number(process.env.BENCH_FLEET_N ?? 1000);
const { values } = parseArgs({ options: { vaults: { type: 'string' }, workers: { type: 'string' } } });
const VAULTS = Number(values.vaults ?? 1);
const WORKERS = Number(values.workers ?? 1);
const PORT = 18601;
const LIMIT = { writes: 300, reads: 4000, windowMs: 10_000 };
/** Key sets per second one vault allows: two secret writes each. */
const CEILING = LIMIT.writes / 2 / (LIMIT.windowMs / 1000);

const pad = (i: number) => String(i).padStart(4, '0');

function hook(port: number, path: string, body?: unknown): Promise<unknown> {
  return new Promise((res, rej) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: `/_standin/${path}`,
        method: body ? 'POST' : 'GET',
        ca: readFileSync(testEnv().keyVault.caCertPath),
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => res(JSON.parse(Buffer.concat(chunks).toString() || '{}')));
      },
    );
    req.on('error', rej);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

/** The worker's peak resident set (VmHWM), in MiB. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 1024);
}

async function main() {
  const env = testEnv();
  const dir = join(env.root, 'suites', 'bench-fleet');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const ports = Array.from({ length: VAULTS }, (_, i) => PORT + i);
  // Its own stand-in process (the test servers' one does not throttle), with the same CA and token.
  const standin = spawn(
    process.execPath,
    [
      join(repo, 'dist/test/infra/keyvault-standin.js'),
      'serve',
      '--root',
      env.root,
      '--listen',
      ports.map((p) => `127.0.0.1:${p}`).join(','),
      '--throttle',
      `${LIMIT.writes},${LIMIT.reads},${LIMIT.windowMs}`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const workers: ChildProcess[] = [];
  const fx = await temporalFixture('bench');
  try {
    for (let i = 0; ; i++) {
      try {
        await Promise.all(ports.map((p) => hook(p, 'health')));
        break;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // An earlier run of this benchmark that was killed leaves its runs open, holding their locks.
    for await (const w of fx.client.workflow.list({
      query: 'WorkflowId STARTS_WITH "fleet/" AND ExecutionStatus = "Running"',
    }))
      await fx.client.workflow.getHandle(w.workflowId, w.runId).terminate('an earlier benchmark run left it');
    const envs = Array.from({ length: N }, (_, i) => `f${pad(i)}`);
    const doc = {
      stores: Object.fromEntries(
        ports.map((p, v) => [
          `vault${v}`,
          {
            type: 'azure-keyvault',
            vaultUrl: `https://127.0.0.1:${p}`,
            credential: 'azure-cli',
            verifyChallengeResource: false,
          },
        ]),
      ),
      hosts: Object.fromEntries(
        envs.map((e) => [`h-${e}`, { type: 'local', appDir: join(dir, e), dataDir: join(dir, e, 'data') }]),
      ),
      services: { none: { driver: 'command', start: 'true', stop: 'true', restart: 'true', logs: 'true' } },
      environments: Object.fromEntries(
        envs.map((e, i) => [e, { store: `vault${i % VAULTS}`, host: `h-${e}`, service: 'none' }]),
      ),
      keyGroups: Object.fromEntries(envs.map((e) => [e, [e]])),
      secretNames: { privateKey: 'jwt-{group}-private', publicKey: 'jwt-{group}-public' },
    };
    const configFile = join(dir, 'rekey.yaml');
    writeFileSync(configFile, stringify(doc));
    const config = parseConfig(doc, configFile);
    // Seeded with the limits off: a pair per key set in its vault, on its host, and a token.
    await Promise.all(ports.map((p) => hook(p, 'throttle', { on: false })));
    const p = config.paths;
    const stores = ports.map((_, v) => createSecretStore(`vault${v}`, config.stores[`vault${v}`] as never));
    for (let i = 0; i < N; i += 50)
      await Promise.all(
        envs.slice(i, i + 50).map(async (e, j) => {
          const pair = generateKeyPair();
          const names = { privateKey: `jwt-${e}-private`, publicKey: `jwt-${e}-public` };
          const facts = await keyFacts(pair.publicPem);
          await storeKeyPair(
            stores[(i + j) % VAULTS] as never,
            names,
            { ...pair, fingerprint: facts.fingerprint },
            'seed',
          );
          const keys = join(dir, e, p.keyDir);
          mkdirSync(keys, { recursive: true });
          writeFileSync(join(keys, p.privateKeyFile), pair.privatePem, { mode: 0o600 });
          writeFileSync(join(keys, p.publicKeyFile), pair.publicPem);
          const toml = join(dir, e, p.cliToml);
          mkdirSync(join(toml, '..'), { recursive: true });
          writeFileSync(
            toml,
            `spacetimedb_token = "${await publisherToken(pair.privatePem, `publisher-${e}`)}"\n`,
            {
              mode: 0o600,
            },
          );
        }),
      );
    await Promise.all(ports.map((port) => hook(port, 'throttle', { on: true })));
    for (let w = 0; w < WORKERS; w++)
      workers.push(
        spawn(process.execPath, [join(repo, 'bin/rekey'), 'worker', '--config', configFile], {
          env: {
            ...process.env,
            TEMPORAL_ADDRESS: env.temporal.address,
            TEMPORAL_NAMESPACE: 'bench',
            REKEY_TASK_QUEUE: fx.taskQueue,
          },
          stdio: ['ignore', 'ignore', 'inherit'],
        }),
      );
    const start = Date.now();
    const handles = await Promise.all(
      envs.map((e) =>
        fx.client.workflow.start(rotateJwtKeys, {
          workflowId: `fleet/${start}/${e}`,
          taskQueue: fx.taskQueue,
          args: [{ environments: [e], syncMountedKeys: false }],
        }),
      ),
    );
    const results = await Promise.allSettled(handles.map((h) => h.result()));
    const seconds = (Date.now() - start) / 1000;
    const done = results.filter((r) => r.status === 'fulfilled' && r.value.ok).length;
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) console.log(`first failure: ${String(failed.reason?.cause?.message ?? failed.reason)}`);
    const stats = (await Promise.all(ports.map((port) => hook(port, 'stats')))) as {
      throttled: number;
      early: number;
      writes: number;
    }[];
    if (process.env.BENCH_VERBOSE) console.log(stats);
    const sum = (k: 'throttled' | 'early' | 'writes') => stats.reduce((a, s) => a + s[k], 0);
    const sample = handles.filter((_, i) => i % Math.max(1, Math.floor(N / 20)) === 0);
    const events = await Promise.all(sample.map(async (h) => (await h.fetchHistory()).events?.length ?? 0));
    const rate = done / seconds;
    console.log(
      `${N} key sets, ${VAULTS} vault(s), ${WORKERS} worker process(es): ${seconds.toFixed(1)} s, ${sum('writes')} secret writes`,
    );
    console.log(`worker peak RSS: ${workers.map((w) => `${peakRss(w.pid as number)} MiB`).join(', ')}`);
    console.log(`history events per run: ${Math.min(...events)}-${Math.max(...events)}`);
    console.log(`early retries (before Retry-After): ${sum('early')}`);
    console.log(
      `fleet keysets_per_s=${rate.toFixed(2)} ceiling_ratio=${(rate / (CEILING * VAULTS)).toFixed(2)} throttled=${sum('throttled')} lost=${N - done}`,
    );
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    standin.kill('SIGKILL');
    await fx.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
