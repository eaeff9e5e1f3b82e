// Rotation of the payload codec's own key: a fresh key added to the codec's keyring and made
// active. Nothing is removed, so every payload sealed under an older key still opens; each
// worker, CLI and codec server seals with the new key once it re-reads the ring (within minutes)
// and opens payloads under it at once.
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { CodecKeyActivities, CodecKeyringFacts } from '../activities/codec-key';
import { shortActivity } from './activity-options';
import { withLocks } from './environment-lock';
import { parseInput, runFailure } from './errors';
import { CodecKeyInput } from './inputs';
import { ProgressTracker } from './progress';

const codecKeys = proxyActivities<CodecKeyActivities>({
  ...shortActivity,
  summary: 'add a codec key to the keyring and make it active',
});

export async function rotateCodecKey(rawInput: CodecKeyInput): Promise<CodecKeyringFacts> {
  // Started with no input at all (the Web UI's empty form) is the same as {}.
  parseInput(CodecKeyInput, rawInput ?? {});
  const tracker = new ProgressTracker(['add key'], 'rotate the payload codec key');
  try {
    // One rotation of the ring at a time, whatever its workflow id (a schedule's runs, the Web UI's).
    const facts = await withLocks(
      () => ['codec-keyring'],
      () =>
        tracker.run(
          'add key',
          () => codecKeys.rotateCodecKeyring(workflowInfo().runId),
          (f) => `active ${f.active}; the ring holds ${f.keys.length} key(s)`,
        ),
    );
    tracker.finish('completed');
    return facts;
  } catch (err) {
    tracker.fail(err);
    throw runFailure(err);
  }
}
