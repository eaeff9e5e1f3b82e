// rekey cancel: asks a run to stop. Its undo runs before it ends: a rotation puts back what it had
// changed, a promotion's hop restores the destination's snapshot and starts it, a stopped source
// is started again. The command waits for that and prints what the undo did.
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { errorText } from '../../workflows/errors';
import { CliError } from '../cli-error';
import { formatProgress } from '../format';
import { JSON_OPTION, printJson } from '../json';
import { cancelRun, followRun, progressOf, runBehind, withClient } from '../runs/common';
import { type Command, type Options, optionalCliConfig, parse, runIdArg } from './common';

const OPTIONS = { reason: { type: 'string' }, ...JSON_OPTION } satisfies Options;

async function cancel(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 1);
  const given = runIdArg(positionals, 'cancel');
  return withClient(
    async (client) => {
      // Never the lock a run holds under a secret's id: cancelling it would free the secret.
      const id = await runBehind(client, given, 'act');
      const handle = client.workflow.getHandle(id);
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING')
        throw new CliError(`${id} is not running: it is ${status.name.toLowerCase()}`);
      await cancelRun(client, id, values.reason ?? 'cancelled with rekey cancel');
      // With --json, only the document goes to stdout.
      const say = (line: string) => (values.json ? undefined : console.log(line));
      say(`cancel requested for ${id}; its undo runs now (waiting for it to end)`);
      let outcome: 'cancelled' | 'completed' | 'undo-failed' = 'completed';
      let failure: string | undefined;
      try {
        await followRun(client, handle, { quiet: values.json });
        say(`${id} completed before the cancel took effect`);
      } catch (err) {
        const cancelled = err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure;
        // Not cancelled: the undo itself failed (a snapshot gone, a source that did not start).
        outcome = cancelled ? 'cancelled' : 'undo-failed';
        if (!cancelled) failure = errorText(err);
        say(cancelled ? `${id}: cancelled` : `${id}: FAILED while stopping: ${failure}`);
      }
      const code = outcome === 'undo-failed' ? 1 : 0;
      const progress = await progressOf(client, id).catch(() => undefined);
      if (values.json)
        printJson('cancel', {
          workflowId: id,
          outcome,
          ...(failure ? { failure } : {}),
          ...(progress
            ? {
                steps: progress.steps.map((s) => ({
                  name: s.name,
                  status: s.status,
                  ...(s.detail ? { detail: s.detail } : {}),
                })),
              }
            : {}),
        });
      else if (progress) console.log(formatProgress(progress));
      return code;
    },
    { needsWorker: true, config: optionalCliConfig(values.config) },
  );
}

export const command: Command = {
  usage: `rekey cancel ID [--reason TEXT] [--json]

Asks a running run to stop and waits while its undo runs: a rotation puts the previous keys back
in the stores and on the hosts it had changed; a promotion's hop restores the destination from its
snapshot (once the copy had begun) and starts it; a source stopped for a final pass is started
again. Prints the run's steps at the end, the undo among them. Needs a worker on the task queue.
A run that cannot be cancelled (its worker gone for good) can be terminated with the temporal CLI
(temporal workflow terminate --workflow-id ID): then no undo runs.

Options:
  --reason TEXT   recorded with the cancel request in the run's history
  --json          how it ended and its steps, one document (schemas/cancel.schema.json)

Exit codes: 0 the run ended (cancelled, or completed first); 1 its undo failed (the output says
what was left); 2 no such run, or not running.

Example:
  rekey cancel promote/prod..test..dev --reason "wrong source"`,
  options: OPTIONS,
  positionals: 1,
  run: cancel,
};
