// rekey approve / reject / expedite: a decision at a run's gate, sent as a Workflow Update.
import { createInterface } from 'node:readline/promises';
import { taskQueue } from '../../shared/task-queue';
import type { DecisionKind, PendingGate } from '../../workflows/messages';
import { CliError } from '../cli-error';
import { JSON_OPTION, printJson } from '../json';
import { runBehind, withClient } from '../runs/common';
import { decideGate } from '../runs/gates';
import { type Command, loadCliConfig, type Options, parse, runIdArg } from './common';

const OPTIONS = {
  by: { type: 'string' },
  key: { type: 'string' },
  digest: { type: 'string' },
  comment: { type: 'string' },
  ...JSON_OPTION,
} satisfies Options;

/** sha256: and 16 hex digits: a prefix nobody can match with another plan by trying. */
const MIN_DIGEST = 23;

/** Refuses a gate other than the one the approver read: by --digest, or by asking on a terminal. */
async function confirmGate(kind: DecisionKind, gate: PendingGate, digest?: string): Promise<void> {
  if (digest !== undefined) {
    if (digest.length < MIN_DIGEST)
      throw new CliError(
        `--digest ${digest} is too short: give at least ${MIN_DIGEST} characters (sha256: and 16 hex digits) of the digest rekey status shows`,
      );
    if (!gate.digest?.startsWith(digest))
      throw new CliError(
        `the plan at the gate is ${gate.digest ?? 'a run of an older rekey'}, not ${digest}: read it again (rekey status) and decide on that one`,
      );
    return;
  }
  console.log(`${gate.name}: ${gate.summary}\ndigest: ${gate.digest}`);
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`${kind} this plan? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new CliError(`not ${DONE[kind]}: nothing was sent`);
  } finally {
    rl.close();
  }
}

const DONE: Record<DecisionKind, string> = {
  approve: 'approved',
  reject: 'rejected',
  expedite: 'expedited',
};

/** approve / reject / expedite: an Update the run's validator checks (signature, digest, approver). */
function decide(kind: DecisionKind): (args: string[]) => Promise<number> {
  return async (args) => {
    const { values, positionals } = parse(args, OPTIONS, 1);
    const id = runIdArg(positionals, kind);
    if (!values.by) throw new CliError(`${kind} needs --by NAME (a configured approver)`);
    if (!values.digest && values.json)
      throw new CliError(`${kind} --json needs --digest PREFIX (it asks no question on a terminal)`);
    if (!values.digest && !(process.stdin.isTTY && process.stdout.isTTY))
      throw new CliError(
        `${kind} needs --digest PREFIX, the plan digest (or its first ${MIN_DIGEST}+ characters) that rekey status ${id} shows: you decide on the plan you read`,
      );
    const config = loadCliConfig(values.config);
    const by = values.by;
    return withClient(
      async (client) => {
        const decided = await decideGate(client, config, await runBehind(client, id, 'act'), kind, {
          by,
          ...(values.comment ? { comment: values.comment } : {}),
          ...(values.key ? { keyFile: values.key } : {}),
          confirm: (gate) => confirmGate(kind, gate, values.digest),
          taskQueue: taskQueue(),
        });
        const { result } = decided;
        if (values.json) {
          printJson('decision', {
            workflowId: decided.id,
            decision: kind,
            by,
            gate: decided.summary,
            outcome: result?.outcome ?? 'signalled',
            ...(result ? { approvedBy: result.approvedBy, required: result.required } : {}),
          });
          return 0;
        }
        console.log(`${DONE[kind]} ${decided.id} as ${by}: ${decided.summary}`);
        if (!result) console.log(`sent as a signal (a run of an older rekey); see rekey status ${id}`);
        else if (result.outcome === 'waiting')
          console.log(
            `waiting for ${result.required - result.approvedBy.length} more approval(s) (so far: ${result.approvedBy.join(', ')})`,
          );
        else if (kind === 'expedite')
          console.log('the wait ends now and the old key is removed next; tokens it signed stop working');
        else
          console.log(
            result.outcome === 'passed'
              ? 'the gate is passed: the run goes on'
              : 'the run ends; nothing more is changed',
          );
        return 0;
      },
      { needsWorker: true, config },
    );
  };
}

const usage = (
  kind: DecisionKind,
  what: string,
  example = 'rotate-jwt/prod',
) => `rekey ${kind} ID --by NAME [--key FILE] [--digest PREFIX] [--comment T] [--config F] [--json]

${what}, as a Workflow Update the run checks: NAME must be a configured approver, the decision
names the digest of the plan shown at the gate, and on signed gates carries NAME's SSH signature
over "${kind} <digest>", made with ssh-keygen -Y sign from --key FILE or ssh-agent. A refused
decision changes nothing (exit 2). Off a terminal --digest is required (the digest, or its first
23+ characters, that rekey status ID shows); on a terminal rekey shows the plan and asks.
--json: the decision and where the gate stands, one document (schemas/decision.schema.json).

Example:
  rekey ${kind} ${example} --by alice --key ~/.ssh/id_ed25519 --digest sha256:3f2a9c41d0e7b85a`;

export const approve: Command = {
  usage: usage('approve', "Approves a run's gate"),
  options: OPTIONS,
  positionals: 1,
  run: decide('approve'),
};
export const reject: Command = {
  usage: usage('reject', "Refuses a run's gate (the run ends)"),
  options: OPTIONS,
  positionals: 1,
  run: decide('reject'),
};
export const expedite: Command = {
  usage: usage('expedite', "Ends a rollover's wait early (the old key is removed next)", 'rollover/api'),
  options: OPTIONS,
  positionals: 1,
  run: decide('expedite'),
};
