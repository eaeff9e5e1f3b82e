// rekey secret rotate / status: the secret recipes of rekey.yaml (secrets:).

import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Config } from '../../config/schema';
import { supplyCommand } from '../../shared/cli-hints';
import { type SecretState, secretStates } from '../../stores/secret-states';
import type { rotateSecret } from '../../workflows';
import type { RotateSecretResult } from '../../workflows/rotate-secret';
import type { RotateSecretsResult } from '../../workflows/rotate-secrets';
import { CliError } from '../cli-error';
import { JSON_OPTION, printJson } from '../json';
import { withClient } from '../runs/common';
import { checkSecret, startSecretRotation, startSecretsRotation } from '../runs/secret';
import { reportRun, type StartOptions } from './announce';
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

const ROTATE_OPTIONS = {
  ...START_OPTIONS,
  env: { type: 'string' },
  due: { type: 'boolean', default: false },
  all: { type: 'boolean', default: false },
} satisfies Options;

async function rotate(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, ROTATE_OPTIONS, 1);
  const [secret] = positionals;
  const batch = values.due || values.all;
  if (values.due && values.all) throw new CliError('secret rotate takes --due or --all, not both');
  if (batch && secret)
    throw new CliError(
      `secret rotate takes a secret NAME or --${values.due ? 'due' : 'all'} (every secret of E in one run), not both`,
    );
  if (!values.env) throw new CliError('secret rotate needs --env E');
  if (batch) return rotateBatch(values, values.env, values.due ? 'due' : 'all');
  if (!secret)
    throw new CliError(
      'secret rotate needs a secret name, or --due / --all for every secret of E in one run (see rekey secret status)',
    );
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
        { secret, environment: values.env as string, dryRun, ...freezeOverride(values) },
        { as: requester(values) },
      );
      return reportSecretRun(
        client,
        handle,
        { dryRun, gated, wait: values.wait, json: values.json },
        { config, secret, env: values.env as string },
        (r) =>
          `rotated: ${r.plan.locations.map((l, i) => `${l.store}:${l.name} ${l.current} -> ${r.written[i]}`).join(', ')}${r.revoked ? '; old value revoked' : ''}`,
      );
    },
    { needsWorker: true, config },
  );
}

/** `secret rotate --due|--all --env E`: every secret of E that is due (or all) in one run. */
function rotateBatch(
  values: ReturnType<typeof parse<typeof ROTATE_OPTIONS>>['values'],
  env: string,
  select: 'due' | 'all',
): Promise<number> {
  const config = loadCliConfig(values.config);
  if (!(env in config.environments)) throw new CliError(`unknown environment "${env}"`);
  const dryRun = values['dry-run'];
  const gated = confirmStart(
    values,
    config,
    [[env]],
    `secret rotate --${select} changes every secret ${select === 'due' ? 'due ' : ''}in ${env} and restarts their consumers: pass --yes, or require an approval for ${env} (approvals.requiredFor), or preview with --dry-run`,
  );
  return withClient(
    async (client) => {
      const handle = await startSecretsRotation(
        client,
        config,
        { environment: env, select, dryRun, ...freezeOverride(values) },
        { as: requester(values) },
      );
      return reportRun(
        client,
        handle,
        { dryRun, gated, wait: values.wait, json: values.json },
        (r: RotateSecretsResult) => ({
          ok: true,
          text: [
            ...r.plan.text,
            r.dryRun
              ? 'dry run: nothing was changed'
              : r.plan.secrets.length
                ? `rotated ${Object.keys(r.written).length} secret(s): ${r.plan.secrets.map((p) => `${p.secret} (${p.locations.map((l, i) => `${l.store}:${l.name} ${l.current} -> ${r.written[p.secret]?.[i]}`).join(', ')})`).join('; ')}${r.revoked.length ? `; old value revoked: ${r.revoked.join(', ')}` : ''}`
                : `nothing ${select === 'due' ? 'due' : 'to rotate'} in ${env}`,
          ].join('\n'),
        }),
      );
    },
    { needsWorker: true, config },
  );
}

/** Reports a started run of a secret (rotate, init): the plan, and how it ended in `done`'s
 * words; a value a person issues is announced as what the run will wait for. */
export function reportSecretRun(
  client: Client,
  handle: WorkflowHandle<typeof rotateSecret>,
  opts: StartOptions,
  what: { config: Config; secret: string; env: string },
  done: (r: RotateSecretResult) => string,
): Promise<number> {
  return reportRun(
    client,
    handle,
    { ...opts, alsoWaits: supplyNote(what.config, what.secret, what.env) },
    (r: RotateSecretResult) => ({
      ok: true,
      text: [...r.plan.text, r.dryRun ? 'dry run: nothing was changed' : done(r)].join('\n'),
    }),
  );
}

/** What a run of a recipe whose value a person issues waits for, said when it starts. */
export function supplyNote(config: Config, secret: string, env: string): string | undefined {
  const g = config.secrets[secret]?.generator;
  return g?.type === 'manual'
    ? `it waits up to ${g.within} for the new value: issue it at ${g.issuer}, then ${supplyCommand(secret, env)} (reads it from standard input)`
    : undefined;
}

const STATUS_OPTIONS = { env: { type: 'string' }, ...JSON_OPTION } satisfies Options;

const WRITTEN_BY = {
  rekey: 'rotated by rekey',
  'rekey put-back': 'put back by rekey after a failed rotation',
  'outside rekey': 'written outside rekey',
} as const;

/** One line per secret and environment: where, which version, when it changed, when it is due. */
export function secretStatusLine(s: SecretState): string {
  if (s.unreadable) return `${s.secret} ${s.env}: ${s.store}:${s.name} cannot be read: ${s.unreadable}`;
  if (s.version === null) return `${s.secret} ${s.env}: ${s.store}:${s.name} has no value yet`;
  const due = s.due
    ? `; every ${s.rotateEvery}: ${s.overdue ? `OVERDUE since ${s.due.slice(0, 10)}` : `next due ${s.due.slice(0, 10)}`}`
    : '';
  return `${s.secret} ${s.env}: ${s.store}:${s.name} version ${s.version}, changed ${s.changed?.slice(0, 10)} (${s.ageDays}d ago, ${WRITTEN_BY[s.writtenBy ?? 'outside rekey']})${due}`;
}

async function status(args: string[]): Promise<number> {
  const { values } = parse(args, STATUS_OPTIONS);
  const config = loadCliConfig(values.config);
  if (values.env && !(values.env in config.environments))
    throw new CliError(`unknown environment "${values.env}"`);
  const states = await secretStates(config, values.env);
  if (values.json) printJson('secret-status', { secrets: states });
  else
    console.log(
      states.length
        ? states.map(secretStatusLine).join('\n')
        : 'no secrets in the config (secrets: in rekey.yaml)',
    );
  // A secret that cannot be read may be overdue too: that is the one to report first.
  if (states.some((s) => s.unreadable)) return 3;
  return states.some((s) => s.overdue) ? 1 : 0;
}

export const rotateCommand: Command = {
  usage: `rekey secret rotate NAME --env E [--dry-run] [--as NAME [--key FILE]] [--yes] [--wait] [--json] [--config F]
rekey secret rotate --due|--all --env E [--dry-run] [--as NAME [--key FILE]] [--yes] [--wait] [--json] [--config F]

Rotates secret NAME (a recipe of secrets: in rekey.yaml) in environment E: a new value written to
every location in the recipe's order, the consumers restarted together, every verify probe
passed, then the old value revoked. If a write, a restart or a probe fails (or the run is
cancelled), every location is put back to its old value and the consumers restarted on it. The
value never leaves the worker: the run's history holds stores, names and versions. Needs --yes
unless E requires an approval. A value a person issues elsewhere (generator: manual) is waited for
after the gate (rekey secret supply hands it over) and the run ends at a gate where an approver
confirms the old value revoked at its issuer.

--due: every secret of E past its rotateEvery, in one run (run rotate-secrets/E): one plan listing
them all, one gate, the writes side by side, each consumer restarted once for all of its secrets,
every probe, then the old values revoked. A failure before the probes pass puts every secret back
and restarts the consumers on the old values. --all: every secret of E, due or not. Recipes whose
value a person issues (generator: manual) or that keep a key list (keyring) are left to their own
runs (the plan names them). While it goes, no secret of E is rotated on its own, and it does not
start while one is.

${START_HELP}

Exit codes: 0 done (or started, without --wait); 1 the run failed (locations put back); 2 bad
input, or refused before any change.

Examples:
  rekey secret rotate db-password --env prod --dry-run
  rekey secret rotate db-password --env prod --yes --wait
  rekey secret rotate --due --env prod --dry-run`,
  options: ROTATE_OPTIONS,
  positionals: 1,
  run: rotate,
};

export const statusCommand: Command = {
  usage: `rekey secret status [--env E] [--config F] [--json]

Read-only: for each secret and environment, the first location's current version, when it
changed and whether rekey wrote it, and when it is due (rotateEvery). --json: one JSON document
(schemas/secret-status.schema.json), an entry per secret and environment.

Exit codes: 0 none overdue; 1 one or more overdue; 2 bad input; 3 a store could not be read
(each such secret is listed with its store's answer; the others are read as usual).`,
  options: STATUS_OPTIONS,
  run: status,
};
