import { InputError } from "../../errors.js";
import type { Gateway, UnitContext } from "../../gateway/gateway.js";
import type { Backfill } from "./declared.js";

/** The backfill's table and key as the catalog describes them. */
export interface KeyInfo {
  /** The table, schema-qualified and quoted, for SQL. */
  readonly rel: string;
  /** The key column, quoted, for SQL. */
  readonly column: string;
  /** The key's type as SQL spells it, for casts. */
  readonly type: string;
  /** The planner's row estimate, for progress. */
  readonly estimatedRows: number;
}

const supported = new Set(["int2", "int4", "int8", "numeric", "text", "varchar", "uuid", "timestamp", "timestamptz"]);

/**
 * Checks the key before the first batch (SPEC guarantee 8): the table and
 * column exist, the column is NOT NULL, of a type with a total order, and has a
 * unique index of its own, which keyset batching walks.
 */
export async function inspectKey(gw: Gateway, b: Backfill): Promise<KeyInfo> {
  const dot = b.table.indexOf(".");
  const [schema, table] = dot < 0 ? [null, b.table] : [b.table.slice(0, dot), b.table.slice(dot + 1)];
  const [row] = await gw.query<{
    rel: string;
    col: string | null;
    type: string | null;
    typname: string | null;
    notnull: boolean | null;
    unique_index: boolean;
    estimate: number;
  }>(
    `inspect ${b.name}`,
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS rel,
            quote_ident(a.attname) AS col, format_type(a.atttypid, a.atttypmod) AS type, t.typname, a.attnotnull AS notnull,
            EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid
                       AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum AND i.indpred IS NULL AND i.indexprs IS NULL) AS unique_index,
            greatest(c.reltuples, 0)::float8 AS estimate
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped
       LEFT JOIN pg_type t ON t.oid = a.atttypid
      WHERE c.relname = $2 AND c.relkind IN ('r', 'p')
        AND (CASE WHEN $1::text IS NULL THEN n.nspname = ANY (current_schemas(true)) ELSE n.nspname = $1 END)
      ORDER BY array_position(current_schemas(true)::text[], n.nspname::text) NULLS LAST LIMIT 1`,
    [schema, table, b.key],
  );
  const at = { file: b.file, line: 1, column: 1 };
  if (!row) throw new InputError(at, `table ${b.table} not found`);
  if (!row.col || !row.type || !row.typname) throw new InputError(at, `table ${b.table} has no column ${b.key}`);
  if (!supported.has(row.typname)) {
    throw new InputError(at, `key ${b.key} is of type ${row.type}; a backfill key is integer, bigint, numeric, text, uuid or timestamp`);
  }
  if (!row.notnull) throw new InputError(at, `key ${b.key} must be declared NOT NULL`);
  if (!row.unique_index) {
    throw new InputError(at, `key ${b.key} of ${b.table} needs a unique index of its own (one column, not partial): batches are found by walking it`);
  }
  let estimatedRows = Math.round(row.estimate);
  if (estimatedRows < 1 && ["int2", "int4", "int8", "numeric"].includes(row.typname)) {
    // Never analyzed: the key range is a fair guess, read from both ends of the index.
    const [range] = await gw.query<{ span: string | null }>(
      `estimate ${b.name}`,
      `SELECT ((SELECT ${row.col} FROM ${row.rel} ORDER BY ${row.col} DESC LIMIT 1) - (SELECT ${row.col} FROM ${row.rel} ORDER BY ${row.col} LIMIT 1) + 1)::text AS span`,
    );
    estimatedRows = Math.max(0, Math.round(Number(range?.span ?? 0)));
  }
  return { rel: row.rel, column: row.col, type: row.type, estimatedRows };
}

/**
 * The next batch after `position` (exclusive; null = from the start): its first
 * and last existing keys and how many keys it holds, found by walking the key's
 * index from the position, never by OFFSET from the start of the table.
 */
export async function nextBatch(
  db: Pick<UnitContext, "rows">,
  key: KeyInfo,
  position: string | null,
  size: number,
): Promise<{ from: string; to: string; n: number } | undefined> {
  const after = position === null ? "" : `WHERE ${key.column} > $2::${key.type}`;
  const [row] = await db.rows<{ from: string | null; to: string | null; n: number }>(
    `WITH b AS MATERIALIZED (SELECT ${key.column} AS k FROM ${key.rel} ${after} ORDER BY ${key.column} LIMIT $1)
     SELECT (SELECT k FROM b ORDER BY k LIMIT 1)::text AS "from", (SELECT k FROM b ORDER BY k DESC LIMIT 1)::text AS "to",
            (SELECT count(*) FROM b)::int AS n`,
    position === null ? [size] : [size, position],
  );
  if (!row || row.n === 0 || row.from === null || row.to === null) return undefined;
  return { from: row.from, to: row.to, n: row.n };
}
