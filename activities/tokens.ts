// The publisher token cached in the Spacetime CLI's cli.toml, and re-signing it with a new key
// while keeping the identity. SpacetimeDB derives identity from `iss` and `sub`, not from the key.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { compactVerify, decodeJwt, decodeProtectedHeader, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { FailureType, fail } from '../shared/failures';
import { parsePrivateKey } from './keys';

/** The claims that make up a publisher's identity. Safe to show and to put in workflow history. */
export interface TokenIdentity {
  iss: string;
  sub: string;
  aud?: string | string[];
  hexIdentity?: string;
}

export function sameIdentity(a: TokenIdentity, b: TokenIdentity): boolean {
  return (
    a.iss === b.iss &&
    a.sub === b.sub &&
    JSON.stringify(a.aud ?? null) === JSON.stringify(b.aud ?? null) &&
    (a.hexIdentity ?? null) === (b.hexIdentity ?? null)
  );
}

function decode(token: string, where: string): JWTPayload {
  try {
    if (decodeProtectedHeader(token).alg === undefined) throw new Error('no alg');
    return decodeJwt(token);
  } catch {
    throw fail(FailureType.BadInput, `${where}: the token is not a JWT`);
  }
}

export function tokenIdentity(token: string, where = 'token'): TokenIdentity {
  const claims = decode(token, where);
  const missing = (['iss', 'sub'] as const).filter((c) => typeof claims[c] !== 'string' || claims[c] === '');
  if (missing.length > 0) {
    throw fail(
      FailureType.BadInput,
      `${where}: the token has no ${missing.join(' or ')} claim, so its identity can't be preserved`,
    );
  }
  const hex = claims.hex_identity;
  return {
    iss: claims.iss as string,
    sub: claims.sub as string,
    ...(claims.aud === undefined ? {} : { aud: claims.aud }),
    ...(typeof hex === 'string' ? { hexIdentity: hex } : {}),
  };
}

/** Refuses (BadInput) a token whose `exp` has passed: re-signing it would revive it. */
export function refuseExpired(token: string, where = 'token'): void {
  const { exp } = decode(token, where);
  if (typeof exp === 'number' && exp * 1000 <= Date.now())
    throw fail(
      FailureType.BadInput,
      `${where}: the token expired at ${new Date(exp * 1000).toISOString()}; an expired token is not re-signed (that would revive it): log in again for a new one`,
    );
}

/** New token, same identity: keeps iss, sub, aud, hex_identity, and exp and nbf (a token that
 * expires keeps expiring); fresh iat; ES256. An expired token is refused, never revived. */
export async function resignToken(
  token: string,
  privateKey: string | KeyObject,
  where = 'token',
): Promise<string> {
  const id = tokenIdentity(token, where);
  refuseExpired(token, where);
  const { exp, nbf } = decode(token, where);
  const claims: JWTPayload = id.hexIdentity === undefined ? {} : { hex_identity: id.hexIdentity };
  if (typeof exp === 'number') claims.exp = exp;
  if (typeof nbf === 'number') claims.nbf = nbf;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .setIssuer(id.iss)
    .setSubject(id.sub)
    .setIssuedAt();
  if (id.aud !== undefined) jwt.setAudience(id.aud);
  return jwt.sign(typeof privateKey === 'string' ? parsePrivateKey(privateKey) : privateKey);
}

/** True when `token` carries a valid ES256 signature by the public half of `privatePem`. */
export async function signedBy(token: string, privateKey: string | KeyObject): Promise<boolean> {
  try {
    const key = typeof privateKey === 'string' ? parsePrivateKey(privateKey) : privateKey;
    await jwtVerify(token, createPublicKey(key), { algorithms: ['ES256'] });
    return true;
  } catch {
    return false;
  }
}

/** True when `token` carries a valid ES256 signature by `publicPem`. Only the signature counts:
 * an expired token was still issued under that key. */
export async function signedByPublic(token: string, publicPem: string): Promise<boolean> {
  try {
    await compactVerify(token, createPublicKey(publicPem), { algorithms: ['ES256'] });
    return true;
  } catch {
    return false;
  }
}

export async function signedByAny(token: string, publicPems: string[]): Promise<boolean> {
  for (const pem of publicPems) if (await signedByPublic(token, pem)) return true;
  return false;
}

/** The token in a cli.toml text. Missing is BadInput, or '' with `optional`. */
export function readTokenFromToml(text: string, field: string, where: string, optional = false): string {
  const token = parseCliToml(text, where)[field];
  if (optional && (token === undefined || token === '')) return '';
  if (typeof token !== 'string' || token === '') {
    throw fail(FailureType.BadInput, `${where}: no ${field} in the file`);
  }
  return token;
}

function parseCliToml(text: string, where: string): Record<string, unknown> {
  try {
    return parseToml(text);
  } catch {
    throw fail(FailureType.BadInput, `${where}: not valid TOML`);
  }
}

/** A cli.toml text (empty: none yet) with `field` set to `token`, its other settings kept. */
export function withToken(text: string, field: string, token: string, where: string): string {
  const doc = parseCliToml(text, where);
  doc[field] = token;
  return stringifyToml(doc);
}

/** A cli.toml text without `field`: the CLI logs in afresh at its next publish. */
export function withoutToken(text: string, field: string): string {
  const doc = parseToml(text);
  delete doc[field];
  return stringifyToml(doc);
}

/** Whether a token's issuer is an OpenID provider rather than the SpacetimeDB server: OIDC issuer
 * identifiers are https URLs (OpenID Connect Core 1.0, section 2); the server's own tokens carry
 * a host name (`localhost`). */
export function isExternalIssuer(iss: string): boolean {
  return /^https:\/\/[^/\s]+/i.test(iss);
}

export interface ResignResult {
  /** The new file content; equal to the input when the token was already re-signed. */
  text: string;
  before: TokenIdentity;
  after: TokenIdentity;
  changed: boolean;
}

/**
 * Re-signs the token in a cli.toml text with `privatePem`, keeping every other key. Idempotent:
 * a token already signed by this key is left as it is. Not a signing oracle: the token must carry
 * a valid signature by one of `signers` (the public keys that should have signed it), or it is
 * refused as BadInput; `signers: null` means the caller cannot check and says so itself. Fails
 * with IdentityDrift if the identity would change (it can't, by construction; the check guards
 * against future edits).
 */
export async function resignCliToml(
  text: string,
  privatePem: string,
  field: string,
  where: string,
  signers: string[] | null,
): Promise<ResignResult> {
  const token = readTokenFromToml(text, field, where);
  const before = tokenIdentity(token, where);
  // Parsed once for the check and the signature; a key that does not parse fails at the
  // signature, after the refusals below, as it did when each parsed its own.
  let key: KeyObject | string = privatePem;
  try {
    key = parsePrivateKey(privatePem);
  } catch {}
  if (await signedBy(token, key)) return { text, before, after: before, changed: false };
  if (signers !== null && !(await signedByAny(token, signers))) {
    throw fail(
      FailureType.BadInput,
      `${where}: the token is not signed by ${signers.length === 0 ? 'any known key (there is no public key to check it against)' : 'the key that should have signed it'}; refusing to re-sign it`,
    );
  }
  const next = await resignToken(token, key, where);
  const after = tokenIdentity(next, where);
  if (!sameIdentity(before, after)) {
    throw fail(FailureType.IdentityDrift, `${where}: re-signing would change the identity`, {
      before,
      after,
    });
  }
  const doc = parseToml(text);
  doc[field] = next;
  return { text: stringifyToml(doc), before, after, changed: true };
}
