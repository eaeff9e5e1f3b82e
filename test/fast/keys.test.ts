import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  assertPairMatches,
  fingerprint,
  generateKeyPair,
  jwkThumbprint,
  normalizePem,
  parsePrivateKey,
  parsePublicKey,
} from '../../activities/keys';
import { namedFailure } from '../assertions';

describe('keys', () => {
  it('generates a P-256 pair whose halves match', () => {
    const pair = generateKeyPair();
    assert.match(pair.privatePem, /^-{5}BEGIN PRIVATE KEY-{5}\n[\s\S]+-{5}END PRIVATE KEY-{5}\n$/);
    assert.match(pair.publicPem, /^-{5}BEGIN PUBLIC KEY-{5}\n[\s\S]+-{5}END PUBLIC KEY-{5}\n$/);
    assert.equal(parsePrivateKey(pair.privatePem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assertPairMatches(pair);
  });

  it('normalises CRLF and CR line ends to exactly one trailing LF, and accepts such PEM', () => {
    const pair = generateKeyPair();
    const crlf = `${pair.privatePem.replace(/\n/g, '\r\n')}\r\n\r\n`;
    assert.equal(normalizePem(crlf), pair.privatePem);
    assert.equal(normalizePem(pair.publicPem.replace(/\n/g, '\r').trimEnd()), pair.publicPem);
    assertPairMatches({ privatePem: crlf, publicPem: pair.publicPem.replace(/\n/g, '\r\n') });
  });

  it('fingerprints the SPKI DER exactly as openssl does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-keys-'));
    const pub = join(dir, 'id_ecdsa.pub');
    const pair = generateKeyPair();
    writeFileSync(pub, pair.publicPem);
    const out = execFileSync('sh', [
      '-c',
      `openssl pkey -pubin -in "${pub}" -outform DER | openssl dgst -sha256`,
    ]);
    const expected = out.toString().trim().split('= ')[1];
    assert.equal(fingerprint(pair.publicPem), expected);
    assert.notEqual(fingerprint(generateKeyPair().publicPem), expected);
  });

  it('accepts keys made by openssl the way the guide makes them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-keys-'));
    const priv = join(dir, 'id_ecdsa');
    execFileSync('openssl', [
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-out',
      priv,
    ]);
    const privatePem = execFileSync('openssl', ['pkey', '-in', priv]).toString();
    const publicPem = execFileSync('openssl', ['pkey', '-in', priv, '-pubout']).toString();
    assertPairMatches({ privatePem, publicPem });
  });

  it('computes the RFC 7638 JWK thumbprint as kid', async () => {
    // RFC 7638 defines the input as the required members in lexicographic order, no spaces.
    const pair = generateKeyPair();
    const jwk = parsePublicKey(pair.publicPem).export({ format: 'jwk' });
    const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
    const { createHash } = await import('node:crypto');
    const expected = createHash('sha256').update(canonical).digest('base64url');
    assert.equal(await jwkThumbprint(pair.publicPem), expected);
  });

  it('rejects a mismatched pair', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    assert.throws(
      () => assertPairMatches({ privatePem: a.privatePem, publicPem: b.publicPem }, 'prod'),
      namedFailure('BadInput', /^prod: the public key does not belong to the private key$/),
    );
  });

  it('rejects RSA and P-384 keys by name', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    assert.throws(
      () => parsePrivateKey(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'id_ecdsa'),
      namedFailure('BadInput', /^id_ecdsa: RSA key; ES256 needs an EC P-256 key$/),
    );
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    assert.throws(
      () => parsePublicKey(p384.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'id_ecdsa.pub'),
      namedFailure('BadInput', /^id_ecdsa.pub: EC curve secp384r1; ES256 needs P-256/),
    );
  });

  it('rejects malformed PEM without echoing it', () => {
    const pair = generateKeyPair();
    const broken = pair.privatePem.replace(/\n[A-Za-z0-9+/]{10}/, '\n!!!!!!!!!!');
    assert.throws(
      () => parsePrivateKey(broken, 'id_ecdsa'),
      namedFailure('BadInput', /^id_ecdsa: malformed PEM private key$/),
    );
    assert.throws(
      () => parsePrivateKey('hello', 'id_ecdsa'),
      namedFailure('BadInput', /no BEGIN PRIVATE KEY line/),
    );
    assert.throws(
      () => parsePublicKey(pair.privatePem, 'id_ecdsa.pub'),
      namedFailure('BadInput', /no BEGIN PUBLIC KEY line/),
    );
  });
});
