// What a starter and a worker compare (config/run-config.ts): the parts of rekey.yaml a run uses,
// each as a digest. Paths to local files differ between an approver's laptop and the worker's
// host and are left out; what the run acts on (a host's address and data dir, the approval rules,
// a recipe) is in.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../../config/load';
import { differingParts, starterConfigOf } from '../../config/run-config';

const doc = (
  over: { identityFile?: string; dataDir?: string; requiredFor?: string[]; dir?: string } = {},
) => ({
  stores: { files: { type: 'file', dir: over.dir ?? '/srv/rekey/secrets' } },
  hosts: {
    vm: {
      type: 'ssh',
      address: '10.0.0.5',
      user: 'deploy',
      identityFile: over.identityFile ?? '/etc/rekey/deploy/ssh/id_ed25519',
      knownHosts: '/etc/rekey/deploy/ssh/known_hosts',
      appDir: '/opt/app',
      dataDir: over.dataDir ?? '/opt/app/data',
    },
  },
  services: { app: { driver: 'command', start: 'true', stop: 'true', restart: 'true', logs: 'true' } },
  environments: { prod: { store: 'files', host: 'vm', service: 'app' } },
  keyGroups: { prod: ['prod'] },
  approvals: { requiredFor: over.requiredFor ?? [], approvers: ['alice', 'bob'], mode: 'named' },
});
const parts = (over: Parameters<typeof doc>[0] = {}) =>
  starterConfigOf(parseConfig(doc(over), join('/tmp', 'rekey.yaml')), {
    kind: 'rotate',
    environments: ['prod'],
  });

describe('starter and worker configs', () => {
  it('leave out local file paths, and name each part that differs', () => {
    const worker = parts();
    assert.deepEqual(
      differingParts(
        parts({ identityFile: '/home/alice/.ssh/id_ed25519', dir: '/home/alice/secrets' }),
        worker,
      ),
      [],
      "a laptop's key file and store dir are its own",
    );
    assert.deepEqual(differingParts(parts({ dataDir: '/opt/other' }), worker), ['prod host']);
    // A local host's dirs are resolved against each machine's config location: its own.
    const local = (appDir: string) =>
      starterConfigOf(
        parseConfig(
          { ...doc(), hosts: { vm: { type: 'local', appDir, dataDir: `${appDir}/data` } } },
          join('/tmp', 'rekey.yaml'),
        ),
        { kind: 'rotate', environments: ['prod'] },
      );
    assert.deepEqual(differingParts(local('/home/alice/app'), local('/srv/app')), []);
    // A recipe's location in another store: that store is part of what the run uses.
    const secret = (region: string) =>
      starterConfigOf(
        parseConfig(
          {
            ...doc(),
            stores: { ...doc().stores, ssm: { type: 'aws-ssm', region } },
            secrets: {
              token: {
                environments: ['prod'],
                generator: { type: 'random', bytes: 32, encoding: 'hex' },
                locations: [{ store: 'ssm', name: '/app/token' }],
              },
            },
          },
          join('/tmp', 'rekey.yaml'),
        ),
        { kind: 'secret', secret: 'token', environment: 'prod' },
      );
    assert.deepEqual(differingParts(secret('eu-west-1'), secret('us-east-1')), ['store ssm']);
    assert.deepEqual(differingParts(parts({ requiredFor: ['prod'] }), worker), ['prod approvals']);
    assert.deepEqual(Object.keys(worker).sort(), [
      'config schema',
      'prod approvals',
      'prod environment',
      'prod host',
      'prod service',
      'prod store',
    ]);
  });
});
