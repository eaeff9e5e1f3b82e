// The README and docs/ link to each other and to files of the repository: every relative link
// points to a file that exists, and every anchor to a heading of its target.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';

const repo = join(__dirname, '..', '..', '..');
const documents = [
  'README.md',
  'test/README.md',
  'bench/README.md',
  ...readdirSync(join(repo, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as "-". */
const anchor = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#+ (.*)$/gm)].map((m) => anchor(m[1] as string)));
}

describe('document links', () => {
  it('every relative link of the README and docs/ points to a file and heading that exist', () => {
    let links = 0;
    for (const doc of documents) {
      const text = readFileSync(join(repo, doc), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1] as string;
        if (/^[a-z]+:/.test(target)) continue;
        links++;
        const [path = '', hash] = target.split('#');
        const file = path === '' ? join(repo, doc) : join(repo, dirname(doc), path);
        assert.ok(existsSync(file), `${doc}: ${target} (${relative(repo, file)} does not exist)`);
        if (hash !== undefined && file.endsWith('.md'))
          assert.ok(anchorsOf(file).has(hash), `${doc}: ${target} (no heading #${hash})`);
      }
    }
    assert.ok(links >= 20, `${links} links checked`);
  });
});
