// Service drivers against the SpacetimeDB stand-in: compose (through the shim, over SSH) and a
// plain command set (on this machine). Markers decide the publish gate.
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { generateKeyPair } from '../activities/keys';
import type { ServiceConfig } from '../config/schema';
import { resolveOnHost } from '../hosts/types';
import { createServiceDriver, restartAndCheck } from '../services/service';
import { namedFailure } from './assertions';
import { portOf } from './infra/ports';
import { portOpen } from './infra/process';
import {
  buildTopology,
  publisherToken,
  type Seeded,
  seed,
  stopServices,
  type Topology,
  whoami,
} from './infra/topology';
import { until } from './infra/until';

describe('service drivers', () => {
  let t: Topology;
  let seeded: Seeded;
  before(async () => {
    t = buildTopology('service', portOf('service'));
    seeded = await seed(t);
  });
  after(() => stopServices(t));

  const compose = () => t.config.services.spacetimedb as ServiceConfig;

  it('compose: restart loads the key files again and the publish marker is seen', async () => {
    const host = await t.host('dev');
    try {
      const service = createServiceDriver(host, compose());
      await service.restart();
      const m = await service.waitForMarkers({});
      assert.equal(m.marker, 'PUBLISH_SUCCESS');
      assert.match(m.line, /^PUBLISH_SUCCESS database=spacetime/);
      assert.match(await service.logs(), new RegExp(`listening on 127\\.0\\.0\\.4:${portOf('service')}`));
      assert.equal((await whoami(t, 'dev', seeded.tokens.dev)).status, 200);
      const stranger = await publisherToken(generateKeyPair().privatePem, 'publisher-dev');
      assert.equal(
        (await whoami(t, 'dev', stranger)).status,
        401,
        'a token signed by another key is refused',
      );
      // New key files: only a restart makes the service read them.
      const keyDir = resolveOnHost(host, '.generated/spacetimedb-keys');
      const old = {
        priv: (await host.readFile(`${keyDir}/id_ecdsa`)) ?? '',
        pub: (await host.readFile(`${keyDir}/id_ecdsa.pub`)) ?? '',
      };
      const next = generateKeyPair();
      await host.writeFileAtomic(`${keyDir}/id_ecdsa`, next.privatePem, 0o600);
      await host.writeFileAtomic(`${keyDir}/id_ecdsa.pub`, next.publicPem, 0o644);
      const signedByNext = await publisherToken(next.privatePem, 'publisher-dev');
      assert.equal((await whoami(t, 'dev', signedByNext)).status, 401, 'not before the restart');
      await service.restart();
      await until(
        'dev to listen again',
        async () => (await portOpen('127.0.0.4', portOf('service'))) || undefined,
      );
      assert.equal((await whoami(t, 'dev', signedByNext)).status, 200, 'the restart loaded the new key');
      assert.equal((await whoami(t, 'dev', seeded.tokens.dev)).status, 401, 'and dropped the old one');
      await host.writeFileAtomic(`${keyDir}/id_ecdsa`, old.priv, 0o600);
      await host.writeFileAtomic(`${keyDir}/id_ecdsa.pub`, old.pub, 0o644);
      await service.restart();
      await service.waitForMarkers({});
      assert.equal((await whoami(t, 'dev', seeded.tokens.dev)).status, 200);
    } finally {
      await host.close();
    }
  });

  it('compose: stop closes the port, start brings it back', async () => {
    const host = await t.host('test');
    try {
      const service = createServiceDriver(host, compose());
      await service.stop();
      assert.equal(await portOpen('127.0.0.3', 3106), false);
      await service.start();
      await service.waitForMarkers({});
      assert.equal(await portOpen('127.0.0.3', 3106), true);
    } finally {
      await host.close();
    }
  });

  it('compose: a failure marker fails the gate with the marker line', async () => {
    const host = await t.host('prod');
    try {
      await host.writeFileAtomic(resolveOnHost(host, '.standin/fail-publish'), 'x', 0o644);
      const service = createServiceDriver(host, compose());
      await service.restart();
      await assert.rejects(
        service.waitForMarkers({}),
        namedFailure('PublishFailed', /^host vm-prod: PUBLISH_FAILED forced_by_test/),
      );
    } finally {
      await host.close();
    }
  });

  it('a 403 from an identity that does not own the database is a failure marker', async () => {
    const host = await t.host('prod');
    try {
      const key =
        (await host.readFile(resolveOnHost(host, '.generated/spacetimedb-keys/id_ecdsa')))?.toString() ?? '';
      const intruder = await publisherToken(key, 'someone-else');
      await host.writeFileAtomic(
        resolveOnHost(host, t.config.paths.cliToml),
        `spacetimedb_token = "${intruder}"\n`,
        0o600,
      );
      const service = createServiceDriver(host, compose());
      await service.restart();
      await assert.rejects(
        service.waitForMarkers({}),
        namedFailure(
          'PublishFailed',
          /403 Forbidden: not authorized to perform action.*\(403: the token's identity does not own the database/,
        ),
      );
      await host.writeFileAtomic(
        resolveOnHost(host, t.config.paths.cliToml),
        `spacetimedb_token = "${seeded.tokens.prod}"\n`,
        0o600,
      );
    } finally {
      await host.close();
    }
  });

  it('a publish command that exits 1 fails the gate, though the service start printed PUBLISH_SUCCESS', async () => {
    const host = await t.host('dev');
    try {
      const token = seeded.tokens.dev;
      // The failing publish prints a token and the server's 401, as a CLI might.
      const service = createServiceDriver(host, {
        ...compose(),
        publish: `echo "using token ${token}"; echo "Error: 401 Unauthorized: InvalidSignature" >&2; exit 1`,
      });
      await assert.rejects(restartAndCheck(service), (err: Error) => {
        namedFailure('PublishFailed', /^host vm-dev: the publish command exited 1: .*InvalidSignature/)(err);
        assert.match(err.message, /using token \[token\]/, 'the output is shown with the token cut out');
        assert.ok(!err.message.includes(token), 'no token in the error');
        assert.match(err.message, /run `rekey verify`/, 'a 401 names the next step');
        return true;
      });
      // The service itself did publish on start: only the exit status failed the gate.
      assert.match(await service.logs(), /PUBLISH_SUCCESS/);
    } finally {
      await host.close();
    }
  });

  it('no marker within the bound is a MarkerTimeout', async () => {
    const host = await t.host('dev');
    try {
      const service = createServiceDriver(host, {
        ...compose(),
        markers: { success: ['NEVER_PRINTED'], failure: [] },
        markerTimeout: '1s',
      });
      await assert.rejects(
        service.waitForMarkers({ pollMs: 100 }),
        namedFailure('MarkerTimeout', /no NEVER_PRINTED within 1s/),
      );
    } finally {
      await host.close();
    }
  });

  it('command driver: the same operations through configured commands, on the local host', async () => {
    const host = await t.host('local');
    try {
      const shim = 'docker compose -f ./.generated/docker-compose.yaml';
      const service = createServiceDriver(host, {
        driver: 'command',
        start: `${shim} up -d spacetimedb`,
        stop: `${shim} stop spacetimedb`,
        restart: `${shim} up -d --force-recreate spacetimedb`,
        logs: `${shim} logs --no-color --tail=50 spacetimedb`,
        publish: `node ${resolve(__dirname, '../..')}/dist/quickstart/spacetimedb-standin.js publish --app-dir . --server ${t.serviceUrl.local}`,
        markers: { success: ['PUBLISH_SUCCESS'], failure: ['PUBLISH_FAILED'] },
        markerTimeout: '20s',
        logTail: 50,
      });
      await service.restart();
      await service.waitForMarkers({});
      const published = await service.publish();
      assert.equal(published?.code, 0);
      assert.match(published?.stdout ?? '', /PUBLISH_SUCCESS/);
      await service.stop();
      assert.equal(await portOpen('127.0.0.1', 3106), false);
      const failing = createServiceDriver(host, {
        driver: 'command',
        start: 'false',
        stop: 'exit 7',
        restart: 'false',
        logs: 'true',
        markers: { success: ['X'], failure: [] },
        markerTimeout: '1s',
        logTail: 1,
      });
      await assert.rejects(
        failing.stop(),
        namedFailure('CommandFailed', /^host workstation: stop failed \(exit 7\): exit 7/),
      );
    } finally {
      await host.close();
    }
  });

  it('a docker daemon that does not answer is a retryable error, not a failed command', async () => {
    const host = await t.host('prod');
    try {
      await host.writeFileAtomic(resolveOnHost(host, '.shim/daemon-down'), '', 0o644);
      await assert.rejects(createServiceDriver(host, compose()).restart(), (err: Error) => {
        assert.ok(!(err instanceof ApplicationFailure), 'retryable');
        assert.match(
          err.message,
          /^host vm-prod: restart: the docker daemon does not answer: Cannot connect/,
        );
        return true;
      });
    } finally {
      await host.remove(resolveOnHost(host, '.shim/daemon-down'));
      await host.close();
    }
  });

  it('a log that keeps old lines (journald, a file): only markers after this restart count', async () => {
    const host = await t.host('local');
    try {
      const journal = (line: string) => `echo ${JSON.stringify(line)} >> journal.log`;
      const driver = (restartLine: string) =>
        createServiceDriver(host, {
          driver: 'command',
          start: 'true',
          stop: 'true',
          restart: journal(restartLine),
          logs: 'tail -n 3 journal.log',
          markers: { success: ['PUBLISH_SUCCESS'], failure: ['InvalidSignature'] },
          markerTimeout: '2s',
          logTail: 3,
        });
      await host.exec(`${journal('PUBLISH_SUCCESS database=old')} && ${journal('listening')}`, {
        cwd: host.appDir,
      });
      await assert.rejects(
        restartAndCheck(driver('InvalidSignature: token rejected')),
        namedFailure('PublishFailed', /InvalidSignature: token rejected/),
      );
      // The old failure is history now: this restart's success counts.
      assert.match((await restartAndCheck(driver('PUBLISH_SUCCESS database=new'))).line, /database=new/);
    } finally {
      await host.exec('rm -f journal.log', { cwd: host.appDir });
      await host.close();
    }
  });
});
