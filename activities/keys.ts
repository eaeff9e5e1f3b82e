// ES256 (EC P-256) key pairs: generation, PEM normalisation, validation, fingerprints.
// Pure functions over PEM text; no I/O. Values never leave the activity that calls these.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { FailureType, fail } from '../shared/failures';

export interface KeyPairPem {
  privatePem: string;
  publicPem: string;
}

/** What a workflow may know about a key: never the key itself. */
export interface KeyFacts {
  /** SHA-256 of the SPKI DER, hex: equals `openssl pkey -pubin -outform DER | openssl dgst -sha256`. */
  fingerprint: string;
  /** RFC 7638 JWK thumbprint (SHA-256, base64url), used as `kid`. */
  kid: string;
}

/** CRLF and lone CR become LF; surrounding blank lines go; exactly one trailing newline. */
export function normalizePem(pem: string): string {
  return `${pem.replace(/\r\n?/g, '\n').trim()}\n`;
}

export function generateKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privatePem: normalizePem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
    publicPem: normalizePem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
  };
}

function requireP256(key: KeyObject, label: string): KeyObject {
  if (key.asymmetricKeyType !== 'ec') {
    throw fail(
      FailureType.BadInput,
      `${label}: ${key.asymmetricKeyType?.toUpperCase() ?? 'unknown'} key; ES256 needs an EC P-256 key`,
    );
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve !== 'prime256v1') {
    throw fail(FailureType.BadInput, `${label}: EC curve ${curve}; ES256 needs P-256 (prime256v1)`);
  }
  return key;
}

function parse(kind: 'private' | 'public', pem: string, label: string): KeyObject {
  const text = normalizePem(pem);
  const marker = kind === 'private' ? /-----BEGIN (EC )?PRIVATE KEY-----/ : /-----BEGIN PUBLIC KEY-----/;
  if (!marker.test(text)) {
    throw fail(
      FailureType.BadInput,
      `${label}: not a PEM ${kind} key (no BEGIN ${kind.toUpperCase()} KEY line)`,
    );
  }
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(text) : createPublicKey(text);
  } catch {
    // The parser's message can quote key bytes; name the problem without it.
    throw fail(FailureType.BadInput, `${label}: malformed PEM ${kind} key`);
  }
  return requireP256(key, label);
}

export function parsePrivateKey(pem: string, label = 'private key'): KeyObject {
  return parse('private', pem, label);
}

export function parsePublicKey(pem: string, label = 'public key'): KeyObject {
  return parse('public', pem, label);
}

function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

/** Throws BadInput unless both halves are valid P-256 keys of the same pair. */
export function assertPairMatches(pair: KeyPairPem, label = 'key pair'): void {
  const derived = spkiDer(parsePrivateKey(pair.privatePem, `${label} private key`));
  const given = spkiDer(parsePublicKey(pair.publicPem, `${label} public key`));
  if (!derived.equals(given)) {
    throw fail(FailureType.BadInput, `${label}: the public key does not belong to the private key`);
  }
}

export function publicPemOf(privatePem: string): string {
  const pub = createPublicKey(parsePrivateKey(privatePem));
  return normalizePem(pub.export({ type: 'spki', format: 'pem' }).toString());
}

const fingerprintOf = (key: KeyObject) => createHash('sha256').update(spkiDer(key)).digest('hex');
const thumbprintOf = (key: KeyObject) =>
  calculateJwkThumbprint(key.export({ format: 'jwk' }) as JWK, 'sha256');

export function fingerprint(publicPem: string): string {
  return fingerprintOf(parsePublicKey(publicPem));
}

export async function jwkThumbprint(publicPem: string): Promise<string> {
  return thumbprintOf(parsePublicKey(publicPem));
}

/** Both from one parse of the key (a fleet's rotation computes them thousands of times). */
export async function keyFacts(publicPem: string): Promise<KeyFacts> {
  const key = parsePublicKey(publicPem);
  return { fingerprint: fingerprintOf(key), kid: await thumbprintOf(key) };
}
