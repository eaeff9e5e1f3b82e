// The one list of rekey's workflow types (shared/workflow-types.ts) names exactly the workflows
// the worker registers (workflows/index.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { typesThat, WORKFLOW_TYPES } from '../../shared/workflow-types';
import * as workflows from '../../workflows';

describe('workflow types', () => {
  it('are the workflows the worker registers', () => {
    assert.deepEqual(Object.keys(WORKFLOW_TYPES).sort(), Object.keys(workflows).sort());
  });

  it('every type that opens a gate or takes a lock reports progress', () => {
    for (const t of [...typesThat('gates'), ...typesThat('locks')])
      assert.ok(typesThat('progress').has(t), t);
  });
});
