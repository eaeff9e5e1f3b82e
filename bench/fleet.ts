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
// over V vaults; W worker processes (`rekey worker`) poll one task queue; `--per-run K` rotates K
// key sets in one run (one plan, one gate, a lock per environment). It runs the fleet on the
// Temporal server 1.30.1 on PostgreSQL (the production test's topology, from real binaries), then
// on the dev server (`--server postgres|dev` for one of them); a line per server, the dev server's
// last: fleet keysets_per_s=<x> ceiling_ratio=<x / (15 * V)> throttled=<429s> lost=<key sets not
// rotated> early=<requests before Retry-After> cpu_ms_per_keyset=<worker(s) + Temporal server (and
// PostgreSQL) + stand-in> peak_rss_mib=<largest worker's>
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import { generateKeyPair, keyFacts } from '../activities/keys';
import { parseConfig } from '../config/load';
import { createSecretStore } from '../stores/drivers';
import { storeKeyPair } from '../stores/pairs';
import { testEnv } from '../test/infra/env';
import { publisherToken } from '../test/infra/topology';
import { rotateJwtKeys } from '../workflows';
import { processCpuMs } from './cpu';
import { stepLine } from './history-steps';
import { devServer, postgresServer, type Server } from './servers';

const repo = resolve(__dirname, '../..');
const N = Number(process.env.BENCH_FLEET_N ?? 1000);
const { values } = parseArgs({
  options: {
    vaults: { type: 'string' },
    workers: { type: 'string' },
    'per-run': { type: 'string' },
    server: { type: 'string' },
  },
});
const VAULTS = Number(values.vaults ?? 1);
const WORKERS = Number(values.workers ?? 1);
/** Key sets (environments, each its own key group) per rotation run. */
const PER_RUN = Number(values['per-run'] ?? 1);
/** Node's options for the workers, e.g. `--max-old-space-size=384`, or `--cpu-prof` to see where a
 * worker's CPU goes (written when it stops). */
const WORKER_NODE_ARGS = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
const SERVERS = values.server ? [values.server] : ['postgres', 'dev'];
if (SERVERS.some((s) => s !== 'postgres' && s !== 'dev'))
  throw new Error(`--server ${values.server}: use postgres or dev (both when not given)`);
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

type StandinStats = { throttled: number; early: number; earlyMs: number; writes: number };

/** Rotates every key set once on `server`; returns the figures' last line. */
async function rotateFleet(
  server: Server,
  configFile: string,
  envs: string[],
  standin: ChildProcess,
  ports: number[],
): Promise<string> {
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: server.namespace });
  const taskQueue = `rekey-bench-${randomUUID()}`;
  const workers: ChildProcess[] = [];
  const stats = async () => (await Promise.all(ports.map((port) => hook(port, 'stats')))) as StandinStats[];
  try {
    // An earlier run of this benchmark that was killed leaves its runs open, holding their locks.
    for await (const w of client.workflow.list({
      query: 'WorkflowId STARTS_WITH "fleet/" AND ExecutionStatus = "Running"',
    }))
      await client.workflow.getHandle(w.workflowId, w.runId).terminate('an earlier benchmark run left it');
    const statsBefore = await stats();
    // CPU from here on: the workers' own from their start (loading included), the server's and
    // the stand-in's from now.
    const cpuBefore = { server: server.cpuMs(), standin: processCpuMs(standin.pid as number) };
    // A worker that dies (from its start on) would leave the runs waiting for ever.
    let workerDied: (err: Error) => void = () => undefined;
    const died = new Promise<never>((_, rej) => {
      workerDied = rej;
    });
    died.catch(() => undefined); // awaited below; a death during the shutdown is expected
    for (let w = 0; w < WORKERS; w++) {
      workers.push(
        spawn(
          process.execPath,
          [...WORKER_NODE_ARGS, join(repo, 'bin/rekey'), 'worker', '--config', configFile],
          {
            env: {
              ...process.env,
              TEMPORAL_ADDRESS: server.address,
              TEMPORAL_NAMESPACE: server.namespace,
              REKEY_TASK_QUEUE: taskQueue,
              // Each throttled attempt is a WARN line (thousands at one vault); errors still show,
              // and the bench counts what was lost. BENCH_VERBOSE keeps the WARN lines.
              REKEY_LOG_LEVEL: process.env.REKEY_LOG_LEVEL ?? (process.env.BENCH_VERBOSE ? 'WARN' : 'ERROR'),
            },
            stdio: ['ignore', 'ignore', 'inherit'],
          },
        ),
      );
      workers.at(-1)?.once('exit', (code) => workerDied(new Error(`a worker exited (${code})`)));
    }
    const start = Date.now();
    const runs = Array.from({ length: Math.ceil(envs.length / PER_RUN) }, (_, i) =>
      envs.slice(i * PER_RUN, (i + 1) * PER_RUN),
    );
    const handles = await Promise.all(
      runs.map((environments) =>
        client.workflow.start(rotateJwtKeys, {
          workflowId: `fleet/${start}/${environments[0]}`,
          taskQueue,
          args: [{ environments, syncMountedKeys: false }],
        }),
      ),
    );
    const results = await Promise.race([Promise.allSettled(handles.map((h) => h.result())), died]);
    const seconds = (Date.now() - start) / 1000;
    const cpu = {
      workers: workers.reduce((a, w) => a + processCpuMs(w.pid as number), 0),
      server: server.cpuMs() - cpuBefore.server,
      standin: processCpuMs(standin.pid as number) - cpuBefore.standin,
    };
    const rss = workers.map((w) => peakRss(w.pid as number));
    // Key sets rotated: the environments of each run that ended rotated.
    const done = results.reduce(
      (a, r) =>
        a +
        (r.status === 'fulfilled' ? r.value.environments.filter((o) => o.status === 'rotated').length : 0),
      0,
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) console.log(`first failure: ${String(failed.reason?.cause?.message ?? failed.reason)}`);
    const after = await stats();
    if (process.env.BENCH_VERBOSE) console.log(after);
    const sum = (k: keyof StandinStats) =>
      after.reduce((a, s, i) => a + s[k] - (statsBefore[i]?.[k] ?? 0), 0);
    const sample = handles.filter((_, i) => i % Math.max(1, Math.floor(handles.length / 20)) === 0);
    const histories = await Promise.all(sample.map((h) => h.fetchHistory()));
    const events = histories.map((h) => h.events?.length ?? 0);
    if (process.env.BENCH_VERBOSE) {
      // What a run's events are, by type: where the server's work per key set goes.
      const types = new Map<string, number>();
      for (const e of histories[0]?.events ?? []) {
        const t = String(e.eventType);
        types.set(t, (types.get(t) ?? 0) + 1);
      }
      console.log(`  events of ${sample[0]?.workflowId}:`, Object.fromEntries(types));
      // The first, a middle and the last run's activities: when each began (ms after the fleet's
      // start) and how long it took.
      for (const h of [handles[0], handles[Math.floor(handles.length / 2)], handles.at(-1)])
        if (h) console.log(`  ${h.workflowId}: ${await stepLine(client, h.workflowId, start)}`);
    }
    // Where the vaults' write windows went unused: before the first write, after the last, and
    // between them (the window's share in use).
    const logs = await Promise.all(
      ports.map(async (port) =>
        ((await hook(port, 'requests')) as { method: string; status: number; at: number }[]).filter(
          (r) => r.status === 200 && r.at >= start,
        ),
      ),
    );
    const writes = logs.map((l) =>
      l
        .filter((r) => r.method === 'PUT')
        .map((r) => r.at)
        .sort((a, b) => a - b),
    );
    const first = Math.min(...writes.map((w) => w[0] ?? Number.POSITIVE_INFINITY));
    const readsBefore = logs.flat().filter((r) => r.method !== 'PUT' && r.at < first).length;
    const last = Math.max(...writes.map((w) => w.at(-1) ?? 0));
    const inUse =
      writes.reduce((a, w) => a + w.length, 0) /
      ((LIMIT.writes * VAULTS * (last - first + LIMIT.windowMs)) / LIMIT.windowMs);
    const rate = done / seconds;
    // Per key set rotated: lost ones do not make the others look cheaper.
    const perKeyset = (ms: number) => (ms / Math.max(done, 1)).toFixed(1);
    console.log(
      `${server.label}: ${envs.length} key sets, ${PER_RUN} per run, ${VAULTS} vault(s), ${WORKERS} worker process(es): ${seconds.toFixed(1)} s, ${sum('writes')} secret writes`,
    );
    console.log(
      `  secret writes: the first ${((first - start) / 1000).toFixed(1)} s after the start (${readsBefore} reads before it), the last ${(seconds - (last - start) / 1000).toFixed(1)} s before the end; between them ${(inUse * 100).toFixed(0)}% of the vaults' write windows in use`,
    );
    console.log(`  worker peak RSS: ${rss.map((m) => `${m} MiB`).join(', ')}`);
    if (sum('early') > 0)
      console.log(
        `  early requests: ${sum('early')}, on average ${(sum('earlyMs') / sum('early')).toFixed(0)} ms before their Retry-After ran out`,
      );
    console.log(`  history events per run: ${Math.min(...events)}-${Math.max(...events)}`);
    console.log(
      `  CPU ms per key set: worker(s) ${perKeyset(cpu.workers)}, Temporal server${server.name === 'dev' ? '' : ' and PostgreSQL'} ${perKeyset(cpu.server)}, Key Vault stand-in ${perKeyset(cpu.standin)}`,
    );
    return `fleet keysets_per_s=${rate.toFixed(2)} ceiling_ratio=${(rate / (CEILING * VAULTS)).toFixed(2)} throttled=${sum('throttled')} lost=${envs.length - done} early=${sum('early')} cpu_ms_per_keyset=${perKeyset(cpu.workers + cpu.server + cpu.standin)} peak_rss_mib=${Math.max(...rss)} server=${server.name}`;
  } finally {
    // Stopped as an operator would (a profile is written then), killed if it does not stop.
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((res) => {
            if (w.exitCode !== null || w.signalCode !== null) return res();
            const timer = setTimeout(() => w.kill('SIGKILL'), 15_000);
            w.once('exit', () => {
              clearTimeout(timer);
              res();
            });
            w.kill('SIGTERM');
          }),
      ),
    );
    await connection.close();
  }
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
    const p = config.paths;
    const stores = ports.map((_, v) => createSecretStore(`vault${v}`, config.stores[`vault${v}`] as never));
    // Seeded with the limits off: a pair per key set in its vault, on its host, and a token (anew
    // for each server: with key files not installed, a rotation leaves the host's key behind).
    const seed = async (tag: string) => {
      await Promise.all(ports.map((p) => hook(p, 'throttle', { on: false })));
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
              tag,
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
    };
    // Each server rotates the fleet once (the second from where the first left it).
    const lines: string[] = [];
    for (const name of SERVERS) {
      await seed(`seed-${name}`);
      const server = name === 'dev' ? devServer() : await postgresServer('bench-fleet-temporal');
      try {
        lines.push(await rotateFleet(server, configFile, envs, standin, ports));
      } finally {
        await server.stop();
      }
    }
    for (const line of lines) console.log(line);
  } finally {
    standin.kill('SIGKILL');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
