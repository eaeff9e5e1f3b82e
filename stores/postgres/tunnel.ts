// A PostgreSQL server reached through a host (`through:` on a `postgres` store): each connection
// is a channel of the host's pinned SSH connection to the server's address or Unix socket as the
// host sees it, so a database that listens only inside the VM is rotated without exposing it.
import { Duplex } from 'node:stream';
import type { Host, StreamTarget } from '../../hosts/types';
import type { PostgresConfig } from './config';

/** Runs `use` with a fresh stream to the server, holding the host while it runs. */
export type Via = <T>(use: (stream: Duplex) => Promise<T>) => Promise<T>;

export function viaOf(
  cfg: PostgresConfig,
  onHost: <T>(name: string, fn: (host: Host) => Promise<T>) => Promise<T>,
): Via | undefined {
  const through = cfg.through;
  if (!through) return undefined;
  const target: StreamTarget = through.socket
    ? { socket: through.socket }
    : { host: cfg.host ?? '127.0.0.1', port: cfg.port };
  return async (use) => {
    // The database's own answer (a bad password, an SQL error) is carried past the host: the
    // host's session takes what it sees thrown for its own failure and would reconnect.
    const outcome = await onHost(through.host, async (host) => {
      const stream = await host.connect(target);
      return use(stream).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
    });
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  };
}

/** An open stream as the socket node-postgres drives: it "connects" at once (the channel is
 * open), and keep-alive and no-delay belong to the host's own connection. */
export class OpenedSocket extends Duplex {
  constructor(private readonly inner: Duplex) {
    super();
    inner.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err: Error) => this.destroy(err));
    inner.on('close', () => this.destroy());
  }

  connect(): this {
    process.nextTick(() => this.emit('connect'));
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.inner.write(chunk, encoding, done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.inner.end(done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.inner.destroy();
    done(err);
  }
}
