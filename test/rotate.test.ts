// The JWT rotation workflow end to end: real Temporal dev server, Key Vault (stand-in), three
// sshd hosts plus the local host, the SpacetimeDB stand-in behind the docker compose shim.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { fingerprint } from '../activities/keys';
import { createRotateActivities, type StagedGroup } from '../activities/rotate';
import { tokenIdentity } from '../activities/tokens';
import { startRotation } from '../client/runs/rotate';
import { resolveOnHost } from '../hosts/types';
import { restoreVersion } from '../stores/pairs';
import type { Progress } from '../workflows/messages';
import { approveUpdate, progressQuery } from '../workflows/messages';
import type { RotateResult } from '../workflows/rotate';
import { assertNoSecrets, historyText, type TemporalFixture, temporalFixture } from './helpers';
import { approversConfig, assertRefused, decide, sign } from './infra/approvers';
import { portOf } from './infra/ports';
import {
  buildTopology,
  cliToken,
  ENVS,
  type Env,
  hostFile,
  onHost,
  type Seeded,
  seed,
  stopServices,
  type Topology,
  whoami,
} from './infra/topology';
import { until } from './infra/until';

function waitForGate(fx: TemporalFixture, workflowId: string): Promise<Progress> {
  return until(`${workflowId} to reach its approval gate`, async () => {
    const p = await fx.client.workflow.getHandle(workflowId).query(progressQuery);
    return p.pendingGate ? p : undefined;
  });
}

describe('rotateJwtKeys', () => {
  let fx: TemporalFixture;
  before(async () => {
    fx = await temporalFixture('rotate');
  });
  after(async () => {
    await fx.close();
  });

  describe('full rotation of prod, test, dev and local', () => {
    let t: Topology;
    let seeded: Seeded;
    let result: RotateResult;
    let workflowId: string;
    let started: number;
    const prodAsked: string[] = [];

    before(async () => {
      t = buildTopology('rotate-full', portOf('rotate-full'));
      seeded = await seed(t);
      started = Date.now();
      // An old private key left world-readable on test, and one a service group reads on dev.
      const chmod = (e: 'test' | 'dev', mode: string) =>
        onHost(t, e, async (h) => {
          const r = await h.exec(`chmod ${mode} ${resolveOnHost(h, '.generated/spacetimedb-keys/id_ecdsa')}`);
          assert.equal(r.code, 0, r.stderr);
        });
      await chmod('test', '0644');
      await chmod('dev', '0640');
      result = await fx.withWorker(t.config, async () => {
        const handle = await startRotation(
          fx.client,
          t.config,
          { environments: [...ENVS] },
          { taskQueue: fx.taskQueue },
        );
        workflowId = handle.workflowId;
        return handle.result();
      });
      // What the run asked prod's vault, before any test reads it (Key Vault's reads are a
      // budget: 4,000 per 10 s a vault, which a fleet's plans spend first).
      for (const secret of [t.config.secretNames.privateKey, t.config.secretNames.publicKey]) {
        const url = `${t.env.keyVault.vaults.prod}/_standin/requests?secret=${encodeURIComponent(secret)}`;
        const log = (await (await fetch(url)).json()) as {
          method: string;
          path: string;
          at: number;
          status: number;
        }[];
        const role = secret === t.config.secretNames.privateKey ? 'private' : 'public';
        // Answered requests only: a new client's first one is answered 401 with the challenge
        // and sent again, a throttled one is sent again.
        for (const r of log.filter((r) => r.at >= started && r.status < 400)) {
          const what =
            r.method !== 'GET' ? r.method.toLowerCase() : r.path.endsWith('/versions') ? 'list' : 'get';
          prodAsked.push(`${what} ${role}`);
        }
      }
    });
    after(() => stopServices(t));

    it('reports every environment rotated', () => {
      assert.equal(workflowId, 'rotate-jwt/dev+local+prod+test');
      assert.deepEqual(
        result.environments.map((e) => [e.env, e.status]).sort(),
        ENVS.map((e) => [e, 'rotated']).sort(),
      );
      assert.equal(result.ok, true);
    });

    it('installs the new current version on each host with modes 0600/0644 (0640 where the old key was group-readable, never world-readable)', async () => {
      const { runId } = await fx.client.workflow.getHandle(workflowId).describe();
      for (const e of ENVS) {
        const store = t.store(e);
        const priv = await store.get(t.config.secretNames.privateKey);
        const pub = await store.get(t.config.secretNames.publicKey);
        assert.equal(priv.tags.rekeyRunId, runId, `${e}: the current version is this run's`);
        const privFile = await hostFile(t, e, '.generated/spacetimedb-keys/id_ecdsa');
        const pubFile = await hostFile(t, e, '.generated/spacetimedb-keys/id_ecdsa.pub');
        assert.equal(privFile.text, priv.value, `${e}: private key file equals the store's current version`);
        assert.equal(pubFile.text, pub.value, `${e}: public key file equals the store's current version`);
        assert.equal(privFile.mode, e === 'dev' ? 0o640 : 0o600, `${e}: private key mode`);
        assert.equal(pubFile.mode, 0o644);
        const group = Object.entries(t.config.keyGroups).find(([, m]) => m.includes(e))?.[0] as string;
        assert.notEqual(
          fingerprint(pub.value),
          fingerprint(seeded.pairs[group]?.publicPem ?? ''),
          `${e}: key changed`,
        );
      }
    });

    it('keeps the publisher identity: the service accepts the re-signed token, rejects the old one', async () => {
      for (const e of ENVS) {
        const token = await cliToken(t, e);
        assert.deepEqual(tokenIdentity(token), tokenIdentity(seeded.tokens[e]), `${e}: identity`);
        const now = await whoami(t, e, token);
        const old = await whoami(t, e, seeded.tokens[e]);
        assert.equal(now.status, 200, `${e}: re-signed token accepted`);
        assert.equal(old.status, 401, `${e}: token signed by the old key rejected`);
      }
    });

    it('holds the key policy: prod, test, dev differ; dev and local are equal', async () => {
      const verify = await createRotateActivities({
        config: t.config,
        store: (n) => t.store(ENVS.find((e) => t.config.environments[e]?.store === n) as Env),
      }).verifyKeys({ includeHosts: true });
      assert.deepEqual(verify.problems, []);
      const fp = Object.fromEntries(verify.rows.map((r) => [r.env, r.fingerprint]));
      assert.equal(fp.dev, fp.local);
      assert.equal(new Set([fp.prod, fp.test, fp.dev]).size, 3);
    });

    it("installs no environment's key pair on another's host: a reference into prod's store for dev is refused", async () => {
      const prodStore = t.config.environments.prod?.store as string;
      const prodPriv = await t.store('prod').get(t.config.secretNames.privateKey);
      const prodPub = await t.store('prod').get(t.config.secretNames.publicKey);
      const before = (await hostFile(t, 'dev', '.generated/spacetimedb-keys/id_ecdsa')).text;
      const activities = createRotateActivities({
        config: t.config,
        store: (n) => t.store(ENVS.find((e) => t.config.environments[e]?.store === n) as Env),
      });
      const privateKeyRef = {
        store: prodStore,
        name: t.config.secretNames.privateKey,
        version: prodPriv.version,
      };
      const publicKeyRef = {
        store: prodStore,
        name: t.config.secretNames.publicKey,
        version: prodPub.version,
      };
      const fp = fingerprint(prodPub.value);
      // As this rekey passes it, and as runs started before the fields were named ...Ref recorded it.
      for (const ref of [
        { privateKeyRef, publicKeyRef, fingerprint: fp },
        { privateKey: privateKeyRef, publicKey: publicKeyRef, fingerprint: fp },
      ])
        await assert.rejects(
          new MockActivityEnvironment().run(activities.installKeyFiles, {
            env: 'dev',
            runId: 'borrowed-pair',
            ref,
          }),
          /dev: the key pair to install is referenced in store .*, not dev's store .*; nothing was changed/,
        );
      assert.equal((await hostFile(t, 'dev', '.generated/spacetimedb-keys/id_ecdsa')).text, before);
    });

    it("asks prod's vault for each thing once: the plan and the check read the current pair without listing it, staging lists the private key once", async (ctx) => {
      // A retried activity (a slow machine's timeout) asks again: then the counts say nothing.
      const history = await fx.client.workflow.getHandle(workflowId).fetchHistory();
      const retried = history.events?.some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
      if (retried) return ctx.skip('an activity of the run was retried');
      const count = (what: string) => prodAsked.filter((s) => s === what).length;
      const text = JSON.stringify([...prodAsked].sort());
      assert.equal(count('put private') + count('put public'), 2, text);
      // Staging lists the private key once, for an earlier attempt's pair (the key it makes is
      // written there without a second look: known nowhere before), then the public key before
      // its write; retiring lists each once.
      assert.equal(count('list private'), 2, text);
      assert.equal(count('list public'), 2, text);
      // Each read once per step: the plan's and the check's current pair (no listing first), the
      // install's pair, the re-sign's private key, and retiring's current version of each.
      assert.equal(count('get private'), 5, text);
      assert.equal(count('get public'), 4, text);
    });

    it('keeps every key value and token out of the workflow history', async () => {
      const text = await historyText(fx.client, workflowId);
      assert.match(text, /publisher-prod/, 'payloads were decoded (token identities are in the results)');
      const secrets: string[] = [];
      for (const e of ENVS) {
        secrets.push(
          (await t.store(e).get(t.config.secretNames.privateKey)).value,
          await cliToken(t, e),
          seeded.tokens[e],
        );
      }
      for (const p of Object.values(seeded.pairs)) secrets.push(p.privatePem);
      assertNoSecrets(text, secrets);
      assert.match(text, /rotateJwtKeys/, 'the history was actually read');
    });

    it('stages one version of a key where two environments of its group share a secret', async () => {
      // local's key in dev's vault under the same names: the one secret both read.
      const config = structuredClone(t.config);
      const local = config.environments.local as (typeof config.environments)[string];
      local.store = config.environments.dev?.store as string;
      const store = t.store('dev');
      const names = t.config.secretNames;
      const before = [await store.get(names.privateKey), await store.get(names.publicKey)];
      const activities = createRotateActivities({ config, store: () => store });
      const staged = (await new MockActivityEnvironment().run(activities.stageKeyPair, {
        runId: 'shared-secret',
        group: 'shared',
        environments: ['dev', 'local'],
      })) as StagedGroup;
      try {
        assert.deepEqual(staged.refs.local, staged.refs.dev);
        for (const name of [names.privateKey, names.publicKey]) {
          const mine = (await store.listVersions(name)).filter((v) => v.tags.rekeyRunId === 'shared-secret');
          assert.equal(mine.length, 1, `${name}: one version for both environments`);
        }
      } finally {
        for (const v of before) await restoreVersion(store, v.name, v.version, 'shared-secret');
      }
    });
  });

  describe('dry run and approval gate', () => {
    let t: Topology;
    let seeded: Seeded;

    before(async () => {
      t = buildTopology('rotate-gate', portOf('rotate-gate'), {
        approvals: { requiredFor: ['prod'], approvers: approversConfig(['alice']), timeout: '1h' },
      });
      seeded = await seed(t);
    });
    after(() => stopServices(t));

    async function snapshot() {
      const out: Record<string, unknown> = {};
      for (const e of ['prod'] as Env[]) {
        out[`${e}.versions`] = (await t.store(e).listVersions(t.config.secretNames.privateKey)).length;
        out[`${e}.key`] = (await hostFile(t, e, '.generated/spacetimedb-keys/id_ecdsa.pub')).text;
        out[`${e}.token`] = await cliToken(t, e);
      }
      return out;
    }

    it('a dry run returns the plan and changes nothing', async () => {
      const beforeState = await snapshot();
      const result = await fx.withWorker(t.config, async () => {
        const h = await startRotation(
          fx.client,
          t.config,
          { environments: ['prod'], dryRun: true },
          { taskQueue: fx.taskQueue },
        );
        return h.result();
      });
      assert.equal(result.dryRun, true);
      assert.equal(result.plan.environments[0]?.env, 'prod');
      assert.equal(result.plan.environments[0]?.token?.sub, 'publisher-prod');
      assert.equal(
        result.plan.environments[0]?.current?.fingerprint,
        fingerprint(seeded.pairs.prod?.publicPem ?? ''),
      );
      assert.deepEqual(await snapshot(), beforeState);
    });

    it('refuses a non-approver (nothing recorded), and a rejection changes nothing', async () => {
      const beforeState = await snapshot();
      await fx.withWorker(t.config, async () => {
        const h = await startRotation(
          fx.client,
          t.config,
          { environments: ['prod'] },
          { taskQueue: fx.taskQueue },
        );
        const gate = await waitForGate(fx, h.workflowId);
        assert.deepEqual(gate.pendingGate?.approvers, ['alice']);
        const digest = gate.pendingGate?.digest ?? '';
        await assertRefused(
          h.executeUpdate(approveUpdate, {
            args: [
              {
                by: 'mallory',
                digest,
                signature: sign('mallory', `approve ${digest}`),
                comment: 'let me in',
              },
            ],
          }),
          /"mallory" is not an approver \(approvers: alice\)/,
        );
        const p = await h.query(progressQuery);
        assert.equal(p.state, 'waiting-approval', 'an approval by a non-approver does not open the gate');
        assert.deepEqual(p.decisions, [], 'a refused decision is not recorded');
        await decide(fx.client, t.config, h.workflowId, 'reject', 'alice', 'not today');
        await assert.rejects(h.result(), (err: Error) =>
          /rejected by alice; nothing was changed/.test(String((err as { cause?: Error }).cause?.message)),
        );
      });
      assert.deepEqual(await snapshot(), beforeState);
      assert.equal(
        (await whoami(t, 'prod', seeded.tokens.prod)).status,
        200,
        'prod still serves with the old key',
      );
    });

    it('an approval by a configured approver lets the rotation run', async () => {
      const result = await fx.withWorker(t.config, async () => {
        const h = await startRotation(
          fx.client,
          t.config,
          { environments: ['prod'] },
          { taskQueue: fx.taskQueue },
        );
        await waitForGate(fx, h.workflowId);
        await decide(fx.client, t.config, h.workflowId, 'approve', 'alice');
        return h.result();
      });
      assert.equal(result.environments[0]?.status, 'rotated');
      assert.equal((await whoami(t, 'prod', await cliToken(t, 'prod'))).status, 200);
    });
  });

  describe('publish-gate failure', () => {
    let t: Topology;
    let seeded: Seeded;
    let result: RotateResult;

    before(async () => {
      t = buildTopology('rotate-rollback', portOf('rotate-rollback'));
      seeded = await seed(t);
      const host = await t.host('test');
      try {
        // The stand-in fails every publish while this file exists: a broken deploy on test.
        await host.writeFileAtomic(resolveOnHost(host, '.standin/fail-publish'), 'forced by test\n', 0o644);
      } finally {
        await host.close();
      }
      result = await fx.withWorker(t.config, async () => {
        const h = await startRotation(
          fx.client,
          t.config,
          { environments: ['prod', 'test'] },
          { taskQueue: fx.taskQueue },
        );
        return h.result();
      });
    });
    after(() => stopServices(t));

    it('rolls the failing environment back and finishes the others', () => {
      const byEnv = Object.fromEntries(result.environments.map((e) => [e.env, e]));
      assert.equal(byEnv.prod?.status, 'rotated');
      assert.equal(byEnv.test?.status, 'rolled-back');
      assert.match(byEnv.test?.status === 'rolled-back' ? byEnv.test.reason : '', /PUBLISH_FAILED/);
      assert.equal(result.ok, false);
    });

    it('the rolled-back environment has its old key, token and current secret version again', async () => {
      const old = seeded.pairs.test;
      assert.ok(old);
      assert.equal(
        (await hostFile(t, 'test', '.generated/spacetimedb-keys/id_ecdsa.pub')).text,
        old.publicPem,
      );
      assert.equal(await cliToken(t, 'test'), seeded.tokens.test);
      const current = await t.store('test').get(t.config.secretNames.publicKey);
      assert.equal(current.value, old.publicPem);
      // Once the failure is fixed, the old deployment serves again with the old key.
      const host = await t.host('test');
      try {
        await host.remove(resolveOnHost(host, '.standin/fail-publish'));
      } finally {
        await host.close();
      }
      assert.equal((await whoami(t, 'test', seeded.tokens.test)).status, 200);
      assert.equal((await whoami(t, 'prod', await cliToken(t, 'prod'))).status, 200);
      assert.equal((await whoami(t, 'prod', seeded.tokens.prod)).status, 401);
    });
  });

  describe('policy check after staging', () => {
    let t: Topology;
    let seeded: Seeded;

    before(async () => {
      // A misconfiguration the check must catch: test's key group kept in prod's vault under the
      // same secret names, so the two groups overwrite each other's keys.
      const base = buildTopology('rotate-policy', portOf('rotate-policy'));
      const environments = {
        ...base.config.environments,
        test: { ...base.config.environments.test, store: 'kv-prod' },
      };
      t = buildTopology('rotate-policy', portOf('rotate-policy'), { environments });
      seeded = await seed(t);
    });
    after(() => stopServices(t));

    it('fails before any host changes and makes the previous keys current again', async () => {
      const prodBefore = await t.store('prod').get(t.config.secretNames.publicKey);
      const error = await fx.withWorker(t.config, async () => {
        const h = await startRotation(
          fx.client,
          t.config,
          { environments: ['prod', 'test'] },
          { taskQueue: fx.taskQueue },
        );
        return h.result().then(
          () => undefined,
          (err: Error) => err,
        );
      });
      const cause = (error as { cause?: Error & { type?: string } } | undefined)?.cause;
      assert.equal(cause?.type, 'PolicyViolation');
      // The two stagings write the one vault at the same time: the check sees either the same
      // pair twice or a private and a public key of different pairs. Either way it is caught.
      assert.match(
        cause?.message ?? '',
        /(key groups (prod and test|test and prod) share key|the public key does not belong to the private key).*the previous keys are current again/,
      );
      const prodAfter = await t.store('prod').get(t.config.secretNames.publicKey);
      assert.equal(prodAfter.value, prodBefore.value, "prod's current key is the old one again");
      assert.equal(prodAfter.tags.restoredFrom, prodBefore.version);
      assert.equal(
        (await hostFile(t, 'prod', '.generated/spacetimedb-keys/id_ecdsa.pub')).text,
        seeded.pairs.prod?.publicPem,
      );
      assert.equal((await whoami(t, 'prod', seeded.tokens.prod)).status, 200);
    });

    it("judges only the run's environments: prod and test's clash does not block dev", async () => {
      const result: RotateResult = await fx.withWorker(t.config, async () =>
        (
          await startRotation(fx.client, t.config, { environments: ['dev'] }, { taskQueue: fx.taskQueue })
        ).result(),
      );
      assert.equal(result.ok, true, JSON.stringify(result.environments));
      assert.deepEqual(result.environments.map((e) => `${e.env}:${e.status}`).sort(), [
        'dev:rotated',
        'local:rotated',
      ]);
    });
  });
});
