// A GitHub repository's Actions secrets through the REST API: a value is sealed to the
// repository's public key (libsodium's crypto_box_seal, as GitHub requires) and PUT; GitHub never
// returns a value, so these are write-only places. Errors name the repository and the status,
// never the token or the value; rate limits are retried after the delay GitHub asks for.
import { ApplicationFailure } from '@temporalio/common';
import { FailureType, fail } from '../../shared/failures';
import type { StoreDriver } from '../types';
import type { GitHubActionsConfig } from './config';

/** A libsodium sealed box of `value` to a Curve25519 public key (base64), as base64. */
export async function sealForGitHub(value: string, publicKey: string): Promise<string> {
  const { default: sodium } = await import('libsodium-wrappers');
  await sodium.ready;
  const key = sodium.from_base64(publicKey, sodium.base64_variants.ORIGINAL);
  return sodium.to_base64(sodium.crypto_box_seal(value, key), sodium.base64_variants.ORIGINAL);
}

export class GitHubActionsSecrets {
  constructor(
    readonly storeName: string,
    private readonly cfg: GitHubActionsConfig,
    private readonly token: () => Promise<string>,
  ) {}

  private get where() {
    return `store ${this.storeName} (GitHub ${this.cfg.repository})`;
  }

  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    const res = await fetch(`${this.cfg.api.replace(/\/$/, '')}/repos/${this.cfg.repository}${path}`, {
      method,
      headers: {
        accept: 'application/vnd.github+json',
        authorization: `Bearer ${await this.token()}`,
        'x-github-api-version': '2022-11-28',
        'user-agent': 'rekey',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    if (res.ok || res.status === 404) return res;
    const text = await res.text();
    let message = '';
    try {
      message = String(JSON.parse(text).message ?? '');
    } catch {}
    const said = `${method} ${path}: ${res.status}${message ? ` ${message}` : ''}`;
    // Primary and secondary rate limits: 403 or 429 with Retry-After, or no requests left until
    // x-ratelimit-reset. Retried (by the activity) no sooner than GitHub asks.
    // x-ratelimit-reset; a secondary limit may say neither (GitHub: wait at least a minute).
    const retryAfter = Number(res.headers.get('retry-after'));
    const reset = Number(res.headers.get('x-ratelimit-reset'));
    if (
      (res.status === 403 || res.status === 429) &&
      (retryAfter > 0 || res.headers.get('x-ratelimit-remaining') === '0' || /rate limit/i.test(message))
    )
      throw ApplicationFailure.create({
        type: 'Throttled',
        message: `${this.where}: rate limited (${said})`,
        nonRetryable: false,
        nextRetryDelay:
          retryAfter > 0 ? retryAfter * 1000 : reset > 0 ? Math.max(1000, reset * 1000 - Date.now()) : 60_000,
      });
    if (res.status === 401 || res.status === 403)
      throw fail(FailureType.StoreUnauthorized, `${this.where}: refused (${said}); check its token`);
    if (res.status >= 500) throw new Error(`${this.where}: ${said}`);
    throw fail(FailureType.BadInput, `${this.where}: ${said}`);
  }

  /** Whether the repository has secret `name`. */
  async exists(name: string): Promise<boolean> {
    const res = await this.call('GET', `/actions/secrets/${name}`);
    if (res.status !== 404) return true;
    // A 404 for the repository itself (or a token that cannot see it) is not a missing secret.
    const repo = await this.call('GET', '/actions/secrets/public-key');
    if (repo.status === 404)
      throw fail(FailureType.BadInput, `${this.where}: no such repository, or the token cannot see it`);
    return false;
  }

  /** Seals `value` to the repository's current public key and sets secret `name`. */
  async set(name: string, value: string): Promise<void> {
    const keyRes = await this.call('GET', '/actions/secrets/public-key');
    if (keyRes.status === 404)
      throw fail(FailureType.BadInput, `${this.where}: no such repository, or the token cannot see it`);
    const { key_id, key } = (await keyRes.json()) as { key_id: string; key: string };
    const res = await this.call('PUT', `/actions/secrets/${name}`, {
      encrypted_value: await sealForGitHub(value, key),
      key_id,
    });
    if (res.status === 404)
      throw fail(FailureType.BadInput, `${this.where}: no such repository, or the token cannot see it`);
  }
}

export const driver: StoreDriver<GitHubActionsConfig> = {
  place: (storeName, cfg, name, ctx) => {
    const github = new GitHubActionsSecrets(storeName, cfg, ctx.secret(cfg.token));
    return {
      marker: 'write-only',
      text: `set GitHub Actions secret ${name} of ${cfg.repository}`,
      exists: () => github.exists(name),
      set: (value) => github.set(name, value),
    };
  },
};
