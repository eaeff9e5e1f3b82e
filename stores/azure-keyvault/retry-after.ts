// When a throttled request goes back to the vault. Key Vault's 429 gives Retry-After in whole
// seconds; the SDK's pipeline would wait exactly that long on a Node timer, which counts from the
// event loop's time at the start of its current turn: on a busy worker that is a few
// milliseconds in the past, so the retry came before the vault allowed it (bench:fleet counted
// such requests), and a fleet's throttled requests all came back in the same instant.
import type { SecretClientOptions } from '@azure/keyvault-secrets';

type AdditionalPolicy = NonNullable<SecretClientOptions['additionalPolicies']>[number];

/** Milliseconds to wait after a Retry-After of `seconds`: at least a quarter second past it,
 * and up to a second past it at random. */
export function afterRetryAfter(seconds: number, random: () => number = Math.random): number {
  return Math.round(seconds * 1000 + 250 + random() * 750);
}

/** A pipeline policy, run on each attempt before the retry policy reads its answer, that gives a
 * 429 or 503 with Retry-After in seconds a `retry-after-ms` of afterRetryAfter(), which the
 * SDK's retry policy reads first. */
export const retryAfterMargin: AdditionalPolicy = {
  position: 'perRetry',
  policy: {
    name: 'rekeyRetryAfterMargin',
    async sendRequest(request, next) {
      const response = await next(request);
      const given = response.headers.get('retry-after');
      const seconds = Number(given);
      if (
        (response.status === 429 || response.status === 503) &&
        given !== undefined &&
        /^\d+$/.test(given.trim()) &&
        !response.headers.has('retry-after-ms') &&
        !response.headers.has('x-ms-retry-after-ms')
      )
        response.headers.set('retry-after-ms', String(afterRetryAfter(seconds)));
      return response;
    },
  },
};
