// rekey worker: runs a worker until SIGINT/SIGTERM.
import { runWorker } from '../../worker/main';
import { type Command, loadCliConfig, parse } from './common';

async function worker(args: string[]): Promise<number> {
  const { values } = parse(args, {});
  await runWorker(loadCliConfig(values.config));
  return 0;
}

export const command: Command = {
  usage: `rekey worker [--config F]

Runs a rekey worker (task queue "rekey", or $REKEY_TASK_QUEUE) until SIGINT/SIGTERM.`,
  options: {},
  run: worker,
};
