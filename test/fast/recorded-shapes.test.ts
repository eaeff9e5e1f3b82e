// Key pair references and versions as runs started before their fields were renamed recorded them
// (privateKey/publicKey, which read like key material in the Web UI): activities given one by such
// a run read it as today's shape.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { versionsOf } from '../../activities/environment-keys';
import { pairRef } from '../../stores/types';

describe('recorded shapes', () => {
  const priv = { store: 'kv-prod', name: 'jwt-private', version: 'v1' };
  const pub = { store: 'kv-prod', name: 'jwt-public', version: 'v2' };

  it('a pair reference of either shape reads as privateKeyRef/publicKeyRef', () => {
    const now = { privateKeyRef: priv, publicKeyRef: pub, fingerprint: 'f' };
    assert.deepEqual(pairRef(now), now);
    assert.deepEqual(pairRef({ privateKey: priv, publicKey: pub, fingerprint: 'f' }), now);
  });

  it("a plan's current versions of either shape read as privateKeyVersion/publicKeyVersion", () => {
    const now = { privateKeyVersion: 'v1', publicKeyVersion: 'v2' };
    assert.deepEqual(versionsOf(now), now);
    assert.deepEqual(versionsOf({ privateKey: 'v1', publicKey: 'v2' }), now);
  });
});

describe('a put-back given no version', () => {
  it('is refused, not reported as done (an older worker reading a newer plan gets undefined)', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { createSecretStore } = await import('../../stores/drivers');
    const { restoreVersion } = await import('../../stores/pairs');
    const dir = mkdtempSync(join(tmpdir(), 'rekey-restore-'));
    try {
      const store = createSecretStore('files', { type: 'file', dir });
      const old = await store.set('jwt-private', 'old value', {});
      // This run staged a new version (tagged with the run, as a rotation's stage does).
      await store.set('jwt-private', 'new value', { rekeyRunId: 'run-1', role: 'private' });
      await assert.rejects(
        restoreVersion(store, 'jwt-private', undefined as unknown as string, 'run-1'),
        /no version to put back/,
      );
      assert.equal((await store.get('jwt-private')).value, 'new value', 'nothing was written');
      await restoreVersion(store, 'jwt-private', old.version, 'run-1');
      assert.equal((await store.get('jwt-private')).value, 'old value');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
