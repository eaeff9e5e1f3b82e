// The local host: commands and files on this machine, behind the same Host interface as SSH hosts.
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import { FailureType, fail } from '../shared/failures';
import { writeFileAtomicSync } from './local-files';
import { missingLocally } from './local-programs';
import { ABANDON_WAIT_MS, DEFAULT_TIMEOUT_MS, onAbort, stdoutCollector } from './shell';
import {
  type ExecOptions,
  type ExecResult,
  type FileStat,
  type Host,
  type StreamTarget,
  targetText,
} from './types';

export class LocalHost implements Host {
  constructor(
    readonly name: string,
    readonly appDir: string,
    readonly dataDir: string,
  ) {}

  missingPrograms(programs: string[], cwd: string): Promise<string[]> {
    return missingLocally(programs, cwd);
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      // Its own process group, so that a timeout or cancellation stops the command's children too.
      const child = spawn('/bin/sh', ['-c', command], {
        cwd: opts.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
      // A command that exits without reading its input must not fail the write.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.stdin ?? '');
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
      // Abandoned (the activity was cancelled): the command's group is stopped and the answer
      // waits until it has exited (SIGKILL after ABANDON_WAIT_MS), so that the work a cancel waits
      // for has really stopped before the undo starts.
      let abandoned: (() => void) | undefined;
      const unsubscribe = onAbort(opts.signal, () => {
        abandoned = () =>
          reject(new Error(`host ${this.name}: "${command}" abandoned: ${String(opts.signal?.reason)}`));
        killGroup('SIGTERM');
        setTimeout(() => killGroup('SIGKILL'), ABANDON_WAIT_MS).unref();
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        unsubscribe();
        if (abandoned) return abandoned();
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
    const dir = posix.dirname(path);
    if ((await this.stat(dir))?.directory === false)
      throw fail(
        FailureType.CommandFailed,
        `host ${this.name}: cannot write ${path}: ${dir} is not a directory`,
      );
    await mkdir(dir, { recursive: true });
    writeFileAtomicSync(path, data, mode);
  }

  async stat(path: string): Promise<FileStat | null> {
    try {
      const st = await stat(path);
      return { mode: st.mode & 0o777, size: st.size, directory: st.isDirectory() };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  connect(target: StreamTarget): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const socket = netConnect('socket' in target ? { path: target.socket } : target);
      socket.once('connect', () => resolve(socket));
      socket.once('error', (err) =>
        reject(new Error(`host ${this.name}: cannot reach ${targetText(target)}: ${err.message}`)),
      );
    });
  }

  async close(): Promise<void> {}
}
