// The suites' port blocks (test/infra/ports.ts) do not overlap, and no suite picks a port of its
// own for a topology: two suites running side by side never bind one port.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PORTS } from '../infra/ports';

const testDir = join(__dirname, '..', '..', '..', 'test');

describe('suite ports', () => {
  it('no two blocks overlap', () => {
    const owner = new Map<number, string>();
    for (const [suite, block] of Object.entries(PORTS)) {
      const size = 'size' in block ? block.size : 1;
      for (let p = block.base; p < block.base + size; p++) {
        assert.equal(owner.get(p), undefined, `port ${p}: ${suite} and ${owner.get(p)}`);
        owner.set(p, suite);
      }
    }
  });

  it('every topology takes its port from the table', () => {
    const literal = /\b(?:buildTopology|keyringTopology)\(\s*'[^']*',\s*\d/;
    const offenders = readdirSync(testDir)
      .filter((f) => f.endsWith('.test.ts'))
      .filter((f) => literal.test(readFileSync(join(testDir, f), 'utf8')));
    assert.deepEqual(offenders, []);
  });
});
