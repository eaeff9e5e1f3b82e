// Hosts that activities act on: over SSH (ssh2, host key pinned in known_hosts) or this machine.
// One interface, so every activity works the same on both.
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import type { HostConfig, SshHostConfig } from '../config/schema';
import { FailureType, fail } from '../shared/failures';
import { writeFileAtomicSync } from './local-files';

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
}

const STREAM_TAIL = 8192;

/** A command's stdout: all of it, or, when it is streamed to `onStdout`, the last 8 KiB. */
function stdoutCollector(onStdout?: (chunk: string) => void) {
  let out = '';
  return {
    push(d: string) {
      out = onStdout ? (out + d).slice(-STREAM_TAIL) : out + d;
      onStdout?.(d);
    },
    text: () => out,
  };
}

/** Calls `stop` when `signal` aborts (at once if it already has); returns the unsubscribe. */
function onAbort(signal: AbortSignal | undefined, stop: () => void): () => void {
  if (signal?.aborted) stop();
  signal?.addEventListener('abort', stop, { once: true });
  return () => signal?.removeEventListener('abort', stop);
}

export interface FileStat {
  /** Permission bits (mode & 0o777). */
  mode: number;
  size: number;
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

const DEFAULT_TIMEOUT_MS = 60_000;

/** Relative paths in config are relative to the host's app dir. */
export function resolveOnHost(host: Host, p: string): string {
  return posix.isAbsolute(p) ? p : posix.join(host.appDir, p);
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function withCwd(command: string, cwd?: string): string {
  return cwd ? `cd ${shellQuote(cwd)} && ${command}` : command;
}

// ---------------------------------------------------------------------------------------------
// known_hosts

interface KnownHost {
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

// ---------------------------------------------------------------------------------------------
// SSH host

function sftpCall<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

class SshHost implements Host {
  private sftpSession?: Promise<SFTPWrapper>;

  constructor(
    readonly name: string,
    private readonly cfg: SshHostConfig,
    private readonly client: Client,
  ) {}

  get appDir() {
    return this.cfg.appDir;
  }
  get dataDir() {
    return this.cfg.dataDir;
  }

  private where(): string {
    return `host ${this.name} (${this.cfg.address}:${this.cfg.port})`;
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timedOut = () => new Error(`${this.where()}: "${command}" timed out after ${timeoutMs / 1000}s`);
    // Closing a channel does not stop a command that has no terminal: without a pty the host's
    // own `timeout` kills it (and its children) when the time is up. With a pty, closing the
    // channel hangs the command up.
    const remote = opts.pty
      ? withCwd(command, opts.cwd)
      : `timeout -k 5 ${Math.ceil(timeoutMs / 1000)} sh -c ${shellQuote(withCwd(command, opts.cwd))}`;
    const startedAt = Date.now();
    return new Promise((resolve, reject) => {
      this.client.exec(remote, { pty: opts.pty ?? false }, (err, stream) => {
        if (err) return reject(new Error(`${this.where()}: exec failed: ${err.message}`));
        const stdout = stdoutCollector(opts.onStdout);
        const errOut: Buffer[] = [];
        // The host's timeout normally answers first; this one covers a host that went silent.
        const timer = setTimeout(
          () => {
            stream.close();
            reject(timedOut());
          },
          timeoutMs + (opts.pty ? 0 : 10_000),
        );
        const unsubscribe = onAbort(opts.signal, () => {
          stream.close();
          reject(new Error(`${this.where()}: "${command}" abandoned: ${String(opts.signal?.reason)}`));
        });
        stream.setEncoding('utf8').on('data', stdout.push);
        stream.stderr.on('data', (d: Buffer) => errOut.push(d));
        stream.on('close', (code: number | null) => {
          clearTimeout(timer);
          unsubscribe();
          // timeout(1) exits 124 (137 after -k) when it had to stop the command.
          if (!opts.pty && (code === 124 || code === 137) && Date.now() - startedAt >= timeoutMs - 1000)
            return reject(timedOut());
          resolve({ code: code ?? -1, stdout: stdout.text(), stderr: Buffer.concat(errOut).toString() });
        });
      });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= sftpCall<SFTPWrapper>((cb) => this.client.sftp(cb));
    return this.sftpSession;
  }

  async readFile(path: string): Promise<Buffer | null> {
    const sftp = await this.sftp();
    try {
      return await sftpCall<Buffer>((cb) => sftp.readFile(path, cb));
    } catch (err) {
      if ((err as { code?: number }).code === 2) return null; // SSH_FX_NO_SUCH_FILE
      throw new Error(`${this.where()}: reading ${path}: ${(err as Error).message}`);
    }
  }

  async stat(path: string): Promise<FileStat | null> {
    const sftp = await this.sftp();
    try {
      const st = await sftpCall<{ mode: number; size: number }>((cb) => sftp.stat(path, cb));
      return { mode: st.mode & 0o777, size: st.size };
    } catch (err) {
      if ((err as { code?: number }).code === 2) return null;
      throw new Error(`${this.where()}: stat ${path}: ${(err as Error).message}`);
    }
  }

  async writeFileAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
    const dir = posix.dirname(path);
    const mk = await this.exec(`mkdir -p ${shellQuote(dir)}`);
    if (mk.code !== 0)
      throw fail(FailureType.CommandFailed, `${this.where()}: cannot create ${dir}: ${mk.stderr.trim()}`);
    const sftp = await this.sftp();
    const tmp = posix.join(dir, `.${posix.basename(path)}.rekey-${randomBytes(4).toString('hex')}`);
    const handle = await sftpCall<Buffer>((cb) => sftp.open(tmp, 'w', { mode }, cb));
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      let off = 0;
      while (off < buf.length) {
        const n = Math.min(32 * 1024, buf.length - off);
        await sftpCall<void>((cb) => sftp.write(handle, buf, off, n, off, cb));
        off += n;
      }
      await sftpCall<void>((cb) => sftp.fchmod(handle, mode, cb)); // open()'s mode is filtered by the umask
      await sftpCall<void>((cb) => sftp.ext_openssh_fsync(handle, cb));
    } finally {
      await sftpCall<void>((cb) => sftp.close(handle, cb));
    }
    // A plain SFTP rename fails when the target exists; posix-rename@openssh.com replaces it.
    await sftpCall<void>((cb) => sftp.ext_openssh_rename(tmp, path, cb));
  }

  async remove(path: string): Promise<void> {
    const res = await this.exec(`rm -f ${shellQuote(path)}`);
    if (res.code !== 0) throw new Error(`${this.where()}: rm ${path}: ${res.stderr.trim()}`);
  }

  async close(): Promise<void> {
    this.client.end();
  }
}

async function openSsh(name: string, cfg: SshHostConfig): Promise<Host> {
  let knownHosts: KnownHost[];
  try {
    knownHosts = parseKnownHosts(readFileSync(cfg.knownHosts, 'utf8'));
  } catch (err) {
    throw fail(
      FailureType.BadInput,
      `host ${name}: cannot read known_hosts ${cfg.knownHosts} (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  let privateKey: Buffer;
  try {
    privateKey = readFileSync(cfg.identityFile);
  } catch (err) {
    throw fail(
      FailureType.BadInput,
      `host ${name}: cannot read identity file ${cfg.identityFile} (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  const client = new Client();
  let refusal: string | undefined;
  const options: ConnectConfig = {
    host: cfg.address,
    port: cfg.port,
    username: cfg.user,
    privateKey,
    readyTimeout: 10_000,
    // Always set: ssh2 accepts ANY host key when hostVerifier is missing.
    hostVerifier: (key: Buffer) => {
      const v = verifyHostKey(knownHosts, cfg.address, cfg.port, key);
      if (!v.ok) refusal = `${v.reason}; presented ${sshFingerprint(key)}`;
      return v.ok;
    },
  };
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', (err: Error & { level?: string; code?: string }) => {
      if (refusal) {
        reject(
          fail(
            FailureType.HostKeyMismatch,
            `host ${name} (${cfg.address}:${cfg.port}): host key refused: ${refusal} in ${cfg.knownHosts}`,
          ),
        );
      } else if (err.level === 'client-authentication') {
        reject(
          fail(
            FailureType.BadInput,
            `host ${name} (${cfg.address}:${cfg.port}): ${cfg.user} was refused with ${cfg.identityFile}`,
          ),
        );
      } else {
        reject(
          new Error(`host ${name} (${cfg.address}:${cfg.port}) unreachable: ${err.code ?? err.message}`),
        );
      }
    });
    client.connect(options);
  });
  return new SshHost(name, cfg, client);
}

// ---------------------------------------------------------------------------------------------
// Local host

class LocalHost implements Host {
  constructor(
    readonly name: string,
    readonly appDir: string,
    readonly dataDir: string,
  ) {}

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      // Its own process group, so that a timeout or cancellation stops the command's children too.
      const child = spawn('/bin/sh', ['-c', command], {
        cwd: opts.cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      const killGroup = (signal: NodeJS.Signals) => {
        try {
          if (child.pid) process.kill(-child.pid, signal);
        } catch {
          /* already gone */
        }
      };
      const stdout = stdoutCollector(opts.onStdout);
      const errOut: string[] = [];
      child.stdout.setEncoding('utf8').on('data', stdout.push);
      child.stderr.setEncoding('utf8').on('data', (d: string) => errOut.push(d));
      const timer = setTimeout(() => {
        killGroup('SIGKILL');
        reject(new Error(`host ${this.name}: "${command}" timed out after ${timeoutMs / 1000}s`));
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`host ${this.name}: "${command}": ${err.message}`));
      });
      const unsubscribe = onAbort(opts.signal, () => {
        killGroup('SIGTERM');
        reject(new Error(`host ${this.name}: "${command}" abandoned: ${String(opts.signal?.reason)}`));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        unsubscribe();
        resolve({ code: code ?? -1, stdout: stdout.text(), stderr: errOut.join('') });
      });
    });
  }

  async readFile(path: string): Promise<Buffer | null> {
    try {
      return await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async writeFileAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
    await mkdir(posix.dirname(path), { recursive: true });
    writeFileAtomicSync(path, data, mode);
  }

  async stat(path: string): Promise<FileStat | null> {
    try {
      const st = await stat(path);
      return { mode: st.mode & 0o777, size: st.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  async close(): Promise<void> {}
}

export async function openHost(name: string, cfg: HostConfig): Promise<Host> {
  return cfg.type === 'ssh' ? openSsh(name, cfg) : new LocalHost(name, cfg.appDir, cfg.dataDir);
}

export async function withHost<T>(name: string, cfg: HostConfig, fn: (h: Host) => Promise<T>): Promise<T> {
  const host = await openHost(name, cfg);
  try {
    return await fn(host);
  } finally {
    await host.close();
  }
}
