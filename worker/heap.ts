// How a worker process's V8 heaps grow. With a heap limit of 2 GiB or more (Node's default on a
// machine with 8 GiB of memory or more) V8 lets a heap grow to four times what survived its last
// full collection before collecting again: under 1,000 key sets in flight the worker's main heap
// held about 75 MiB alive and grew to 290 MiB (bench:fleet). Growing by half (1.5 times) kept its
// peak RSS to 450 MiB from 540-680 at the same CPU per key set. Below that limit V8's own factor
// is already 1.3-2, so it is left alone. The workflow thread (created after this runs) also gets
// smaller young-generation semispaces.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';

/** The heap limit from which V8 allows a heap to grow four times between full collections. */
const LARGE_HEAP = 2 * 1024 ** 3;

/** V8 flags `rekey worker` sets, each unless `node` was given it (command line, NODE_OPTIONS). */
export const WORKER_HEAP_FLAGS: Record<string, number> = {
  'heap-growing-percent': 50,
  'max-semi-space-size': 4,
};

/** The WORKER_HEAP_FLAGS to set, as V8 flags: those not `given` to node, and the growth only
 * where V8's own would be four times. */
export function heapFlags(
  given: readonly string[] = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)],
  heapLimit: number = getHeapStatistics().heap_size_limit,
): string[] {
  const isGiven = (flag: string) =>
    given.some(
      (a) =>
        a
          .replace(/_/g, '-')
          .replace(/^--no-/, '--')
          .split('=')[0] === `--${flag}`,
    );
  return Object.entries(WORKER_HEAP_FLAGS)
    .filter(([flag]) => !isGiven(flag) && (flag !== 'heap-growing-percent' || heapLimit >= LARGE_HEAP))
    .map(([flag, value]) => `--${flag}=${value}`);
}

/** Sets heapFlags() before the worker starts (V8 reads them at each collection, and when it
 * makes the workflow thread's heap). */
export function boundWorkerHeap(): void {
  for (const flag of heapFlags()) setFlagsFromString(flag);
}
