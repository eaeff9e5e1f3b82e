// The operator's path end to end: a `rekey worker` process and the CLI's rotate, status,
// approve and verify commands against the real dev server and hosts.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { parse, stringify } from 'yaml';
import { parseSshPublicKey, sshFingerprint } from '../shared/sshsig';
import { approversConfig, keyFile } from './infra/approvers';
import { testEnv } from './infra/env';
import { assertMatchesSchema } from './infra/json-schemas';
import { portOf } from './infra/ports';
import { buildTopology, type Seeded, seed, stopServices, type Topology, whoami } from './infra/topology';
import { until } from './infra/until';

const repo = resolve(__dirname, '../..');
const taskQueue = `rekey-cli-${randomUUID()}`;

function env() {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: testEnv().temporal.address,
    TEMPORAL_NAMESPACE: 'cli-temporal',
    REKEY_TASK_QUEUE: taskQueue,
  };
}

function rekey(...args: string[]) {
  return spawnSync(process.execPath, [join(repo, 'bin/rekey'), ...args], {
    encoding: 'utf8',
    env: env(),
    timeout: 120_000,
  });
}

describe('rekey CLI with a worker', () => {
  let t: Topology;
  let seeded: Seeded;
  let worker: ChildProcess;
  let workerLog = '';

  before(async () => {
    t = buildTopology('cli-temporal', portOf('cli-temporal'), {
      approvals: { requiredFor: ['prod'], approvers: approversConfig(['alice', 'bob']), timeout: '1h' },
    });
    seeded = await seed(t);
    worker = spawn(process.execPath, [join(repo, 'bin/rekey'), 'worker', '--config', t.configFile], {
      env: env(),
    });
    worker.stdout?.on('data', (d) => {
      workerLog += d;
    });
    worker.stderr?.on('data', (d) => {
      workerLog += d;
    });
    // The CLI refuses to start runs no worker would pick up: wait for this one to poll.
    await until(
      'the worker to poll',
      () =>
        rekey('rotate', '--env', 'dev', '--dry-run', '--config', t.configFile).status === 0
          ? true
          : undefined,
      { timeoutMs: 60_000, everyMs: 500 },
    );
  });
  after(async () => {
    if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await stopServices(t);
  });

  it('rotate waits at the gate; status shows it; a non-approver is refused; approve completes it', async () => {
    const started = rekey('rotate', '--env', 'prod', '--config', t.configFile);
    assert.equal(started.status, 0, started.stderr);
    assert.match(started.stdout, /started rotate-jwt\/prod/);
    // Announced once the run opened its gate, with the digest `approve` needs off a terminal.
    const hinted =
      /waiting for approval: rekey approve rotate-jwt\/prod --by NAME --digest (sha256:[0-9a-f]{16}) \[--key FILE\]/.exec(
        started.stdout,
      );
    assert.ok(hinted, started.stdout);

    const waiting = await until('the gate', () => {
      const s = rekey('status', 'rotate-jwt/prod');
      return /waiting for approval by 1 of alice, bob \(signed\)/.test(s.stdout) ? s.stdout : undefined;
    });
    assert.match(waiting, /\[done {3}\] plan: prod: new key for group prod/);
    assert.match(waiting, /digest: sha256:[0-9a-f]{64}/);
    // The same for a script: one JSON document matching schemas/status.schema.json.
    const json = rekey('status', 'rotate-jwt/prod', '--json');
    assert.equal(json.status, 0, json.stderr);
    const doc = JSON.parse(json.stdout);
    assertMatchesSchema('status', doc);
    assert.equal(doc.status, 'RUNNING');
    assert.equal(doc.progress.state, 'waiting-approval');
    assert.match(doc.progress.pendingGate.digest, /^sha256:[0-9a-f]{64}$/);

    const again = rekey('rotate', '--env', 'prod', '--config', t.configFile);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /a rotation of prod is already running \(rotate-jwt\/prod\)/);

    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(waiting)?.[1] ?? '';
    const approve = (by: string, key: string, ...more: string[]) =>
      rekey(
        'approve',
        'rotate-jwt/prod',
        '--by',
        by,
        '--key',
        keyFile(key as 'alice'),
        '--config',
        t.configFile,
        ...more,
      );

    // Not on a terminal: the approver names the plan they read.
    const blind = approve('alice', 'alice');
    assert.equal(blind.status, 2);
    assert.match(
      blind.stderr,
      /approve needs --digest PREFIX, the plan digest .* that rekey status rotate-jwt\/prod shows/,
    );
    assert.ok(digest.startsWith(hinted?.[1] ?? '-'), 'the hint names the digest status shows');
    const otherPlan = approve('alice', 'alice', '--digest', 'sha256:0123456789abcdef');
    assert.equal(otherPlan.status, 2);
    assert.match(
      otherPlan.stderr,
      /the plan at the gate is sha256:[0-9a-f]{64}, not sha256:0123456789abcdef:/,
    );
    // The right plan, but too little of its digest: said so, not "not".
    const short = approve('alice', 'alice', '--digest', digest.slice(0, 15));
    assert.equal(short.status, 2);
    assert.match(short.stderr, /--digest sha256:[0-9a-f]{8} is too short: give at least 23 characters/);

    const mallory = approve('mallory', 'mallory', '--digest', digest.slice(0, 30));
    assert.equal(mallory.status, 2);
    assert.match(mallory.stderr, /"mallory" is not an approver \(approvers: alice, bob\)/);
    // bob's key claiming to be alice: refused before anything is sent, naming both keys.
    const forged = approve('alice', 'bob', '--digest', digest.slice(0, 30));
    assert.equal(forged.status, 2);
    assert.match(forged.stderr, /is not alice's \(configured key SHA256:.*signed by another key/);

    const alice = approve(
      'alice',
      'alice',
      '--digest',
      digest.slice(0, 30),
      '--comment',
      'change 4711',
      '--json',
    );
    assert.equal(alice.status, 0, alice.stderr);
    const decided = JSON.parse(alice.stdout);
    assertMatchesSchema('decision', decided);
    assert.deepEqual(
      [decided.workflowId, decided.decision, decided.by, decided.outcome, decided.approvedBy],
      ['rotate-jwt/prod', 'approve', 'alice', 'passed', ['alice']],
    );
    assert.match(decided.gate, /prod: new ES256 pair/);

    const done = await until('completion', () => {
      const s = rekey('status', 'rotate-jwt/prod');
      return /COMPLETED/.test(s.stdout) ? s.stdout : undefined;
    });
    assert.match(done, /\[done {3}\] rotate prod/);
    assert.doesNotMatch(done, /by mallory/, 'a refused decision leaves no trace');
    assert.match(done, /approve by alice .*\(signature verified\): change 4711/);
    assert.equal((await whoami(t, 'prod', seeded.tokens.prod)).status, 401, 'the old key is gone from prod');

    // The audit trail: the run, who approved it with which key, and what changed; no value.
    const history = rekey('history', '--env', 'prod', '--json', '--config', t.configFile);
    assert.equal(history.status, 0, history.stderr);
    const records = history.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    for (const r of records) assertMatchesSchema('history', r);
    // Found by what its history says (visibility's status may lag the close by a moment).
    const run = records.find((r) => r.workflowId === 'rotate-jwt/prod' && r.changes.length > 0);
    assert.ok(run, history.stdout);
    const aliceKey = sshFingerprint(parseSshPublicKey(t.config.approvals.approvers.alice as string));
    assert.deepEqual(
      run.decisions.map((d: { decision: string; by: string; signer?: string; comment?: string }) => [
        d.decision,
        d.by,
        d.signer,
        d.comment,
      ]),
      [['approve', 'alice', aliceKey, 'change 4711']],
    );
    assert.match(
      run.changes.join('\n'),
      /^prod: key [0-9a-f]+ -> [0-9a-f]+, token identity kept iss=\S+ sub=\S+/m,
    );
    assert.doesNotMatch(history.stdout, /BEGIN|PRIVATE|eyJ/, 'no key or token in the trail');
    const text = rekey('history', '--env', 'prod', '--config', t.configFile);
    assert.match(text.stdout, /rotate-jwt\/prod rotateJwtKeys prod: COMPLETED/);
    assert.match(text.stdout, /approve by alice \(SHA256:[^)]+\) at \S+: change 4711/);
  });

  it('a gate the CLI announces is a gate the run has: a worker whose config disagrees refuses', async () => {
    // The CLI's copy of rekey.yaml requires an approval for dev; the running worker's does not.
    const doc = parse(readFileSync(t.configFile, 'utf8'));
    doc.approvals.requiredFor = ['prod', 'dev'];
    const edited = join(t.dir, 'rekey-edited.yaml');
    writeFileSync(edited, stringify(doc));
    const versions = (await t.store('dev').listVersions(t.config.secretNames.privateKey)).length;
    const res = rekey('rotate', '--env', 'dev', '--wait', '--config', edited);
    assert.equal(res.status, 2, 'refused at its first checks, nothing changed');
    assert.match(
      res.stdout + res.stderr,
      /the starter's rekey\.yaml and worker \d+@\S+ \(config \S+rekey\.yaml, [0-9a-f]{16}\) differ in what this run uses: dev approvals\. The worker reads rekey\.yaml only at start \(restart it after editing\).*nothing was changed/,
    );
    assert.equal(
      (await t.store('dev').listVersions(t.config.secretNames.privateKey)).length,
      versions,
      'no key',
    );
  });

  it('a worker whose rekey.yaml changed on disk refuses new runs until restarted, and says so', async () => {
    const text = readFileSync(t.configFile, 'utf8');
    const versions = (await t.store('dev').listVersions(t.config.secretNames.privateKey)).length;
    writeFileSync(t.configFile, `${text}\n# edited while the worker runs\n`);
    try {
      const res = rekey('rotate', '--env', 'dev', '--yes', '--wait', '--config', t.configFile);
      assert.equal(res.status, 2, res.stdout + res.stderr);
      assert.match(
        res.stdout + res.stderr,
        /worker \d+@\S+ \(config \S+rekey\.yaml, [0-9a-f]{16}\): its rekey\.yaml changed on disk since it started \([0-9a-f]{16} now\): it still runs the one it loaded; restart it to use the new one; nothing was changed/,
      );
    } finally {
      writeFileSync(t.configFile, text);
    }
    assert.equal(
      (await t.store('dev').listVersions(t.config.secretNames.privateKey)).length,
      versions,
      'no key',
    );
  });

  it('verify reports parity and policy across stores and hosts', () => {
    const res = rekey('verify', '--config', t.configFile);
    assert.equal(res.status, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /ok: pairs match, policy holds/);
    assert.equal(res.stdout.trim().split('\n').length, 5);
  });

  it('a dry run with --wait prints the plan and exits 0', () => {
    const res = rekey('rotate', '--env', 'dev', '--dry-run', '--config', t.configFile);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /also rotating \(same key group\): local/);
    assert.match(res.stdout, /plan dev: group shared/);
    assert.match(res.stdout, /dry run: nothing was changed/);
  });

  it('--json: a dry run’s plan, a gated run’s gate and how it ended, each as one document', async () => {
    const dry = rekey('rotate', '--env', 'dev', '--dry-run', '--json', '--config', t.configFile);
    assert.equal(dry.status, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout);
    assertMatchesSchema('run', plan);
    assert.deepEqual([plan.state, plan.ok, plan.dryRun], ['completed', true, true]);
    assert.deepEqual(plan.result.plan.environments.map((e: { env: string }) => e.env).sort(), [
      'dev',
      'local',
    ]);

    // Started without --wait: where it waits, for a script to hand to an approver.
    const started = rekey('rotate', '--env', 'prod', '--json', '--config', t.configFile);
    assert.equal(started.status, 0, started.stderr);
    const gate = JSON.parse(started.stdout);
    assertMatchesSchema('run', gate);
    assert.equal(gate.state, 'waiting-approval');
    assert.match(
      gate.gate.command,
      /^rekey approve rotate-jwt\/prod --by NAME --digest sha256:[0-9a-f]{16} \[--key FILE\]$/,
    );
    assert.deepEqual(gate.gate.approvers, ['alice', 'bob']);

    // A second start is refused before anything (exit 2, the reason on stderr, no document).
    const follow = promisify(execFile)(
      process.execPath,
      [join(repo, 'bin/rekey'), 'rotate', '--env', 'prod', '--wait', '--json', '--config', t.configFile],
      { env: env() },
    ).then(
      () => assert.fail('the rotation was already running: refused'),
      (err: { code: number; stderr: string }) => err,
    );
    const refused = await follow;
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /a rotation of prod is already running/);
    const cancelled = rekey('cancel', 'rotate-jwt/prod', '--reason', 'json test', '--json');
    assert.equal(cancelled.status, 0, cancelled.stderr);
    const doc = JSON.parse(cancelled.stdout);
    assertMatchesSchema('cancel', doc);
    assert.equal(doc.outcome, 'cancelled');
    assert.equal(doc.steps.find((s: { name: string }) => s.name === 'approval')?.status, 'cancelled');
  });

  it('--wait --json says how a run ended: failed, with why, and the gate it waited at', async () => {
    const run = promisify(execFile)(
      process.execPath,
      [join(repo, 'bin/rekey'), 'rotate', '--env', 'prod', '--wait', '--json', '--config', t.configFile],
      { env: env() },
    ).then(
      () => assert.fail('a cancelled run exits 1'),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    await until('the gate', () =>
      rekey('status', 'rotate-jwt/prod', '--json').stdout.includes('"waiting-approval"') ? true : undefined,
    );
    // Let the waiter see the gate before the run ends.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(rekey('cancel', 'rotate-jwt/prod', '--reason', 'json test').status, 0);
    const ended = await run;
    assert.equal(ended.code, 1, ended.stderr);
    const doc = JSON.parse(ended.stdout);
    assertMatchesSchema('run', doc);
    assert.equal(doc.state, 'failed');
    assert.match(doc.failure, /cancel/i);
    assert.match(doc.gate.digest, /^sha256:[0-9a-f]{64}$/);
  });

  it('sync-status shows each data dir size and names a host it cannot read', async () => {
    const host = await t.host('prod');
    try {
      await host.writeFileAtomic(`${host.dataDir}/blob.bin`, Buffer.alloc(3 * 1024 * 1024), 0o644);
    } finally {
      await host.close();
    }
    const res = rekey('sync-status', '--config', t.configFile);
    assert.equal(res.status, 0, res.stderr);
    const lines = res.stdout.trim().split('\n');
    assert.equal(lines.length, 5);
    assert.match(lines.find((l) => l.startsWith('prod')) ?? '', /^prod +vm-prod +3\.\d MiB/);

    const doc = parse(readFileSync(t.configFile, 'utf8'));
    doc.hosts['vm-dev'].knownHosts = '/dev/null';
    const bad = join(t.dir, 'bad-known-hosts.yaml');
    writeFileSync(bad, stringify(doc));
    const refused = rekey('sync-status', '--config', bad);
    assert.equal(refused.status, 1);
    assert.match(refused.stdout, /^dev +vm-dev +HostKeyMismatch/m);
    const json = rekey('sync-status', '--config', bad, '--json');
    assert.equal(json.status, 1);
    const sizes = JSON.parse(json.stdout);
    assertMatchesSchema('sync-status', sizes);
    const byEnv = Object.fromEntries(sizes.environments.map((e: { env: string }) => [e.env, e]));
    assert.deepEqual([byEnv.dev.bytes, byEnv.dev.problem], [null, 'HostKeyMismatch']);
    assert.ok(byEnv.prod.bytes >= 3 * 1024 * 1024, String(byEnv.prod.bytes));
  });

  it('status of an unknown run is bad input: exit 2, naming the run and the namespace', () => {
    const res = rekey('status', 'rotate-jwt/nope');
    assert.equal(res.status, 2);
    assert.match(res.stderr, /no run "rotate-jwt\/nope" in namespace cli-temporal at /);
  });

  it("status of a workflow that is not rekey's names its type and queue: exit 2", async () => {
    const connection = await Connection.connect({ address: testEnv().temporal.address });
    const client = new Client({ connection, namespace: 'cli-temporal' });
    // No worker polls its queue: a progress query would wait and fail opaquely.
    const other = await client.workflow.start('someoneElses', {
      taskQueue: 'elsewhere',
      workflowId: 'not-rekey/x',
    });
    try {
      const res = rekey('status', 'not-rekey/x');
      assert.equal(res.status, 2, res.stdout + res.stderr);
      assert.match(
        res.stderr,
        /not-rekey\/x is a someoneElses on task queue elsewhere, not a rekey run: it has no steps to show/,
      );
    } finally {
      await other.terminate('test done');
      await connection.close();
    }
  });

  it('--wait says what the run waits for; cancel ends it, runs its undo and says what happened', async () => {
    const versions = async () => (await t.store('prod').listVersions(t.config.secretNames.privateKey)).length;
    const before = await versions();
    const waiter = spawn(
      process.execPath,
      [join(repo, 'bin/rekey'), 'rotate', '--env', 'prod', '--wait', '--config', t.configFile],
      {
        env: env(),
      },
    );
    let out = '';
    waiter.stdout?.on('data', (d) => {
      out += d;
    });
    waiter.stderr?.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((res) => waiter.once('exit', res));
    await until('the waiter to say what it waits for', () =>
      /waiting at approval for alice, bob \(rekey approve rotate-jwt\/prod --by NAME --digest sha256:[0-9a-f]{16} \[--key FILE\]\)/.test(
        out,
      )
        ? true
        : undefined,
    );
    // Meanwhile prod is held: a promotion out of it is refused before any change, exit 2.
    const busy = await promisify(execFile)(
      process.execPath,
      [join(repo, 'bin/rekey'), 'promote', 'prod', 'test', '--yes', '--wait', '--config', t.configFile],
      { env: env() },
    ).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(busy?.code, 2, busy?.stderr);
    assert.match(busy?.stderr ?? '', /env prod is in use by rotate-jwt\/prod; nothing was changed/);

    const cancelled = rekey('cancel', 'rotate-jwt/prod', '--reason', 'wrong window');
    assert.equal(cancelled.status, 0, cancelled.stderr);
    assert.match(cancelled.stdout, /cancel requested for rotate-jwt\/prod/);
    assert.match(cancelled.stdout, /rotate-jwt\/prod: cancelled/);
    assert.match(cancelled.stdout, /\[done {3}\] plan/);
    assert.equal(await exited, 1, out);
    assert.match(out, /the run failed: .*cancel/i);
    assert.equal(await versions(), before, 'nothing was staged');

    const again = rekey('cancel', 'rotate-jwt/prod');
    assert.equal(again.status, 2);
    assert.match(again.stderr, /rotate-jwt\/prod is not running: it is cancelled/);
  });

  it('the worker shuts down gracefully on SIGTERM', async () => {
    const code = await new Promise<number | null>((res) => {
      worker.once('exit', (c) => res(c));
      worker.kill('SIGTERM');
    });
    assert.equal(code, 0, workerLog);
    assert.match(workerLog, /^rekey worker: .* task queue rekey-cli-\S+\n/);
    assert.match(workerLog, /\nrekey worker: stopped\n$/);
    assert.doesNotMatch(workerLog, /\[INFO\]|bundle/i, 'no SDK or bundler chatter at the default level');
    // The runs refused and cancelled above: one line each, no stack trace.
    assert.match(
      workerLog,
      /\[WARN\] Workflow failed rotateJwtKeys rotate-jwt\/dev\+local: .*nothing was changed\n/,
    );
    assert.doesNotMatch(workerLog, /\n\s+at /, 'no stack trace');
  });
});
