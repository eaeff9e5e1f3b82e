// What the workflow bundle costs each worker: V8 keeps a script's source for as long as its code
// runs, in two bytes a character when one character is past Latin-1, and the SDK keeps the
// inline source map and parses it. The bundle's code is ASCII and its map carries no sources.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runInNewContext, Script } from 'node:vm';
import { asciiOnly } from '../../worker/bundle';

const bundle = readFileSync(join(__dirname, '..', '..', 'workflow-bundle.js'), 'utf8');
const mapAt = bundle.lastIndexOf('//# sourceMappingURL=data:');

describe('the workflow bundle', () => {
  it('is ASCII, so V8 holds its source in one byte a character', () => {
    assert.ok(mapAt > 0, 'the bundle has its inline source map');
    const first = /[\u0080-\uffff]/.exec(bundle.slice(0, mapAt));
    assert.equal(
      first,
      null,
      `a non-ASCII character at ${first?.index}: ${bundle.slice(first?.index ?? 0, (first?.index ?? 0) + 40)}`,
    );
  });

  it('compiles as a script', () => {
    assert.doesNotThrow(() => new Script(bundle, { filename: 'workflow-bundle.js' }));
  });

  it('has a source map that maps positions without carrying the sources', () => {
    const base64 = bundle.slice(bundle.indexOf('base64,', mapAt) + 'base64,'.length).trimEnd();
    const map = JSON.parse(Buffer.from(base64, 'base64').toString());
    assert.ok(map.mappings.length > 0);
    assert.ok(
      map.sources.some(
        (s: string) => s.endsWith(join('workflows', 'rotate.ts')) || s.includes('workflows/rotate'),
      ),
    );
    assert.equal(map.sourcesContent, undefined);
  });
});

describe('asciiOnly', () => {
  it('writes the same program: strings, templates, regexes, comments, characters past the BMP', () => {
    const source = [
      "const a = 'Неверный ввод: ожидалось ' + 'é—²';",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a template literal of the program under test
      'const b = `שגיאה ${a.length} 😀`; // comment with ü',
      'const r = /^[à-ÿ]+$/.test("éü") && /😀/u.test("x😀") && /[😀]/u.test("😀");',
      'const café = 1;',
      '/* ß */ JSON.stringify({ a, b, r, café, len: "😀".length, cp: "😀".codePointAt(0) })',
    ].join('\n');
    const escaped = asciiOnly(source);
    assert.doesNotMatch(escaped, /[\u0080-\uffff]/);
    assert.equal(runInNewContext(escaped), runInNewContext(source));
  });

  it('refuses a backslash before a non-ASCII character (an escape would change its meaning)', () => {
    assert.throws(() => asciiOnly("const s = '\\é';"), /backslash before a non-ASCII character at 11/);
    assert.throws(() => asciiOnly("const s = '\\\\\\é';"), /backslash before a non-ASCII character at 11/);
    // An escaped backslash, then the character: the same string.
    const source = "'\\\\é'";
    assert.equal(runInNewContext(asciiOnly(source)), runInNewContext(source));
  });

  it('refuses a non-ASCII space or line terminator (syntax outside a literal)', () => {
    assert.throws(() => asciiOnly('// a comment\u2028ends here'), /\(U\+2028\) at 12/);
    assert.throws(() => asciiOnly('const\u00a0a = 1;'), /\(U\+A0\) at 5/);
  });
});
