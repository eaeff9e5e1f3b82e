// rekey status: where a run is.
import { typesThat } from '../../shared/workflow-types';
import { CliError } from '../cli-error';
import { formatProgress } from '../format';
import { JSON_OPTION, printJson } from '../json';
import { runNotifications } from '../notifications';
import { progressOf, runBehind, withClient } from '../runs/common';
import { type Command, type Options, optionalCliConfig, parse, runIdArg } from './common';

const OPTIONS = { ...JSON_OPTION } satisfies Options;

/** The workflow types that answer the progress query (they keep a ProgressTracker). */
const WITH_PROGRESS = typesThat('progress');

async function status(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 1);
  const given = runIdArg(positionals, 'status');
  return withClient(
    async (client) => {
      const id = await runBehind(client, given, 'read');
      const desc = await client.workflow.getHandle(id).describe();
      // Only rekey's runs keep steps to show; asking another workflow would fail opaquely.
      if (!WITH_PROGRESS.has(desc.type)) {
        if (!values.json) console.log(`${id}: ${desc.status.name}`);
        throw new CliError(
          `${id} is a ${desc.type} on task queue ${desc.taskQueue}, not a rekey run: it has no steps to show`,
        );
      }
      const progress = await progressOf(client, id);
      // A promotion's hop runs as a child workflow: shown too while it runs.
      const child =
        progress.childWorkflowId && progress.state === 'running'
          ? await progressOf(client, progress.childWorkflowId).catch(() => undefined)
          : undefined;
      // What became of its events; a history that cannot be read does not hide the run's state.
      const notifications = await runNotifications(client, id).catch(() => []);
      if (values.json) {
        printJson('status', {
          workflowId: id,
          type: desc.type,
          status: desc.status.name,
          progress,
          ...(child ? { hop: { workflowId: progress.childWorkflowId, progress: child } } : {}),
          ...(notifications.length ? { notifications } : {}),
        });
      } else {
        console.log(`${id}: ${desc.status.name}`);
        console.log(formatProgress(progress));
        if (child) console.log(`${progress.childWorkflowId}:\n${formatProgress(child)}`);
        if (notifications.length)
          console.log(
            `notifications:\n${notifications.map((n) => `  ${n.event}: ${n.status}${n.detail ? ` (${n.detail})` : ''}`).join('\n')}`,
          );
      }
      return ['FAILED', 'TERMINATED', 'CANCELLED', 'TIMED_OUT'].includes(desc.status.name) ? 1 : 0;
    },
    { config: optionalCliConfig(values.config) },
  );
}

export const command: Command = {
  usage: `rekey status ID [--json]

Steps of a run and their state, the pending gate (plan, digest, approvers) and the decisions; for
a promotion also the running hop and its copy (bytes, current file); where notify: routes its
events, what became of each (delivered, retrying and why, failed). Exit 1 for a run that failed.
--json: one JSON document (schemas/status.schema.json): the run's status and its progress as the
run reports it (steps, pending gate with its digest, decisions).

Example:
  rekey status rotate-jwt/prod`,
  options: OPTIONS,
  positionals: 1,
  run: status,
};
