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
