// One run for every secret of an environment (rekey secret rotate --due|--all, rotateSecrets)
// against moto_server's SSM Parameter Store and a consumer app on the local host that reads its
// token from SSM when deployed (the parameter-store runbook: update every value, then one deploy):
// the app restarts once for all of its secrets, each secret gets a new version, a failed probe
// puts every secret back and restarts the app on the old values, and a secret's own rotation and
// the run over all of them never go at once.

import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { startSecretRotation, startSecretsRotation } from '../client/runs/secret';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { lockHolderOf } from '../shared/lock-holder';
import { SsmStore } from '../stores/aws-ssm/driver';
import { progressQuery } from '../workflows/messages';
import {
  assertNoSecrets,
  failureOf,
  historyText,
  rekeyAsync,
  type TemporalFixture,
  temporalFixture,
} from './helpers';
import { approversConfig } from './infra/approvers';
import { testEnv } from './infra/env';
import { assertMatchesSchema } from './infra/json-schemas';
import { portOf } from './infra/ports';
import { buildTopology, type Topology } from './infra/topology';
import { until } from './infra/until';

process.env.AWS_ACCESS_KEY_ID ??= 'testing';
process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';

const CONSUMER = join(__dirname, 'infra', 'secret-consumer.js');

describe('secrets: one run for everything due (rotateSecrets) on SSM Parameter Store', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let config: Config;
  let gated: Config;
  let gatedFile: string;
  let ssm: SsmStore;
  const prefix = `/batch-${randomBytes(3).toString('hex')}`;
  const param = (what: string) => `${prefix}/local/${what}`;
  const values: string[] = [];
  let appDir: string;
  let port: number;

  before(async () => {
    fx = await temporalFixture('secret-batch');
    port = portOf('secret-batch') + 1;
    t = buildTopology('secret-batch', portOf('secret-batch'));
    appDir = join(t.dir, 'app');
    for (const leftover of [appDir, ...['revoked.log', 'fail-probe', 'hold'].map((f) => join(t.dir, f))])
      rmSync(leftover, { recursive: true, force: true });
    // The local host's app dir, where its commands run.
    mkdirSync(join(t.dir, 'local-app'), { recursive: true });
    const aws = testEnv().aws;
    const doc = parse(readFileSync(t.configFile, 'utf8'));
    doc.stores.ssm = { type: 'aws-ssm', region: aws.region, endpoint: aws.endpoint };
    const deploy = `mkdir -p ${appDir} && cd ${appDir} && echo restart >> restarts.log && SSM_ENDPOINT=${aws.endpoint} PARAM=${param('API_TOKEN')} PORT=${port} node ${CONSUMER} deploy`;
    doc.services.app = {
      driver: 'command',
      start: deploy,
      restart: deploy,
      stop: `cd ${appDir} && PORT=${port} node ${CONSUMER} stop`,
      logs: 'true',
    };
    const ssmAt = (name: string) => ({ store: 'ssm', name: `${prefix}/{env}/${name}` });
    const recipe = (extra: Record<string, unknown>) => ({
      environments: ['local'],
      generator: { type: 'random', bytes: 24, encoding: 'hex' },
      rotateEvery: '90d',
      ...extra,
    });
    doc.secrets = {
      'api-token': recipe({
        locations: [ssmAt('API_TOKEN')],
        consumers: ['app'],
        verify: [
          {
            command: `cd ${appDir} && PORT=${port} node ${CONSUMER} probe`,
            secretOnStdin: true,
            within: '10s',
          },
        ],
      }),
      // Probed by a check the test can make fail.
      'session-key': recipe({
        locations: [ssmAt('SESSION_KEY')],
        consumers: ['app'],
        verify: [{ command: `test ! -f ${join(t.dir, 'fail-probe')}`, within: '2s' }],
      }),
      'webhook-secret': recipe({
        locations: [ssmAt('WEBHOOK_SECRET'), ssmAt('WEBHOOK_SECRET_COPY')],
        consumers: ['app'],
      }),
      // Its probe waits while the test holds it (a run then keeps its locks).
      'report-key': recipe({
        locations: [ssmAt('REPORT_KEY')],
        verify: [{ command: `while [ -f ${join(t.dir, 'hold')} ]; do sleep 0.2; done`, within: '60s' }],
        revoke: { command: `cat > /dev/null && echo revoked >> ${join(t.dir, 'revoked.log')}` },
      }),
      // A person issues it: never part of the batch.
      'neon-key': recipe({
        generator: { type: 'manual', issuer: 'Neon console', within: '1h' },
        locations: [ssmAt('NEON_KEY')],
      }),
    };
    doc.approvals = { ...doc.approvals, approvers: approversConfig(['alice']) };
    writeFileSync(t.configFile, stringify(doc));
    config = loadConfig(t.configFile);
    // The same, with local behind a gate: runs wait there holding their locks.
    gatedFile = join(t.dir, 'rekey-gated.yaml');
    writeFileSync(gatedFile, stringify({ ...doc, approvals: { ...doc.approvals, requiredFor: ['local'] } }));
    gated = loadConfig(gatedFile);
    ssm = new SsmStore('ssm', { type: 'aws-ssm', region: aws.region, endpoint: aws.endpoint });
    for (const p of [
      'API_TOKEN',
      'SESSION_KEY',
      'WEBHOOK_SECRET',
      'WEBHOOK_SECRET_COPY',
      'REPORT_KEY',
      'NEON_KEY',
    ]) {
      const v = `first-${p.toLowerCase()}-${randomBytes(12).toString('hex')}`;
      values.push(v);
      await ssm.set(param(p), v, {});
    }
  });
  after(async () => {
    // The app stops with the suite.
    if (appDir && existsSync(appDir)) execSync(`cd ${appDir} && PORT=${port} node ${CONSUMER} stop`);
    await fx?.close();
  });

  const cli = (args: string[], file = t.configFile) =>
    rekeyAsync([...args, '--config', file], {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: testEnv().temporal.address,
        TEMPORAL_NAMESPACE: 'secret-batch',
        REKEY_TASK_QUEUE: fx.taskQueue,
      },
    });
  /** The run over every secret of local, and one secret's own rotation, as `cfg`'s worker sees them. */
  const startAll = (cfg: Config) =>
    startSecretsRotation(
      fx.client,
      cfg,
      { environment: 'local', select: 'all' },
      { taskQueue: fx.taskQueue },
    );
  const startOne = (cfg: Config, secret: string) =>
    startSecretRotation(fx.client, cfg, { secret, environment: 'local' }, { taskQueue: fx.taskQueue });
  const restarts = () =>
    existsSync(join(appDir, 'restarts.log'))
      ? readFileSync(join(appDir, 'restarts.log'), 'utf8').split('\n').length - 1
      : 0;
  const newest = async (p: string) => (await ssm.get(param(p))).value;
  /** The app answers 200 to `token` (the one it loaded at its last deploy). */
  const appTakes = async (token: string) =>
    (await fetch(`http://127.0.0.1:${port}/`, { headers: { authorization: `Bearer ${token}` } })).status ===
    200;

  it('--due with nothing due: the plan names each recipe and why, nothing changes', async () => {
    await fx.withWorker(config, async () => {
      const r = await cli(['secret', 'rotate', '--due', '--env', 'local', '--yes', '--wait']);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /left alone: api-token \(not due until \d{4}-\d\d-\d\d\)/);
      assert.match(r.out, /left alone: neon-key \(a person issues its value: rotated on its own\)/);
      assert.match(r.out, /nothing due in local/);
      assert.equal(restarts(), 0);
    });
  });

  it('--all: one plan, every secret written, the app restarted once for all of them, the old value revoked', async () => {
    const before = { api: await newest('API_TOKEN'), hook: await newest('WEBHOOK_SECRET') };
    await fx.withWorker(config, async () => {
      const dry = await cli(['secret', 'rotate', '--all', '--env', 'local', '--dry-run']);
      assert.equal(dry.code, 0, dry.out);
      assert.match(dry.out, /4 secret\(s\) of local in one run \(all of them\)/);
      assert.match(dry.out, /restart once: app/);
      assert.match(
        dry.out,
        /then revoke the old value of report-key; on any failure before that, every secret is put back and the consumers restarted on the old values/,
      );
      const r = await cli(['secret', 'rotate', '--all', '--env', 'local', '--yes', '--wait', '--json']);
      assert.equal(r.code, 0, r.out);
      const doc = JSON.parse(r.stdout);
      assertMatchesSchema('run', doc);
      assert.equal(doc.state, 'completed');
      assert.deepEqual(Object.keys(doc.result.written).sort(), [
        'api-token',
        'report-key',
        'session-key',
        'webhook-secret',
      ]);
      assert.deepEqual(doc.result.revoked, ['report-key']);
      assertNoSecrets(r.out, values);
      // It held the environment's secrets (a lock workflow naming it, released with the run).
      const lock = await fx.client.workflow.getHandle('lock/secrets/local').describe();
      assert.deepEqual(
        [lock.type, lock.status.name, lockHolderOf(lock)?.workflowId],
        ['environmentLock', 'TERMINATED', 'rotate-secrets/local'],
      );
      const history = await historyText(fx.client, 'rotate-secrets/local');
      assertNoSecrets(history, [...values, await newest('API_TOKEN'), await newest('SESSION_KEY')]);
    });
    assert.equal(restarts(), 1, 'the app restarted once, for its three secrets');
    const api = await newest('API_TOKEN');
    assert.notEqual(api, before.api);
    assert.ok(await appTakes(api), 'the app took the new token');
    assert.ok(!(await appTakes(before.api)), 'and refuses the old one');
    assert.equal(
      await newest('WEBHOOK_SECRET_COPY'),
      await newest('WEBHOOK_SECRET'),
      'both locations hold the same value',
    );
    assert.notEqual(await newest('WEBHOOK_SECRET'), before.hook);
    assert.equal(readFileSync(join(t.dir, 'revoked.log'), 'utf8'), 'revoked\n');
    assert.ok(values.includes(await newest('NEON_KEY')), 'the manual recipe was left alone');
  });

  it('a failed probe: every secret put back, the app restarted on the old values', async () => {
    const before = Object.fromEntries(
      await Promise.all(
        ['API_TOKEN', 'SESSION_KEY', 'WEBHOOK_SECRET', 'REPORT_KEY'].map(async (p) => [p, await newest(p)]),
      ),
    );
    const restartsBefore = restarts();
    writeFileSync(join(t.dir, 'fail-probe'), '');
    try {
      await fx.withWorker(config, async () => {
        const h = await startAll(config);
        const f = await failureOf(h.result());
        assert.equal(f.type, 'VerifyFailed', f.message);
        assert.match(f.message, /secret session-key in local: test ! -f .* did not pass within 2s/);
        assert.match(
          f.message,
          /every secret written \(api-token, session-key, webhook-secret, report-key\) was put back and the consumers restarted on the old values/,
        );
      });
    } finally {
      rmSync(join(t.dir, 'fail-probe'), { force: true });
    }
    for (const [p, v] of Object.entries(before))
      assert.equal(await newest(p), v, `${p} is its old value again`);
    assert.equal(restarts(), restartsBefore + 2, 'restarted on the new values, then once on the old');
    assert.ok(await appTakes(before.API_TOKEN as string), 'the app runs on the old token again');
    assert.equal(readFileSync(join(t.dir, 'revoked.log'), 'utf8'), 'revoked\n', 'nothing more revoked');
  });

  it("a secret's own rotation and the run over all of them never go at once; a gate holds neither", async () => {
    const hold = join(t.dir, 'hold');
    // At its gate, the run over all of them holds no secret: a secret's own rotation goes on.
    await fx.withWorker(gated, async () => {
      const batch = await startAll(gated);
      await until('the batch at its gate', async () => (await batch.query(progressQuery)).pendingGate);
      const one = await startOne(gated, 'report-key');
      await until('the single run at its gate too', async () => (await one.query(progressQuery)).pendingGate);
      await Promise.all([batch.cancel(), one.cancel()]);
      await Promise.all([failureOf(batch.result()), failureOf(one.result())]);
    });
    await fx.withWorker(config, async () => {
      // The run over all of them probes report-key until the test lets go: it holds its locks.
      writeFileSync(hold, '');
      const batch = await startAll(config);
      await until('the batch probing', async () => (await batch.query(progressQuery)).current === 'verify');
      const single = await cli(['secret', 'rotate', 'report-key', '--env', 'local', '--yes', '--wait']);
      assert.notEqual(single.code, 0, single.out);
      assert.match(single.out, /secrets local is in use by rotate-secrets\/local; nothing was changed/);
      rmSync(hold);
      await batch.result();
      // A secret's own rotation probes until the test lets go: the run over all of them does not start.
      writeFileSync(hold, '');
      const one = await startOne(config, 'report-key');
      await until(
        'the single run probing',
        async () => (await one.query(progressQuery)).current === 'verify',
      );
      const all = await cli(['secret', 'rotate', '--all', '--env', 'local', '--yes', '--wait']);
      assert.notEqual(all.code, 0, all.out);
      assert.match(
        all.out,
        /secret report-key\/local is in use by rotate-secret\/report-key\/local; nothing was changed/,
      );
      rmSync(hold);
      await one.result();
    });
  });

  it('a schedule does the same every day (secrets-due)', async () => {
    await fx.withWorker(config, async () => {
      const created = await cli([
        'schedule',
        'create',
        'secrets-due',
        '--env',
        'local',
        '--every',
        'day',
        '--yes',
      ]);
      assert.equal(created.code, 0, created.out);
      const schedule = fx.client.schedule.getHandle('rotate-secrets/local');
      try {
        const described = await cli(['schedule', 'describe', 'rotate-secrets/local', '--json']);
        assert.equal(JSON.parse(described.stdout).workflowType, 'rotateSecrets');
        await schedule.trigger();
        const started = await until(
          'the scheduled run',
          async () => (await schedule.describe()).info.recentActions[0]?.action.workflow,
        );
        assert.notEqual(started.workflowId, 'rotate-secrets/local');
        const r = await fx.client.workflow.getHandle(started.workflowId).result();
        assert.equal(r.plan.select, 'due');
        assert.deepEqual(r.written, {}, 'nothing is due: nothing changed');
      } finally {
        await schedule.delete();
      }
    });
  });
});
