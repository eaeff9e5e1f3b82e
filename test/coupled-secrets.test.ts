// A secret that lives in two SaaS systems (the runbook's FLY_API_TOKEN: Fly app secrets of the
// control plane, and a GitHub Actions secret the image publish uses) rotated in both or in
// neither: a new token issued, written to rekey's own copy, then Fly, then GitHub (sealed to the
// repository's key), both consumers verified (the control plane's health, a publish run that
// passes), then the old token revoked. A failed second write puts Fly back on the old token
// (still valid: revoked only at the end) and revokes the unused new one; a worker killed between
// the two writes leaves a run that converges. Against the GitHub and Fly stand-ins (no internet
// here; test/standin), through the real flyctl command line shape (a flyctl stand-in on PATH).
// The same runbook's NEON_API_KEY is made and revoked by a person in the Neon console: the run
// waits for it, `rekey secret supply` hands it over from standard input, the run copies it to the
// control plane's Fly secret, checks a test provision, and an approver confirms the old key
// revoked (against a Neon API stand-in).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { startSecretRotation } from '../client/runs/secret';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { createSecretStore } from '../stores/drivers';
import { progressQuery } from '../workflows/messages';
import {
  assertNoSecrets,
  failureOf,
  historyText,
  rekeyAsync,
  type TemporalFixture,
  temporalFixture,
} from './helpers';
import { approversConfig, keyFile } from './infra/approvers';
import { testEnv } from './infra/env';
import { assertMatchesSchema } from './infra/json-schemas';
import { standinTls } from './infra/keyvault-standin';
import { portOf } from './infra/ports';
import { buildTopology, type Topology } from './infra/topology';
import { until } from './infra/until';
import { kill, startWorker } from './infra/worker-process';
import { type FlyStandin, startFlyStandin } from './standin/fly';
import { type GitHubStandin, startGitHubStandin } from './standin/github';
import { type NeonStandin, startNeonStandin } from './standin/neon';

const REPO = 'Molecule-AI/molecule-monorepo';
const PUBLISH = 'publish-platform-image.yml';

describe('coupled secrets: FLY_API_TOKEN in Fly app secrets and a GitHub Actions secret', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let gh: GitHubStandin;
  let fly: FlyStandin;
  let neon: NeonStandin;
  /** The id of the Neon key the control plane was set up with (revoked in the console later). */
  let firstNeonKey: { id: number; key: string };
  let config: Config;
  const vault = () => createSecretStore('kv-local', config.stores['kv-local'] as never);
  /** Where the token lives: rekey's copy, the control plane's Fly secret, the GitHub secret. */
  const everywhere = async () => ({
    vault: (await vault().get('fly-api-token')).value,
    fly: fly.secret('molecule-cp', 'FLY_API_TOKEN'),
    github: gh.secret(REPO, 'FLY_API_TOKEN'),
  });
  const health = async () => (await fetch(`${fly.url}/health/molecule-cp`)).status;

  before(async () => {
    fx = await temporalFixture('secrets');
    t = buildTopology('coupled', portOf('coupled'));
    // The commands run on the local host, in its app dir.
    mkdirSync(join(t.dir, 'local-app'), { recursive: true });
    const tls = standinTls(testEnv().root);
    [gh, fly] = await Promise.all([startGitHubStandin(tls), startFlyStandin(tls)]);
    neon = await startNeonStandin(tls, () => fly.secret('molecule-cp', 'NEON_API_KEY'));
    gh.addRepo(REPO);
    // The publish pushes to Fly's registry with the token GitHub holds.
    gh.onWorkflow(REPO, PUBLISH, async (secrets) => {
      const res = await fetch(`${fly.url}/v1/apps/molecule-tenant/machines`, {
        headers: { authorization: `Bearer ${secrets.FLY_API_TOKEN}` },
      });
      return res.ok;
    });
    // The flyctl stand-in, the publish check and the worker processes read these.
    Object.assign(process.env, {
      FLY_API_HOSTNAME: fly.url,
      FLY_ACCESS_TOKEN: fly.adminToken,
      REKEY_TEST_GH_TOKEN: gh.token,
      GH_TOKEN: gh.token,
      GITHUB_API_URL: gh.url,
      GITHUB_REPOSITORY: REPO,
    });
    const doc = parse(readFileSync(t.configFile, 'utf8'));
    doc.stores.fly = {
      type: 'command',
      write: 'flyctl secrets import --app molecule-cp',
      stdin: 'name=value',
    };
    doc.stores.github = {
      type: 'github-actions',
      repository: REPO,
      api: gh.url,
      token: { env: 'REKEY_TEST_GH_TOKEN' },
    };
    doc.secrets = {
      'fly-api-token': {
        description: 'in the control plane (Fly secrets) and the image publish (GitHub Actions)',
        environments: ['local'],
        generator: { type: 'command', run: 'flyctl tokens create deploy' },
        locations: [
          { store: 'kv-local', name: 'fly-api-token' },
          { store: 'fly', name: 'FLY_API_TOKEN' },
          { store: 'github', name: 'FLY_API_TOKEN' },
        ],
        verify: [
          { http: `${fly.url}/health/molecule-cp`, within: '10s' },
          {
            command: `node ${join(__dirname, 'standin', 'github.js')} publish-check ${PUBLISH}`,
            expect: 'success',
            within: '20s',
          },
        ],
        // The old token on stdin; its id is the part after "fm2_" (see the Fly stand-in).
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
        revoke: { command: 'read t; id=${t#FlyV1 fm2_}; flyctl tokens revoke "${id%%_*}"' },
        rotateEvery: '90d',
      },
      'neon-api-key': {
        description: "the control plane's Neon API key: made and revoked in the Neon console",
        environments: ['local'],
        generator: { type: 'manual', issuer: 'Neon console: Account Settings, API Keys', within: '1h' },
        locations: [
          { store: 'kv-local', name: 'neon-api-key' },
          { store: 'fly', name: 'NEON_API_KEY' },
        ],
        // The runbook's "trigger a test provision": the control plane with the key it holds.
        verify: [{ http: `${neon.url}/cp/provision-check`, within: '10s' }],
        rotateEvery: '90d',
      },
    };
    // Who confirms the old Neon key revoked (local itself needs no approval before a change).
    doc.approvals = { ...doc.approvals, approvers: approversConfig(['alice']) };
    writeFileSync(t.configFile, stringify(doc));
    config = loadConfig(t.configFile);
    // The first token, set by hand in all three places.
    const first = fly.issue();
    await vault().set('fly-api-token', first, {});
    fly.setSecret('molecule-cp', 'FLY_API_TOKEN', first);
    gh.setSecret(REPO, 'FLY_API_TOKEN', first);
    firstNeonKey = await neon.createKey('control plane');
    await vault().set('neon-api-key', firstNeonKey.key, {});
    fly.setSecret('molecule-cp', 'NEON_API_KEY', firstNeonKey.key);
  });
  after(async () => {
    await Promise.allSettled([gh?.close(), fly?.close(), neon?.close(), fx?.close()]);
  });

  /** bin/rekey against the suite's namespace and task queue, with `input` on its stdin. */
  const cli = (args: string[], input?: string) =>
    rekeyAsync([...args, '--config', t.configFile], {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: testEnv().temporal.address,
        TEMPORAL_NAMESPACE: 'secrets',
        REKEY_TASK_QUEUE: fx.taskQueue,
      },
      ...(input === undefined ? {} : { input }),
    });

  const rotate = () =>
    startSecretRotation(
      fx.client,
      config,
      { secret: 'fly-api-token', environment: 'local' },
      { taskQueue: fx.taskQueue },
    );

  it('the dry run shows both systems, in order, and what a failure undoes', async () => {
    const r = await fx.withWorker(config, () =>
      cli(['secret', 'rotate', 'fly-api-token', '--env', 'local', '--dry-run']),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /1\. write kv-local:fly-api-token \(now version \w+\)/);
    assert.match(
      r.stdout,
      /2\. set FLY_API_TOKEN with `flyctl secrets import --app molecule-cp` \(FLY_API_TOKEN=value on stdin\)/,
    );
    assert.match(r.stdout, /3\. set GitHub Actions secret FLY_API_TOKEN of Molecule-AI\/molecule-monorepo/);
    assert.match(r.stdout, /every location is put back, then the unused new value revoked/);
  });

  it('rotates both, verifies both consumers, then revokes the old token', async () => {
    const old = await everywhere();
    assert.equal(await health(), 200);
    const h = await rotate();
    const result = await fx.withWorker(config, () => h.result());
    assert.equal(result.revoked, true);
    const now = await everywhere();
    assert.notEqual(now.vault, old.vault);
    // One token in both systems: GitHub's is the stand-in's decryption of rekey's sealed box.
    assert.deepEqual(now, { vault: now.vault, fly: now.vault, github: now.vault });
    assert.equal(fly.live(now.vault), true);
    assert.equal(fly.live(old.vault), false, 'the old token is revoked');
    assert.equal(await health(), 200);
    assert.ok(gh.log.includes(`PUT /repos/${REPO}/actions/secrets/FLY_API_TOKEN 204`));
    assertNoSecrets(JSON.stringify(result) + (await historyText(fx.client, h.workflowId)), [
      old.vault,
      now.vault,
    ]);
  });

  it('GitHub refusing the second write: Fly put back on the old token, the new one revoked, the run names GitHub', async () => {
    const before = await everywhere();
    const tokens = fly.liveCount();
    // Refused as long as it is asked: a put-back of GitHub would be refused too.
    gh.inject(
      'PUT',
      /FLY_API_TOKEN$/,
      {
        status: 401,
        body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' },
      },
      2,
    );
    const from = gh.log.length;
    const h = await rotate();
    const err = await fx.withWorker(config, () => failureOf(h.result()));
    gh.clearFaults();
    // GitHub refused the write, so it still holds the old token: not written again to put it back.
    assert.deepEqual(
      gh.log.slice(from).filter((l) => l.startsWith('PUT')),
      [`PUT /repos/${REPO}/actions/secrets/FLY_API_TOKEN 401`],
    );
    assert.equal(err.type, 'StoreUnauthorized');
    assert.match(
      err.message,
      /GitHub Molecule-AI\/molecule-monorepo\): refused \(PUT \/actions\/secrets\/FLY_API_TOKEN: 401 Bad credentials\)/,
    );
    assert.match(err.message, /every location was put back, the unused new value revoked/);
    assert.deepEqual(await everywhere(), before);
    assert.equal(fly.live(before.vault), true, 'the old token still works');
    assert.equal(fly.liveCount(), tokens, 'the token issued for the run was revoked');
    assert.equal(await health(), 200);
    assertNoSecrets(err.message + (await historyText(fx.client, h.workflowId)), [
      before.vault,
      ...fly.revoked,
    ]);
  });

  it('honours a secondary rate limit: the write is retried after Retry-After', async () => {
    gh.inject('PUT', /FLY_API_TOKEN$/, {
      status: 403,
      headers: { 'retry-after': '2' },
      body: {
        message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
      },
    });
    const from = gh.log.length;
    const h = await rotate();
    await fx.withWorker(config, () => h.result());
    const puts = gh.log.slice(from).filter((l) => l.startsWith('PUT'));
    assert.deepEqual(puts, [
      `PUT /repos/${REPO}/actions/secrets/FLY_API_TOKEN 403`,
      `PUT /repos/${REPO}/actions/secrets/FLY_API_TOKEN 204`,
    ]);
    // Not the activity's own backoff (1s): the delay GitHub asked for.
    const [first, second] = gh.log
      .map((l, i) => [l, gh.at[i] as number] as const)
      .slice(from)
      .filter(([l]) => l.startsWith('PUT'))
      .map(([, t]) => t);
    assert.ok(
      (second as number) - (first as number) >= 2000,
      `retried after ${(second as number) - (first as number)} ms`,
    );
    // The retry came no sooner than GitHub asked (the activity's own backoff would be 1s).
    const history = await fx.client.workflow.getHandle(h.workflowId).fetchHistory();
    const write = history.events?.find(
      (e) =>
        e.activityTaskStartedEventAttributes &&
        history.events?.some(
          (s) =>
            String(s.eventId) === String(e.activityTaskStartedEventAttributes?.scheduledEventId) &&
            s.userMetadata?.summary &&
            Buffer.from(s.userMetadata.summary.data ?? [])
              .toString()
              .includes('github:FLY_API_TOKEN'),
        ),
    );
    assert.equal(write?.activityTaskStartedEventAttributes?.attempt, 2);
    const now = await everywhere();
    assert.deepEqual(now, { vault: now.vault, fly: now.vault, github: now.vault });
  });

  it('a worker killed between the Fly write and the GitHub write: the run converges on the new token in both', async () => {
    const old = await everywhere();
    const held = gh.hold('PUT', /FLY_API_TOKEN$/);
    let worker: ChildProcess = startWorker(t, 'secrets', fx.taskQueue);
    const h = await rotate();
    // A run that fails before the GitHub write fails the test instead of hanging it.
    await Promise.race([
      held.arrived,
      h.result().then(() => assert.fail('the run ended before the GitHub write')),
    ]);
    // Fly has the new token, GitHub not yet: the state the runbook warns about.
    assert.notEqual(fly.secret('molecule-cp', 'FLY_API_TOKEN'), old.fly);
    assert.equal(gh.secret(REPO, 'FLY_API_TOKEN'), old.github);
    await kill(worker);
    held.release();
    worker = startWorker(t, 'secrets', fx.taskQueue);
    try {
      const result = await h.result();
      assert.equal(result.revoked, true);
    } finally {
      await kill(worker);
    }
    const now = await everywhere();
    assert.notEqual(now.vault, old.vault);
    assert.deepEqual(now, { vault: now.vault, fly: now.vault, github: now.vault });
    assert.equal(fly.live(old.vault), false);
    await until('the control plane to be healthy', async () => (await health()) === 200 || undefined);
  });

  describe('NEON_API_KEY, made and revoked by a person in the Neon console', () => {
    const neonNow = async () => ({
      vault: (await vault().get('neon-api-key')).value,
      fly: fly.secret('molecule-cp', 'NEON_API_KEY'),
    });
    const provision = async () => (await fetch(`${neon.url}/cp/provision-check`)).status;
    const startNeon = () =>
      startSecretRotation(
        fx.client,
        config,
        { secret: 'neon-api-key', environment: 'local' },
        { taskQueue: fx.taskQueue },
      );

    it('the run waits for the key, secret supply hands it over from stdin, Fly gets it, an approver confirms the old one revoked', async () => {
      const old = await neonNow();
      const none = await cli(['secret', 'supply', 'neon-api-key', '--env', 'local'], 'napi_whatever');
      assert.equal(none.code, 2, none.out);
      assert.match(none.stderr, /no run of secret neon-api-key in local is waiting for a value/);
      await fx.withWorker(config, async () => {
        const h = await startNeon();
        const wait = await until('the supply step', async () => (await h.query(progressQuery)).supply);
        assert.equal(wait.issuer, 'Neon console: Account Settings, API Keys');
        const status = await cli(['status', h.workflowId]);
        const statusDoc = await cli(['status', h.workflowId, '--json']);
        assertMatchesSchema('status', JSON.parse(statusDoc.stdout));
        assert.match(
          status.stdout,
          /a new value issued at Neon console: Account Settings, API Keys: rekey secret supply neon-api-key --env local/,
        );
        // The key in use, pasted by mistake: refused, nothing written.
        const same = await cli(['secret', 'supply', 'neon-api-key', '--env', 'local'], `${old.vault}\n`);
        assert.equal(same.code, 2, same.out);
        assert.match(same.stderr, /cannot be the new value of neon-api-key: it is the value in use now/);
        // Made in the console, handed over on the operator's machine.
        const made = await neon.createKey('control plane 2026-12');
        const given = await cli(
          ['secret', 'supply', 'neon-api-key', '--env', 'local', '--as', 'ops', '--json'],
          `${made.key}\n`,
        );
        assert.equal(given.code, 0, given.out);
        const doc = JSON.parse(given.stdout);
        assertMatchesSchema('secret-supply', doc);
        assert.equal(doc.taken, true, 'the command returns once the run took the version');
        const gate = await until('the revoke gate', async () => (await h.query(progressQuery)).pendingGate);
        assert.equal(gate.name, 'revoke');
        assert.match(gate.summary, /revoke the old value of secret neon-api-key in local at Neon console/);
        // Everywhere the new key, and the control plane provisions with it.
        assert.deepEqual(await neonNow(), { vault: made.key, fly: made.key });
        assert.equal(await provision(), 200);
        const tags = (await vault().listVersions('neon-api-key')).find(
          (v) => v.version === doc.version,
        )?.tags;
        assert.deepEqual([tags?.rekeyRunId, tags?.suppliedBy], [doc.runId, 'ops']);
        // The person revokes the old key in the console, then confirms it here.
        await neon.revokeKey(firstNeonKey.id);
        const ok = await cli([
          'approve',
          h.workflowId,
          '--by',
          'alice',
          '--digest',
          gate.digest ?? '',
          '--key',
          keyFile('alice'),
        ]);
        assert.equal(ok.code, 0, ok.out);
        const result = await h.result();
        assert.deepEqual(result.revokeConfirmedBy, ['alice']);
        assert.equal(neon.live(old.vault), false);
        assertNoSecrets(
          JSON.stringify(result) +
            given.out +
            same.out +
            status.out +
            (await historyText(fx.client, h.workflowId)),
          [old.vault, made.key],
        );
        firstNeonKey = made as typeof firstNeonKey;
      });
    });

    it('a key written to the store by other means is taken as the run’s; a failed provision puts both places back', async () => {
      const before = await neonNow();
      await fx.withWorker(config, async () => {
        const h = await startNeon();
        await until('the supply step', async () => (await h.query(progressQuery)).supply);
        // Written straight to the store (not through rekey), and already revoked at Neon: the
        // provision check fails with it.
        const dead = await neon.createKey('mistake');
        await neon.revokeKey(dead.id);
        await vault().set('neon-api-key', dead.key, {});
        const f = await failureOf(h.result());
        assert.equal(f.type, 'VerifyFailed');
        assert.match(f.message, /every location was put back; revoke the unused new value at Neon console/);
        assert.deepEqual(await neonNow(), before);
        assert.equal(await provision(), 200);
        // The supply step took the version written by hand (written again under the run's tags).
        const progress = await h.query(progressQuery);
        assert.match(
          progress.steps.find((s) => s.name === 'supply')?.detail ?? '',
          /^version \w+ at kv-local:neon-api-key$/,
        );
        assertNoSecrets(f.message + (await historyText(fx.client, h.workflowId)), [before.vault, dead.key]);
      });
    });
  });
});
