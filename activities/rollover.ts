// Activities of the overlap ("kid") rollover: a keyring of signing keys in the secret store, one
// active, installed on every replica of a service that accepts all of them (JWKS style).
// Each change to the ring is a new version of one secret, tagged with the run and the step, so a
// retried step finds its own version instead of changing the ring twice.
import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import { asyncLocalStorage } from '@temporalio/activity';
import { gatedOf, gatePolicy, keyringEnvironments, scopeOf } from '../config/approvals';
import { parseDuration } from '../config/duration';
import type { Config, KeyringConfig } from '../config/schema';
import { withHost } from '../hosts/connect';
import { resolveOnHost } from '../hosts/types';
import { beat, heartbeating } from '../services/heartbeat';
import { createServiceDriver, restartAndCheck } from '../services/service';
import type { Approved } from '../shared/approval-proof';
import { FailureType, fail } from '../shared/failures';
import { referencedSecret } from '../stores/drivers';
import { KubernetesClient } from '../stores/kubernetes/client';
import type { SecretStore } from '../stores/types';
import { generateKeyPair, jwkThumbprint } from './keys';

/** The Secret's annotation listing the kids whose `key.<kid>` rekey wrote: only those are ever
 * removed (a `key.*` written by hand or by another tool stays). */
const KIDS_ANNOTATION = 'rekey.dev/keyring-kids';

interface RingKey {
  kid: string;
  publicPem: string;
  privatePem: string;
  created: string;
}

interface Ring {
  keys: RingKey[];
  active: string | null;
}

/** What a workflow may know about a ring: kids, never keys. */
export interface RingFacts {
  kids: string[];
  active: string | null;
  version: string | null;
}

export interface KeyringDeps {
  config: Config;
  store(name: string): SecretStore;
}

export function createRolloverActivities(deps: KeyringDeps) {
  function ringConfig(name: string): KeyringConfig {
    const ring = deps.config.keyrings[name];
    if (!ring) throw fail(FailureType.BadInput, `unknown keyring "${name}"`);
    return ring;
  }

  /** The ring in a secret's value. A value that is not a ring fails without echoing any of it
   * (JSON.parse quotes the text around the error, and this text holds private keys). */
  function parseRing(value: string, where: string): Ring {
    let ring: unknown;
    try {
      ring = JSON.parse(value);
    } catch {
      throw fail(FailureType.BadInput, `${where}: the secret's value is not JSON (value not shown)`);
    }
    const r = ring as Ring;
    if (
      !r ||
      typeof r !== 'object' ||
      !Array.isArray(r.keys) ||
      !(r.active === null || typeof r.active === 'string')
    )
      throw fail(
        FailureType.BadInput,
        `${where}: the secret's value is not a keyring ({keys: [...], active})`,
      );
    return r;
  }

  async function load(name: string): Promise<{ ring: Ring; version: string | null; store: SecretStore }> {
    const cfg = ringConfig(name);
    const store = deps.store(cfg.store);
    const versions = await store.listVersions(cfg.secret);
    if (versions.length === 0) return { ring: { keys: [], active: null }, version: null, store };
    const current = await store.get(cfg.secret);
    return {
      ring: parseRing(current.value, `keyring ${name}: ${cfg.secret}`),
      version: current.version,
      store,
    };
  }

  const facts = (ring: Ring, version: string | null): RingFacts => ({
    kids: ring.keys.map((k) => k.kid),
    active: ring.active,
    version,
  });

  /** Applies `change` once per (run, step): a retry returns the version the first attempt made. */
  async function change(
    name: string,
    runId: string,
    step: string,
    fn: (ring: Ring) => Promise<Ring>,
  ): Promise<RingFacts> {
    const cfg = ringConfig(name);
    const { ring, store } = await load(name);
    const done = (await store.listVersions(cfg.secret)).find(
      (v) => v.tags.rekeyRunId === runId && v.tags.step === step,
    );
    if (done) {
      const v = await store.get(cfg.secret, done.version);
      return facts(parseRing(v.value, `keyring ${name}: ${cfg.secret} version ${v.version}`), v.version);
    }
    const next = await fn(ring);
    const v = await store.set(cfg.secret, JSON.stringify(next), {
      rekeyRunId: runId,
      step,
      active: next.active ?? '',
    });
    return facts(next, v.version);
  }

  /** The keyring's Secret through its store. */
  function kubernetesOf(name: string, target: NonNullable<KeyringConfig['kubernetes']>): KubernetesClient {
    const storeCfg = deps.config.stores[target.store];
    if (storeCfg?.type !== 'kubernetes')
      throw fail(FailureType.BadInput, `keyring ${name}: "${target.store}" is not a kubernetes store`);
    return new KubernetesClient(
      target.store,
      storeCfg,
      referencedSecret(target.store, storeCfg.token, deps.store),
    );
  }

  /**
   * Writes the ring's current version into the Secret (`key.<kid>` for each key, `active`; the
   * keys of kids rekey wrote before and the ring no longer has removed, no other key), then
   * restarts Deployment `index` and waits for its roll-out. Done again after a lost worker, it
   * writes the same and finds its own restart.
   */
  async function rollOutOnKubernetes(
    name: string,
    target: NonNullable<KeyringConfig['kubernetes']>,
    index: number,
  ): Promise<{ url: string; kids: string[] }> {
    const deployment = target.deployments[index];
    if (!deployment) throw fail(FailureType.BadInput, `keyring ${name}: no deployment ${index}`);
    const kube = kubernetesOf(name, target);
    const info = asyncLocalStorage.getStore()?.info;
    const restart = info?.workflowExecution
      ? `${info.workflowExecution.runId}/${info.activityId}`
      : randomUUID();
    return heartbeating(async () => {
      const { ring, store } = await load(name);
      const kids = ring.keys.map((k) => k.kid);
      // A Secret written before the annotation existed: the kids of every version of the ring
      // are the ones rekey wrote (a kid removed from the ring must leave the Secret too).
      const everyRingKid = new Set<string>();
      if ((await kube.annotations(target.secret))[KIDS_ANNOTATION] === undefined) {
        const ringSecret = ringConfig(name).secret;
        for (const v of await store.listVersions(ringSecret))
          for (const k of parseRing((await store.get(ringSecret, v.version)).value, `keyring ${name}`).keys)
            everyRingKid.add(k.kid);
      }
      let retired: string[] = [];
      await kube.patchKeys(target.secret, (_data, annotations) => {
        const wrote = annotations[KIDS_ANNOTATION]?.split(',').filter(Boolean) ?? [...everyRingKid];
        retired = wrote.filter((k) => !kids.includes(k));
        return {
          data: {
            ...Object.fromEntries(retired.map((k) => [`key.${k}`, null])),
            ...Object.fromEntries(ring.keys.map((k) => [`key.${k.kid}`, k.privatePem])),
            active: ring.active ?? '',
          },
          annotations: { [KIDS_ANNOTATION]: kids.join(',') },
        };
      });
      await kube.restartDeployment(deployment, restart);
      const deadline = Date.now() + parseDuration(target.rolloutTimeout);
      for (;;) {
        const state = await kube.rolledOut(deployment);
        beat(state.text);
        if (state.done) break;
        if (Date.now() > deadline)
          throw fail(
            FailureType.MarkerTimeout,
            `keyring ${name}: deployment ${deployment} did not finish its roll-out within ${target.rolloutTimeout} (${state.text})`,
          );
        await new Promise((r) => setTimeout(r, 500));
      }
      // What the pods mount: the Secret as the server has it now holds every key of the ring.
      const data = await kube.data(target.secret);
      const missing = ring.keys.filter((k) => data[`key.${k.kid}`] !== k.privatePem).map((k) => k.kid);
      const left = retired.filter((k) => data[`key.${k}`] !== undefined);
      if (missing.length || left.length || data.active !== (ring.active ?? ''))
        throw new Error(
          `Secret ${target.secret} after the write: ${missing.length ? `key(s) ${missing.join(',')} missing or changed` : left.length ? `retired key(s) ${left.join(',')} still there` : 'active changed'} (another writer?)`,
        );
      return { url: `deployment/${deployment}`, kids: [...kids].sort() };
    });
  }

  return {
    async readKeyring(input: { keyring: string }) {
      const cfg = ringConfig(input.keyring);
      const { ring, version } = await load(input.keyring);
      // The plan's check that every step may do what it will: nothing is changed before it.
      if (cfg.kubernetes) {
        const kube = kubernetesOf(input.keyring, cfg.kubernetes);
        await kube.data(cfg.kubernetes.secret);
        await kube.mayPatch(cfg.kubernetes.secret);
        for (const d of cfg.kubernetes.deployments) await kube.checkDeployment(d);
      }
      // The gate is the config's: the rules of the environments the ring serves.
      const environments = keyringEnvironments(deps.config, input.keyring);
      const gated = gatedOf(deps.config, environments);
      return {
        ...facts(ring, version),
        environments,
        approvalRequired: gated.length > 0,
        scope: scopeOf(deps.config, environments),
        tokenLifetime: cfg.tokenLifetime,
        replicas: cfg.kubernetes
          ? cfg.kubernetes.deployments.map((d) => `deployment/${d}`)
          : cfg.replicas.map((r) => r.url),
        maxUnavailable: cfg.maxUnavailable,
        approvers: Object.keys(deps.config.approvals.approvers),
        approvalTimeout: deps.config.approvals.timeout,
        approval: gatePolicy(deps.config, gated),
      };
    },

    /** Adds a new key beside the others; the active key stays as it is. */
    async addKey(
      input: { keyring: string; runId: string } & Approved,
    ): Promise<RingFacts & { added: string }> {
      const result = await change(input.keyring, input.runId, 'add', async (ring) => {
        const pair = generateKeyPair();
        const kid = await jwkThumbprint(pair.publicPem);
        return {
          keys: [...ring.keys, { kid, ...pair, created: new Date().toISOString() }],
          active: ring.active ?? kid,
        };
      });
      return { ...result, added: result.kids.at(-1) as string };
    },

    async activate(input: { keyring: string; runId: string; kid: string } & Approved): Promise<RingFacts> {
      return change(input.keyring, input.runId, 'activate', async (ring) => {
        if (!ring.keys.some((k) => k.kid === input.kid)) {
          throw fail(FailureType.BadInput, `keyring ${input.keyring}: no key ${input.kid} to activate`);
        }
        return { ...ring, active: input.kid };
      });
    },

    async removeKey(input: { keyring: string; runId: string; kid: string } & Approved): Promise<RingFacts> {
      return change(input.keyring, input.runId, 'remove', async (ring) => {
        if (ring.active === input.kid) {
          throw fail(
            FailureType.PolicyViolation,
            `keyring ${input.keyring}: ${input.kid} is active; flip first`,
          );
        }
        return { ...ring, keys: ring.keys.filter((k) => k.kid !== input.kid) };
      });
    },

    /**
     * Installs the ring's current version on one replica (every public key, the active private
     * key; mode 0600), restarts it, and checks its JWKS lists exactly the ring's kids.
     */
    async rollOut(
      input: {
        keyring: string;
        replica: number /** locked by the run (worker/held-locks.ts) */;
        environments?: string[];
      } & Approved,
    ): Promise<{ url: string; kids: string[] }> {
      const cfg = ringConfig(input.keyring);
      if (cfg.kubernetes) return rollOutOnKubernetes(input.keyring, cfg.kubernetes, input.replica);
      const replica = cfg.replicas[input.replica];
      if (!replica) throw fail(FailureType.BadInput, `keyring ${input.keyring}: no replica ${input.replica}`);
      const hostCfg = deps.config.hosts[replica.host];
      const serviceCfg = deps.config.services[replica.service];
      if (!hostCfg || !serviceCfg)
        throw fail(FailureType.BadInput, `keyring ${input.keyring}: replica ${replica.url} misconfigured`);
      const { ring } = await load(input.keyring);
      const installed = {
        active: ring.active,
        keys: ring.keys.map((k) => ({
          kid: k.kid,
          publicPem: k.publicPem,
          ...(k.kid === ring.active ? { privatePem: k.privatePem } : {}),
        })),
      };
      await withHost(replica.host, hostCfg, async (h) => {
        await h.writeFileAtomic(
          resolveOnHost(h, posix.normalize(cfg.file)),
          JSON.stringify(installed),
          0o600,
        );
        await restartAndCheck(createServiceDriver(h, serviceCfg), { publish: false });
      });
      const res = await fetch(`${replica.url}/.well-known/jwks.json`);
      const kids = ((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort();
      const want = ring.keys.map((k) => k.kid).sort();
      if (JSON.stringify(kids) !== JSON.stringify(want)) {
        throw new Error(
          `replica ${replica.url} lists ${kids.join(',')} after restart, expected ${want.join(',')}`,
        );
      }
      return { url: replica.url, kids };
    },
  };
}

export type RolloverActivities = ReturnType<typeof createRolloverActivities>;
