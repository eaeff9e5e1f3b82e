// A stand-in for the app that reads tenant rows sealed with SECRETS_ENCRYPTION_KEY: given the key
// list on stdin (new key first, as the app is configured), it opens the first, the last and 50
// random rows of the table and prints "opened N rows", or names the first row it cannot open and
// exits 1. Env: PGPORT, PGPASSWORD (the postgres superuser), TABLE.
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { aesKey, open } from '../../activities/reencrypt';

async function main() {
  const keys = readFileSync(0, 'utf8')
    .trim()
    .split(',')
    .map((k) => aesKey(k.trim(), 'stdin'));
  const c = new Client({ host: '127.0.0.1', port: Number(process.env.PGPORT), user: 'postgres' });
  await c.connect();
  try {
    const table = process.env.TABLE as string;
    const r = await c.query(
      `(SELECT * FROM ${table} ORDER BY id LIMIT 1) UNION ALL (SELECT * FROM ${table} ORDER BY id DESC LIMIT 1)
        UNION ALL (SELECT * FROM ${table} ORDER BY random() LIMIT 50)`,
    );
    for (const row of r.rows)
      for (const [col, value] of Object.entries(row))
        if (col !== 'id' && value !== null && !open(keys, value as string)) {
          console.log(`row ${row.id} column ${col} does not open`);
          process.exit(1);
        }
    console.log(`opened ${r.rows.length} rows`);
  } finally {
    await c.end();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(2);
});
