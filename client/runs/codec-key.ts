// Starting a rotation of the codec keyring (rotateCodecKey).
import type { Client } from '@temporalio/client';
import { codecKeyringOf } from '../../activities/codec-key';
import type { Config } from '../../config/schema';
import { rotateCodecKey } from '../../workflows';
import { codecKeyWorkflowId } from '../../workflows/inputs';
import { startOnce } from './common';

/** Starts the rotation of the codec's own key (a keyring in a store; see codec-key init). */
export async function startCodecKeyRotation(
  client: Client,
  config: Config,
  opts: { taskQueue?: string } = {},
) {
  const { store, secret } = codecKeyringOf(config);
  return startOnce(client, rotateCodecKey, {
    workflowId: codecKeyWorkflowId(store, secret),
    args: [{}],
    taskQueue: opts.taskQueue,
    what: `a rotation of codec keyring ${store}/${secret}`,
    summary: `rotate the payload codec key (keyring ${store}/${secret})`,
  });
}
