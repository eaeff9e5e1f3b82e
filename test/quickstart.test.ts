// The README's first command: a rotation of the `local` environment on an embedded dev server.
// No exit path (done, --keep then SIGTERM, Ctrl-C half way) leaves a process behind, and the
// environment it writes works for any worker, outside the quickstart.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { assertNoSecrets } from './assertions';
import { testEnv } from './infra/env';
import { until } from './infra/until';

const rekeyBin = resolve(__dirname, '../../bin/rekey');
const env = () => ({ ...process.env, TEMPORAL_CLI_PATH: testEnv().temporal.cliPath });

/** The processes a quickstart in `dir` started: the stand-in (by its pid file) and its dev server. */
function processesOf(dir: string, children: number[]): number[] {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  let standin: number[] = [];
  try {
    standin = [Number(readFileSync(join(dir, 'app/.shim/spacetimedb.pid'), 'utf8'))];
  } catch {}
  const byDir = spawnSync('pgrep', ['-f', dir], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .map(Number);
  return [...new Set([...standin, ...children, ...byDir])].filter(alive);
}

const childrenOf = (pid: number) =>
  spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .map(Number);

function started(dir: string, ...args: string[]): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, [rekeyBin, 'quickstart', '--dir', dir, ...args], { env: env() });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  return { child, out: () => out };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((res) => {
    if (child.exitCode !== null) res(child.exitCode);
    else child.once('exit', (code) => res(code));
  });

describe('rekey quickstart', () => {
  it('rotates the local environment and keeps the publisher identity', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-quickstart-'));
    const res = spawnSync(process.execPath, [rekeyBin, 'quickstart', '--dir', dir], {
      encoding: 'utf8',
      env: env(),
      timeout: 180_000,
    });
    assert.equal(res.status, 0, res.stderr);
    const out = res.stdout;
    const before = /fingerprint before ([0-9a-f]{64})/.exec(out)?.[1];
    const after = /fingerprint after {2}([0-9a-f]{64})/.exec(out)?.[1];
    assert.ok(before && after, out);
    assert.notEqual(before, after);
    assert.match(out, /identity preserved: iss=localhost sub=quickstart-publisher/);
    assert.match(
      out,
      /watch it in the Temporal Web UI: http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/rotate-jwt%2Flocal/,
    );
    assert.match(out, /rotate local +done/);
    assert.match(out, /next:\n.*quickstart --keep/);
    assert.match(out, /temporal server start-dev/);
    assert.match(out, /rekey verify --config \S+rekey\.yaml/);
    assert.match(
      out,
      /the stand-in service a worker of yours starts runs until you stop it:\n.*compose .* stop spacetimedb/,
    );
    assert.deepEqual(processesOf(dir, []), [], 'nothing left running');
    assertNoSecrets(out + res.stderr, []);
  });

  it('--keep stays up until SIGTERM; its environment works for a worker of its own; nothing is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-quickstart-keep-'));
    const { child, out } = started(dir, '--keep');
    const address = await until(
      'the quickstart to stay up',
      async () => /export TEMPORAL_ADDRESS=(\S+)/.exec(out())?.[1],
      { timeoutMs: 180_000 },
    );
    const children = childrenOf(child.pid as number);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(child.exitCode, null, `still running 2 s later:\n${out()}`);

    // A separate worker process on its own task queue: no shim on its PATH, only the config.
    const queue = { ...process.env, TEMPORAL_ADDRESS: address, REKEY_TASK_QUEUE: 'quickstart-own-worker' };
    const config = join(dir, 'rekey.yaml');
    const dryRun = () =>
      promisify(execFile)(
        process.execPath,
        [rekeyBin, 'rotate', '--env', 'local', '--dry-run', '--config', config],
        {
          env: queue,
        },
      ).then(
        () => undefined,
        (err: { code: number; stderr: string }) => err,
      );
    const refused = await dryRun();
    if (!refused) throw new Error('a dry run with no worker on its queue succeeded');
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /no worker is polling task queue "quickstart-own-worker" at 127\.0\.0\.1:\d+/,
    );
    const worker = spawn(process.execPath, [rekeyBin, 'worker', '--config', config], { env: queue });
    try {
      await until('the worker to poll', async () => ((await dryRun()) === undefined ? true : undefined), {
        everyMs: 1000,
      });
      const rotated = await promisify(execFile)(
        process.execPath,
        [rekeyBin, 'rotate', '--env', 'local', '--yes', '--wait', '--config', config],
        { env: queue },
      );
      assert.match(
        rotated.stdout,
        /local: rotated [0-9a-f]{16} -> [0-9a-f]{16}; identity kept iss=localhost sub=quickstart-publisher/,
      );
    } finally {
      worker.kill('SIGTERM');
      await exited(worker);
    }

    child.kill('SIGTERM');
    assert.equal(await exited(child), 0, out());
    assert.match(
      out(),
      /stopped: the worker, the Web UI and the dev server; the stand-in service stops next/,
    );
    assert.deepEqual(processesOf(dir, children), [], 'nothing left running');
  });

  it('Ctrl-C half way stops the service and the dev server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-quickstart-int-'));
    const { child, out } = started(dir);
    await until('the rotation to start', async () => (/rotating: workflow/.test(out()) ? true : undefined), {
      timeoutMs: 180_000,
    });
    const children = childrenOf(child.pid as number);
    child.kill('SIGINT');
    assert.equal(await exited(child), 130, out());
    assert.deepEqual(processesOf(dir, children), [], 'nothing left running');
  });
});
