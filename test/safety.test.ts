// What must never happen, tried on the real servers: bad input from any client, two runs on one
// environment, a plan that empties a destination, a data dir that is a symlink or another name for
// the source's, a token the host's key never signed, a stage that fails half way, a key group
// left split. Each case is refused or undone, and the data, keys and services are as before.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { generateKeyPair } from '../activities/keys';
import { createPromoteHopActivities } from '../activities/promote-hop';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { type Host, resolveOnHost } from '../hosts/types';
import { promoteWorkflowId } from '../workflows/inputs';
import { approveUpdate, progressQuery } from '../workflows/messages';
import { failureOf, type TemporalFixture, temporalFixture } from './helpers';
import { approversConfig, assertRefused, decide, sign } from './infra/approvers';
import { portOf } from './infra/ports';
import {
  buildTopology,
  cliToken,
  dataManifest,
  hostFile,
  onHost,
  publisherToken,
  type Seeded,
  seed,
  stopServices,
  type Topology,
  whoami,
} from './infra/topology';
import { until } from './infra/until';

/** rekey.yaml of `t` with `edit` applied, as a new config file beside it. */
// biome-ignore lint/suspicious/noExplicitAny: the tests edit arbitrary YAML documents
function editedConfig(t: Topology, file: string, edit: (doc: Record<string, any>) => void): Config {
  const doc = parse(readFileSync(t.configFile, 'utf8'));
  edit(doc);
  const path = join(t.dir, file);
  writeFileSync(path, stringify(doc));
  return loadConfig(path);
}

describe('safety', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let seeded: Seeded;
  const storeVersions = async (e: 'prod' | 'test' | 'dev' | 'local') =>
    (await t.store(e).listVersions(t.config.secretNames.privateKey)).map((v) => v.version).join(',');

  before(async () => {
    fx = await temporalFixture('safety');
    t = buildTopology('safety', portOf('safety'), {
      approvals: { requiredFor: ['test'], approvers: approversConfig(), timeout: '1h' },
    });
    seeded = await seed(t);
    // seed() wrote every host's files in the same second with the same sizes: give prod's their
    // own mtime, or rsync's quick check (size + mtime) would rightly skip them.
    await onHost(t, 'prod', (h) =>
      h.exec(`cd ${h.dataDir} && find . -exec touch -h -d '2026-01-01 00:00:00' {} +`),
    );
  });
  after(async () => {
    await stopServices(t);
    await fx.close();
  });

  const start = (type: string, input: unknown, workflowId: string) =>
    fx.client.workflow.start(type, { taskQueue: fx.taskQueue, workflowId, args: [input] });

  it('bad input from any client fails the run at once with BadInput naming the field', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['rotateJwtKeys', { environments: 'prod' }, /^bad input: environments: .*expected array/],
      ['rotateJwtKeys', {}, /^bad input: environments: /],
      ['rotateJwtKeys', { environments: ['prod'], force: true }, /^bad input: .*"force"/],
      ['promote', { chain: ['prod'] }, /^bad input: chain: .*2/],
      ['promoteHop', { from: 'prod' }, /^bad input: to: /],
      ['rolloverSigningKey', { keyring: 'k', ttl: 'soon' }, /^bad input: ttl: a duration such as 90d/],
      ['rolloverSigningKey', null, /^bad input: .*expected object/],
    ];
    await fx.withWorker(t.config, async () => {
      for (const [i, [type, input, message]] of cases.entries()) {
        const failure = await failureOf(start(type, input, `bad-input-${i}`).then((h) => h.result()));
        assert.equal(failure.type, 'BadInput', `${type} ${JSON.stringify(input)}`);
        assert.match(failure.message, message);
      }
      // Valid shape, unknown environment: the run's own failure names it, not "Activity task failed".
      const failure = await failureOf(
        start('rotateJwtKeys', { environments: ['nope'] }, 'bad-input-env').then((h) => h.result()),
      );
      assert.equal(failure.type, 'BadInput');
      assert.match(failure.message, /^unknown environment "nope"/);
    });
  });

  it('promotion ids cannot collide for names with "-"', () => {
    assert.notEqual(promoteWorkflowId(['prod', 'test-dev']), promoteWorkflowId(['prod-test', 'dev']));
  });

  it('one run per environment: a run waiting at its gate holds test; others are refused, naming it', async () => {
    const before = await dataManifest(t, 'test');
    await fx.withWorker(t.config, async () => {
      const promotion = await start('promote', { chain: ['prod', 'test'] }, 'promote/lock-holder');
      const hop = fx.client.workflow.getHandle('promote/lock-holder/prod..test');
      await until('the hop to reach its gate', async () => (await hop.query(progressQuery)).pendingGate);
      assert.equal((await whoami(t, 'test', seeded.tokens.test)).status, 200, 'test serves during the wait');

      // A rotation of test under any id (the Web UI's, a schedule's) and a promotion into test
      // from another source are refused before they change anything.
      const versions = await storeVersions('test');
      for (const [type, input, id] of [
        ['rotateJwtKeys', { environments: ['test'] }, 'web-ui-rotation'],
        ['promote', { chain: ['dev', 'test'] }, 'promote/dev..test'],
      ] as const) {
        const failure = await failureOf(start(type, input, id).then((h) => h.result()));
        assert.equal(failure.type, 'EnvironmentBusy', id);
        assert.match(
          failure.message,
          /^env test is in use by promote\/lock-holder\/prod\.\.test; nothing was changed/,
        );
      }
      assert.equal(await storeVersions('test'), versions);

      // The lock ends with its run.
      await decide(fx.client, t.config, hop.workflowId, 'reject', 'alice');
      await failureOf(promotion.result());
      const lock = fx.client.workflow.getHandle('lock/env/test');
      await until(
        'the lock to end with its run',
        async () => (await lock.describe()).status.name !== 'RUNNING' || undefined,
      );
    });
    assert.equal(await dataManifest(t, 'test'), before);
  });

  it('files the destination wrote during the approval wait are not deleted: the copy stops', async () => {
    const before = await dataManifest(t, 'test');
    const failure = await fx.withWorker(t.config, async () => {
      const h = await start('promote', { chain: ['prod', 'test'] }, 'promote/changed');
      const hop = fx.client.workflow.getHandle('promote/changed/prod..test');
      await until('the hop to reach its gate', async () => (await hop.query(progressQuery)).pendingGate);
      // The running service writes a segment the approved plan did not show.
      await onHost(t, 'test', (h) => h.exec(`cd ${h.dataDir} && echo fresh > written-during-wait.bin`));
      await decide(fx.client, t.config, hop.workflowId, 'approve', 'alice');
      return failureOf(h.result());
    });
    assert.equal(failure.type, 'PolicyViolation');
    assert.match(failure.message, /would delete other files than the approved plan .*nothing was deleted/);
    const after = await dataManifest(t, 'test');
    assert.match(after, /written-during-wait\.bin/);
    assert.equal(after.replace(/.*written-during-wait.*\n/g, ''), before, 'nothing else changed');
    await onHost(t, 'test', (h) => h.exec(`rm ${h.dataDir}/written-during-wait.bin`));
    assert.equal((await whoami(t, 'test', seeded.tokens.test)).status, 200, 'test serves again');
  });

  it('terminating a promotion cancels its running hop, which lets go of its environments', async () => {
    const before = await dataManifest(t, 'test');
    await fx.withWorker(t.config, async () => {
      await start('promote', { chain: ['prod', 'test'] }, 'promote/terminated');
      const hop = fx.client.workflow.getHandle('promote/terminated/prod..test');
      await until('the hop to reach its gate', async () => (await hop.query(progressQuery)).pendingGate);
      // Decisions that are refused leave nothing in the run's state or history.
      const digest = (await hop.query(progressQuery)).pendingGate?.digest ?? '';
      for (let i = 0; i < 5; i++)
        await assertRefused(
          hop.executeUpdate(approveUpdate, {
            args: [{ by: 'mallory', digest, signature: sign('mallory', `approve ${digest}`) }],
          }),
          /"mallory" is not an approver/,
        );
      const progress = await hop.query(progressQuery);
      assert.equal(progress.decisions.length, 0);
      assert.ok(progress.pendingGate, 'still waiting: none of them is an approver');
      await fx.client.workflow.getHandle('promote/terminated').terminate('operator gave up');
      await until('the hop to end', async () => {
        const { status } = await hop.describe();
        return status.name === 'RUNNING' ? undefined : status.name;
      }).then((status) => assert.equal(status, 'CANCELLED'));
      const lock = fx.client.workflow.getHandle('lock/env/test');
      await until(
        'the lock to end',
        async () => (await lock.describe()).status.name !== 'RUNNING' || undefined,
      );
    });
    assert.equal(await dataManifest(t, 'test'), before);
    assert.equal((await whoami(t, 'test', seeded.tokens.test)).status, 200);
  });

  it('a plan that empties or mostly empties the destination is refused unless allowed', async () => {
    await onHost(t, 'dev', (h) =>
      h.exec(`cd ${h.dataDir} && mkdir -p extra && for i in $(seq 1 12); do echo $i > extra/f$i; done`),
    );
    const before = await dataManifest(t, 'dev');
    await fx.withWorker(t.config, async () => {
      const failure = await failureOf(
        start('promote', { chain: ['prod', 'dev'] }, 'promote/shrink').then((h) => h.result()),
      );
      assert.equal(failure.type, 'PolicyViolation');
      assert.match(
        failure.message,
        /the copy deletes \d+ of the destination's \d+ files \(\d+%, more than 50%\)/,
      );
      assert.match(failure.message, /nothing was changed/);
      assert.equal(await dataManifest(t, 'dev'), before);
      assert.equal((await whoami(t, 'dev', seeded.tokens.dev)).status, 200, 'dev was never stopped');

      // Allowed, the same plan runs.
      const hops = await start(
        'promote',
        { chain: ['prod', 'dev'], allowShrink: true },
        'promote/shrink-ok',
      ).then((h) => h.result());
      assert.match(JSON.stringify(hops), /"shrink":"the copy deletes/);
    });
    assert.equal(await dataManifest(t, 'dev'), await dataManifest(t, 'prod'));
  });

  it('an empty source (an unmounted disk, say) is refused whatever the share', async () => {
    const emptied = editedConfig(t, 'empty-source.yaml', (doc) => {
      doc.hosts['vm-prod'].dataDir = `${doc.hosts['vm-prod'].appDir}/empty`;
    });
    await onHost(t, 'prod', (h) => h.exec(`mkdir -p ${h.appDir}/empty`));
    const before = await dataManifest(t, 'dev');
    const failure = await fx.withWorker(emptied, () =>
      failureOf(start('promoteHop', { from: 'prod', to: 'dev' }, 'hop/empty').then((h) => h.result())),
    );
    assert.equal(failure.type, 'PolicyViolation');
    assert.match(failure.message, /the source holds no files: the copy would empty the destination/);
    assert.equal(await dataManifest(t, 'dev'), before);
  });

  it('preflight refuses a symlinked data dir and another name for the source data dir', async () => {
    // dev's data dir becomes a symlink to a directory beside it.
    await onHost(t, 'dev', (h) =>
      h.exec(`cd ${h.appDir} && rm -rf real && mv data real && ln -s real data && echo mine > real/keep.txt`),
    );
    const devBefore = await dataManifest(t, 'dev');
    // "mirror" names the prod machine under another host entry, its data dir through a symlinked
    // parent: the config cannot tell it is prod's data dir, the preflight's real paths can.
    const aliased = editedConfig(t, 'alias.yaml', (doc) => {
      const prod = doc.hosts['vm-prod'];
      doc.hosts.mirror = { ...prod, dataDir: `${prod.appDir}/alias/data` };
      doc.environments.mirror = { store: 'kv-prod', host: 'mirror', service: 'spacetimedb' };
      doc.keyGroups.mirror = ['mirror'];
      // "twin" reaches the same machine through another address (the test sshd; all three test
      // hosts are one machine, one /etc/machine-id) and names prod's data dir itself.
      doc.hosts.twin = { ...doc.hosts['vm-test'], dataDir: prod.dataDir };
      doc.environments.twin = { store: 'kv-test', host: 'twin', service: 'spacetimedb' };
      doc.keyGroups.twin = ['twin'];
    });
    await onHost(t, 'prod', (h) => h.exec(`cd ${h.appDir} && ln -sfn . alias`));
    const prodBefore = await dataManifest(t, 'prod');
    await fx.withWorker(aliased, async () => {
      const symlinked = await failureOf(
        start('promoteHop', { from: 'prod', to: 'dev' }, 'hop/symlink').then((h) => h.result()),
      );
      assert.equal(symlinked.type, 'BadInput');
      assert.match(symlinked.message, /dev: data dir \S+ on host vm-dev is a symlink \(to real\)/);
      const same = await failureOf(
        start('promoteHop', { from: 'prod', to: 'mirror', allowShrink: true }, 'hop/alias').then((h) =>
          h.result(),
        ),
      );
      assert.equal(same.type, 'BadInput');
      assert.match(same.message, /are on the same machine \(127\.0\.0\.2:\d+\) and one holds the other/);
      const twin = await failureOf(
        start('promoteHop', { from: 'prod', to: 'twin', allowShrink: true }, 'hop/twin').then((h) =>
          h.result(),
        ),
      );
      assert.equal(twin.type, 'BadInput');
      assert.match(twin.message, /are on the same machine \(127\.0\.0\.3:\d+\) and one holds the other/);
    });
    assert.equal(await dataManifest(t, 'prod'), prodBefore);
    await onHost(t, 'dev', (h) => h.exec(`cd ${h.appDir} && rm data && mv real data`));
    assert.equal(await dataManifest(t, 'dev'), devBefore);
  });

  it('a restore that finds no snapshot of its run says so', async () => {
    const activities = createPromoteHopActivities({ config: t.config });
    const before = await dataManifest(t, 'dev');
    await activities.snapshot({ to: 'dev', runId: 'r-restore' });
    await onHost(t, 'dev', (h) => h.exec(`cd ${h.dataDir} && echo half-copied > junk.txt`));
    assert.deepEqual(await activities.restoreSnapshot({ to: 'dev', runId: 'r-restore' }), { restored: true });
    assert.equal(await dataManifest(t, 'dev'), before);
    // A retry whose first attempt's answer was lost: already restored.
    assert.deepEqual(await activities.restoreSnapshot({ to: 'dev', runId: 'r-restore' }), { restored: true });
    // A run whose snapshot is gone: not reported as restored.
    assert.deepEqual(await activities.restoreSnapshot({ to: 'dev', runId: 'r-none' }), { restored: false });
    assert.equal(await dataManifest(t, 'dev'), before);
  });

  it('a token the host key never signed is not re-signed: the rotation stops at its plan', async () => {
    const foreign = await publisherToken(generateKeyPair().privatePem, 'publisher-dev');
    const original = (await hostFile(t, 'dev', t.config.paths.cliToml)).text ?? '';
    await onHost(t, 'dev', (h) =>
      h.writeFileAtomic(
        resolveOnHost(h, t.config.paths.cliToml),
        `spacetimedb_token = "${foreign}"\n`,
        0o600,
      ),
    );
    const versions = await storeVersions('dev');
    try {
      const failure = await fx.withWorker(t.config, () =>
        failureOf(
          start('rotateJwtKeys', { environments: ['dev'] }, 'rotate-jwt/foreign').then((h) => h.result()),
        ),
      );
      assert.equal(failure.type, 'BadInput');
      assert.match(failure.message, /dev: \S+cli\.toml: the token is not signed by the host's current key/);
      assert.equal(await storeVersions('dev'), versions);
      assert.equal(await cliToken(t, 'dev'), foreign);
    } finally {
      await onHost(t, 'dev', (h) =>
        h.writeFileAtomic(resolveOnHost(h, t.config.paths.cliToml), original, 0o600),
      );
    }
  });

  it('a host without key files stops the rotation at its plan (no token re-signed, nothing installed)', async () => {
    const pub = (h: Host) => `${resolveOnHost(h, t.config.paths.keyDir)}/${t.config.paths.publicKeyFile}`;
    await onHost(t, 'dev', (h) => h.exec(`mv ${pub(h)} ${pub(h)}.aside`));
    const versions = await storeVersions('dev');
    try {
      const failure = await fx.withWorker(t.config, () =>
        failureOf(
          start('rotateJwtKeys', { environments: ['dev'] }, 'rotate-jwt/no-key-files').then((h) =>
            h.result(),
          ),
        ),
      );
      assert.equal(failure.type, 'BadInput');
      assert.match(
        failure.message,
        /dev: \S+cli\.toml: the host has no public key file .*nothing was changed/,
      );
      assert.equal(await storeVersions('dev'), versions);
      assert.equal(await onHost(t, 'dev', (h) => h.stat(pub(h))), null, 'no key file was installed');
    } finally {
      await onHost(t, 'dev', (h) => h.exec(`mv ${pub(h)}.aside ${pub(h)}`));
    }
  });

  it('a stage that fails for one key group puts every store back as it was', async () => {
    const vault = t.env.keyVault.vaults.prod;
    const prodBefore = await t.store('prod').get(t.config.secretNames.privateKey);
    const testBefore = await t.store('test').get(t.config.secretNames.privateKey);
    const failure = await fx.withWorker(t.config, async () => {
      const h = await start('rotateJwtKeys', { environments: ['prod', 'test'] }, 'rotate-jwt/stage-fault');
      await until('the gate', async () => (await h.query(progressQuery)).pendingGate);
      // prod's public-key write is refused (403): after test's pair and prod's private key landed.
      await fetch(`${vault}/_standin/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          status: 403,
          count: 1,
          secret: t.config.secretNames.publicKey,
          method: 'PUT',
        }),
      });
      await decide(fx.client, t.config, h.workflowId, 'approve', 'alice');
      return failureOf(h.result());
    });
    assert.equal(failure.type, 'StageFailed');
    // The refusal hit the write itself (a PUT answered 403), after prod's private key was written.
    const seen = (await (await fetch(`${vault}/_standin/requests`)).json()) as {
      method: string;
      secret: string;
      status: number;
    }[];
    assert.ok(
      seen.some((r) => r.method === 'PUT' && r.secret === t.config.secretNames.publicKey && r.status === 403),
      'the public-key PUT was refused',
    );
    const runId = (await fx.client.workflow.getHandle('rotate-jwt/stage-fault').describe()).runId;
    const mine = (await t.store('prod').listVersions(t.config.secretNames.privateKey)).filter(
      (v) => v.tags.rekeyRunId === runId,
    );
    const written = mine.filter((v) => v.tags.role === 'private' && !v.tags.restoredFrom);
    const undone = mine.filter((v) => v.tags.restoredFrom);
    assert.ok(written.length > 0 && undone.length > 0, "prod's new private key was written, then put back");
    assert.match(failure.message, /the previous keys are current again/);
    for (const [e, was] of [
      ['prod', prodBefore],
      ['test', testBefore],
    ] as const) {
      const now = await t.store(e).get(t.config.secretNames.privateKey);
      assert.equal(now.value === was.value, true, `${e}: the pre-run private key is current`);
      const pub = await t.store(e).get(t.config.secretNames.publicKey);
      assert.equal(pub.value, seeded.pairs[e]?.publicPem, `${e}: the pre-run public key is current`);
    }
    assert.equal(
      (await hostFile(t, 'prod', '.generated/spacetimedb-keys/id_ecdsa.pub')).text,
      seeded.pairs.prod?.publicPem,
    );
  });

  it('a key group moves as a whole: dev failing its gate rolls local back too', async () => {
    await onHost(t, 'dev', (h) =>
      h.writeFileAtomic(resolveOnHost(h, '.standin/fail-publish'), 'forced by test\n', 0o644),
    );
    // An operator's mode on the private key (group-readable for the service) survives it all.
    await onHost(t, 'dev', (h) =>
      h.exec(`chmod 0640 ${resolveOnHost(h, '.generated/spacetimedb-keys/id_ecdsa')}`),
    );
    try {
      const result = await fx.withWorker(t.config, async () =>
        (await start('rotateJwtKeys', { environments: ['dev'] }, 'rotate-jwt/split')).result(),
      );
      const byEnv = Object.fromEntries(
        (result as { environments: { env: string; status: string; reason?: string }[] }).environments.map(
          (e) => [e.env, e],
        ),
      );
      assert.equal(byEnv.dev?.status, 'rolled-back');
      assert.equal(byEnv.local?.status, 'rolled-back');
      assert.match(byEnv.local?.reason ?? '', /key group shared moves as a whole and dev failed/);
    } finally {
      await onHost(t, 'dev', (h) => h.remove(resolveOnHost(h, '.standin/fail-publish')));
    }
    const shared = seeded.pairs.shared?.publicPem;
    for (const e of ['dev', 'local'] as const) {
      assert.equal((await hostFile(t, e, '.generated/spacetimedb-keys/id_ecdsa.pub')).text, shared, e);
      assert.equal((await t.store(e).get(t.config.secretNames.publicKey)).value, shared, e);
    }
    assert.equal((await whoami(t, 'local', seeded.tokens.local)).status, 200);
    assert.equal((await hostFile(t, 'dev', '.generated/spacetimedb-keys/id_ecdsa')).mode, 0o640);
  });

  it('a rotation reset by an operator finds the keys its first run staged: no second pair', async () => {
    const count = async () => (await t.store('test').listVersions(t.config.secretNames.privateKey)).length;
    const before = await count();
    let approved: string | undefined;
    const first = await fx.withWorker(t.config, async () => {
      const h = await start('rotateJwtKeys', { environments: ['test'] }, 'rotate-jwt/reset');
      await until('the gate', async () => (await h.query(progressQuery)).pendingGate);
      const { result } = await decide(fx.client, t.config, h.workflowId, 'approve', 'alice');
      assert.equal(result?.outcome, 'passed');
      approved = (await h.query(progressQuery)).decisions[0]?.digest;
      await h.result();
      return h;
    });
    assert.equal(await count(), before + 1);
    // Reset to the first workflow task: the new run plans and stages again.
    const events = (await first.fetchHistory()).events ?? [];
    const firstTask = events.find((e) => e.workflowTaskCompletedEventAttributes);
    const { runId } = await first.describe();
    const reset = await fx.client.workflowService.resetWorkflowExecution({
      namespace: 'safety',
      workflowExecution: { workflowId: 'rotate-jwt/reset', runId },
      reason: 'test: operator reset',
      workflowTaskFinishEventId: firstTask?.eventId,
      requestId: `reset-${Date.now()}`,
    });
    await fx.withWorker(t.config, async () => {
      const h = fx.client.workflow.getHandle('rotate-jwt/reset', reset.runId ?? undefined);
      // The first run's approval named that run's plan: the reset run waits for its own.
      const gate = await until(
        'the reset run to wait at its gate',
        async () => (await h.query(progressQuery)).pendingGate,
      );
      assert.notEqual(gate.digest, approved, 'a new digest for the reset run');
      await decide(fx.client, t.config, h.workflowId, 'approve', 'alice');
      const result = (await h.result()) as { ok: boolean };
      assert.equal(result.ok, true);
    });
    assert.equal(await count(), before + 1, 'the reset run reused the pair its first run staged');
  });

  it('a publish slower than the heartbeat timeout still passes: restart and publish heartbeat', async () => {
    // local's service publishes through a command that takes 25 s; activities heartbeat every 5 s
    // and time out after 20 s without one.
    const slow = editedConfig(t, 'slow-publish.yaml', (doc) => {
      const shim = 'docker compose -f ./.generated/docker-compose.yaml';
      doc.services.slow = {
        driver: 'command',
        start: `${shim} up -d spacetimedb`,
        stop: `${shim} stop spacetimedb`,
        restart: `${shim} up -d --force-recreate spacetimedb`,
        logs: `${shim} logs --no-color --tail=50 spacetimedb`,
        publish: `sleep 25 && node ${join(__dirname, '../quickstart/spacetimedb-standin.js')} publish --app-dir . --server ${t.serviceUrl.local}`,
        markerTimeout: '60s',
      };
      doc.environments.local.service = 'slow';
    });
    const result = await fx.withWorker(slow, async () =>
      (await start('rotateJwtKeys', { environments: ['local'] }, 'rotate-jwt/slow-publish')).result(),
    );
    const byEnv = Object.fromEntries(
      (result as { environments: { env: string; status: string }[] }).environments.map((e) => [
        e.env,
        e.status,
      ]),
    );
    assert.deepEqual(byEnv, { dev: 'rotated', local: 'rotated' });
    const history = await fx.client.workflow.getHandle('rotate-jwt/slow-publish').fetchHistory();
    const retried = (history.events ?? []).some(
      (e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1,
    );
    assert.equal(retried, false, 'no activity timed out and was retried');
  });
});
