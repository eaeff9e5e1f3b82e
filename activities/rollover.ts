// Activities of the overlap ("kid") rollover: a keyring of signing keys in the secret store, one
// active, installed on every replica of a service that accepts all of them (JWKS style).
// Each change to the ring is a new version of one secret, tagged with the run and the step, so a
// retried step finds its own version instead of changing the ring twice.
import { posix } from 'node:path';
import { gatedOf, gatePolicy, keyringEnvironments, scopeOf } from '../config/approvals';
import { withHost } from '../hosts/connect';
import { resolveOnHost } from '../hosts/types';
import { createServiceDriver, restartAndCheck } from '../services/service';
import type { Approved } from '../shared/approval-proof';
import { FailureType, fail } from '../shared/failures';
import { type KeyringDeps, keyringList, type RingFacts } from './keyring-list';
import { generateKeyPair, jwkThumbprint } from './keys';

export function createRolloverActivities(deps: KeyringDeps) {
  const { ringConfig, load, facts, change, kubernetesOf, rollOutOnKubernetes } = keyringList(deps);

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
