// Starting a keyring rollover (rolloverSigningKey).
import type { Client } from '@temporalio/client';
import { parseDuration } from '../../config/duration';
import { starterConfigOf } from '../../config/run-config';
import type { Config } from '../../config/schema';
import { rolloverSigningKey } from '../../workflows';
import { RolloverInput, rolloverWorkflowId } from '../../workflows/inputs';
import { type Requester, startOnce, withRequester } from './common';
import { RequestRefused } from './errors';

/** Refuses, before anything starts, a wait shorter than the keyring's longest token lifetime. */
export function checkRolloverTtl(config: Config, keyring: string, ttl?: string): void {
  const ring = config.keyrings[keyring];
  if (!ring) {
    throw new RequestRefused(
      `unknown keyring "${keyring}"; configured: ${Object.keys(config.keyrings).join(', ') || 'none'}`,
    );
  }
  if (ttl === undefined) return;
  let ms: number;
  try {
    ms = parseDuration(ttl);
  } catch (err) {
    throw new RequestRefused(`--ttl: ${(err as Error).message}`);
  }
  if (ms < parseDuration(ring.tokenLifetime)) {
    throw new RequestRefused(
      `--ttl ${ttl} is shorter than keyring ${keyring}'s token lifetime ${ring.tokenLifetime}: tokens signed by the old key could outlive it; nothing was changed`,
    );
  }
}
export async function startRollover(
  client: Client,
  config: Config,
  raw: RolloverInput,
  opts: { as?: Requester; taskQueue?: string } = {},
) {
  const input = RolloverInput.parse(raw);
  checkRolloverTtl(config, input.keyring, input.ttl);
  return startOnce(client, rolloverSigningKey, {
    workflowId: rolloverWorkflowId(input.keyring),
    args: [
      withRequester(
        config,
        'rolloverSigningKey',
        { ...raw, starterConfig: starterConfigOf(config, { kind: 'rollover', keyring: raw.keyring }) },
        [],
        opts.as,
        {
          workflowId: rolloverWorkflowId(input.keyring),
        },
      ),
    ],
    taskQueue: opts.taskQueue,
    what: `a rollover of ${input.keyring}`,
    summary: `${input.dryRun ? 'plan: ' : ''}roll over keyring ${input.keyring}`,
  });
}
