import { parse } from "../sql/parser.js";
import { readServerVersion } from "../catalog/version.js";
import type { Gateway } from "../gateway/gateway.js";
import { DatabaseError } from "../errors.js";
import { notNullColumnsOf } from "./run-state.js";
import { findNodes, key, strings, unwrap } from "./sql.js";
import type { TableName } from "./types.js";

/**
 * What the live database says, read in a few round trips and never written to
 * (SPEC guarantee 11): the server version, the tables and indexes the
 * migrations name, their size, columns, constraints and primary key, and the
 * volatility of functions used in defaults.
 */

export interface DbColumn {
  readonly type: string;
  readonly notNull: boolean;
  /** An array type: converting it takes an element-wise coercion, which always rewrites. */
  readonly array: boolean;
}

export interface DbTable {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** Found by its bare name on the search path (so messages need not qualify it). */
  readonly visible: boolean;
  readonly reltuples: number;
  bytes: number;
  rows?: number;
  rowsAtLeast?: boolean;
  readonly primaryKey?: string;
  readonly columns: ReadonlyMap<string, DbColumn>;
  /** Columns a validated CHECK constraint proves NOT NULL. */
  readonly notNullChecks: ReadonlySet<string>;
}

export interface DbFacts {
  /** server_version_num, read by src/catalog/version.ts. */
  readonly serverVersion: number;
  /** By the name as written (`key()`), tables and the tables of indexes. */
  readonly tables: ReadonlyMap<string, DbTable>;
  readonly indexTables: ReadonlyMap<string, DbTable>;
  /** By function name as written: true when any function of that name is volatile; absent when unknown. */
  readonly volatile: ReadonlyMap<string, boolean>;
}


const regclass = `to_regclass(CASE WHEN n.schema IS NULL THEN quote_ident(n.name) ELSE quote_ident(n.schema) || '.' || quote_ident(n.name) END)`;

const factsSql = `
WITH names AS (SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[]) AS n(schema, name, is_index)),
found AS (
  SELECT n.schema AS w_schema, n.name AS w_name, n.is_index, c.oid AS rel,
         CASE WHEN n.is_index THEN i.indrelid ELSE c.oid END AS tbl
    FROM names n
    JOIN pg_class c ON c.oid = ${regclass}
    LEFT JOIN pg_index i ON i.indexrelid = c.oid
   WHERE (n.is_index AND c.relkind IN ('i', 'I')) OR (NOT n.is_index AND c.relkind IN ('r', 'p', 'm', 'f'))
)
SELECT f.w_schema, f.w_name, f.is_index, t.oid::int8 AS oid, ns.nspname AS schema, t.relname AS name, pg_table_is_visible(t.oid) AS visible,
       t.reltuples::float8 AS reltuples, t.relpages::int8 * current_setting('block_size')::int8 AS bytes,
       (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'notnull', a.attnotnull,
                                            'array', EXISTS (SELECT 1 FROM pg_type ty WHERE ty.oid = a.atttypid AND ty.typcategory = 'A')))
          FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       (SELECT json_agg(pg_get_expr(k.conbin, k.conrelid))
          FROM pg_constraint k WHERE k.conrelid = t.oid AND k.contype = 'c' AND k.convalidated) AS checks,
       (SELECT a.attname FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
         WHERE k.conrelid = t.oid AND k.contype = 'p' AND cardinality(k.conkey) = 1) AS pk
  FROM found f JOIN pg_class t ON t.oid = f.tbl JOIN pg_namespace ns ON ns.oid = t.relnamespace`;

const functionsSql = `
SELECT n.schema AS w_schema, n.name AS w_name, bool_or(p.provolatile = 'v') AS volatile
  FROM unnest($1::text[], $2::text[]) AS n(schema, name)
  JOIN pg_proc p ON p.proname = n.name
  JOIN pg_namespace ns ON ns.oid = p.pronamespace
 WHERE (n.schema IS NULL AND ns.nspname = ANY (current_schemas(true))) OR ns.nspname = n.schema
 GROUP BY 1, 2`;

export interface FactsRequest {
  readonly tables: readonly TableName[];
  readonly indexes: readonly TableName[];
  readonly functions: readonly TableName[];
}

/** Two round trips (names, then bounded row counts where the estimate is below `minRows`); functions add one. */
export async function readFacts(gw: Gateway, req: FactsRequest, minRows: number): Promise<DbFacts> {
  const names = [...req.tables.map((t) => ({ t, index: false })), ...req.indexes.map((t) => ({ t, index: true }))];
  const { settings, rows, fns } = await gw.executeWithRetry({
    name: "read safety context",
    run: async (db) => ({
      settings: await readServerVersion(db),
      rows: names.length
        ? await db.rows<FactsRow>(factsSql, [names.map((n) => n.t.schema ?? null), names.map((n) => n.t.name), names.map((n) => n.index)])
        : [],
      fns: req.functions.length
        ? await db.rows<{ w_schema: string | null; w_name: string; volatile: boolean }>(functionsSql, [req.functions.map((f) => f.schema ?? null), req.functions.map((f) => f.name)])
        : [],
    }),
  });
  const byOid = new Map<number, DbTable>();
  const tables = new Map<string, DbTable>();
  const indexTables = new Map<string, DbTable>();
  for (const r of rows) {
    const oid = Number(r.oid);
    let t = byOid.get(oid);
    if (!t) {
      t = {
        oid,
        schema: r.schema,
        name: r.name,
        visible: r.visible,
        reltuples: r.reltuples,
        bytes: Number(r.bytes),
        primaryKey: r.pk ?? undefined,
        columns: new Map((r.columns ?? []).map((c) => [c.name, { type: c.type, notNull: c.notnull, array: c.array }])),
        notNullChecks: await notNullColumns(r.checks ?? []),
      };
      byOid.set(oid, t);
      tables.set(key({ schema: t.schema, name: t.name }), t);
      if (t.visible) tables.set(key({ name: t.name }), t);
    }
    (r.is_index ? indexTables : tables).set(key({ schema: r.w_schema ?? undefined, name: r.w_name }), t);
  }
  await countSmallTables(gw, [...byOid.values()], minRows);
  return {
    serverVersion: settings.num,
    tables,
    indexTables,
    volatile: new Map(fns.map((f) => [key({ schema: f.w_schema ?? undefined, name: f.w_name }), f.volatile])),
  };
}

interface FactsRow {
  w_schema: string | null;
  w_name: string;
  is_index: boolean;
  oid: string;
  schema: string;
  name: string;
  visible: boolean;
  reltuples: number;
  bytes: string;
  columns: { name: string; type: string; notnull: boolean; array: boolean }[] | null;
  checks: string[] | null;
  pk: string | null;
}

/**
 * The estimate is trusted when it is at or above the threshold. Below it (or
 * never analysed, -1) the rows are counted, stopping at the threshold, so a
 * table filled since its last ANALYZE is not taken for a small one. A count that
 * cannot get its ACCESS SHARE lock within 2 s leaves the size unknown.
 */
async function countSmallTables(gw: Gateway, tables: readonly DbTable[], minRows: number): Promise<void> {
  for (const t of tables) {
    if (t.reltuples >= Math.max(minRows, 1)) t.rows = Math.round(t.reltuples);
  }
  const todo = tables.filter((t) => t.rows === undefined);
  if (!todo.length) return;
  const limit = Math.max(minRows, 1);
  // pg_class.relpages is 0 until the first VACUUM or ANALYZE: ask for the size under the same short lock.
  const counts = todo.map((t) => `(SELECT count(*) FROM (SELECT 1 FROM ${quote(t.schema)}.${quote(t.name)} LIMIT ${limit}) s)::int8 AS "${t.oid}", pg_table_size(${t.oid}::oid)::int8 AS "${t.oid}_bytes"`);
  try {
    const results = await gw.executeWithRetry({
      name: "count rows of small tables",
      run: (db) => db.query(`BEGIN READ ONLY; SET LOCAL statement_timeout = 2000; SELECT ${counts.join(", ")}; COMMIT`),
    });
    const row = results.find((r) => r.rows.length)?.rows[0] as Record<string, string> | undefined;
    for (const t of todo) {
      const n = Number(row?.[String(t.oid)]);
      if (!Number.isFinite(n)) continue;
      t.rows = n;
      t.rowsAtLeast = n >= limit;
      t.bytes = Math.max(t.bytes, Number(row?.[`${t.oid}_bytes`] ?? 0));
    }
  } catch (e) {
    if (!(e instanceof DatabaseError)) throw e;
  }
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Columns that validated CHECK constraints prove NOT NULL, read from their parse trees. */
async function notNullColumns(checks: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const expr of checks) {
    const tree = await parse(`SELECT WHERE ${expr}`).catch(() => undefined);
    for (const c of notNullColumnsOf(unwrap(tree?.stmts?.[0]?.stmt, "SelectStmt")?.whereClause)) out.add(c);
  }
  return out;
}

/**
 * Whether changing a column from `from` to `to` rewrites the table, asked of the
 * server itself. PostgreSQL skips the rewrite exactly when the conversion
 * simplifies to the bare column or a relabel of it (binary-coercible, or a
 * length coercion its support function drops, such as varchar(100) to
 * varchar(200)); a function left in the expression, or an element-wise array
 * coercion, rewrites. The planner runs the same simplification, so two EXPLAINs
 * on a generated row source (no table touched, no lock taken) tell them apart:
 * a function shows as cost, the bare column as itself. Undefined when the
 * server cannot plan the conversion.
 */
export async function typeChangeRewrites(gw: Gateway, serverVersion: number, column: string, from: DbColumn, to: string, using: string | undefined): Promise<boolean | undefined> {
  const col = quote(column);
  const source = `FROM (SELECT NULL::${from.type} AS ${col} FROM generate_series(1, 1000000) OFFSET 0) s`;
  const converted = `(${using ?? col})::${to}`;
  try {
    const results = await gw.executeWithRetry({
      name: "probe column type change",
      run: (db) => db.query(`EXPLAIN (VERBOSE, FORMAT JSON) SELECT ${col}, ${col} ${source}; EXPLAIN (VERBOSE, FORMAT JSON) SELECT ${converted}, ${col} ${source}; SELECT current_setting('TimeZone') AS tz`),
    });
    const tz = String((results[2]?.rows[0] as { tz?: string } | undefined)?.tz ?? "");
    if (!using && timestampInUtc(serverVersion, from.type, to, tz)) return false;
    const plan = (i: number) => (results[i]?.rows[0] as { "QUERY PLAN": [{ Plan: { "Total Cost": number; Output: string[] } }] } | undefined)?.["QUERY PLAN"][0].Plan;
    const [bare, changed] = [plan(0), plan(1)];
    if (!bare || !changed) return undefined;
    if (changed.Output[0] === bare.Output[0]) return false; // the same type: nothing to convert
    if (changed["Total Cost"] > bare["Total Cost"]) return true; // a conversion function runs per row
    return from.array; // a relabel is free; an array's element-wise coercion is not
  } catch (e) {
    if (e instanceof DatabaseError) return undefined;
    throw e;
  }
}

/**
 * PostgreSQL 12+ changes timestamp to timestamptz (and back) without a rewrite
 * when the session's time zone is UTC, though the conversion is a function call.
 */
function timestampInUtc(serverVersion: number, from: string, to: string, timeZone: string): boolean {
  const kinds = [from.startsWith("timestamp without time zone"), from.startsWith("timestamp with time zone")];
  const target = to.startsWith("timestamptz") || to.startsWith("timestamp with time zone") ? 1 : to.startsWith("timestamp") ? 0 : -1;
  return serverVersion >= 120000 && ["UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Zulu"].includes(timeZone) && target >= 0 && kinds[1 - target] === true;
}

/** Function names in an expression (`now`, `public.gen_id`). */
export function functionNames(expr: unknown): TableName[] {
  return findNodes(expr, "FuncCall").map((f) => {
    const parts = strings(f.funcname);
    return parts.length > 1 ? { schema: parts[parts.length - 2], name: parts[parts.length - 1]! } : { name: parts[0] ?? "" };
  });
}
