// Which programs a local host lacks (hosts/local-programs.ts), told without a shell: the same
// answer as `/bin/sh -c 'command -v P'` in the same directory, for built-ins, programs on PATH,
// relative and absolute paths and names that are nowhere; a path that is there but could not run
// (a file that is not executable, a directory) counts as missing, which dash's command -v (any
// file that exists) does not say.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { missingLocally } from '../../hosts/local-programs';

describe('programs a local host lacks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-programs-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\ntrue\n');
  chmodSync(join(dir, 'run.sh'), 0o755);
  writeFileSync(join(dir, 'plain.txt'), 'not a program\n');
  mkdirSync(join(dir, 'sub'));

  it('answers as command -v in the shell does', async () => {
    const programs = [
      'true',
      'cd',
      'exit',
      '[',
      ':',
      'sh',
      'ls',
      'rsync',
      'no-such-program-rekey',
      './run.sh',
      './absent.sh',
      join(dir, 'run.sh'),
      '/bin/sh',
      'sub/../run.sh',
    ];
    const shell = execFileSync(
      '/bin/sh',
      ['-c', 'for p in "$@"; do command -v "$p" >/dev/null 2>&1 || echo "$p"; done', 'sh', ...programs],
      { cwd: dir },
    )
      .toString()
      .split('\n')
      .filter(Boolean);
    assert.ok(shell.includes('no-such-program-rekey'), 'the case has a missing program');
    assert.deepEqual(await missingLocally(programs, dir), shell);
  });

  it('a path that could not run is missing', async () => {
    assert.deepEqual(
      await missingLocally(['./plain.txt', join(dir, 'plain.txt'), './sub', './run.sh'], dir),
      ['./plain.txt', join(dir, 'plain.txt'), './sub'],
    );
  });
});
