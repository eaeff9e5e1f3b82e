// `npm run bench:reencrypt`: 100,000 rows (BENCH_REENCRYPT_ROWS) of a PostgreSQL table, two
// AES-256-GCM columns each, re-encrypted under a new key through rekey (a keyring rotation; timed
// from the parent's start of its re-encryption child to that child's completion, continue-as-new
// runs included) and through one SQL client running the same page loop (1,000 rows a
// transaction) without Temporal, alternating in one run. Last line:
// reencrypt ratio=<rekey rows/s / direct rows/s>.
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { parse } from 'yaml';
import { aesKey, keyTypeOf, reencryptPage, seal } from '../activities/reencrypt';
import { startSecretRotation } from '../client/runs/secret';
import { parseConfig } from '../config/load';
import { createSecretStore } from '../stores/drivers';
import { temporalFixture } from '../test/helpers';
import { startPostgres } from '../test/infra/postgres';
import { buildTopology } from '../test/infra/topology';

const ROWS = Number(process.env.BENCH_REENCRYPT_ROWS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PG_PORT = 15448;
const SPEC = {
  store: 'pg',
  table: 'org_instances',
  key: 'id',
  columns: ['database_url', 'redis_url'],
  pageSize: 1000,
};

async function main() {
  const fx = await temporalFixture('bench');
  const t = buildTopology('bench-reencrypt', 3265);
  rmSync(join(t.dir, 'local-secrets'), { recursive: true, force: true });
  const pg = startPostgres(join(t.dir, 'pg'), PG_PORT);
  process.env.REKEY_BENCH_PG_ADMIN = pg.adminPassword;
  const db = new Client({ host: '127.0.0.1', port: PG_PORT, user: 'postgres', password: pg.adminPassword });
  await db.connect();
  const doc = parse(readFileSync(t.configFile, 'utf8'));
  const config = parseConfig(
    {
      ...doc,
      stores: {
        ...doc.stores,
        pg: pg.storeConfig('REKEY_BENCH_PG_ADMIN'),
      },
      secrets: {
        'rows-key': {
          environments: ['local'],
          strategy: 'keyring',
          generator: { type: 'random', bytes: 32, encoding: 'hex' },
          keyring: { overlap: '0s', reencrypt: SPEC },
          locations: [{ name: 'rows-key' }],
        },
      },
    },
    t.configFile,
  );
  const store = createSecretStore('kv-local', config.stores['kv-local'] as never);
  const first = randomBytes(32).toString('hex');
  await store.set('rows-key', first, {});
  await db.query('CREATE TABLE org_instances (id bigint PRIMARY KEY, database_url text, redis_url text)');
  const k = aesKey(first, 'bench');
  for (let from = 1; from <= ROWS; from += 10_000) {
    const ids = Array.from({ length: Math.min(10_000, ROWS - from + 1) }, (_, i) => from + i);
    await db.query('INSERT INTO org_instances SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])', [
      ids,
      ids.map((id) => seal(k, Buffer.from(`postgres://tenant-${id}:secret@db.internal/t${id}`))),
      ids.map((id) => seal(k, Buffer.from(`redis://tenant-${id}.cache.internal:6379`))),
    ]);
  }
  await db.query('VACUUM ANALYZE org_instances');

  // The same page loop the activity runs, on one connection, the new key in front of the list.
  const direct = async () => {
    const current = (await store.get('rows-key')).value;
    const next = randomBytes(32).toString('hex');
    const keys = [next, current].map((key) => aesKey(key, 'bench'));
    const keyType = await keyTypeOf(db, SPEC);
    const start = performance.now();
    let after: string | null = null;
    for (;;) {
      const page = await reencryptPage(db, SPEC, keyType, keys, after);
      if (page.last === null || page.done) break;
      after = page.last;
    }
    const ms = performance.now() - start;
    await store.set('rows-key', next, {});
    return ms;
  };
  const viaRekey = async () => {
    const h = await startSecretRotation(
      fx.client,
      config,
      { secret: 'rows-key', environment: 'local' },
      {
        taskQueue: fx.taskQueue,
      },
    );
    await h.result();
    const events = (await h.fetchHistory()).events ?? [];
    const at = (e: (typeof events)[number] | undefined) =>
      Number(e?.eventTime?.seconds) * 1000 + (e?.eventTime?.nanos ?? 0) / 1e6;
    const started = events.find(
      (e) =>
        e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === `${h.workflowId}/reencrypt`,
    );
    const done = events.find(
      (e) =>
        e.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId ===
        `${h.workflowId}/reencrypt`,
    );
    return at(done) - at(started);
  };
  const times = { rekey: [] as number[], direct: [] as number[] };
  try {
    await fx.withWorker(config, async () => {
      for (let i = 0; i < ROUNDS; i++) {
        // Alternate the order so neither side always runs on a warmer machine.
        const order = i % 2 === 0 ? (['rekey', 'direct'] as const) : (['direct', 'rekey'] as const);
        for (const side of order) times[side].push(side === 'rekey' ? await viaRekey() : await direct());
      }
    });
  } finally {
    await db.end();
    pg.stop();
    await fx.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const rate = (ms: number) => ROWS / (ms / 1000);
  const rekey = rate(median(times.rekey));
  const seq = rate(median(times.direct));
  console.log(
    `rounds: ${ROUNDS} (median of each side), ${ROWS} rows, 2 sealed columns, ${SPEC.pageSize} rows a page`,
  );
  console.log(
    `rekey (pages as activities of a child run, continue-as-new every 40 pages): ${rekey.toFixed(0)} rows/s`,
  );
  console.log(`direct (one SQL client, the same page loop):                       ${seq.toFixed(0)} rows/s`);
  console.log(`reencrypt ratio=${(rekey / seq).toFixed(2)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
