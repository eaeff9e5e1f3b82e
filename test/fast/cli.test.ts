// The rekey CLI's argument handling and its local (no Temporal) commands.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { generateKeyPair } from '../../activities/keys';
import { readTokenFromToml, signedBy, tokenIdentity } from '../../activities/tokens';
import { assertMatchesSchema } from '../infra/json-schemas';
import { publisherToken } from '../infra/topology';

const repo = resolve(__dirname, '../../..');

function rekey(...args: string[]) {
  return spawnSync(process.execPath, [join(repo, 'bin/rekey'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' }, // nothing must reach a server
  });
}

function configWithoutApprovals(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-cli-'));
  const doc = parse(readFileSync(join(repo, 'rekey.example.yaml'), 'utf8'));
  doc.approvals = { requiredFor: [], approvers: [] };
  delete doc.environments.prod.approvals;
  const file = join(dir, 'rekey.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

describe('rekey CLI', () => {
  it('explains itself with --help and refuses unknown commands with exit 2', () => {
    const help = rekey('--help');
    assert.equal(help.status, 0);
    for (const cmd of [
      'rotate',
      'verify',
      'status',
      'approve',
      'reject',
      'resign-token',
      'worker',
      'quickstart',
    ]) {
      assert.match(help.stdout, new RegExp(`^  ${cmd}`, 'm'), `--help documents ${cmd}`);
    }
    // Each command explains itself, without a server or a config.
    for (const cmd of [
      'rotate',
      'rollover',
      'promote',
      'status',
      'approve',
      'expedite',
      'schedule create',
      'resign-token',
    ]) {
      const own = rekey(...cmd.split(' '), '--help');
      assert.equal(own.status, 0, `${cmd} --help`);
      assert.match(own.stdout, new RegExp(`^rekey ${cmd} `), `${cmd} --help starts with its usage`);
      assert.match(own.stdout, /Exit codes: 0 done/);
    }
    const bad = rekey('rotat');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown command "rotat"; did you mean `rotate`\?/);
    const version = rekey('--version');
    assert.equal(version.status, 0);
    assert.equal(
      version.stdout.trim(),
      `rekey ${JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version}`,
    );
  });

  it('takes --config after the positional arguments, on every command; refuses extra arguments', () => {
    const before = rekey('--config', join(tmpdir(), 'absent-rekey.yaml'), 'verify');
    assert.equal(before.status, 2);
    assert.match(before.stderr, /no config file: rekey looked for --config .*absent-rekey\.yaml/);
    const after = rekey('rollover', 'api', '--dry-run', '--config', join(tmpdir(), 'absent-rekey.yaml'));
    assert.equal(after.status, 2);
    assert.match(after.stderr, /no config file: rekey looked for --config .*absent-rekey\.yaml/);
    const extra = rekey('status', 'rotate-jwt/prod', 'rotate-jwt/test');
    assert.equal(extra.status, 2);
    assert.match(extra.stderr, /unexpected argument "rotate-jwt\/test"; see --help/);
    const unknown = rekey('verify', '--confg', 'rekey.yaml');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown option --confg; did you mean --config\?/);
  });

  it('names the Temporal address it cannot reach and how to change it', () => {
    const res = rekey('status', 'rotate-jwt/prod');
    assert.equal(res.status, 1);
    assert.match(
      res.stderr,
      /cannot reach the Temporal server at 127\.0\.0\.1:1 .*set TEMPORAL_ADDRESS=host:port or a temporal\.toml profile/,
    );
  });

  it('refuses a mutating rotation without --yes when no approval gate applies', () => {
    const res = rekey('rotate', '--env', 'test', '--config', configWithoutApprovals());
    assert.equal(res.status, 2);
    assert.match(res.stderr, /rotate changes keys of test: pass --yes/);
  });

  it('a freeze refuses a start before anything (exit 2), not a dry run; --override-freeze needs a reason', () => {
    const file = configWithoutApprovals();
    const doc = parse(readFileSync(file, 'utf8'));
    const now = Date.now();
    doc.freezes = {
      'year-end': {
        from: new Date(now - 3600_000).toISOString(),
        to: new Date(now + 3600_000).toISOString(),
        environments: ['test'],
        reason: 'release week',
      },
    };
    writeFileSync(file, stringify(doc));
    for (const args of [
      ['rotate', '--env', 'test', '--yes'],
      ['promote', 'prod', 'test', '--yes'],
    ]) {
      const res = rekey(...args, '--config', file);
      assert.equal(res.status, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(
        res.stderr,
        /is frozen until .* \(freeze year-end: release week\); nothing was changed: wait for its end, or start it with --override-freeze REASON/,
        args.join(' '),
      );
    }
    // Past the freeze check: a dry run, and an override, go on to look for the server.
    for (const more of [['--dry-run'], ['--override-freeze', 'INC-7']]) {
      const res = rekey('rotate', '--env', 'test', '--yes', ...more, '--config', file);
      assert.match(res.stderr, /cannot reach the Temporal server/, more.join(' '));
    }
    const blank = rekey('rotate', '--env', 'test', '--yes', '--override-freeze', ' ', '--config', file);
    assert.equal(blank.status, 2);
    assert.match(blank.stderr, /--override-freeze needs a reason/);
    // Creating a schedule changes nothing: its runs meet the freeze when they start.
    assert.match(
      rekey(
        'schedule',
        'create',
        'rotate-jwt',
        '--env',
        'test',
        '--every',
        'quarter',
        '--yes',
        '--config',
        file,
      ).stderr,
      /cannot reach the Temporal server/,
    );
    // A promotion changes its destinations: a freeze of its source holds it only with --consistent.
    doc.freezes['year-end'].environments = ['prod'];
    writeFileSync(file, stringify(doc));
    assert.match(
      rekey('promote', 'prod', 'test', '--yes', '--config', file).stderr,
      /cannot reach the Temporal server/,
    );
    const consistent = rekey('promote', 'prod', 'test', '--yes', '--consistent', '--config', file);
    assert.equal(consistent.status, 2);
    assert.match(consistent.stderr, /^rekey: prod is frozen until /);
    // And config check names a freeze of an environment that does not exist.
    doc.freezes['year-end'].environments = ['tset'];
    writeFileSync(file, stringify(doc));
    const bad = rekey('config', 'check', '--config', file);
    assert.equal(bad.status, 2);
    assert.match(
      bad.stderr,
      /freezes\.year-end\.environments\.0: unknown environment "tset" \(did you mean "test"\?\)/,
    );
  });

  it('schedule create checks its --window before it reaches the server, naming what is wrong', () => {
    const file = configWithoutApprovals();
    const create = (...more: string[]) =>
      rekey(
        'schedule',
        'create',
        'rotate-jwt',
        '--env',
        'test',
        '--every',
        'week',
        '--yes',
        ...more,
        '--config',
        file,
      );
    for (const [more, problem] of [
      [
        ['--window', 'weekdays 9-5'],
        /^rekey: --window: allow\.0: days and hours such as "mon-fri 09:00-17:00"/,
      ],
      [
        ['--window', 'mon-fri 09:00-17:00', '--time-zone', 'Mars/Olympus'],
        /--window: timeZone: an IANA time zone/,
      ],
      [['--window', 'mon-fri 09:00-17:00', '--outside', 'later'], /--window: outside: .*"wait".*"skip"/],
      [['--time-zone', 'Europe/Berlin'], /--time-zone and --outside go with --window/],
    ] as const) {
      const res = create(...more);
      assert.equal(res.status, 2, `${more.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, problem, more.join(' '));
    }
    const codec = rekey(
      'schedule',
      'create',
      'codec-key',
      '--every',
      'week',
      '--window',
      'mon 09:00-10:00',
      '--config',
      file,
    );
    assert.equal(codec.status, 2);
    assert.match(codec.stderr, /codec-key takes no --window: its runs change no environment/);
    // A good window goes on to look for the server.
    assert.match(
      create('--window', 'mon-fri 09:00-17:00', '--window', 'sat 10:00-12:00', '--time-zone', 'Europe/Berlin')
        .stderr,
      /cannot reach the Temporal server/,
    );
  });

  it('refuses a promotion without --yes, or with a chain of one', () => {
    const cfg = configWithoutApprovals();
    const res = rekey('promote', 'prod', 'test', 'dev', '--config', cfg);
    assert.equal(res.status, 2);
    assert.match(
      res.stderr,
      /promote replaces the data of test, dev \(files only there are deleted\): pass --yes/,
    );
    const one = rekey('promote', 'prod', '--yes', '--config', cfg);
    assert.equal(one.status, 2);
    assert.match(one.stderr, /promote needs a chain of at least two environments/);
  });

  it('refuses a promotion hop it cannot make, naming the host', () => {
    const cfg = configWithoutApprovals();
    const local = rekey('promote', 'local', 'test', '--yes', '--config', cfg);
    assert.equal(local.status, 2);
    assert.match(local.stderr, /local -> test: the source host workstation must be an SSH host/);
    const noSync = rekey('promote', 'dev', 'test', '--yes', '--config', cfg);
    assert.equal(noSync.status, 2);
    assert.match(noSync.stderr, /dev -> test: the source host needs hosts\.azvmdev\.sync/);
    const twice = rekey('promote', 'prod', 'test', 'prod', '--yes', '--config', cfg);
    assert.equal(twice.status, 2);
    assert.match(twice.stderr, /an environment appears twice in prod -> test -> prod/);
  });

  it('names an unknown environment and a missing --env', () => {
    const cfg = configWithoutApprovals();
    const unknown = rekey('rotate', '--env', 'staging', '--yes', '--config', cfg);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown environment "staging"; configured: prod, test, dev, local/);
    const none = rekey('rotate', '--yes', '--config', cfg);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /rotate needs at least one --env/);
    const flag = rekey('rotate', '--env', 'test', '--force', '--config', cfg);
    assert.equal(flag.status, 2);
    assert.match(flag.stderr, /--force/);
  });

  it('refuses a rollover whose wait is shorter than the keyring token lifetime, before anything starts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-cli-'));
    const doc = parse(readFileSync(join(repo, 'rekey.example.yaml'), 'utf8'));
    doc.services.api = { driver: 'compose', service: 'api' };
    doc.keyrings = {
      api: {
        store: 'kv-prod',
        secret: 'api-keyring',
        tokenLifetime: '90d',
        replicas: [{ host: 'azvmprod', service: 'api', url: 'https://api.example.com' }],
      },
    };
    const cfg = join(dir, 'rekey.yaml');
    writeFileSync(cfg, stringify(doc));
    const short = rekey('rollover', 'api', '--ttl', '30d', '--yes', '--config', cfg);
    assert.equal(short.status, 2);
    assert.match(short.stderr, /--ttl 30d is shorter than keyring api's token lifetime 90d/);
    const unknown = rekey('rollover', 'web', '--yes', '--config', cfg);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown keyring "web"; configured: api/);
    // The example gates prod, which the ring serves (its store, its replica's host): there the
    // gate is the confirmation. Without a gate, --yes is.
    const ungated = join(dir, 'ungated.yaml');
    const open = structuredClone(doc);
    open.approvals.requiredFor = [];
    for (const e of Object.values(open.environments) as { approvals?: unknown }[]) delete e.approvals;
    writeFileSync(ungated, stringify(open));
    const noYes = rekey('rollover', 'api', '--config', ungated);
    assert.equal(noYes.status, 2);
    assert.match(
      noYes.stderr,
      /rollover changes keyring api: pass --yes, or require an approval for an environment it serves/,
    );
    const oldFlag = rekey('rollover', 'api', '--approval', '--config', cfg);
    assert.equal(oldFlag.status, 2);
    assert.match(
      oldFlag.stderr,
      /--approval is gone: a rollover waits for an approver when rekey\.yaml requires one/,
    );
    const badTtl = rekey('rollover', 'api', '--ttl', 'soon', '--yes', '--config', cfg);
    assert.equal(badTtl.status, 2);
    assert.match(badTtl.stderr, /--ttl: bad duration "soon"/);
  });

  it('resign-token re-signs a cli.toml in place, keeping the identity and the file mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-resign-'));
    const oldKey = generateKeyPair();
    const newKey = generateKeyPair();
    const toml = join(dir, 'cli.toml');
    const keyFile = join(dir, 'id_ecdsa');
    const before = await publisherToken(oldKey.privatePem, 'publisher-dev');
    writeFileSync(toml, `spacetimedb_token = "${before}"\n`, { mode: 0o600 });
    writeFileSync(keyFile, newKey.privatePem, { mode: 0o600 });
    // Checked against the key that should have signed it: a stranger's key is refused first.
    const stranger = join(dir, 'stranger.pub');
    writeFileSync(stranger, generateKeyPair().publicPem);
    const refused = rekey(
      'resign-token',
      '--cli-toml',
      toml,
      '--private-key',
      keyFile,
      '--old-public-key',
      stranger,
    );
    assert.equal(refused.status, 2, refused.stdout);
    assert.match(
      refused.stderr,
      /the token is not signed by the key that should have signed it; refusing to re-sign it/,
    );
    assert.equal(readFileSync(toml, 'utf8'), `spacetimedb_token = "${before}"\n`, 'unchanged');
    const oldPub = join(dir, 'old.pub');
    writeFileSync(oldPub, oldKey.publicPem);
    const res = rekey(
      'resign-token',
      '--cli-toml',
      toml,
      '--private-key',
      keyFile,
      '--old-public-key',
      oldPub,
    );
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /re-signed/);
    assert.doesNotMatch(res.stdout, /not checked/);
    assert.match(res.stdout, /identity kept: iss=localhost sub=publisher-dev/);
    assert.doesNotMatch(res.stdout + res.stderr, /eyJ|PRIVATE KEY/);
    const after = readTokenFromToml(readFileSync(toml, 'utf8'), 'spacetimedb_token', toml);
    assert.deepEqual(tokenIdentity(after), tokenIdentity(before));
    assert.equal(await signedBy(after, newKey.privatePem), true);
    assert.equal(statSync(toml).mode & 0o777, 0o600);
    const again = rekey('resign-token', '--cli-toml', toml, '--private-key', keyFile);
    assert.match(again.stdout, /already signed by this key; unchanged/);
    // --json: the same, as one document with the identity kept and never the token.
    const json = rekey('resign-token', '--cli-toml', toml, '--private-key', keyFile, '--json');
    assert.equal(json.status, 0, json.stderr);
    const doc = JSON.parse(json.stdout);
    assertMatchesSchema('resign-token', doc);
    assert.deepEqual(
      [doc.changed, doc.dryRun, doc.signatureChecked, doc.identity.iss, doc.identity.sub],
      [false, false, false, 'localhost', 'publisher-dev'],
    );
    assert.doesNotMatch(json.stdout, /eyJ/);
    assert.match(again.stdout, /the token's signature is not checked \(pass --old-public-key/);
  });

  it('a command group lists its commands: `rekey secret --help` (exit 0), `rekey secret` and a wrong word (exit 2)', () => {
    for (const group of ['secret', 'schedule', 'config', 'audit', 'codec-key', 'keys']) {
      const help = rekey(group, '--help');
      assert.equal(help.status, 0, `${group} --help: ${help.stderr}`);
      assert.match(help.stdout, new RegExp(`^rekey ${group}: one of\\n  rekey ${group} \\S+`), group);
      assert.doesNotMatch(help.stdout + help.stderr, /unknown command/);
      const bare = rekey(group);
      assert.equal(bare.status, 2, group);
      assert.match(bare.stderr, new RegExp(`^rekey ${group}: one of`));
    }
    const wrong = rekey('secret', 'rotat');
    assert.equal(wrong.status, 2);
    assert.match(
      wrong.stderr,
      /^rekey: unknown command "secret rotat"\nrekey secret: one of\n {2}rekey secret rotate /,
    );
  });

  it("the guide's tool flags: --resign-token-only with its paths re-signs; --verify-only is verify", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-guide-flags-'));
    const oldKey = generateKeyPair();
    const newKey = generateKeyPair();
    const toml = join(dir, 'cli.toml');
    const keyFile = join(dir, 'id_ecdsa');
    const before = await publisherToken(oldKey.privatePem, 'publisher-local');
    writeFileSync(toml, `spacetimedb_token = "${before}"\n`, { mode: 0o600 });
    writeFileSync(keyFile, newKey.privatePem, { mode: 0o600 });
    const args = [
      'rotate',
      '--resign-token-only',
      '--publisher-cli-toml-path',
      toml,
      '--private-key-path',
      keyFile,
    ];
    const unconfirmed = rekey(...args);
    assert.equal(unconfirmed.status, 2);
    assert.match(
      unconfirmed.stderr,
      /--resign-token-only rewrites .*cli\.toml: pass --yes, or preview with --dry-run/,
    );
    const preview = rekey(...args, '--dry-run');
    assert.equal(preview.status, 0, preview.stderr);
    assert.match(preview.stdout, /would be re-signed \(dry run: unchanged\)/);
    assert.equal(
      readFileSync(toml, 'utf8'),
      `spacetimedb_token = "${before}"\n`,
      'the dry run wrote nothing',
    );
    const res = rekey(...args, '--yes');
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /re-signed/);
    const after = readTokenFromToml(readFileSync(toml, 'utf8'), 'spacetimedb_token', toml);
    assert.deepEqual(tokenIdentity(after), tokenIdentity(before));
    assert.equal(await signedBy(after, newKey.privatePem), true);
    const noKey = rekey('rotate', '--resign-token-only', '--publisher-cli-toml-path', toml);
    assert.equal(noKey.status, 2);
    assert.match(noKey.stderr, /--resign-token-only needs --private-key-path/);
    const stray = rekey(
      'rotate',
      '--env',
      'prod',
      '--private-key-path',
      keyFile,
      '--config',
      configWithoutApprovals(),
    );
    assert.equal(stray.status, 2);
    assert.match(stray.stderr, /go with --resign-token-only/);
    // --verify-only is `rekey verify`: a local environment with an empty file store.
    const config = join(dir, 'rekey.yaml');
    writeFileSync(
      config,
      stringify({
        keyGroups: { local: ['local'] },
        stores: { files: { type: 'file', dir: join(dir, 'secrets') } },
        hosts: { here: { type: 'local', appDir: dir, dataDir: join(dir, 'data') } },
        services: { app: { driver: 'compose' } },
        environments: { local: { store: 'files', host: 'here', service: 'app' } },
      }),
    );
    const verify = rekey('verify', '--config', config);
    const verifyOnly = rekey('rotate', '--verify-only', '--config', config);
    assert.equal(verify.status, 1, verify.stdout + verify.stderr);
    assert.equal(verifyOnly.status, verify.status);
    assert.equal(verifyOnly.stdout, verify.stdout);
    assert.match(verifyOnly.stdout, /problem: local: no key pair in its store/);
  });

  it('resign-token rejects bad input with one clear error and leaves the file alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-resign-'));
    const key = generateKeyPair();
    const keyFile = join(dir, 'id_ecdsa');
    writeFileSync(keyFile, key.privatePem);
    const toml = join(dir, 'cli.toml');
    const { SignJWT } = await import('jose');
    const { parsePrivateKey } = await import('../../activities/keys');
    const noSub = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('localhost')
      .sign(parsePrivateKey(key.privatePem));
    const original = `spacetimedb_token = "${noSub}"\n`;
    writeFileSync(toml, original);
    const res = rekey('resign-token', '--cli-toml', toml, '--private-key', keyFile);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /cli\.toml: the token has no sub claim/);
    assert.equal(readFileSync(toml, 'utf8'), original);

    const missing = rekey('resign-token', '--cli-toml', join(dir, 'nope.toml'), '--private-key', keyFile);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /nope\.toml: cannot read the cli\.toml \(ENOENT\)/);

    writeFileSync(
      join(dir, 'rsa'),
      (await import('node:crypto'))
        .generateKeyPairSync('rsa', { modulusLength: 2048 })
        .privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    const rsa = rekey('resign-token', '--cli-toml', toml, '--private-key', join(dir, 'rsa'));
    assert.equal(rsa.status, 2);
    assert.match(rsa.stderr, /rsa: RSA key; ES256 needs an EC P-256 key/);
    assert.equal(readFileSync(toml, 'utf8'), original);

    const args = rekey('resign-token', '--cli-toml', toml);
    assert.equal(args.status, 2);
    assert.match(args.stderr, /needs --cli-toml P and --private-key P/);
  });
});
