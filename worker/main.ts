// `rekey worker`: runs until SIGINT/SIGTERM, then shuts down gracefully (in-flight activities
// finish or are cancelled; workflows resume on the next worker).
import { DefaultLogger, type LogLevel, NativeConnection, Runtime } from '@temporalio/worker';
import { CliError } from '../client/cli-error';
import { connectConfig } from '../client/connection';
import type { Config } from '../config/schema';
import { createRekeyWorker } from './worker';

const LEVELS: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

export async function runWorker(config: Config, configFile?: string): Promise<void> {
  // One line at start and one at stop; the SDK's own INFO lines (state changes) with
  // REKEY_LOG_LEVEL=INFO (or DEBUG, TRACE).
  const level = process.env.REKEY_LOG_LEVEL ?? 'WARN';
  if (!LEVELS.includes(level as LogLevel))
    throw new CliError(`REKEY_LOG_LEVEL=${level}: use one of ${LEVELS.join(', ')}`);
  Runtime.install({ logger: new DefaultLogger(level as LogLevel) });
  const { connectionOptions, namespace } = connectConfig();
  const connection = await NativeConnection.connect(connectionOptions).catch((err: Error) => {
    throw new CliError(
      `cannot reach the Temporal server at ${connectionOptions.address} (${err.message}): set TEMPORAL_ADDRESS=host:port or a temporal.toml profile (TEMPORAL_PROFILE)`,
      1,
    );
  });
  try {
    const worker = await createRekeyWorker({ config, connection, namespace, configFile });
    console.log(
      `rekey worker: ${connectionOptions.address} namespace ${namespace}, task queue ${worker.options.taskQueue}`,
    );
    await worker.run();
    console.log('rekey worker: stopped');
  } finally {
    await connection.close();
  }
}
