// Fernet (github.com/fernet/spec): a key is URL-safe base64 of 32 bytes, a signing key (the first
// 16) and an AES-128 key (the last 16); a token is base64url of
// 0x80 | timestamp (8 bytes, big-endian seconds) | IV (16) | AES-128-CBC ciphertext (PKCS7) |
// HMAC-SHA256 (32) over everything before it. A key list (MultiFernet) encrypts with its first key
// and opens a token with any of them. rekey uses it to check a key list before writing it.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const VERSION = 0x80;
/** How far in the future a token's timestamp may be (the spec's clock skew). */
const MAX_CLOCK_SKEW_S = 60;

/** URL-safe base64 with or without padding (Python writes it padded). */
const fromB64url = (s: string): Buffer | undefined =>
  /^[A-Za-z0-9_-]*={0,2}$/.test(s) ? Buffer.from(s, 'base64url') : undefined;

/** URL-safe base64 with padding, as Python's base64.urlsafe_b64encode writes it. */
const b64urlPadded = (b: Buffer) => b.toString('base64').replaceAll('+', '-').replaceAll('/', '_');

/** A new key, as Fernet.generate_key() makes one. */
export const fernetKey = () => b64urlPadded(randomBytes(32));

export function parseFernetKey(key: string): { signing: Buffer; encryption: Buffer } {
  // 44 characters with the padding, as Python's Fernet() requires.
  const raw = key.length === 44 ? fromB64url(key) : undefined;
  if (!raw || raw.length !== 32)
    throw new Error('not a Fernet key (URL-safe base64 of 32 bytes, 44 characters)');
  return { signing: raw.subarray(0, 16), encryption: raw.subarray(16) };
}

export function fernetEncrypt(
  key: string,
  plaintext: Buffer | string,
  opts: { nowS?: number; iv?: Buffer } = {},
): string {
  const { signing, encryption } = parseFernetKey(key);
  const iv = opts.iv ?? randomBytes(16);
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(BigInt(opts.nowS ?? Math.floor(Date.now() / 1000)));
  const cipher = createCipheriv('aes-128-cbc', encryption, iv);
  const body = Buffer.concat([Buffer.from([VERSION]), ts, iv, cipher.update(plaintext), cipher.final()]);
  const mac = createHmac('sha256', signing).update(body).digest();
  return b64urlPadded(Buffer.concat([body, mac]));
}

/** Opens `token` with the first of `keys` whose signature matches; throws "invalid token"
 * otherwise, or when it is older than `ttlS` or dated too far ahead. */
export function fernetDecrypt(
  keys: string[],
  token: string,
  opts: { ttlS?: number; nowS?: number } = {},
): Buffer {
  const data = fromB64url(token);
  if (!data || data.length < 1 + 8 + 16 + 16 + 32 || (data.length - 57) % 16 !== 0 || data[0] !== VERSION)
    throw new Error('invalid token');
  const ts = Number(data.readBigUInt64BE(1));
  const now = opts.nowS ?? Math.floor(Date.now() / 1000);
  // As Python's: the time checks apply with a TTL only.
  if (opts.ttlS !== undefined && (ts > now + MAX_CLOCK_SKEW_S || ts + opts.ttlS < now))
    throw new Error('invalid token');
  const body = data.subarray(0, data.length - 32);
  const mac = data.subarray(data.length - 32);
  for (const key of keys) {
    const { signing, encryption } = parseFernetKey(key);
    if (!timingSafeEqual(createHmac('sha256', signing).update(body).digest(), mac)) continue;
    try {
      const decipher = createDecipheriv('aes-128-cbc', encryption, data.subarray(9, 25));
      return Buffer.concat([decipher.update(data.subarray(25, data.length - 32)), decipher.final()]);
    } catch {
      throw new Error('invalid token');
    }
  }
  throw new Error('invalid token');
}
