// Opening hosts by config, and the SSH sessions a worker keeps open between activities.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import type { HostConfig } from '../config/schema';
import { LocalHost } from './local';
import { openSsh, setIdle } from './ssh';
import type { Host } from './types';

export async function openHost(name: string, cfg: HostConfig): Promise<Host> {
  return cfg.type === 'ssh' ? openSsh(name, cfg) : new LocalHost(name, cfg.appDir, cfg.dataDir);
}

/** SSH sessions kept open between activities for a few seconds: a rotation's steps on one host
 * (install, re-sign, restart) then pay one handshake, not three. Keyed by everything the session
 * was opened with, the pinned known_hosts and identity file included, so a changed pin or key
 * opens a new session (checked again). A session that closed or failed is dropped. */
const IDLE_MS = 5000;
const SHARED_USERS = 4;
const sessions = new Map<
  string,
  { host: Promise<Host>; users: number; idle?: NodeJS.Timeout; suspect?: boolean }
>();

function sessionKey(name: string, cfg: Extract<HostConfig, { type: 'ssh' }>): string {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  // A digest: the identity file's key is not kept in the map for the worker's lifetime.
  return createHash('sha256')
    .update(JSON.stringify([name, cfg, read(cfg.knownHosts), read(cfg.identityFile)]))
    .digest('hex');
}

/** Closes the sessions no one is using (a benchmark starts each side cold). */
export async function closeIdleSessions(): Promise<void> {
  for (const [key, e] of sessions)
    if (e.users === 0) {
      clearTimeout(e.idle);
      sessions.delete(key);
      await e.host.then((h) => h.close()).catch(() => undefined);
    }
}

export async function withHost<T>(name: string, cfg: HostConfig, fn: (h: Host) => Promise<T>): Promise<T> {
  if (cfg.type !== 'ssh') return fn(await openHost(name, cfg));
  const key = sessionKey(name, cfg);
  let entry = sessions.get(key);
  // Each user may hold a channel or two; sshd allows 10 per connection by default (MaxSessions):
  // past SHARED_USERS, a call opens a session of its own.
  if (entry && entry.users >= SHARED_USERS) {
    const own = await openSsh(name, cfg, () => undefined);
    try {
      return await fn(own);
    } finally {
      await own.close().catch(() => undefined);
    }
  }
  if (!entry) {
    const created = {
      host: openSsh(name, cfg, () => sessions.get(key) === created && sessions.delete(key)),
      users: 0,
    };
    entry = created;
    sessions.set(key, created);
    created.host.catch(() => sessions.get(key) === created && sessions.delete(key));
  }
  const e = entry;
  e.users++;
  clearTimeout(e.idle);
  try {
    const host = await e.host;
    setIdle(host, false);
    return await fn(host);
  } catch (err) {
    // A transient failure (a timeout, a dropped channel) may be the session's own: the next
    // activity opens a new one. A named failure (a refusal, bad input) says nothing about it.
    if (!(err instanceof ApplicationFailure)) {
      e.suspect = true;
      if (sessions.get(key) === e) sessions.delete(key);
    }
    throw err;
  } finally {
    e.users--;
    if (e.users === 0 && e.suspect) e.host.then((h) => h.close()).catch(() => undefined);
    else if (e.users === 0) {
      e.host.then((h) => setIdle(h, true)).catch(() => undefined);
      e.idle = setTimeout(() => {
        if (sessions.get(key) === e) sessions.delete(key);
        e.host.then((h) => h.close()).catch(() => undefined);
      }, IDLE_MS);
      e.idle.unref();
    }
  }
}
