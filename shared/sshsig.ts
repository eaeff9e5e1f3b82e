// OpenSSH signatures (SSHSIG, as made by `ssh-keygen -Y sign`), verified in pure JavaScript so
// that an Update validator inside a workflow can check an approver's signature deterministically.
// Format: https://github.com/openssh/openssh-portable/blob/master/PROTOCOL.sshsig
// Supported keys: ssh-ed25519 and ecdsa-sha2-nistp256 (what ssh-keygen makes by default and what
// hardware-backed agents offer). No Node imports: this module is bundled into workflows.
import type * as Ed25519 from '@noble/curves/ed25519';
import type * as P256 from '@noble/curves/p256';
import { sha256, sha512 } from '@noble/hashes/sha2';

// Setting up a curve takes milliseconds, and a workflow evaluates its modules afresh at every run:
// they are loaded when a signature is checked, not when any run starts.
const ed25519 = () => (require('@noble/curves/ed25519') as typeof Ed25519).ed25519;
const p256 = () => (require('@noble/curves/p256') as typeof P256).p256;

export const APPROVAL_NAMESPACE = 'rekey-approval';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Strict base64: padding only at the end, no stray bits (one spelling per value). */
function fromBase64(text: string): Uint8Array {
  const squeezed = text.replace(/\s/g, '');
  const clean = squeezed.replace(/={1,2}$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(clean) || clean.length % 4 === 1) throw new Error('not base64');
  if (squeezed !== clean && squeezed.length % 4 !== 0) throw new Error('not base64');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let n = 0;
  for (const ch of clean) {
    value = (value << 6) | B64.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (value >> bits) & 0xff;
    }
  }
  if (value & ((1 << bits) - 1)) throw new Error('not base64');
  return out.subarray(0, n);
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** Reads SSH wire-format fields (uint32 lengths, big-endian). */
class Reader {
  private at = 0;
  constructor(private readonly buf: Uint8Array) {}
  bytes(n: number): Uint8Array {
    if (n < 0 || this.at + n > this.buf.length) throw new Error('truncated');
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint32(): number {
    const b = this.bytes(4);
    return (
      (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>> 0
    );
  }
  string(): Uint8Array {
    return this.bytes(this.uint32());
  }
  done(): boolean {
    return this.at === this.buf.length;
  }
}

function sshString(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + b.length);
  new DataView(out.buffer).setUint32(0, b.length);
  out.set(b, 4);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

export interface SshPublicKey {
  type: 'ssh-ed25519' | 'ecdsa-sha2-nistp256';
  /** The key's wire blob, as in authorized_keys after the type. */
  blob: Uint8Array;
  /** The raw point: 32 bytes (Ed25519) or 65 bytes uncompressed (P-256). */
  point: Uint8Array;
}

function publicKeyFromBlob(blob: Uint8Array): SshPublicKey {
  const r = new Reader(blob);
  const type = text(r.string());
  if (type === 'ssh-ed25519') {
    const point = r.string();
    if (point.length !== 32 || !r.done()) throw new Error('malformed ssh-ed25519 key');
    return { type, blob, point };
  }
  if (type === 'ecdsa-sha2-nistp256') {
    if (text(r.string()) !== 'nistp256') throw new Error('malformed ecdsa-sha2-nistp256 key');
    const point = r.string();
    if (point.length !== 65 || !r.done()) throw new Error('malformed ecdsa-sha2-nistp256 key');
    return { type, blob, point };
  }
  throw new Error(`unsupported key type "${type}" (use ssh-ed25519 or ecdsa-sha2-nistp256)`);
}

/**
 * Refuses keys that verify what their holder never signed: an Ed25519 point of small order
 * (the identity verifies a signature of R = identity, S = 0 over any text, in OpenSSH too) and a
 * P-256 point off the curve. Checked where approver keys are read from the config.
 */
function checkPoint(key: SshPublicKey): void {
  if (key.type === 'ssh-ed25519') {
    let small: boolean;
    try {
      small = ed25519().Point.fromHex(key.point).isSmallOrder();
    } catch {
      throw new Error('not an SSH public key: the Ed25519 key is not a point on the curve');
    }
    if (small)
      throw new Error('a degenerate Ed25519 key (a point of small order): it would accept forged signatures');
  } else {
    try {
      p256().Point.fromHex(key.point).assertValidity();
    } catch {
      throw new Error('not an SSH public key: the P-256 key is not a point on the curve');
    }
  }
}

/**
 * An ECDSA signature integer as OpenSSH reads it (sshbuf_get_bignum2): a negative value (high
 * bit set) is refused, leading zero bytes are allowed; returned as 32 bytes, or refused when it
 * cannot be below the curve order.
 */
function mpint32(b: Uint8Array): Uint8Array {
  if (b.length && (b[0] as number) & 0x80) throw new Error('negative ecdsa integer');
  let start = 0;
  while (start < b.length && b[start] === 0) start++;
  const magnitude = b.subarray(start);
  if (magnitude.length > 32) throw new Error('ecdsa integer too large');
  const out = new Uint8Array(32);
  out.set(magnitude, 32 - magnitude.length);
  return out;
}

/** Parses an authorized_keys style line: `ssh-ed25519 AAAA... [comment]`. Throws saying why. */
export function parseSshPublicKey(line: string): SshPublicKey {
  const [type, body] = line.trim().split(/\s+/);
  if (!type || !body) throw new Error('expected "<type> <base64> [comment]", e.g. "ssh-ed25519 AAAA..."');
  let key: SshPublicKey;
  try {
    key = publicKeyFromBlob(fromBase64(body));
  } catch (err) {
    throw new Error(`not an SSH public key: ${(err as Error).message}`);
  }
  if (key.type !== type) throw new Error(`the key says "${key.type}" but the line says "${type}"`);
  checkPoint(key);
  return key;
}

function toBase64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let k = 0; k < chars; k++) out += B64[(n >> (18 - 6 * k)) & 63];
  }
  return out;
}

/** OpenSSH's fingerprint of a key (`ssh-keygen -lf`): SHA256:<base64 without padding>. */
export function sshFingerprint(key: SshPublicKey): string {
  return `SHA256:${toBase64(sha256(key.blob))}`;
}

/** An SSHSIG's parts (armored or bare base64); throws naming what is not one. */
function parseSshSig(signature: string) {
  const body = signature.replace(/-----(BEGIN|END) SSH SIGNATURE-----/g, '');
  let r: Reader;
  try {
    r = new Reader(fromBase64(body));
  } catch {
    throw new Error('the signature is not an SSH signature (expected the output of ssh-keygen -Y sign)');
  }
  try {
    if (text(r.bytes(6)) !== 'SSHSIG' || r.uint32() !== 1) throw new Error('no SSHSIG v1 header');
    const signer = publicKeyFromBlob(r.string());
    const ns = text(r.string());
    r.string(); // reserved: OpenSSH skips it, and signs an empty one
    const hashAlg = text(r.string());
    const inner = new Reader(r.string());
    const sigType = text(inner.string());
    const sig = inner.string();
    if (!inner.done() || !r.done()) throw new Error('trailing bytes');
    return { signer, ns, hashAlg, sigType, sig };
  } catch (err) {
    throw new Error(`the signature is not an SSH signature: ${(err as Error).message}`);
  }
}

/**
 * Checks that `signature` (armored `-----BEGIN SSH SIGNATURE-----` text, or just its base64 lines)
 * is an SSHSIG over `message` in `namespace`, made by `publicKey`. Returns nothing; throws an Error
 * naming the first thing wrong.
 */
export function verifySshSignature(
  signature: string,
  publicKey: SshPublicKey,
  namespace: string,
  message: string,
): void {
  const { signer, ns, hashAlg, sigType, sig } = parseSshSig(signature);
  if (!sameBytes(signer.blob, publicKey.blob))
    throw new Error(`signed by another key (${sshFingerprint(signer)}), not ${sshFingerprint(publicKey)}`);
  if (ns !== namespace)
    throw new Error(`signed for namespace "${ns}", not "${namespace}" (ssh-keygen -Y sign -n ${namespace})`);
  const hash = hashAlg === 'sha512' ? sha512 : hashAlg === 'sha256' ? sha256 : undefined;
  if (!hash) throw new Error(`unsupported hash "${hashAlg}"`);
  const signed = concat([
    utf8('SSHSIG'),
    sshString(utf8(namespace)),
    sshString(new Uint8Array(0)),
    sshString(utf8(hashAlg)),
    sshString(hash(utf8(message))),
  ]);
  let ok = false;
  try {
    if (publicKey.type === 'ssh-ed25519' && sigType === 'ssh-ed25519') {
      ok = ed25519().verify(sig, signed, publicKey.point);
    } else if (publicKey.type === 'ecdsa-sha2-nistp256' && sigType === 'ecdsa-sha2-nistp256') {
      const rs = new Reader(sig);
      const compact = concat([mpint32(rs.string()), mpint32(rs.string())]);
      if (!rs.done()) throw new Error('trailing bytes');
      ok = p256().verify(compact, sha256(signed), publicKey.point, { lowS: false, format: 'compact' });
    }
  } catch {
    ok = false;
  }
  if (!ok)
    throw new Error('the signature does not match: it was made over another text (another plan?) or altered');
}

/** The fingerprint of the key that made an SSHSIG (armored or bare base64), or undefined when it
 * is not one. Says who signed, not that the signature is good: the worker checked that. */
export function signerOf(signature: string): string | undefined {
  try {
    return sshFingerprint(parseSshSig(signature).signer);
  } catch {
    return undefined;
  }
}

/** SHA-256 of `parts` joined unambiguously, as "sha256:<hex>": what an approver signs. */
export function digestOf(parts: string[]): string {
  return `sha256:${toHex(sha256(utf8(JSON.stringify(parts))))}`;
}

/** JSON with object keys sorted at every level: the same text for the same value anywhere. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
