// Three real OpenSSH servers as the prod, test and dev hosts: one sshd each on its own loopback
// address, with its own host key, app dir and data dir. The client key is authorised on all
// three and their host keys are pinned in a generated known_hosts.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { HOST_NAMES, type HostName, type TestHost } from './env';
import { stopByPidFile, waitForPort } from './process';

export const SSH_PORT = 2222;
export const HOST_ADDRESSES: Record<HostName, string> = {
  prod: '127.0.0.2',
  test: '127.0.0.3',
  dev: '127.0.0.4',
};

function keygen(file: string, comment: string): void {
  if (!existsSync(file))
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

/**
 * `setEnv` is every SSH session's environment (PATH first: the docker compose shim for the usual
 * hosts, the real docker CLI for the hosts of a Docker engine); `port` lets a second set of hosts
 * listen on the same addresses.
 */
export async function startHosts(
  root: string,
  setEnv: Record<string, string>,
  port = SSH_PORT,
): Promise<Record<HostName, TestHost>> {
  const sshDir = join(root, 'ssh');
  mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const clientKey = join(sshDir, 'client_key');
  keygen(clientKey, 'rekey-test-client');
  const authorized = join(sshDir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${clientKey}.pub`), { mode: 0o600 });
  const knownHosts = join(sshDir, 'known_hosts');
  const pins: string[] = [];
  const hosts = {} as Record<HostName, TestHost>;

  for (const name of HOST_NAMES) {
    const dir = join(root, 'hosts', name);
    const address = HOST_ADDRESSES[name];
    const appDir = join(dir, 'app');
    const dataDir = join(appDir, 'data');
    mkdirSync(join(dir, 'ssh'), { recursive: true, mode: 0o700 });
    mkdirSync(dataDir, { recursive: true });
    const hostKey = join(dir, 'ssh', 'ssh_host_ed25519_key');
    keygen(hostKey, `rekey-test-${name}`);
    const config = join(dir, 'ssh', 'sshd_config');
    writeFileSync(
      config,
      [
        `ListenAddress ${address}`,
        `Port ${port}`,
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, 'ssh', 'sshd.pid')}`,
        `AuthorizedKeysFile ${authorized}`,
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'StrictModes no',
        'UsePAM no',
        // internal-sftp supports fsync@openssh.com and posix-rename@openssh.com.
        'Subsystem sftp internal-sftp',
        `SetEnv ${Object.entries(setEnv)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
        'MaxSessions 50',
        'MaxStartups 100:30:200',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    const [type, key] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
    pins.push(`[${address}]:${port} ${type} ${key}`);
    execFileSync('/usr/sbin/sshd', ['-f', config, '-E', join(dir, 'ssh', 'sshd.log')]);
    hosts[name] = {
      address,
      port,
      user: userInfo().username,
      identityFile: clientKey,
      knownHosts,
      appDir,
      dataDir,
      servicePort: 3003,
    };
  }
  writeFileSync(knownHosts, `${pins.join('\n')}\n`);
  await Promise.all(HOST_NAMES.map((n) => waitForPort(HOST_ADDRESSES[n], port, `sshd for ${n}`)));
  return hosts;
}

export async function stopHosts(root: string): Promise<void> {
  for (const name of HOST_NAMES) stopByPidFile(join(root, 'hosts', name, 'ssh', 'sshd.pid'));
  // Stand-ins a failed test left running under the test root.
  spawnSync('pkill', ['-f', `quickstart/spacetimedb-standin.js serve --app-dir ${root}`]);
}
