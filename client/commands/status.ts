// rekey status: where a run is.
import { formatProgress } from '../format';
import { progressOf, runBehind, withClient } from '../runs';
import { type Command, type Options, optionalCliConfig, parse, runIdArg } from './common';

const OPTIONS = {} satisfies Options;

async function status(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 1);
  const given = runIdArg(positionals, 'status');
  return withClient(
    async (client) => {
      const id = await runBehind(client, given);
      const desc = await client.workflow.getHandle(id).describe();
      console.log(`${id}: ${desc.status.name}`);
      const progress = await progressOf(client, id);
      console.log(formatProgress(progress));
      // A promotion's hop runs as a child workflow: show where it is too.
      if (progress.childWorkflowId && progress.state === 'running') {
        const child = await progressOf(client, progress.childWorkflowId).catch(() => undefined);
        if (child) console.log(`${progress.childWorkflowId}:\n${formatProgress(child)}`);
      }
      return ['FAILED', 'TERMINATED', 'CANCELLED', 'TIMED_OUT'].includes(desc.status.name) ? 1 : 0;
    },
    { config: optionalCliConfig(values.config) },
  );
}

export const command: Command = {
  usage: `rekey status ID

Steps of a run and their state, the pending gate (plan, digest, approvers) and the decisions; for
a promotion also the running hop and its copy (bytes, current file). Exit 1 for a run that failed.

Example:
  rekey status rotate-jwt/prod`,
  options: OPTIONS,
  positionals: 1,
  run: status,
};
