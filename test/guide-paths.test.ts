// The SpacetimeDB guide's paths that the other suites do not walk, on real sshd hosts and rsync:
// - a failed hop restores the destination exactly, although the service appended to a file the
//   copy left alone and rsync changed a mode in place (both reach a hard-link "snapshot"), on
//   ext4 (a full-copy snapshot) and on a loop-mounted XFS with reflinks;
// - the shipped example config's layout (the publisher token outside the data dir) promotes with
//   the token re-signed and accepted;
// - the strategies: a token from an OIDC provider is left alone by a rotation, an expired token
//   is refused at the plan, a clean slate asks for confirmation (clean slate on the real server:
//   test/spacetimedb-real.test.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { parse, stringify } from 'yaml';
import { within } from '../activities/hop-checks';
import { snapshotMethod } from '../activities/hop-snapshot';
import { generateKeyPair, parsePrivateKey } from '../activities/keys';
import { createRotateActivities } from '../activities/rotate';
import { readTokenFromToml, signedBy, tokenIdentity } from '../activities/tokens';
import { startRotation } from '../client/runs/rotate';
import { loadConfig } from '../config/load';
import { withHost } from '../hosts/connect';
import { type Host, resolveOnHost } from '../hosts/types';
import { promote, promoteHop } from '../workflows';
import type { HopResult } from '../workflows/hop-plan';
import { namedFailure } from './assertions';
import { activitySteps, failureOf, rekeyAsync, type TemporalFixture, temporalFixture } from './helpers';
import { testEnv } from './infra/env';
import { portOf } from './infra/ports';
import { seededSuite } from './infra/suite';
import {
  buildTopology,
  dataManifest,
  ENVS,
  type Env,
  onHost,
  type Seeded,
  seed,
  stopServices,
  type Topology,
  whoami,
} from './infra/topology';

const repo = resolve(__dirname, '../..');

/** Every entry of a data dir: type, mode, owner, mtime (ns), links, and each file's sha256. */
function exactManifest(t: Topology, e: Env): Promise<string> {
  return onHost(t, e, async (h) => {
    const res = await h.exec(
      `cd ${h.dataDir} && find . -printf '%p %y %m %U:%G %T@ %n\\n' | sort && find . -type f -print0 | sort -z | xargs -0 -r sha256sum`,
    );
    if (res.code !== 0) throw new Error(`manifest of ${e}: ${res.stderr}`);
    return res.stdout;
  });
}

/** The rotation activities against a topology's own stores (verify runs as the CLI runs it). */
const rotationActivities = (t: Topology) =>
  createRotateActivities({
    config: t.config,
    store: (s) => t.store(ENVS.find((e) => t.config.environments[e]?.store === s) as Env),
  });

/** A publish that, once (while <appDir>/.fail-once exists), appends to the commit log in place,
 * as a starting service would, and fails. */
const appendingPublish = (dataDir: string) =>
  `if [ -e .fail-once ]; then rm -f .fail-once; echo late-write >> ${dataDir}/db/segment.log; echo 'PUBLISH_FAILED simulated'; exit 1; fi; echo 'PUBLISH_SUCCESS database=spacetime'`;

/**
 * prod and test hold the same commit log (same bytes and mtime: rsync leaves it alone) and the
 * same key file, 0644 on prod and 0600 on test (rsync chmods it in place); prod has a new file.
 * The hop's publish appends to test's log and fails. Returns the failure and test's manifests.
 */
async function failingHop(fx: TemporalFixture, t: Topology, workflowId: string) {
  const same = `mkdir -p db && printf 'segment-1\\n' > db/segment.log && printf 'k' > db/keys.bin && touch -d '2026-01-01 00:00:00' db/segment.log db/keys.bin`;
  await onHost(t, 'prod', (h) =>
    h.exec(`cd ${h.dataDir} && ${same} && chmod 0644 db/keys.bin && echo new > db/new.txt`),
  );
  await onHost(t, 'test', (h) => h.exec(`cd ${h.dataDir} && ${same} && chmod 0600 db/keys.bin`));
  await onHost(t, 'test', (h) => h.writeFileAtomic(resolveOnHost(h, '.fail-once'), '', 0o644));
  const before = await exactManifest(t, 'test');
  const failure = await fx.withWorker(t.config, () =>
    failureOf(
      fx.client.workflow.execute(promoteHop, {
        taskQueue: fx.taskQueue,
        workflowId,
        args: [{ from: 'prod', to: 'test' }],
      }),
    ),
  );
  return {
    failure,
    before,
    after: await exactManifest(t, 'test'),
    steps: await activitySteps(fx.client, workflowId),
  };
}

function assertExactRestore(
  r: Awaited<ReturnType<typeof failingHop>>,
  method: 'copy' | 'reflink' | 'subvolume',
) {
  assert.equal(r.failure.type, 'PublishFailed', r.failure.message);
  const names = r.steps.map((s) => s.name);
  assert.deepEqual(names.slice(names.indexOf('snapshot')), [
    'snapshot',
    'syncData',
    'resignDestinationToken',
    'restartAndVerify',
    'stopService',
    'restoreSnapshot',
    'restartAndVerify',
    'dropSnapshot',
    'releaseLocks',
  ]);
  assert.ok(
    r.steps.find((s) => s.name === 'syncData')?.result,
    'the copy ran to its end (the restore undid a real copy)',
  );
  assert.deepEqual(r.steps.find((s) => s.name === 'restoreSnapshot')?.result, { restored: true });
  const preflight = r.steps.find((s) => s.name === 'preflightHop')?.result as {
    snapshot?: { method: string; bytes: number };
  };
  assert.equal(preflight?.snapshot?.method, method, JSON.stringify(preflight));
  assert.ok((preflight?.snapshot?.bytes ?? 0) > 0, 'the plan names the bytes the snapshot covers');
  assert.match(r.after, /\.\/db\/keys\.bin f 600 /, 'the mode rsync changed in place is back');
  assert.doesNotMatch(r.after, /new\.txt/);
  assert.equal(r.after, r.before, 'byte-, mode-, owner- and mtime-identical to the data before the hop');
}

/** A loop-mounted image of `size` made by `mkfs` (as root), as the test host's app dir of topology
 * `name`; `unmount()` removes it. */
function loopAppDir(name: string, size: string, mkfs: string[]): { mount: string; unmount: () => void } {
  const env = testEnv();
  const mount = join(env.hosts.test.appDir, name);
  const image = join(env.root, `${name}.img`);
  mkdirSync(mount, { recursive: true });
  rmSync(image, { force: true });
  execFileSync('truncate', ['-s', size, image]);
  execFileSync(mkfs[0] as string, [...mkfs.slice(1), image]);
  execFileSync('mount', ['-o', 'loop', image, mount]);
  return {
    mount,
    unmount: () => {
      execFileSync('umount', [mount]);
      rmSync(image, { force: true });
    },
  };
}

/** Whether `cp --reflink=always` works in `dir` (a filesystem with reflinks). */
function reflinksIn(dir: string): boolean {
  try {
    execFileSync('sh', ['-c', `cd ${dir} && echo x > .probe-a && cp --reflink=always .probe-a .probe-b`], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(join(dir, '.probe-a'), { force: true });
    rmSync(join(dir, '.probe-b'), { force: true });
  }
}

describe('guide paths: an exact snapshot', () => {
  let fx: TemporalFixture;
  before(async () => {
    fx = await temporalFixture('guide-paths');
  });
  after(() => fx.close());

  it('a failed hop restores the destination exactly: in-place append and chmod undone (full copy on ext4)', async () => {
    const t = buildTopology('exact-copy', portOf('exact-copy'), {
      services: {
        spacetimedb: { driver: 'compose', markerTimeout: '20s', publish: appendingPublish('data') },
      },
    });
    await seed(t);
    try {
      const testApp = (t.config.hosts['vm-test'] as { appDir: string }).appDir;
      // The suite's premise: the hosts' filesystem (the root's ext4 here) has no reflinks.
      assert.equal(reflinksIn(testApp), false, `${testApp} has reflinks: this case tests the copy`);
      const r = await failingHop(fx, t, 'exact-copy/prod..test');
      assertExactRestore(r, 'copy');
    } finally {
      await stopServices(t);
    }
  });

  it('on a filesystem with reflinks (loop-mounted XFS) the snapshot is a reflink, restored as exactly', async () => {
    const { mount, unmount } = loopAppDir('exact-xfs', '320M', ['mkfs.xfs', '-q', '-m', 'reflink=1']);
    const t = buildTopology('exact-xfs', portOf('exact-xfs'), {
      services: {
        spacetimedb: { driver: 'compose', markerTimeout: '20s', publish: appendingPublish('data') },
      },
    });
    try {
      assert.equal(reflinksIn(mount), true, 'the XFS image takes reflinks');
      await seed(t);
      const r = await failingHop(fx, t, 'exact-xfs/prod..test');
      assertExactRestore(r, 'reflink');
    } finally {
      await stopServices(t);
      unmount();
    }
  });

  it('on btrfs with the data dir a subvolume the snapshot is a subvolume snapshot, restored as exactly', async () => {
    const { mount, unmount } = loopAppDir('exact-btrfs', '320M', ['mkfs.btrfs', '-q']);
    const t = buildTopology('exact-btrfs', portOf('exact-btrfs'), {
      services: {
        spacetimedb: { driver: 'compose', markerTimeout: '20s', publish: appendingPublish('data') },
      },
    });
    try {
      await seed(t);
      // test's data dir made a subvolume of its own (another st_dev than its parent, as a mount
      // point has, but not one), holding what seed() wrote.
      const data = (t.config.hosts['vm-test'] as { dataDir: string }).dataDir;
      execFileSync('sh', [
        '-c',
        `mv ${data} ${data}.seeded && btrfs subvolume create ${data} >/dev/null && cp -a ${data}.seeded/. ${data}/ && rm -rf ${data}.seeded`,
      ]);
      const r = await failingHop(fx, t, 'exact-btrfs/prod..test');
      assertExactRestore(r, 'subvolume');
      const snapshot = r.steps.find((s) => s.name === 'snapshot')?.result as { subvolume?: boolean };
      assert.equal(snapshot?.subvolume, true, JSON.stringify(snapshot));
      assert.equal(
        execFileSync('stat', ['-c', '%i', data]).toString().trim(),
        '256',
        'the data dir is a subvolume again',
      );
      assert.deepEqual(
        execFileSync('btrfs', ['subvolume', 'list', '-o', mount])
          .toString()
          .trim()
          .split('\n')
          .map((l) => l.replace(/.* path /, '')),
        ['data'],
        'no snapshot left behind',
      );
      // How the snapshot is chosen, on this machine's shell: a subvolume holding another (which
      // a snapshot would leave empty) and a plain directory take a reflink copy.
      const method = (dir: string) =>
        withHost('here', { type: 'local', appDir: mount, dataDir: dir }, (h) => snapshotMethod(h, 'here'));
      assert.equal(await method(data), 'subvolume');
      execFileSync('btrfs', ['subvolume', 'create', join(data, 'nested')], { stdio: 'ignore' });
      writeFileSync(join(data, 'nested', 'f'), 'x');
      assert.equal(await method(data), 'reflink', 'a nested subvolume: copied, not snapshotted');
      execFileSync('btrfs', ['subvolume', 'delete', join(data, 'nested')], { stdio: 'ignore' });
      mkdirSync(join(mount, 'plain'));
      writeFileSync(join(mount, 'plain', 'f'), 'x');
      assert.equal(await method(join(mount, 'plain')), 'reflink');
      // A data dir that is a mount point (a bind mount, in the mount table) is refused; a subvolume
      // (above) has a device of its own too, but is none.
      execFileSync('mount', ['--bind', data, data]);
      try {
        const refused = await fx.withWorker(t.config, () =>
          failureOf(
            fx.client.workflow.execute(promoteHop, {
              taskQueue: fx.taskQueue,
              workflowId: 'exact-btrfs/bind-mounted',
              args: [{ from: 'prod', to: 'test' }],
            }),
          ),
        );
        assert.equal(refused.type, 'BadInput', refused.message);
        assert.match(refused.message, /exact-btrfs\/data on host vm-test .* is a mount point/);
      } finally {
        execFileSync('umount', [data]);
      }
    } finally {
      await stopServices(t);
      unmount();
    }
  });
});

describe('guide paths: a destination too full for a snapshot', () => {
  let fx: TemporalFixture;
  before(async () => {
    fx = await temporalFixture('guide-paths');
  });
  after(() => fx.close());

  it('a re-run with nothing to copy passes where a full copy and its snapshot would not fit', async () => {
    // test's app dir on a 64 MiB ext4 image (no reflinks: a snapshot would be a full copy).
    const { unmount } = loopAppDir('space-noop', '64M', ['mkfs.ext4', '-q', '-F']);
    const t = buildTopology('space-noop', portOf('space-noop'));
    const hop = (workflowId: string) =>
      fx.withWorker(t.config, () =>
        fx.client.workflow.execute(promoteHop, {
          taskQueue: fx.taskQueue,
          workflowId,
          args: [{ from: 'prod', to: 'test' }],
        }),
      );
    try {
      await seed(t);
      // 24 MiB at prod: the first hop needs 26.4 MiB and test's empty data dir no snapshot.
      // seed() wrote both hosts' files in the same second: prod's get their own mtime, or rsync's
      // quick check would leave test's database owner file in place.
      await onHost(t, 'prod', (h) =>
        h.exec(
          `cd ${h.dataDir} && head -c 25165824 /dev/urandom > big.bin && find . -exec touch -h -d '2026-01-01 00:00:00' {} +`,
        ),
      );
      assert.ok((await hop('space-noop/first')).copied, 'the first hop copies');
      // Now a copy would need 26.4 MiB and a full snapshot 24 MiB more: more than is free.
      const free = await onHost(t, 'test', async (h) =>
        Number((await h.exec(`df -B1 --output=avail ${h.dataDir} | tail -n1`)).stdout.trim()),
      );
      assert.ok(free < 2 * 25165824, `${free} bytes free: the case needs less than a copy and its snapshot`);
      const again = await hop('space-noop/again');
      assert.equal(again.copied, undefined, JSON.stringify(again));
      const steps = (await activitySteps(fx.client, 'space-noop/again')).map((s) => s.name);
      assert.ok(!steps.includes('syncData'), steps.join(', '));
      // A hop that would copy again is still refused for space, before anything changed.
      await onHost(t, 'prod', (h) => h.exec(`head -c 25165824 /dev/urandom > ${h.dataDir}/big.bin`));
      const refused = await failureOf(hop('space-noop/refused'));
      assert.equal(refused.type, 'PolicyViolation', refused.message);
      assert.match(
        refused.message,
        /bytes free on host vm-test, the hop needs \d+: prod holds \d+ \(\+10% margin\) and the snapshot is a full copy of test's \d+ bytes .*; nothing was changed$/,
      );
      const refusedSteps = (await activitySteps(fx.client, 'space-noop/refused')).map((s) => s.name);
      assert.ok(!refusedSteps.includes('stopService'), refusedSteps.join(', '));
    } finally {
      await stopServices(t);
      unmount();
    }
  });
});

describe('guide paths: the example config as shipped', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let seeded: Seeded;
  // The layout of rekey.example.yaml: its paths, and its VMs' data dir relative to their app dir.
  const example = parse(readFileSync(join(repo, 'rekey.example.yaml'), 'utf8'));
  const vm = example.hosts.azvmtest as { appDir: string; dataDir: string };
  const dataDir = posix.relative(vm.appDir, vm.dataDir);

  seededSuite(
    'guide-paths',
    () => buildTopology('example-layout', portOf('example-layout'), { paths: example.paths }, {}, dataDir),
    (s) => {
      ({ fx, t, seeded } = s);
    },
  );

  it("promotes prod -> test: the token outside the data dir is carried, re-signed with test's key, accepted", async () => {
    const cliToml = posix.join(vm.appDir, example.paths.cliToml);
    assert.equal(
      within(posix.normalize(cliToml), vm.dataDir),
      false,
      'the example keeps its token outside dataDir',
    );
    // seed() wrote every host's files in the same second with the same sizes (the owner files
    // too): prod's get their own mtime, or rsync's quick check would rightly skip them.
    await onHost(t, 'prod', (h) =>
      h.exec(
        `cd ${h.dataDir} && echo prod-data > table.dat && find . -exec touch -h -d '2026-01-01 00:00:00' {} +`,
      ),
    );
    const [hop] = (await fx.withWorker(t.config, () =>
      fx.client.workflow.execute(promote, {
        taskQueue: fx.taskQueue,
        workflowId: 'example-layout/prod..test',
        args: [{ chain: ['prod', 'test'] }],
      }),
    )) as HopResult[];
    assert.equal(hop?.identity?.sub, 'publisher-prod', "test now publishes as the copied database's owner");
    const { token, key, data } = await onHost(t, 'test', async (h) => ({
      token: readTokenFromToml(
        (await h.readFile(resolveOnHost(h, t.config.paths.cliToml)))?.toString() ?? '',
        'spacetimedb_token',
        'test',
      ),
      key: (await h.readFile(resolveOnHost(h, '.generated/spacetimedb-keys/id_ecdsa')))?.toString() ?? '',
      data: (await h.readFile(join(h.dataDir, 'table.dat')))?.toString(),
    }));
    assert.equal(data, 'prod-data\n');
    assert.deepEqual(tokenIdentity(token), tokenIdentity(seeded.tokens.prod));
    assert.equal(await signedBy(token, key), true, "signed by test's own key");
    assert.equal((await whoami(t, 'test', token)).status, 200, "test's service accepts it");
    assert.ok(
      existsSync(join(testEnv().hosts.test.appDir, 'example-layout', dataDir, 'owner-spacetime.json')),
    );
  });
});

describe('guide paths: the strategies', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let seeded: Seeded;
  seededSuite(
    'guide-paths',
    () => buildTopology('strategies', portOf('strategies')),
    (s) => {
      ({ fx, t, seeded } = s);
    },
  );

  const cliText = (e: Env) =>
    onHost(t, e, async (h) => (await h.readFile(resolveOnHost(h, t.config.paths.cliToml)))?.toString() ?? '');

  it('OIDC-backed identity: a token from another issuer is named in the plan and left alone', async () => {
    // dev publishes with a token its OIDC provider issued; its service trusts that provider.
    const idp = generateKeyPair();
    const oidc = await new SignJWT({ hex_identity: 'c200oidc' })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('https://idp.example.test/realms/ops')
      .setSubject('ci-publisher')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(parsePrivateKey(idp.privatePem));
    await onHost(t, 'dev', async (h) => {
      await h.writeFileAtomic(
        resolveOnHost(h, '.standin/oidc-issuers.json'),
        JSON.stringify({ 'https://idp.example.test/realms/ops': idp.publicPem }),
        0o644,
      );
      await h.writeFileAtomic(
        resolveOnHost(h, t.config.paths.cliToml),
        `spacetimedb_token = "${oidc}"\n`,
        0o600,
      );
      await h.exec(`cd ${h.dataDir} && rm -f owner-*.json`);
    });
    const before = await cliText('dev');
    const result = await fx.withWorker(t.config, async () =>
      (
        await startRotation(fx.client, t.config, { environments: ['dev'] }, { taskQueue: fx.taskQueue })
      ).result(),
    );
    const dev = result.plan.environments.find((e) => e.env === 'dev');
    assert.equal(dev?.tokenExternal, true, JSON.stringify(dev));
    assert.equal(dev?.token?.iss, 'https://idp.example.test/realms/ops');
    assert.deepEqual(
      result.environments.map((e) => [e.env, e.status]),
      [
        ['dev', 'rotated'],
        ['local', 'rotated'],
      ],
      JSON.stringify(result.environments),
    );
    assert.equal(await cliText('dev'), before, "the provider's token is byte for byte as it was");
    assert.equal((await whoami(t, 'dev', oidc)).status, 200, 'dev (on its new key) still accepts it');
    const local = readTokenFromToml(await cliText('local'), 'spacetimedb_token', 'local');
    assert.deepEqual(
      tokenIdentity(local),
      tokenIdentity(seeded.tokens.local),
      "local's own token was re-signed",
    );
  });

  it('an expired publisher token stops the rotation at its plan, nothing changed', async () => {
    const key = await onHost(
      t,
      'test',
      async (h) =>
        (await h.readFile(resolveOnHost(h, '.generated/spacetimedb-keys/id_ecdsa')))?.toString() ?? '',
    );
    const expired = await new SignJWT({ hex_identity: 'c200test' })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('localhost')
      .setSubject('publisher-test')
      .setIssuedAt(1_600_000_000)
      .setExpirationTime(1_600_000_600)
      .sign(parsePrivateKey(key));
    await onHost(t, 'test', (h) =>
      h.writeFileAtomic(
        resolveOnHost(h, t.config.paths.cliToml),
        `spacetimedb_token = "${expired}"\n`,
        0o600,
      ),
    );
    const versions = (await t.store('test').listVersions(t.config.secretNames.privateKey)).length;
    const failure = await fx.withWorker(t.config, async () =>
      failureOf(
        (
          await startRotation(fx.client, t.config, { environments: ['test'] }, { taskQueue: fx.taskQueue })
        ).result(),
      ),
    );
    assert.equal(failure.type, 'BadInput');
    assert.match(
      failure.message,
      /test: .*cli\.toml: the token expired at 2020-09-13T12:36:40\.000Z; an expired token is not re-signed/,
    );
    assert.equal(
      (await t.store('test').listVersions(t.config.secretNames.privateKey)).length,
      versions,
      'no new key',
    );
    assert.equal(
      readTokenFromToml(await cliText('test'), 'spacetimedb_token', 'test'),
      expired,
      'token unchanged',
    );
  });

  it('preflight: a publish program that is not installed, or a compose file that does not parse, stops the plan before any write', async () => {
    const doc = parse(readFileSync(t.configFile, 'utf8'));
    doc.services.spacetimedb.publish = 'spacetime-publish-missing --yes';
    const file = join(t.dir, 'rekey-no-publisher.yaml');
    writeFileSync(file, stringify(doc));
    const config = loadConfig(file);
    const versions = (await t.store('prod').listVersions(t.config.secretNames.privateKey)).length;
    const missing = await fx.withWorker(config, async () =>
      failureOf(
        (
          await startRotation(fx.client, config, { environments: ['prod'] }, { taskQueue: fx.taskQueue })
        ).result(),
      ),
    );
    assert.equal(missing.type, 'BadInput');
    assert.match(
      missing.message,
      /prod: host vm-prod: the publish command's program "spacetime-publish-missing" is not found \(command -v spacetime-publish-missing\); nothing was changed/,
    );
    const compose = await onHost(t, 'prod', async (h) => {
      const f = resolveOnHost(h, '.generated/docker-compose.yaml');
      const text = (await h.readFile(f))?.toString() ?? '';
      await h.writeFileAtomic(f, `${text}  broken: [\n`, 0o644);
      return { f, text };
    });
    try {
      const broken = await fx.withWorker(t.config, async () =>
        failureOf(
          (
            await startRotation(fx.client, t.config, { environments: ['prod'] }, { taskQueue: fx.taskQueue })
          ).result(),
        ),
      );
      assert.equal(broken.type, 'BadInput');
      assert.match(
        broken.message,
        /prod: host vm-prod: docker compose -f .*config --quiet failed \(exit 15\)/,
      );
    } finally {
      await onHost(t, 'prod', (h) => h.writeFileAtomic(compose.f, compose.text, 0o644));
    }
    assert.equal(
      (await t.store('prod').listVersions(t.config.secretNames.privateKey)).length,
      versions,
      'no write',
    );
  });

  it('`rekey rotate --clean-slate` without --yes says what it costs and starts nothing', async () => {
    const cli = await rekeyAsync(['rotate', '--env', 'test', '--clean-slate', '--config', t.configFile]);
    assert.equal(cli.code, 2, cli.out);
    assert.match(
      cli.stderr,
      /--clean-slate gives test a NEW publisher identity: .*databases owned by the current identity can no longer be published to/,
    );
    const alias = await rekeyAsync([
      'rotate',
      '--env',
      'test',
      '--no-preserve-token',
      '--config',
      t.configFile,
    ]);
    assert.match(
      alias.stderr,
      /--clean-slate gives test a NEW publisher identity/,
      'the old flag is its alias',
    );
  });
});

describe("guide paths: `rekey verify` as strong as the guide's checklist", () => {
  let t: Topology;
  let seeded: Seeded;
  before(async () => {
    const base = buildTopology('verify-list', portOf('verify-list'));
    // dev's service URL is configured: verify asks the running server for its public key.
    const doc = parse(readFileSync(base.configFile, 'utf8'));
    doc.environments.dev.url = base.serviceUrl.dev;
    writeFileSync(base.configFile, stringify(doc));
    t = { ...base, config: loadConfig(base.configFile) };
    seeded = await seed(t);
  });
  after(() => stopServices(t));

  const verify = () => rotationActivities(t).verifyKeys({ includeHosts: true });
  const keyDir = (h: Host) => resolveOnHost(h, '.generated/spacetimedb-keys');

  /** Runs verify with dev changed by `change`, then puts dev back with `undo`. */
  async function findings(change: (h: Host) => Promise<unknown>, undo: (h: Host) => Promise<unknown>) {
    await onHost(t, 'dev', change);
    try {
      return (await verify()).problems;
    } finally {
      await onHost(t, 'dev', undo);
    }
  }

  it('a clean environment passes: files, modes, stored values, compose mounts, the served key', async () => {
    const report = await verify();
    assert.deepEqual(report.problems, []);
    const cli = await rekeyAsync(['verify', '--config', t.configFile], { env: { ...process.env } });
    assert.equal(cli.code, 0, cli.out);
  });

  it('each finding names the file, secret or URL, and the CLI exits 1', async () => {
    const other = generateKeyPair();
    const cases: [string, (h: Host) => Promise<unknown>, (h: Host) => Promise<unknown>, RegExp][] = [
      [
        'private key mode',
        (h) => h.exec(`chmod 0644 ${keyDir(h)}/id_ecdsa`),
        (h) => h.exec(`chmod 0600 ${keyDir(h)}/id_ecdsa`),
        /^dev: \S+\/id_ecdsa has mode 0644: a private key must be 0600/,
      ],
      [
        'public key mode',
        (h) => h.exec(`chmod 0666 ${keyDir(h)}/id_ecdsa.pub`),
        (h) => h.exec(`chmod 0644 ${keyDir(h)}/id_ecdsa.pub`),
        /^dev: \S+\/id_ecdsa\.pub has mode 0666: expected 0644/,
      ],
      [
        'halves of two pairs',
        (h) => h.writeFileAtomic(`${keyDir(h)}/id_ecdsa.pub`, other.publicPem, 0o644),
        (h) => h.writeFileAtomic(`${keyDir(h)}/id_ecdsa.pub`, seeded.pairs.shared?.publicPem ?? '', 0o644),
        /^dev: \S+\/id_ecdsa and \S+\/id_ecdsa\.pub are not one pair/,
      ],
      [
        'a private key that is not P-256',
        (h) => h.writeFileAtomic(`${keyDir(h)}/id_ecdsa`, 'not a key\n', 0o600),
        (h) => h.writeFileAtomic(`${keyDir(h)}/id_ecdsa`, seeded.pairs.shared?.privatePem ?? '', 0o600),
        /^dev: \S+\/id_ecdsa: not a PEM private key/,
      ],
      [
        "a private key that is not the store's",
        (h) =>
          Promise.all([
            h.writeFileAtomic(`${keyDir(h)}/id_ecdsa`, other.privatePem, 0o600),
            h.writeFileAtomic(`${keyDir(h)}/id_ecdsa.pub`, other.publicPem, 0o644),
          ]),
        (h) =>
          Promise.all([
            h.writeFileAtomic(`${keyDir(h)}/id_ecdsa`, seeded.pairs.shared?.privatePem ?? '', 0o600),
            h.writeFileAtomic(`${keyDir(h)}/id_ecdsa.pub`, seeded.pairs.shared?.publicPem ?? '', 0o644),
          ]),
        /^dev: \S+\/id_ecdsa is not the store's current private key .*store kv-dev holds/,
      ],
      [
        'a compose file mounting the keys read-write',
        (h) =>
          h.exec(
            `sed -i 's#/etc/spacetimedb:ro#/etc/spacetimedb#' ${h.appDir}/.generated/docker-compose.yaml`,
          ),
        (h) =>
          h.exec(
            `sed -i 's#:/etc/spacetimedb"#:/etc/spacetimedb:ro"#' ${h.appDir}/.generated/docker-compose.yaml`,
          ),
        /^dev: \S+docker-compose\.yaml: the key dir is mounted at \/etc\/spacetimedb read-write; mount it :ro/,
      ],
      [
        'a compose file mounting a named volume where the key dir belongs',
        (h) =>
          h.exec(
            `sed -i 's#"./spacetimedb-keys:/etc/spacetimedb:ro"#"spacetimedb-keys:/etc/spacetimedb:ro"#' ${h.appDir}/.generated/docker-compose.yaml`,
          ),
        (h) =>
          h.exec(
            `sed -i 's#"spacetimedb-keys:/etc/spacetimedb:ro"#"./spacetimedb-keys:/etc/spacetimedb:ro"#' ${h.appDir}/.generated/docker-compose.yaml`,
          ),
        /^dev: \S+docker-compose\.yaml: \/etc\/spacetimedb is the volume "spacetimedb-keys", not a bind of the key dir/,
      ],
      [
        'a compose file passing another key path',
        (h) =>
          h.exec(
            `sed -i 's#jwt-priv-key-path=/etc/spacetimedb/id_ecdsa#jwt-priv-key-path=/keys/id_ecdsa#' ${h.appDir}/.generated/docker-compose.yaml`,
          ),
        (h) =>
          h.exec(
            `sed -i 's#jwt-priv-key-path=/keys/id_ecdsa#jwt-priv-key-path=/etc/spacetimedb/id_ecdsa#' ${h.appDir}/.generated/docker-compose.yaml`,
          ),
        /^dev: \S+docker-compose\.yaml: --jwt-priv-key-path is \/keys\/id_ecdsa, expected \/etc\/spacetimedb\/id_ecdsa/,
      ],
    ];
    for (const [what, change, undo, finding] of cases) {
      const problems = await findings(change, undo);
      assert.ok(
        problems.some((p) => finding.test(p)),
        `${what}: ${JSON.stringify(problems)}`,
      );
      assert.deepEqual((await verify()).problems, [], `${what}: undone`);
    }
    // The CLI: exit 1, the finding printed.
    await onHost(t, 'dev', (h) => h.exec(`chmod 0644 ${keyDir(h)}/id_ecdsa`));
    try {
      const cli = await rekeyAsync(['verify', '--config', t.configFile]);
      assert.equal(cli.code, 1, cli.out);
      assert.match(cli.stdout, /problem: dev: \S+\/id_ecdsa has mode 0644/);
    } finally {
      await onHost(t, 'dev', (h) => h.exec(`chmod 0600 ${keyDir(h)}/id_ecdsa`));
    }
  });

  it('stored values with CRLF or without a trailing newline are findings', async () => {
    const names = t.config.secretNames;
    const pair = seeded.pairs.shared as { privatePem: string; publicPem: string };
    const store = t.store('dev');
    await store.set(names.publicKey, pair.publicPem.replace(/\n/g, '\r\n'), {});
    await store.set(names.privateKey, pair.privatePem.trimEnd(), {});
    try {
      const { problems } = await verify();
      assert.ok(
        problems.includes(
          `dev: store kv-dev: ${names.publicKey} holds CRLF line ends (store it with LF only)`,
        ),
        JSON.stringify(problems),
      );
      assert.ok(
        problems.includes(`dev: store kv-dev: ${names.privateKey} has no trailing newline`),
        JSON.stringify(problems),
      );
    } finally {
      await store.set(names.publicKey, pair.publicPem, {});
      await store.set(names.privateKey, pair.privatePem, {});
    }
    assert.deepEqual((await verify()).problems, []);
  });

  it('a running server that serves another public key than the store is a finding', async () => {
    // dev's key files and store move on, but the service was not restarted: it serves the old key.
    const next = generateKeyPair();
    const names = t.config.secretNames;
    const store = t.store('dev');
    const pair = seeded.pairs.shared as { privatePem: string; publicPem: string };
    await store.set(names.privateKey, next.privatePem, {});
    await store.set(names.publicKey, next.publicPem, {});
    await onHost(t, 'dev', (h) =>
      Promise.all([
        h.writeFileAtomic(`${keyDir(h)}/id_ecdsa`, next.privatePem, 0o600),
        h.writeFileAtomic(`${keyDir(h)}/id_ecdsa.pub`, next.publicPem, 0o644),
      ]),
    );
    try {
      const { problems } = await verify();
      assert.ok(
        problems.some((p) =>
          /^dev: http:\/\/127\.0\.0\.4:\d+\/v1\/identity\/public-key serves another key \(\w+\) than store kv-dev holds: the service was not restarted/.test(
            p,
          ),
        ),
        JSON.stringify(problems),
      );
    } finally {
      await store.set(names.privateKey, pair.privatePem, {});
      await store.set(names.publicKey, pair.publicPem, {});
      await onHost(t, 'dev', (h) =>
        Promise.all([
          h.writeFileAtomic(`${keyDir(h)}/id_ecdsa`, pair.privatePem, 0o600),
          h.writeFileAtomic(`${keyDir(h)}/id_ecdsa.pub`, pair.publicPem, 0o644),
        ]),
      );
    }
  });
});

describe('guide paths: old keys retire', () => {
  let fx: TemporalFixture;
  let t: Topology;
  seededSuite(
    'guide-paths',
    () => buildTopology('retire', portOf('retire'), { retention: { backups: 2, versions: 2 } }),
    (s) => {
      ({ fx, t } = s);
    },
  );

  it('after three rotations: backups of the last two runs on the host, older key versions disabled', async () => {
    const runs: string[] = [];
    const before = Object.fromEntries(
      await Promise.all(
        [t.config.secretNames.privateKey, t.config.secretNames.publicKey].map(
          async (n) => [n, (await t.store('prod').listVersions(n)).length] as const,
        ),
      ),
    );
    for (let i = 0; i < 3; i++) {
      const result = await fx.withWorker(t.config, async () => {
        const h = await startRotation(
          fx.client,
          t.config,
          { environments: ['prod'] },
          { taskQueue: fx.taskQueue },
        );
        runs.push((await h.describe()).runId);
        return h.result();
      });
      assert.equal(result.environments[0]?.status, 'rotated', JSON.stringify(result.environments));
      const steps = (await activitySteps(fx.client, 'rotate-jwt/prod')).map((s) => s.name);
      assert.ok(steps.includes('retireOldKeys'), steps.join(', '));
    }
    const backups = await onHost(t, 'prod', async (h) =>
      (await h.exec(`ls -1 ${resolveOnHost(h, '.rekey/backup')}`)).stdout.trim().split('\n').sort(),
    );
    assert.deepEqual(backups, runs.slice(1).sort(), "the first run's backup (the seed key) is gone");
    for (const name of [t.config.secretNames.privateKey, t.config.secretNames.publicKey]) {
      const store = t.store('prod');
      const versions = await store.listVersions(name);
      assert.equal(versions.length, (before[name] ?? 0) + 3, 'three rotations more: nothing purged');
      const current = (await store.current(name))?.version;
      const enabled = versions.filter((v) => v.enabled).map((v) => v.version);
      assert.equal(enabled.length, 2, JSON.stringify(versions));
      assert.ok(current && enabled.includes(current), 'the current version stays enabled');
      const retired = versions.find((v) => !v.enabled) as { version: string };
      await assert.rejects(
        store.get(name, retired.version),
        namedFailure('NotFound', /is disabled \(retired\)/),
      );
    }
    assert.deepEqual((await rotationActivities(t).verifyKeys({ environments: ['prod'] })).problems, []);
  });
});

describe('guide paths: keys for an existing deployment, the first rotation on an empty vault', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let seeded: Seeded;
  before(async () => {
    fx = await temporalFixture('guide-paths');
    const base = buildTopology('first-keys', portOf('first-keys'));
    seeded = await seed(base);
    // The same hosts, but secret names no store holds yet: running deployments, empty vaults.
    const doc = parse(readFileSync(base.configFile, 'utf8'));
    // Names no earlier run against these servers used either.
    const fresh = `first-keys-${Date.now()}`;
    doc.secretNames = { privateKey: `${fresh}-private`, publicKey: `${fresh}-public` };
    const configFile = join(base.dir, 'rekey-empty.yaml');
    writeFileSync(configFile, stringify(doc));
    t = { ...base, configFile, config: loadConfig(configFile) };
  });
  after(async () => {
    await stopServices(t);
    await fx.close();
  });

  it('`rekey keys import` stores the running pair as the first version, and refuses once one exists', async () => {
    const keyFile = join(t.dir, 'test-id_ecdsa');
    const pem = await onHost(
      t,
      'test',
      async (h) =>
        (await h.readFile(resolveOnHost(h, '.generated/spacetimedb-keys/id_ecdsa')))?.toString() ?? '',
    );
    writeFileSync(keyFile, pem, { mode: 0o600 });
    const names = t.config.secretNames;
    assert.deepEqual(await t.store('test').listVersions(names.privateKey), []);
    const first = await rekeyAsync([
      'keys',
      'import',
      '--env',
      'test',
      '--private-key',
      keyFile,
      '--config',
      t.configFile,
    ]);
    assert.equal(first.code, 0, first.out);
    const stored = await t.store('test').get(names.publicKey);
    assert.ok(stored.value === seeded.pairs.test?.publicPem, "the host's public key is the store's");
    // The same key again (an import that stopped half way, run again): nothing new is written.
    const same = await rekeyAsync([
      'keys',
      'import',
      '--env',
      'test',
      '--private-key',
      keyFile,
      '--config',
      t.configFile,
    ]);
    assert.equal(same.code, 0, same.out);
    assert.equal(
      (await t.store('test').listVersions(names.privateKey)).length,
      1,
      'reused, not written again',
    );
    // Another key: refused, the store already holds one.
    const otherFile = join(t.dir, 'other-id_ecdsa');
    writeFileSync(otherFile, generateKeyPair().privatePem, { mode: 0o600 });
    const again = await rekeyAsync([
      'keys',
      'import',
      '--env',
      'test',
      '--private-key',
      otherFile,
      '--config',
      t.configFile,
    ]);
    assert.equal(again.code, 2, again.out);
    assert.match(
      again.stderr,
      new RegExp(
        `test: store kv-test already holds ${names.privateKey}: import only adopts a pair into empty stores`,
      ),
    );
    assert.equal((await t.store('test').listVersions(names.privateKey)).length, 1, 'nothing written');
    assert.ok(!first.out.includes(pem.trim().split('\n')[1] ?? 'x'), 'no key in the output');
  });

  it("`keys install` puts the store's pair back on a rebuilt VM: files, modes, restart, publish; no new version", async () => {
    const names = t.config.secretNames;
    const versions = (await t.store('test').listVersions(names.privateKey)).length;
    assert.equal(versions, 1, 'imported by the test before');
    // The VM was rebuilt: no key files; its publisher token came back from the old disk.
    await onHost(t, 'test', (h) => h.exec(`rm -rf ${resolveOnHost(h, '.generated/spacetimedb-keys')}`));
    const result = await fx.withWorker(t.config, async () =>
      (
        await startRotation(
          fx.client,
          t.config,
          { environments: ['test'], installOnly: true },
          { taskQueue: fx.taskQueue },
        )
      ).result(),
    );
    assert.equal(result.environments[0]?.status, 'rotated', JSON.stringify(result.environments));
    assert.equal(result.installOnly, true);
    assert.equal((await t.store('test').listVersions(names.privateKey)).length, versions, 'no new version');
    const files = await onHost(t, 'test', async (h) => {
      const dir = resolveOnHost(h, '.generated/spacetimedb-keys');
      return {
        priv: (await h.readFile(`${dir}/id_ecdsa`))?.toString(),
        privMode: (await h.stat(`${dir}/id_ecdsa`))?.mode,
        pubMode: (await h.stat(`${dir}/id_ecdsa.pub`))?.mode,
      };
    });
    assert.ok(files.priv === seeded.pairs.test?.privatePem, "the store's private key is on the host");
    assert.deepEqual([files.privMode, files.pubMode], [0o600, 0o644]);
    assert.equal((await whoami(t, 'test', seeded.tokens.test)).status, 200, 'restarted on it, token valid');
    const steps = (await activitySteps(fx.client, 'keys-install/test')).map((s) => s.name);
    assert.ok(!steps.includes('stageKeyPair') && steps.includes('currentKeys'), steps.join(', '));
  });

  it("`keys install` on a drifted host (other key files, the token still the store key's) puts the store's pair back", async () => {
    const other = generateKeyPair();
    await onHost(t, 'test', (h) =>
      Promise.all([
        h.writeFileAtomic(resolveOnHost(h, '.generated/spacetimedb-keys/id_ecdsa'), other.privatePem, 0o600),
        h.writeFileAtomic(
          resolveOnHost(h, '.generated/spacetimedb-keys/id_ecdsa.pub'),
          other.publicPem,
          0o644,
        ),
      ]),
    );
    const result = await fx.withWorker(t.config, async () =>
      (
        await startRotation(
          fx.client,
          t.config,
          { environments: ['test'], installOnly: true },
          { taskQueue: fx.taskQueue },
        )
      ).result(),
    );
    assert.equal(result.environments[0]?.status, 'rotated', JSON.stringify(result.environments));
    const priv = await onHost(t, 'test', async (h) =>
      (await h.readFile(resolveOnHost(h, '.generated/spacetimedb-keys/id_ecdsa')))?.toString(),
    );
    assert.ok(priv === seeded.pairs.test?.privatePem, "the store's private key is back");
    assert.equal((await whoami(t, 'test', seeded.tokens.test)).status, 200);
  });

  it('the first rotation on an empty vault stores the new pair as the first version and keeps the identity', async () => {
    const names = t.config.secretNames;
    assert.deepEqual(await t.store('prod').listVersions(names.privateKey), []);
    const result = await fx.withWorker(t.config, async () =>
      (
        await startRotation(fx.client, t.config, { environments: ['prod'] }, { taskQueue: fx.taskQueue })
      ).result(),
    );
    assert.equal(result.plan.environments[0]?.current, null, 'planned with no current pair');
    assert.equal(result.environments[0]?.status, 'rotated', JSON.stringify(result.environments));
    const versions = await t.store('prod').listVersions(names.privateKey);
    assert.equal(versions.length, 1);
    const token = readTokenFromToml(
      await onHost(
        t,
        'prod',
        async (h) => (await h.readFile(resolveOnHost(h, t.config.paths.cliToml)))?.toString() ?? '',
      ),
      'spacetimedb_token',
      'prod',
    );
    assert.deepEqual(tokenIdentity(token), tokenIdentity(seeded.tokens.prod));
    assert.equal((await whoami(t, 'prod', token)).status, 200);
    const report = await rotationActivities(t).verifyKeys({ environments: ['prod'], includeHosts: true });
    assert.deepEqual(report.problems, []);
  });
});

describe("guide paths: promotion to a local workstation (the guide's sync-from-prod)", () => {
  let fx: TemporalFixture;
  let t: Topology;
  let seeded: Seeded;
  seededSuite(
    'guide-paths',
    () => buildTopology('to-local', portOf('to-local')),
    (s) => {
      ({ fx, t, seeded } = s);
    },
  );

  it("prod -> local pulls over the worker's key with the same plan, snapshot and re-sign", async () => {
    await onHost(t, 'prod', (h) =>
      h.exec(
        `cd ${h.dataDir} && mkdir -p db && echo prod-row > db/table.dat && find . -exec touch -h -d '2026-01-01 00:00:00' {} +`,
      ),
    );
    await onHost(t, 'local', (h) => h.exec(`cd ${h.dataDir} && echo local-only > scratch.txt`));
    const [hop] = (await fx.withWorker(t.config, () =>
      fx.client.workflow.execute(promote, {
        taskQueue: fx.taskQueue,
        workflowId: 'to-local/prod..local',
        args: [{ chain: ['prod', 'local'], allowShrink: true }],
      }),
    )) as HopResult[];
    assert.deepEqual(hop?.plan.deletions, ['scratch.txt'], 'the plan showed the deletion');
    const steps = (await activitySteps(fx.client, 'to-local/prod..local/prod..local')).map((s) => s.name);
    assert.ok(steps.includes('snapshot') && steps.includes('resignDestinationToken'), steps.join(', '));
    assert.equal(await dataManifest(t, 'local'), await dataManifest(t, 'prod'));
    const token = readTokenFromToml(
      await onHost(
        t,
        'local',
        async (h) => (await h.readFile(resolveOnHost(h, t.config.paths.cliToml)))?.toString() ?? '',
      ),
      'spacetimedb_token',
      'local',
    );
    assert.deepEqual(tokenIdentity(token), tokenIdentity(seeded.tokens.prod));
    assert.equal(await signedBy(token, seeded.pairs.shared?.privatePem ?? ''), true, "signed by local's key");
    assert.equal((await whoami(t, 'local', token)).status, 200, "local's service accepts it");
  });
});
