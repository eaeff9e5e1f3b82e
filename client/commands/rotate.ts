// rekey rotate: JWT signing-key rotation of environments (and their key groups).

import type { Config } from '../../config/schema';
import type { RotateInput } from '../../workflows/inputs';
import { CliError } from '../cli-error';
import { formatRotateResult } from '../format';
import { expandToKeyGroups, type Requester, withClient } from '../runs/common';
import { startRotation } from '../runs/rotate';
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
  env: { type: 'string', multiple: true },
  'clean-slate': { type: 'boolean', default: false },
  'no-preserve-token': { type: 'boolean', default: false },
  // The guide's tool's flags (spacetimedb-tooling.ts), so automation written for it runs here.
  'verify-only': { type: 'boolean', default: false },
  'resign-token-only': { type: 'boolean', default: false },
  'publisher-cli-toml-path': { type: 'string' },
  'private-key-path': { type: 'string' },
  'preserve-publisher-token-env': { type: 'string', multiple: true },
  'no-preserve-publisher-token': { type: 'boolean', default: false },
  'no-sync-mounted-keys': { type: 'boolean', default: false },
} satisfies Options;

async function rotate(args: string[]): Promise<number> {
  const { values } = parse(args, OPTIONS);
  const config_ = values.config ? ['--config', values.config] : [];
  // The guide's modes: --verify-only is `rekey verify`, --resign-token-only is `rekey resign-token`.
  if (values['verify-only']) return (await import('./verify')).command.run(config_);
  if (values['resign-token-only']) {
    const toml = values['publisher-cli-toml-path'] ?? './data/.config/spacetime/cli.toml';
    const key = values['private-key-path'];
    if (!key) throw new CliError('--resign-token-only needs --private-key-path P (the key to sign with)');
    // As the guide's tool: a change needs --yes; --dry-run only says what would change.
    if (!values.yes && !values['dry-run'])
      throw new CliError(`--resign-token-only rewrites ${toml}: pass --yes, or preview with --dry-run`);
    return (await import('./resign-token')).command.run([
      '--cli-toml',
      toml,
      '--private-key',
      key,
      ...(values['dry-run'] ? ['--dry-run'] : []),
    ]);
  }
  if (values['publisher-cli-toml-path'] || values['private-key-path'])
    throw new CliError(
      '--publisher-cli-toml-path and --private-key-path go with --resign-token-only; a rotation uses paths.cliToml and the stores',
    );
  values.env = [...(values.env ?? []), ...(values['preserve-publisher-token-env'] ?? [])];
  if (!values.env.length) throw new CliError('rotate needs at least one --env');
  const config = loadCliConfig(values.config);
  const environments = expandToKeyGroups(config, values.env);
  const added = environments.filter((e) => !values.env?.includes(e));
  // --json: the plan names them (its `added`); stdout holds the document only.
  if (added.length > 0 && !values.json) console.log(`also rotating (same key group): ${added.join(', ')}`);
  const dryRun = values['dry-run'];
  const cleanSlate =
    values['clean-slate'] || values['no-preserve-token'] || values['no-preserve-publisher-token'];
  // A new owner identity cannot be undone by a rollback of keys: asked for by name, every time.
  if (cleanSlate && !dryRun && !values.yes) {
    throw new CliError(
      `--clean-slate gives ${environments.join(', ')} a NEW publisher identity: the cached token is cleared and the next publish logs in afresh, so databases owned by the current identity can no longer be published to (recreate them). Pass --yes to confirm, or preview with --dry-run`,
    );
  }
  const gated = confirmStart(
    values,
    config,
    [environments],
    `rotate changes keys of ${environments.join(', ')}: pass --yes, or require an approval for them in the config (approvals.requiredFor), or preview with --dry-run`,
  );
  return startAndFollow(
    config,
    {
      environments,
      dryRun,
      ...freezeOverride(values),
      preserveToken: !cleanSlate,
      syncMountedKeys: !values['no-sync-mounted-keys'],
    },
    { gated, wait: values.wait, json: values.json, as: requester(values) },
  );
}

/** Starts a rotation (or a keys install), says where it waits, and with --wait (or a dry run)
 * follows it to its result: exit 0 when every environment passed. */
export function startAndFollow(
  config: Config,
  input: RotateInput,
  opts: { gated: boolean; wait: boolean; json: boolean; as: Requester | undefined },
): Promise<number> {
  const dryRun = input.dryRun === true;
  return withClient(
    async (client) => {
      // The worker checks that its config agrees about the gate this command announces.
      const handle = await startRotation(
        client,
        config,
        { ...input, ...(dryRun ? {} : { expectApproval: opts.gated }) },
        { as: opts.as },
      );
      return reportRun(
        client,
        handle,
        { dryRun, gated: opts.gated, wait: opts.wait, json: opts.json },
        (r) => ({
          text: formatRotateResult(r),
          ok: r.ok,
        }),
      );
    },
    { needsWorker: true, config },
  );
}

export const command: Command = {
  usage: `rekey rotate --env E [--env E ...] [--dry-run] [--clean-slate] [--no-sync-mounted-keys]
             [--as NAME [--key FILE]] [--yes] [--wait] [--json] [--config F]

Rotates the JWT signing keys of the environments (and of every environment sharing their key
group): a new pair in each store, key files on each host, the publisher token re-signed with the
same identity, the service restarted and its publish checked; an environment that fails is
rolled back. Needs --yes unless the config requires an approval for one of them. A token issued
by an OIDC provider (iss an https URL) is not the server's to re-sign: it is left alone.

  --dry-run                the plan only (stores, hosts, fingerprints, token identities)
  --clean-slate            the guide's Strategy A: clear the cached publisher token instead of
                           re-signing it; the next publish gets a NEW owner identity (databases
                           owned by the old one must be recreated). Always needs --yes.
                           Alias: --no-preserve-token
  --no-sync-mounted-keys   only the stores and the token; no key files, no restart
  --as NAME, --key FILE    who starts it, signed (required where approvals.separateFromStarter)
  --wait                   wait for the result and print it

The guide's tool's flags are accepted where they mean the same: --preserve-publisher-token-env E
(--env E), --no-preserve-publisher-token (--clean-slate), --verify-only (rekey verify),
--resign-token-only --publisher-cli-toml-path P --private-key-path K (rekey resign-token).

${START_HELP}

Examples:
  rekey rotate --env prod --dry-run
  rekey rotate --env prod --env test --yes --wait
  rekey rotate --env prod --as alice            # prod waits for an approver other than alice`,
  options: OPTIONS,
  run: rotate,
};
