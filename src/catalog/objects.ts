import type { UnitContext } from "../gateway/gateway.js";

/**
 * Catalog checks with exact names (never SQL-quoted by the caller). A table is
 * `"name"` (found on the search path), `"schema.name"`, or `{ schema, name }`
 * when a name itself holds a dot.
 */
export type TableRef = string | { readonly schema?: string; readonly name: string };

type Reader = Pick<UnitContext, "rows">;

function split(ref: TableRef): { schema: string | null; name: string } {
  if (typeof ref !== "string") return { schema: ref.schema ?? null, name: ref.name };
  const dot = ref.indexOf(".");
  return dot < 0 ? { schema: null, name: ref } : { schema: ref.slice(0, dot), name: ref.slice(dot + 1) };
}

/** The relation's oid: in `schema`, or the first match along the search path (as PostgreSQL resolves it). */
const relationOidOf = (schema: string, name: string) => `
  SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relname = ${name} AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
     AND (CASE WHEN ${schema}::text IS NULL THEN n.nspname = ANY (current_schemas(true)) ELSE n.nspname = ${schema} END)
   ORDER BY array_position(current_schemas(true)::text[], n.nspname::text) NULLS LAST LIMIT 1`;
const relationOid = relationOidOf("$1", "$2");

export async function tableExists(db: Reader, table: TableRef): Promise<boolean> {
  const t = split(table);
  return (await db.rows(relationOid, [t.schema, t.name])).length > 0;
}

export async function columnExists(db: Reader, table: TableRef, column: string): Promise<boolean> {
  const t = split(table);
  const rows = await db.rows(
    `SELECT 1 FROM pg_attribute WHERE attrelid = (${relationOid}) AND attname = $3 AND attnum > 0 AND NOT attisdropped`,
    [t.schema, t.name, column],
  );
  return rows.length > 0;
}

export async function constraintExists(db: Reader, table: TableRef, name: string): Promise<boolean> {
  const t = split(table);
  const rows = await db.rows(`SELECT 1 FROM pg_constraint WHERE conrelid = (${relationOid}) AND conname = $3`, [t.schema, t.name, name]);
  return rows.length > 0;
}

/** An index by name: `"name"` on the search path or `"schema.name"`. */
export async function indexExists(db: Reader, index: TableRef): Promise<boolean> {
  return (await indexState(db, index)) !== "missing";
}

export type IndexState = "valid" | "invalid" | "building" | "missing";

/**
 * Valid, invalid, still being built by some session, or missing. With `table`,
 * only an index on that table counts (an index is always in its table's schema):
 * one of the same name on another table is "missing" here, so pgkeel neither takes
 * it as built nor drops it, and building this one fails on the name, as it should.
 */
export async function indexState(db: Reader, index: TableRef, table?: TableRef): Promise<IndexState> {
  return (await findIndex(db, index, table))?.state ?? "missing";
}

/** A found index: its state, its schema, and its schema-qualified quoted name (for statements that must act on exactly it). */
export interface FoundIndex {
  readonly state: Exclude<IndexState, "missing">;
  readonly schema: string;
  readonly qualified: string;
}

/** indexState, with the schema and qualified name of the index it found, in one round trip. */
export async function findIndex(db: Reader, index: TableRef, table?: TableRef): Promise<FoundIndex | undefined> {
  const t = split(index);
  const on = table === undefined ? undefined : split(table);
  const [row] = await db.rows<{ valid: boolean; building: boolean; schema: string; qualified: string }>(
    `SELECT i.indisvalid AND i.indisready AS valid, n.nspname AS schema, format('%I.%I', n.nspname, c.relname) AS qualified,
            EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid) AS building
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid
      WHERE c.relname = $2 AND c.relkind IN ('i', 'I')
        AND CASE WHEN $5::boolean THEN i.indrelid = (${relationOidOf("$3", "$4")})
                 WHEN $1::text IS NULL THEN n.nspname = ANY (current_schemas(true)) ELSE n.nspname = $1 END
      ORDER BY array_position(current_schemas(true)::text[], n.nspname::text) NULLS LAST LIMIT 1`,
    [t.schema, t.name, on?.schema ?? null, on?.name ?? null, on !== undefined],
  );
  if (!row) return undefined;
  return { state: row.building ? "building" : row.valid ? "valid" : "invalid", schema: row.schema, qualified: row.qualified };
}
