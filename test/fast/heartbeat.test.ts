// Fast tier: the heartbeat helpers and cancellation in an activity context
// (MockActivityEnvironment): no server.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, mock } from 'node:test';
import { Context } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { LocalHost } from '../../hosts/local';
import { beat, heartbeating } from '../../services/heartbeat';
import { until } from '../infra/until';

describe('heartbeats', () => {
  it('heartbeating() beats every 5 s while the work runs, and stops with it', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      let release: () => void = () => undefined;
      const work = new Promise<void>((resolve) => {
        release = resolve;
      });
      let copied = 0;
      const done = env.run(() =>
        heartbeating(
          () => work,
          () => ({ copied }),
        ),
      );
      mock.timers.tick(5000);
      copied = 42;
      mock.timers.tick(5000);
      release();
      await done;
      mock.timers.tick(15_000);
      assert.deepEqual(beats, [{ copied: 0 }, { copied: 42 }], 'two beats, none after the work ended');
    } finally {
      mock.timers.reset();
    }
  });

  it('a cancelled activity stops its host command and answers only once it has stopped', async () => {
    const env = new MockActivityEnvironment();
    const dir = mkdtempSync(join(tmpdir(), 'rekey-cancel-'));
    const host = new LocalHost('local', dir, dir);
    const started = join(dir, 'started');
    const stopped = join(dir, 'stopped');
    // A command that takes a moment to stop, as `docker compose stop` does.
    const running = env.run(() =>
      host.exec(`trap 'sleep 0.5; : > ${stopped}; exit 143' TERM; : > ${started}; sleep 30 & wait`, {
        signal: Context.current().cancellationSignal,
      }),
    );
    await until('the command to start', () => (existsSync(started) ? true : undefined));
    env.cancel('CANCELLED');
    await assert.rejects(running, /abandoned: .*CANCELLED/);
    assert.ok(existsSync(stopped), 'the command had finished stopping when the activity answered');
  });

  it('beat() reports details inside an activity and does nothing outside one', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    await env.run(async () => beat('restart requested'));
    beat('outside: the CLI calls activities directly');
    assert.deepEqual(beats, ['restart requested']);
  });
});
