// How a worker process's V8 heaps grow. By default V8 lets a heap grow to up to four times what
// survived its last full collection before collecting again: under 1,000 key sets in flight the
// worker's main heap held about 75 MiB alive and grew to 290 MiB (bench:fleet). Growing by half
// at most kept its peak RSS to 450 MiB from 540-680 at the same CPU per key set. The workflow
// thread (created after this runs) also gets smaller young-generation semispaces.
import { setFlagsFromString } from 'node:v8';

/** V8 flags `rekey worker` sets, each unless `node` was given it on its command line. */
export const WORKER_HEAP_FLAGS: Record<string, number> = {
  'heap-growing-percent': 50,
  'max-semi-space-size': 4,
};

/** The WORKER_HEAP_FLAGS that `node` was not given on its command line, as V8 flags. */
export function heapFlags(execArgv: readonly string[] = process.execArgv): string[] {
  const given = (flag: string) =>
    execArgv.some(
      (a) =>
        a
          .replace(/_/g, '-')
          .replace(/^--no-/, '--')
          .split('=')[0] === `--${flag}`,
    );
  return Object.entries(WORKER_HEAP_FLAGS)
    .filter(([flag]) => !given(flag))
    .map(([flag, value]) => `--${flag}=${value}`);
}

/** Sets heapFlags() before the worker starts (V8 reads them at each collection, and when it
 * makes the workflow thread's heap). */
export function boundWorkerHeap(): void {
  for (const flag of heapFlags()) setFlagsFromString(flag);
}
