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

  it('an empty PATH entry is the current directory, a relative one is taken from it', async () => {
    mkdirSync(join(dir, 'bin'), { recursive: true });
    writeFileSync(join(dir, 'bin', 'relprog'), '#!/bin/sh\n');
    chmodSync(join(dir, 'bin', 'relprog'), 0o755);
    const saved = process.env.PATH;
    try {
      for (const [path, programs] of [
        [':/usr/bin', ['run.sh', 'relprog', 'nodir/../run.sh']],
        ['/usr/bin:', ['run.sh', 'relprog']],
        ['bin:/usr/bin', ['relprog', 'run.sh']],
        ['', ['run.sh', 'ls']],
      ] as const) {
        process.env.PATH = path;
        const shell = execFileSync(
          '/bin/sh',
          ['-c', 'for p in "$@"; do command -v "$p" >/dev/null 2>&1 || echo "$p"; done', 'sh', ...programs],
          { cwd: dir, env: { PATH: path } },
        )
          .toString()
          .split('\n')
          .filter(Boolean);
        assert.deepEqual(await missingLocally([...programs], dir), shell, `PATH=${path}`);
      }
    } finally {
      process.env.PATH = saved;
    }
  });

  it('a path that could not run is missing', async () => {
    assert.deepEqual(
      await missingLocally(['./plain.txt', join(dir, 'plain.txt'), './sub', './run.sh'], dir),
      ['./plain.txt', join(dir, 'plain.txt'), './sub'],
    );
  });
});
