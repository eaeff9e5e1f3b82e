// The README's first command: a rotation of the `local` environment on an embedded dev server.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { assertNoSecrets } from './assertions';
import { testEnv } from './infra/env';

describe('rekey quickstart', () => {
  it('rotates the local environment and keeps the publisher identity', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-quickstart-'));
    const res = spawnSync(
      process.execPath,
      [resolve(__dirname, '../../bin/rekey'), 'quickstart', '--dir', dir],
      {
        encoding: 'utf8',
        env: { ...process.env, TEMPORAL_CLI_PATH: testEnv().temporal.cliPath },
        timeout: 180_000,
      },
    );
    assert.equal(res.status, 0, res.stderr);
    const out = res.stdout;
    const before = /fingerprint before ([0-9a-f]{64})/.exec(out)?.[1];
    const after = /fingerprint after {2}([0-9a-f]{64})/.exec(out)?.[1];
    assert.ok(before && after, out);
    assert.notEqual(before, after);
    assert.match(out, /identity preserved: iss=localhost sub=quickstart-publisher/);
    assert.match(
      out,
      /watch it in the Temporal Web UI: http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/rotate-jwt%2Flocal/,
    );
    assert.match(out, /rotate local +done/);
    assertNoSecrets(out + res.stderr, []);
  });
});
