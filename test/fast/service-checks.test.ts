// Fast tier: the pure parts of the service checks: which program a configured command starts
// (checked with `command -v` before a run), and what a failed publish's output shows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateKeyPair } from '../../activities/keys';
import { publishHint, redactValues } from '../../services/markers';
import { programOf } from '../../services/service';

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
    // A key made now: its PEM, and its body alone (a log cut above the BEGIN line).
    const pem = generateKeyPair().privatePem;
    const body = pem.split('\n').slice(1, -2).join('\n');
    const out = redactValues(`using ${jwt}\n${pem}${body}\nok`);
    assert.ok(!out.includes(jwt) && !out.includes(body), 'the token and the key body are cut out');
    for (const line of body.split('\n').filter((l) => l.length >= 40))
      assert.ok(!out.includes(line), 'no line of the key body is left');
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
