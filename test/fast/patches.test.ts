// The patch ledger (workflows/patches.ts) against the code and the recorded histories: every
// patched() id in workflows/ is listed with the files that call it, and each entry's recordedIn is
// exactly the histories that hold its marker.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PATCHES } from '../../workflows/patches';

const root = join(__dirname, '..', '..', '..');

/** Patch id -> the workflow files that call patched() or deprecatePatch() with it. */
function patchCalls(): Map<string, string[]> {
  const calls = new Map<string, string[]>();
  const dir = join(root, 'workflows');
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && f !== 'patches.ts')
    .sort())
    for (const m of readFileSync(join(dir, file), 'utf8').matchAll(
      /(?:patched|deprecatePatch)\('([^']+)'\)/g,
    )) {
      const files = calls.get(m[1] as string) ?? [];
      if (!files.includes(file)) files.push(file);
      calls.set(m[1] as string, files);
    }
  return calls;
}

/** Patch id -> the recorded histories holding its marker. */
function markers(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const dir = join(root, 'test', 'histories');
  for (const file of readdirSync(dir).sort()) {
    const history = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      events: {
        markerRecordedEventAttributes?: {
          markerName: string;
          details: Record<string, { payloads: { data: string }[] }>;
        };
      }[];
    };
    for (const e of history.events) {
      const m = e.markerRecordedEventAttributes;
      if (m?.markerName !== 'core_patch') continue;
      for (const p of m.details['patch-data']?.payloads ?? []) {
        const { id } = JSON.parse(Buffer.from(p.data, 'base64').toString()) as { id: string };
        const names = found.get(id) ?? [];
        names.push(file.replace(/\.json$/, ''));
        found.set(id, names);
      }
    }
  }
  return found;
}

describe('patch ledger', () => {
  it('lists every patch id the workflows call, with the files that call it', () => {
    const calls = patchCalls();
    assert.ok(calls.size > 0);
    assert.deepEqual(Object.keys(PATCHES).sort(), [...calls.keys()].sort());
    for (const [id, files] of calls) assert.deepEqual([...(PATCHES[id]?.in ?? [])].sort(), files.sort(), id);
  });

  it("names exactly the recorded histories that hold each patch's marker", () => {
    const found = markers();
    for (const [id, patch] of Object.entries(PATCHES))
      assert.deepEqual([...patch.recordedIn].sort(), (found.get(id) ?? []).sort(), id);
    for (const id of found.keys())
      assert.ok(id in PATCHES, `a history holds marker ${id}, which the ledger lacks`);
  });
});
