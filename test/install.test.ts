// What an install gives: `npm install --omit=dev` (no @temporalio/testing, no TypeScript) still
// runs the worker and the config commands, `npm install` builds dist/ through `prepare`, and an
// unbuilt checkout says so instead of a stack trace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { describe, it } from 'node:test';

const repo = resolve(__dirname, '../..');
const example = join(repo, 'rekey.example.yaml');

/** A preload that makes the dev dependency @temporalio/testing unresolvable, as after --omit=dev. */
function withoutDevDependencies(): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-install-'));
  const preload = join(dir, 'omit-dev.js');
  writeFileSync(
    preload,
    `const Module = require('node:module');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === '@temporalio/testing' || request.startsWith('@temporalio/testing/')) {
    const err = new Error("Cannot find module '" + request + "'");
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  }
  return resolveFilename.call(this, request, ...rest);
};
`,
  );
  return { ...process.env, NODE_OPTIONS: `--require ${preload}` };
}

function rekey(env: NodeJS.ProcessEnv, ...args: string[]) {
  return spawnSync(process.execPath, [join(repo, 'bin/rekey'), ...args], {
    cwd: repo,
    env,
    encoding: 'utf8',
  });
}

describe('install', () => {
  it('without the dev dependencies, the worker and config commands load', () => {
    const env = withoutDevDependencies();
    const probe = spawnSync(process.execPath, ['-e', "require('@temporalio/testing')"], {
      env,
      encoding: 'utf8',
    });
    assert.notEqual(probe.status, 0, 'the preload hides @temporalio/testing');
    assert.match(probe.stderr, /Cannot find module '@temporalio\/testing'/);

    const help = rekey(env, 'worker', '--help');
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^rekey worker \[--config F\] \[--metrics IP:PORT\]\n\nRuns a rekey worker/);
    const overview = rekey(env, '--help');
    assert.match(overview.stdout, /^ {2}worker {2,}run a rekey worker/m);

    const check = rekey(env, 'config', 'check', '--config', example);
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /rekey\.example\.yaml: ok/);

    const quickstartHelp = rekey(env, 'quickstart', '--help');
    assert.equal(quickstartHelp.status, 0, quickstartHelp.stderr);
    assert.match(quickstartHelp.stdout, /quickstart \[--dir D\] \[--keep\]/);

    // Running the quickstart itself needs the dev dependencies, and says so.
    const quickstart = rekey(env, 'quickstart', '--dir', join(tmpdir(), 'rekey-never'));
    assert.equal(quickstart.status, 1);
    assert.match(quickstart.stderr, /^rekey: quickstart needs the dev dependencies .*npm install/);
  });

  it('an unbuilt checkout says to build instead of a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-unbuilt-'));
    mkdirSync(join(dir, 'bin'));
    copyFileSync(join(repo, 'bin/rekey'), join(dir, 'bin/rekey'));
    const res = spawnSync(process.execPath, [join(dir, 'bin/rekey'), 'config', 'check'], {
      cwd: dir,
      encoding: 'utf8',
    });
    assert.equal(res.status, 1);
    assert.equal(res.stderr, 'rekey is not built: run `npm run build`\n');
    assert.equal(res.stdout, '');
  });

  describe('the prepare script (npm install builds dist/ when TypeScript is there)', () => {
    const prepare: string | undefined = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).scripts
      ?.prepare;

    function runPrepare(dir: string) {
      assert.ok(prepare, 'package.json has a prepare script');
      // As npm runs it: sh -c in the package root, with node_modules/.bin on PATH.
      return spawnSync('sh', ['-c', prepare], {
        cwd: dir,
        encoding: 'utf8',
        env: {
          ...process.env,
          NODE_PATH: '',
          NODE_OPTIONS: '',
          PATH: `${join(dir, 'node_modules/.bin')}${delimiter}${process.env.PATH}`,
        },
      });
    }

    function project(source: string, withTypeScript: boolean): string {
      const dir = mkdtempSync(join(tmpdir(), 'rekey-prepare-'));
      if (withTypeScript) symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { strict: true, outDir: 'dist', types: [] }, files: ['main.ts'] }),
      );
      writeFileSync(join(dir, 'main.ts'), source);
      // prepare runs the package's own build script.
      writeFileSync(
        join(dir, 'package.json'),
        JSON.stringify({
          name: 'rekey-prepare-test',
          private: true,
          scripts: { build: 'tsc -p tsconfig.json' },
        }),
      );
      return dir;
    }

    it('does nothing, successfully, when TypeScript is not installed (--omit=dev)', () => {
      const dir = project('export const n: number = "not a number";\n', false);
      const res = runPrepare(dir);
      assert.equal(res.status, 0, res.stderr);
      assert.match(res.stderr, /TypeScript is not installed/);
      assert.equal(existsSync(join(dir, 'dist')), false);
    });

    it('builds when TypeScript is installed', () => {
      const dir = project('export const n: number = 1;\n', true);
      const res = runPrepare(dir);
      assert.equal(res.status, 0, res.stdout + res.stderr);
      assert.ok(existsSync(join(dir, 'dist/main.js')));
    });

    it('fails loudly on a compile error when TypeScript is installed', () => {
      const dir = project('export const n: number = "not a number";\n', true);
      const res = runPrepare(dir);
      assert.notEqual(res.status, 0);
      assert.match(res.stdout, /error TS2322/);
    });
  });
});
