// Metrics and alerts: the alert rules pass `promtool check rules` and their unit tests (each alert
// fires on its series and not on the others), and a real Prometheus server scraping
// `rekey worker --metrics` sees a run counted, a gate's gauge rise while it waits and fall once it
// is decided, each step's duration and a secret's age and time until due.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { startRotation } from '../client/runs/rotate';
import { approveUpdate, progressQuery } from '../workflows/messages';
import { testEnv } from './infra/env';
import { portOf } from './infra/ports';
import { seedLocalPair, storeOnlyLocal, type Topology } from './infra/topology';
import { until } from './infra/until';
import { kill, startWorker } from './infra/worker-process';

const repo = resolve(__dirname, '../..');
const RULES = join(repo, 'deploy/prometheus/rekey-rules.yml');
const METRICS = portOf('metrics') + 1;
const PROMETHEUS = portOf('metrics') + 2;

describe('alert rules (promtool)', () => {
  it('are valid rules', () => {
    assert.match(execFileSync('promtool', ['check', 'rules', RULES]).toString(), /SUCCESS: 6 rules found/);
  });

  it('fire on the series each is for and on no other (promtool test rules)', () => {
    const out = execFileSync('promtool', [
      'test',
      'rules',
      join(repo, 'test/prometheus/rekey-rules.test.yml'),
    ]);
    assert.match(out.toString(), /SUCCESS/);
  });
});

describe('rekey worker --metrics, scraped by a real Prometheus server', () => {
  let t: Topology;
  let client: Client;
  let connection: Connection;
  let worker: ChildProcess;
  let prometheus: ChildProcess;

  /** The value of `expr` now, as Prometheus answers it (undefined: no series). */
  const query = async (expr: string): Promise<number | undefined> => {
    const res = await fetch(`http://127.0.0.1:${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
    const [first] = body.data.result;
    return first ? Number(first.value[1]) : undefined;
  };
  const reaches = (expr: string, ok: (v: number) => boolean) =>
    until(
      `${expr} in Prometheus`,
      async () => {
        const v = await query(expr);
        return v !== undefined && ok(v) ? v : undefined;
      },
      { timeoutMs: 90_000, everyMs: 500 },
    );

  before(async () => {
    t = storeOnlyLocal('metrics', portOf('metrics'), {
      approvals: { requiredFor: ['local'], approvers: ['alice'], mode: 'named', timeout: '1h' },
      secrets: {
        'api-token': {
          environments: ['local'],
          generator: { type: 'random', bytes: 32, encoding: 'hex' },
          locations: [{ store: 'kv-local', name: 'api-token-{env}' }],
          consumers: ['idle'],
          rotateEvery: '90d',
        },
      },
    });
    await seedLocalPair(t);
    await t.store('local').set('api-token-local', randomUUID(), {});

    const dir = join(t.dir, 'prometheus');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: [${JSON.stringify(RULES)}]`,
        'scrape_configs:',
        `  - { job_name: rekey-worker, static_configs: [{ targets: ["127.0.0.1:${METRICS}"] }] }`,
      ].join('\n'),
    );
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${PROMETHEUS}`,
      ],
      { stdio: 'ignore' },
    );
    connection = await Connection.connect({ address: testEnv().temporal.address });
    client = new Client({ connection, namespace: 'metrics' });
    const taskQueue = `rekey-metrics-${randomUUID()}`;
    worker = startWorker(t, 'metrics', taskQueue, ['--metrics', `127.0.0.1:${METRICS}`]);
    await reaches('up{job="rekey-worker"}', (v) => v === 1);

    const run = await startRotation(
      client,
      t.config,
      { environments: ['local'], syncMountedKeys: false, preserveToken: false },
      { taskQueue },
    );
    // The gate's gauges rise while it waits...
    await reaches('rekey_gates_pending', (v) => v === 1);
    await reaches('rekey_gate_waiting_seconds{workflow_id="rotate-jwt/local",gate="approval"}', (v) => v > 0);
    await reaches(
      'rekey_gate_timeout_seconds{workflow_id="rotate-jwt/local",gate="approval"}',
      (v) => v === 3600,
    );
    const digest = (await run.query(progressQuery)).pendingGate?.digest as string;
    await run.executeUpdate(approveUpdate, { args: [{ by: 'alice', digest }] });
    await run.result();
  });

  after(async () => {
    if (worker) await kill(worker);
    if (prometheus) await kill(prometheus);
    await connection?.close();
  });

  it('a gate that was decided reads 0 again, and none is pending', async () => {
    await reaches('rekey_gates_pending', (v) => v === 0);
    await reaches('rekey_gate_waiting_seconds{workflow_id="rotate-jwt/local"}', (v) => v === 0);
  });

  it('counts the run as started and completed, with its environments, and no failure', async () => {
    const labels = 'workflowType="rotateJwtKeys",environments="local",namespace="metrics"';
    assert.equal(await reaches(`rekey_runs_started_total{${labels}}`, (v) => v === 1), 1);
    assert.equal(await reaches(`rekey_runs_completed_total{${labels}}`, (v) => v === 1), 1);
    assert.equal(await query(`rekey_runs_failed_total{${labels}}`), undefined);
  });

  it('records each step’s duration', async () => {
    await reaches('rekey_step_duration_count{step="plan",status="done"}', (v) => v === 1);
    await reaches('rekey_step_duration_count{step="approval"}', (v) => v === 1);
  });

  it('exports when each secret was written and when it falls due', async () => {
    const now = Date.now() / 1000;
    const labels = '{secret="api-token",environment="local"}';
    const due = await reaches(`rekey_secret_due_timestamp_seconds${labels}`, (v) => v > 0);
    assert.ok(due > now + 89 * 86_400 && due <= now + 90 * 86_400, String(due));
    await reaches(`rekey_secret_changed_timestamp_seconds${labels}`, (v) => v > now - 3600 && v <= now);
  });

  it('the Grafana dashboard’s queries all run on this Prometheus, its headline panels with a value', async () => {
    const dashboard = JSON.parse(readFileSync(join(repo, 'deploy/grafana/rekey-dashboard.json'), 'utf8')) as {
      panels: { title: string; type: string; targets: { expr: string }[] }[];
    };
    assert.ok(dashboard.panels.length >= 8);
    for (const panel of dashboard.panels)
      for (const { expr } of panel.targets) {
        const q = expr.replaceAll('$__rate_interval', '1m');
        const res = await fetch(`http://127.0.0.1:${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
        assert.equal(body.status, 'success', `${panel.title}: ${expr}: ${body.error}`);
        if (panel.type === 'stat') assert.equal(body.data?.result.length, 1, `${panel.title}: one value`);
      }
    assert.equal(await query('count(up{job="rekey-worker"} == 1) or vector(0)'), 1);
  });

  it('serves the Temporal SDK’s own metrics beside them, and no rule fires', async () => {
    await reaches('temporal_num_pollers{poller_type="workflow_task"}', (v) => v > 0);
    assert.equal(await query('ALERTS{alertstate="firing"}'), undefined);
  });
});
