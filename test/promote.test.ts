// Staged promotion prod -> test -> dev over real sshd hosts and rsync: each destination ends with
// the source's data, its own key and a token re-signed by it with the source's identity.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { followRsync, parseStats } from '../activities/rsync-output';
import { readTokenFromToml, signedBy, tokenIdentity } from '../activities/tokens';
import { exclusive } from '../activities/transfer-lock';
import { formatHops } from '../client/format';
import { runHistory } from '../client/history';
import { openHost } from '../hosts/connect';
import { shellQuote } from '../hosts/shell';
import { resolveOnHost } from '../hosts/types';
import { promote } from '../workflows';
import type { HopResult } from '../workflows/hop-plan';
import { progressQuery } from '../workflows/messages';
import {
  activitySteps,
  assertNoSecrets,
  failureOf,
  historyText,
  rekeyAsync,
  type TemporalFixture,
} from './helpers';
import { approversConfig, decide } from './infra/approvers';
import { assertMatchesSchema } from './infra/json-schemas';
import { portOf } from './infra/ports';
import { seededSuite } from './infra/suite';
import {
  besideData,
  buildTopology,
  dataManifest,
  type Env,
  onHost,
  type Seeded,
  seed,
  stopServices,
  type Topology,
  whoami,
} from './infra/topology';
import { until } from './infra/until';

const repo = resolve(__dirname, '../..');

describe('promote', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let seeded: Seeded;

  seededSuite(
    'promote',
    () => buildTopology('promote', portOf('promote')),
    (s) => {
      ({ fx, t, seeded } = s);
    },
  );
  before(async () => {
    // seed() wrote every host's files in the same second, with the same sizes: give prod's their
    // own mtime, or rsync's quick check (size + mtime) would rightly skip them.
    await onHost(t, 'prod', (h) =>
      h.exec(
        `cd ${h.dataDir} && mkdir -p db/segments/0001 && head -c 3000000 /dev/urandom > db/segments/0001/log.bin && echo one > db/a.txt && ln -f db/a.txt db/a-link.txt && echo meta > db/segments/meta.json && find . -exec touch -h -d '2026-01-01 00:00:00' {} +`,
      ),
    );
    await onHost(t, 'test', (h) => h.exec(`cd ${h.dataDir} && echo stale > only-on-test.txt`));
  });

  it('`rekey promote --dry-run --wait` shows the plan, deletions included, and changes nothing', async () => {
    const before = await dataManifest(t, 'test');
    const cli = await fx.withWorker(t.config, () =>
      promisify(execFile)(
        process.execPath,
        [join(repo, 'bin/rekey'), 'promote', 'prod', 'test', '--dry-run', '--wait', '--config', t.configFile],
        {
          env: {
            ...process.env,
            TEMPORAL_ADDRESS: t.env.temporal.address,
            TEMPORAL_NAMESPACE: 'promote',
            REKEY_TASK_QUEUE: fx.taskQueue,
          },
        },
      ),
    );
    assert.match(
      cli.stdout,
      /prod -> test: add \d+, change \d+, delete 1 \(only-on-test\.txt\), \d+ bytes \(dry run: nothing changed\)/,
    );
    const hops: HopResult[] = await fx.client.workflow.getHandle('promote/prod..test').result();
    const plan = hops[0]?.plan;
    assert.ok(plan && plan.add >= 4, JSON.stringify(plan));
    assert.deepEqual(plan.deletions, ['only-on-test.txt']);
    assert.ok(plan.bytes >= 3_000_000);
    assert.equal(await dataManifest(t, 'test'), before);
    assert.equal((await whoami(t, 'test', seeded.tokens.test)).status, 200, 'test still serving as before');
  });

  it('prod -> test -> dev: same data, hard links kept, destination-only file gone, own key, same identity', async () => {
    const hops: HopResult[] = await fx.withWorker(t.config, async () => {
      const h = await fx.client.workflow.start(promote, {
        taskQueue: fx.taskQueue,
        workflowId: 'promote/prod..test..dev',
        args: [{ chain: ['prod', 'test', 'dev'] }],
      });
      return h.result();
    });
    assert.deepEqual(
      hops.map((h) => [h.from, h.to, h.identity?.sub]),
      [
        ['prod', 'test', 'publisher-prod'],
        ['test', 'dev', 'publisher-prod'],
      ],
    );
    const prod = await dataManifest(t, 'prod');
    assert.match(prod, /\.\/db\/a-link\.txt 2/);
    assert.equal(await dataManifest(t, 'test'), prod);
    assert.equal(await dataManifest(t, 'dev'), prod);
    for (const e of ['test', 'dev'] as Env[]) {
      const { token, key } = await onHost(t, e, async (h) => ({
        token: readTokenFromToml(
          (await h.readFile(resolveOnHost(h, t.config.paths.cliToml)))?.toString() ?? '',
          'spacetimedb_token',
          e,
        ),
        key: (await h.readFile(resolveOnHost(h, '.generated/spacetimedb-keys/id_ecdsa')))?.toString() ?? '',
      }));
      assert.deepEqual(
        tokenIdentity(token),
        tokenIdentity(seeded.tokens.prod),
        `${e}: the source's identity`,
      );
      assert.equal(await signedBy(token, key), true, `${e}: signed by its own key`);
      assert.equal((await whoami(t, e, token)).status, 200, `${e}: its service accepts the token`);
    }
    const secrets = [
      ...Object.values(seeded.tokens),
      ...Object.values(seeded.pairs).map((p) => p.privatePem),
    ];
    for (const id of [
      'promote/prod..test..dev',
      'promote/prod..test..dev/prod..test',
      'promote/prod..test..dev/test..dev',
    ])
      assertNoSecrets(await historyText(fx.client, id), secrets);

    // The audit trail: the promotion and each hop, what was copied and whose token was re-signed.
    const trail = await runHistory(fx.client, { since: new Date(Date.now() - 3600_000) });
    const chain = trail.find((r) => r.workflowId === 'promote/prod..test..dev');
    assert.ok(chain);
    assertMatchesSchema('history', { schema: 'rekey/history/1', ...chain });
    assert.deepEqual(chain.environments, ['prod', 'test', 'dev']);
    assert.equal(chain.changes.length, 2);
    assert.match(
      chain.changes[0] ?? '',
      /^prod -> test: data copied \(\d+ bytes, \d+ deleted\), token re-signed for sub=publisher-prod$/,
    );
    const hop = trail.find((r) => r.workflowId === 'promote/prod..test..dev/test..dev');
    assert.deepEqual(hop?.environments, ['test', 'dev']);
    assertNoSecrets(JSON.stringify(trail), secrets);
  });

  it('a re-run with nothing to copy but the token saves only the token file; a failed publish puts it back', async () => {
    const before = await dataManifest(t, 'test');
    assert.equal(before, await dataManifest(t, 'prod'), "test already holds prod's data");
    const tomlOf = () =>
      onHost(
        t,
        'test',
        async (h) => (await h.readFile(resolveOnHost(h, t.config.paths.cliToml)))?.toString() ?? '',
      );
    const stepsOf = async (id: string) => activitySteps(fx.client, `${id}/prod..test`);
    // prod's file gains a setting since: the re-run must bring it, as a copy would have.
    const setting = `kept_by_the_hop = "${Date.now()}"`;
    await onHost(t, 'prod', async (h) => {
      const path = resolveOnHost(h, t.config.paths.cliToml);
      await h.writeFileAtomic(path, `${(await h.readFile(path))?.toString() ?? ''}${setting}\n`, 0o600);
    });

    // A publish that fails: the token file saved by the hop goes back, test serves on it again.
    const toml = await tomlOf();
    const token = readTokenFromToml(toml, 'spacetimedb_token', 'test');
    await onHost(t, 'test', (h) => h.writeFileAtomic(resolveOnHost(h, '.standin/fail-publish'), 'x', 0o644));
    try {
      const failure = await fx.withWorker(t.config, () =>
        failureOf(
          fx.client.workflow
            .start(promote, {
              taskQueue: fx.taskQueue,
              workflowId: 'promote/prod..test-again-failing',
              args: [{ chain: ['prod', 'test'] }],
            })
            .then((h) => h.result()),
        ),
      );
      assert.equal(failure.type, 'PublishFailed', failure.message);
    } finally {
      await onHost(t, 'test', (h) => h.remove(resolveOnHost(h, '.standin/fail-publish')));
    }
    const failed = await stepsOf('promote/prod..test-again-failing');
    const names = failed.map((s) => s.name);
    assert.ok(!names.includes('syncData'), names.join(', '));
    assert.deepEqual(failed.find((s) => s.name === 'restoreSnapshot')?.result, { restored: true });
    assert.equal(await tomlOf(), toml, "test's token file is as it was, byte for byte");
    assert.equal(await dataManifest(t, 'test'), before);
    assert.equal((await whoami(t, 'test', token)).status, 200, 'test serves again with its token');

    // Then the same re-run passes: the token file written from prod's and re-signed by test.
    const hops: HopResult[] = await fx.withWorker(t.config, async () =>
      (
        await fx.client.workflow.start(promote, {
          taskQueue: fx.taskQueue,
          workflowId: 'promote/prod..test-again',
          args: [{ chain: ['prod', 'test'] }],
        })
      ).result(),
    );
    assert.equal(hops[0]?.copied, undefined, JSON.stringify(hops[0]));
    assert.equal(hops[0]?.plan.tokenOnly, true, JSON.stringify(hops[0]?.plan));
    const steps = (await stepsOf('promote/prod..test-again')).map((s) => s.name);
    assert.ok(!steps.includes('syncData'), steps.join(', '));
    assert.ok(steps.includes('snapshot') && steps.includes('dropSnapshot'), steps.join(', '));
    assert.equal(await dataManifest(t, 'test'), before);
    // The audit trail and the CLI's lines say so.
    const trail = await runHistory(fx.client, { since: new Date(Date.now() - 600_000) });
    assert.deepEqual(trail.find((r) => r.workflowId === 'promote/prod..test-again')?.changes, [
      'prod -> test: nothing to copy, token re-signed for sub=publisher-prod',
    ]);
    assert.match(
      formatHops(hops),
      /; nothing to copy \(test held prod's data, but for the token file\); token iss=/,
    );
    const resigned = await tomlOf();
    assert.ok(resigned.includes(setting), "test's file is prod's, with the token re-signed");
    const after = readTokenFromToml(resigned, 'spacetimedb_token', 'test');
    const key = await onHost(
      t,
      'test',
      async (h) =>
        (await h.readFile(resolveOnHost(h, '.generated/spacetimedb-keys/id_ecdsa')))?.toString() ?? '',
    );
    assert.deepEqual(tokenIdentity(after), tokenIdentity(seeded.tokens.prod));
    assert.equal(await signedBy(after, key), true, "signed by test's own key");
    assert.equal((await whoami(t, 'test', after)).status, 200);
    // Nothing a hop keeps beside the data dir is left: no saved token, no snapshot, and not the
    // failed run's mark that its put-back was made either.
    assert.deepEqual(await besideData(t, 'test'), []);
  });

  it('a publish failure after the copy restores the snapshot and the old data serves again', async () => {
    // dev now holds prod's data; give test something new so the copy changes dev.
    await onHost(t, 'test', (h) => h.exec(`cd ${h.dataDir} && echo newer > db/newer.txt`));
    const before = await dataManifest(t, 'dev');
    const token = await onHost(t, 'dev', async (h) =>
      readTokenFromToml(
        (await h.readFile(resolveOnHost(h, t.config.paths.cliToml)))?.toString() ?? '',
        'spacetimedb_token',
        'dev',
      ),
    );
    await onHost(t, 'dev', (h) => h.writeFileAtomic(resolveOnHost(h, '.standin/fail-publish'), 'x', 0o644));
    const failure = await fx.withWorker(t.config, async () => {
      const h = await fx.client.workflow.start(promote, {
        taskQueue: fx.taskQueue,
        workflowId: 'promote/test-dev',
        args: [{ chain: ['test', 'dev'] }],
      });
      return failureOf(h.result());
    });
    assert.equal(failure.type, 'PublishFailed', failure.message);
    assert.match(failure.message, /PUBLISH_FAILED forced_by_test/);
    const steps = await activitySteps(fx.client, 'promote/test-dev/test..dev');
    const copy = steps.find((s) => s.name === 'syncData');
    assert.ok(copy?.result && !copy.failed, 'the copy ran to its end: there was something to restore');
    assert.deepEqual(steps.find((s) => s.name === 'restoreSnapshot')?.result, { restored: true });
    assert.equal(await dataManifest(t, 'dev'), before, 'the snapshot is back');
    assert.equal((await whoami(t, 'dev', token)).status, 200, 'dev serves again on the old data and token');
    assert.deepEqual(
      await besideData(t, 'dev'),
      [],
      'no snapshot and no restore mark left beside the data dir',
    );
  });

  it('a rejected gate leaves the destination data untouched and its service running', async () => {
    const g = buildTopology('promote-gate', portOf('promote-gate'), {
      approvals: { requiredFor: ['test'], approvers: approversConfig(['alice']), timeout: '1h' },
    });
    const seededGate = await seed(g);
    try {
      await onHost(g, 'test', (h) => h.exec(`cd ${h.dataDir} && echo keep > mine.txt`));
      const before = await dataManifest(g, 'test');
      const error = await fx.withWorker(g.config, async () => {
        const h = await fx.client.workflow.start(promote, {
          taskQueue: fx.taskQueue,
          workflowId: 'promote/prod-test-gate',
          args: [{ chain: ['prod', 'test'] }],
        });
        const child = fx.client.workflow.getHandle('promote/prod-test-gate/prod..test');
        const gate = await until('the hop to reach its gate', async () => {
          return (await child.query(progressQuery)).pendingGate;
        });
        assert.match(gate.summary, /prod -> test: .*DELETE 1 \(mine\.txt\)/);
        assert.equal(
          (await whoami(g, 'test', seededGate.tokens.test)).status,
          200,
          'test keeps serving while the plan waits for its approval',
        );
        // Addressed to the promotion, as `rekey reject promote/prod-test` does: it reaches the hop.
        const decided = await decide(
          fx.client,
          g.config,
          'promote/prod-test-gate',
          'reject',
          'alice',
          'not now',
        );
        assert.equal(decided.id, 'promote/prod-test-gate/prod..test');
        assert.equal(decided.result?.outcome, 'rejected');
        return h.result().then(
          () => undefined,
          (e: Error) => e,
        );
      });
      assert.ok(error, 'the run failed');
      await assert.rejects(
        decide(fx.client, g.config, 'promote/prod-test-gate', 'approve', 'alice'),
        /promote\/prod-test-gate is not waiting for an approval: it is failed/,
      );
      assert.equal(await dataManifest(g, 'test'), before);
      assert.equal((await whoami(g, 'test', seededGate.tokens.test)).status, 200, 'test runs as before');
    } finally {
      await stopServices(g);
    }
  });

  it("a hop out of a gated environment waits for that environment's approval (to an ungated one)", async () => {
    const g = buildTopology('promote-source-gate', portOf('promote-source-gate'), {
      approvals: { requiredFor: ['prod'], approvers: approversConfig(['alice']), timeout: '1h' },
    });
    await seed(g);
    try {
      await onHost(g, 'dev', (h) => h.exec(`cd ${h.dataDir} && echo keep > mine.txt`));
      const before = await dataManifest(g, 'dev');
      const failure = await fx.withWorker(g.config, async () => {
        const h = await fx.client.workflow.start(promote, {
          taskQueue: fx.taskQueue,
          workflowId: 'promote/prod-dev-source-gate',
          args: [{ chain: ['prod', 'dev'], allowShrink: true }],
        });
        const child = fx.client.workflow.getHandle('promote/prod-dev-source-gate/prod..dev');
        const gate = await until(
          'the hop to reach its gate',
          async () => (await child.query(progressQuery)).pendingGate,
        );
        assert.match(gate.summary, /prod -> dev: /);
        await decide(fx.client, g.config, 'promote/prod-dev-source-gate', 'reject', 'alice', 'not prod data');
        return failureOf(h.result());
      });
      assert.equal(failure.type, 'NotApproved', failure.message);
      assert.equal(await dataManifest(g, 'dev'), before, 'dev unchanged');
      const cli = await rekeyAsync(['promote', 'prod', 'dev', '--config', g.configFile], {
        env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
      });
      assert.doesNotMatch(cli.stderr, /pass --yes/, 'the CLI knows the hop is gated');
    } finally {
      await stopServices(g);
    }
  });

  it('one transfer per destination: a retry of the same hop stops the old one, another run waits', async () => {
    await onHost(t, 'prod', async (h) => {
      // In the login's own ~/.rekey/locks, not in world-writable /tmp.
      const lock = '"$HOME/.rekey/locks/rsync-lock-test.lock"';
      // A transfer a lost worker left behind: not tied to any session.
      await h.exec(
        `nohup sh -c ${shellQuote(exclusive('lock-test', 'hop-A', 'sleep 60'))} >/dev/null 2>&1 &`,
      );
      const old = await until('the first transfer to hold the lock', async () => {
        if ((await h.exec(`flock -n ${lock} true`)).code === 0) return undefined;
        return (await h.exec('cat "$HOME/.rekey/locks/rsync-lock-test.owner"')).stdout.split(' ')[0];
      });
      assert.match(old, /^\d+$/);

      const other = await h.exec(exclusive('lock-test', 'hop-B', 'echo second', 1));
      assert.equal(other.code, 75);
      assert.match(other.stderr, /another transfer into lock-test is running \(hop-A\)/);
      // Running, or gone (a zombie left for an init that does not reap counts as gone).
      const running = async () => /^[^Z]/.test((await h.exec(`ps -o stat= -p ${old}`)).stdout.trim());
      assert.equal(await running(), true, 'another run does not stop it');

      const retry = await h.exec(exclusive('lock-test', 'hop-A', 'echo retried'));
      assert.equal(retry.code, 0, retry.stderr);
      assert.equal(retry.stdout.trim(), 'retried');
      assert.equal(await running(), false, 'the retry stopped the old transfer');
    });
  });

  it('--consistent: a live pass, then the source stopped only for the final pass', async () => {
    await onHost(t, 'prod', (h) =>
      h.exec(`cd ${h.dataDir} && head -c 1000000 /dev/urandom > db/segments/0001/log2.bin`),
    );
    const workflowId = 'promote/prod-test-consistent';
    const hops: HopResult[] = await fx.withWorker(t.config, async () => {
      const h = await fx.client.workflow.start(promote, {
        taskQueue: fx.taskQueue,
        workflowId,
        args: [{ chain: ['prod', 'test'], consistent: true }],
      });
      return h.result();
    });
    const [hop] = hops;
    assert.ok(hop?.copied && hop.finalPass, JSON.stringify(hop));
    assert.ok(hop.copied.bytes >= 1_000_000, 'the live pass moved the new segment');
    assert.equal(hop.finalPass.bytes, 0, 'nothing changed on the stopped source since the live pass');
    assert.ok((hop.sourceDowntimeMs ?? 0) > 0);
    assert.equal(await dataManifest(t, 'test'), await dataManifest(t, 'prod'));
    assert.equal((await whoami(t, 'prod', seeded.tokens.prod)).status, 200, 'prod runs again');

    // The source is stopped after the live pass and started right after the final one.
    const events =
      (await fx.client.workflow.getHandle(`${workflowId}/prod..test`).fetchHistory()).events ?? [];
    const steps = events.flatMap((e) => {
      const a = e.activityTaskScheduledEventAttributes;
      if (!a) return [];
      const arg = JSON.parse(Buffer.from(a.input?.payloads?.[0]?.data ?? []).toString() || '{}');
      return [`${a.activityType?.name}(${arg.env ?? [arg.from, arg.to].filter(Boolean).join('>')})`];
    });
    assert.deepEqual(steps, [
      // Which events to emit (an activity of the worker's since reads-not-local).
      'notifyRouting()',
      // The locks on prod and test, taken first and released last.
      'takeLocks()',
      'preflightHop(prod>test)',
      'planSync(prod>test)',
      'promotionGate(prod>test)',
      'stopService(test)',
      'planSync(prod>test)',
      'snapshot(test)',
      'syncData(prod>test)',
      'stopService(prod)',
      'syncData(prod>test)',
      'restartAndVerify(prod)',
      'resignDestinationToken(prod>test)',
      'restartAndVerify(test)',
      'dropSnapshot(test)',
      'releaseLocks()',
    ]);
  });
});

describe('rsync output', () => {
  it('follows a real rsync run: names, bytes so far, stats', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-rsync-'));
    try {
      const host = await openHost('workstation', { type: 'local', appDir: dir, dataDir: dir });
      await host.exec(
        'mkdir -p src/sub && echo hi > src/a.txt && head -c 2000000 /dev/urandom > src/sub/b.bin',
        { cwd: dir },
      );
      const seen: { bytes: number; file?: string }[] = [];
      const follow = followRsync((p) => seen.push(p));
      const res = await host.exec('rsync -a --info=progress2,name1 --stats src/ dst/', {
        cwd: dir,
        onStdout: follow,
      });
      assert.equal(res.code, 0, res.stderr);
      assert.ok(res.stdout.length <= 8192, 'streamed; only the tail is kept');
      assert.ok(
        seen.some((p) => p.file === 'sub/b.bin'),
        JSON.stringify(seen),
      );
      assert.equal(seen.at(-1)?.bytes, 2_000_003);
      assert.deepEqual(parseStats(res.stdout), {
        bytes: 2_000_003,
        literalBytes: 2_000_003,
        matchedBytes: 0,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
