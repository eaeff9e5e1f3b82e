// An object-store access key pair (the runbook's R2_ACCESS_KEY_ID / R2_SECRET_ACCESS_KEY) rotated
// by a recipe: a command issues the new pair at IAM, the pair is written whole and each half to
// its own parameter, a real S3 call signed with the new pair proves it, then the old key is
// deleted at IAM. Against two moto servers: the suite's shared one holds the SSM parameters, a
// second one of its own has IAM authentication on (moto checks every request's signature against
// the keys IAM holds and the caller's policies), so a deleted key really stops working.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { parse, stringify } from 'yaml';
import { startSecretRotation } from '../client/runs/secret';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { SsmStore } from '../stores/aws-ssm/driver';
import { assertNoSecrets, failureOf, historyText, type TemporalFixture, temporalFixture } from './helpers';
import { testEnv } from './infra/env';
import { portOf } from './infra/ports';
import { startDetached, stopByPidFile, waitForPort } from './infra/process';
import { buildTopology, type Topology } from './infra/topology';

process.env.AWS_ACCESS_KEY_ID ??= 'testing';
process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';

const IAM_PORT = 15002;
const IAM = `http://127.0.0.1:${IAM_PORT}`;
const BUCKET = 'media';

interface Pair {
  accessKeyId: string;
  secretAccessKey: string;
}

/** boto3 (the test venv) against the IAM-authenticated moto; `admin` from admin.json once
 * authentication is on. */
const BOTO = `import json, sys, boto3
ADMIN = json.load(open(sys.argv[1])) if sys.argv[1] != '-' else {'accessKeyId': 'setup', 'secretAccessKey': 'setup'}
def client(kind):
    return boto3.client(kind, endpoint_url='${IAM}', region_name='us-east-1',
        aws_access_key_id=ADMIN['accessKeyId'], aws_secret_access_key=ADMIN['secretAccessKey'])
def pair(k):
    return {'accessKeyId': k['AccessKeyId'], 'secretAccessKey': k['SecretAccessKey']}
`;

describe('secret recipes: an access key pair issued at IAM, verified with S3, the old one deleted', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let config: Config;
  let ssm: SsmStore;
  let dir: string;
  const first: Record<string, Pair> = {};
  const prefix = `/access-keys-${randomBytes(3).toString('hex')}`;
  const param = (what: string) => `${prefix}/local/${what}`;
  const py = (code: string, ...args: string[]) =>
    execFileSync(testEnv().python, ['-c', BOTO + code, ...args], {
      input: args.at(-1) === '-' ? '' : undefined,
    })
      .toString()
      .trim();
  /** The access key ids IAM holds for `user`. */
  const keysOf = (user: string): string[] =>
    JSON.parse(
      py(
        "print(json.dumps([k['AccessKeyId'] for k in client('iam').list_access_keys(UserName=sys.argv[2])['AccessKeyMetadata']]))",
        join(dir, 'admin.json'),
        user,
      ),
    );

  before(async () => {
    fx = await temporalFixture('secrets');
    t = buildTopology('access-keys', portOf('access-keys'));
    dir = join(t.dir, 'iam');
    mkdirSync(dir, { recursive: true });
    // The commands run on the local host, in its app dir.
    mkdirSync(join(t.dir, 'local-app'), { recursive: true });
    // This suite's own moto: authentication is turned on once the users exist.
    stopByPidFile(join(dir, 'pid'));
    startDetached(
      join(testEnv().python, '..', 'moto_server'),
      ['-H', '127.0.0.1', '-p', String(IAM_PORT)],
      join(dir, 'server.log'),
      join(dir, 'pid'),
    );
    await waitForPort('127.0.0.1', IAM_PORT, 'moto_server (IAM)');
    // An admin; the app's user, allowed the bucket; a user allowed nothing (its key fails the probe).
    const setup = JSON.parse(
      py(
        `iam = client('iam')
for user in ['admin', 'media-app', 'no-s3']:
    iam.create_user(UserName=user)
iam.put_user_policy(UserName='admin', PolicyName='all', PolicyDocument=json.dumps({'Version': '2012-10-17',
    'Statement': [{'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]}))
iam.put_user_policy(UserName='media-app', PolicyName='media', PolicyDocument=json.dumps({'Version': '2012-10-17',
    'Statement': [{'Effect': 'Allow', 'Action': 's3:*', 'Resource': ['arn:aws:s3:::${BUCKET}', 'arn:aws:s3:::${BUCKET}/*']}]}))
client('s3').create_bucket(Bucket='${BUCKET}')
print(json.dumps({u: pair(iam.create_access_key(UserName=u)['AccessKey']) for u in ['admin', 'media-app', 'no-s3']}))`,
        '-',
      ),
    );
    Object.assign(first, setup);
    writeFileSync(join(dir, 'admin.json'), JSON.stringify(setup.admin), { mode: 0o600 });
    const auth = await fetch(`${IAM}/moto-api/reset-auth`, { method: 'POST', body: '0' });
    assert.equal(auth.status, 200);

    // The issuer and the revoker: what an operator's scripts would do with the AWS CLI.
    const issue = join(dir, 'issue.py');
    writeFileSync(
      issue,
      `${BOTO}print(json.dumps(pair(client('iam').create_access_key(UserName=sys.argv[2])['AccessKey'])))\n`,
    );
    const revoke = join(dir, 'revoke.py');
    writeFileSync(
      revoke,
      `${BOTO}client('iam').delete_access_key(UserName=sys.argv[2], AccessKeyId=json.load(sys.stdin)['accessKeyId'])\n`,
    );
    const admin = join(dir, 'admin.json');
    const recipe = (user: string, name: string, run = `${testEnv().python} ${issue} ${admin} ${user}`) => ({
      environments: ['local'],
      generator: { type: 'command', run, fields: ['accessKeyId', 'secretAccessKey'] },
      locations: [
        { store: 'ssm', name: `${prefix}/{env}/${name}_CREDENTIALS` },
        { store: 'ssm', name: `${prefix}/{env}/${name}_ACCESS_KEY_ID`, field: 'accessKeyId' },
        { store: 'ssm', name: `${prefix}/{env}/${name}_SECRET_ACCESS_KEY`, field: 'secretAccessKey' },
      ],
      verify: [{ s3: BUCKET, endpoint: IAM, within: '3s' }],
      revoke: { command: `${testEnv().python} ${revoke} ${admin} ${user}` },
      rotateEvery: '90d',
    });
    const doc = parse(readFileSync(t.configFile, 'utf8'));
    doc.stores.ssm = { type: 'aws-ssm', region: testEnv().aws.region, endpoint: testEnv().aws.endpoint };
    doc.secrets = {
      'r2-keys': recipe('media-app', 'R2'),
      'no-s3-keys': recipe('no-s3', 'NOS3'),
      // An issuer that prints only one half of the pair.
      'half-keys': recipe('no-s3', 'HALF', `echo '{"accessKeyId": "AKIAHALF"}'`),
    };
    const configFile = join(t.dir, 'rekey-access-keys.yaml');
    writeFileSync(configFile, stringify(doc));
    config = loadConfig(configFile);
    ssm = new SsmStore('ssm', {
      type: 'aws-ssm',
      region: testEnv().aws.region,
      endpoint: testEnv().aws.endpoint,
    });
    for (const [name, pair] of [
      ['R2', setup['media-app']],
      ['NOS3', setup['no-s3']],
      ['HALF', setup['no-s3']],
    ] as const) {
      await ssm.set(param(`${name}_CREDENTIALS`), JSON.stringify(pair), {});
      await ssm.set(param(`${name}_ACCESS_KEY_ID`), pair.accessKeyId, {});
      await ssm.set(param(`${name}_SECRET_ACCESS_KEY`), pair.secretAccessKey, {});
    }
  });
  after(async () => {
    stopByPidFile(join(dir, 'pid'));
    await fx?.close();
  });

  /** HeadBucket signed with `pair`: "ok" or the error's name. */
  async function s3With(pair: Pair): Promise<string> {
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: IAM,
      forcePathStyle: true,
      credentials: pair,
      maxAttempts: 1,
    });
    try {
      await s3.send(new HeadBucketCommand({ Bucket: BUCKET }));
      return 'ok';
    } catch (err) {
      return `${(err as Error).name} ${(err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode}`;
    } finally {
      s3.destroy();
    }
  }
  const stored = async (name: string) => ({
    whole: (await ssm.get(param(`${name}_CREDENTIALS`))).value,
    id: (await ssm.get(param(`${name}_ACCESS_KEY_ID`))).value,
    secret: (await ssm.get(param(`${name}_SECRET_ACCESS_KEY`))).value,
  });
  const rotate = (secret: string) =>
    startSecretRotation(fx.client, config, { secret, environment: 'local' }, { taskQueue: fx.taskQueue });

  it('IAM authentication is on: a made-up key is refused, a known key without a policy too', async () => {
    // Without this the rest proves nothing: moto would accept any key.
    assert.match(
      await s3With({ accessKeyId: 'AKIAMADEUP0000000000', secretAccessKey: 'x'.repeat(40) }),
      / 403$/,
    );
    assert.match(await s3With(first['no-s3'] as Pair), / 403$/);
    assert.equal(await s3With(first['media-app'] as Pair), 'ok');
  });

  it('issues a new pair, writes it whole and each half, proves it with S3, deletes the old key', async () => {
    const old = first['media-app'] as Pair;
    assert.equal(await s3With(old), 'ok');
    const h = await rotate('r2-keys');
    const result = await fx.withWorker(config, () => h.result());
    assert.equal(result.written.length, 3);
    assert.equal(result.revoked, true);
    const now = await stored('R2');
    const pair = JSON.parse(now.whole) as Pair;
    assert.deepEqual(Object.keys(pair), ['accessKeyId', 'secretAccessKey']);
    assert.notEqual(pair.accessKeyId, old.accessKeyId);
    // One unit: both halves are the new pair's.
    assert.equal(now.id, pair.accessKeyId);
    assert.equal(now.secret, pair.secretAccessKey);
    assert.equal(await s3With(pair), 'ok');
    // The old key is gone at IAM: a request signed with it is refused.
    assert.deepEqual(keysOf('media-app'), [pair.accessKeyId]);
    assert.match(await s3With(old), /^InvalidAccessKeyId|403/);
    assertNoSecrets(JSON.stringify(result) + (await historyText(fx.client, h.workflowId)), [
      old.secretAccessKey,
      pair.secretAccessKey,
      now.whole,
    ]);
  });

  it('a pair the bucket refuses: every parameter put back, the unused new key deleted at IAM', async () => {
    const before = await stored('NOS3');
    const h = await rotate('no-s3-keys');
    const err = await fx.withWorker(config, () => failureOf(h.result()));
    assert.equal(err.type, 'VerifyFailed');
    assert.match(err.message, /HeadBucket media .* did not pass within 3s: \w+ \(HTTP 403\)/);
    assert.match(err.message, /every location was put back, the unused new value revoked/);
    assert.deepEqual(await stored('NOS3'), before);
    // Only the key it had before: the one issued for this run was deleted.
    assert.deepEqual(keysOf('no-s3'), [(first['no-s3'] as Pair).accessKeyId]);
    const versions = await ssm.listVersions(param('NOS3_CREDENTIALS'));
    // The first pair, the tried one, the first one restored as a new version.
    assert.equal(versions.length, 3);
    const tried = JSON.parse((await ssm.get(param('NOS3_CREDENTIALS'), versions[1]?.version)).value) as Pair;
    assert.notEqual(tried.accessKeyId, (first['no-s3'] as Pair).accessKeyId);
    assertNoSecrets(err.message + (await historyText(fx.client, h.workflowId)), [
      before.secret,
      tried.secretAccessKey,
    ]);
  });

  it('an issuer that prints half a pair fails the run naming the missing field; nothing is written', async () => {
    const before = await stored('HALF');
    const h = await rotate('half-keys');
    const err = await fx.withWorker(config, () => failureOf(h.result()));
    assert.equal(err.type, 'BadInput');
    assert.match(
      err.message,
      /did not print a JSON object with the string fields accessKeyId, secretAccessKey \(missing or empty: secretAccessKey\); output not shown/,
    );
    assert.doesNotMatch(err.message, /AKIAHALF/);
    assert.deepEqual(await stored('HALF'), before);
    assert.equal((await ssm.listVersions(param('HALF_CREDENTIALS'))).length, 1);
  });
});
