// Shell command plumbing shared by both host kinds and by the activities that build command lines.
// Apart from hosts.ts, so that ssh-host.ts and local-host.ts never import the factory that picks them.

export const DEFAULT_TIMEOUT_MS = 60_000;

const STREAM_TAIL = 8192;

/** A command's stdout: all of it, or, when it is streamed to `onStdout`, the last 8 KiB. */
export function stdoutCollector(onStdout?: (chunk: string) => void) {
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
/** How long an abandoned command is given to stop before its answer goes out anyway. */
export const ABANDON_WAIT_MS = 15_000;

export function onAbort(signal: AbortSignal | undefined, stop: () => void): () => void {
  if (signal?.aborted) stop();
  signal?.addEventListener('abort', stop, { once: true });
  return () => signal?.removeEventListener('abort', stop);
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function withCwd(command: string, cwd?: string): string {
  return cwd ? `cd ${shellQuote(cwd)} && ${command}` : command;
}
