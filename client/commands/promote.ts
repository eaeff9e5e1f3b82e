// rekey promote: staged data promotion down a chain of environments.
import type { HopResult } from '../../workflows/hop-plan';
import { CliError } from '../cli-error';
import { formatHops } from '../format';
import { withClient } from '../runs/common';
import { checkChain, startPromotion } from '../runs/promote';
import { reportRun } from './announce';
import {
  type Command,
  confirmStart,
  freezeOverride,
  loadCliConfig,
  type Options,
  parse,
  requester,
  START_HELP,
  START_OPTIONS,
} from './common';

const OPTIONS = {
  ...START_OPTIONS,
  consistent: { type: 'boolean', default: false },
  'allow-shrink': { type: 'boolean', default: false },
} satisfies Options;

async function promote(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, Number.POSITIVE_INFINITY);
  if (positionals.length < 2)
    throw new CliError('promote needs a chain of at least two environments, e.g. prod test dev');
  const config = loadCliConfig(values.config);
  checkChain(config, positionals);
  const dryRun = values['dry-run'];
  // One run per hop; a hop waits for an approval when its source or its destination requires one.
  confirmStart(
    values,
    config,
    positionals.slice(1).map((to, i) => [positionals[i] as string, to]),
    `promote replaces the data of ${positionals.slice(1).join(', ')} (files only there are deleted): pass --yes, require an approval for them, or preview with --dry-run`,
    // A freeze holds the destinations, and the source only when --consistent stops it.
    [...positionals.slice(1), ...(values.consistent ? positionals.slice(0, 1) : [])],
  );
  return withClient(
    async (client) => {
      const handle = await startPromotion(
        client,
        config,
        {
          chain: positionals,
          dryRun,
          ...freezeOverride(values),
          consistent: values.consistent,
          allowShrink: values['allow-shrink'],
        },
        { as: requester(values) },
      );
      // A hop's gate opens in its own run, later: announced by `rekey status` and --wait.
      return reportRun(
        client,
        handle,
        { dryRun, gated: false, wait: values.wait, json: values.json },
        (hops: HopResult[]) => ({ text: formatHops(hops), ok: true }),
      );
    },
    { needsWorker: true, config },
  );
}

export const command: Command = {
  usage: `rekey promote FROM TO [TO ...] [--dry-run] [--consistent] [--allow-shrink] [--as NAME [--key FILE]]
              [--yes] [--wait] [--json] [--config F]

Copies FROM's data dir down the chain one hop at a time (rsync from host to host, --delete): dry
run on the running destination, approval (config), stop the destination, exact snapshot (a
reflink, else a full copy: the plan shows its cost), copy (deleting no more than the plan showed), re-sign the destination token with its own key,
start, publish; a failure restores the snapshot. DESTRUCTIVE for the destinations: files only
there are deleted. Needs --yes unless every destination requires an approval
(approvals.requiredFor: a hop out of a gated environment waits for its approval too), or --dry-run.

  --allow-shrink   allow a plan that empties the destination or deletes more than
                   promotion.maxDeleteShare (50%) of its files
  --consistent     copy live, then stop FROM for a final pass and start it again

${START_HELP}

Examples:
  rekey promote prod test dev --dry-run
  rekey promote prod test --yes --wait`,
  options: OPTIONS,
  positionals: Number.POSITIVE_INFINITY,
  run: promote,
};
