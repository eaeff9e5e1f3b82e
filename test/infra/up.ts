// Starts every server the integration tests use and writes their addresses to env.json.
// Run by test/infra/run-tests.sh after provision.sh; test/infra/down.ts stops them again.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ENV_FILE, TEST_ROOT, type TestEnv } from './env';
import { startKeyVault } from './keyvault-standin';
import { startMoto } from './moto';
import { startHosts } from './sshd';
import { startTemporal } from './temporal';

async function main() {
  const cache = process.env.REKEY_CACHE ?? join(homedir(), '.cache', 'rekey');
  rmSync(TEST_ROOT, { recursive: true, force: true });
  mkdirSync(TEST_ROOT, { recursive: true });
  // The compose shim (the quickstart's) and the test stand-ins' commands (az, flyctl).
  const shimBin = resolve(__dirname, '../../../quickstart/bin');
  const testBin = resolve(__dirname, '../../../test/infra/shim');
  const [temporal, keyVault, hosts, aws] = await Promise.all([
    startTemporal(TEST_ROOT, join(cache, 'bin', 'temporal')),
    startKeyVault(TEST_ROOT),
    startHosts(TEST_ROOT, { PATH: `${shimBin}:${testBin}:/usr/local/bin:/usr/bin:/bin` }),
    startMoto(TEST_ROOT, join(cache, 'pyenv', 'bin', 'moto_server')),
  ]);
  const env: TestEnv = {
    root: TEST_ROOT,
    temporal,
    timeSkippingServerPath: join(cache, 'bin', 'temporal-test-server'),
    keyVault: { vaults: keyVault.vaults, caCertPath: keyVault.caCertPath },
    hosts,
    aws,
    python: join(cache, 'pyenv', 'bin', 'python'),
    shimBin,
  };
  writeFileSync(ENV_FILE, JSON.stringify(env, null, 2));
  console.log(
    `test servers up: Temporal ${temporal.address} (Web UI :${temporal.uiPort}), moto ${aws.endpoint}, Key Vault stand-in ${Object.values(keyVault.vaults).join(' ')}, sshd ${Object.values(
      hosts,
    )
      .map((h) => `${h.address}:${h.port}`)
      .join(' ')}`,
  );
}

main().catch((err) => {
  console.error(`test servers failed to start: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
