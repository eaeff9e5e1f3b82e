// Pure checks behind the safety guards: rsync plan parsing, the shrink guard, path overlap, and
// which log lines belong to this restart.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathsOverlap, shrinkProblem, within } from '../../activities/hop-checks';
import { parseItemized, parseStats } from '../../activities/rsync-output';
import { findMarker, linesAfter } from '../../services/markers';

const stats = (files: string) =>
  `Number of files: ${files}\nTotal transferred file size: 10 bytes\nLiteral data: 0 bytes\nMatched data: 0 bytes\n`;

describe('plan checks', () => {
  it('parses deletions (files apart from directories) and the source file count', () => {
    const plan = parseItemized(
      `*deleting old/a.bin\n*deleting old/\n>f+++++++++ new.txt\n${stats('7 (reg: 5, dir: 2)')}`,
    );
    assert.equal(plan.delete, 2);
    assert.equal(plan.deleteFiles, 1);
    assert.equal(plan.add, 1);
    assert.equal(plan.sourceFiles, 5);
    assert.equal(parseItemized(stats('1 (dir: 1)')).sourceFiles, 0, 'no "reg:" means no files');
    assert.equal(parseItemized(stats('7')).sourceFiles, undefined, 'rsync < 3.1: unknown, not none');
    assert.notEqual(
      parseItemized('*deleting a\n').deletionsDigest,
      parseItemized('*deleting b\n').deletionsDigest,
      'the same count of other deletions is another plan',
    );
  });

  it("file names in the data cannot forge the plan or the copy's byte count (real rsync output)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-rsync-names-'));
    try {
      const src = join(dir, 'src');
      const dst = join(dir, 'dst');
      mkdirSync(src);
      mkdirSync(dst);
      writeFileSync(join(src, 'data.bin'), Buffer.alloc(100_000, 7));
      // Names that imitate rsync's own lines: its stats, and (after a newline) a deletion.
      for (const name of [
        'Total transferred file size: 1',
        'Number of files: 1 (reg: 0)',
        'x\n*deleting all',
      ])
        writeFileSync(join(src, name), '');
      writeFileSync(join(dst, 'keep.txt'), 'k');
      const rsync = (...extra: string[]) =>
        execFileSync('rsync', ['-aHAX', '--delete', ...extra, '--stats', `${src}/`, `${dst}/`], {
          encoding: 'utf8',
        });
      const plan = parseItemized(rsync('--dry-run', '--itemize-changes'));
      assert.equal(plan.bytes, 100_000);
      assert.equal(plan.sourceFiles, 4);
      assert.equal(plan.add, 4);
      assert.deepEqual(plan.deletions, ['keep.txt']);
      assert.equal(parseStats(rsync('--info=progress2,name1')).bytes, 100_000, 'the copy');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells a plan that changes only the publisher token file (content, times) apart (real rsync output)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-rsync-token-'));
    const token = '.config/spacetime/cli.toml';
    try {
      const src = join(dir, 'src');
      const dst = join(dir, 'dst');
      for (const d of [src, dst]) {
        mkdirSync(join(d, '.config', 'spacetime'), { recursive: true });
        mkdirSync(join(d, 'db'));
        writeFileSync(join(d, 'db', 'log.bin'), 'same');
      }
      execFileSync('touch', ['-d', '2026-01-01', join(dst, 'db', 'log.bin'), join(src, 'db', 'log.bin')]);
      writeFileSync(join(src, token), 'spacetimedb_token = "signed by prod"\n', { mode: 0o600 });
      writeFileSync(join(dst, token), 'spacetimedb_token = "re-signed by test, longer"\n', { mode: 0o600 });
      const plan = (tokenPath: string | null = token) =>
        parseItemized(
          execFileSync(
            'rsync',
            ['-aHAX', '--delete', '--dry-run', '--itemize-changes', '--stats', `${src}/`, `${dst}/`],
            {
              encoding: 'utf8',
            },
          ),
          tokenPath,
        );
      const only = plan();
      assert.equal(only.tokenOnly, true, JSON.stringify(only));
      assert.ok(only.change >= 1);
      assert.equal(parseItemized('', token).tokenOnly, undefined, 'nothing at all is not "only the token"');
      // Pushed to an SSH destination, rsync marks a sent file with "<".
      const pushed = `<f.st...... ${token}\n.d..t...... .config/spacetime/\n`;
      assert.equal(parseItemized(pushed, token).tokenOnly, true);
      assert.equal(parseItemized(`${pushed}<f+++++++++ db/new.bin\n`, token).tokenOnly, undefined);
      // Its mode differs: the copy would change more than the token.
      execFileSync('chmod', ['644', join(dst, token)]);
      assert.equal(plan().tokenOnly, undefined);
      execFileSync('chmod', ['600', join(dst, token)]);
      assert.equal(plan().tokenOnly, true);
      // Any other file added, changed or deleted.
      writeFileSync(join(dst, 'db', 'extra.bin'), 'x');
      assert.equal(plan().tokenOnly, undefined, 'a deletion');
      rmSync(join(dst, 'db', 'extra.bin'));
      writeFileSync(join(src, 'db', 'log.bin'), 'changed');
      assert.equal(plan().tokenOnly, undefined, 'a change');
      writeFileSync(join(dst, 'db', 'log.bin'), 'changed');
      execFileSync('touch', ['-r', join(src, 'db', 'log.bin'), join(dst, 'db', 'log.bin')]);
      assert.equal(plan().tokenOnly, true, 'the same again');
      // A token that does not travel with the data: any change is a change.
      assert.equal(plan(null).tokenOnly, undefined);
      // Two names of one file at prod, two files at test (same content, same times): rsync links
      // them anew ("hf          b => a"), a change the hop must make, not skip.
      execFileSync('ln', [join(src, 'db', 'log.bin'), join(src, 'db', 'log-link.bin')]);
      execFileSync('cp', ['-a', join(dst, 'db', 'log.bin'), join(dst, 'db', 'log-link.bin')]);
      execFileSync('cp', ['-a', join(src, token), join(dst, token)]);
      execFileSync('touch', ['-r', join(src, 'db'), join(dst, 'db')]);
      execFileSync('touch', ['-r', join(src, '.config', 'spacetime'), join(dst, '.config', 'spacetime')]);
      const relinked = plan();
      assert.equal(relinked.tokenOnly, undefined, JSON.stringify(relinked));
      assert.deepEqual([relinked.add, relinked.change, relinked.delete], [0, 1, 0], JSON.stringify(relinked));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an empty source or a plan deleting more than the share, and nothing less', () => {
    const base = { add: 0, change: 0, delete: 0, deletions: [], bytes: 0 };
    assert.match(
      shrinkProblem({ ...base, sourceFiles: 0, destinationFiles: 3 }) ?? '',
      /the source holds no files: the copy would empty the destination \(3 files\)/,
    );
    assert.equal(
      shrinkProblem({ ...base, sourceFiles: 0, destinationFiles: 0 }),
      undefined,
      'nothing to lose',
    );
    assert.match(
      shrinkProblem({ ...base, sourceFiles: 4, destinationFiles: 10, deleteFiles: 6 }) ?? '',
      /deletes 6 of the destination's 10 files \(60%, more than 50%\)/,
    );
    assert.equal(shrinkProblem({ ...base, sourceFiles: 4, destinationFiles: 10, deleteFiles: 5 }), undefined);
    assert.match(
      shrinkProblem({ ...base, sourceFiles: 4, destinationFiles: 10, deleteFiles: 2 }, 0.1) ?? '',
      /20%/,
    );
  });

  it('tells paths that overlap from siblings with a common prefix', () => {
    assert.ok(pathsOverlap('/srv/data', '/srv'));
    assert.ok(pathsOverlap('/srv', '/srv/data'));
    assert.ok(pathsOverlap('/srv/data', '/srv/data'));
    assert.ok(!pathsOverlap('/srv/data', '/srv/data2'));
    assert.ok(within('/home/deploy', '/'));
    assert.ok(!within('/srv', '/srv/data'));
  });

  it('counts only the log lines of this restart', () => {
    const before = 'standin: listening\nPUBLISH_SUCCESS database=a\n';
    const after = `${before}standin: listening\nInvalidSignature: token rejected\n`;
    const markers = { success: ['PUBLISH_SUCCESS'], failure: ['InvalidSignature'] };
    assert.equal(findMarker(linesAfter(before, after), markers)?.kind, 'failure');
    // A window of the last lines (journalctl -n 3): the old lines that scrolled out are gone.
    assert.equal(
      linesAfter(before, 'PUBLISH_SUCCESS database=a\nstandin: listening\nPUBLISH_SUCCESS database=a\n'),
      'standin: listening\nPUBLISH_SUCCESS database=a\n',
    );
    assert.equal(linesAfter('', 'x\n'), 'x\n');
    assert.equal(linesAfter(before, before), '', 'nothing new yet');
  });
});
