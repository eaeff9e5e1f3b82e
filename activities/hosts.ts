// Hosts that activities act on: over SSH (ssh-host.ts, host key pinned in known_hosts) or this machine
// (local-host.ts). One interface, so every activity works the same on both.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { HostConfig } from '../config/schema';
import { LocalHost } from './local-host';
import { openSsh, setIdle } from './ssh-host';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  cwd?: string;
  timeoutMs?: number;
  /** Streams stdout here as it arrives; result.stdout then keeps only the last 8 KiB. Long
   * commands such as rsync report progress this way. */
  onStdout?: (chunk: string) => void;
  /** SSH: run under a pseudo-terminal, so that sshd hangs the command up when the session ends
   * (say, the worker is killed) instead of leaving it running. Its stderr then arrives on stdout. */
  pty?: boolean;
  /** Aborting closes the session's channel (with `pty`, the command is hung up) and rejects. */
  signal?: AbortSignal;
  /** The command's standard input (a secret value goes here: never into its arguments, where
   * the host's process list would show it). Without it, stdin is empty. */
  stdin?: string;
}

export interface FileStat {
  /** Permission bits (mode & 0o777). */
  mode: number;
  size: number;
  directory: boolean;
}

export interface Host {
  readonly name: string;
  readonly appDir: string;
  readonly dataDir: string;
  /** Runs a shell command; a timeout throws a retryable error naming the host and command. */
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** null when the file does not exist. */
  readFile(path: string): Promise<Buffer | null>;
  /** Temp file in the same directory, mode set, fsync, rename over the target. */
  writeFileAtomic(path: string, data: string | Buffer, mode: number): Promise<void>;
  stat(path: string): Promise<FileStat | null>;
  remove(path: string): Promise<void>;
  close(): Promise<void>;
}

/** Relative paths in config are relative to the host's app dir. */
export function resolveOnHost(host: Host, p: string): string {
  return posix.isAbsolute(p) ? p : posix.join(host.appDir, p);
}

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
