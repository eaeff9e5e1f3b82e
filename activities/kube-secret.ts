// A key of a Kubernetes Secret, edited in place through the API server: everything else in the
// Secret (its other keys, labels and annotations such as helm.sh/resource-policy: keep) stays as
// it is, which is what a Secret that `helm upgrade` must not overwrite needs. rekey never creates
// a Secret or a key. A write is a JSON merge patch of that one key carrying the resourceVersion it
// read: a change made in between is refused by the server (409), read again and tried again.
// Errors name the store, the Secret and the status, never the token or a value.
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

export class KubernetesSecrets {
  constructor(
    readonly storeName: string,
    private readonly cfg: KubernetesConfig,
    private readonly token: () => Promise<string>,
  ) {}

  private where(secret: string) {
    return `store ${this.storeName} (Secret ${this.cfg.namespace}/${secret})`;
  }

  private async call(
    method: 'GET' | 'PATCH',
    secret: string,
    body?: unknown,
  ): Promise<{ status: number; json: SecretObject & { message?: string } }> {
    const url = new URL(
      `/api/v1/namespaces/${encodeURIComponent(this.cfg.namespace)}/secrets/${encodeURIComponent(secret)}`,
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
            let json = {} as SecretObject & { message?: string };
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

  private refused(method: string, secret: string, status: number, message?: string): unknown {
    const said = `${method}: ${status}${message ? ` ${message}` : ''}`;
    if (status === 401 || status === 403)
      return fail(
        FailureType.StoreUnauthorized,
        `${this.where(secret)}: refused (${said}); check its token and RBAC`,
      );
    if (status === 404) return fail(FailureType.BadInput, `${this.where(secret)}: no such Secret (${said})`);
    // Throttled (429), unavailable (5xx): retried by the activity.
    if (status === 429 || status >= 500) return new Error(`${this.where(secret)}: ${said}`);
    return fail(FailureType.BadInput, `${this.where(secret)}: ${said}`);
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
    for (let attempt = 1; ; attempt++) {
      const current = await this.read(secret);
      if (current.data?.[key] === undefined)
        throw fail(
          FailureType.BadInput,
          `${this.where(secret)} has no key ${key}; set a first value by hand (rekey never creates a location)`,
        );
      const { status, json } = await this.call('PATCH', secret, {
        metadata: { resourceVersion: current.metadata.resourceVersion },
        data: { [key]: Buffer.from(value, 'utf8').toString('base64') },
      });
      if (status === 200) return;
      // Changed by someone else since the read: read it again (a few times, then the activity's
      // retry takes over).
      if (status === 409 && attempt < 5) continue;
      throw this.refused('PATCH', secret, status, json.message);
    }
  }
}
