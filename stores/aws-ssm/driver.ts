// AWS SSM Parameter Store behind the SecretStore interface: SecureString parameters, each write a
// new version. A version's tags (the run that wrote it, what it restores) are kept as JSON in
// that version's description, which the parameter's history returns per version. Labels mark
// what a rotation did: `current` on the version it wrote (and on the one a put-back wrote),
// `previous` on the one that was replaced. Consumers read the newest version or `:current`:
// both are the same from the write on.
import type { ParameterHistory, SSMClient } from '@aws-sdk/client-ssm';
import { FailureType, fail } from '../../shared/failures';
import { loadOnce } from '../load-once';
import type { SecretStore, SecretVersionInfo, StoreDriver } from '../types';
import { type AwsSsmConfig, PARAMETER_NAME } from './config';

export class SsmStore implements SecretStore {
  constructor(
    readonly name: string,
    private readonly cfg: AwsSsmConfig,
    private readonly given?: SSMClient,
  ) {
    // rekey runs on Node 20; the SDK's notice that its releases after January 2027 need Node 22
    // would otherwise print on every command that reads a parameter (package-lock pins this one).
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  }

  /** The SDK and its client, loaded at the first call: a worker whose stores are all elsewhere
   * does not hold the SDK in memory (about 20 MiB). */
  private readonly ssm = loadOnce(async () => {
    const sdk = await import('@aws-sdk/client-ssm');
    // The SDK's standard retry mode backs off and retries throttling (ThrottlingException,
    // TooManyUpdates) and 5xx; what is left is retried by the workflow's activity retry policy.
    const client =
      this.given ??
      new sdk.SSMClient({
        region: this.cfg.region,
        maxAttempts: 5,
        ...(this.cfg.endpoint ? { endpoint: this.cfg.endpoint } : {}),
      });
    return { sdk, client };
  });

  private check(secret: string): void {
    if (!PARAMETER_NAME.test(secret) || secret.length > 1011)
      throw fail(FailureType.BadInput, `store ${this.name}: bad parameter name "${secret}"`);
  }

  private mapError(err: unknown, secret: string, version?: string): unknown {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const what = `${secret}${version ? ` version ${version}` : ''}`;
    if (e?.name === 'AccessDeniedException' || e?.$metadata?.httpStatusCode === 403)
      return fail(
        FailureType.StoreUnauthorized,
        `store ${this.name}: SSM refused the credential for ${what}: ${e.message ?? e.name}`,
      );
    if (e?.name === 'ParameterNotFound' || e?.name === 'ParameterVersionNotFound')
      return fail(FailureType.NotFound, `store ${this.name}: parameter ${what} not found`);
    if (
      [
        'InvalidKeyId',
        'ParameterMaxVersionLimitExceeded',
        'ValidationException',
        'HierarchyLevelLimitExceededException',
        'ParameterPatternMismatchException',
      ].includes(e?.name ?? '')
    )
      return fail(FailureType.BadInput, `store ${this.name}: SSM refused ${what}: ${e.message}`);
    // Retryable. A plain Error: the SDK's error keeps the request, whose body holds a value.
    const out = new Error(
      `store ${this.name}: SSM ${e?.name ?? 'error'} for ${what}: ${e?.message ?? String(err)}`,
    );
    out.name = 'SsmError';
    return out;
  }

  private async history(secret: string): Promise<ParameterHistory[]> {
    this.check(secret);
    const all: ParameterHistory[] = [];
    let NextToken: string | undefined;
    do {
      const { sdk, client } = await this.ssm();
      const page = await client.send(
        new sdk.GetParameterHistoryCommand({ Name: secret, WithDecryption: true, MaxResults: 50, NextToken }),
      );
      all.push(...(page.Parameters ?? []));
      NextToken = page.NextToken;
    } while (NextToken);
    return all.sort((a, b) => (a.Version ?? 0) - (b.Version ?? 0));
  }

  async set(secret: string, value: string, tags: Record<string, string>): Promise<SecretVersionInfo> {
    this.check(secret);
    try {
      const { sdk, client } = await this.ssm();
      const out = await client.send(
        new sdk.PutParameterCommand({
          Name: secret,
          Value: value,
          Type: 'SecureString',
          Overwrite: true,
          Description: JSON.stringify(tags),
          ...(this.cfg.kmsKeyId ? { KeyId: this.cfg.kmsKeyId } : {}),
        }),
      );
      return {
        name: secret,
        version: String(out.Version),
        tags,
        createdOn: new Date().toISOString(),
        enabled: true,
      };
    } catch (err) {
      throw this.mapError(err, secret);
    }
  }

  async get(secret: string, version?: string) {
    let versions: ParameterHistory[];
    try {
      versions = await this.history(secret);
    } catch (err) {
      throw this.mapError(err, secret, version);
    }
    const v = version ? versions.find((p) => String(p.Version) === version) : versions.at(-1);
    if (!v)
      throw fail(
        FailureType.NotFound,
        `store ${this.name}: parameter ${secret}${version ? ` version ${version}` : ''} not found`,
      );
    return { ...info(secret, v), value: v.Value ?? '' };
  }

  async listVersions(secret: string): Promise<SecretVersionInfo[]> {
    try {
      return (await this.history(secret)).map((p) => info(secret, p));
    } catch (err) {
      if ((err as { name?: string }).name === 'ParameterNotFound') return [];
      throw this.mapError(err, secret);
    }
  }

  /** Parameter history is in version order: the newest is current. */
  async current(secret: string): Promise<SecretVersionInfo | null> {
    return (await this.listVersions(secret)).at(-1) ?? null;
  }

  /** Moves `labels` to `version` (a label is on one version of a parameter at a time). */
  async label(secret: string, version: string, labels: string[]): Promise<void> {
    try {
      const { sdk, client } = await this.ssm();
      await client.send(
        new sdk.LabelParameterVersionCommand({
          Name: secret,
          ParameterVersion: Number(version),
          Labels: labels,
        }),
      );
    } catch (err) {
      throw this.mapError(err, secret, version);
    }
  }

  /** The labels on each version, for status and tests. */
  async labels(secret: string): Promise<Record<string, string[]>> {
    return Object.fromEntries((await this.history(secret)).map((p) => [String(p.Version), p.Labels ?? []]));
  }
}

function info(secret: string, p: ParameterHistory): SecretVersionInfo {
  let tags: Record<string, string> = {};
  try {
    const parsed = JSON.parse(p.Description ?? '{}');
    if (parsed && typeof parsed === 'object') tags = parsed;
  } catch {
    // A version written by hand, with a description of its own: no tags.
  }
  return {
    name: secret,
    version: String(p.Version),
    tags,
    createdOn: (p.LastModifiedDate ?? new Date(0)).toISOString(),
    enabled: true,
  };
}

export const driver: StoreDriver<AwsSsmConfig> = {
  open: (storeName, cfg) => new SsmStore(storeName, cfg),
};
