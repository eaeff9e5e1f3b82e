// moto_server (PyPI moto[server]): AWS SSM Parameter Store and S3 for the secret recipes' tests.
// One server for the run; suites keep apart by parameter path (/<suite>/...).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startDetached, stopByPidFile, waitForPort } from './process';

export const MOTO_PORT = 15000;

export async function startMoto(root: string, motoServer: string) {
  const dir = join(root, 'moto');
  mkdirSync(dir, { recursive: true });
  startDetached(
    motoServer,
    ['-H', '127.0.0.1', '-p', String(MOTO_PORT)],
    join(dir, 'server.log'),
    join(dir, 'pid'),
  );
  await waitForPort('127.0.0.1', MOTO_PORT, 'moto_server');
  return { endpoint: `http://127.0.0.1:${MOTO_PORT}`, region: 'us-east-1' };
}

export function stopMoto(root: string): void {
  stopByPidFile(join(root, 'moto', 'pid'));
}
