// Crash-resume of a promotion: the worker process is SIGKILLed while rsync moves a 300 MB file
// from prod to test. The copy activity is retried once its heartbeat stops (seconds, not the 6h
// start-to-close timeout), the new attempt starts from the partial file the broken one left, and
// test ends with prod's data.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type Client, Connection, Client as TemporalClient } from '@temporalio/client';
import { decodeTimeoutType } from '@temporalio/common';
import { signedBy } from '../activities/tokens';
import { progressOf, type RunProgress } from '../client/runs/common';
import { startPromotion } from '../client/runs/promote';
import type { HopResult } from '../workflows/hop-plan';
import { testEnv } from './infra/env';
import { portOf } from './infra/ports';
import {
  buildTopology,
  cliToken,
  dataManifest,
  hostFile,
  onHost,
  seed,
  stopServices,
  type Topology,
  whoami,
} from './infra/topology';
import { until } from './infra/until';
import { kill, startWorker } from './infra/worker-process';

const BIG = 300 * 1024 * 1024;
const repo = resolve(__dirname, '../..');

describe('promote survives a worker killed during the copy', () => {
  let t: Topology;
  let connection: Connection;
  let client: Client;
  const workers: ReturnType<typeof startWorker>[] = [];
  const workflowId = 'promote/prod..test';
  const hopId = `${workflowId}/prod..test`;
  let midCopy: RunProgress;
  let statusOutput: string;
  let retried: { attempt: number; timeoutType?: string | null };
  let hops: HopResult[];

  before(async () => {
    // seed() wrote every host's files in the same second: prod's get their own mtime, or rsync's
    // quick check (size + mtime) would rightly skip them.
    // 10 MB/s out of prod: the 300 MB copy takes ~30 s, time enough to kill the worker mid-file.
    t = buildTopology('promote-crash', portOf('promote-crash'), {}, { bandwidthLimit: '10M' });
    await seed(t);
    await onHost(t, 'prod', (h) =>
      h.exec(
        `cd ${h.dataDir} && mkdir -p db/segments && head -c ${BIG} /dev/urandom > db/segments/big.bin && echo meta > db/meta.json && find . -exec touch -h -d '2026-01-01 00:00:00' {} +`,
        { timeoutMs: 120_000 },
      ),
    );
    connection = await Connection.connect({ address: testEnv().temporal.address });
    client = new TemporalClient({ connection, namespace: 'promote-crash' });
    const taskQueue = `rekey-promote-crash-${randomUUID()}`;

    workers.push(startWorker(t, 'promote-crash', taskQueue));
    const handle = await startPromotion(
      client,
      t.config,
      { chain: ['prod', 'test'] },
      { taskQueue: taskQueue },
    );

    // Well into the big file: its name and the bytes so far are in the copy's heartbeat details.
    midCopy = await until(
      'the copy to be under way',
      async () => {
        const p = await progressOf(client, hopId);
        return p.transfer?.file === 'db/segments/big.bin' && p.transfer.bytes > 40_000_000 ? p : undefined;
      },
      { timeoutMs: 120_000 },
    );
    // `rekey status` on the promotion shows the running hop with its copy.
    statusOutput = (
      await promisify(execFile)(process.execPath, [join(repo, 'bin/rekey'), 'status', workflowId], {
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: testEnv().temporal.address,
          TEMPORAL_NAMESPACE: 'promote-crash',
        },
      })
    ).stdout;
    await kill(workers[0] as ReturnType<typeof startWorker>);
    workers.push(startWorker(t, 'promote-crash', taskQueue));

    // The server notices the missing heartbeat and schedules attempt 2 of the copy.
    retried = await until(
      'the copy to be retried',
      async () => {
        const desc = await client.workflow.getHandle(hopId).describe();
        const copy = desc.raw.pendingActivities?.find((a) => a.activityType?.name === 'syncData');
        if (!copy || (copy.attempt ?? 0) < 2) return undefined;
        return {
          attempt: copy.attempt ?? 0,
          timeoutType: decodeTimeoutType(copy.lastFailure?.timeoutFailureInfo?.timeoutType),
        };
      },
      { timeoutMs: 120_000 },
    );
    hops = await handle.result();
  });

  after(async () => {
    await Promise.all(workers.map(kill));
    await stopServices(t);
    await connection.close();
  });

  it('reported bytes and the current file while rsync ran', () => {
    assert.equal(midCopy.current, 'copy');
    assert.equal(midCopy.transfer?.attempt, 1);
    assert.match(statusOutput, /promote\/prod\.\.test\/prod\.\.test:/);
    assert.match(
      statusOutput,
      /\[running] copy: \d+ bytes, \d+%, [\d.]+[kMG]?B\/s, at db\/segments\/big\.bin/,
    );
  });

  it("kept the copy's progress out of the hop's history", async () => {
    const { events } = await client.workflow.getHandle(hopId).fetchHistory();
    const signals = (events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes);
    assert.equal(signals.length, 0);
  });

  it('retried the copy on the heartbeat timeout, not the start-to-close timeout', () => {
    assert.ok(retried.attempt >= 2);
    assert.equal(retried.timeoutType, 'HEARTBEAT');
  });

  it('the retry continued from the partial file and the destination equals the source', async () => {
    const [hop] = hops;
    assert.ok(hop?.copied, JSON.stringify(hops));
    assert.ok(hop.copied.attempt >= 2, `attempt ${hop.copied.attempt}`);
    assert.ok(
      hop.copied.matchedBytes >= (midCopy.transfer?.bytes ?? 0) / 2,
      `matched ${hop.copied.matchedBytes} of the ${midCopy.transfer?.bytes} bytes sent before the kill`,
    );
    assert.ok(hop.copied.literalBytes < BIG, 'less than the whole file sent again');
    assert.equal(await dataManifest(t, 'test'), await dataManifest(t, 'prod'));
    const partial = await onHost(t, 'test', (h) => h.stat(`${h.dataDir}/.rsync-partial`));
    assert.equal(partial, null, 'no partial file left behind');
  });

  it('test runs on the copy with its token re-signed by its own key', async () => {
    const token = await cliToken(t, 'test');
    const key = (await hostFile(t, 'test', '.generated/spacetimedb-keys/id_ecdsa')).text ?? '';
    assert.equal(await signedBy(token, key), true);
    assert.equal((await whoami(t, 'test', token)).status, 200);
  });
});
