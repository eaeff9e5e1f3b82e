// A keyring as the rollover's activities see it: the ring in its store (parsed, checked, changed as
// a new version tagged with the run and step), its facts for workflows (kids, never keys), and its
// keys installed in a Kubernetes Secret.
import { randomUUID } from 'node:crypto';
import { asyncLocalStorage } from '@temporalio/activity';
import { parseDuration } from '../config/duration';
import type { Config, KeyringConfig } from '../config/schema';
import { beat, heartbeating } from '../services/heartbeat';
import { FailureType, fail } from '../shared/failures';
import { referencedSecret } from '../stores/drivers';
import { KubernetesClient } from '../stores/kubernetes/client';
import type { SecretStore } from '../stores/types';

/** The Secret's annotation listing the kids whose `key.<kid>` rekey wrote: only those are ever
 * removed (a `key.*` written by hand or by another tool stays). */
export const KIDS_ANNOTATION = 'rekey.dev/keyring-kids';

export interface RingKey {
  kid: string;
  publicPem: string;
  privatePem: string;
  created: string;
}

export interface Ring {
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

export function keyringList(deps: KeyringDeps) {
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

  return { ringConfig, load, facts, change, kubernetesOf, rollOutOnKubernetes };
}
