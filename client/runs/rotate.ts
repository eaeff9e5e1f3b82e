// Starting a JWT key rotation (rotateJwtKeys).
import type { Client } from '@temporalio/client';
import { starterConfigOf } from '../../config/run-config';
import type { Config } from '../../config/schema';
import { rotateJwtKeys } from '../../workflows';
import { RotateInput, rotateWorkflowId } from '../../workflows/inputs';
import type { RotateResult } from '../../workflows/rotate';
import { expandToKeyGroups, type Requester, startOnce, withRequester } from './common';

export async function startRotation(
  client: Client,
  config: Config,
  raw: RotateInput,
  opts: { as?: Requester; taskQueue?: string } = {},
) {
  const input = RotateInput.parse(raw);
  const environments = expandToKeyGroups(config, input.environments);
  const workflowId = rotateWorkflowId(environments, input.installOnly);
  const starterConfig = starterConfigOf(config, { kind: 'rotate', environments });
  const args = withRequester(
    config,
    'rotateJwtKeys',
    { ...raw, environments, starterConfig },
    environments,
    opts.as,
    { workflowId },
  );
  return startOnce(client, rotateJwtKeys, {
    workflowId,
    args: [args],
    taskQueue: opts.taskQueue,
    what: `${input.installOnly ? 'a key install on' : 'a rotation of'} ${environments.join(', ')}`,
    summary: `${input.dryRun ? 'plan: ' : ''}${input.installOnly ? 'install the current' : 'rotate'} ${environments.join('+')} JWT keys`,
  });
}
export type { RotateResult };
