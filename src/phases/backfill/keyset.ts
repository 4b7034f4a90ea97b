import { InputError } from "../../errors.js";
import type { Gateway, UnitContext } from "../../gateway/gateway.js";
import type { Backfill } from "./declared.js";
import { quoteLiteral } from "../../state/quote.js";
import { readUnlessLocked } from "./table-read.js";
import { implicitUnderLockTimeout } from "../transaction.js";

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
  /** Unquoted names, for the catalog (pg_stats). */
  readonly names: { readonly schema: string; readonly table: string; readonly column: string };
  /** The key type's catalog name (int8, text, uuid, ...). */
  readonly typname: string;
}

const supported = new Set(["int2", "int4", "int8", "numeric", "text", "varchar", "uuid", "timestamp", "timestamptz"]);

/**
 * Checks the key before the first batch (SPEC guarantee 8): the table and
 * column exist, the column is NOT NULL, of a type with a total order, and has a
 * unique index of its own, which keyset batching walks.
 */
export async function inspectKey(gw: Gateway, b: Backfill, lockTimeout: string): Promise<KeyInfo> {
  const dot = b.table.indexOf(".");
  const [schema, table] = dot < 0 ? [null, b.table] : [b.table.slice(0, dot), b.table.slice(dot + 1)];
  const [row] = await gw.query<{
    rel: string;
    nspname: string;
    relname: string;
    col: string | null;
    type: string | null;
    typname: string | null;
    notnull: boolean | null;
    unique_index: boolean;
    estimate: number;
  }>(
    `inspect ${b.name}`,
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS rel, n.nspname, c.relname,
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
  const estimatedRows = Math.round(row.estimate) >= 1 ? Math.round(row.estimate) : await estimateUnanalysed(gw, b.name, row.rel, lockTimeout);
  return { rel: row.rel, column: row.col, type: row.type, estimatedRows, names: { schema: row.nspname, table: row.relname, column: b.key }, typname: row.typname };
}

/**
 * A table never analysed: the planner's own guess, from its size in pages (no scan);
 * for a table that is still small that guess is poor (it assumes ten pages), and
 * counting is cheap: at most 10,001 rows read. Behind a lock, 0 (unknown: one key range).
 */
async function estimateUnanalysed(gw: Gateway, name: string, rel: string, lockTimeout: string): Promise<number> {
  const [plan] = (await readUnlessLocked<{ "QUERY PLAN": unknown }>(gw, `estimate ${name}`, lockTimeout, `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${rel}`)) ?? [];
  const raw = plan?.["QUERY PLAN"];
  const doc = (typeof raw === "string" ? JSON.parse(raw) : raw) as { Plan?: { "Plan Rows"?: number } }[] | undefined;
  const guess = Math.max(0, Math.round(doc?.[0]?.Plan?.["Plan Rows"] ?? 0));
  if (!plan || guess > 10_000) return guess;
  const [small] = (await readUnlessLocked<{ n: number }>(gw, `count ${name}`, lockTimeout, `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${rel} LIMIT 10001) AS s`)) ?? [];
  return small?.n ?? guess;
}

/** A key as an SQL literal of the key's type. */
export function keyLiteral(key: KeyInfo, value: string): string {
  return `(${quoteLiteral(value)}::${key.type})`;
}

/** Where a batch may look: keys after `position` (exclusive; null = from the start) up to `hi` (inclusive; null = no end). */
export interface Window {
  readonly position: string | null;
  readonly hi: string | null;
}

export interface Batch {
  readonly from: string;
  readonly to: string;
  readonly n: number;
}

/**
 * The query for the next batch in `w`: its first and last existing keys and how
 * many keys it holds, found by walking the key's index from the position, never
 * by OFFSET from the start of the table. The last key is the one `size - 1`
 * entries past the first (an index-only walk, nothing kept); only a window's tail,
 * shorter than a batch, is counted. Literals only, so it can ride in a batch's message.
 */
export function nextBatchSql(key: KeyInfo, w: Window, size: number, extra: readonly string[] = []): string {
  const conds = [w.position !== null && `${key.column} > ${keyLiteral(key, w.position)}`, w.hi !== null && `${key.column} <= ${keyLiteral(key, w.hi)}`].filter(Boolean);
  const from = `FROM ${key.rel}${conds.length ? ` WHERE ${conds.join(" AND ")}` : ""}`;
  const n = Math.max(1, Math.floor(size));
  const at = (order: "ASC" | "DESC", offset: number) => `(SELECT ${key.column} ${from} ORDER BY ${key.column} ${order}${offset ? ` OFFSET ${offset}` : ""} LIMIT 1)`;
  // MATERIALIZED: inlined, each use of f and t would walk the index again. COALESCE and
  // CASE evaluate their subqueries only when reached: the tail's last key and count only at a window's end.
  return `WITH s AS MATERIALIZED (SELECT ${at("ASC", 0)} AS f, ${at("ASC", n - 1)} AS t)
     SELECT s.f::text AS next_from, COALESCE(s.t, ${at("DESC", 0)})::text AS next_to,
            (CASE WHEN s.f IS NULL THEN 0 WHEN s.t IS NOT NULL THEN ${n} ELSE (SELECT count(*) FROM (SELECT 1 ${from} ORDER BY ${key.column} LIMIT ${n}) AS tail) END)::int AS next_n${extra.map((x) => `, ${x}`).join("")}
       FROM s`;
}

/** Reads nextBatchSql's row. */
export function readNextBatch(row: { next_from?: string | null; next_to?: string | null; next_n?: number } | undefined): Batch | undefined {
  if (!row || !row.next_n || row.next_from == null || row.next_to == null) return undefined;
  return { from: row.next_from, to: row.next_to, n: row.next_n };
}

/**
 * The first batch of a range, planned on its own: under `lockTimeout` like a batch, so
 * behind an ACCESS EXCLUSIVE lock it fails with 55P03 and the gateway retries it after
 * a backoff, saying so, rather than waiting without limit.
 */
export async function nextBatch(db: Pick<UnitContext, "rows">, key: KeyInfo, w: Window, size: number, lockTimeout: string): Promise<Batch | undefined> {
  const [row] = await db.rows<{ next_from: string | null; next_to: string | null; next_n: number }>(
    [...implicitUnderLockTimeout(lockTimeout), nextBatchSql(key, w, size)].join(";\n"),
  );
  return readNextBatch(row);
}
