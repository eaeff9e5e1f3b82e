// Crash-resume: the worker process is SIGKILLed while key files are being installed and again
// while the publish markers are awaited; a new worker finishes the run, and nothing happened twice.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { readTokenFromToml, tokenIdentity } from '../activities/tokens';
import { startRotation } from '../client/runs/rotate';
import { resolveOnHost } from '../hosts/types';
import type { RotateResult } from '../workflows/rotate';
import { testEnv } from './infra/env';
import { portOf } from './infra/ports';
import {
  buildTopology,
  ENVS,
  type Seeded,
  seed,
  stopServices,
  type Topology,
  whoami,
} from './infra/topology';
import { activityStarted, kill, startWorker } from './infra/worker-process';

describe('rotateJwtKeys survives worker crashes', () => {
  let t: Topology;
  let seeded: Seeded;
  let client: Client;
  let connection: Connection;
  let result: RotateResult;
  let runId: string;
  let workflowId: string;
  const workers: ChildProcess[] = [];

  before(async () => {
    t = buildTopology('rotate-crash', portOf('rotate-crash'));
    seeded = await seed(t);
    connection = await Connection.connect({ address: testEnv().temporal.address });
    client = new Client({ connection, namespace: 'rotate-crash' });
    const taskQueue = `rekey-crash-${randomUUID()}`;

    workers.push(startWorker(t, 'rotate-crash', taskQueue));
    const handle = await startRotation(
      client,
      t.config,
      { environments: [...ENVS] },
      { taskQueue: taskQueue },
    );
    runId = (await handle.describe()).runId;
    workflowId = handle.workflowId;

    await activityStarted(client, handle.workflowId, 'installKeyFiles');
    await kill(workers[0] as ChildProcess);

    workers.push(startWorker(t, 'rotate-crash', taskQueue));
    await activityStarted(client, handle.workflowId, 'restartAndVerify');
    await kill(workers[1] as ChildProcess);

    workers.push(startWorker(t, 'rotate-crash', taskQueue));
    result = await handle.result();
  });

  after(async () => {
    await Promise.all(workers.map(kill));
    await stopServices(t);
    await connection.close();
  });

  it('finishes the run with every environment rotated', () => {
    assert.deepEqual(
      result.environments.map((e) => e.status),
      ENVS.map(() => 'rotated'),
    );
  });

  it('the first kill landed while key files were being installed: an attempt was lost and retried', async () => {
    const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const installs = new Set(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'installKeyFiles')
        .map((e) => String(e.eventId)),
    );
    const retried = events.some(
      (e) =>
        (installs.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId)) &&
          (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1) ||
        installs.has(String(e.activityTaskTimedOutEventAttributes?.scheduledEventId)),
    );
    assert.equal(retried, true, 'an installKeyFiles attempt was cut off by the kill (timed out or retried)');
  });

  it('made exactly one new version of each secret in each store', async () => {
    for (const e of ENVS) {
      for (const name of [t.config.secretNames.privateKey, t.config.secretNames.publicKey]) {
        const versions = await t.store(e).listVersions(name);
        const mine = versions.filter((v) => v.tags.rekeyRunId === runId);
        assert.equal(mine.length, 1, `${e}: ${name} has one version from this run`);
        assert.equal(versions.length, 2, `${e}: ${name} has the seed version and this run's`);
      }
    }
  });

  it('left every host serving the new key with the same publisher identity', async () => {
    for (const e of ENVS) {
      const host = await t.host(e);
      let token: string;
      try {
        const text = (await host.readFile(resolveOnHost(host, t.config.paths.cliToml)))?.toString() ?? '';
        token = readTokenFromToml(text, 'spacetimedb_token', e);
      } finally {
        await host.close();
      }
      assert.deepEqual(tokenIdentity(token), tokenIdentity(seeded.tokens[e]));
      assert.equal((await whoami(t, e, token)).status, 200, `${e}: new token accepted`);
      assert.equal((await whoami(t, e, seeded.tokens[e])).status, 401, `${e}: old token rejected`);
    }
  });
});
