// A Kubernetes Secret as a secret recipe's location, against a real kube-apiserver (with etcd,
// RBAC and kube-controller-manager; kwok stands in for the kubelet, see test/infra/kubernetes.ts):
// the requests-proxy keyring of runbook 002 lives in a Secret that helm must not overwrite
// (helm.sh/resource-policy: keep), so rekey edits one key in place and keeps the rest; the
// consumer is a Deployment rolled out with `kubectl rollout restart` and `rollout status`.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { parse, stringify } from 'yaml';
import { generateKeyPair, jwkThumbprint } from '../activities/keys';
import { createRolloverActivities } from '../activities/rollover';
import { startRollover } from '../client/runs/rollover';
import { startSecretRotation } from '../client/runs/secret';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { createSecretStore } from '../stores/drivers';
import { KubernetesClient } from '../stores/kubernetes/client';
import { assertNoSecrets, failureOf, historyText, type TemporalFixture, temporalFixture } from './helpers';
import { type Cluster, startCluster } from './infra/kubernetes';
import { portOf } from './infra/ports';
import { buildTopology, type Topology } from './infra/topology';

const NS = 'proxy';
const SECRET = 'requests-proxy-admin';

describe('kubernetes: a Secret edited in place, a Deployment rolled out', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let kube: Cluster;
  let config: Config;
  const values: string[] = [];
  const store = () => createSecretStore('kv-local', config.stores['kv-local'] as never);
  const secretObject = () =>
    JSON.parse(kube.kubectl(['-n', NS, 'get', 'secret', SECRET, '-o', 'json'])) as {
      metadata: { annotations?: Record<string, string>; labels?: Record<string, string> };
      data: Record<string, string>;
    };
  const key = (obj: ReturnType<typeof secretObject>, k: string) =>
    Buffer.from(obj.data[k] ?? '', 'base64').toString('utf8');
  /** A field of a Deployment, as `kubectl get -o jsonpath` prints it. */
  const deployment = (name: string, jsonpath: string) =>
    kube.kubectl(['-n', NS, 'get', 'deployment', name, '-o', `jsonpath=${jsonpath}`]);
  const restartedAt = () =>
    deployment(
      'requests-proxy',
      '{.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}',
    );

  const clientAs = (user: string) =>
    new KubernetesClient('kube', config.stores.kube as never, async () => kube.tokenOf(user));

  before(async () => {
    fx = await temporalFixture('secrets');
    t = buildTopology('kubernetes', portOf('kubernetes'));
    rmSync(join(t.dir, 'local-secrets'), { recursive: true, force: true });
    mkdirSync(join(t.dir, 'local-app'), { recursive: true });
    kube = await startCluster(join(t.dir, 'kube'), 16443, ['rekey']);
    const first = ['a'.repeat(64), 'b'.repeat(64)].map((c, i) => `${i}${c.slice(1)}`);
    values.push(...first);
    // The Secret as helm made it, kept on upgrades; rekey may get both Secrets and patch only this one.
    kube.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: {
              name: SECRET,
              namespace: NS,
              annotations: { 'helm.sh/resource-policy': 'keep', 'meta.helm.sh/release-name': 'rp' },
              labels: { 'app.kubernetes.io/managed-by': 'Helm' },
            },
            stringData: {
              SIGNING_KEYS: first[0],
              ACTIVE: 'v1',
              OTHER: 'left-alone',
              'key.legacy': 'hand-made',
            },
          },
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'locked', namespace: NS },
            stringData: { TOKEN: first[1] },
          },
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'Role',
            metadata: { name: 'rekey', namespace: NS },
            rules: [
              { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: [SECRET, 'locked'] },
              { apiGroups: [''], resources: ['secrets'], verbs: ['patch'], resourceNames: [SECRET] },
              { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'patch'] },
            ],
          },
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'RoleBinding',
            metadata: { name: 'rekey', namespace: NS },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'rekey' },
            subjects: [{ kind: 'User', name: 'rekey', apiGroup: 'rbac.authorization.k8s.io' }],
          },
          ...['requests-proxy', 'jobs-manager'].map((app) => ({
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: app, namespace: NS },
            spec: {
              replicas: 2,
              selector: { matchLabels: { app } },
              template: {
                metadata: { labels: { app } },
                spec: { nodeName: 'kwok-node-0', containers: [{ name: app, image: `${app}:1` }] },
              },
            },
          })),
        ],
      }),
    );
    process.env.REKEY_TEST_KUBE_TOKEN = kube.tokenOf('rekey');
    const kubectl = `${join(process.env.REKEY_CACHE ?? join(process.env.HOME ?? '', '.cache', 'rekey'), 'kubernetes', 'kubectl')} --kubeconfig ${kube.kubeconfig} -n ${NS}`;
    const doc = parse(readFileSync(t.configFile, 'utf8'));
    doc.stores.kube = {
      type: 'kubernetes',
      server: kube.server,
      namespace: NS,
      token: { env: 'REKEY_TEST_KUBE_TOKEN' },
      caFile: kube.caFile,
    };
    const rollout = `${kubectl} rollout status deployment/requests-proxy --timeout=60s`;
    doc.services['requests-proxy'] = {
      driver: 'command',
      start: rollout,
      restart: `${kubectl} rollout restart deployment/requests-proxy && ${rollout}`,
      stop: `${kubectl} scale deployment/requests-proxy --replicas=0`,
      logs: `${kubectl} get pods -l app=requests-proxy`,
    };
    // What the Deployment's pods would mount: the key list in the Secret is the one on stdin.
    const sameInSecret = (k: string, secret = SECRET) =>
      `test "$(cat)" = "$(${kubectl} get secret ${secret} -o jsonpath={.data.${k}} | base64 -d)" && echo same`;
    doc.secrets = {
      'proxy-signing-keys': {
        description: "requests-proxy's signing keys (runbook 002), in a Secret helm keeps",
        environments: ['local'],
        strategy: 'keyring',
        generator: { type: 'random', bytes: 32, encoding: 'hex' },
        keyring: { overlap: '3s' },
        locations: [{ name: 'proxy-signing-keys' }, { store: 'kube', name: `${SECRET}/SIGNING_KEYS` }],
        consumers: ['requests-proxy'],
        verify: [
          { command: sameInSecret('SIGNING_KEYS'), secretOnStdin: true, expect: '^same', within: '20s' },
        ],
      },
      'locked-token': {
        environments: ['local'],
        generator: { type: 'random', bytes: 32, encoding: 'hex' },
        locations: [{ name: 'locked-token' }, { store: 'kube', name: 'locked/TOKEN' }],
      },
    };
    // Runbook 002's layout: key.<kid> beside key.<kid>, and `active`, in the Secret helm keeps.
    doc.keyrings = {
      'requests-proxy': {
        store: 'kv-local',
        secret: 'requests-proxy-ring',
        tokenLifetime: '3s',
        kubernetes: { store: 'kube', secret: SECRET, deployments: ['requests-proxy', 'jobs-manager'] },
      },
    };
    writeFileSync(t.configFile, stringify(doc));
    config = loadConfig(t.configFile);
    await store().set('proxy-signing-keys', first[0] as string, {});
    await store().set('locked-token', first[1] as string, {});
    const pair = generateKeyPair();
    const kid = await jwkThumbprint(pair.publicPem);
    values.push(pair.privatePem);
    await store().set(
      'requests-proxy-ring',
      JSON.stringify({ keys: [{ kid, ...pair, created: new Date().toISOString() }], active: kid }),
      {},
    );
    kube.kubectl([
      '-n',
      NS,
      'patch',
      'secret',
      SECRET,
      '-p',
      JSON.stringify({ stringData: { [`key.${kid}`]: pair.privatePem, active: kid } }),
    ]);
  });
  after(async () => {
    kube?.stop();
    await fx?.close();
  });

  const rotate = (secret: string) =>
    startSecretRotation(fx.client, config, { secret, environment: 'local' }, { taskQueue: fx.taskQueue });

  it('a keyring in a Secret helm keeps: the new key in front, rolled out, then the old one dropped; the rest untouched', async () => {
    const before = secretObject();
    const old = key(before, 'SIGNING_KEYS');
    const restartsBefore = restartedAt();
    const result = await fx.withWorker(config, async () => {
      const h = await rotate('proxy-signing-keys');
      // During the overlap the Secret holds both keys, new first, and the pods were rolled.
      const overlap = await (async () => {
        for (let i = 0; i < 200; i++) {
          const list = key(secretObject(), 'SIGNING_KEYS').split(',');
          if (list.length === 2) return list;
          await new Promise((r) => setTimeout(r, 100));
        }
        return [];
      })();
      assert.equal(overlap[1], old);
      values.push(overlap[0] as string);
      return h.result();
    });
    assert.equal(result.plan.keyring?.keys, 1);
    assert.match(
      result.plan.text.join('\n'),
      new RegExp(`set key SIGNING_KEYS of Kubernetes Secret ${NS}/${SECRET} in place`),
    );
    const now = secretObject();
    const list = key(now, 'SIGNING_KEYS').split(',');
    assert.equal(list.length, 1, 'the old key is dropped');
    assert.notEqual(list[0], old);
    assert.equal((await store().get('proxy-signing-keys')).value, list[0]);
    // Edited in place: helm's annotations and labels, and the other keys, as they were.
    assert.deepEqual(now.metadata.annotations, before.metadata.annotations);
    assert.deepEqual(now.metadata.labels, before.metadata.labels);
    assert.equal(key(now, 'OTHER'), 'left-alone');
    assert.equal(key(now, 'ACTIVE'), 'v1');
    // Rolled out (twice: after the new key, after the drop) and every replica ready.
    assert.notEqual(restartedAt(), restartsBefore);
    const ready = deployment('requests-proxy', '{.status.readyReplicas}/{.status.updatedReplicas}');
    assert.equal(ready, '2/2');
    const sets = kube
      .kubectl(['-n', NS, 'get', 'replicasets', '-l', 'app=requests-proxy', '-o', 'name'])
      .trim()
      .split('\n');
    assert.ok(sets.length >= 3, `${sets.length} replica sets: one per roll-out`);
    assertNoSecrets(await historyText(fx.client, `rotate-secret/proxy-signing-keys/local`), values);
  });

  it('a rollover into the Secret: key.<new> beside key.<old>, rolled out, active flipped, then key.<old> removed', async () => {
    // key.legacy was written by hand, not by rekey: it stays.
    const kidsIn = () =>
      Object.keys(secretObject().data)
        .filter((k) => k.startsWith('key.') && k !== 'key.legacy')
        .map((k) => k.slice(4));
    const [old] = kidsIn();
    const before = secretObject();
    const restarts = () =>
      ['requests-proxy', 'jobs-manager'].map((d) => deployment(d, '{.metadata.generation}'));
    const generations = restarts();
    const result = await fx.withWorker(config, async () => {
      const h = await startRollover(
        fx.client,
        config,
        { keyring: 'requests-proxy' },
        { taskQueue: fx.taskQueue },
      );
      // The wait: both keys in the Secret, the new one active, both Deployments rolled.
      for (let i = 0; i < 200 && !(kidsIn().length === 2 && key(secretObject(), 'active') !== old); i++)
        await new Promise((r) => setTimeout(r, 100));
      const during = secretObject();
      assert.equal(kidsIn().length, 2);
      assert.notEqual(key(during, 'active'), old);
      assert.ok(kidsIn().includes(old as string));
      return h.result();
    });
    assert.equal(result.removed, old);
    const after = secretObject();
    assert.deepEqual(kidsIn(), [result.added]);
    assert.equal(key(after, 'active'), result.added);
    // The new key's private half, as the ring holds it; the rest of the Secret as it was.
    const stored = JSON.parse((await store().get('requests-proxy-ring')).value) as {
      keys: { kid: string; privatePem: string }[];
    };
    values.push(...stored.keys.map((k) => k.privatePem));
    assert.equal(key(after, `key.${result.added}`), stored.keys[0]?.privatePem);
    const { 'rekey.dev/keyring-kids': kids, ...annotations } = after.metadata.annotations ?? {};
    assert.equal(kids, result.added, 'the kids rekey wrote, the only key.* it ever removes');
    assert.deepEqual(annotations, before.metadata.annotations);
    assert.equal(key(after, 'OTHER'), 'left-alone');
    assert.equal(key(after, 'key.legacy'), 'hand-made');
    assert.equal(key(after, 'SIGNING_KEYS'), key(before, 'SIGNING_KEYS'));
    // Three roll-outs of each Deployment (new key, flip, removal), each finished.
    for (const [i, g] of restarts().entries())
      assert.ok(Number(g) >= Number(generations[i]) + 3, `generation ${g}`);
    for (const d of ['requests-proxy', 'jobs-manager'])
      assert.equal(deployment(d, '{.status.updatedReplicas}/{.status.availableReplicas}'), '2/2');
    assertNoSecrets(await historyText(fx.client, 'rollover/requests-proxy'), values);
  });

  it('RBAC refuses the patch: the plan (a server-side dry run) fails naming the Secret, nothing written anywhere', async () => {
    const k8s = clientAs('rekey');
    const old = await k8s.get('locked/TOKEN');
    const versions = (await store().listVersions('locked-token')).length;
    const err = await fx.withWorker(config, async () => failureOf((await rotate('locked-token')).result()));
    assert.equal(err.type, 'StoreUnauthorized');
    assert.match(err.message, /store kube \(Secret proxy\/locked\): refused \(PATCH: 403/);
    assertNoSecrets(err.message, [old as string]);
    assert.equal(await k8s.get('locked/TOKEN'), old);
    assert.equal(
      (await store().listVersions('locked-token')).length,
      versions,
      'the first location not written',
    );
  });

  it('a paused Deployment: the rollover fails at its plan, no key added', async () => {
    const ring = () => store().listVersions('requests-proxy-ring');
    const versions = (await ring()).length;
    kube.kubectl(['-n', NS, 'rollout', 'pause', 'deployment/jobs-manager']);
    try {
      const err = await fx.withWorker(config, async () =>
        failureOf(
          (
            await startRollover(fx.client, config, { keyring: 'requests-proxy' }, { taskQueue: fx.taskQueue })
          ).result(),
        ),
      );
      assert.match(err.message, /store kube \(Deployment proxy\/jobs-manager\) is paused/);
    } finally {
      kube.kubectl(['-n', NS, 'rollout', 'resume', 'deployment/jobs-manager']);
    }
    assert.equal((await ring()).length, versions, 'no key added');
  });

  it('a roll-out done again (a retried step) finds its own restart: one roll-out, not two', async () => {
    const keyrings = createRolloverActivities({
      config,
      store: (name) => createSecretStore(name, config.stores[name] as never),
    });
    const generation = () => Number(deployment('requests-proxy', '{.metadata.generation}'));
    const env = new MockActivityEnvironment({
      activityId: 'roll-out-1',
      workflowExecution: { workflowId: 'test-retry', runId: randomUUID() },
    });
    const before = generation();
    await env.run(keyrings.rollOut, { keyring: 'requests-proxy', replica: 0 });
    await env.run(keyrings.rollOut, { keyring: 'requests-proxy', replica: 0 });
    assert.equal(generation(), before + 1);
  });

  it('a key or Secret that is not there, or a token that may not read it: refused naming it, nothing written', async () => {
    const k8s = clientAs('rekey');
    assert.equal(await k8s.exists(`${SECRET}/NOPE`), false);
    await assert.rejects(
      k8s.set(`${SECRET}/NOPE`, 'x'.repeat(32)),
      /has no key NOPE; set a first value by hand/,
    );
    await assert.rejects(k8s.exists('missing/KEY'), /refused \(GET: 403/);
    await assert.rejects(
      clientAs('admin').exists('missing/KEY'),
      /Secret proxy\/missing\): no such Secret \(GET: 404/,
    );
  });
});
