// Hosts over real sshd (host keys pinned) and on this machine, through one interface.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { HostConfig } from '../config/schema';
import { openHost, withHost } from '../hosts/connect';
import type { Host } from '../hosts/types';
import { namedFailure } from './assertions';
import { type TestHost, testEnv } from './infra/env';

function sshConfig(h: TestHost, overrides: Partial<Extract<HostConfig, { type: 'ssh' }>> = {}): HostConfig {
  return {
    type: 'ssh',
    address: h.address,
    port: h.port,
    user: h.user,
    identityFile: h.identityFile,
    knownHosts: h.knownHosts,
    appDir: join(h.appDir, 'hosts-test'),
    dataDir: join(h.appDir, 'hosts-test', 'data'),
    ...overrides,
  };
}

async function contract(host: Host) {
  const dir = join(host.appDir, `contract-${Date.now()}`);
  const res = await host.exec('echo out; echo err >&2; exit 3');
  assert.deepEqual(res, { code: 3, stdout: 'out\n', stderr: 'err\n' });
  assert.equal((await host.exec('pwd', { cwd: '/tmp' })).stdout.trim(), '/tmp');
  await assert.rejects(host.exec('sleep 5', { timeoutMs: 300 }), /timed out after 0.3s/);
  // Timed out means stopped on the host too, children included, not only a closed channel.
  await assert.rejects(host.exec('sleep 3141 & wait', { timeoutMs: 500 }), /timed out/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await host.exec("pgrep -f 'slee[p] 3141' || true")).stdout, '', 'nothing left running');

  const priv = join(dir, 'keys', 'id_ecdsa');
  const pub = join(dir, 'keys', 'id_ecdsa.pub');
  await host.writeFileAtomic(priv, 'private\n', 0o600);
  await host.writeFileAtomic(pub, 'public\n', 0o644);
  assert.equal((await host.readFile(priv))?.toString(), 'private\n');
  assert.deepEqual(await host.stat(priv), { mode: 0o600, size: 8, directory: false });
  assert.deepEqual(await host.stat(pub), { mode: 0o644, size: 7, directory: false });
  await host.writeFileAtomic(priv, 'replaced\n', 0o600); // rename over an existing target
  assert.equal((await host.readFile(priv))?.toString(), 'replaced\n');
  const listing = (await host.exec(`ls -A ${join(dir, 'keys')}`)).stdout.split('\n').filter(Boolean).sort();
  assert.deepEqual(listing, ['id_ecdsa', 'id_ecdsa.pub'], 'no temp files left behind');
  // A file where the directory should be: a clear refusal, not a retried transfer error.
  await assert.rejects(host.writeFileAtomic(join(priv, 'nested'), 'x', 0o600), /not a directory/);
  assert.equal(await host.readFile(join(dir, 'absent')), null);
  assert.equal(await host.stat(join(dir, 'absent')), null);
  await host.remove(priv);
  assert.equal(await host.stat(priv), null);
  await host.remove(priv); // removing a missing file is fine
}

describe('hosts', () => {
  it('SSH host: exec, atomic writes with modes, reads, stat, remove', async () => {
    await withHost('prod', sshConfig(testEnv().hosts.prod), contract);
  });

  it('local host: the same contract', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-local-host-'));
    await withHost('workstation', { type: 'local', appDir: dir, dataDir: join(dir, 'data') }, contract);
  });

  it('accepts a hashed known_hosts entry (ssh-keygen -H)', async () => {
    const h = testEnv().hosts.test;
    const dir = mkdtempSync(join(tmpdir(), 'rekey-kh-'));
    const kh = join(dir, 'known_hosts');
    writeFileSync(kh, readFileSync(h.knownHosts));
    execFileSync('ssh-keygen', ['-q', '-H', '-f', kh]);
    assert.match(readFileSync(kh, 'utf8'), /^\|1\|/);
    await withHost('test', sshConfig(h, { knownHosts: kh }), async (host) => {
      assert.equal((await host.exec('echo ok')).stdout, 'ok\n');
    });
  });

  it('refuses an unknown host key and writes nothing', async () => {
    const h = testEnv().hosts.dev;
    const dir = mkdtempSync(join(tmpdir(), 'rekey-kh-'));
    const kh = join(dir, 'known_hosts');
    // Pins for the other two hosts only.
    writeFileSync(
      kh,
      readFileSync(h.knownHosts, 'utf8')
        .split('\n')
        .filter((l) => !l.includes(h.address))
        .join('\n'),
    );
    await assert.rejects(
      openHost('dev', sshConfig(h, { knownHosts: kh })),
      namedFailure(
        'HostKeyMismatch',
        /^host dev \(127\.0\.0\.4:2222\): host key refused: no pinned key for \[127\.0\.0\.4\]:2222; presented SHA256:/,
      ),
    );
  });

  it('refuses a changed host key', async () => {
    const h = testEnv().hosts.dev;
    const dir = mkdtempSync(join(tmpdir(), 'rekey-kh-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other')]);
    const [type, key] = readFileSync(join(dir, 'other.pub'), 'utf8').split(/\s+/);
    const kh = join(dir, 'known_hosts');
    writeFileSync(kh, `[${h.address}]:${h.port} ${type} ${key}\n`);
    const marker = join(h.appDir, 'hosts-test', `never-${Date.now()}`);
    await assert.rejects(
      withHost('dev', sshConfig(h, { knownHosts: kh }), (host) => host.writeFileAtomic(marker, 'x', 0o600)),
      namedFailure('HostKeyMismatch', /the key differs from the one pinned for \[127\.0\.0\.4\]:2222/),
    );
    await withHost('dev', sshConfig(h), async (host) => assert.equal(await host.stat(marker), null));
  });

  it('refuses a pinned key that a @revoked line revokes', async () => {
    const h = testEnv().hosts.dev;
    const dir = mkdtempSync(join(tmpdir(), 'rekey-kh-'));
    const pins = readFileSync(h.knownHosts, 'utf8');
    const devPin = pins.split('\n').find((l) => l.startsWith(`[${h.address}]:${h.port} `)) ?? '';
    const [, type, key] = devPin.split(/\s+/);
    assert.ok(type && key, 'dev is pinned');
    const kh = join(dir, 'known_hosts');
    writeFileSync(kh, `${pins}\n@revoked * ${type} ${key}\n`);
    await assert.rejects(
      openHost('dev', sshConfig(h, { knownHosts: kh })),
      namedFailure('HostKeyMismatch', /the key presented by \[127\.0\.0\.4\]:2222 is marked @revoked/),
    );
  });

  it('names an unreachable host in a retryable error', async () => {
    const h = testEnv().hosts.prod;
    await assert.rejects(openHost('ghost', sshConfig(h, { address: '127.0.0.9' })), (err: Error) => {
      assert.ok(!(err instanceof ApplicationFailure), 'retryable, not a named failure');
      assert.match(err.message, /^host ghost \(127\.0\.0\.9:2222\) unreachable: ECONNREFUSED/);
      return true;
    });
  });

  it('names a missing known_hosts or identity file', async () => {
    const h = testEnv().hosts.prod;
    await assert.rejects(
      openHost('prod', sshConfig(h, { knownHosts: '/nonexistent/known_hosts' })),
      /cannot read known_hosts \/nonexistent\/known_hosts \(ENOENT\)/,
    );
    await assert.rejects(
      openHost('prod', sshConfig(h, { identityFile: '/nonexistent/key' })),
      /cannot read identity file \/nonexistent\/key \(ENOENT\)/,
    );
  });
});
