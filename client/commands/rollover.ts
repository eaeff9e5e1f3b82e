// rekey rollover: overlap (kid) rollover of a keyring, with a durable wait.

import { keyringEnvironments } from '../../config/approvals';
import type { RolloverResult } from '../../workflows/rollover';
import { CliError } from '../cli-error';
import { withClient } from '../runs/common';
import { checkRolloverTtl, startRollover } from '../runs/rollover';
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
  ttl: { type: 'string' },
  approval: { type: 'boolean', default: false },
} satisfies Options;

async function rollover(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 1);
  const [keyring] = positionals;
  if (!keyring) throw new CliError('rollover needs a keyring name');
  const config = loadCliConfig(values.config);
  checkRolloverTtl(config, keyring, values.ttl);
  // The gate is the config's: the approval rules of the environments the keyring serves.
  const serves = keyringEnvironments(config, keyring);
  if (values.approval)
    throw new CliError(
      `--approval is gone: a rollover waits for an approver when rekey.yaml requires one (approvals.requiredFor) for an environment keyring ${keyring} serves (${serves.join(', ') || 'none'}: those whose store holds it or whose host runs a replica)`,
    );
  const dryRun = values['dry-run'];
  const gated = confirmStart(
    values,
    config,
    [serves],
    `rollover changes keyring ${keyring}: pass --yes, or require an approval for an environment it serves (${serves.join(', ') || 'none'}) in the config (approvals.requiredFor), or preview with --dry-run`,
  );
  return withClient(
    async (client) => {
      const handle = await startRollover(
        client,
        config,
        {
          keyring,
          dryRun,
          ...freezeOverride(values),
          // The worker checks that its config agrees about the gate this command announces.
          ...(dryRun ? {} : { expectApproval: gated }),
          ...(values.ttl ? { ttl: values.ttl } : {}),
        },
        { as: requester(values) },
      );
      return reportRun(
        client,
        handle,
        {
          dryRun,
          gated,
          wait: values.wait,
          json: values.json,
          waitingFor: 'waiting for approval before the ring changes',
        },
        (r: RolloverResult) => ({
          ok: true,
          text: r.dryRun
            ? `dry run: keyring ${r.keyring} holds ${r.before.kids.join(', ')}, active ${r.before.active}; nothing was changed`
            : `keyring ${r.keyring}: active ${r.active}, removed ${r.removed}${r.expedited ? ` (wait expedited by ${r.expedited.by}, ${Math.round(r.expedited.cutShortMs / 3600e3)}h cut short)` : ''}; ${r.nextRotation ? `next rotation due ${r.nextRotation}` : `no schedule: rekey schedule create rollover ${r.keyring} --every quarter`}`,
        }),
      );
    },
    { needsWorker: true, config },
  );
}

export const command: Command = {
  usage: `rekey rollover KEYRING [--ttl 90d] [--dry-run] [--as NAME [--key FILE]] [--yes] [--wait] [--json]
               [--config F]

Overlap rollover for services that accept several keys: add a key, roll out, flip active, wait
--ttl (default: the keyring's tokenLifetime; shorter is refused), remove the old key, roll out.
rekey expedite ID ends the wait early.

A keyring serving an environment that requires approval (approvals.requiredFor: those whose
store holds the ring or whose host runs a replica) waits for its approvers before any change;
otherwise --yes is required.

${START_HELP}

Examples:
  rekey rollover api --yes
  rekey rollover api --ttl 120d`,
  options: OPTIONS,
  positionals: 1,
  run: rollover,
};
