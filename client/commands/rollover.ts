// rekey rollover: overlap (kid) rollover of a keyring, with a durable wait.
import type { RolloverResult } from '../../workflows/rollover';
import { CliError } from '../cli-error';
import { checkRolloverTtl, followRun, startRollover, withClient } from '../runs';
import { type Command, loadCliConfig, type Options, parse, requester, START_OPTIONS } from './common';

const OPTIONS = {
  ...START_OPTIONS,
  ttl: { type: 'string' },
  approval: { type: 'boolean', default: false },
} satisfies Options;

async function rollover(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 1);
  const [keyring] = positionals;
  if (!keyring) throw new CliError('rollover needs a keyring name');
  const config = loadCliConfig(values.config);
  checkRolloverTtl(config, keyring, values.ttl);
  const dryRun = values['dry-run'];
  if (!dryRun && !values.yes && !values.approval) {
    throw new CliError(
      `rollover changes keyring ${keyring}: pass --yes, or --approval to wait for an approver before the flip`,
    );
  }
  return withClient(
    async (client) => {
      const handle = await startRollover(
        client,
        config,
        {
          keyring,
          dryRun,
          requireApproval: values.approval,
          ...(values.ttl ? { ttl: values.ttl } : {}),
        },
        { as: requester(values) },
      );
      console.log(
        `started ${handle.workflowId}${dryRun ? ' (dry run)' : ''}; follow it: rekey status ${handle.workflowId}`,
      );
      if (!values.wait && !dryRun) return 0;
      const r: RolloverResult = await followRun(client, handle);
      console.log(
        r.dryRun
          ? `dry run: keyring ${r.keyring} holds ${r.before.kids.join(', ')}, active ${r.before.active}; nothing was changed`
          : `keyring ${r.keyring}: active ${r.active}, removed ${r.removed}${r.expedited ? ` (wait expedited by ${r.expedited.by}, ${Math.round(r.expedited.cutShortMs / 3600e3)}h cut short)` : ''}; ${r.nextRotation ? `next rotation due ${r.nextRotation}` : `no schedule: rekey schedule create rollover ${r.keyring} --every quarter`}`,
      );
      return 0;
    },
    { needsWorker: true, config },
  );
}

export const command: Command = {
  usage: `rekey rollover KEYRING [--ttl 90d] [--dry-run] [--approval] [--as NAME [--key FILE]] [--yes] [--wait]
               [--config F]

Overlap rollover for services that accept several keys: add a key, roll out, flip active, wait
--ttl (default: the keyring's tokenLifetime; shorter is refused), remove the old key, roll out.
rekey expedite ID ends the wait early.

  --approval   wait for an approver before the flip (instead of --yes)

Examples:
  rekey rollover api --yes
  rekey rollover api --ttl 120d --approval`,
  options: OPTIONS,
  positionals: 1,
  run: rollover,
};
