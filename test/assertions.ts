// Assertions shared by the tests.
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';

/** Things that must never appear in workflow history, logs, errors or output. */
export function assertNoSecrets(text: string, secrets: string[]): void {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text))
    throw new Error('a private key PEM appears in the text');
  if (/eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\./.test(text)) throw new Error('a JWT appears in the text');
  for (const s of secrets) {
    // Every secret is looked for: one too short to tell from other text is the test's mistake.
    if (s.length < 8)
      throw new Error(`a test secret of ${s.length} characters cannot be scanned for: use 8 or more`);
    const body = s.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    for (const probe of [s, body.slice(0, 40)]) {
      if (probe.length >= 8 && text.includes(probe)) throw new Error('a secret value appears in the text');
    }
  }
}

/**
 * For assert.throws/rejects: a non-retryable ApplicationFailure of `type` whose message matches
 * `pattern` and quotes no key or token.
 */
export function namedFailure(type: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, type);
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, pattern);
    assertNoSecrets(err.message, []);
    return true;
  };
}
