// Replays recorded histories (test/histories/*.json) against today's workflow code: a change that
// would break runs in flight fails here until it is put behind patched().
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../worker/bundle';
import { assertNoSecrets } from '../assertions';

const dir = resolve(__dirname, '../../../test/histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('recorded histories replay', () => {
  it('has recorded histories to replay', () => {
    assert.ok(files.length > 0, `no histories in ${dir}`);
  });
  for (const file of files) {
    // `workflowId` beside the events: a secret rotation under its CLI id holds its lock by running.
    const { workflowId, ...json } = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    it(file, async () => {
      await Worker.runReplayHistory(
        { workflowBundle: workflowBundle() },
        historyFromJSON(json),
        workflowId ?? file,
      );
    });
    it(`${file} holds no key or token`, () => {
      // Payload data is base64 in proto JSON: decode every payload before looking.
      const text = JSON.stringify(json, (_k, v) =>
        v && typeof v === 'object' && typeof v.data === 'string' && 'metadata' in v
          ? Buffer.from(v.data, 'base64').toString('utf8')
          : v,
      );
      assert.match(text, /"payloads":\["\{/, 'payloads were decoded');
      assertNoSecrets(text, []);
    });
  }
});
