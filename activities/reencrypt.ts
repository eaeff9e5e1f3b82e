// Rows sealed with a keyring recipe's keys, re-encrypted under its newest key page by page, so
// that the old keys can be dropped without making a row unreadable. A value is AES-256-GCM: the
// base64 of a 12-byte nonce, the ciphertext and the 16-byte tag. A page is one transaction over
// the next rows in key order (locked FOR UPDATE): a row that already opens with the new key is
// left alone, so a page done again after a crash changes nothing it changed before.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { ClientBase } from 'pg';
import type { Reencrypt } from '../config/secret-recipes';
import { FailureType, fail } from '../shared/failures';

const NONCE = 12;
const TAG = 16;

/** A 32-byte AES-256 key from its text (64 hex digits, or base64/base64url). */
export function aesKey(text: string, where: string): Buffer {
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64url');
  if (key.length !== 32)
    throw fail(FailureType.BadInput, `${where}: a key in the list is not 32 bytes (AES-256; key not shown)`);
  return key;
}

export function seal(key: Buffer, plain: Buffer): string {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
}

/** The plaintext and the index of the key that opened it, or undefined: no key opens it. */
export function open(keys: Buffer[], sealed: string): { plain: Buffer; key: number } | undefined {
  const raw = Buffer.from(sealed, 'base64');
  if (raw.length < NONCE + TAG) return undefined;
  for (const [index, key] of keys.entries()) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, NONCE));
      decipher.setAuthTag(raw.subarray(raw.length - TAG));
      const plain = Buffer.concat([decipher.update(raw.subarray(NONCE, raw.length - TAG)), decipher.final()]);
      return { plain, key: index };
    } catch {
      // not this key: the tag does not match
    }
  }
  return undefined;
}

const quote = (name: string) =>
  name
    .split('.')
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join('.');

export interface TableFacts {
  /** The key column's SQL type (the updates compare against it). */
  keyType: string;
  rows: number;
}

/** The table as the recipe names it, checked, and its rows counted. */
export async function describeTable(c: ClientBase, spec: Reencrypt): Promise<TableFacts> {
  const keyType = await keyTypeOf(c, spec);
  const count = await c.query(`SELECT count(*)::bigint AS n FROM ${quote(spec.table)}`);
  return { keyType, rows: Number(count.rows[0].n) };
}

// The page key's alias in queries: a sealed column may not be called that.
const K = '__rekey_key';

/** The key column's type, once the table is checked: it exists, its key column is NOT NULL with a
 * unique index of its own (pages go by it: a key shared by rows would skip or mix them), the
 * sealed columns are text, and row-level security hides no row from this session. */
export async function keyTypeOf(c: ClientBase, spec: Reencrypt): Promise<string> {
  const where = `table ${spec.table}`;
  const exists = await c.query('SELECT to_regclass($1) AS t', [quote(spec.table)]);
  if (!exists.rows[0]?.t) throw fail(FailureType.BadInput, `${where} does not exist`);
  const cols = await c.query(
    `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique
                     AND i.indnatts = 1 AND i.indkey[0] = a.attnum AND i.indpred IS NULL) AS unique
       FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
    [quote(spec.table)],
  );
  const byName = new Map(cols.rows.map((r) => [r.attname as string, r]));
  const keyCol = byName.get(spec.key);
  if (!keyCol) throw fail(FailureType.BadInput, `${where} has no column "${spec.key}" (key)`);
  if (!keyCol.notnull || !keyCol.unique)
    throw fail(
      FailureType.BadInput,
      `${where}: key column "${spec.key}" must be NOT NULL with a unique index of its own (the primary key): rows are re-encrypted page by page in its order`,
    );
  for (const col of spec.columns) {
    const type = byName.get(col)?.type as string | undefined;
    if (!type) throw fail(FailureType.BadInput, `${where} has no column "${col}"`);
    if (col === K) throw fail(FailureType.BadInput, `${where}: a sealed column may not be named ${K}`);
    if (type !== 'text' && !type.startsWith('character varying'))
      throw fail(FailureType.BadInput, `${where}: column "${col}" is ${type}, not text (base64 values)`);
  }
  // With row security off, a table whose policies apply to this role fails to read instead of
  // showing some rows: a row not seen would not be sealed again, and would not open after the drop.
  await c.query('SET row_security = off');
  try {
    await c.query(`SELECT 1 FROM ${quote(spec.table)} LIMIT 0`);
  } catch (err) {
    if ((err as { code?: string }).code !== '42501') throw err;
    throw fail(
      FailureType.BadInput,
      /row-level security/.test((err as Error).message)
        ? `${where}: row-level security applies to the store's role, which would not see every row; re-encrypt as its owner or a role with BYPASSRLS`
        : `${where}: the store's role may not read it (permission denied)`,
    );
  }
  return keyCol.type as string;
}

/** The first row of the table opens with one of `keys` (the plan's check that the format and the
 * list fit, before anything changes). */
export async function checkFirstRow(c: ClientBase, spec: Reencrypt, keys: Buffer[]): Promise<void> {
  const r = await c.query(
    `SELECT ${quote(spec.key)}::text AS ${K}, ${spec.columns.map(quote).join(', ')} FROM ${quote(spec.table)} ORDER BY ${quote(spec.key)} LIMIT 1`,
  );
  const row = r.rows[0];
  if (row) for (const col of spec.columns) openCell(spec, row, col, keys, 'with the keys in the list now');
}

/** A row's value opened (null stays null); one that no key opens fails naming the row and the
 * column, never the value. */
function openCell(
  spec: Reencrypt,
  row: Record<string, string | null>,
  col: string,
  keys: Buffer[],
  which: string,
) {
  const value = row[col] ?? null;
  if (value === null) return null;
  const opened = open(keys, value);
  if (!opened)
    throw fail(
      FailureType.BadInput,
      `table ${spec.table}: ${spec.key} ${row[K]}, column ${col} does not open ${which} (AES-256-GCM, base64 of nonce, ciphertext and tag; value not shown)`,
    );
  return { value, ...opened };
}

export interface PageResult {
  /** The key of the page's last row (where the next page starts), null for an empty page. */
  last: string | null;
  rows: number;
  /** Rows written under the new key by this page. */
  reencrypted: number;
  /** The last page: fewer rows than a page holds. */
  done: boolean;
}

/**
 * The page of rows after `after` (from the start when null): each value the new key (keys[0])
 * does not open is opened with an old one and sealed again with the new. One transaction: a page
 * with a value no key opens changes nothing and fails naming the row.
 */
export async function reencryptPage(
  c: ClientBase,
  spec: Reencrypt,
  keyType: string,
  keys: Buffer[],
  after: string | null,
): Promise<PageResult> {
  const [newKey] = keys as [Buffer];
  const table = quote(spec.table);
  const key = quote(spec.key);
  const cols = spec.columns.map(quote);
  await c.query('BEGIN');
  try {
    const page = await c.query(
      `SELECT ${key}::text AS ${K}, ${cols.join(', ')} FROM ${table}
        ${after === null ? '' : `WHERE ${key} > $2::${keyType}`}
        ORDER BY ${key} LIMIT $1 FOR UPDATE`,
      after === null ? [spec.pageSize] : [spec.pageSize, after],
    );
    const changed: string[][] = [];
    for (const row of page.rows) {
      let stale = false;
      const values = spec.columns.map((col) => {
        const cell = openCell(spec, row, col, keys, 'with any key in the list');
        if (!cell || cell.key === 0) return cell?.value ?? null;
        stale = true;
        return seal(newKey, cell.plain);
      });
      if (stale) changed.push([row[K], ...(values as string[])]);
    }
    if (changed.length) {
      const arrays = spec.columns.map((_, i) => changed.map((r) => r[i + 1] ?? null));
      const updated = await c.query(
        `UPDATE ${table} AS t SET ${cols.map((col, i) => `${col} = v.c${i}`).join(', ')}
          FROM unnest($1::text[], ${cols.map((_, i) => `$${i + 2}::text[]`).join(', ')})
            AS v(k, ${cols.map((_, i) => `c${i}`).join(', ')})
          WHERE t.${key} = v.k::${keyType}`,
        [changed.map((r) => r[0]), ...arrays],
      );
      // One row per key (the unique index): anything else is not the table the plan checked.
      if (updated.rowCount !== changed.length)
        throw fail(
          FailureType.BadInput,
          `table ${spec.table}: ${updated.rowCount} rows updated for ${changed.length} keys; the page was rolled back`,
        );
    }
    await c.query('COMMIT');
    return {
      last: page.rows.at(-1)?.[K] ?? null,
      rows: page.rows.length,
      reencrypted: changed.length,
      done: page.rows.length < spec.pageSize,
    };
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
