import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { ConfigError, loadConfig, parseConfig } from '../../config/load';
import { approversConfig } from '../infra/approvers';

const repo = resolve(__dirname, '../../..');
const example = join(repo, 'rekey.example.yaml');

function rekey(...args: string[]) {
  return rekeyIn(process.cwd(), ...args);
}

function rekeyIn(cwd: string, ...args: string[]) {
  return spawnSync(process.execPath, [join(repo, 'bin/rekey'), ...args], { cwd, encoding: 'utf8' });
}

// biome-ignore lint/suspicious/noExplicitAny: the tests edit arbitrary YAML documents
function exampleDoc(): Record<string, any> {
  return parse(readFileSync(example, 'utf8'));
}

function problems(doc: unknown): string[] {
  try {
    parseConfig(doc, 'rekey.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

/** A kubernetes store for the cases that use one. */
const K8S_STORE = {
  type: 'kubernetes',
  server: 'https://10.0.0.1:6443',
  namespace: 'proxy',
  token: { env: 'KUBE_TOKEN' },
  caFile: 'ca.pem',
};

/** Secret recipe checks, each case from the shipped example with an SSM store added. */
const RECIPE_CASES: {
  name: string;
  // biome-ignore lint/suspicious/noExplicitAny: the cases edit arbitrary YAML documents
  edit: (doc: Record<string, any>) => void;
  problems: string[];
}[] = [
  {
    name: 'references, environments, consumers, names a store holds, a password policy that can be met',
    edit: (doc) => {
      doc.secrets = {
        token: {
          environments: ['prod', 'nope'],
          generator: { type: 'password', length: 12, classes: ['lower', 'digit'], exclude: '0123456789' },
          locations: [
            { store: 'ssm', name: '/app/{env}/TOKEN' },
            { name: 'token_{env}' },
            { store: 'kv-prd', name: 'x' },
          ],
          consumers: ['spacetimedbb'],
        },
      };
    },
    problems: [
      'secrets.token.generator.exclude: leaves no character of class digit',
      'secrets.token.environments.1: unknown environment "nope"',
      'secrets.token.consumers.0: unknown service "spacetimedbb" (did you mean "spacetimedb"?)',
      'secrets.token.locations.1.name: "token_prod" (in prod) is not a secret name for azure-keyvault store kv-prod (letters, digits and -)',
      'secrets.token.locations.2.store: unknown store "kv-prd" (did you mean "kv-prod"?)',
    ],
  },
  {
    name: "a place is one recipe's in one environment, and never the JWT pair's",
    edit: (doc) => {
      doc.secrets = {
        shared: {
          environments: ['prod', 'test'],
          generator: { type: 'fernet' },
          locations: [{ store: 'ssm', name: '/app/WEBHOOK_KEY' }],
        },
        jwt: {
          environments: ['prod'],
          generator: { type: 'fernet' },
          locations: [{ name: 'spacetimedb-jwt-private-key' }],
        },
      };
    },
    problems: [
      'secrets.shared.locations.0.name: ssm:/app/WEBHOOK_KEY is already where shared in prod lives (put {env} in the name?)',
      'secrets.jwt.locations.0.name: kv-prod:spacetimedb-jwt-private-key is already where the JWT key pair lives',
    ],
  },
  {
    name: 'a value issued by hand: replace only, revoked where it was issued (confirmed by an approver)',
    edit: (doc) => {
      doc.approvals = { requiredFor: [], approvers: [] };
      delete doc.environments.prod.approvals;
      doc.secrets = {
        neon: {
          environments: ['prod'],
          strategy: 'keyring',
          keyring: { overlap: '1h' },
          generator: { type: 'manual', issuer: 'Neon console', within: '10s' },
          locations: [{ store: 'ssm', name: '/app/{env}/NEON_API_KEY' }],
          revoke: { command: 'true' },
        },
      };
    },
    problems: [
      'secrets.neon.generator.within: from 1m to 7d',
      'secrets.neon.revoke: a keyring recipe drops its old keys instead',
      'secrets.neon.strategy: a value issued elsewhere (generator: manual) is rotated by strategy: replace',
      'secrets.neon.revoke: a manual value is revoked where it was issued (Neon console): the run ends at a gate where an approver confirms it; drop revoke:',
      'secrets.neon.generator: a manual value ends at a gate where an approver confirms the old one revoked: approvals.approvers names nobody',
    ],
  },
  {
    name: 'keyring recipes need keyring: and drop old keys instead of revoking them',
    edit: (doc) => {
      doc.secrets = {
        keys: {
          environments: ['prod'],
          strategy: 'keyring',
          generator: { type: 'fernet' },
          locations: [{ store: 'ssm', name: '/app/{env}/KEYS' }],
          revoke: { command: 'true' },
        },
        plain: {
          environments: ['prod'],
          generator: { type: 'fernet' },
          keyring: { overlap: '7d' },
          locations: [{ store: 'ssm', name: '/app/{env}/PLAIN' }],
        },
      };
    },
    problems: [
      'secrets.keys.keyring: a keyring recipe needs keyring: {overlap}',
      'secrets.keys.revoke: a keyring recipe drops its old keys instead',
      'secrets.plain.keyring: only for strategy: keyring',
    ],
  },
  {
    name: 'rows re-encrypted with AES-256-GCM: a 32-byte key, a postgres server, each column once',
    edit: (doc) => {
      doc.secrets = {
        rows: {
          environments: ['prod'],
          strategy: 'keyring',
          generator: { type: 'random', bytes: 24 },
          keyring: {
            overlap: '1h',
            reencrypt: { store: 'ssm', table: 'org_instances', key: 'id', columns: ['url', 'id'] },
          },
          locations: [{ store: 'ssm', name: '/app/{env}/ROWS_KEY' }],
        },
        badTable: {
          environments: ['prod'],
          strategy: 'keyring',
          generator: { type: 'random', bytes: 32 },
          keyring: {
            overlap: '1h',
            reencrypt: { store: 'ssm', table: 'x; DROP', key: 'id', columns: ['u'] },
          },
          locations: [{ store: 'ssm', name: '/app/{env}/T_KEY' }],
        },
      };
    },
    problems: [
      'secrets.badTable.keyring.reencrypt.table: a table name, or schema.table (letters, digits and _)',
      'secrets.rows.keyring.reencrypt.store: "ssm" is not a postgres store',
      'secrets.rows.generator: rows are re-encrypted with AES-256-GCM: the generator must be {type: random, bytes: 32}',
      'secrets.rows.keyring.reencrypt.columns: each sealed column once, and not the key column',
      'secrets.badTable.keyring.reencrypt.store: "ssm" is not a postgres store',
    ],
  },
  {
    name: "a Kubernetes Secret's key: SECRET/KEY, after a store rekey reads back; it may hold a key list",
    edit: (doc) => {
      doc.stores.k8s = { ...K8S_STORE };
      doc.secrets = {
        list: {
          environments: ['prod'],
          strategy: 'keyring',
          generator: { type: 'random', bytes: 32 },
          keyring: { overlap: '1h' },
          locations: [
            { store: 'ssm', name: '/app/{env}/LIST' },
            { store: 'k8s', name: 'rp-admin/SIGNING_KEYS' },
          ],
        },
        flat: {
          environments: ['prod'],
          generator: { type: 'random', bytes: 32 },
          locations: [
            { store: 'k8s', name: 'rp-admin/TOKEN' },
            { store: 'k8s', name: 'no-key' },
          ],
        },
      };
    },
    problems: [
      'secrets.flat.locations.0.store: the first location must be a store rekey can read back (a kubernetes store keeps no versions to put back)',
      'secrets.flat.locations.1.name: "no-key" (in prod) is not SECRET/KEY (a Secret\'s name, "/", one of its keys) for kubernetes store k8s',
    ],
  },
  {
    name: 'a keyring goes to hosts or to a Kubernetes Secret',
    edit: (doc) => {
      doc.stores.k8s = { ...K8S_STORE };
      doc.keyrings = {
        nowhere: { store: 'kv-prod', secret: 'ring-a' },
        kube: {
          store: 'kv-prod',
          secret: 'ring-b',
          kubernetes: { store: 'ssm', secret: 'rp', deployments: ['rp'] },
        },
      };
    },
    problems: [
      'keyrings.nowhere: where is it installed? replicas: (hosts) or kubernetes: (a Secret)',
      'keyrings.kube.kubernetes.store: "ssm" is not a kubernetes store',
    ],
  },
  {
    name: "a keyring's Secret holds one keyring, and no recipe location on its key.* or active keys",
    edit: (doc) => {
      doc.stores.k8s = { ...K8S_STORE };
      const inSecret = { store: 'k8s', secret: 'rp-admin', deployments: ['rp'] };
      doc.keyrings = {
        one: { store: 'kv-prod', secret: 'ring-a', kubernetes: inSecret },
        two: { store: 'kv-prod', secret: 'ring-b', kubernetes: inSecret },
      };
      doc.secrets = {
        flat: {
          environments: ['prod'],
          generator: { type: 'random', bytes: 32 },
          locations: [
            { store: 'ssm', name: '/app/{env}/FLAT' },
            { store: 'k8s', name: 'rp-admin/active' },
            { store: 'k8s', name: 'rp-admin/TOKEN' },
          ],
        },
      };
    },
    problems: [
      'keyrings.two.kubernetes.secret: Secret rp-admin already holds keyring one: each keyring needs a Secret of its own',
      "secrets.flat.locations.1.name: active of Secret rp-admin is keyring one's (its key.* and active keys)",
    ],
  },
  {
    name: "postgres roles: alternating pairs per environment, the admin's password and role are not recipes'",
    edit: (doc) => {
      doc.stores.pg = {
        type: 'postgres',
        host: 'db',
        user: 'rekey_admin',
        password: { store: 'kv-prod', name: 'pg-admin' },
      };
      doc.secrets = {
        login: {
          environments: ['prod', 'test'],
          strategy: 'alternating',
          generator: { type: 'password' },
          alternate: { store: 'pg', users: ['app_a', 'app_b'] },
          locations: [{ store: 'ssm', name: '/app/{env}/LOGIN' }],
        },
        admin: {
          environments: ['prod'],
          generator: { type: 'password' },
          locations: [{ name: 'pg-admin' }],
          verify: [{ postgresLogin: 'pg' }],
        },
        roles: {
          environments: ['prod'],
          generator: { type: 'password' },
          locations: [
            { store: 'pg', name: 'app' },
            { store: 'ssm', name: '/app/{env}/ROLE' },
            { store: 'pg', name: 'rekey_admin' },
          ],
        },
      };
    },
    problems: [
      'secrets.login.alternate.users: role app_a on pg is already where login in prod lives (put {env} in the role names?)',
      'secrets.admin.verify.0.user: missing: the role to log in as (only an alternating recipe names it in its value)',
      'secrets.admin.locations.0.name: kv-prod:pg-admin is already where the admin password of pg lives',
      'secrets.roles.locations.2.name: pg:rekey_admin is already where the admin role of pg lives',
      'secrets.roles.locations.0.store: the first location must be a store rekey can read back (a postgres role cannot)',
    ],
  },
  {
    name: 'a credential of several fields: the first location holds it whole, others one field each',
    edit: (doc) => {
      const pair = { type: 'command', run: 'issue-key', fields: ['accessKeyId', 'secretAccessKey'] };
      doc.secrets = {
        r2: {
          environments: ['prod'],
          generator: pair,
          locations: [
            { store: 'ssm', name: '/app/{env}/R2', field: 'accessKeyId' },
            { store: 'ssm', name: '/app/{env}/R2_ID', field: 'accesKeyId' },
          ],
          verify: [{ s3: 'media' }],
        },
        token: {
          environments: ['prod'],
          generator: { type: 'random' },
          locations: [
            { store: 'ssm', name: '/app/{env}/TOKEN' },
            { store: 'ssm', name: '/app/{env}/TOKEN_ID', field: 'id' },
          ],
          verify: [{ s3: 'media', endpoint: 'https://acct.r2.cloudflarestorage.com', region: 'auto' }],
        },
      };
    },
    problems: [
      'secrets.r2.locations.0.field: the first location holds the whole credential (every field)',
      'secrets.r2.locations.1.field: "accesKeyId" is not one of the generator\'s fields (accessKeyId, secretAccessKey) (did you mean "accessKeyId"?)',
      'secrets.token.locations.1.field: only for a command or manual generator with fields:',
      "secrets.token.verify.0.s3: an s3 probe signs with the value's accessKeyId and secretAccessKey: the generator must be a command with fields: [accessKeyId, secretAccessKey]",
    ],
  },
  {
    name: "write-only stores are never a recipe's first location; their names follow their rules",
    edit: (doc) => {
      doc.stores.gh = { type: 'github-actions', repository: 'acme/app', token: { env: 'GH_TOKEN' } };
      doc.stores.fly = { type: 'command', write: 'flyctl secrets import --app app', stdin: 'name=value' };
      doc.secrets = {
        fly: {
          environments: ['prod'],
          generator: { type: 'random' },
          locations: [
            { store: 'gh', name: 'FLY_API_TOKEN' },
            { store: 'fly', name: 'FLY_API_TOKEN' },
            { store: 'gh', name: 'GITHUB_TOKEN_{env}' },
            { store: 'fly', name: 'FLY-{env}' },
          ],
        },
      };
    },
    problems: [
      'secrets.fly.locations.0.store: the first location must be a store rekey can read back (a github-actions store cannot)',
      'secrets.fly.locations.2.name: "GITHUB_TOKEN_prod" (in prod) is not a GitHub Actions secret name (letters, digits and _, not starting with a digit or GITHUB_)',
      'secrets.fly.locations.3.name: "FLY-prod" (in prod) is not a variable name (letters, digits and _) for command store fly',
    ],
  },
  {
    name: "a write-only store is never the codec keyring's",
    edit: (doc) => {
      doc.stores.fly = { type: 'command', write: 'flyctl secrets import --app app', stdin: 'name=value' };
      doc.codec = { store: 'fly', secret: 'codec' };
    },
    problems: ['codec.store: store "fly" is write-only (command): rekey cannot read a value back from it'],
  },
];

describe('config', () => {
  it('accepts the shipped example with the guide defaults', () => {
    const cfg = loadConfig(example);
    assert.deepEqual(Object.keys(cfg.environments), ['prod', 'test', 'dev', 'local']);
    assert.equal(cfg.paths.cliToml, './data/.config/spacetime/cli.toml');
    assert.equal(cfg.secretNames.privateKey, 'spacetimedb-jwt-private-key');
    assert.deepEqual(cfg.keyGroups.shared, ['dev', 'local']);
    const prod = cfg.hosts.azvmprod;
    assert.equal(prod?.type === 'ssh' && prod.port, 22);
    const svc = cfg.services.spacetimedb;
    assert.deepEqual(svc?.markers.failure, ['PUBLISH_FAILED', 'InvalidSignature', 'not authorized']);
  });

  it("a YAML alias bomb is a config error naming the file (exit 2), not the library's exception", () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-bomb-'));
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 8; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    writeFileSync(join(dir, 'rekey.yaml'), `${levels.join('\n')}\n`);
    const res = rekeyIn(dir, 'config', 'check', '--config', 'rekey.yaml');
    assert.equal(res.status, 2, res.stderr);
    assert.equal(
      res.stderr,
      'rekey: rekey.yaml: not valid YAML: Excessive alias count indicates a resource exhaustion attack\n',
    );
  });

  it('names an unknown host, store and service reference by path', () => {
    const doc = exampleDoc();
    doc.environments.prod.host = 'azvmprd';
    doc.environments.test.store = 'kv-tset';
    doc.environments.dev.service = 'nope';
    assert.deepEqual(problems(doc), [
      'environments.prod.host: unknown host "azvmprd" (did you mean "azvmprod"?)',
      'environments.test.store: unknown store "kv-tset" (did you mean "kv-test"?)',
      'environments.dev.service: unknown service "nope"',
    ]);
  });

  it('checks key groups: unknown environment, an environment in two groups or in none', () => {
    const doc = exampleDoc();
    doc.keyGroups = { prod: ['prod', 'test'], shared: ['dev', 'test', 'staging'] };
    assert.deepEqual(problems(doc), [
      'keyGroups.shared.1: environment "test" is already in key group "prod"',
      'keyGroups.shared.2: unknown environment "staging"',
      'environments.local: environment "local" is in no key group',
    ]);
  });

  it('reports type and shape errors with their paths, all at once', () => {
    const doc = exampleDoc();
    doc.hosts.azvmprod.port = '22';
    doc.stores['kv-prod'].vaultUrl = 'http://kv-prod.vault.azure.net';
    doc.services.spacetimedb.markerTimeout = 'soon';
    doc.hosts.workstation.typo = true;
    doc.hosts.azvmprod.sync.bandwidthLimit = 'fast';
    const found = problems(doc);
    assert.equal(found.length, 5, found.join('\n'));
    assert.ok(found.some((p) => p.startsWith('hosts.azvmprod.sync.bandwidthLimit: a rate such as 40M')));
    assert.ok(found.some((p) => p.startsWith('hosts.azvmprod.port: ')));
    assert.ok(found.some((p) => p.startsWith('stores.kv-prod.vaultUrl: ')));
    assert.ok(found.some((p) => p.startsWith('services.spacetimedb.markerTimeout: ')));
    assert.ok(found.some((p) => p.startsWith('hosts.workstation: ') && p.includes('typo')));
  });

  it('requires approvers when an environment requires approval', () => {
    const doc = exampleDoc();
    doc.approvals = { requiredFor: ['prod'] };
    assert.deepEqual(problems(doc), [
      'approvals.approvers: approval is required for some environments but no approver is configured',
    ]);
  });

  it('signed approvals need a valid SSH public key per approver, and enough approvers', () => {
    const doc = exampleDoc();
    doc.approvals = { requiredFor: ['prod'], approvers: ['alice', 'bob'] };
    assert.deepEqual(problems(doc), [
      'approvals.approvers.alice: no SSH public key for alice, but decisions are signed (approvals.mode): list approvers as NAME: "ssh-ed25519 AAAA...", or set approvals.mode: named',
      'approvals.approvers.bob: no SSH public key for bob, but decisions are signed (approvals.mode): list approvers as NAME: "ssh-ed25519 AAAA...", or set approvals.mode: named',
    ]);

    doc.approvals = { requiredFor: ['prod'], approvers: ['alice', 'bob'], mode: 'named' };
    assert.deepEqual(problems(doc), [
      'environments.prod.approvals: required > 1 and separateFromStarter need signed approvals (mode: signed): named ones are taken on trust',
    ]);
    delete doc.environments.prod.approvals;
    assert.deepEqual(parseConfig(doc, 'rekey.yaml').approvals.approvers, { alice: null, bob: null });

    const keys = exampleDoc().approvals.approvers;
    doc.approvals = {
      requiredFor: ['prod'],
      approvers: { alice: keys.alice, bob: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ bob' },
    };
    assert.match(problems(doc).join('\n'), /^approvals\.approvers\.bob: not an SSH public key: /);
    doc.approvals = { requiredFor: ['prod'], approvers: { alice: 'ssh-ed25519' } };
    assert.match(
      problems(doc).join('\n'),
      /approvals\.approvers\.alice: expected "<type> <base64> \[comment\]"/,
    );

    doc.approvals = { requiredFor: [], approvers: keys };
    doc.environments.prod.approvals = { required: 1 };
    assert.deepEqual(problems(doc), [
      'environments.prod.approvals: prod has approval rules but no gate: add it to approvals.requiredFor',
    ]);
    doc.approvals = { requiredFor: ['prod'], approvers: keys };
    doc.environments.prod.approvals = { required: 2, separateFromStarter: true };
    assert.deepEqual(problems(doc), [
      'environments.prod.approvals.required: 2 distinct approvers besides the starter required but 2 configured',
    ]);
  });

  it('`rekey config check` prints a summary, or every problem and exits 2', () => {
    const ok = rekey('config', 'check', '--config', example);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /dev, local \(one shared pair\)/);
    // The example's placeholders are named (valid config, so exit 0).
    assert.match(ok.stdout, /warning: hosts\.azvmprod\.address az-lxweb01\.example\.com is a placeholder/);
    assert.match(
      ok.stdout,
      /warning: stores\.kv-prod\.vaultUrl https:\/\/kv-prod\.vault\.azure\.net is the example's/,
    );
    assert.match(ok.stdout, /warning: approvals\.approvers\.alice is the example's key/);
    assert.match(ok.stdout, /secret recipes: none/);
    const own = exampleDoc();
    own.hosts.azvmprod.address = '10.0.0.5';
    own.stores['kv-prod'].vaultUrl = 'https://acme-stdb-prod.vault.azure.net';
    own.approvals.approvers = approversConfig(['alice', 'bob']);
    own.secrets = {
      'runner-token': {
        environments: ['prod'],
        generator: { type: 'random', bytes: 32, encoding: 'hex' },
        locations: [{ store: 'kv-prod', name: 'runner-token' }],
        rotateEvery: '90d',
      },
    };
    const ownFile = join(mkdtempSync(join(tmpdir(), 'rekey-own-')), 'rekey.yaml');
    writeFileSync(ownFile, stringify(own));
    const mine = rekey('config', 'check', '--config', ownFile);
    assert.equal(mine.status, 0, mine.stderr);
    assert.doesNotMatch(mine.stdout, /azvmprod\.address|kv-prod\.vaultUrl|approvers\.(alice|bob)/);
    assert.match(mine.stdout, /secret recipes:\n {2}runner-token: prod; 1 location\(s\), replace, every 90d/);

    const dir = mkdtempSync(join(tmpdir(), 'rekey-config-'));
    const doc = exampleDoc();
    doc.environments.prod.host = 'azvmprd';
    delete doc.keyGroups.test;
    const bad = join(dir, 'rekey.yaml');
    writeFileSync(bad, stringify(doc));
    const res = rekey('config', 'check', '--config', bad);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /environments\.prod\.host: unknown host "azvmprd"/);
    assert.match(res.stderr, /environments\.test: environment "test" is in no key group/);

    const missing = rekey('config', 'check', '--config', join(dir, 'absent.yaml'));
    assert.equal(missing.status, 2);
    assert.match(
      missing.stderr,
      /no config file: rekey looked for --config .*absent\.yaml.*start from rekey\.example\.yaml/,
    );
    const none = spawnSync(process.execPath, [join(repo, 'bin/rekey'), 'config', 'check'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, REKEY_CONFIG: '' },
    });
    assert.equal(none.status, 2);
    assert.match(none.stderr, /looked for \.\/rekey\.yaml \(no --config given, REKEY_CONFIG not set\)/);

    writeFileSync(join(dir, 'broken.yaml'), 'environments: [\n');
    const broken = rekey('config', 'check', '--config', join(dir, 'broken.yaml'));
    assert.equal(broken.status, 2);
    assert.match(broken.stderr, /broken\.yaml:\d+:\d+: not valid YAML: .*\n {4}.*\n {4} *\^/);
  });

  it('a key of another kind of entry is named as such, not suggested as itself', () => {
    const doc = exampleDoc();
    doc.hosts.workstation.port = 22;
    assert.deepEqual(problems(doc), ['hosts.workstation: "port" does not apply to this kind of entry']);
  });

  it('a postgres store reached through a host: the host exists, a socket goes without TLS or host', () => {
    const withPg = (pg: Record<string, unknown>) => {
      const doc = exampleDoc();
      doc.stores.pg = { type: 'postgres', user: 'rekey_admin', password: { env: 'PG_ADMIN' }, ...pg };
      return doc;
    };
    const host = Object.keys(exampleDoc().hosts)[0] as string;
    const socket = '/var/run/postgresql/.s.PGSQL.5432';
    assert.deepEqual(problems(withPg({ through: { host: `${host}x`, socket }, ssl: false })), [
      `stores.pg.through.host: unknown host "${host}x" (did you mean "${host}"?)`,
    ]);
    assert.deepEqual(problems(withPg({ through: { host, socket } })), [
      'stores.pg.ssl: PostgreSQL has no TLS on a Unix socket: set ssl: false with through.socket',
    ]);
    assert.deepEqual(problems(withPg({ through: { host } })), [
      'stores.pg.host: host is required unless the server is reached at through.socket',
    ]);
    assert.deepEqual(problems(withPg({ through: { host, socket: 'run/pg.sock' }, ssl: false })), [
      'stores.pg.through.socket: an absolute path on the host',
    ]);
    assert.ok(parseConfig(withPg({ through: { host, socket }, ssl: false }), 'rekey.yaml').stores.pg);
    assert.ok(parseConfig(withPg({ host: '127.0.0.1', through: { host } }), 'rekey.yaml').stores.pg);
  });

  it('a codec is described as the kind it comes closest to: listed keys or a keyring in a store', () => {
    const withCodec = (codec: unknown) => ({ ...exampleDoc(), codec });
    assert.deepEqual(problems(withCodec({ store: 'kv-prod' })), ['codec.secret: missing']);
    assert.deepEqual(problems(withCodec({ active: 'k1' })), ['codec.keys: missing']);
    assert.deepEqual(problems(withCodec({ store: 'kv-prd', secret: 'rekey-codec' })), [
      'codec.store: unknown store "kv-prd" (did you mean "kv-prod"?)',
    ]);
    assert.ok(parseConfig(withCodec({ store: 'kv-prod', secret: 'rekey-codec' }), 'rekey.yaml').codec);
  });

  for (const c of RECIPE_CASES)
    it(`secret recipes: ${c.name}`, () => {
      const doc = exampleDoc();
      doc.stores.ssm = { type: 'aws-ssm', region: 'us-east-1' };
      c.edit(doc);
      assert.deepEqual(problems(doc), c.problems);
    });

  it("secret recipes: an SSM store is not an environment's key pair store", () => {
    const doc = exampleDoc();
    doc.stores.ssm = { type: 'aws-ssm', region: 'us-east-1' };
    doc.environments.prod.store = 'ssm';
    assert.match(
      problems(doc).join('\n'),
      /environments\.prod\.store: store "ssm" is an aws-ssm store: it is for secret recipes/,
    );
  });
  it('places every problem at its line and column, says "missing", and suggests the closest name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-config-'));
    const lines = readFileSync(example, 'utf8').split('\n');
    const lineOf = (re: RegExp, from = 0) => lines.findIndex((l, i) => i >= from && re.test(l)) + 1;
    const edited = lines
      .map((l) => l.replace(/^keyGroups:/, 'keyGroup:'))
      .map((l, i) => (i + 1 === lineOf(/^ {4}user: deploy/) ? l.replace('user:', 'usr:') : l))
      .map((l, i) => (i + 1 === lineOf(/^ {4}address: az-lxweb02/) ? '' : l));
    const file = join(dir, 'rekey.yaml');
    writeFileSync(file, edited.join('\n'));
    const res = rekey('config', 'check', '--config', file);
    assert.equal(res.status, 2, res.stderr);
    const at = (re: RegExp) => `${file}:${lineOf(re)}:`;
    const err = res.stderr;
    assert.match(err, /: 3 problems\n/);
    assert.ok(
      err.includes(`${at(/^keyGroups:/)}1: top level: unknown key "keyGroup" (did you mean "keyGroups"?)`),
      err,
    );
    assert.ok(
      err.includes(`${at(/^ {4}user: deploy/)}5: hosts.azvmprod: unknown key "usr" (did you mean "user"?)`),
      err,
    );
    assert.ok(err.includes(`${at(/^ {2}azvmtest:/)}3: hosts.azvmtest.address: missing`), err);
    assert.doesNotMatch(err, /hosts\.azvmprod\.user: missing/, 'a misspelt key is reported once');

    // References are checked once the file's shape is right.
    writeFileSync(file, lines.map((l) => l.replace('store: kv-prod', 'store: kv-prd')).join('\n'));
    const ref = rekey('config', 'check', '--config', file).stderr;
    const storeLine = lineOf(/store: kv-prod/);
    assert.ok(
      ref.includes(
        `${file}:${storeLine}:${(lines[storeLine - 1] ?? '').indexOf('kv-prod') + 1}: environments.prod.store: unknown store "kv-prd" (did you mean "kv-prod"?)`,
      ),
      ref,
    );
  });

  it('refuses SSH data and app dirs that are not absolute, or are /, a system or a home directory', () => {
    const cases: [string, RegExp][] = [
      [
        '~/stdb/data',
        /^"~\/stdb\/data" starts with ~: write the absolute path \(a remote shell and rekey's quoted commands expand ~ differently\)$/,
      ],
      ['~', /^"~" starts with ~/],
      ['stdb/data', /^"stdb\/data" is relative: write the absolute path/],
      ['./data', /^"\.\/data" is relative/],
      ['/', /^"\/" is the root directory/],
      ['//', /^"\/\/" \(\/\) is the root directory/],
      ['/srv/x/..', /^"\/srv\/x\/\.\." \(\/srv\) is a system directory/],
      ['/var/', /^"\/var\/" \(\/var\) is a system directory/],
      ['/home/deploy', /^"\/home\/deploy" is a home directory/],
      ['/home/deploy/./', /^"\/home\/deploy\/\.\/" \(\/home\/deploy\) is a home directory/],
      [
        '/srv/stdb data',
        /^"\/srv\/stdb data" contains whitespace, a quote, a backslash or a shell metacharacter/,
      ],
      ["/srv/it's", /contains whitespace, a quote, a backslash or a shell metacharacter/],
      ['/srv/a\\b', /contains whitespace, a quote, a backslash or a shell metacharacter/],
      ['/srv/$(touch x)', /contains whitespace, a quote, a backslash or a shell metacharacter/],
      ['/srv/${IFS}data', /contains whitespace, a quote, a backslash or a shell metacharacter/],
      ['/srv/a;b', /contains whitespace, a quote, a backslash or a shell metacharacter/],
    ];
    const system = [
      '/bin',
      '/boot',
      '/dev',
      '/etc',
      '/home',
      '/lib',
      '/lib32',
      '/lib64',
      '/libx32',
      '/media',
    ];
    system.push('/mnt', '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var');
    for (const dir of system) cases.push([dir, /is a system directory: use a directory of its own below it/]);
    for (const field of ['dataDir', 'appDir']) {
      for (const [dir, expected] of cases) {
        const doc = exampleDoc();
        doc.hosts.azvmprod[field] = dir;
        const found = problems(doc);
        assert.equal(found.length, 1, `${field} ${dir}: ${found.join('\n')}`);
        const prefix = `hosts.azvmprod.${field}: `;
        assert.ok(found[0]?.startsWith(prefix), found[0]);
        assert.match(found[0]?.slice(prefix.length) ?? '', expected, `${field} ${dir}`);
      }
    }
  });

  it('normalises SSH data and app dirs; a directory below a system or home directory is fine', () => {
    const doc = exampleDoc();
    doc.hosts.azvmprod.dataDir = '/srv/x/../data/';
    doc.hosts.azvmprod.appDir = '/srv//stdb/./app/';
    doc.hosts.azvmtest.dataDir = '/home/deploy/stdb/data';
    doc.hosts.azvmtest.appDir = '/var/lib';
    const cfg = parseConfig(doc, 'rekey.yaml');
    const prod = cfg.hosts.azvmprod;
    const test = cfg.hosts.azvmtest;
    assert.ok(prod?.type === 'ssh' && test?.type === 'ssh');
    assert.equal(prod.dataDir, '/srv/data');
    assert.equal(prod.appDir, '/srv/stdb/app');
    assert.equal(test.dataDir, '/home/deploy/stdb/data');
    assert.equal(test.appDir, '/var/lib');
  });

  it('refuses an SSH address or user that reads as an option or holds characters rsync cannot pass', () => {
    const doc = exampleDoc();
    doc.hosts.azvmprod.address = '-oProxyCommand=touch /tmp/x';
    doc.hosts.azvmtest.address = 'host name';
    doc.hosts.azvmdev.user = 'de"ploy';
    assert.deepEqual(problems(doc), [
      'hosts.azvmprod.address: "-oProxyCommand=touch /tmp/x" starts with "-": ssh and rsync would read it as an option, not a host address',
      'hosts.azvmprod.address: "-oProxyCommand=touch /tmp/x" contains whitespace, a quote, a backslash or a shell metacharacter ($ ` ; | & < > ( ) { } * ? ! #): rekey refuses these in SSH hosts\' paths, users and addresses (they go into rsync and ssh command lines, where a remote shell may read them)',
      'hosts.azvmtest.address: "host name" contains whitespace, a quote, a backslash or a shell metacharacter ($ ` ; | & < > ( ) { } * ? ! #): rekey refuses these in SSH hosts\' paths, users and addresses (they go into rsync and ssh command lines, where a remote shell may read them)',
      'hosts.azvmdev.user: "de\\"ploy" contains whitespace, a quote, a backslash or a shell metacharacter ($ ` ; | & < > ( ) { } * ? ! #): rekey refuses these in SSH hosts\' paths, users and addresses (they go into rsync and ssh command lines, where a remote shell may read them)',
    ]);
  });

  it('requires absolute sync key and known_hosts paths on the source host, without ~ or quotes', () => {
    const doc = exampleDoc();
    doc.hosts.azvmprod.sync.identityFile = '~/.ssh/azvmsync';
    doc.hosts.azvmprod.sync.knownHosts = '.ssh/known_hosts';
    doc.hosts.azvmtest.sync.identityFile = '/home/deploy/.ssh/my key';
    const found = problems(doc);
    assert.equal(found.length, 3, found.join('\n'));
    assert.match(found[0] ?? '', /^hosts\.azvmprod\.sync\.identityFile: "~\/\.ssh\/azvmsync" starts with ~/);
    assert.match(found[1] ?? '', /^hosts\.azvmprod\.sync\.knownHosts: "\.ssh\/known_hosts" is relative/);
    assert.match(
      found[2] ?? '',
      /^hosts\.azvmtest\.sync\.identityFile: .* contains whitespace, a quote, a backslash or a shell metacharacter/,
    );
  });

  it('refuses a local data dir that resolves to /, a system directory or the home directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-config-'));
    const home = mkdtempSync(join(tmpdir(), 'rekey-home-'));
    const saved = process.env.HOME;
    process.env.HOME = home; // os.homedir()
    try {
      const check = (appDir: string, dataDir: string) => {
        const doc = exampleDoc();
        doc.hosts.workstation.appDir = appDir;
        doc.hosts.workstation.dataDir = dataDir;
        const file = join(dir, 'rekey.yaml');
        writeFileSync(file, stringify(doc));
        try {
          return loadConfig(file);
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
          return err.problems;
        }
      };
      assert.deepEqual(check('.', '~'), [
        `hosts.workstation.dataDir: "~" (${home}) is your home directory: use a directory of its own below it`,
      ]);
      assert.deepEqual(check('.', home), [
        `hosts.workstation.dataDir: "${home}" is your home directory: use a directory of its own below it`,
      ]);
      const up = relative(dir, '/');
      assert.deepEqual(check('/usr/', up), [
        'hosts.workstation.appDir: "/usr/" (/usr) is a system directory: use a directory of its own below it',
        `hosts.workstation.dataDir: "${up}" (/) is the root directory: use a directory of its own below it`,
      ]);
      assert.deepEqual(check('/srv', '/home/someone/'), [
        'hosts.workstation.appDir: "/srv" is a system directory: use a directory of its own below it',
        'hosts.workstation.dataDir: "/home/someone/" (/home/someone) is a home directory: use a directory of its own below it',
      ]);
      const ok = check('~/app/', '~/app/data/../data');
      assert.ok(!Array.isArray(ok));
      assert.deepEqual(ok.hosts.workstation, {
        type: 'local',
        appDir: join(home, 'app'),
        dataDir: join(home, 'app/data'),
      });
    } finally {
      process.env.HOME = saved;
    }
  });

  it('says a rekey.yaml is empty, or not a mapping, instead of a type error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-config-'));
    const cases: [string, string][] = [
      ['', 'rekey.yaml: the file is empty'],
      ['\n  \n', 'rekey.yaml: the file is empty'],
      ['# rekey settings, to do\n---\n# more later\n', 'rekey.yaml: the file is empty'],
      ['- prod\n- test\n', 'rekey.yaml: expected a mapping of settings at the top level, found a list'],
      ['prod\n', 'rekey.yaml: expected a mapping of settings at the top level, found a string ("prod")'],
      ['null\n', 'rekey.yaml: expected a mapping of settings at the top level, found null'],
    ];
    for (const [text, message] of cases) {
      writeFileSync(join(dir, 'rekey.yaml'), text);
      const res = rekeyIn(dir, 'config', 'check', '--config', 'rekey.yaml');
      assert.equal(res.status, 2, JSON.stringify(text));
      assert.equal(res.stderr, `rekey: ${message}\n`, JSON.stringify(text));
    }
    assert.throws(() => parseConfig(null), { message: 'rekey.yaml: the file is empty' });
  });

  it('ships a JSON Schema that matches the zod schema', () => {
    const res = rekey('config', 'schema');
    assert.equal(res.status, 0);
    assert.deepEqual(
      JSON.parse(res.stdout),
      JSON.parse(readFileSync(join(repo, 'rekey.schema.json'), 'utf8')),
    );
  });
});
