// `rekey worker`: runs until SIGINT/SIGTERM, then shuts down gracefully (in-flight activities
// finish or are cancelled; workflows resume on the next worker).
import { NativeConnection } from '@temporalio/worker';
import { connectConfig } from '../client/connection';
import { loadConfig } from '../config/load';
import { createRekeyWorker } from './worker';

export async function runWorker(configFile: string): Promise<void> {
  const config = loadConfig(configFile);
  const { connectionOptions, namespace } = connectConfig();
  const connection = await NativeConnection.connect(connectionOptions);
  try {
    const worker = await createRekeyWorker({ config, connection, namespace });
    console.log(
      `rekey worker: ${connectionOptions.address} namespace ${namespace}, task queue ${worker.options.taskQueue}`,
    );
    await worker.run();
  } finally {
    await connection.close();
  }
}
