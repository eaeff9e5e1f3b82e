// known_hosts parsing and the host key check of every SSH connection: a key is accepted only when it
// is pinned for that host and not @revoked, never on first use.
import { createHash, createHmac } from 'node:crypto';

export interface KnownHost {
  patterns: string[];
  hashed?: { salt: Buffer; hash: Buffer };
  keyType: string;
  key: Buffer;
  /** A `@revoked` line: the key is refused for every host, pinned or not. */
  revoked: boolean;
}

export function parseKnownHosts(text: string): KnownHost[] {
  const entries: KnownHost[] = [];
  for (const raw of text.split('\n')) {
    let line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    let revoked = false;
    if (line.startsWith('@')) {
      // @revoked: this key is refused wherever it is presented. @cert-authority: host
      // certificates are not supported, so such a line pins nothing.
      const [marker, ...rest] = line.split(/\s+/);
      if (marker !== '@revoked') continue;
      revoked = true;
      line = rest.join(' ');
    }
    const [hosts, keyType, key] = line.split(/\s+/);
    if (!hosts || !keyType || !key) continue;
    if (hosts.startsWith('|1|')) {
      const [, , salt, hash] = hosts.split('|');
      entries.push({
        patterns: [],
        hashed: { salt: Buffer.from(salt ?? '', 'base64'), hash: Buffer.from(hash ?? '', 'base64') },
        keyType,
        key: Buffer.from(key, 'base64'),
        revoked,
      });
    } else {
      entries.push({ patterns: hosts.split(','), keyType, key: Buffer.from(key, 'base64'), revoked });
    }
  }
  return entries;
}

function hostToken(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

function matches(entry: KnownHost, token: string): boolean {
  if (entry.hashed) {
    const h = createHmac('sha1', entry.hashed.salt).update(token).digest();
    return h.equals(entry.hashed.hash);
  }
  return entry.patterns.includes(token);
}

export function sshFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** Checks a presented host key against the pinned ones; never accepts an unknown host. */
export function verifyHostKey(
  knownHosts: KnownHost[],
  address: string,
  port: number,
  presented: Buffer,
): { ok: true } | { ok: false; reason: string } {
  const token = hostToken(address, port);
  if (knownHosts.some((e) => e.revoked && e.key.equals(presented)))
    return { ok: false, reason: `the key presented by ${token} is marked @revoked` };
  const pinned = knownHosts.filter((e) => !e.revoked && matches(e, token));
  if (pinned.length === 0) return { ok: false, reason: `no pinned key for ${token}` };
  if (pinned.some((e) => e.key.equals(presented))) return { ok: true };
  return { ok: false, reason: `the key differs from the one pinned for ${token}` };
}
