// Fast tier: the pure parts of the service checks: which program a configured command starts
// (checked with `command -v` before a run), and what a failed publish's output shows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { programOf, publishHint, redactValues } from '../../activities/service';

describe('service checks', () => {
  it('names the program a command line starts, or leaves it to the shell', () => {
    assert.equal(programOf('just spacetimedb-publish'), 'just');
    assert.equal(programOf('  FOO=1 BAR=two spacetime publish --yes'), 'spacetime');
    assert.equal(programOf('FOO="a b" spacetime publish'), 'spacetime');
    assert.equal(programOf("FOO='a b' ./publish.sh"), './publish.sh');
    assert.equal(programOf('/usr/local/bin/deploy && echo done'), '/usr/local/bin/deploy');
    assert.equal(programOf('cd app; make publish'), 'cd');
    // The shell must expand these first: not checked.
    assert.equal(programOf('"/opt/my tools/publish.sh"'), undefined);
    assert.equal(programOf("'/usr/bin/env' x"), undefined);
    assert.equal(programOf('~/bin/publish'), undefined);
    assert.equal(programOf('$HOME/bin/publish'), undefined);
    assert.equal(programOf('A=1 B=$(cat t) cmd'), undefined);
  });

  it('cuts tokens and keys out of command output, with or without their PEM lines', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJwdWJsaXNoZXIifQ.c2lnbmF0dXJlLWJ5dGVzLWFyZS1oZXJl';
    const body = 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgabcdefghijklmnopqrstuvwxyz0123';
    const out = redactValues(
      `using ${jwt}\n-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n${body}\nok`,
    );
    assert.ok(!out.includes(jwt) && !out.includes(body), out);
    assert.match(out, /using \[token\]/);
    // A 64-hex identity and a path stay readable.
    const id = 'c200ab12'.repeat(8);
    assert.equal(
      redactValues(
        `identity ${id} at /home/deploy/spacetimedb-app/data/abcdefghijklmnopqrstuvwxyz0123456789`,
      ),
      `identity ${id} at /home/deploy/spacetimedb-app/data/abcdefghijklmnopqrstuvwxyz0123456789`,
    );
  });

  it('names the failure: a 403 (not the owner) before a 401 (key and signature disagree)', () => {
    assert.match(publishHint('PUBLISH_FAILED publish_unauthorized'), /^ \(403: /);
    assert.match(publishHint('Error: 403 Forbidden: not authorized to perform action'), /^ \(403: /);
    assert.match(publishHint('PUBLISH_FAILED status=401 InvalidSignature'), /^ \(401: .*rekey verify/);
    assert.equal(publishHint('PUBLISH_FAILED timeout'), '');
  });
});
