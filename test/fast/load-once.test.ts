// stores/load-once.ts: an SDK, a client or a token loaded once per store and shared; a failed
// load is tried again at the next call, not kept for the worker's life.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadOnce } from '../../stores/load-once';

describe('loadOnce', () => {
  it('loads at the first call and shares the result with the calls after it', async () => {
    let loads = 0;
    const value = loadOnce(async () => ++loads);
    assert.deepEqual(await Promise.all([value(), value()]), [1, 1]);
    assert.equal(await value(), 1);
    assert.equal(loads, 1);
  });

  it('tries again after a failed load, and keeps the load that worked', async () => {
    let loads = 0;
    const value = loadOnce(async () => {
      loads++;
      if (loads === 1) throw new Error('not yet');
      return loads;
    });
    await assert.rejects(value(), /not yet/);
    assert.equal(await value(), 2);
    assert.equal(await value(), 2);
    assert.equal(loads, 2);
  });
});
