// The SSH host: commands over an ssh2 session, files over SFTP, after the host key was checked
// against the pinned known_hosts (ssh2 itself would accept any key).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import type { SshHostConfig } from '../config/schema';
import { FailureType, fail } from '../shared/failures';
import { type KnownHost, parseKnownHosts, sshFingerprint, verifyHostKey } from './known-hosts';
import { ABANDON_WAIT_MS, DEFAULT_TIMEOUT_MS, onAbort, shellQuote, stdoutCollector, withCwd } from './shell';
import {
  type ExecOptions,
  type ExecResult,
  type FileStat,
  type Host,
  type StreamTarget,
  targetText,
} from './types';

/** An SFTP request fails after this long without an answer: on a connection that died silently
 * (a NAT or firewall dropping the flow) the step fails and its pooled session is dropped, instead
 * of hanging until TCP gives up. (ssh2's keepalives would do it too, but their timer keeps an
 * idle pooled session's process alive.) */
const SFTP_TIMEOUT_MS = 20_000;

function sftpCall<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no SFTP answer within ${SFTP_TIMEOUT_MS / 1000}s`)),
      SFTP_TIMEOUT_MS,
    );
    fn((err, v) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(v as T);
    });
  });
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
    // A terminal would echo it into the output.
    if (opts.pty && opts.stdin !== undefined)
      return Promise.reject(new Error(`${this.where()}: a command under a pty takes no stdin`));
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
        // Abandoned (the activity was cancelled): the channel is closed (a pty hangs the command up)
        // and the answer waits until it has closed, at most ABANDON_WAIT_MS, so that the work a
        // cancel waits for has really stopped before the undo starts.
        let abandoned: (() => void) | undefined;
        const unsubscribe = onAbort(opts.signal, () => {
          abandoned = () =>
            reject(new Error(`${this.where()}: "${command}" abandoned: ${String(opts.signal?.reason)}`));
          stream.close();
          setTimeout(() => abandoned?.(), ABANDON_WAIT_MS).unref();
        });
        stream.setEncoding('utf8').on('data', stdout.push);
        stream.stderr.on('data', (d: Buffer) => errOut.push(d));
        // Without a pty, the command reads this and then end of file.
        if (!opts.pty) stream.end(opts.stdin ?? '');
        stream.on('close', (code: number | null) => {
          clearTimeout(timer);
          unsubscribe();
          if (abandoned) return abandoned();
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
      return { mode: st.mode & 0o777, size: st.size, directory: (st.mode & 0o170000) === 0o040000 };
    } catch (err) {
      if ((err as { code?: number }).code === 2) return null;
      throw new Error(`${this.where()}: stat ${path}: ${(err as Error).message}`);
    }
  }

  async writeFileAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
    const dir = posix.dirname(path);
    // A command costs a session and a shell on the host (~0.1 s); an SFTP stat does not.
    const dirStat = await this.stat(dir);
    if (dirStat && !dirStat.directory)
      throw fail(
        FailureType.CommandFailed,
        `${this.where()}: cannot write ${path}: ${dir} is not a directory`,
      );
    if (!dirStat) {
      const mk = await this.exec(`mkdir -p ${shellQuote(dir)}`);
      if (mk.code !== 0)
        throw fail(FailureType.CommandFailed, `${this.where()}: cannot create ${dir}: ${mk.stderr.trim()}`);
    }
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

  connect(target: StreamTarget): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      // A connection that died silently never answers: the open is given up, as an SFTP call is.
      const timer = setTimeout(
        () => reject(new Error(`host ${this.name}: no channel to ${targetText(target)} within 15 s`)),
        15_000,
      );
      const opened = (err: Error | undefined, channel: Duplex) => {
        clearTimeout(timer);
        if (err)
          reject(
            new Error(`host ${this.name}: cannot reach ${targetText(target)} through it: ${err.message}`),
          );
        else resolve(channel);
      };
      if ('socket' in target) this.client.openssh_forwardOutStreamLocal(target.socket, opened);
      else this.client.forwardOut('127.0.0.1', 0, target.host, target.port, opened);
    });
  }

  async close(): Promise<void> {
    this.client.end();
  }

  /** An idle session must not keep a process alive (a CLI exits while one waits for reuse):
   * its socket is unreferenced until it is used again. ssh2 keeps the socket in `_sock`. */
  idle(on: boolean): void {
    const sock = (this.client as unknown as { _sock?: { ref(): void; unref(): void } })._sock;
    if (on) sock?.unref();
    else sock?.ref();
  }
}

/** Marks a session idle (or in use again); see SshHost.idle. */
export function setIdle(host: Host, on: boolean): void {
  if (host instanceof SshHost) host.idle(on);
}

/** `onClosed`: called when the session ends or fails after it opened (it is then of no use). */
export async function openSsh(name: string, cfg: SshHostConfig, onClosed?: () => void): Promise<Host> {
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
  if (onClosed) {
    client.on('close', onClosed);
    client.on('error', onClosed);
  }
  return new SshHost(name, cfg, client);
}
