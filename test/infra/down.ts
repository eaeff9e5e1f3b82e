// Stops the servers test/infra/up.ts started.
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
}

main().catch((err) => {
  console.error(`stopping test servers: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
