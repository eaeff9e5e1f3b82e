// The snapshot and restore activities of a promotion hop on the paths a workflow test mocks away:
// a hop with nothing but the token to copy saves the token file alone and puts it back, and a
// retry of that put-back (its first answer lost) still reads as restored; a reset run that finds
// its earlier attempt's full snapshot keeps that one as what a failure restores. Real activities
// on a local host; MockActivityEnvironment for the context.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createPromoteHopActivities } from '../../activities/promote-hop';
import { parseConfig } from '../../config/load';

describe('a hop’s snapshot and restore on a local host', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-hop-snap-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const app = join(dir, 'test');
  const data = join(app, 'data');
  const config = parseConfig(
    {
      stores: { files: { type: 'file', dir: join(dir, 'store') } },
      hosts: {
        prod: { type: 'local', appDir: join(dir, 'prod'), dataDir: join(dir, 'prod', 'data') },
        test: { type: 'local', appDir: app, dataDir: data },
      },
      services: { none: { driver: 'command', start: 'true', stop: 'true', restart: 'true', logs: 'true' } },
      environments: {
        prod: { store: 'files', host: 'prod', service: 'none' },
        test: { store: 'files', host: 'test', service: 'none' },
      },
      keyGroups: { prod: ['prod'], test: ['test'] },
    },
    join(dir, 'rekey.yaml'),
  );
  const acts = createPromoteHopActivities({ config });
  const run = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A) =>
    new MockActivityEnvironment().run(fn, ...args);
  // The activities check no approval themselves (the worker's guard does): none is given here.
  const hop = (runId: string, tokenOnly?: boolean) =>
    ({ to: 'test', runId, ...(tokenOnly === undefined ? {} : { tokenOnly }) }) as never;
  const toml = join(data, '.config', 'spacetime', 'cli.toml');
  const seed = () => {
    rmSync(data, { recursive: true, force: true });
    mkdirSync(join(data, '.config', 'spacetime'), { recursive: true });
    writeFileSync(join(data, 'segment-0'), 'test data');
    writeFileSync(toml, 'spacetimedb_token = "test-own"\n', { mode: 0o600 });
  };

  it('token only: the token file alone is saved and goes back; a retry of the put-back reads as restored', async () => {
    seed();
    const snap = (await run(acts.snapshot, hop('run-t', true))) as { kind: string };
    assert.equal(snap.kind, 'token');
    assert.equal(existsSync(`${data}.rekey-snapshot-run-t`), false, 'no full snapshot');
    // The hop writes the source's token file and re-signs it; then the publish fails.
    writeFileSync(toml, 'spacetimedb_token = "from-prod"\n');
    assert.deepEqual(await run(acts.restoreSnapshot, hop('run-t', true)), { restored: true });
    assert.equal(readFileSync(toml, 'utf8'), 'spacetimedb_token = "test-own"\n');
    // Its answer lost, the activity runs again: the saved copy is gone, the mark says it went back.
    assert.deepEqual(await run(acts.restoreSnapshot, hop('run-t', true)), { restored: true });
    assert.equal(readFileSync(toml, 'utf8'), 'spacetimedb_token = "test-own"\n');
    assert.equal(readFileSync(join(data, 'segment-0'), 'utf8'), 'test data', 'the data untouched');
    // Once the hop is over, nothing of it stays beside the data dir.
    await run(acts.dropSnapshot, hop('run-t'));
    assert.equal(existsSync(`${data}.rekey-token-run-t`), false);
    assert.equal(existsSync(`${data}.rekey-token-restored-run-t`), false);
    // Another run that saved nothing has nothing to put back.
    assert.deepEqual(await run(acts.restoreSnapshot, hop('run-other', true)), { restored: false });
  });

  it('a token file that was not there is removed again', async () => {
    seed();
    rmSync(toml);
    assert.equal(((await run(acts.snapshot, hop('run-absent', true))) as { kind: string }).kind, 'token');
    writeFileSync(toml, 'spacetimedb_token = "from-prod"\n');
    assert.deepEqual(await run(acts.restoreSnapshot, hop('run-absent', true)), { restored: true });
    assert.equal(existsSync(toml), false);
    await run(acts.dropSnapshot, hop('run-absent'));
  });

  it('a reset run keeps its earlier attempt’s full snapshot as what a failure restores', async () => {
    seed();
    const first = (await run(acts.snapshot, hop('run-r'))) as { kind: string; snapshot: string };
    assert.equal(first.kind, 'data');
    // The earlier attempt copied prod's data in; the reset run's plan now sees only the token.
    writeFileSync(join(data, 'segment-0'), 'prod data');
    const again = (await run(acts.snapshot, hop('run-r', true))) as { kind: string; snapshot: string };
    assert.deepEqual(again, first);
    // Its failure restores test's own data, not just the token.
    assert.deepEqual(await run(acts.restoreSnapshot, hop('run-r')), { restored: true });
    assert.equal(readFileSync(join(data, 'segment-0'), 'utf8'), 'test data');
    await run(acts.dropSnapshot, hop('run-r'));
  });
});
