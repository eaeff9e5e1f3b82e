// `rekey worker` bounds how far V8 lets its heaps grow between collections (worker/heap.ts):
// the flags take effect when set at run time, and a flag given to `node` is left as given.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { heapFlags, WORKER_HEAP_FLAGS } from '../../worker/heap';

/** Peak heap of a program that keeps 30 MiB alive and makes garbage, in a node of its own with a
 * 4 GiB heap limit (what V8's default growth depends on; NODE_OPTIONS left out). */
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
  const env = { ...process.env, NODE_OPTIONS: '' };
  const args = ['--max-old-space-size=4096', ...nodeArgs, '-e', program];
  return Number(execFileSync(process.execPath, args, { encoding: 'utf8', env }));
}

describe('the worker heap bound', () => {
  it("leaves the growth to V8 below a 2 GiB heap limit, where V8's own is lower", () => {
    assert.deepEqual(heapFlags([], 1024 ** 3), [
      `--max-semi-space-size=${WORKER_HEAP_FLAGS['max-semi-space-size']}`,
    ]);
    assert.deepEqual(heapFlags([], 2 * 1024 ** 3).length, 2);
  });

  const bound = `require(${JSON.stringify(require.resolve('../../worker/heap'))}).boundWorkerHeap();`;

  it('keeps the heap nearer what is alive than V8 does by default', () => {
    const unbounded = peakHeapMiB('');
    const bounded = peakHeapMiB(bound);
    assert.ok(bounded < unbounded * 0.75, `bounded ${bounded} MiB, by default ${unbounded} MiB`);
  });

  it('leaves a flag given to node as given', () => {
    const large = 4 * 1024 ** 3;
    assert.deepEqual(heapFlags(['--heap-growing-percent=300', '--max_semi_space_size=16'], large), []);
    assert.deepEqual(heapFlags(['--max-semi-space-size=8'], large), [
      `--heap-growing-percent=${WORKER_HEAP_FLAGS['heap-growing-percent']}`,
    ]);
    // NODE_OPTIONS may carry the semispace flag (not the growth one).
    const fromNodeOptions = execFileSync(
      process.execPath,
      [
        '--max-old-space-size=4096',
        '-p',
        `require(${JSON.stringify(require.resolve('../../worker/heap'))}).heapFlags().join(' ')`,
      ],
      { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '--max-semi-space-size=16' } },
    ).trim();
    assert.equal(fromNodeOptions, `--heap-growing-percent=${WORKER_HEAP_FLAGS['heap-growing-percent']}`);
    const given = peakHeapMiB(bound, ['--heap-growing-percent=300']);
    const bounded = peakHeapMiB(bound);
    assert.ok(bounded < given * 0.75, `bounded ${bounded} MiB, given 300% ${given} MiB`);
  });
});
