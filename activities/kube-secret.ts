// Kubernetes through the API server: keys of a Secret edited in place (everything else in the
// Secret, its other keys, labels and annotations such as helm.sh/resource-policy: keep, stays as
// it is, which is what a Secret that `helm upgrade` must not overwrite needs), and Deployments
// restarted as `kubectl rollout restart` does and awaited as `kubectl rollout status` does. rekey
// never creates a Secret. A write is a JSON merge patch of the keys it changes carrying the
// resourceVersion it read: a change made in between is refused by the server (409), read again
// and tried again. Errors name the store, the object and the status, never the token or a value.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { StoreConfig } from '../config/schema';
import { FailureType, fail } from '../shared/failures';

type KubernetesConfig = Extract<StoreConfig, { type: 'kubernetes' }>;

interface SecretObject {
  metadata: { resourceVersion: string };
  data?: Record<string, string>;
}

/** A location's name: `SECRET/KEY` (the Secret in the store's namespace, one of its keys). */
export function secretKeyOf(name: string): { secret: string; key: string } {
  const [secret = '', key = '', ...rest] = name.split('/');
  if (!secret || !key || rest.length) throw fail(FailureType.BadInput, `"${name}" is not SECRET/KEY`);
  return { secret, key };
}

export class KubernetesClient {
  constructor(
    readonly storeName: string,
    private readonly cfg: KubernetesConfig,
    private readonly token: () => Promise<string>,
  ) {}

  private where(secret: string, kind = 'Secret') {
    return `store ${this.storeName} (${kind} ${this.cfg.namespace}/${secret})`;
  }

  private async call<T = SecretObject>(
    method: 'GET' | 'PATCH',
    secret: string,
    body?: unknown,
    resource = 'api/v1/namespaces/NS/secrets',
  ): Promise<{ status: number; json: T & { message?: string } }> {
    const url = new URL(
      `/${resource.replace('NS', encodeURIComponent(this.cfg.namespace))}/${encodeURIComponent(secret)}`,
      this.cfg.server,
    );
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const token = await this.token();
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          // The API server's certificate is checked against the store's CA only.
          ca: readFileSync(this.cfg.caFile),
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/merge-patch+json' } : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let json = {} as T & { message?: string };
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {}
            resolve({ status: res.statusCode ?? 0, json });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer within 30s')));
      req.on('error', (err) => reject(new Error(`${this.where(secret)}: ${method}: ${err.message}`)));
      req.end(payload);
    });
  }

  /** The Secret as the server has it now; a refusal or a missing Secret fails naming it. */
  private async read(secret: string): Promise<SecretObject> {
    const { status, json } = await this.call('GET', secret);
    if (status === 200) return json;
    throw this.refused('GET', secret, status, json.message);
  }

  private refused(
    method: string,
    secret: string,
    status: number,
    message?: string,
    kind = 'Secret',
  ): unknown {
    const where = this.where(secret, kind);
    const said = `${method}: ${status}${message ? ` ${message}` : ''}`;
    if (status === 401 || status === 403)
      return fail(FailureType.StoreUnauthorized, `${where}: refused (${said}); check its token and RBAC`);
    if (status === 404) return fail(FailureType.BadInput, `${where}: no such ${kind} (${said})`);
    // Throttled (429), unavailable (5xx): retried by the activity.
    if (status === 429 || status >= 500) return new Error(`${where}: ${said}`);
    return fail(FailureType.BadInput, `${where}: ${said}`);
  }

  /** Whether the Secret has the key (a missing Secret is an error of its own). */
  async exists(name: string): Promise<boolean> {
    const { secret, key } = secretKeyOf(name);
    return (await this.read(secret)).data?.[key] !== undefined;
  }

  /** The key's value (tests and checks; a rotation reads values from its first location). */
  async get(name: string): Promise<string | undefined> {
    const { secret, key } = secretKeyOf(name);
    const v = (await this.read(secret)).data?.[key];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  }

  /** Sets the key, leaving the rest of the Secret as it is. */
  async set(name: string, value: string): Promise<void> {
    const { secret, key } = secretKeyOf(name);
    await this.patchKeys(secret, (data) => {
      if (data[key] === undefined)
        throw fail(
          FailureType.BadInput,
          `${this.where(secret)} has no key ${key}; set a first value by hand (rekey never creates a location)`,
        );
      return { [key]: value };
    });
  }

  /** The Secret's keys as `change` wants them given the ones it has (a value sets a key, null
   * removes it; keys it leaves out stay as they are). */
  async patchKeys(
    secret: string,
    change: (data: Record<string, string>) => Record<string, string | null>,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(secret);
      const data = current.data ?? {};
      const wanted = change(data);
      const { status, json } = await this.call('PATCH', secret, {
        metadata: { resourceVersion: current.metadata.resourceVersion },
        data: Object.fromEntries(
          Object.entries(wanted).map(([k, v]) => [
            k,
            v === null ? null : Buffer.from(v, 'utf8').toString('base64'),
          ]),
        ),
      });
      if (status === 200) return;
      // Changed by someone else since the read: read it again (a few times, then the activity's
      // retry takes over).
      if (status === 409 && attempt < 5) continue;
      throw this.refused('PATCH', secret, status, json.message);
    }
  }

  /** The Secret's keys and values. */
  async data(secret: string): Promise<Record<string, string>> {
    const data = (await this.read(secret)).data ?? {};
    return Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  }

  /** Restarts a Deployment's pods as `kubectl rollout restart` does (a new pod template
   * annotation: the controller rolls the pods by the Deployment's own strategy). */
  async restartDeployment(name: string): Promise<void> {
    const { status, json } = await this.call(
      'PATCH',
      name,
      {
        spec: {
          template: {
            metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } },
          },
        },
      },
      'apis/apps/v1/namespaces/NS/deployments',
    );
    if (status !== 200) throw this.refused('PATCH', name, status, json.message, 'Deployment');
  }

  /** Whether the Deployment's roll-out is complete, as `kubectl rollout status` decides: the
   * controller saw the latest spec, every replica is updated and available, none old is left. */
  async rolledOut(name: string): Promise<{ done: boolean; text: string }> {
    const { status, json } = await this.call<Deployment>(
      'GET',
      name,
      undefined,
      'apis/apps/v1/namespaces/NS/deployments',
    );
    if (status !== 200) throw this.refused('GET', name, status, json.message, 'Deployment');
    const want = json.spec?.replicas ?? 1;
    const st = json.status ?? {};
    const text = `${st.updatedReplicas ?? 0} of ${want} updated, ${st.availableReplicas ?? 0} available`;
    const done =
      (st.observedGeneration ?? 0) >= (json.metadata?.generation ?? 0) &&
      (st.updatedReplicas ?? 0) === want &&
      (st.replicas ?? 0) === want &&
      (st.availableReplicas ?? 0) === want;
    return { done, text };
  }
}

interface Deployment {
  metadata?: { generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
  };
}
