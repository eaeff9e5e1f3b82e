// rekey worker: runs a worker until SIGINT/SIGTERM.

import { resolve } from 'node:path';
import { runWorker } from '../../worker/main';
import { type Command, configPath, loadCliConfig, parse } from './common';

async function worker(args: string[]): Promise<number> {
  const { values } = parse(args, {});
  await runWorker(loadCliConfig(values.config), resolve(configPath(values.config)));
  return 0;
}

export const command: Command = {
  usage: `rekey worker [--config F]

Runs a rekey worker (task queue "rekey", or $REKEY_TASK_QUEUE) until SIGINT/SIGTERM, then lets
the activities in flight finish. Prints one line when it polls and one when it has stopped; the
Temporal SDK's own log lines with REKEY_LOG_LEVEL=INFO (TRACE, DEBUG, INFO, WARN, ERROR).

Exit codes: 0 stopped by a signal; 1 the Temporal server cannot be reached; 2 a bad config.`,
  options: {},
  run: worker,
};
