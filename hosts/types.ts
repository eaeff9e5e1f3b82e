// What every host offers, over SSH (ssh.ts, host key pinned in known_hosts) or on this machine
// (local.ts): one interface, so every activity works the same on both.

import { posix } from 'node:path';
import type { Duplex } from 'node:stream';

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
  /** A stream to a TCP address or a Unix socket as seen from the host (over SSH: a channel of its
   * pinned connection, as `ssh -L` opens): a server that listens only there is reached without
   * being exposed. */
  connect(target: StreamTarget): Promise<Duplex>;
  /** Of `programs`, those `command -v` in the host's shell from `cwd` would not find (a path must
   * be a file that could run); a host that can tell without a shell (this machine) says so here,
   * the others run the shell. */
  missingPrograms?(programs: string[], cwd: string): Promise<string[]>;
  close(): Promise<void>;
}

export type StreamTarget = { socket: string } | { host: string; port: number };

export const targetText = (t: StreamTarget) => ('socket' in t ? `socket ${t.socket}` : `${t.host}:${t.port}`);

/** Relative paths in config are relative to the host's app dir. */
export function resolveOnHost(host: Host, p: string): string {
  return posix.isAbsolute(p) ? p : posix.join(host.appDir, p);
}
