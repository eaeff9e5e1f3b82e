// Quarterly rotation schedules on the real dev server: the calendar, the overlap and catch-up
// policies, and a triggered run that rotates for real.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ScheduleHandle } from '@temporalio/client';
import { readTokenFromToml } from '../activities/tokens';
import { historyLine, runHistory } from '../client/history';
import { startRotation } from '../client/runs/rotate';
import { createRolloverSchedule, createRotationSchedule } from '../client/schedules';
import { resolveOnHost } from '../hosts/types';
import { progressQuery } from '../workflows/messages';
import type { RolloverResult } from '../workflows/rollover';
import { failureOf, type TemporalFixture } from './helpers';
import { decide } from './infra/approvers';
import { testEnv } from './infra/env';
import { assertMatchesSchema } from './infra/json-schemas';
import { keyringTopology, seedKeyring, stopReplicas } from './infra/keyring-topology';
import { portOf } from './infra/ports';
import { seededSuite } from './infra/suite';
import { buildTopology, type Seeded, type Topology, whoami } from './infra/topology';
import { until } from './infra/until';

describe('rotation schedules', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let seeded: Seeded;
  let handle: ScheduleHandle;

  seededSuite(
    'schedules',
    () => buildTopology('schedules', portOf('schedules')),
    (s) => {
      ({ fx, t, seeded } = s);
    },
  );
  before(async () => {
    handle = await createRotationSchedule(fx.client, t.config, {
      environments: ['test'],
      every: 'quarter',
      taskQueue: fx.taskQueue,
    });
  });
  after(async () => {
    await handle?.delete().catch(() => undefined);
  });

  it('runs at 06:00 UTC on the first day of each quarter, skipping overlaps, catching up a day', async () => {
    const d = await handle.describe();
    assert.equal(d.scheduleId, 'rotate-jwt/test');
    const next = d.info.nextActionTimes;
    assert.ok(next.length >= 2, 'the server computed the next runs');
    for (const at of next) {
      assert.equal(at.getUTCDate(), 1);
      assert.ok([0, 3, 6, 9].includes(at.getUTCMonth()), `${at.toISOString()} starts a quarter`);
      assert.equal(at.getUTCHours(), 6);
      assert.equal(at.getUTCMinutes(), 0);
    }
    assert.equal(d.policies.overlap, 'SKIP');
    assert.equal(d.policies.catchupWindow, 24 * 3600 * 1000);
    assert.equal(d.action.type === 'startWorkflow' && d.action.workflowType, 'rotateJwtKeys');
  });

  it('trigger starts a run that rotates the environment', async () => {
    await handle.trigger();
    let workflowId: string | undefined;
    for (let i = 0; i < 100 && !workflowId; i++) {
      workflowId = (await handle.describe()).info.recentActions.at(-1)?.action.workflow.workflowId;
      if (!workflowId) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(workflowId?.startsWith('rotate-jwt/test'), workflowId);
    const result = await fx.withWorker(t.config, () =>
      fx.client.workflow.getHandle(workflowId as string).result(),
    );
    assert.equal(result.environments[0]?.status, 'rotated');
    const host = await t.host('test');
    try {
      const text = (await host.readFile(resolveOnHost(host, t.config.paths.cliToml)))?.toString() ?? '';
      assert.equal(
        (await whoami(t, 'test', readTokenFromToml(text, 'spacetimedb_token', 'test'))).status,
        200,
      );
    } finally {
      await host.close();
    }
    assert.equal((await whoami(t, 'test', seeded.tokens.test)).status, 401);
  });

  it('a scheduled run during a freeze waits, durably, for its end, then rotates', async () => {
    const ends = Date.now() + 8000;
    const frozen = {
      ...t.config,
      freezes: {
        release: {
          from: new Date(Date.now() - 60_000).toISOString(),
          to: new Date(ends).toISOString(),
          environments: ['test'],
          reason: 'release day',
        },
      },
    };
    const before = (await handle.describe()).info.recentActions.length;
    await handle.trigger();
    const workflowId = await until('the triggered run', async () => {
      const actions = (await handle.describe()).info.recentActions;
      return actions.length > before ? actions.at(-1)?.action.workflow.workflowId : undefined;
    });
    const { waited, result, progress } = await fx.withWorker(frozen, async () => {
      const h = fx.client.workflow.getHandle(workflowId);
      const step = await until('the wait for the freeze', async () =>
        (await h.query(progressQuery)).steps.find((s) => s.name === 'freeze' && s.status === 'running'),
      );
      return { waited: step, result: await h.result(), progress: await h.query(progressQuery) };
    });
    assert.match(
      waited.detail ?? '',
      /^scheduled run waiting for the end of freeze release until .* \(release day\)$/,
    );
    assert.ok(Date.now() >= ends, 'it went ahead only once the freeze had ended');
    assert.equal(result.environments[0]?.status, 'rotated');
    assert.match(
      progress.steps.find((s) => s.name === 'freeze')?.detail ?? '',
      /^waited for the end of freeze release/,
    );
  });

  it('by hand during a freeze: refused without a reason, goes ahead with one, and the trail says so', async () => {
    const frozen = {
      ...t.config,
      freezes: {
        release: {
          from: new Date(Date.now() - 60_000).toISOString(),
          to: new Date(Date.now() + 3600_000).toISOString(),
          environments: ['test'],
          reason: 'release day',
        },
      },
    };
    const start = (more: { overrideFreeze?: string }) =>
      startRotation(fx.client, frozen, { environments: ['test'], ...more }, { taskQueue: fx.taskQueue });
    const { refused, result, runId } = await fx.withWorker(frozen, async () => {
      const refused = await failureOf((await start({})).result());
      const h = await start({ overrideFreeze: 'INC-7: the key leaked' });
      return { refused, result: await h.result(), runId: h.firstExecutionRunId };
    });
    assert.match(
      refused.message,
      /^test is frozen until .* \(freeze release: release day\); nothing was changed/,
    );
    assert.equal(result.environments[0]?.status, 'rotated');
    const record = (await runHistory(fx.client, { since: new Date(Date.now() - 3600_000) })).find(
      (r) => r.runId === runId,
    );
    assert.ok(record);
    assertMatchesSchema('history', { schema: 'rekey/history/1', ...record });
    assert.equal(record.freezeOverride, 'INC-7: the key leaked');
    assert.match(historyLine(record), /\n {2}through a freeze: INC-7: the key leaked\n/);
  });

  it('a quarterly rollover schedule starts rolloverSigningKey; its run names the next start as due', async () => {
    const k = keyringTopology('schedules-ring', portOf('schedules-ring'), '90d');
    await seedKeyring(k, portOf('schedules-ring'));
    const h = await createRolloverSchedule(fx.client, k.config, {
      keyring: 'api',
      every: 'quarter',
      taskQueue: fx.taskQueue,
    });
    try {
      const d = await h.describe();
      assert.equal(d.scheduleId, 'rollover/api');
      assert.equal(d.action.type === 'startWorkflow' && d.action.workflowType, 'rolloverSigningKey');
      assert.equal(d.policies.overlap, 'SKIP');
      assert.ok(d.info.nextActionTimes.every((at) => at.getUTCDate() === 1 && at.getUTCMonth() % 3 === 0));

      await h.trigger();
      const workflowId = await until(
        'the triggered rollover',
        async () => (await h.describe()).info.recentActions.at(-1)?.action.workflow.workflowId,
      );
      const result: RolloverResult = await fx.withWorker(k.config, async () => {
        const run = fx.client.workflow.getHandle(workflowId);
        // The 90-day overlap wait, ended by an approver.
        await until('the wait', async () => (await run.query(progressQuery)).pendingGate?.kind || undefined);
        await decide(fx.client, k.config, workflowId, 'expedite', 'alice', 'schedule test');
        return run.result();
      });
      assert.equal(result.nextRotation, d.info.nextActionTimes[0]?.toISOString());
    } finally {
      await h.delete();
      await stopReplicas(k);
    }
  });

  it('pause and unpause through the CLI', () => {
    const rekey = (...args: string[]) =>
      spawnSync(process.execPath, [join(resolve(__dirname, '../..'), 'bin/rekey'), 'schedule', ...args], {
        encoding: 'utf8',
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: testEnv().temporal.address,
          TEMPORAL_NAMESPACE: 'schedules',
        },
      });
    const paused = rekey('pause', 'rotate-jwt/test', '--note', 'freeze');
    assert.equal(paused.status, 0, paused.stderr);
    assert.match(rekey('describe', 'rotate-jwt/test').stdout, /rotate-jwt\/test: paused \(freeze\)/);
    assert.equal(rekey('unpause', 'rotate-jwt/test').status, 0);
    const desc = rekey('describe', 'rotate-jwt/test').stdout;
    assert.match(desc, /rotate-jwt\/test: active/);
    assert.match(desc, /every: quarterly; overlap SKIP, catch-up window 24h/);
    // The triggered run and the one that waited for a freeze.
    assert.match(desc, /runs: 2 started/);
    assert.match(rekey('list').stdout, /rotate-jwt\/test {2}active/);
    // The same for a script.
    const doc = JSON.parse(rekey('describe', 'rotate-jwt/test', '--json').stdout);
    assertMatchesSchema('schedule', doc);
    assert.deepEqual(
      [doc.paused, doc.workflowType, doc.every, doc.overlap, doc.runsStarted],
      [false, 'rotateJwtKeys', 'quarterly', 'SKIP', 2],
    );
    const listed = JSON.parse(rekey('list', '--json').stdout);
    assertMatchesSchema('schedule-list', listed);
    assert.ok(listed.schedules.some((s: { scheduleId: string }) => s.scheduleId === 'rotate-jwt/test'));
    const bad = rekey(
      'create',
      'rotate-jwt',
      '--env',
      'test',
      '--every',
      'fortnight',
      '--yes',
      '--config',
      t.configFile,
    );
    assert.equal(bad.status, 2);
    assert.match(
      bad.stderr,
      /--every must be one of quarter, month, week, day or a number of days \(90d\), not "fortnight"/,
    );
    const dup = rekey(
      'create',
      'rotate-jwt',
      '--env',
      'test',
      '--every',
      'quarter',
      '--yes',
      '--config',
      t.configFile,
    );
    assert.equal(dup.status, 2);
    assert.match(dup.stderr, /schedule rotate-jwt\/test already exists/);
  });
});
