// The rekey image is built from the folders the Dockerfile copies (and .dockerignore lets in): a
// new folder of product code missing from either fails the image build only on a real Docker
// engine, late. Every top-level folder of TypeScript but the tests, the benchmarks and the
// quickstart's assets must be in both.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';

const repo = resolve(__dirname, '../../..');
const NOT_IN_IMAGE = new Set(['test', 'bench', 'quickstart', 'node_modules', 'dist']);

const productFolders = readdirSync(repo, { withFileTypes: true })
  .filter((d) => d.isDirectory() && !d.name.startsWith('.') && !NOT_IN_IMAGE.has(d.name))
  .filter((d) => readdirSync(join(repo, d.name), { recursive: true }).some((f) => String(f).endsWith('.ts')))
  .map((d) => d.name)
  .sort();

describe('the image build', () => {
  it('finds the product folders', () => {
    assert.ok(
      productFolders.includes('workflows') && productFolders.includes('stores'),
      productFolders.join(),
    );
  });

  it('copies every product folder, and .dockerignore lets each in', () => {
    const dockerfile = readFileSync(join(repo, 'Dockerfile'), 'utf8');
    const ignore = readFileSync(join(repo, '.dockerignore'), 'utf8').split('\n');
    for (const folder of productFolders) {
      assert.match(
        dockerfile,
        new RegExp(`^COPY ${folder} \\./${folder}$`, 'm'),
        `Dockerfile: COPY ${folder}`,
      );
      assert.ok(ignore.includes(`!${folder}/`), `.dockerignore: !${folder}/`);
    }
  });
});
