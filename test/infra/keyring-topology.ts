// A keyring served by three replicas (the sshd hosts), each running the stand-in in keyring mode
// behind the compose shim, for the overlap rollover tests.

import { createRolloverActivities } from '../../activities/rollover';
import type { ServiceConfig } from '../../config/schema';
import { resolveOnHost } from '../../hosts/types';
import { createServiceDriver } from '../../services/service';
import { approversConfig } from './approvers';
import { HOST_NAMES } from './env';
import { buildTopology, type Topology } from './topology';

export function keyringTopology(name: string, port: number, tokenLifetime: string): Topology {
  return buildTopology(name, port, {
    services: {
      spacetimedb: { driver: 'compose', markerTimeout: '20s' },
      api: {
        driver: 'compose',
        composeFile: './.generated/api-compose.yaml',
        service: 'api',
        markers: { success: ['KEYRING_LOADED'], failure: ['EADDRINUSE'] },
        markerTimeout: '10s',
      },
    },
    keyrings: {
      api: {
        store: 'kv-prod',
        secret: `${name}-keyring`,
        tokenLifetime,
        replicas: HOST_NAMES.map((h, i) => ({
          host: `vm-${h}`,
          service: 'api',
          url: `http://127.0.0.${i + 2}:${port}`,
        })),
      },
    },
    approvals: { requiredFor: [], approvers: approversConfig(['alice']), timeout: '1h' },
  });
}

export function keyringActivities(t: Topology) {
  return createRolloverActivities({ config: t.config, store: () => t.store('prod') });
}

/** Compose files for the replicas, and a ring with one active key rolled out to all of them. */
export async function seedKeyring(t: Topology, port: number): Promise<string> {
  for (const h of HOST_NAMES) {
    const host = await t.host(h);
    try {
      await host.writeFileAtomic(
        resolveOnHost(host, './.generated/api-compose.yaml'),
        `services:\n  api:\n    command:\n      - start\n      - --listen-addr=${t.env.hosts[h].address}:${port}\n`,
        0o644,
      );
    } finally {
      await host.close();
    }
  }
  const a = keyringActivities(t);
  const { added } = await a.addKey({ keyring: 'api', runId: 'seed' });
  await Promise.all(HOST_NAMES.map((_, replica) => a.rollOut({ keyring: 'api', replica })));
  return added;
}

export async function stopReplicas(t: Topology): Promise<void> {
  for (const h of HOST_NAMES) {
    const host = await t.host(h);
    try {
      await createServiceDriver(host, t.config.services.api as ServiceConfig).stop();
    } catch {
      /* not running */
    } finally {
      await host.close();
    }
  }
}

export async function mint(url: string, sub: string): Promise<{ token: string; kid: string }> {
  const res = await fetch(`${url}/v1/token?sub=${sub}`, { method: 'POST' });
  if (res.status !== 200) throw new Error(`${url}: token request answered ${res.status}`);
  return (await res.json()) as { token: string; kid: string };
}

export async function accepted(url: string, token: string): Promise<number> {
  return (await fetch(`${url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } })).status;
}
