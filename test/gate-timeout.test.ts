// A 24-hour approval gate that nobody answers, on the Java time-skipping test server: the run
// fails cleanly after the (skipped) day and nothing changed on the stores or hosts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { startRotation } from '../client/runs/rotate';
import { resolveOnHost } from '../hosts/types';
import { createRekeyWorker } from '../worker/worker';
import { progressQuery } from '../workflows/messages';
import './helpers';
import { approversConfig } from './infra/approvers';
import { testEnv } from './infra/env';
import { portOf } from './infra/ports';
import { buildTopology, type Seeded, seed, stopServices, type Topology, whoami } from './infra/topology';

describe('approval gate timeout (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let t: Topology;
  let seeded: Seeded;

  before(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: testEnv().timeSkippingServerPath } },
    });
    t = buildTopology('gate-timeout', portOf('gate-timeout'), {
      approvals: { requiredFor: ['prod'], approvers: approversConfig(['alice']), timeout: '24h' },
    });
    seeded = await seed(t);
  });
  after(async () => {
    await stopServices(t);
    await env?.teardown();
  });

  it('fails the run after the timeout and changes nothing', async () => {
    const versionsBefore = await t.store('prod').listVersions(t.config.secretNames.privateKey);
    const worker = await createRekeyWorker({
      config: t.config,
      connection: env.nativeConnection,
      taskQueue: 'gate-timeout',
    });
    const { error, progress } = await worker.runUntil(async () => {
      const h = await startRotation(
        env.client,
        t.config,
        { environments: ['prod'] },
        { taskQueue: 'gate-timeout' },
      );
      const error = await h.result().then(
        () => undefined,
        (err: Error) => err,
      );
      return { error, progress: await h.query(progressQuery) };
    });
    assert.ok(error, 'the run failed');
    assert.match(
      String((error as { cause?: Error }).cause?.message),
      /approval timed out; nothing was changed/,
    );
    assert.equal(progress.steps.find((s) => s.name === 'stage')?.status, 'pending', 'never staged');
    const versionsAfter = await t.store('prod').listVersions(t.config.secretNames.privateKey);
    assert.equal(versionsAfter.length, versionsBefore.length, 'no new secret version');
    const host = await t.host('prod');
    try {
      const pub = await host.readFile(resolveOnHost(host, '.generated/spacetimedb-keys/id_ecdsa.pub'));
      assert.equal(pub?.toString(), seeded.pairs.prod?.publicPem, 'key file unchanged');
    } finally {
      await host.close();
    }
    assert.equal((await whoami(t, 'prod', seeded.tokens.prod)).status, 200, 'still serving with the old key');
  });
});
