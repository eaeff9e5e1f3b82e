// `rekey worker`: runs until SIGINT/SIGTERM, then shuts down gracefully (in-flight activities
// finish or are cancelled; workflows resume on the next worker).
import { NativeConnection } from '@temporalio/worker';
import { connectConfig } from '../client/connection';
import type { Config } from '../config/schema';
import { createRekeyWorker } from './worker';

export async function runWorker(config: Config): Promise<void> {
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
