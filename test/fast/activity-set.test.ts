// The worker's activity set: factories merged into one object, and two factories exporting one
// name refused by the compiler (the @ts-expect-error below fails the build if it is not).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { activitySet } from '../../worker/activity-set';

describe('activity set', () => {
  it('merges factories, and a name two of them export does not compile', () => {
    const a = { planRotation: async () => 'a' };
    const b = { stageKeyPair: async () => 'b' };
    const set = activitySet(a, b);
    assert.deepEqual(Object.keys(set).sort(), ['planRotation', 'stageKeyPair']);
    // @ts-expect-error: planRotation is in both
    const clash = activitySet(a, b, { planRotation: async () => 'c' });
    assert.ok(clash);
  });
});
