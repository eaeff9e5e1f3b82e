// --json output: each command's document matches its JSON Schema in schemas/ (checked with Ajv),
// for a good and a bad case, with the text's exit codes. Commands that need no server here; the
// status of a live run is checked in cli-temporal.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { JsonSchemaName } from '../../client/json';
import { createSecretStore } from '../../stores/drivers';
import { assertMatchesSchema, validatorOf } from '../infra/json-schemas';

const repo = join(__dirname, '..', '..', '..');
const rekey = (...args: string[]) =>
  spawnSync(process.execPath, [join(repo, 'bin/rekey'), ...args], { encoding: 'utf8' });

describe('--json output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-json-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // One local environment: a file store, this machine, a service of plain commands.
  mkdirSync(join(dir, 'app/data'), { recursive: true });
  const config = join(dir, 'rekey.yaml');
  const local = {
    keyGroups: { local: ['local'] },
    stores: { files: { type: 'file', dir: 'secrets' } },
    hosts: { here: { type: 'local', appDir: 'app', dataDir: 'app/data' } },
    services: { svc: { driver: 'command', start: 'true', stop: 'true', restart: 'true', logs: 'true' } },
    environments: { local: { store: 'files', host: 'here', service: 'svc' } },
  };
  writeFileSync(
    config,
    JSON.stringify({
      ...local,
      secrets: {
        'api-token': {
          environments: ['local'],
          generator: { type: 'random', bytes: 32, encoding: 'hex' },
          locations: [{ name: 'api-token' }],
          rotateEvery: '90d',
        },
        'db-password': {
          environments: ['local'],
          generator: { type: 'password' },
          locations: [{ name: 'db-password' }],
        },
      },
    }),
  );

  it('every schema compiles (strict)', () => {
    for (const name of [
      'config-check',
      'verify',
      'secret-status',
      'secret-supply',
      'status',
      'history',
      'run',
      'schedule',
      'schedule-list',
      'sync-status',
      'resign-token',
      'decision',
      'cancel',
      'codec-keyring',
    ] as JsonSchemaName[]) {
      assert.doesNotThrow(() => validatorOf(name), name);
      assert.equal(
        validatorOf(name)({ schema: `rekey/${name}/1` }),
        false,
        `${name}: an empty document fails`,
      );
    }
  });

  it('config check: the summary of a valid config, or each problem placed in the file (exit 2)', () => {
    const good = rekey('config', 'check', '--config', join(repo, 'rekey.example.yaml'), '--json');
    assert.equal(good.status, 0, good.stderr);
    const doc = JSON.parse(good.stdout);
    assertMatchesSchema('config-check', doc);
    assert.equal(doc.ok, true);
    assert.deepEqual(
      doc.environments.map((e: { name: string }) => e.name),
      ['prod', 'test', 'dev', 'local'],
    );
    assert.ok(doc.warnings.length > 0, "the example's placeholders are named");

    const badFile = join(dir, 'bad.yaml');
    writeFileSync(
      badFile,
      'keyGroups: {}\nstores: {}\nhosts: {}\nservices: {}\nenvironments:\n  prod: { store: kv, host: h, service: s }\n',
    );
    const bad = rekey('config', 'check', '--config', badFile, '--json');
    assert.equal(bad.status, 2, bad.stderr);
    const problems = JSON.parse(bad.stdout);
    assertMatchesSchema('config-check', problems);
    assert.equal(problems.ok, false);
    assert.ok(
      problems.problems.some(
        (p: { path?: string; line?: number }) => p.path === 'environments.prod.store' && p.line === 6,
      ),
      bad.stdout,
    );
  });

  it('verify: each environment and every problem (exit 1 on any)', () => {
    const res = rekey('verify', '--config', config, '--json');
    assert.equal(res.status, 1, res.stderr);
    const doc = JSON.parse(res.stdout);
    assertMatchesSchema('verify', doc);
    assert.equal(doc.ok, false);
    assert.equal(doc.environments[0].env, 'local');
    assert.ok(doc.problems.length > 0);
  });

  it('secret status: an entry per secret and environment, with its version and due date', async () => {
    const store = createSecretStore('files', { type: 'file', dir: join(dir, 'secrets') });
    const written = await store.set('api-token', 'not-a-real-token-0123456789', {});
    const res = rekey('secret', 'status', '--config', config, '--json');
    assert.equal(res.status, 0, res.stderr);
    const doc = JSON.parse(res.stdout);
    assertMatchesSchema('secret-status', doc);
    const byName = Object.fromEntries(doc.secrets.map((s: { secret: string }) => [s.secret, s]));
    assert.equal(byName['api-token'].version, written.version);
    assert.equal(byName['api-token'].writtenBy, 'outside rekey');
    assert.equal(byName['api-token'].overdue, false);
    assert.equal(byName['db-password'].version, null, 'no value yet');
    assert.doesNotMatch(res.stdout, /not-a-real-token/, 'no value in the output');
  });

  it('secret status: a store that cannot be read is named per secret and exits 3 (not 1, overdue)', async () => {
    mkdirSync(join(dir, 'secrets'), { recursive: true });
    const broken = join(dir, 'secrets', 'db-password.json');
    writeFileSync(broken, 'not json');
    try {
      const res = rekey('secret', 'status', '--config', config, '--json');
      assert.equal(res.status, 3, res.stderr);
      const doc = JSON.parse(res.stdout);
      assertMatchesSchema('secret-status', doc);
      const byName = Object.fromEntries(doc.secrets.map((s: { secret: string }) => [s.secret, s]));
      assert.match(
        byName['db-password'].unreadable,
        /store files: .*db-password\.json is unreadable or not JSON/,
      );
      assert.equal(byName['api-token'].unreadable, undefined, 'the other secret is still read');
      const text = rekey('secret', 'status', '--config', config);
      assert.equal(text.status, 3);
      assert.match(text.stdout, /db-password local: files:db-password cannot be read: store files: /);
      assert.match(text.stdout, /api-token local: files:api-token version /);
    } finally {
      rmSync(broken);
    }
  });

  it('codec-key init and rotate --dry-run: the keyring as ids, never a key', () => {
    const withCodec = join(dir, 'rekey-codec.yaml');
    writeFileSync(withCodec, JSON.stringify({ ...local, codec: { store: 'files', secret: 'codec-ring' } }));
    const made = rekey('codec-key', 'init', '--config', withCodec, '--json');
    assert.equal(made.status, 0, made.stderr);
    const ring = JSON.parse(made.stdout);
    assertMatchesSchema('codec-keyring', ring);
    assert.deepEqual(
      [ring.store, ring.secret, ring.keys, ring.dryRun],
      ['files', 'codec-ring', [ring.active], false],
    );
    const plan = rekey('codec-key', 'rotate', '--dry-run', '--config', withCodec, '--json');
    assert.equal(plan.status, 0, plan.stderr);
    const seen = JSON.parse(plan.stdout);
    assertMatchesSchema('codec-keyring', seen);
    assert.deepEqual([seen.active, seen.keys, seen.dryRun], [ring.active, [ring.active], true]);
    // The stored ring holds the key itself (base64): it is in neither document.
    const stored = JSON.parse(readFileSync(join(dir, 'secrets', 'codec-ring.json'), 'utf8'));
    const key = String(JSON.parse(stored.versions.at(-1).value).keys[ring.active]);
    assert.ok(key.length > 20, 'the store holds the key');
    assert.ok(!made.stdout.includes(key) && !plan.stdout.includes(key), 'no key in the output');
  });
});
