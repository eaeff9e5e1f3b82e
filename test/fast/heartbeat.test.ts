// Fast tier: the heartbeat helpers in an activity context (MockActivityEnvironment), with mocked
// timers: no server, no waiting.
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { beat, heartbeating } from '../../activities/heartbeat';

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

  it('beat() reports details inside an activity and does nothing outside one', async () => {
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    await env.run(async () => beat('restart requested'));
    beat('outside: the CLI calls activities directly');
    assert.deepEqual(beats, ['restart requested']);
  });
});
