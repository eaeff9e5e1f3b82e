// `rekey worker` bounds how far V8 lets its heaps grow between collections (worker/heap.ts):
// the flags take effect when set at run time, and a flag given to `node` is left as given.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { heapFlags, WORKER_HEAP_FLAGS } from '../../worker/heap';

/** Peak heap of a program that keeps 30 MiB alive and makes garbage, in a node of its own. */
function peakHeapMiB(setup: string, nodeArgs: string[] = []): number {
  const program = `${setup}
    const v8 = require('node:v8');
    const live = Array.from({ length: 300000 }, (_, i) => ({ a: 'x' + i, b: [i, i + 1] }));
    let peak = 0;
    for (let r = 0; r < 150; r++) {
      const garbage = Array.from({ length: 50000 }, (_, i) => ({ s: 'y' + i + r, arr: new Array(8).fill(i) }));
      live[r] = garbage[r];
      peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
    }
    process.stdout.write(String(Math.round(peak / 1048576)));`;
  return Number(execFileSync(process.execPath, [...nodeArgs, '-e', program], { encoding: 'utf8' }));
}

describe('the worker heap bound', () => {
  const bound = `require(${JSON.stringify(require.resolve('../../worker/heap'))}).boundWorkerHeap();`;

  it('keeps the heap nearer what is alive than V8 does by default', () => {
    const unbounded = peakHeapMiB('');
    const bounded = peakHeapMiB(bound);
    assert.ok(bounded < unbounded * 0.75, `bounded ${bounded} MiB, by default ${unbounded} MiB`);
  });

  it('leaves a flag given to node as given', () => {
    assert.deepEqual(heapFlags(['--heap-growing-percent=300', '--max_semi_space_size=16']), []);
    assert.deepEqual(heapFlags(['--max-semi-space-size=8']), [
      `--heap-growing-percent=${WORKER_HEAP_FLAGS['heap-growing-percent']}`,
    ]);
    const given = peakHeapMiB(bound, ['--heap-growing-percent=300']);
    const bounded = peakHeapMiB(bound);
    assert.ok(bounded < given * 0.75, `bounded ${bounded} MiB, given 300% ${given} MiB`);
  });
});
