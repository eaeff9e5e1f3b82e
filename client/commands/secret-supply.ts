// rekey secret supply: hands a run waiting for a value issued elsewhere (generator: manual) its new
// value. Read from standard input on the operator's machine and written straight to the recipe's
// first location with the operator's own access to that store: it never passes through Temporal.
// The version carries the waiting run's tags, so the run takes it as its own (and puts the old one
// back if it fails later).
import { userInfo } from 'node:os';
import type { Client } from '@temporalio/client';
import { NO_VALUE } from '../../activities/secret-recipe';
import { suppliedProblem, suppliedTags } from '../../activities/secret-supply';
import { placeIn } from '../../config/secret-recipes';
import { unlessNotFound } from '../../shared/not-found';
import { createSecretStore } from '../../stores/drivers';
import { restoreVersion } from '../../stores/pairs';
import { secretWorkflowId } from '../../workflows/inputs';
import { progressQuery, type SupplyWait } from '../../workflows/messages';
import { CliError } from '../cli-error';
import { JSON_OPTION, printJson } from '../json';
import { withClient } from '../runs/common';
import { checkSecret } from '../runs/secret';
import { type Command, loadCliConfig, type Options, parse } from './common';

const OPTIONS = { env: { type: 'string' }, as: { type: 'string' }, ...JSON_OPTION } satisfies Options;

/** The run of `secret` in `env` waiting at its supply step, if one is. */
async function waitingRun(
  client: Client,
  workflowId: string,
): Promise<{ runId: string; wait: SupplyWait } | { at: string }> {
  const handle = client.workflow.getHandle(workflowId);
  const d = await unlessNotFound(handle.describe());
  if (d?.status.name !== 'RUNNING')
    return { at: d ? `its last run ${d.status.name.toLowerCase()}` : 'no run' };
  const p = await handle.query(progressQuery);
  if (!p.supply)
    return {
      at: `the run is at step ${p.current ?? 'its start'}${p.pendingGate ? ' (waiting for approval)' : ''}`,
    };
  return { runId: d.runId, wait: p.supply };
}

/** What the run `runId` did with `version`: `taken`; `pending` after two minutes of asking (it
 * reads the location every half minute after its first two minutes of waiting); `unknown` (it
 * could not be asked); or, as `{ not }`, why it will not take it: it took another version
 * (`other`), or it stopped waiting without one. */
async function takenBy(
  client: Client,
  workflowId: string,
  runId: string,
  version: string,
): Promise<'taken' | 'pending' | { unknown: string } | { not: string; other?: string }> {
  // This run, not a later one under the same id; a closed run still answers (its last progress).
  const handle = client.workflow.getHandle(workflowId, runId);
  let problem = '';
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
    try {
      const p = await handle.query(progressQuery);
      if (p.suppliedVersion === version) return 'taken';
      if (p.suppliedVersion !== undefined)
        return { not: `it took version ${p.suppliedVersion}`, other: p.suppliedVersion };
      const step = p.steps.find((s) => s.name === 'supply');
      if (step?.status === 'failed' || step?.status === 'cancelled')
        return { not: `its supply step ${step.status}` };
      const d = await handle.describe();
      if (d.status.name !== 'RUNNING') return { not: `the run ${d.status.name.toLowerCase()}` };
    } catch (err) {
      problem = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return problem ? { unknown: problem } : 'pending';
}

/** The value from standard input: all of it from a pipe or a file (one trailing newline dropped),
 * one line from a terminal, not echoed. */
async function readValue(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  process.stderr.write('Paste the new value, then Enter (it is not shown): ');
  return new Promise((resolve, reject) => {
    let value = '';
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (b: Buffer) => {
      for (const ch of b.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          done();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          done();
          reject(new CliError('cancelled: nothing was written'));
          return;
        }
        value = ch === '\u007f' ? value.slice(0, -1) : value + ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

async function supply(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 1);
  const [secret] = positionals;
  const env = values.env;
  if (!secret) throw new CliError('secret supply needs a secret NAME');
  if (!env) throw new CliError('secret supply needs --env E');
  const config = loadCliConfig(values.config);
  checkSecret(config, secret, env);
  const recipe = config.secrets[secret];
  if (recipe?.generator.type !== 'manual')
    throw new CliError(
      `secret ${secret} has a ${recipe?.generator.type} generator: rekey makes its values itself (supply is for generator: manual)`,
    );
  // The recipe's first location, where the run waits for the value (a recipe has one at least).
  const first = recipe.locations[0] as (typeof recipe.locations)[number];
  const { store: storeName, name } = placeIn(first, env, config.environments[env]?.store);
  const by = values.as ?? userInfo().username;
  return withClient(
    async (client) => {
      const workflowId = secretWorkflowId(secret, env);
      const run = await waitingRun(client, workflowId);
      if ('at' in run)
        throw new CliError(
          `no run of secret ${secret} in ${env} is waiting for a value (${run.at}); start one with rekey secret rotate ${secret} --env ${env} (or secret init), then supply it; nothing was written`,
        );
      const { runId, wait } = run;
      const where = `${wait.store}:${wait.name}`;
      if (storeName !== wait.store || name !== wait.name)
        throw new CliError(
          `your rekey.yaml puts ${secret}'s first location at ${storeName}:${name}, but the run waits for it at ${where}: use the config the worker runs with; nothing was written`,
        );
      const cfg = config.stores[storeName];
      if (!cfg) throw new CliError(`unknown store "${storeName}"`);
      const value = await readValue();
      const store = createSecretStore(storeName, cfg);
      const current = (await store.current(name))?.version ?? NO_VALUE;
      if (current !== wait.current)
        throw new CliError(
          `${where} holds version ${current} now, not version ${wait.current} the run started from: the run takes that newer one (rekey status ${workflowId}); nothing was written`,
        );
      // A first value has none in use (a failed init's may be handed over again).
      const old =
        current === NO_VALUE || wait.phase === 'init' ? undefined : (await store.get(name, current)).value;
      const problem = suppliedProblem(recipe, value, old);
      if (problem)
        throw new CliError(
          `the value read from standard input cannot be the new value of ${secret}: ${problem}; nothing was written`,
        );
      const written = await store.set(name, value, suppliedTags(secret, runId, wait.phase, by));
      // Until the run says it took this version: a run that stopped waiting meanwhile (timed out,
      // cancelled) will not, and its version goes (a rotation's location back on the old one).
      const outcome = await takenBy(client, workflowId, runId, written.version);
      if (typeof outcome === 'object' && 'unknown' in outcome)
        throw new CliError(
          `wrote version ${written.version} of ${where}, but could not ask the run whether it took it (${outcome.unknown}): see rekey status ${workflowId}`,
          1,
        );
      if (typeof outcome === 'object') {
        // Put back only what is still ours and nobody took: a version the run took (another one),
        // or one written since, is left as it is.
        const newest = (await store.current(name))?.version;
        const ours = outcome.other === undefined && newest === written.version;
        const putBack = ours && wait.phase !== 'init';
        if (putBack) await restoreVersion(store, name, current, runId);
        throw new CliError(
          `the run did not take the value (${outcome.not}): ${putBack ? `${where} is back on version ${current}` : `${where} is at version ${newest ?? 'none'}${wait.phase === 'init' && ours ? ' (secret init writes it anew)' : ''}`}; revoke the value handed over at ${wait.issuer}`,
          1,
        );
      }
      if (values.json)
        printJson('secret-supply', {
          secret,
          environment: env,
          workflowId,
          runId,
          location: where,
          version: written.version,
          suppliedBy: by,
          taken: outcome === 'taken',
        });
      else
        console.log(
          `wrote version ${written.version} of ${where} for run ${workflowId}: ${outcome === 'taken' ? 'the run took it; it' : 'the run has not taken it yet (it reads the location every half minute); then it'} copies the value to the other locations, restarts, verifies${wait.phase === 'init' ? '' : `, then waits for an approver to confirm the old value revoked at ${wait.issuer}`} (rekey status ${workflowId})`,
        );
      return 0;
    },
    { config },
  );
}

export const command: Command = {
  usage: `rekey secret supply NAME --env E [--as NAME] [--json] [--config F]

For a secret whose value a person issues elsewhere (generator: manual, say an API key made in a
SaaS console): hands the run waiting for it (rekey secret rotate or secret init, at its supply
step) the new value. Reads it from standard input (a pipe or a file: all of it, one trailing
newline dropped; a terminal: one line, not shown) and writes it as a new version of the recipe's
first location, with your own access to that store: the value never passes through Temporal. The
run then copies it to the other locations, restarts the consumers, verifies, and (a rotation) ends
at a gate where an approver confirms the old value revoked at its issuer.

Refused, with nothing written, when no run waits for the value, when the location changed since
the run started waiting, or when the value is empty, is the one in use, or (generator fields:)
is not a JSON object with exactly those string fields.

--as NAME: who supplied it, recorded with the version (default: your login name).
--json: one JSON document (schemas/secret-supply.schema.json): the run, the location, the version.

It then waits (up to two minutes) until the run says it took the version. Exit codes: 0 taken (or
not yet, said: the run reads the location every half minute after its first two minutes of
waiting); 1 the run did not take it (it stopped waiting meanwhile: a rotation's location is put
back, a first value stays for the next init); 2 refused, nothing written.

Examples:
  rekey secret supply neon-api-key --env prod < new-key.txt
  pbpaste | rekey secret supply neon-api-key --env prod`,
  options: OPTIONS,
  positionals: 1,
  run: supply,
};
