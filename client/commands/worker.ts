// rekey worker: runs a worker until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { runWorker } from '../../worker/main';
import { type Command, configPath } from './common';

async function worker(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
  await runWorker(configPath(values.config));
  return 0;
}

export const command: Command = {
  usage: `rekey worker [--config F]

Runs a rekey worker (task queue "rekey", or $REKEY_TASK_QUEUE) until SIGINT/SIGTERM.`,
  run: worker,
};
