// Azure Key Vault through its SDK. Versions are immutable; the current one is the newest. Errors
// name the store, the secret and the status, never a value.

import type { TokenCredential } from '@azure/core-auth';
import type { SecretClient } from '@azure/keyvault-secrets';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType, fail } from '../../shared/failures';
import { loadOnce } from '../load-once';
import type { SecretStore, SecretStoreOptions, SecretVersionInfo, StoreDriver } from '../types';
import type { AzureKeyVaultConfig } from './config';
import { afterRetryAfter, retryAfterMargin } from './retry-after';

async function credentialFor(kind: string): Promise<TokenCredential> {
  const { AzureCliCredential, DefaultAzureCredential, EnvironmentCredential, ManagedIdentityCredential } =
    await import('@azure/identity');
  switch (kind) {
    case 'azure-cli':
      return new AzureCliCredential();
    case 'environment':
      return new EnvironmentCredential();
    case 'managed-identity':
      return new ManagedIdentityCredential();
    default:
      return new DefaultAzureCredential();
  }
}

function restStatus(err: unknown): number | undefined {
  return (err as { statusCode?: number } | null)?.statusCode;
}

class KeyVaultStore implements SecretStore {
  /** The SDK's client, loaded at the first call: a worker whose stores are all elsewhere does not
   * hold the Azure SDKs in memory. */
  private readonly client = loadOnce(() => this.open());

  constructor(
    readonly name: string,
    private readonly cfg: AzureKeyVaultConfig,
    private readonly opts: SecretStoreOptions,
  ) {}

  private async open(): Promise<SecretClient> {
    const { cfg, opts } = this;
    const { SecretClient } = await import('@azure/keyvault-secrets');
    return new SecretClient(cfg.vaultUrl, opts.credential ?? (await credentialFor(cfg.credential)), {
      // Key Vault's 401 challenge names the resource to get a token for; the SDK checks that it
      // matches the vault's host. Off only when the config says so (an emulator on 127.0.0.x).
      disableChallengeResourceVerification: !cfg.verifyChallengeResource,
      additionalPolicies: [retryAfterMargin, ...(opts.additionalPolicies ?? [])],
      // The pipeline retries 429 and 503 after Retry-After (retry-after.ts), and other transient
      // failures with backoff; what is left after that is retried by the activity's retry policy.
      retryOptions: { maxRetries: 4, retryDelayInMs: 500, maxRetryDelayInMs: 10_000 },
      ...(cfg.serviceVersion ? { serviceVersion: cfg.serviceVersion as never } : {}),
    });
  }

  private mapError(err: unknown, secret: string, version?: string): unknown {
    const status = restStatus(err);
    const what = `${secret}${version ? ` version ${version}` : ''}`;
    // A disabled (retired) version answers 403 SecretDisabled: not a credential problem.
    const e403 = (err ?? {}) as {
      message?: string;
      details?: { error?: { innererror?: { code?: string } } };
    };
    if (
      status === 403 &&
      (e403.details?.error?.innererror?.code === 'SecretDisabled' ||
        /disabled secret/.test(e403.message ?? ''))
    )
      return fail(
        FailureType.NotFound,
        `store ${this.name}: secret ${what} is disabled (retired); enable it in the vault to read it`,
      );
    if (status === 401 || status === 403) {
      return fail(
        FailureType.StoreUnauthorized,
        `store ${this.name}: Key Vault refused the credential (${status}) for ${what}`,
      );
    }
    if (status === 404) return fail(FailureType.NotFound, `store ${this.name}: secret ${what} not found`);
    if (status === 429) {
      // Still throttled after the pipeline's retries: the activity's next attempt waits as long
      // as the vault asked (retry-after.ts), not the retry policy's shorter interval.
      const retryAfter = Number(
        (err as { response?: { headers?: { get(n: string): string | undefined } } }).response?.headers?.get(
          'retry-after',
        ),
      );
      return ApplicationFailure.create({
        type: 'Throttled',
        message: `store ${this.name}: Key Vault throttled the request for ${what} (429)`,
        nonRetryable: false,
        nextRetryDelay: afterRetryAfter(retryAfter > 0 ? retryAfter : 10),
      });
    }
    const e = err as { name?: string; message?: string; code?: string } | null;
    if (e?.name === 'AuthenticationError' || e?.name === 'AggregateAuthenticationError') {
      return fail(
        FailureType.StoreUnauthorized,
        `store ${this.name}: could not get a Key Vault token for ${what}: ${e.message ?? ''}`,
      );
    }
    if (/challenge resource .* does not match/.test(e?.message ?? '')) {
      // Permanent: the vault's auth challenge names another host (an emulator on 127.0.0.x).
      return fail(
        FailureType.BadInput,
        `store ${this.name}: ${e?.message} (for an emulator set verifyChallengeResource: false) [${what}]`,
      );
    }
    // Retryable (throttling that outlasted the pipeline's retries, 5xx, network, no credential
    // yet). Re-thrown as a plain Error: a RestError carries its request, whose body holds the
    // value on a write, and that must not reach a log line or a failure's details.
    const out = new Error(
      `store ${this.name}: Key Vault ${status ?? e?.code ?? e?.name ?? 'error'} for ${what}: ${e?.message ?? String(err)}`,
    );
    out.name = status ? 'KeyVaultError' : (e?.name ?? 'Error');
    return out;
  }

  async set(name: string, value: string, tags: Record<string, string>) {
    try {
      const s = await (await this.client()).setSecret(name, value, { tags });
      return info(name, s.properties);
    } catch (err) {
      throw this.mapError(err, name);
    }
  }

  async get(name: string, version?: string) {
    try {
      const s = await (await this.client()).getSecret(name, version ? { version } : {});
      return { ...info(name, s.properties), value: s.value ?? '' };
    } catch (err) {
      throw this.mapError(err, name, version);
    }
  }

  async listVersions(name: string) {
    const out: SecretVersionInfo[] = [];
    try {
      for await (const p of (await this.client()).listPropertiesOfSecretVersions(name))
        out.push(info(name, p));
    } catch (err) {
      if (restStatus(err) === 404) return [];
      throw this.mapError(err, name);
    }
    // Key Vault lists versions in no promised order (by version id, as seen): oldest first by
    // `created`, whose resolution is a second; within one, a put-back after what it restores.
    return out.sort(
      (a, b) =>
        a.createdOn.localeCompare(b.createdOn) ||
        Number('restoredFrom' in a.tags) - Number('restoredFrom' in b.tags),
    );
  }

  async disable(name: string, version: string) {
    try {
      await (await this.client()).updateSecretProperties(name, version, { enabled: false });
    } catch (err) {
      throw this.mapError(err, name, version);
    }
  }

  /** The unversioned GET: the version Key Vault itself serves as current. */
  async current(name: string) {
    try {
      const s = await (await this.client()).getSecret(name);
      return info(name, s.properties);
    } catch (err) {
      if (restStatus(err) === 404) return null;
      throw this.mapError(err, name);
    }
  }
}

function info(
  name: string,
  p: { version?: string; tags?: Record<string, string>; createdOn?: Date; enabled?: boolean },
): SecretVersionInfo {
  return {
    name,
    version: p.version ?? '',
    tags: p.tags ?? {},
    createdOn: (p.createdOn ?? new Date(0)).toISOString(),
    enabled: p.enabled ?? true,
  };
}

export const driver: StoreDriver<AzureKeyVaultConfig> = {
  open: (storeName, cfg, opts) => new KeyVaultStore(storeName, cfg, opts),
};
