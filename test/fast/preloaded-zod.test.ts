// The worker preloads zod into the V8 context its workflow runs share, and the SDK then freezes
// what zod exports (workflows/preloaded.ts). zod's format checks reset `lastIndex` on a shared
// regex, which throws once that regex is frozen: workflow code must not use those formats. This
// reads the sources of every module of the workflow bundle and refuses them.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';

const repo = join(__dirname, '..', '..', '..');
const FROZEN_FORMATS =
  /\bz\.(email|guid|uuid|ipv4|ipv6|cidrv4|cidrv6|base64|base64url|hostname|e164|cuid|cuid2|ulid|xid|ksuid|nanoid|emoji|hex)\(|\.(lowercase|uppercase)\(|\bz\.iso\.date\(/;

describe('zod preloaded into the workflow context', () => {
  it('a frozen shared format regex makes its check throw (why the rule below exists)', () => {
    Object.freeze(z.regexes.email);
    assert.throws(() => z.email().parse('a@example.com'), /read only property 'lastIndex'/);
  });

  it("no module of the workflow bundle uses one of zod's shared format regexes", () => {
    const bundle = readFileSync(join(repo, 'dist', 'workflow-bundle.js'), 'utf8');
    const modules = [...bundle.matchAll(/^\/\*\*\*\/ "\.\/dist\/(.+)\.js"/gm)].map((m) =>
      join(repo, `${m[1]}.ts`),
    );
    assert.ok(
      modules.some((m) => m.endsWith(join('workflows', 'inputs.ts'))),
      'the bundle was read',
    );
    // Code only: a comment may name them (preloaded.ts does).
    const code = (file: string) =>
      readFileSync(file, 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '');
    for (const file of modules.filter(existsSync)) assert.doesNotMatch(code(file), FROZEN_FORMATS, file);
  });
});
