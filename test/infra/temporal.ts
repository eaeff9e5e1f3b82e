// The real Temporal server for integration tests: the Temporal CLI dev server (with Web UI),
// persisted to SQLite with the pragmas the TS SDK's own stress CI uses.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_NAMESPACES } from './env';
import { startDetached, stopByPidFile, waitForPort } from './process';

export const TEMPORAL_PORT = 17233;
export const TEMPORAL_UI_PORT = 18233;

export async function startTemporal(root: string, cliPath: string) {
  const dir = join(root, 'temporal');
  mkdirSync(dir, { recursive: true });
  startDetached(
    cliPath,
    [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(TEMPORAL_PORT),
      '--ui-port',
      String(TEMPORAL_UI_PORT),
      '--db-filename',
      join(dir, 'temporal.db'),
      '--sqlite-pragma',
      'journal_mode=WAL',
      '--sqlite-pragma',
      'synchronous=OFF',
      '--log-level',
      'warn',
      // As in deploy/temporal/dynamicconfig.yaml: an activity a workflow task schedules goes back
      // to its worker in the task's answer instead of through the activity queue.
      '--dynamic-config-value',
      'system.enableActivityEagerExecution=true',
      ...TEST_NAMESPACES.flatMap((ns) => ['--namespace', ns]),
    ],
    join(dir, 'server.log'),
    join(dir, 'pid'),
  );
  await waitForPort('127.0.0.1', TEMPORAL_PORT, 'Temporal dev server');
  return { address: `127.0.0.1:${TEMPORAL_PORT}`, namespace: 'default', uiPort: TEMPORAL_UI_PORT, cliPath };
}

export function stopTemporal(root: string): void {
  stopByPidFile(join(root, 'temporal', 'pid'));
}
