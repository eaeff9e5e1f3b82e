// Stops the servers test/infra/up.ts started.
import { join } from 'node:path';
import { stopDocker } from './docker';
import { TEST_ROOT } from './env';
import { stopKeyVault } from './keyvault-standin';
import { stopMoto } from './moto';
import { stopHosts } from './sshd';
import { stopTemporal } from './temporal';

async function main() {
  stopTemporal(TEST_ROOT);
  stopMoto(TEST_ROOT);
  await stopKeyVault(TEST_ROOT);
  await stopHosts(TEST_ROOT);
  // What the suites with a Docker engine left when they were killed.
  stopDocker(join(TEST_ROOT, 'docker'));
  stopDocker(join(TEST_ROOT, 'compose-deployment/engine'));
  await stopHosts(join(TEST_ROOT, 'docker-hosts'));
}

main().catch((err) => {
  console.error(`stopping test servers: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
