// Starting a promotion (promote: one hop per pair of the chain).
import type { Client } from '@temporalio/client';
import { hopProblem } from '../../activities/hop-checks';
import { starterConfigOf } from '../../config/run-config';
import type { Config } from '../../config/schema';
import { promote } from '../../workflows';
import { PromoteInput, promoteWorkflowId } from '../../workflows/inputs';
import { type Requester, requireKnown, startOnce, withRequester } from './common';
import { RequestRefused } from './errors';

/** Refuses, before anything starts, a chain with an environment twice or a hop rekey cannot make. */
export function checkChain(config: Config, chain: string[]): void {
  requireKnown(config, chain);
  if (new Set(chain).size !== chain.length)
    throw new RequestRefused(`an environment appears twice in ${chain.join(' -> ')}`);
  for (const [i, to] of chain.slice(1).entries()) {
    const problem = hopProblem(config, chain[i] as string, to);
    if (problem) throw new RequestRefused(problem);
  }
}
export async function startPromotion(
  client: Client,
  config: Config,
  raw: PromoteInput,
  opts: { as?: Requester; taskQueue?: string } = {},
) {
  const input = PromoteInput.parse(raw);
  checkChain(config, input.chain);
  return startOnce(client, promote, {
    workflowId: promoteWorkflowId(input.chain),
    args: [
      // A hop out of a gated environment is gated too: the source counts.
      withRequester(
        config,
        'promote',
        { ...raw, starterConfig: starterConfigOf(config, { kind: 'promote', chain: input.chain }) },
        input.chain,
        opts.as,
        {
          workflowId: promoteWorkflowId(input.chain),
        },
      ),
    ],
    taskQueue: opts.taskQueue,
    what: `a promotion ${input.chain.join(' -> ')}`,
    summary: `${input.dryRun ? 'plan: ' : ''}promote data ${input.chain.join(' -> ')}`,
  });
}
