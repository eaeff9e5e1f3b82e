// rekey secret rotate / status: the secret recipes of rekey.yaml (secrets:).

import { parseDuration } from '../../config/duration';
import type { Config } from '../../config/schema';
import { createSecretStore } from '../../stores/drivers';
import type { RotateSecretResult } from '../../workflows/rotate-secret';
import { CliError } from '../cli-error';
import { followRun, withClient } from '../runs/common';
import { checkSecret, startSecretRotation } from '../runs/secret';
import { announceStart } from './announce';
import {
  type Command,
  confirmStart,
  loadCliConfig,
  type Options,
  parse,
  requester,
  START_OPTIONS,
} from './common';

const ROTATE_OPTIONS = { ...START_OPTIONS, env: { type: 'string' } } satisfies Options;

async function rotate(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, ROTATE_OPTIONS, 1);
  const [secret] = positionals;
  if (!secret) throw new CliError('secret rotate needs a secret name (see rekey secret status)');
  if (!values.env) throw new CliError('secret rotate needs --env E');
  const config = loadCliConfig(values.config);
  checkSecret(config, secret, values.env);
  const dryRun = values['dry-run'];
  const gated = confirmStart(
    values,
    config,
    [[values.env]],
    `secret rotate changes ${secret} in ${values.env} and restarts its consumers: pass --yes, or require an approval for ${values.env} (approvals.requiredFor), or preview with --dry-run`,
  );
  return withClient(
    async (client) => {
      const handle = await startSecretRotation(
        client,
        config,
        { secret, environment: values.env as string, dryRun },
        { as: requester(values) },
      );
      if (!(await announceStart(client, handle.workflowId, { dryRun, gated, wait: values.wait }))) return 0;
      const r: RotateSecretResult = await followRun(client, handle);
      console.log(r.plan.text.join('\n'));
      console.log(
        r.dryRun
          ? 'dry run: nothing was changed'
          : `rotated: ${r.plan.locations.map((l, i) => `${l.store}:${l.name} ${l.current} -> ${r.written[i]}`).join(', ')}${r.revoked ? '; old value revoked' : ''}`,
      );
      return 0;
    },
    { needsWorker: true, config },
  );
}

const STATUS_OPTIONS = { env: { type: 'string' } } satisfies Options;

/** One line per secret and environment: where, which version, when it changed, when it is due. */
export async function secretStatus(config: Config, env?: string, now = Date.now()): Promise<string[]> {
  const lines: string[] = [];
  for (const [secret, recipe] of Object.entries(config.secrets)) {
    for (const e of recipe.environments) {
      if (env && e !== env) continue;
      const first = recipe.locations[0] as (typeof recipe.locations)[number];
      const storeName = first.store ?? (config.environments[e]?.store as string);
      const name = first.name.replaceAll('{env}', e);
      const store = createSecretStore(storeName, config.stores[storeName] as never);
      const versions = await store.listVersions(name);
      const current = await store.current(name);
      if (!current) {
        lines.push(`${secret} ${e}: ${storeName}:${name} has no value yet`);
        continue;
      }
      // A value put back after a failed rotation is as old as the version it restored.
      const origin = versions.find((v) => v.version === current.tags.restoredFrom) ?? current;
      const changed = Date.parse(origin.createdOn);
      const days = Math.floor((now - changed) / 86_400_000);
      let due = '';
      if (recipe.rotateEvery) {
        const next = changed + parseDuration(recipe.rotateEvery);
        due = `; every ${recipe.rotateEvery}: ${next < now ? `OVERDUE since ${new Date(next).toISOString().slice(0, 10)}` : `next due ${new Date(next).toISOString().slice(0, 10)}`}`;
      }
      const by = current.tags.restoredFrom
        ? 'put back by rekey after a failed rotation'
        : current.tags.rekeyRunId
          ? 'rotated by rekey'
          : 'written outside rekey';
      lines.push(
        `${secret} ${e}: ${storeName}:${name} version ${current.version}, changed ${origin.createdOn.slice(0, 10)} (${days}d ago, ${by})${due}`,
      );
    }
  }
  return lines;
}

async function status(args: string[]): Promise<number> {
  const { values } = parse(args, STATUS_OPTIONS);
  const config = loadCliConfig(values.config);
  if (values.env && !(values.env in config.environments))
    throw new CliError(`unknown environment "${values.env}"`);
  const lines = await secretStatus(config, values.env);
  console.log(lines.length ? lines.join('\n') : 'no secrets in the config (secrets: in rekey.yaml)');
  return lines.some((l) => l.includes('OVERDUE')) ? 1 : 0;
}

export const rotateCommand: Command = {
  usage: `rekey secret rotate NAME --env E [--dry-run] [--as NAME [--key FILE]] [--yes] [--wait] [--config F]

Rotates secret NAME (a recipe of secrets: in rekey.yaml) in environment E: a new value written to
every location in the recipe's order, the consumers restarted together, every verify probe
passed, then the old value revoked. If a write, a restart or a probe fails (or the run is
cancelled), every location is put back to its old value and the consumers restarted on it. The
value never leaves the worker: the run's history holds stores, names and versions. Needs --yes
unless E requires an approval.

Exit codes: 0 done (or started, without --wait); 1 the run failed (locations put back); 2 bad
input, or refused before any change.

Examples:
  rekey secret rotate db-password --env prod --dry-run
  rekey secret rotate db-password --env prod --yes --wait`,
  options: ROTATE_OPTIONS,
  positionals: 1,
  run: rotate,
};

export const statusCommand: Command = {
  usage: `rekey secret status [--env E] [--config F]

Read-only: for each secret and environment, the first location's current version, when it
changed and whether rekey wrote it, and when it is due (rotateEvery).

Exit codes: 0 none overdue; 1 one or more overdue; 2 bad input.`,
  options: STATUS_OPTIONS,
  run: status,
};
