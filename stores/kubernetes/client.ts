// Kubernetes through the API server: keys of a Secret edited in place (everything else in the
// Secret, its other keys, labels and annotations such as helm.sh/resource-policy: keep, stays as
// it is, which is what a Secret that `helm upgrade` must not overwrite needs), and Deployments
// restarted as `kubectl rollout restart` does and awaited as `kubectl rollout status` does. rekey
// never creates a Secret. A write is a JSON merge patch of the keys it changes carrying the
// resourceVersion it read: a change made in between is refused by the server (409), read again
// and tried again. Errors name the store, the object and the status, never the token or a value.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { FailureType, fail } from '../../shared/failures';
import { loadOnce } from '../load-once';
import type { KubernetesConfig } from './config';

type Kind = 'Secret' | 'Deployment';
const RESOURCES: Record<Kind, string> = {
  Secret: 'api/v1/namespaces/NS/secrets',
  Deployment: 'apis/apps/v1/namespaces/NS/deployments',
};
/** The pod template annotation naming the restart that set it: a retried restart is not done twice. */
const RESTART_ANNOTATION = 'rekey.dev/restart';

interface SecretObject {
  metadata: { resourceVersion: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

/** What a change of a Secret sets: keys (a value sets one, null removes it; keys left out stay as
 * they are) and annotations. */
export interface SecretChange {
  data: Record<string, string | null>;
  annotations?: Record<string, string>;
}

/** A location's name: `SECRET/KEY` (the Secret in the store's namespace, one of its keys). */
export function secretKeyOf(name: string): { secret: string; key: string } {
  const [secret = '', key = '', ...rest] = name.split('/');
  if (!secret || !key || rest.length) throw fail(FailureType.BadInput, `"${name}" is not SECRET/KEY`);
  return { secret, key };
}

export class KubernetesClient {
  /** Read once per client (one activity's calls): a roll-out polls every 500 ms. */
  private readonly token: () => Promise<string>;

  constructor(
    readonly storeName: string,
    private readonly cfg: KubernetesConfig,
    token: () => Promise<string>,
  ) {
    this.token = loadOnce(token);
  }

  private where(name: string, kind: Kind = 'Secret') {
    return `store ${this.storeName} (${kind} ${this.cfg.namespace}/${name})`;
  }

  private async call<T = SecretObject>(
    method: 'GET' | 'PATCH',
    name: string,
    body?: unknown,
    kind: Kind = 'Secret',
    dryRun = false,
  ): Promise<{ status: number; json: T & { message?: string } }> {
    const where = this.where(name, kind);
    const url = new URL(this.cfg.server);
    // A server URL may carry a path (an API proxy): the resource goes after it.
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/${RESOURCES[kind].replace('NS', encodeURIComponent(this.cfg.namespace))}/${encodeURIComponent(name)}`;
    if (dryRun) url.searchParams.set('dryRun', 'All');
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let ca: Buffer;
    try {
      ca = readFileSync(this.cfg.caFile);
    } catch (err) {
      throw fail(
        FailureType.BadInput,
        `store ${this.storeName}: cannot read caFile: ${(err as Error).message}`,
      );
    }
    const token = await this.token();
    return new Promise((resolve, reject) => {
      const failed = (err: Error) => reject(new Error(`${where}: ${method}: ${err.message}`));
      const req = request(
        url,
        {
          method,
          // The API server's certificate is checked against the store's CA only.
          ca,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/merge-patch+json' } : {}),
          },
          timeout: 15_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', failed);
          res.on('aborted', () => failed(new Error('the answer was cut off')));
          res.on('end', () => {
            let json = {} as T & { message?: string };
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {}
            resolve({ status: res.statusCode ?? 0, json });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer within 15s')));
      req.on('error', failed);
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
    name: string,
    status: number,
    message?: string,
    kind: Kind = 'Secret',
    sent: string[] = [],
  ): unknown {
    const where = this.where(name, kind);
    // The server's message may quote what it was sent (an admission webhook's may): not the values.
    let text = message ?? '';
    for (const v of sent)
      if (v) text = text.replaceAll(v, '[value]').replaceAll(Buffer.from(v).toString('base64'), '[value]');
    const said = `${method}: ${status}${text ? ` ${text}` : ''}`;
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
      return { data: { [key]: value } };
    });
  }

  /** Changes the Secret as `change` wants it given the keys and annotations it has; a change
   * made by someone else in between (409) is read again and tried again. */
  async patchKeys(
    secret: string,
    change: (data: Record<string, string>, annotations: Record<string, string>) => SecretChange,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(secret);
      const wanted = change(current.data ?? {}, current.metadata.annotations ?? {});
      const values = Object.values(wanted.data).filter((v): v is string => v !== null);
      const { status, json } = await this.call('PATCH', secret, {
        metadata: {
          resourceVersion: current.metadata.resourceVersion,
          ...(wanted.annotations ? { annotations: wanted.annotations } : {}),
        },
        data: Object.fromEntries(
          Object.entries(wanted.data).map(([k, v]) => [
            k,
            v === null ? null : Buffer.from(v, 'utf8').toString('base64'),
          ]),
        ),
      });
      if (status === 200) return;
      if (status === 409) {
        // Still contended after a few reads: a transient failure, for the activity's retry.
        if (attempt >= 5)
          throw new Error(`${this.where(secret)}: changed by someone else 5 times in a row (409)`);
        await new Promise((r) => setTimeout(r, 100 * attempt + Math.random() * 100));
        continue;
      }
      throw this.refused('PATCH', secret, status, json.message, 'Secret', values);
    }
  }

  /** Refused unless this store's token may patch the object: a server-side dry run of an empty
   * patch, authorized as a real one and then discarded (the plan's check, before any change). */
  async mayPatch(name: string, kind: Kind = 'Secret'): Promise<void> {
    const { status, json } = await this.call('PATCH', name, {}, kind, true);
    if (status !== 200) throw this.refused('PATCH', name, status, json.message, kind);
  }

  /** The Secret's annotations. */
  async annotations(secret: string): Promise<Record<string, string>> {
    return (await this.read(secret)).metadata.annotations ?? {};
  }

  /** The Secret's keys and values. */
  async data(secret: string): Promise<Record<string, string>> {
    const data = (await this.read(secret)).data ?? {};
    return Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  }

  private async deployment(name: string): Promise<Deployment> {
    const { status, json } = await this.call<Deployment>('GET', name, undefined, 'Deployment');
    if (status !== 200) throw this.refused('GET', name, status, json.message, 'Deployment');
    return json;
  }

  /** A paused Deployment never rolls out: refused. */
  private refusePaused(name: string, d: Deployment): void {
    if (d.spec?.paused)
      throw fail(
        FailureType.BadInput,
        `${this.where(name, 'Deployment')} is paused, so a restart would not roll out; resume it (kubectl rollout resume) first`,
      );
  }

  /** The Deployment is there, may be patched, and is not paused. */
  async checkDeployment(name: string): Promise<void> {
    this.refusePaused(name, await this.deployment(name));
    await this.mayPatch(name, 'Deployment');
  }

  /** Restarts a Deployment's pods as `kubectl rollout restart` does (a new pod template
   * annotation: the controller rolls the pods by the Deployment's own strategy). `restart` names
   * this restart: done again (a retried step), it finds its own mark and restarts nothing. */
  async restartDeployment(name: string, restart: string): Promise<void> {
    const d = await this.deployment(name);
    if (d.spec?.template?.metadata?.annotations?.[RESTART_ANNOTATION] === restart) return;
    this.refusePaused(name, d);
    const { status, json } = await this.call(
      'PATCH',
      name,
      {
        spec: {
          template: {
            metadata: {
              annotations: {
                'kubectl.kubernetes.io/restartedAt': new Date().toISOString(),
                [RESTART_ANNOTATION]: restart,
              },
            },
          },
        },
      },
      'Deployment',
    );
    if (status !== 200) throw this.refused('PATCH', name, status, json.message, 'Deployment');
  }

  /** Whether the Deployment's roll-out is complete, as `kubectl rollout status` decides: the
   * controller saw the latest spec, every replica is updated and available, none old is left; one
   * past its progress deadline has failed. */
  async rolledOut(name: string): Promise<{ done: boolean; text: string }> {
    const json = await this.deployment(name);
    const want = json.spec?.replicas ?? 1;
    const st = json.status ?? {};
    const text = `${st.updatedReplicas ?? 0} of ${want} updated, ${st.availableReplicas ?? 0} available`;
    const observed = (st.observedGeneration ?? 0) >= (json.metadata?.generation ?? 0);
    // A condition the controller set before it saw this restart is not this roll-out's.
    const stalled =
      observed &&
      st.conditions?.find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded');
    if (stalled)
      throw fail(
        FailureType.MarkerTimeout,
        `${this.where(name, 'Deployment')}: the roll-out exceeded its progress deadline (${text})`,
      );
    const done =
      observed &&
      (st.updatedReplicas ?? 0) === want &&
      (st.replicas ?? 0) === want &&
      (st.availableReplicas ?? 0) === want;
    return { done, text };
  }
}

interface Deployment {
  metadata?: { generation?: number };
  spec?: {
    replicas?: number;
    paused?: boolean;
    template?: { metadata?: { annotations?: Record<string, string> } };
  };
  status?: {
    conditions?: { type: string; reason?: string }[];
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
  };
}
