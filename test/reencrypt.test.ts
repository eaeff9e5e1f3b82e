// Re-encryption under a new key (the runbook's "do not rotate" SECRETS_ENCRYPTION_KEY): tenant
// rows in a real PostgreSQL sealed with AES-256-GCM under the old key; a keyring rotation puts a
// new key in front, re-encrypts every row page by page in a child run that continues as new,
// sweeps again and drops the old key. Readers open rows with the key list in the store all along.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { parse, stringify } from 'yaml';
import { aesKey, keyTypeOf, open, seal } from '../activities/reencrypt';
import { startSecretRotation } from '../client/runs/secret';
import { loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { createSecretStore } from '../stores/drivers';
import { assertNoSecrets, failureOf, historyText, type TemporalFixture, temporalFixture } from './helpers';
import { portOf } from './infra/ports';
import { type PostgresCluster, startPostgres } from './infra/postgres';
import { buildTopology, type Topology } from './infra/topology';
import { until } from './infra/until';
import { kill, startWorker } from './infra/worker-process';

const PG_PORT = 15446;
const ROWS = 100_000;
const READER = join(__dirname, 'infra', 'row-reader.js');
const plain = (table: string, id: number, col: string) => `${col}://tenant-${id}.${table}.internal/db`;

describe('re-encryption under a new key: SECRETS_ENCRYPTION_KEY over tenant rows', () => {
  let fx: TemporalFixture;
  let t: Topology;
  let pg: PostgresCluster;
  let db: Client;
  let config: Config;
  const keysSeen: string[] = [];
  const store = () => createSecretStore('kv-local', config.stores['kv-local'] as never);
  const keyList = async (name: string) => (await store().get(name)).value.split(',');

  /** `n` rows sealed with `key`; every 7th has no redis URL. */
  async function fill(table: string, n: number, key: string) {
    await db.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, database_url text, redis_url text)`);
    const k = aesKey(key, 'test');
    for (let from = 1; from <= n; from += 10_000) {
      const ids = Array.from({ length: Math.min(10_000, n - from + 1) }, (_, i) => from + i);
      await db.query(`INSERT INTO ${table} SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])`, [
        ids,
        ids.map((id) => seal(k, Buffer.from(plain(table, id, 'database_url')))),
        ids.map((id) => (id % 7 ? seal(k, Buffer.from(plain(table, id, 'redis_url'))) : null)),
      ]);
    }
    // Every update of a row is counted: none may be skipped or done twice.
    await db.query(`CREATE TABLE ${table}_touched (id bigint)`);
    await db.query(`CREATE FUNCTION ${table}_touch() RETURNS trigger AS $$
      BEGIN INSERT INTO ${table}_touched VALUES (NEW.id); RETURN NEW; END $$ LANGUAGE plpgsql`);
    await db.query(
      `CREATE TRIGGER touch AFTER UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_touch()`,
    );
  }
  const touched = async (table: string) =>
    (await db.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM ${table}_touched`))
      .rows[0] as {
      n: number;
      d: number;
    };

  /** Every row opens with `key` alone and holds what was sealed. */
  async function assertAllOpen(table: string, key: string) {
    const k = [aesKey(key, 'test')];
    const r = await db.query(`SELECT id, database_url, redis_url FROM ${table}`);
    let bad = 0;
    for (const row of r.rows) {
      const id = Number(row.id);
      if (open(k, row.database_url)?.plain.toString() !== plain(table, id, 'database_url')) bad++;
      if ((row.redis_url === null) !== (id % 7 === 0)) bad++;
      else if (
        row.redis_url !== null &&
        open(k, row.redis_url)?.plain.toString() !== plain(table, id, 'redis_url')
      )
        bad++;
    }
    assert.equal(bad, 0, `${bad} values of ${table} do not open with the new key alone`);
  }

  /** A reader that opens a random row every 50 ms with the list in the store, as the app does. */
  function reader(table: string, secret: string, n: number) {
    let failures = 0;
    let reads = 0;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const keys = (await keyList(secret)).map((k) => aesKey(k, 'store'));
        const id = 1 + Math.floor(Math.random() * n);
        const r = await db.query(`SELECT database_url FROM ${table} WHERE id = $1`, [id]);
        reads++;
        if (open(keys, r.rows[0].database_url)?.plain.toString() !== plain(table, id, 'database_url'))
          failures++;
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    return async () => {
      stop = true;
      await loop;
      return { reads, failures };
    };
  }

  const recipe = (table: string, name: string) => ({
    description: `wraps the tenant URLs in ${table}`,
    environments: ['local'],
    strategy: 'keyring',
    generator: { type: 'random', bytes: 32, encoding: 'hex' },
    keyring: {
      overlap: '1s',
      reencrypt: { store: 'pg', table, key: 'id', columns: ['database_url', 'redis_url'], pageSize: 1000 },
    },
    locations: [{ name }],
    verify: [
      {
        command: `PGPORT=${PG_PORT} PGPASSWORD=${'$'}REKEY_TEST_PG_ADMIN TABLE=${table} node ${READER}`,
        secretOnStdin: true,
        expect: '^opened',
        within: '20s',
      },
    ],
  });

  before(async () => {
    fx = await temporalFixture('secrets');
    t = buildTopology('reencrypt', portOf('reencrypt'));
    rmSync(join(t.dir, 'local-secrets'), { recursive: true, force: true });
    mkdirSync(join(t.dir, 'local-app'), { recursive: true });
    pg = startPostgres(join(t.dir, 'pg'), PG_PORT);
    process.env.REKEY_TEST_PG_ADMIN = pg.adminPassword;
    db = new Client({ host: '127.0.0.1', port: PG_PORT, user: 'postgres', password: pg.adminPassword });
    await db.connect();
    const doc = parse(readFileSync(t.configFile, 'utf8'));
    doc.stores.pg = pg.storeConfig('REKEY_TEST_PG_ADMIN');
    doc.secrets = {
      'secrets-encryption-key': recipe('org_instances', 'secrets-encryption-key'),
      'webhook-encryption-key': recipe('webhooks', 'webhook-encryption-key'),
    };
    writeFileSync(t.configFile, stringify(doc));
    config = loadConfig(t.configFile);
    for (const [table, name, n] of [
      ['org_instances', 'secrets-encryption-key', ROWS],
      ['webhooks', 'webhook-encryption-key', 3000],
    ] as const) {
      const key = randomBytes(32).toString('hex');
      keysSeen.push(key);
      await store().set(name, key, {});
      await fill(table, n, key);
    }
  });
  after(async () => {
    await db?.end();
    pg?.stop();
    await fx?.close();
  });

  const rotate = (secret: string) =>
    startSecretRotation(fx.client, config, { secret, environment: 'local' }, { taskQueue: fx.taskQueue });

  it('100,000 rows, the worker killed twice mid-way: every row opens with the new key alone, each was written once', async () => {
    const [old] = await keyList('secrets-encryption-key');
    const stopReader = reader('org_instances', 'secrets-encryption-key', ROWS);
    let worker: ChildProcess = startWorker(t, 'secrets', fx.taskQueue);
    const h = await rotate('secrets-encryption-key');
    try {
      for (const at of [20_000, 55_000]) {
        await Promise.race([
          until(
            `${at} rows re-encrypted`,
            async () => (await touched('org_instances')).n >= at || undefined,
            {
              timeoutMs: 300_000,
            },
          ),
          h.result().then(() => assert.fail(`the run ended before ${at} rows`)),
        ]);
        await kill(worker);
        worker = startWorker(t, 'secrets', fx.taskQueue);
      }
      const result = await h.result();
      assert.equal(result.plan.keyring?.reencrypt?.rows, ROWS);
    } finally {
      await kill(worker);
    }
    const reads = await stopReader();
    assert.ok(reads.reads > 10);
    assert.equal(reads.failures, 0, 'a reader could not open a row during the rotation');
    const list = await keyList('secrets-encryption-key');
    assert.equal(list.length, 1, 'the old key is dropped');
    assert.notEqual(list[0], old);
    keysSeen.push(list[0] as string);
    await assertAllOpen('org_instances', list[0] as string);
    assert.deepEqual(await touched('org_instances'), { n: ROWS, d: ROWS }, 'each row written exactly once');
    // The pages ran in runs that continued as new (40 pages each); no key in any history.
    const runs = [];
    for await (const w of fx.client.workflow.list({ query: `WorkflowId = "${h.workflowId}/reencrypt"` }))
      runs.push(w.runId);
    assert.ok(runs.length >= 3, `the re-encryption ran as ${runs.length} runs`);
    for (const id of [h.workflowId, `${h.workflowId}/reencrypt`, `${h.workflowId}/sweep`])
      assertNoSecrets(await historyText(fx.client, id), keysSeen);
  });

  it('a row no key opens: the plan or the page fails naming it, the list keeps every key; rotating again finishes', async () => {
    const k = async () => (await keyList('webhook-encryption-key'))[0] as string;
    const old = await k();
    // The first row: the plan refuses before anything changes.
    const first = (await db.query('SELECT database_url FROM webhooks WHERE id = 1')).rows[0].database_url;
    await db.query(`UPDATE webhooks SET database_url = $1 WHERE id = 1`, [
      seal(randomBytes(32), Buffer.from('x')),
    ]);
    const err = await fx.withWorker(config, async () =>
      failureOf((await rotate('webhook-encryption-key')).result()),
    );
    assert.equal(err.type, 'BadInput');
    assert.match(err.message, /table webhooks: id 1, column database_url does not open/);
    assert.deepEqual(await keyList('webhook-encryption-key'), [old]);
    await db.query(`UPDATE webhooks SET database_url = $1 WHERE id = 1`, [first]);
    // A row in the middle: the pages before it are done, its page is not, the run fails saying so.
    await db.query(
      `UPDATE webhooks SET redis_url = 'bm90IHNlYWxlZCB3aXRoIGFueSBrZXkgYXQgYWxs' WHERE id = 1501`,
    );
    await db.query('TRUNCATE webhooks_touched');
    const failed = await fx.withWorker(config, async () =>
      failureOf((await rotate('webhook-encryption-key')).result()),
    );
    assert.equal(failed.type, 'BadInput');
    assert.match(failed.message, /id 1501, column redis_url does not open.*every row of webhooks opens/s);
    const list = await keyList('webhook-encryption-key');
    assert.equal(list.length, 2, 'the new key in front, the old still in the list');
    assert.equal(list[1], old);
    assert.equal((await touched('webhooks')).n, 1000, 'the first page only');
    // Fixed, rotated again: a third key, every row sealed with it, the others dropped.
    await db.query(`UPDATE webhooks SET redis_url = $1 WHERE id = 1501`, [
      seal(aesKey(old, 'test'), Buffer.from(plain('webhooks', 1501, 'redis_url'))),
    ]);
    const result = await fx.withWorker(config, async () => (await rotate('webhook-encryption-key')).result());
    assert.equal(result.plan.keyring?.keys, 2);
    const now = await keyList('webhook-encryption-key');
    assert.equal(now.length, 1);
    assert.ok(!list.includes(now[0] as string));
    await assertAllOpen('webhooks', now[0] as string);
  });

  it('a table its pages cannot cover is refused before anything changes: a key not unique or NULL, rows hidden by row security, a column named like the page key', async () => {
    const spec = (table: string, key = 'id', columns = ['secret']) => ({
      store: 'pg',
      table,
      key,
      columns,
      pageSize: 1000,
    });
    await db.query('CREATE TABLE shared_key (tenant_id bigint, secret text)');
    await db.query('CREATE TABLE nullable_key (id bigint UNIQUE, secret text)');
    await db.query('CREATE TABLE odd_column (id bigint PRIMARY KEY, __rekey_key text)');
    await assert.rejects(
      keyTypeOf(db, spec('shared_key', 'tenant_id')),
      /table shared_key: key column "tenant_id" must be NOT NULL with a unique index of its own/,
    );
    await assert.rejects(keyTypeOf(db, spec('nullable_key')), /key column "id" must be NOT NULL/);
    await assert.rejects(
      keyTypeOf(db, spec('odd_column', 'id', ['__rekey_key'])),
      /may not be named __rekey_key/,
    );
    // Row security that applies to the store's role: it would see some rows only.
    await db.query('CREATE TABLE tenants_rls (id bigint PRIMARY KEY, secret text)');
    await db.query('ALTER TABLE tenants_rls ENABLE ROW LEVEL SECURITY');
    await db.query('CREATE POLICY mine ON tenants_rls USING (id < 10)');
    await db.query("CREATE ROLE rls_reader LOGIN PASSWORD 'rls-reader-pw'");
    await db.query('GRANT SELECT ON tenants_rls TO rls_reader');
    const reader = new Client({
      host: '127.0.0.1',
      port: PG_PORT,
      user: 'rls_reader',
      password: 'rls-reader-pw',
      database: 'postgres',
    });
    await reader.connect();
    try {
      await assert.rejects(
        keyTypeOf(reader, spec('tenants_rls')),
        /table tenants_rls: row-level security applies to the store's role, which would not see every row/,
      );
    } finally {
      await reader.end();
    }
    // The owner (here a superuser) sees every row: accepted.
    assert.equal(await keyTypeOf(db, spec('tenants_rls')), 'bigint');
  });

  it('reencryptRows started on its own (any client) is refused', async () => {
    const err = await fx.withWorker(config, async () =>
      failureOf(
        fx.client.workflow.execute('reencryptRows', {
          taskQueue: fx.taskQueue,
          workflowId: `reencrypt-alone-${randomBytes(3).toString('hex')}`,
          args: [{ secret: 'webhook-encryption-key', env: 'local', recipe: 'x', version: '1' }],
        }),
      ),
    );
    assert.equal(err.type, 'PolicyViolation');
    assert.match(err.message, /only inside a rotateSecret run/);
  });
});
