// The test servers' addresses, written by test/infra/up.ts and read by every integration test.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const TEST_ROOT = process.env.REKEY_TEST_ROOT ?? '/tmp/rekey-test';
export const ENV_FILE = join(TEST_ROOT, 'env.json');

/** Namespaces made at server start: one per suite that starts runs, since workflow ids carry
 * intent (rotate-jwt/prod) and two suites may rotate the same environments at once. */
export const TEST_NAMESPACES = [
  'rotate',
  'rotate-crash',
  'cli-temporal',
  'schedules',
  'rollover',
  'promote',
  'promote-crash',
  'safety',
  'approvals',
  'web-ui',
  'spacetimedb',
  'bench',
  'readme',
  'codec',
  'secrets',
  'guide-paths',
  'notify',
  'metrics',
  'secret-batch',
] as const;

export type HostName = 'prod' | 'test' | 'dev';
export const HOST_NAMES: HostName[] = ['prod', 'test', 'dev'];

export interface TestHost {
  /** Loopback address of this host's sshd and stand-in service. */
  address: string;
  port: number;
  user: string;
  identityFile: string;
  /** known_hosts pinning all three test hosts. */
  knownHosts: string;
  appDir: string;
  dataDir: string;
  /** Port of the SpacetimeDB stand-in on `address`. */
  servicePort: number;
}

export interface TestEnv {
  root: string;
  temporal: { address: string; namespace: string; uiPort: number; cliPath: string };
  /** Wrapper script that starts the Java time-skipping test server: `<path> <port>`. */
  timeSkippingServerPath: string;
  /** One vault per hosted environment, each on its own loopback address. */
  keyVault: { vaults: Record<HostName, string>; caCertPath: string };
  hosts: Record<HostName, TestHost>;
  /** moto_server: SSM Parameter Store and S3. */
  aws: { endpoint: string; region: string };
  /** The venv's python (moto, cryptography). */
  python: string;
  /** Directory with the docker compose shim (`docker`) to put first on PATH. */
  shimBin: string;
}

export function testEnv(): TestEnv {
  try {
    return JSON.parse(readFileSync(ENV_FILE, 'utf8')) as TestEnv;
  } catch {
    throw new Error(`test servers are not running (no ${ENV_FILE}); run the tests with "npm test"`);
  }
}
