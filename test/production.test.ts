// The production shape without Docker: the compose file's topology from real binaries (Temporal
// server 1.30.1 on Debian's PostgreSQL, its schema and namespace jobs' scripts, the compose file's
// dynamic config, Temporal's own authorization with tokens from a JWKS issuer), two `rekey worker`
// processes on one task queue and the codec server, all with the payload codec. A rotation on the test hosts survives the worker that runs its restart being
// SIGKILLed: the other worker finishes it; the history holds only sealed payloads.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { parse, stringify } from 'yaml';
import { toJson } from '../client/codec-server';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { ENCODING } from '../temporal/codec';
import { dataConverterOf } from '../temporal/codec-keys';
import type { RotateResult } from '../workflows/rotate';
import { rekeyAsync } from './helpers';
import { testEnv } from './infra/env';
import { type Issuer, startIssuer } from './infra/jwks';
import { portOf } from './infra/ports';
import { startTemporalOnPostgres, type TemporalOnPostgres } from './infra/temporal-postgres';
import {
  buildTopology,
  cliToken,
  type Seeded,
  seed,
  stopServices,
  type Topology,
  whoami,
} from './infra/topology';
import { until } from './infra/until';
import { kill } from './infra/worker-process';

const repo = resolve(__dirname, '../..');
const workflowId = 'rotate-jwt/test';

describe('production shape: Temporal on PostgreSQL, two workers, the codec', () => {
  let temporal: TemporalOnPostgres;
  let t: Topology;
  let seeded: Seeded;
  let config: Config;
  let configFile: string;
  let connection: Connection;
  let client: Client;
  const workers: ChildProcess[] = [];
  let codecServer: ChildProcess | undefined;
  let codecUrl = '';
  let killed = '';
  let result: RotateResult;
  let issuer: Issuer;
  /** Tokens with write on namespace default: the workers', and the CLI's (an operator's). */
  let workerToken = '';
  let operatorToken = '';

  const env = (token: string) => ({
    ...process.env,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_API_KEY: token,
    TEMPORAL_TLS: 'false',
  });
  const rekey = (...args: string[]) => rekeyAsync(args, { env: env(operatorToken) });
  const worker = () =>
    spawn(process.execPath, [join(repo, 'bin/rekey'), 'worker', '--config', configFile], {
      env: env(workerToken),
      stdio: 'ignore',
    });

  before(async () => {
    issuer = await startIssuer(17490);
    workerToken = await issuer.token(['default:write'], 'rekey-worker');
    operatorToken = await issuer.token(['default:write'], 'alice');
    temporal = await startTemporalOnPostgres(
      join(testEnv().root, 'production-temporal'),
      { pg: 15432, frontend: 17400 },
      {
        jwksUrl: issuer.jwksUrl,
        adminToken: await issuer.token(['temporal-system:admin'], 'temporal-admin'),
      },
    );
    t = buildTopology('production', portOf('production'));
    seeded = await seed(t);
    const keyFile = join(t.dir, 'codec-k1.key');
    writeFileSync(keyFile, randomBytes(32).toString('base64'), { mode: 0o600 });
    const doc = parse(readFileSync(t.configFile, 'utf8'));
    doc.codec = { active: 'k1', keys: { k1: { file: keyFile } } };
    configFile = join(t.dir, 'rekey-production.yaml');
    writeFileSync(configFile, stringify(doc));
    config = loadConfig(configFile);
    connection = await Connection.connect({ address: temporal.address, apiKey: operatorToken, tls: false });
    client = new Client({ connection, namespace: 'default', ...(await dataConverterOf(config)) });

    workers.push(worker(), worker());
    codecServer = spawn(
      process.execPath,
      [join(repo, 'bin/rekey'), 'codec-server', '--insecure-no-auth', '--port', '0', '--config', configFile],
      {
        env: env(''),
      },
    );
    let codecOut = '';
    codecServer.stdout?.on('data', (d) => {
      codecOut += d;
    });
    codecUrl = await until(
      'the codec server',
      () => /rekey codec server: (http:\/\/\S+)/.exec(codecOut)?.[1],
    );
    await until(
      'a worker to poll',
      async () =>
        (await rekey('rotate', '--env', 'test', '--dry-run', '--config', configFile)).code === 0
          ? true
          : undefined,
      {
        everyMs: 1000,
        timeoutMs: 60_000,
      },
    );

    const started = await rekey('rotate', '--env', 'test', '--yes', '--config', configFile);
    assert.equal(started.code, 0, started.out);
    // The worker running the restart (its identity is pid@host) is killed mid-activity.
    const pids = workers.map((w) => w.pid);
    killed = await until(
      'the restart to run on a worker',
      async () => {
        const { raw } = await client.workflow.getHandle(workflowId).describe();
        const restart = raw.pendingActivities?.find(
          (a) => a.activityType?.name === 'restartAndVerify' && a.lastWorkerIdentity,
        );
        const pid = Number(restart?.lastWorkerIdentity?.split('@')[0]);
        return pids.includes(pid) ? String(pid) : undefined;
      },
      { everyMs: 100, timeoutMs: 60_000 },
    );
    await kill(workers.find((w) => String(w.pid) === killed) as ChildProcess);
    result = await client.workflow.getHandle(workflowId).result();
  });

  after(async () => {
    // Everything is stopped even when one of these fails (a PostgreSQL left running would hold
    // its port for the next run).
    await Promise.allSettled([
      ...workers.map(kill),
      ...(codecServer ? [kill(codecServer)] : []),
      connection?.close(),
      t && stopServices(t),
    ]);
    await temporal?.stop();
    issuer?.stop();
  });

  it('the frontend authorizes: no token, or a token for another namespace, is refused', async () => {
    const refused = async (apiKey?: string) => {
      const c = await Connection.connect({
        address: temporal.address,
        tls: false,
        ...(apiKey ? { apiKey } : {}),
      });
      try {
        return await new Client({ connection: c, namespace: 'default' }).workflow
          .getHandle(workflowId)
          .describe()
          .then(
            () => 'described',
            (err: Error & { cause?: Error & { code?: number } }) =>
              // gRPC PERMISSION_DENIED (7) under the client's "Failed to describe workflow".
              `${err.message}: code ${err.cause?.code}: ${err.cause?.message}`,
          );
      } finally {
        await c.close();
      }
    };
    assert.match(await refused(), /code 7: .*Request unauthorized/);
    assert.match(await refused(await issuer.token(['other:write'])), /code 7: .*Request unauthorized/);
    assert.equal(await refused(operatorToken), 'described', 'the same call with a token for default works');
    // The CLI without a token says so, and changes nothing.
    const anonymous = await rekeyAsync(['status', workflowId, '--config', configFile], { env: env('') });
    assert.equal(anonymous.code, 2);
    assert.match(
      anonymous.out,
      /refused it \(permission denied: .*Request unauthorized.*\): give rekey a token with write on namespace default \(TEMPORAL_API_KEY/,
    );
    // With a token the server refuses (another namespace's; an expired one alike): it says so.
    const other = await rekeyAsync(['status', workflowId, '--config', configFile], {
      env: env(await issuer.token(['other:write'])),
    });
    assert.equal(other.code, 2);
    assert.match(
      other.out,
      /refused it \(permission denied: .*\): the token rekey presented \(TEMPORAL_API_KEY or the profile's api_key\) has no write on namespace default, or has expired: get a new one/,
    );
  });

  it('the other worker finished the rotation the killed one was running', async () => {
    assert.ok(killed);
    assert.equal(result.ok, true, JSON.stringify(result.environments));
    assert.equal(result.environments[0]?.status, 'rotated');
    const token = await cliToken(t, 'test');
    assert.equal((await whoami(t, 'test', token)).status, 200, 'the re-signed token works');
    assert.equal((await whoami(t, 'test', seeded.tokens.test)).status, 401, 'the old one does not');
    // The restart ran twice: the killed worker's attempt timed out on its heartbeat.
    const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
    const scheduled = events?.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'restartAndVerify',
    );
    const retried = events?.some(
      (e) =>
        String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled?.eventId) &&
        (e.activityTaskStartedEventAttributes?.attempt ?? 0) >= 2,
    );
    assert.ok(retried, 'the restart ran again (attempt 2) on the surviving worker');
  });

  it('the history in PostgreSQL holds sealed payloads, which the codec server opens', async () => {
    const plain = new Client({ connection, namespace: 'default' });
    const { events } = await plain.workflow.getHandle(workflowId).fetchHistory();
    const input = events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0] as Payload;
    assert.equal(new TextDecoder().decode(input.metadata?.encoding ?? new Uint8Array()), ENCODING);
    const res = await fetch(`${codecUrl}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-namespace': 'default' },
      body: JSON.stringify({
        payloads: [toJson(input)],
      }),
    });
    const opened = (await res.json()) as { payloads: { data: string }[] };
    assert.match(
      Buffer.from(opened.payloads[0]?.data ?? '', 'base64').toString(),
      /"environments":\["test"\]/,
    );
  });

  it('rekey status reads the run from this server with the config', async () => {
    const status = await rekey('status', workflowId, '--config', configFile);
    assert.equal(status.code, 0, status.out);
    assert.match(status.out, /rotate-jwt\/test: COMPLETED/);
  });
});
