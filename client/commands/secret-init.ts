// rekey secret init: a secret's first value, where every location has none yet (a new
// environment), with a rotation's plan, gate, lock, restart and probes.
import type { Client } from '@temporalio/client';
import type { Config } from '../../config/schema';
import { secretStates } from '../../stores/secret-states';
import { CliError } from '../cli-error';
import { withClient } from '../runs/common';
import { checkSecret, startSecretRotation } from '../runs/secret';
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
import { reportSecretRun } from './secret';

const OPTIONS = {
  ...START_OPTIONS,
  env: { type: 'string' },
  all: { type: 'boolean', default: false },
} satisfies Options;

/** The recipes of `env` whose first location holds no value: what `--all` initializes. */
async function withoutValue(config: Config, env: string): Promise<string[]> {
  const states = await secretStates(config, env);
  const unreadable = states.filter((s) => s.unreadable);
  if (unreadable.length)
    throw new CliError(
      `cannot tell which secrets of ${env} have no value yet: ${unreadable.map((s) => `${s.store}:${s.name} (${s.unreadable})`).join('; ')}`,
    );
  return states.filter((s) => s.version === null).map((s) => s.secret);
}

async function init(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 1);
  const env = values.env;
  if (!env) throw new CliError('secret init needs --env E');
  const [named] = positionals;
  if (values.all === Boolean(named))
    throw new CliError('secret init takes a secret NAME or --all (every secret of E with no value yet)');
  if (values.all && values.json)
    throw new CliError(
      'secret init --all prints text: for JSON, run secret init NAME --json for each (rekey secret status --env E --json lists those with no value)',
    );
  const config = loadCliConfig(values.config);
  if (!(env in config.environments)) throw new CliError(`unknown environment "${env}"`);
  if (named) checkSecret(config, named, env);
  const secrets = named ? [named] : await withoutValue(config, env);
  if (!secrets.length) {
    console.log(
      `every secret of ${env} holds a value: nothing to initialize (rekey secret status --env ${env})`,
    );
    return 0;
  }
  const dryRun = values['dry-run'];
  const gated = confirmStart(
    values,
    config,
    [[env]],
    `secret init writes ${secrets.join(', ')} in ${env} and restarts their consumers: pass --yes, or require an approval for ${env} (approvals.requiredFor), or preview with --dry-run`,
  );
  return withClient(
    async (client) => {
      let code = 0;
      // One after another (--all waits for each): consumers shared by several secrets restart for
      // each, and never two at once.
      for (const secret of secrets) {
        if (secrets.length > 1) console.log(`\n${secret}:`);
        const c = await initOne(client, config, secret, env, {
          dryRun,
          gated,
          wait: values.wait || secrets.length > 1,
          json: values.json,
          values,
        });
        code = Math.max(code, c);
        if (c !== 0 && secrets.length > 1) {
          console.log(`stopped: ${secret} did not get its first value; the rest were not started`);
          break;
        }
      }
      return code;
    },
    { needsWorker: true, config },
  );
}

function initOne(
  client: Client,
  config: Config,
  secret: string,
  env: string,
  opts: {
    dryRun: boolean;
    gated: boolean;
    wait: boolean;
    json: boolean;
    values: Parameters<typeof requester>[0] & Parameters<typeof freezeOverride>[0];
  },
): Promise<number> {
  return startSecretRotation(
    client,
    config,
    { secret, environment: env, init: true, dryRun: opts.dryRun, ...freezeOverride(opts.values) },
    { as: requester(opts.values) },
  ).then((handle) =>
    reportSecretRun(
      client,
      handle,
      opts,
      { config, secret, env },
      (r) =>
        `first value written: ${r.plan.locations.map((l, i) => `${l.store}:${l.name} ${r.written[i]}`).join(', ')}`,
    ),
  );
}

export const command: Command = {
  usage: `rekey secret init NAME --env E [--dry-run] [--as NAME [--key FILE]] [--yes] [--wait] [--json] [--config F]
rekey secret init --all --env E [--dry-run] [--as NAME [--key FILE]] [--yes] [--config F]

Writes the first value of secret NAME (a recipe of secrets: in rekey.yaml) in a new environment
E: a value made by the recipe's generator, written to every location in order, the consumers
restarted, every probe passed; the same plan, gate and lock as a rotation, and nothing to revoke.
A location that already holds a value is refused, by name (rotate it instead); one that holds
only what an earlier, failed init of NAME wrote is written anew. A failure leaves the locations
written so far as they are (the run names them): fix the cause and init again. --all: every
secret of E whose first location has no value yet, one after another (each waits for the last).

${START_HELP}

Exit codes: 0 done (or started, without --wait); 1 a run failed; 2 bad input, or refused before
any change (a location holds a value).

Examples:
  rekey secret init db-password --env staging --dry-run
  rekey secret init --all --env staging --yes`,
  options: OPTIONS,
  positionals: 1,
  run: init,
};
